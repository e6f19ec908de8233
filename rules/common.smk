# Config validation, wildcard constraints and path helpers shared by every rule file.
import json
import sys
from pathlib import Path

from vqaloop.config import validate_config
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


def corpus_root(path):
    """The corpus root of a file inside it (manifests/, plans/ and oracle/ sit directly below the root)."""
    path = path if isinstance(path, str) else path[0]
    return str(Path(path).parent.parent)


def plan_slice(dataset):
    """The keys of a dataset's config that decide its plan (names and paper keys do not)."""
    spec = CORPUS["datasets"][dataset]
    keys = ("recipe", "versions", "include_pristine", "splits", "contents_from")
    return {k: spec[k] for k in keys if k in spec}


def features_root(files):
    """The features folder of <root>/<dataset>/<encoder>.npz inputs (derived from the inputs, as --lint asks)."""
    return str(Path(files[0]).parent.parent)


def as_json(obj):
    """A config slice as a shell-quoted JSON argument (params hold the slice, so edits rerun the rule)."""
    quoted = json.dumps(obj, sort_keys=True).replace("'", "'\\''")
    return f"'{quoted}'"


# ---- MDS-VQA (present when the config has an mds section) ----
HAS_MDS = "mds" in config
if HAS_MDS:
    from vqaloop.config import config_hash
    from vqaloop.models.registry import model_encoders
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

    MDS = config["mds"]
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

    def selection_inputs(wc):
        v = parse_variant(wc.variant)
        p = paths(wc.base)
        inputs = {
            "features": p.features(wc.dataset, variant_encoder(wc.variant)),
            "manifest": p.manifest(wc.dataset),
        }
        if v.needs_g:
            inputs["difficulty"] = p.difficulty(v.g_id, wc.seed, wc.dataset)
        if v.method in LABELLED_METHODS and MDS.get("labelled_set", True):
            inputs["labelled"] = p.features(MDS["source"], variant_encoder(wc.variant))
            inputs["labelled_manifest"] = p.manifest(MDS["source"])
        if v.method in MODEL_METHODS:
            inputs["model"] = p.f_model()
            inputs["model_features"] = [
                p.features(wc.dataset, e) for e in base_encoders(wc.base)
            ]
        return inputs

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

    def g_args(g_id, input):
        loss, rank, errors = parse_g_id(g_id)
        extra = f" --errors {input.errors}" if errors else ""
        return f"--loss {loss} --rank {rank}{extra}"

    def selection_args(wc):
        v = parse_variant(wc.variant)
        p = paths(wc.base)
        if v.method == "divonly":
            return "--method mds_diversity_only"
        if v.method == "mds":
            return f"--method mds --lambda {v.lam:g} --difficulty {p.difficulty(v.g_id, wc.seed, wc.dataset)}"
        if v.method in MODEL_METHODS:
            return f"--method {v.method} --model {p.f_model()} --features-root {DATA}/features"
        if v.method in LABELLED_METHODS and MDS.get("labelled_set", True):
            source = MDS["source"]
            return (f"--method {v.method} --labelled {p.features(source, variant_encoder(wc.variant))}"
                    f" --labelled-manifest {p.manifest(source)}")  # fmt: skip
        return f"--method {v.method}"

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
            for seed in MDS["seeds"]:
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

    def gmad_inputs(wc):
        ds, p = MDS["gmad"]["dataset"], paths(wc.base)
        files = []
        for _, row in gmad_models(wc.base):
            if row["kind"] == "base":
                files.append(p.f_predictions(ds))
            else:
                files.append(p.ft_predictions(row["variant"], wc.seed, ds))
        return {"manifest": p.manifest(ds), "predictions": files}

    def gmad_prediction_args(wc):
        ds, p = MDS["gmad"]["dataset"], paths(wc.base)
        args = []
        for key, row in gmad_models(wc.base):
            path = (
                p.f_predictions(ds)
                if row["kind"] == "base"
                else p.ft_predictions(row["variant"], wc.seed, ds)
            )
            args.append(f"{key}={path}")
        return " ".join(args)


# ---- W2S-VQA (present when the config has a w2s section; it reuses the MDS base models as teachers) ----
HAS_W2S = "w2s" in config
if HAS_W2S:
    from vqaloop.tables.w2s_spec import TABLES as W2S_TABLES
    from vqaloop.tables.w2s_spec import miner_of, student_recipes
    from vqaloop.tables.w2s_spec import table_spec as w2s_table_spec
    from vqaloop.workflow_paths import W2sPaths

    W2S = config["w2s"]
    W = W2sPaths(WORK)
    W2S_TEACHERS = list(W2S["teachers"])
    RECIPES = student_recipes(W2S_TEACHERS)
    W2S_SOURCE, W2S_POOL, W2S_SYNTH = W2S["source"], W2S["pool"], W2S["synthetic"]
    W2S_TESTS = list(W2S["test_sets"])
    STUDENT_ENCODERS = ("efficientnet_lite0", "motion")
    PAIRSETS = [
        "homogeneous_ensemble",
        *(f"homogeneous_{t}" for t in W2S_TEACHERS),
        "synthetic",
        "source",
    ]

    def w2s_sets():
        """Rows every teacher scores: the source (all), the pool (all) and each test set's test split."""
        sets = [paths(BASE).manifest(W2S_SOURCE), paths(BASE).manifest(W2S_POOL)]
        return sets + [
            f"{paths(BASE).manifest(d)}:test" for d in W2S_TESTS if d != W2S_SOURCE
        ]

    def w2s_set_datasets():
        return sorted({W2S_SOURCE, W2S_POOL, *W2S_TESTS})

    def teacher_inputs(wc):
        spec = W2S["teachers"][wc.teacher]
        manifests = [paths(BASE).manifest(d) for d in w2s_set_datasets()]
        inputs = {"manifests": manifests}
        if spec["kind"] == "base_model":
            inputs["model"] = paths(wc.teacher).f_model()
            inputs["features"] = [
                paths(wc.teacher).features(d, e)
                for d in w2s_set_datasets()
                for e in base_encoders(wc.teacher)
            ]
        else:
            inputs["videos"] = [
                f"{DATA}/{d}/shard{s}" for d in w2s_set_datasets() for s in SHARDS
            ]
        return inputs

    def teacher_args(wc, input):
        spec = W2S["teachers"][wc.teacher]
        if spec["kind"] == "base_model":
            return f"--model {input.model} --features-root {DATA}/features"
        return (
            f"--data-root {corpus_root(input.manifests)} --cache {config['cache_dir']}"
        )

    def student_features(datasets):
        return [paths(BASE).features(d, e) for d in datasets for e in STUDENT_ENCODERS]

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

    def pair_args(wc, input):
        counts = W2S["pairs"]
        if wc.pairset.startswith("homogeneous_"):
            return (f"--kind homogeneous --count {counts['homogeneous']} --teachers {' '.join(input.teachers)}"
                    f" --pool {input.pool} --shaped {input.shaped} --stage 1 --split-seed {config['seed']}")  # fmt: skip
        if wc.pairset == "synthetic":
            return f"--kind synthetic --count {counts['synthetic']} --ladder {input.ladder}"
        return (f"--kind source --count {counts['homogeneous']} --source-manifest {input.source}"
                f" --source-sigma {counts.get('source_sigma', 0.25)}")  # fmt: skip

    def student_inputs(wc):
        recipe = RECIPES[wc.student]
        inputs = {
            "pairs": [W.pairs(p, wc.seed) for p in recipe["pairs"]],
            "manifests": [
                paths(BASE).manifest(d) for d in (W2S_POOL, W2S_SYNTH, W2S_SOURCE)
            ],
            "features": student_features([W2S_POOL, W2S_SYNTH, W2S_SOURCE]),
        }
        if recipe["init"]:
            inputs["init"] = W.student(recipe["init"], wc.seed)
        return inputs

    def student_args(wc, input):
        recipe = RECIPES[wc.student]
        s, t = W2S["student"], W2S["training"]
        args = f"--loss {recipe['loss']}"
        if recipe["loss"] == "confidence":
            args += f" --loss-warmup {W2S.get('confidence_warmup', 0.1)}"
        args += f" --batch {t['batch']} --weight-decay {t.get('weight_decay', 0.05)} --warmup {t.get('warmup', 0.03)}"
        if recipe["init"]:
            st = W2S["stage_training"]
            return f"{args} --init {input.init} --epochs {st['epochs']} --lr {st['lr']}"
        return (f"{args} --student {s['name']} --hidden {s.get('hidden', 128)} --layers {s.get('layers', 2)}"
                f" --heads {s.get('heads', 4)} --epochs {t['epochs']} --lr {t['lr']}")  # fmt: skip

    def inference_args():
        i = W2S["inference"]
        return f"--temperature {i['temperature']} --link {i['link']} --solver {i.get('solver', 'newton')}"

    def eval_sets():
        return [f"{paths(BASE).manifest(W2S_SOURCE)}:train"] + [
            f"{paths(BASE).manifest(d)}:test" for d in W2S_TESTS
        ]

    STAGE_KEYS = (
        "stage_training",
        "gmad_levels",
    )  # only the iterative stages (Table 1 rows IV, V) read these

    def w2s_slice(table):
        """The part of the w2s config a table depends on (its provenance hash; other edits do not rebuild it)."""
        w2s = {**W2S, "seeds": sorted(W2S["seeds"])}  # the seeds' order shows nowhere
        if table == "w2s_table1":
            return w2s
        pairs = {k: v for k, v in w2s["pairs"].items() if not k.startswith("stage_")}
        return {**{k: v for k, v in w2s.items() if k not in STAGE_KEYS}, "pairs": pairs}

    def w2s_spec(table):
        from vqaloop.config import config_hash

        return w2s_table_spec(table, W2S, RUN, config_hash({"w2s": w2s_slice(table)}))

    def w2s_table_inputs(table):
        spec = w2s_spec(table)
        files = []
        for row in spec["rows"]:
            if row["kind"] == "teacher":
                files.append(W.teacher(row["id"]))
            else:
                files += [W.student_eval(row["id"], s) for s in W2S["seeds"]]
        return files
