# Config validation, wildcard constraints and path helpers shared by every rule file.
import json
import sys

from vqaloop.config import validate_config
from vqaloop.errors import UserError

try:
    validate_config(config, source="config")
except UserError as err:
    sys.stderr.write(f"vqaloop: error: {err}\n")
    sys.exit(2)

DATA = config["data_root"]
RUN = config["run"]
RESULTS = f"{config['results_root']}/{RUN}"
LOGS = f"logs/{RUN}"
BENCH = f"{RESULTS}/benchmarks"
CORPUS = config["corpus"]
DATASETS = list(CORPUS["datasets"])
SHARDS = list(range(CORPUS["shards"]))


wildcard_constraints:
    dataset="|".join(DATASETS),
    shard=r"\d+",


def as_json(obj):
    """A config slice as a shell-quoted JSON argument (params hold the slice, so edits rerun the rule)."""
    return "'" + json.dumps(obj, sort_keys=True).replace("'", "'\\''") + "'"


# ---- MDS-VQA (present when the config has an mds section) ----
HAS_MDS = "mds" in config
if HAS_MDS:
    from vqaloop.config import config_hash
    from vqaloop.models.registry import model_encoders
    from vqaloop.tables.mds_spec import TABLES as MDS_TABLES
    from vqaloop.tables.mds_spec import all_variants, default_variant, table_spec
    from vqaloop.variants import VARIANT_PATTERN, parse_variant
    from vqaloop.workflow_paths import MdsPaths

    MDS = config["mds"]
    FEATURES = config["features"]
    WORK = f"{config['work_root']}/{RUN}"
    P = MdsPaths(DATA, WORK, MDS["base"])
    BASE_ENCODERS = list(model_encoders(MDS["base"]))
    EVAL_DATASETS = [MDS["source"], *MDS["targets"]]

    def encoder_status(name):
        """(available, reason): encoders needing weights are unavailable without a local file."""
        from vqaloop.features.registry import available

        return available(name, FEATURES["encoders"].get(name, {}))

    ENCODER_STATUS = {e: encoder_status(e) for e in FEATURES["encoders"]}
    ENCODER_STATUS["base"] = (True, "")
    VARIANTS = all_variants(MDS, ENCODER_STATUS)
    DEFAULT_VARIANT = default_variant(MDS).id

    def encoder_options(encoder):
        options = FEATURES["encoders"].get(encoder) or {}
        args = [f"--{k} {v}" for k, v in sorted(options.items()) if v is not None]
        return " ".join(args)

    def optim_args(stage):
        o = MDS["training"][stage]
        return f"--epochs {o['epochs']} --lr {o['lr']} --batch {o['batch']}"

    def variant_encoder(variant):
        return parse_variant(variant).encoder or MDS["default"]["encoder"]

    def selection_inputs(wc):
        v = parse_variant(wc.variant)
        inputs = {
            "features": P.features(wc.dataset, variant_encoder(wc.variant)),
            "manifest": P.manifest(wc.dataset),
        }
        if v.needs_g:
            inputs["difficulty"] = P.difficulty(v.g_id, wc.seed, wc.dataset)
        return inputs

    def selection_args(wc):
        v = parse_variant(wc.variant)
        if v.method == "random":
            return "--method random"
        if v.method == "divonly":
            return "--method mds_diversity_only"
        return f"--method mds --lambda {v.lam:g} --difficulty {P.difficulty(v.g_id, wc.seed, wc.dataset)}"

    def mds_spec(table):
        return table_spec(
            table,
            MDS,
            CORPUS["datasets"],
            ENCODER_STATUS,
            RUN,
            config_hash({"mds": MDS, "features": FEATURES, "corpus": CORPUS}),
        )

    def table_inputs(table):
        """Every file the table reads: base predictions/evaluation and, per variant row, seed and target,
        the revealed labels and the fine-tuned evaluation."""
        spec = mds_spec(table)
        files = (
            [P.f_eval()]
            + [P.f_predictions(d) for d in MDS["targets"]]
            + [P.oracle(d) for d in MDS["targets"]]
        )
        for row in spec["rows"]:
            if row["kind"] != "variant":
                continue
            for seed in MDS["seeds"]:
                files.append(P.ft_eval(row["variant"], seed))
                files += [P.labels(row["variant"], seed, d) for d in MDS["targets"]]
        return files

    wildcard_constraints:
        variant=VARIANT_PATTERN,
        seed=r"\d+",
        loss="ranking|classification|regression",
        rank=r"\d+",
        encoder="|".join(FEATURES["encoders"]),
