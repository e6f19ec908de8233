# MDS-VQA's settings and command builders (present when the config has an mds section): the base models, g, the
# selections, fine-tuning, gMAD and the tables' specs. Included by the Snakefile right after rules/common.smk.

from vqaloop.config import config_hash
from vqaloop.models.catalogue import is_grpo, model_encoders
from vqaloop.tables.mds_spec import TABLES as MDS_TABLES
from vqaloop.tables.mds_spec import config_slice, default_variant, table_spec
from vqaloop.tables.mds_spec import variant_encoder as spec_variant_encoder
from vqaloop.variants import (
    LABELLED_METHODS,
    MODEL_METHODS,
    PATTERN_METHODS,
    VARIANT_PATTERN,
    G_PATTERN,
    parse_g_id,
    parse_variant,
)
from vqaloop.workflow_paths import SHARED, MdsPaths

from vqaloop.config import with_defaults

# every key's schema default filled in
MDS = config["mds"] = with_defaults(config, "mds")
FEATURES = config["features"]
WORK = f"{config['work_root']}/{RUN}"
BASE = MDS["base"]
ALT_BASES = MDS.get("alternative_bases", {})
W2S_BASE_TEACHERS = {
    name: spec
    for name, spec in config.get("w2s", {}).get("teachers", {}).items()
    if spec["kind"] == "base_model" and name not in [BASE, *ALT_BASES]
}
BASES = [BASE, *ALT_BASES, *W2S_BASE_TEACHERS]
P = MdsPaths(DATA, WORK, "{base}")  # patterns with a {base} wildcard


def paths(base):
    return MdsPaths(DATA, WORK, base)


def base_encoders(base):
    return list(model_encoders(base))


# targets in a canonical order wherever the order does not show in a table (a reorder reruns nothing)
TARGETS = sorted(MDS["targets"])
EVAL_DATASETS = [MDS["source"], *TARGETS]


def encoder_status(name):
    """(available, reason): encoders needing weights are unavailable without a local file."""
    from vqaloop.features.registry import available

    return available(name, FEATURES["encoders"].get(name, {}))


ENCODER_STATUS = {e: encoder_status(e) for e in FEATURES["encoders"]}
# every dataset's features job computes these (one decode, one EfficientNet pass for two of them)
FEATURE_ENCODERS = [e for e in FEATURES["encoders"] if ENCODER_STATUS[e][0]]
ENCODER_STATUS["base"] = (True, "")
DEFAULT_VARIANT = default_variant(MDS).id
# Table 9 exists only when alternative base models are configured
BUILT_TABLES = [t for t in MDS_TABLES if t != "mds_table9" or ALT_BASES]


def encoder_options(encoder):
    options = FEATURES["encoders"].get(encoder) or {}
    return " ".join(f"--{k} {v}" for k, v in sorted(options.items()) if v is not None)


def training(base, stage):
    if base == BASE:
        return MDS["training"][stage]
    if base in ALT_BASES:
        return ALT_BASES[base]["training"][stage]
    return W2S_BASE_TEACHERS[base]["training"]  # a W2S teacher only (stage "base")


def optim_args(base, stage):
    o = training(base, stage)
    return f"--epochs {o['epochs']} --lr {o['lr']} --batch {o['batch']}"


def variant_encoder(variant):
    return spec_variant_encoder(parse_variant(variant), MDS)


# Each workflow job runs a whole stage of one variant (every seed and target) through `vqaloop batch`: one
# process, one torch import, each features file read once. Seeds in a canonical order: a reorder reruns
# nothing; an edit of one variant reruns only that variant's jobs.
SEEDS = sorted(MDS["seeds"])
GMAD_DATASET = MDS["gmad"]["dataset"]
F_PREDICT_DATASETS = sorted(
    {*TARGETS, GMAD_DATASET}
)  # where f's own scores are read (tables, gMAD)
FEATURES_ROOT = f"{DATA}/features"


def features_inputs(wc):
    """The manifest; for W2S-VQA's candidate pool also the shaped subset: only those videos get features."""
    inputs = {"manifest": f"{DATA}/manifests/{wc.dataset}.csv"}
    if HAS_W2S and wc.dataset == W2S_POOL:
        inputs["only"] = W.shaped()
    return inputs


def selection_inputs(base, variant, seed, dataset):
    v = parse_variant(variant)
    p = paths(base)
    inputs = {
        "features": p.features(dataset, variant_encoder(variant)),
        "manifest": p.manifest(dataset),
    }
    if v.needs_g:
        inputs["difficulty"] = p.difficulty(v.g_id, seed, dataset)
    if v.method in LABELLED_METHODS and MDS.get("labelled_set", True):
        inputs["labelled"] = p.features(MDS["source"], variant_encoder(variant))
        inputs["labelled_manifest"] = p.manifest(MDS["source"])
    if v.method in MODEL_METHODS:
        inputs["model"] = p.f_model()
        inputs["model_features"] = [p.features(dataset, e) for e in base_encoders(base)]
    return inputs


def selection_args(base, variant, seed, dataset):
    v = parse_variant(variant)
    p = paths(base)
    if v.method == "divonly":
        return f"--method mds_diversity_only {diversity_args(v.encoder)}"
    if v.method == "mds":
        return (f"--method mds --lambda {v.lam:g} --difficulty {p.difficulty(v.g_id, seed, dataset)}"
                f" {diversity_args(v.encoder)}")  # fmt: skip
    if v.method in MODEL_METHODS:
        return (
            f"--method {v.method} --model {p.f_model()} --features-root {FEATURES_ROOT}"
        )
    if v.method in LABELLED_METHODS and MDS.get("labelled_set", True):
        source = MDS["source"]
        return (f"--method {v.method} --labelled {p.features(source, variant_encoder(variant))}"
                f" --labelled-manifest {p.manifest(source)}")  # fmt: skip
    return f"--method {v.method}"


def diversity_args(encoder):
    """The diversity term's settings (config mds.chamfer, mds.diversity.<encoder>.normalise), passed explicitly."""
    normalise = MDS["diversity"].get(encoder, {}).get("normalise", True)
    return f"--chamfer {MDS['chamfer']}" + ("" if normalise else " --no-normalise")


def budget_of(dataset):
    """A target's budget: mds.target_budgets.<dataset> where set, else mds.budget (a fraction or a count)."""
    return MDS["target_budgets"].get(dataset, MDS["budget"])


def select_command(base, variant, seed, dataset):
    p = paths(base)
    return (f"select {selection_args(base, variant, seed, dataset)}"
            f" --features {p.features(dataset, variant_encoder(variant))} --pool {p.manifest(dataset)}"
            f" --budget {budget_of(dataset):g} --seed {seed} --out {p.selection(variant, seed, dataset)}")  # fmt: skip


def reveal_command(base, variant, seed, dataset):
    p = paths(base)
    return (f"reveal --selection {p.selection(variant, seed, dataset)} --oracle {p.oracle(dataset)}"
            f" --dataset {dataset} --out {p.labels(variant, seed, dataset)}")  # fmt: skip


def g_inputs(wc):
    """f, the source set and, for an out-of-fold g, f's cross-fitted errors."""
    p = paths(wc.base)
    inputs = {
        "base": p.f_model(),
        "manifest": p.manifest(MDS["source"]),
        "features": [p.features(MDS["source"], e) for e in base_encoders(wc.base)],
    }
    if parse_g_id(wc.g)[2]:
        inputs["errors"] = p.oof_errors()
    return inputs


def train_g_commands(base, g_id):
    """g (LoRA on f) per seed, trained on f's errors on the source training split."""
    p = paths(base)
    loss, rank, errors = parse_g_id(g_id)
    extra = f" --errors {p.oof_errors()}" if errors else ""
    return [
        f"train-g --base-model {p.f_model()} --manifest {p.manifest(MDS['source'])}"
        f" --features-root {FEATURES_ROOT} --loss {loss} --rank {rank}{extra} {optim_args(base, 'g')}{grpo_args(base, 'g')}"
        f" --seed {seed} --out {p.g_model(g_id, seed)}"
        for seed in SEEDS
    ]


def difficulty_commands(base, g_id):
    """Each seed's g scores every target pool (its difficulty, Eq. 9's first term)."""
    p = paths(base)
    return [
        f"predict --model {p.g_model(g_id, seed)} --manifest {p.manifest(d)} --split pool"
        f" --column difficulty --features-root {FEATURES_ROOT} --out {p.difficulty(g_id, seed, d)}"
        for seed in SEEDS
        for d in TARGETS
    ]


VLM_MODELS = config.get("paper_scale", {}).get("models", {})


def is_vlm(base):
    """A vision-language base model (VisualQuality-R1): trained with GRPO, its settings in paper_scale.models.f."""
    return is_grpo(base)


# the GRPO recipe of VLM f and g (the paper's reading or the authors' code)
GRPO = with_defaults(config, "grpo")


def grpo_args(base, stage="base"):
    """The GRPO options of train-base / train-g (stage "g") / finetune for a VLM base (none for the compact
    ones); config grpo: the training frames, LoRA on lm_head, and for g its recipe (the authors': G = 1).
    """
    if not is_vlm(base):
        return ""
    f = VLM_MODELS["f"]
    authors_g = stage == "g" and GRPO["g_recipe"] == "authors"
    generations = 1 if authors_g else f.get("generations", 6)
    args = (
        f" --generations {generations} --max-new-tokens {f.get('max_new_tokens', 256)}"
    )
    # answers per forward/backward pass = the per-GPU batch (MDS-VQA supplement: 24 completions per GPU; the
    # step's mds.training.<stage>.batch videos x G answers is the effective batch: 8 x 6 = 48, 2 passes)
    per_pass = f.get("per_device_batch", 8)
    if f.get("batch_counts", "prompts") == "prompts":
        per_pass *= generations
    args += f" --micro-batch {per_pass}"
    if f.get("dtype", "bfloat16") == "bfloat16":
        args += " --mixed-precision bf16 --gradient-checkpointing"
    if GRPO["train_frames"] is not None:
        args += f" --train-frames {GRPO['train_frames']}"
    if GRPO["lora_lm_head"]:
        args += " --lora-lm-head"
    if stage == "g":
        args += f" --recipe {GRPO['g_recipe']}"
    return args


def train_base_command(base):
    p, t = paths(base), training(base, "base")
    vlm = ""
    if is_vlm(base):
        f = VLM_MODELS["f"]
        vlm = (f" --weights {f['weights']} --dtype {f.get('dtype', 'bfloat16')} --rank {f.get('lora_rank', 64)}"
               f" --scores {GRPO['scores']}")  # fmt: skip
    return (f"train-base --base {base} --manifest {p.manifest(MDS['source'])} --features-root {FEATURES_ROOT}"
            f" --hidden {t.get('hidden', 128)} {optim_args(base, 'base')}{vlm}{grpo_args(base)}"
            f" --seed {config['seed']} --out {p.f_model()}")  # fmt: skip


def score_base_commands(base):
    """f evaluated on every test split and its scores of the datasets read later (tables, gMAD)."""
    p = paths(base)
    commands = [
        f"evaluate --model {p.f_model()} --manifests {' '.join(p.manifest(d) for d in EVAL_DATASETS)}"
        f" --features-root {FEATURES_ROOT} --out {p.f_eval()}",
    ]
    return commands + [
        f"predict --model {p.f_model()} --manifest {p.manifest(d)} --features-root {FEATURES_ROOT}"
        f" --out {p.f_predictions(d)}"
        for d in F_PREDICT_DATASETS
    ]


def finetune_commands(base, variant):
    """Per seed: fine-tune f on the source split + every target's revealed labels, evaluate it, and score
    the gMAD pool (Table 4)."""
    p, t = paths(base), training(base, "finetune")
    full = " --full" if t.get("full", False) else ""
    commands = []
    for seed in SEEDS:
        labels = " ".join(labels_for(base, variant, seed, d) for d in TARGETS)
        model = p.ft_model(variant, seed)
        commands += [
            f"finetune --base-model {p.f_model()} --source-manifest {p.manifest(MDS['source'])}"
            f" --labels {labels} --features-root {FEATURES_ROOT} --rank {t.get('rank', 64)}{full}"
            f" {optim_args(base, 'finetune')}{grpo_args(base)} --seed {seed} --out {model}",
            f"evaluate --model {model} --manifests {' '.join(p.manifest(d) for d in EVAL_DATASETS)}"
            f" --features-root {FEATURES_ROOT} --out {p.ft_eval(variant, seed)}",
            f"predict --model {model} --manifest {p.manifest(GMAD_DATASET)} --features-root {FEATURES_ROOT}"
            f" --out {p.ft_predictions(variant, seed, GMAD_DATASET)}",
        ]
    return commands


def labels_for(base, variant, seed, dataset):
    return paths(base).scoped(variant).labels(variant, seed, dataset)


def table_slice(spec):
    """The config slice a table's values depend on (vqaloop.tables.mds_spec.config_slice)."""
    return config_slice(spec, config, {b: base_encoders(b) for b in BASES})


def mds_spec(table):
    """A table's spec; its config_hash is the hash of the config slice the table depends on, so an edit
    elsewhere (a description, a performance knob, another table's rows) leaves the spec unchanged.
    """
    spec = table_spec(table, MDS, CORPUS["datasets"], ENCODER_STATUS, RUN)
    spec["config_hash"] = config_hash(table_slice(spec))
    return spec


def table4_config_hash():
    """Table 4 = Table 3's models in a gMAD competition: Table 3's slice plus the gMAD settings."""
    return config_hash({**table_slice(mds_spec("mds_table3")), "gmad": MDS["gmad"]})


def table_inputs(table):
    """Every file the table reads: per base, its predictions/evaluation and, per variant row, seed
    and target, the revealed labels and the fine-tuned evaluation."""
    spec = mds_spec(table)
    files = [paths(BASE).oracle(d) for d in TARGETS]
    for row in spec["rows"]:
        p = paths(row["base"])
        files += [p.f_eval()] + [p.f_predictions(d) for d in TARGETS]
        if row["kind"] != "variant":
            continue
        v = parse_variant(row["variant"])
        if v.needs_g and is_vlm(
            row["base"]
        ):  # the table's note counts g's unparsable answers
            files += [p.g_model(v.g_id, seed) for seed in SEEDS]
        for seed in SEEDS:
            files.append(p.ft_eval(row["variant"], seed))
            files += [labels_for(row["base"], row["variant"], seed, d) for d in TARGETS]
    return sorted(set(files))


def gmad_models(base):
    """gMAD model name -> (predictions file pattern, Table-3 row) for one seed, by name (the order of
    mds.methods does not change the competition)."""
    return sorted(
        ((row["key"], row) for row in mds_spec("mds_table3")["rows"]),
        key=lambda item: item[0],
    )


def gmad_prediction_files(base, seed):
    """gMAD model name -> its scores of the gMAD pool for one seed."""
    p = paths(base)
    return {key: p.f_predictions(GMAD_DATASET) if row["kind"] == "base"
            else p.ft_predictions(row["variant"], seed, GMAD_DATASET)
            for key, row in gmad_models(base)}  # fmt: skip


def gmad_inputs(wc):
    files = {f for seed in SEEDS for f in gmad_prediction_files(wc.base, seed).values()}
    return {
        "manifest": paths(wc.base).manifest(GMAD_DATASET),
        "predictions": sorted(files),
    }


def gmad_commands(base):
    """One gMAD competition per seed among the base model and Table 3's fine-tuned models."""
    p = paths(base)
    return [
        f"gmad --predictions {' '.join(f'{k}={v}' for k, v in gmad_prediction_files(base, seed).items())}"
        f" --manifest {p.manifest(GMAD_DATASET)} --levels {MDS['gmad']['levels']}"
        f" --out {p.gmad_result(seed)} --pairs {p.gmad_pairs(seed)}"
        for seed in SEEDS
    ]
