# Config validation, wildcard constraints and path helpers shared by every rule file.
import json
import shlex
import shutil
import sys
from pathlib import Path

from vqaloop.config import validate_config, with_defaults
from vqaloop.errors import UserError

try:
    validate_config(config, source="config")
except UserError as err:
    sys.stderr.write(f"vqaloop: error: {err}\n")
    sys.exit(2)

# The conda environment of every job under --use-conda (the Makefile's .venv otherwise).
CONDA_ENV = "../envs/vqaloop.yaml"
DATA = config["data_root"]
RUN = config["run"]
RESULTS = f"{config['results_root']}/{RUN}"
LOGS = f"logs/{RUN}"
BENCH = f"{RESULTS}/benchmarks"
CORPUS = config["corpus"]
DATASETS = list(CORPUS["datasets"])
SHARDS = list(range(CORPUS["shards"]))
# The papers' own datasets, read by adapters (config/paper.yaml), beside the rendered ones (the embedded corpus).
ADAPTED = [d for d, spec in CORPUS["datasets"].items() if "adapter" in spec]
RENDERED = [d for d in DATASETS if d not in ADAPTED]


def one_of(names):
    """A wildcard pattern matching exactly these names (none: a pattern that matches nothing)."""
    return "|".join(names) if names else "(?!x)x"


ADAPTED_PATTERN, RENDERED_PATTERN = one_of(ADAPTED), one_of(RENDERED)


def dataset_videos(dataset):
    """The rendered shards holding a dataset's videos (none for an adapted dataset: its videos are
    the user's files, named by absolute paths in its manifest)."""
    if dataset in ADAPTED:
        return []
    return [f"{DATA}/{dataset}/shard{s}" for s in SHARDS]


def adapter_args(dataset):
    """The adapt-dataset arguments of one adapted dataset (its config block)."""
    spec = CORPUS["datasets"][dataset]
    adapter = spec["adapter"]
    metadata = f" --metadata {adapter['metadata']}" if adapter.get("metadata") else ""
    test = spec.get("splits", {}).get("test", 0.2)
    return (f"--adapter {adapter['name']} --root {adapter['root']}{metadata} --role {spec['role']}"
            f" --test-fraction {test}")  # fmt: skip


def corpus_root(path):
    """The corpus root of a file inside it (manifests/, plans/ and oracle/ sit directly below the root)."""
    path = path if isinstance(path, str) else path[0]
    return str(Path(path).parent.parent)


def plan_slice(dataset):
    """The keys of a dataset's config that decide its plan (names and paper keys do not)."""
    spec = CORPUS["datasets"][dataset]
    keys = ("recipe", "versions", "include_pristine", "splits", "contents_from")
    return {k: spec[k] for k in keys if k in spec}


def uses_family(dataset, family):
    """Whether a dataset's recipe can apply a distortion family (grid axes, ladder families, capture chains)."""
    recipe = CORPUS["datasets"][dataset].get("recipe", {})
    if recipe.get("type") == "capture":
        return family in (
            "h264",
            "jitter",
            "blur",
            "darken",
            "brighten",
            "noise",
            "resize",
        )
    return family in recipe.get("axes", {}) or family in recipe.get("families", [])


def codec_args(dataset):
    """The render's distortion settings: the x265 preset, for the datasets that encode H.265 only, and a random
    jitter crop (corpus.jitter_crop; the default fixed crop passes nothing), for the datasets that jitter only (an
    edit reruns no other render)."""
    args = []
    if uses_family(dataset, "h265"):
        args.append(f"--x265-preset {CORPUS.get('x265_preset', 'veryslow')}")
    if uses_family(dataset, "jitter") and CORPUS.get("jitter_crop", "fixed") != "fixed":
        args.append(f"--jitter-crop {CORPUS['jitter_crop']}")
    return " ".join(args)


def features_root(files):
    """The features folder of <root>/<dataset>/<encoder>.npz inputs (derived from the inputs, as --lint asks)."""
    return str(Path(files[0]).parent.parent)


# Every job ends by recording the SHA-256 of what it wrote (vqaloop record-job): results/<run>/checksums/<job>.json,
# <job> being its log path below logs/<run>; `vqaloop compare-runs` reads them to say where two runs first part.
CHECKSUMS = f"{RESULTS}/checksums"
DISPATCH = with_defaults(config, "dispatch")  # the schema holds the default (portable)


def recorded(command):
    """A rule's shell: under the run's CPU-dispatch pin (config key `dispatch`, vqaloop.dispatch: a change reruns
    every job, since it changes their bits), followed by its checksum record (appended to the job's log).
    """
    return (f"export VQALOOP_DISPATCH={DISPATCH}; {command} && python -m vqaloop record-job --log {{log}}"
            f" --logs-root {LOGS} --into {CHECKSUMS} --inputs {{input:q}} --outputs {{output:q}} >> {{log}} 2>&1")  # fmt: skip


def batch(commands):
    """The commands of one `vqaloop batch` job, each a shell-quoted argument (params hold them: an edit of any
    command's arguments reruns the job)."""
    return " ".join(shlex.quote(c) for c in commands)


def merged_inputs(dicts):
    """Named inputs of several commands as one job's: each name -> sorted unique files."""
    out = {}
    for d in dicts:
        for name, value in d.items():
            out.setdefault(name, set()).update(
                value if isinstance(value, list) else [value]
            )
    return {name: sorted(files) for name, files in out.items()}


def as_json(obj):
    """A config slice as a shell-quoted JSON argument (params hold the slice, so edits rerun the rule)."""
    quoted = json.dumps(obj, sort_keys=True).replace("'", "'\\''")
    return f"'{quoted}'"


# ---- GPUs and the container image (config keys gpu, container; src/vqaloop/devices.py) ----
# The GPU rules: those that run a base model, g, fine-tuning or a W2S student. Each sets `resources: gpu=`
# with gpus(), `container:` with gpu_container() and wraps its shell in gpu_shell(); every other rule runs on the
# host CPU (unless container.rules is "all"). select and w2s_teacher run a model for some wildcards only.
GPU_RULES = ("train_base", "oof_errors", "score_base", "base_features", "train_g", "difficulty", "select",
             "finetune", "w2s_teacher", "w2s_mine", "w2s_student", "w2s_scores")  # fmt: skip
GPU = with_defaults(config, "gpu")  # defaults: config/schema.yaml
GPU_ENABLED = GPU["enabled"]
GPU_LOCKS = GPU.get("lock_dir") or f"{config['work_root']}/.gpu_slots"  # no schema default: it derives from work_root
CONTAINER = with_defaults(config, "container")
IMAGE = CONTAINER.get("image")  # none: no image
CONTAINER_ALL = CONTAINER["rules"] == "all"
THREADS = with_defaults(config, "threads")  # threads per job


def gpus(needs=None):
    """A GPU rule's `resources: gpu=`: gpu.per_job when GPUs are enabled (0 for wildcards where ``needs``
    says no model runs), else 0."""
    if not GPU_ENABLED:
        return 0
    per_job = GPU["per_job"]
    return per_job if needs is None else (lambda wc: per_job if needs(wc) else 0)


def gpu_model(needs=None):
    """A GPU rule's `gpu_model` resource for the Slurm executor (sbatch --gpus=<model>:N): $VQALOOP_SLURM_GPU_MODEL
    when GPUs are enabled ("" = any model, and for wildcards where ``needs`` says no model runs).
    """
    from vqaloop.cluster import slurm_gpu_model

    model = slurm_gpu_model() if GPU_ENABLED else ""
    if not model or needs is None:
        return model
    return lambda wc: model if needs(wc) else ""


def gpu_container(needs=None):
    """A GPU rule's `container:` (used under --use-apptainer only): the configured image, none where ``needs``
    says no model runs (that job stays on the host)."""
    if not IMAGE:
        return None
    return IMAGE if needs is None else (lambda wc: IMAGE if needs(wc) else None)


def gpu_shell(command):
    """A GPU rule's shell: through `vqaloop gpu-run` (the job's own device(s), resources.gpu of them) when GPUs
    are enabled; the command itself otherwise, so the CPU default's recorded code (a rerun trigger) is unchanged.
    """
    if not GPU_ENABLED:
        return command
    return f"python -m vqaloop gpu-run --count {{resources.gpu}} --lock-dir {GPU_LOCKS} -- {command}"


def select_runs_model(wc):
    """A selection variant that runs f (MC dropout, noise stability)."""
    return parse_variant(wc.variant).method in MODEL_METHODS


def teacher_runs_model(wc):
    """A W2S teacher that is a base model (classical teachers run on the CPU)."""
    return W2S["teachers"][wc.teacher]["kind"] == "base_model"


def check_container_setup():
    """Under --use-apptainer / --use-singularity, an apptainer binary and an existing image, before any job."""
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.APPTAINER not in workflow.deployment_settings.deployment_method:
        return
    if not IMAGE:
        raise UserError("--use-singularity/--use-apptainer: config key container.image is not set (the image the "
                        "GPU rules run in; see profiles/apptainer)")  # fmt: skip
    if not (shutil.which("apptainer") or shutil.which("singularity")):
        raise UserError("--use-singularity/--use-apptainer: no apptainer or singularity executable on PATH (install "
                        "Apptainer, or run without the flag: every job then runs on the host)")  # fmt: skip
    if "://" not in IMAGE and not Path(IMAGE).is_file():
        raise UserError(f"config key container.image: no such image file {IMAGE!r}")


try:
    check_container_setup()
except UserError as err:
    sys.stderr.write(f"vqaloop: error: {err}\n")
    sys.exit(2)


if IMAGE and CONTAINER_ALL:

    container: IMAGE


# ---- MDS-VQA on the authors' published outputs (config mds_replay; rules/mds_replay.smk) ----
HAS_REPLAY = "mds_replay" in config
if HAS_REPLAY:
    from vqaloop.config import with_defaults
    from vqaloop.datasets.mds_release import release_paths

    REPLAY = with_defaults(config, "mds_replay")
    REPLAY_WORK = f"{config['work_root']}/{RUN}/mds_replay"
    # the release's files by role (its inputs: an edit of one reruns the replay); none without the folder
    REPLAY_FILES = (
        {role: str(path) for role, path in release_paths(REPLAY["release_dir"]).items()}
        if Path(REPLAY["release_dir"]).is_dir()
        else {}
    )

    def replay_release(wc, input):
        """The release folder, derived from its pool MOS list where the release is there (as --lint asks)."""
        from vqaloop.datasets.mds_release import release_root

        return (
            str(release_root(input.pool_mos)) if REPLAY_FILES else REPLAY["release_dir"]
        )

    # the published tables the replay's cells are compared with (vqaloop.tables.mds_replay.PAPER_CELLS)
    REPLAY_PAPER_TABLES = [
        "mds_table2",
        "mds_table3",
        "mds_table5",
        "mds_table6",
        "mds_table7",
        "mds_table8",
    ]


# ---- MDS-VQA (present when the config has an mds section) ----
HAS_MDS = "mds" in config
if HAS_MDS:
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
        return " ".join(
            f"--{k} {v}" for k, v in sorted(options.items()) if v is not None
        )

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
            inputs["model_features"] = [
                p.features(dataset, e) for e in base_encoders(base)
            ]
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
            return f"--method {v.method} --model {p.f_model()} --features-root {FEATURES_ROOT}"
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
        args = f" --generations {generations} --max-new-tokens {f.get('max_new_tokens', 256)}"
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
                files += [
                    labels_for(row["base"], row["variant"], seed, d) for d in TARGETS
                ]
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
        files = {
            f for seed in SEEDS for f in gmad_prediction_files(wc.base, seed).values()
        }
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


# ---- W2S-VQA (present when the config has a w2s section; it reuses the MDS base models as teachers) ----
HAS_W2S = "w2s" in config
if HAS_W2S:
    from vqaloop.tables.w2s_spec import TABLES as W2S_TABLES
    from vqaloop.tables.w2s_spec import miner_of, student_recipes
    from vqaloop.tables.w2s_spec import table_spec as w2s_table_spec
    from vqaloop.workflow_paths import W2sPaths

    W2S = with_defaults(config, "w2s")  # the schema's defaults filled in: the one place they live
    W2S_WRITTEN = config["w2s"]  # as the config file has it: the tables' provenance hash
    W = W2sPaths(WORK)
    W2S_TEACHERS = list(W2S["teachers"])
    RECIPES = student_recipes(W2S_TEACHERS, W2S["single_teacher"])
    W2S_SOURCE, W2S_POOL, W2S_SYNTH = W2S["source"], W2S["pool"], W2S["synthetic"]
    W2S_TESTS = list(W2S["test_sets"])

    def student_options():
        """The LLaVA-OneVision student's --student-options (paper_scale.models.student, w2s.student.motion)."""
        m, motion = VLM_MODELS["student"], W2S["student"]["motion"]
        return {"weights": m["weights"], "motion": motion, "lora_rank": m.get("lora_rank", 64),
                "dtype": m.get("dtype", "bfloat16"), "device": "cuda" if GPU_ENABLED else "cpu",
                "per_device_batch": m.get("per_device_batch", 2)}  # fmt: skip

    LLAVA_STUDENT = W2S["student"]["name"] == "llava_onevision"
    for _encoder in (
        ("frames", W2S["student"]["motion"]) if LLAVA_STUDENT else ()
    ):
        if not ENCODER_STATUS[_encoder][
            0
        ]:  # the student cannot run without it: say so before any job starts
            raise UserError(f"features.encoders.{_encoder} (read by the llava_onevision student) is unavailable: "
                            f"{ENCODER_STATUS[_encoder][1]}")  # fmt: skip
    STUDENT_ENCODERS = (
        ("frames", W2S["student"]["motion"])
        if LLAVA_STUDENT
        else ("efficientnet_lite0", "motion")
    )
    PAIRSETS = [
        "homogeneous_ensemble",
        *(f"homogeneous_{t}" for t in W2S_TEACHERS),
        "synthetic",
        "source",
    ]

    def w2s_sets():
        """Rows every teacher scores: the source (all), the pool (its shaped videos: --pool-ids) and each test
        set's scored rows (vqaloop w2s-test-set)."""
        sets = [paths(BASE).manifest(W2S_SOURCE), paths(BASE).manifest(W2S_POOL)]
        return sets + [W.test_set(d) for d in W2S_TESTS]

    def test_splits(dataset):
        """w2s.test_sets.<dataset>.splits: the dataset's splits W2S-VQA scores ("all" = every configured one)."""
        splits = W2S["test_sets"][dataset]["splits"]
        return (
            sorted(CORPUS["datasets"][dataset]["splits"])
            if splits == "all"
            else list(splits)
        )

    def test_set_oracles():
        """The oracle files the test sets need: a dataset whose pool split is scored (its MOS are hidden there)."""
        return [paths(BASE).oracle(d) for d in W2S_TESTS if "pool" in test_splits(d)]

    def test_set_commands():
        """Per test set: its scored rows with their MOS (vqaloop w2s-test-set)."""
        return [
            f"w2s-test-set --manifest {paths(BASE).manifest(d)} --splits {' '.join(test_splits(d))}"
            + (f" --oracle {paths(BASE).oracle(d)}" if "pool" in test_splits(d) else "")
            + f" --out {W.test_set(d)}"
            for d in W2S_TESTS
        ]

    def w2s_set_datasets():
        return sorted({W2S_SOURCE, W2S_POOL, *W2S_TESTS})

    def teacher_inputs(wc):
        spec = W2S["teachers"][wc.teacher]
        manifests = [paths(BASE).manifest(d) for d in w2s_set_datasets()]
        inputs = {
            "manifests": manifests,
            "test_sets": [W.test_set(d) for d in W2S_TESTS],
            "shaped": W.shaped(),
        }  # of the pool, the shaped videos only
        if spec["kind"] == "base_model":
            inputs["model"] = paths(wc.teacher).f_model()
            inputs["features"] = [
                paths(wc.teacher).features(d, e)
                for d in w2s_set_datasets()
                for e in base_encoders(wc.teacher)
            ]
        elif spec["kind"] == "scores":
            inputs["scores"] = spec["scores"]
        else:
            inputs["videos"] = [
                v for d in w2s_set_datasets() for v in dataset_videos(d)
            ]
        return inputs

    def teacher_args(wc, input):
        spec = W2S["teachers"][wc.teacher]
        if spec["kind"] == "base_model":
            return f"--model {input.model} --features-root {DATA}/features"
        if spec["kind"] == "scores":
            return f"--scores {input.scores}"
        return (
            f"--data-root {corpus_root(input.manifests)} --cache {config['cache_dir']}"
        )

    def student_features(datasets):
        return [paths(BASE).features(d, e) for d in datasets for e in STUDENT_ENCODERS]

    W2S_SEEDS = sorted(W2S["seeds"])  # canonical order: a reorder reruns nothing
    TRAIN_DATASETS = sorted({W2S_POOL, W2S_SYNTH, W2S_SOURCE})  # what training reads
    SCORE_DATASETS = sorted(
        {W2S_SOURCE, *W2S_TESTS}
    )  # what scoring reads (anchors: source train)

    def pair_inputs(wc):
        inputs = {}
        if wc.pairset.startswith("homogeneous_"):
            who = wc.pairset.removeprefix("homogeneous_")
            teachers = W2S_TEACHERS if who == "ensemble" else [who]
            inputs["teachers"] = [W.teacher(t) for t in teachers]
            inputs["pool"] = paths(BASE).manifest(W2S_POOL)
            inputs["shaped"] = W.shaped()
        elif wc.pairset == "synthetic":
            inputs["ladder"] = paths(BASE).manifest(W2S_SYNTH)
        else:
            inputs["source"] = paths(BASE).manifest(W2S_SOURCE)
        return inputs

    def pair_args(pairset):
        counts, manifest = W2S["pairs"], paths(BASE).manifest
        if pairset.startswith("homogeneous_"):
            who = pairset.removeprefix("homogeneous_")
            teachers = " ".join(
                W.teacher(t) for t in (W2S_TEACHERS if who == "ensemble" else [who])
            )
            single = (
                ""
                if who == "ensemble"
                else f" --single-sigma {counts['single_sigma']}"
            )
            return (f"--kind homogeneous --count {counts['homogeneous']} --teachers {teachers}{single}"
                    f" --pool {manifest(W2S_POOL)} --shaped {W.shaped()} --stage 1 {stage_sizes_args()}"
                    f" --split-seed {config['seed']}")  # fmt: skip
        if pairset == "synthetic":
            return f"--kind synthetic --count {counts['synthetic']} --ladder {manifest(W2S_SYNTH)}"
        return (f"--kind source --count {counts['homogeneous']} --source-manifest {manifest(W2S_SOURCE)}"
                f" --source-sigma {counts['source_sigma']}")  # fmt: skip

    TARGETSETS = ["source", *(f"teacher_{t}" for t in W2S_TEACHERS)]

    def target_inputs(wc):
        """A pointwise student's per-video targets: one teacher's scores on D(1), or the source MOS."""
        if wc.targetset == "source":
            return {"source": paths(BASE).manifest(W2S_SOURCE)}
        return {"teacher": W.teacher(wc.targetset.removeprefix("teacher_")),
                "pool": paths(BASE).manifest(W2S_POOL), "shaped": W.shaped()}  # fmt: skip

    def target_args(targetset):
        if targetset == "source":
            return f"--kind source --source-manifest {paths(BASE).manifest(W2S_SOURCE)}"
        return (f"--kind teacher --teacher {W.teacher(targetset.removeprefix('teacher_'))}"
                f" --pool {paths(BASE).manifest(W2S_POOL)} --shaped {W.shaped()} --stage 1 {stage_sizes_args()}"
                f" --split-seed {config['seed']}")  # fmt: skip

    def stage_sizes_args():
        """D(1), D(2), D(3)'s video counts (w2s.stage_sizes; the shaping keeps their sum)."""
        return "--stage-sizes " + " ".join(str(n) for n in W2S["stage_sizes"])

    def pairs_commands(pairset):
        return [
            f"w2s-pairs {pair_args(pairset)} --seed {seed} --out {W.pairs(pairset, seed)}"
            for seed in W2S_SEEDS
        ]

    def mine_commands(stage):
        """Per seed: the pairs of iterative stage ``stage``, mined with the previous stage's student."""
        m = paths(BASE).manifest
        teachers = " ".join(W.teacher(t) for t in W2S_TEACHERS)
        counts = W2S["pairs"]
        return [
            f"w2s-mine --student {W.student(miner_of(stage), seed)} --stage {stage} --teachers {teachers}"
            f" --pool {m(W2S_POOL)} --shaped {W.shaped()} --ladder {m(W2S_SYNTH)} --source-manifest {m(W2S_SOURCE)}"
            f" --anchors {W.anchors()} --features-root {FEATURES_ROOT} --gmad-count {counts['stage_gmad']}"
            f" --synthetic-count {counts['stage_synthetic']} --levels {W2S['gmad_levels']} {stage_sizes_args()}"
            f" --split-seed {config['seed']} {inference_args()} --seed {seed} --out {W.pairs(f'stage{stage}', seed)}"
            for seed in W2S_SEEDS
        ]

    def student_inputs(wc):
        recipe = RECIPES[wc.student]
        inputs = {
            "pairs": [W.pairs(p, s) for p in recipe["pairs"] for s in W2S_SEEDS],
            "targets": [W.targets(recipe["targets"])] if recipe["targets"] else [],
            "manifests": [paths(BASE).manifest(d) for d in TRAIN_DATASETS],
            "features": student_features(TRAIN_DATASETS),
        }
        if recipe["init"]:
            inputs["init"] = [W.student(recipe["init"], s) for s in W2S_SEEDS]
        return inputs

    def student_args(student, seed):
        recipe = RECIPES[student]
        s, t = W2S["student"], W2S["training"]
        args = f"--loss {recipe['loss']}"
        if recipe["loss"] == "confidence":
            args += f" --loss-warmup {W2S['confidence_warmup']}"
        args += f" --batch {t['batch']} --weight-decay {t['weight_decay']} --warmup {t['warmup']}"
        if recipe["init"]:
            st = W2S["stage_training"]
            return f"{args} --init {W.student(recipe['init'], seed)} --epochs {st['epochs']} --lr {st['lr']}"
        if LLAVA_STUDENT:
            return (f"{args} --student {s['name']} --student-options {as_json(student_options())}"
                    f" --epochs {t['epochs']} --lr {t['lr']}")  # fmt: skip
        return (f"{args} --student {s['name']} --hidden {s['hidden']} --layers {s['layers']}"
                f" --heads {s['heads']} --epochs {t['epochs']} --lr {t['lr']}")  # fmt: skip

    def student_commands(student):
        """Per seed: train the student on its pairs (stage 1 from scratch, stages 2-3 from the previous)."""
        m = paths(BASE).manifest
        train_manifests = " ".join(m(d) for d in (W2S_POOL, W2S_SYNTH, W2S_SOURCE))
        recipe = RECIPES[student]
        return [
            (
                f"w2s-train --targets {W.targets(recipe['targets'])}"
                if recipe["targets"]
                else f"w2s-train --pairs {' '.join(W.pairs(p, seed) for p in recipe['pairs'])}"
            )
            + f" --manifests {train_manifests} --features-root {FEATURES_ROOT}"
            f" {student_args(student, seed)} --seed {seed} --out {W.student(student, seed)}"
            for seed in W2S_SEEDS
        ]

    def score_inputs(wc):
        inputs = {
            "models": [W.student(wc.student, s) for s in W2S_SEEDS],
            "manifests": [paths(BASE).manifest(W2S_SOURCE)],
            "test_sets": [W.test_set(d) for d in W2S_TESTS],
            "features": student_features(SCORE_DATASETS),
        }
        if not RECIPES[wc.student][
            "targets"
        ]:  # a pointwise student scores without anchors
            inputs["anchors"] = W.anchors()
        return inputs

    def score_commands(student):
        """Per seed: the student's scores of every test set (pairwise: soft comparison against the anchors, W2S
        Appendix C.3; pointwise: its expected rating)."""
        scoring = (
            ""
            if RECIPES[student]["targets"]
            else f" --anchors {W.anchors()} {inference_args()}"
        )
        return [
            f"w2s-evaluate --model {W.student(student, seed)}{scoring} --sets {' '.join(eval_sets())}"
            f" --features-root {FEATURES_ROOT} --scores-out {W.student_scores(student, seed)}"
            f" --out {W.student_eval(student, seed)}"
            for seed in W2S_SEEDS
        ]

    def inference_args():
        i = W2S["inference"]
        return f"--temperature {i['temperature']} --link {i['link']} --solver {i.get('solver', 'newton')}"

    def eval_sets():
        return [f"{paths(BASE).manifest(W2S_SOURCE)}:train"] + [
            W.test_set(d) for d in W2S_TESTS
        ]

    # keys only Table 1's students read: the iterative stages (rows IV, V) and the confidence loss (III-V)
    TABLE1_KEYS = ("stage_training", "gmad_levels", "confidence_warmup")
    TABLE5_PAIR_KEYS = (
        "source_sigma",
        "single_sigma",
    )  # only Table 5's single-teacher / source students
    TABLE5_KEYS = ("single_teacher",)  # how Table 5's students learn

    def w2s_slice(table):
        """The part of the w2s config a table depends on (its provenance hash; other edits do not rebuild it)."""
        w2s = {**W2S_WRITTEN, "seeds": sorted(W2S_WRITTEN["seeds"])}  # the seeds' order shows nowhere
        if table == "w2s_table1":
            pairs = {k: v for k, v in w2s["pairs"].items() if k not in TABLE5_PAIR_KEYS}
            return {
                **{k: v for k, v in w2s.items() if k not in TABLE5_KEYS},
                "pairs": pairs,
            }
        pairs = {k: v for k, v in w2s["pairs"].items() if not k.startswith("stage_")}
        return {
            **{k: v for k, v in w2s.items() if k not in TABLE1_KEYS},
            "pairs": pairs,
        }

    def w2s_spec(table):
        from vqaloop.config import config_hash

        return w2s_table_spec(
            table, W2S, RUN, config_hash({"w2s": w2s_slice(table)})
        )

    def w2s_table_inputs(table):
        spec = w2s_spec(table)
        files = []
        for row in spec["rows"]:
            if row["kind"] == "teacher":
                files.append(W.teacher(row["id"]))
            else:
                files += [W.student_eval(row["id"], s) for s in W2S_SEEDS]
        return files
