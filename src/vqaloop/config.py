"""Configuration: load a YAML config and validate it against ``config/schema.yaml``.

Errors name the offending key (``corpus.clip.fps``) and say what was expected, in one line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import yaml

from vqaloop.errors import UserError
from vqaloop.schema import SCHEMA_PATH, describe_error


def validate_config(config: dict, source: str = "config", schema_path: Path = SCHEMA_PATH) -> dict:
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        raise UserError(f"{source}: {describe_error(errors[0])}")
    check_semantics(config, source)
    check_mds(config, source)
    check_w2s(config, source)
    return config


def check_semantics(config: dict, source: str) -> None:
    """Rules a schema cannot express: split fractions sum to 1, recipe keys match the recipe type."""
    for name, ds in config["corpus"]["datasets"].items():
        total = sum(ds["splits"].values())
        if abs(total - 1.0) > 1e-6:
            raise UserError(f"{source}: key corpus.datasets.{name}.splits: fractions sum to {total:g}, not 1")
        if "adapter" in ds:
            for key in ("recipe", "contents", "contents_from", "versions"):
                if key in ds:
                    raise UserError(f"{source}: key corpus.datasets.{name}.{key}: not used by a dataset read by an "
                                    "adapter")  # fmt: skip
            continue
        recipe = ds["recipe"]
        if "contents_from" in ds:
            if ds["contents_from"]["dataset"] not in config["corpus"]["datasets"]:
                raise UserError(f"{source}: key corpus.datasets.{name}.contents_from.dataset: "
                                f"{ds['contents_from']['dataset']!r} is not a dataset of corpus.datasets")  # fmt: skip
            if ds.get("contents"):
                raise UserError(f"{source}: key corpus.datasets.{name}.contents: not used with contents_from")
        else:
            for key in ("contents", "versions"):
                if key not in ds:
                    raise UserError(f"{source}: key corpus.datasets.{name}.{key}: required (or give contents_from)")
        if (recipe["type"] == "ladder") != ("families" in recipe):
            raise UserError(f"{source}: key corpus.datasets.{name}.recipe.families: required by a ladder recipe "
                            "and only there")  # fmt: skip
        if recipe["type"] == "grid" and not recipe.get("axes"):
            raise UserError(f"{source}: key corpus.datasets.{name}.recipe.axes: required for a grid recipe")
        if recipe["type"] == "capture" and "axes" in recipe:
            raise UserError(f"{source}: key corpus.datasets.{name}.recipe.axes: not used by a capture recipe")


def check_mds(config: dict, source: str) -> None:
    mds, datasets = config.get("mds"), config["corpus"]["datasets"]
    if mds is None:
        return
    if "features" not in config:
        raise UserError(f"{source}: key features: required when an mds section is present")
    for key in ("source", "ablation_dataset"):
        if mds[key] not in datasets:
            raise UserError(
                f"{source}: key mds.{key}: {mds[key]!r} is not a dataset of corpus.datasets ({sorted(datasets)})"
            )
    if "train" not in datasets[mds["source"]]["splits"]:
        raise UserError(f"{source}: key mds.source: dataset {mds['source']!r} has no train split")
    for i, name in enumerate(mds["targets"]):
        if name not in datasets:
            raise UserError(f"{source}: key mds.targets.{i}: {name!r} is not a dataset of corpus.datasets")
        if {"pool", "test"} - set(datasets[name]["splits"]):
            raise UserError(f"{source}: key mds.targets.{i}: dataset {name!r} needs pool and test splits")
    gmad = mds["gmad"]["dataset"]
    if gmad not in datasets or "test" not in datasets[gmad]["splits"]:
        raise UserError(f"{source}: key mds.gmad.dataset: {gmad!r} must be a dataset with a labelled test split")
    from vqaloop.models.catalogue import BASE_MODEL_FACTS, is_grpo

    if mds["base"] not in BASE_MODEL_FACTS:
        raise UserError(
            f"{source}: key mds.base: unknown base model {mds['base']!r}; valid: {sorted(BASE_MODEL_FACTS)}"
        )
    vlm_models = config.get("paper_scale", {}).get("models", {})
    check_vlm_weights(vlm_models, source)
    if is_grpo(mds["base"]) and "f" not in vlm_models:
        raise UserError(f"{source}: key paper_scale.models.f: required by mds.base {mds['base']} (its weights, "
                        "frames and GRPO settings)")  # fmt: skip
    for name in mds.get("alternative_bases", {}):
        if name not in BASE_MODEL_FACTS:
            raise UserError(
                f"{source}: key mds.alternative_bases.{name}: unknown base model; valid: {sorted(BASE_MODEL_FACTS)}"
            )
    if mds["ablation_dataset"] not in mds["targets"]:
        raise UserError(f"{source}: key mds.ablation_dataset: must be one of mds.targets")
    encoders = set(config["features"]["encoders"]) | {"base"}
    for enc in [mds["default"]["encoder"], *mds["diversity_encoders"]]:
        if enc not in encoders:
            raise UserError(f"{source}: key mds: diversity encoder {enc!r} is not configured under features.encoders")
    if mds["budget"] >= 1 and mds["budget"] != int(mds["budget"]):
        raise UserError(
            f"{source}: key mds.budget: a fraction must be < 1, a count a whole number (got {mds['budget']})"
        )
    check_mds_recipe(mds, config, source)


def check_mds_recipe(mds: dict, config: dict, source: str) -> None:
    """The per-target budgets name targets and are fractions or counts; per-encoder diversity settings name
    configured encoders."""
    for name, budget in mds.get("target_budgets", {}).items():
        if name not in mds["targets"]:
            raise UserError(f"{source}: key mds.target_budgets.{name}: not one of mds.targets")
        if budget >= 1 and budget != int(budget):
            raise UserError(f"{source}: key mds.target_budgets.{name}: a fraction must be < 1, a count a whole number "
                            f"(got {budget})")  # fmt: skip
    encoders = set(config["features"]["encoders"]) | {"base"}
    for name in mds.get("diversity", {}):
        if name not in encoders:
            raise UserError(f"{source}: key mds.diversity.{name}: not an encoder of features.encoders")


def with_defaults(config: dict, key: str, schema_path: Path = SCHEMA_PATH) -> dict:
    """``config[key]`` with every default config/schema.yaml declares for it filled in (nested objects too; the
    schema is the one place defaults live). A missing section is its schema default."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    node = schema["properties"][key]
    value = config.get(key, node.get("default", {} if node.get("type") == "object" else None))
    return _fill(value, node, schema)


def _fill(value, node: dict, schema: dict):
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name, child in node.get("properties", {}).items():
        if name not in out and "default" in child:
            out[name] = child["default"]
        if name in out:
            out[name] = _fill(out[name], child, schema)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for name in set(out) - set(node.get("properties", {})):
            out[name] = _fill(out[name], extra, schema)
    return out


def check_vlm_weights(models: dict, source: str) -> None:
    """A local weights folder must hold the configured architecture (before any job; a Hugging Face id or a path
    not on this machine is checked when the model loads)."""
    from vqaloop.vlm.loading import folder_arch

    for role, spec in models.items():
        path = Path(spec["weights"])
        if path.is_dir() and (path / "config.json").is_file() and folder_arch(path) != spec["arch"]:
            raise UserError(f"{source}: key paper_scale.models.{role}.weights: {path} holds "
                            f"{folder_arch(path) or 'another architecture'}, not {spec['arch']}")  # fmt: skip


def check_w2s(config: dict, source: str) -> None:
    w2s, datasets = config.get("w2s"), config["corpus"]["datasets"]
    if w2s is None:
        return
    if "mds" not in config:
        raise UserError(f"{source}: key w2s: needs an mds section (the teachers are its base models)")
    for key, role in (("pool", "w2s_pool"), ("synthetic", "w2s_synthetic"), ("source", "source")):
        name = w2s[key]
        if name not in datasets or datasets[name]["role"] != role:
            raise UserError(f"{source}: key w2s.{key}: {name!r} must be a dataset of corpus.datasets with role {role}")
    if "train" not in datasets[w2s["source"]]["splits"]:
        raise UserError(f"{source}: key w2s.source: dataset {w2s['source']!r} has no train split")
    mds = config["mds"]
    known_bases = {mds["base"], *mds.get("alternative_bases", {})}
    from vqaloop.models.catalogue import BASE_MODEL_FACTS

    for name, spec in w2s["teachers"].items():
        if spec["kind"] == "scores" and not spec.get("scores"):
            raise UserError(f"{source}: key w2s.teachers.{name}.scores: required for kind scores (a CSV of video_id, "
                            "score)")  # fmt: skip
        if spec["kind"] == "classical" and name not in ("brisque", "niqe"):
            raise UserError(f"{source}: key w2s.teachers.{name}: unknown classical teacher; valid: brisque, niqe")
        if spec["kind"] == "base_model":
            if name not in BASE_MODEL_FACTS:
                raise UserError(
                    f"{source}: key w2s.teachers.{name}: unknown base model; valid: {sorted(BASE_MODEL_FACTS)}"
                )
            if name not in known_bases and "training" not in spec:
                raise UserError(f"{source}: key w2s.teachers.{name}.training: required for a base model that "
                                "mds does not train")  # fmt: skip
    if w2s["student"]["name"] == "llava_onevision" and "student" not in config.get("paper_scale", {}).get("models", {}):
        raise UserError(f"{source}: key paper_scale.models.student: required by w2s.student llava_onevision (its "
                        "weights and settings)")  # fmt: skip
    motion = w2s["student"].get("motion", "motion3d")
    if w2s["student"]["name"] == "llava_onevision" and motion not in config["features"]["encoders"]:
        raise UserError(f"{source}: key features.encoders.{motion}: required by w2s.student.motion")
    for name in w2s["test_sets"]:
        if name not in datasets or "test" not in datasets[name]["splits"]:
            raise UserError(f"{source}: key w2s.test_sets.{name}: must be a dataset of corpus.datasets with a "
                            "test split")  # fmt: skip
    check_w2s_test_splits(config, source)
    if sum(w2s["stage_sizes"]) < 2:
        raise UserError(f"{source}: key w2s.stage_sizes: the shaped pool (their sum) needs at least 2 videos")


def check_w2s_test_splits(config: dict, source: str) -> None:
    """Each W2S test set scores splits its dataset has, and never a training split a teacher learnt from: the W2S
    source's (the teachers' MOS map, the anchors, the source-labelled student) or, when a teacher is one of
    MDS-VQA's base models, MDS-VQA's source's (their training set)."""
    w2s, datasets = config["w2s"], config["corpus"]["datasets"]
    taught = {w2s["source"]} | ({config["mds"]["source"]} if any(t["kind"] == "base_model" for t in
                                                                 w2s["teachers"].values()) else set())  # fmt: skip
    for name, spec in w2s["test_sets"].items():
        splits, available = spec.get("splits", "all"), sorted(datasets[name]["splits"])
        chosen = available if splits == "all" else list(splits)
        absent = [s for s in chosen if s not in available]
        if absent:
            raise UserError(f"{source}: key w2s.test_sets.{name}.splits: {name} has no {absent[0]!r} split (its "
                            f"splits: {', '.join(available)})")  # fmt: skip
        if name in taught and "train" in chosen:
            raise UserError(f"{source}: key w2s.test_sets.{name}.splits: {name}'s train split taught the teachers "
                            f"(w2s.source / mds.source): score its test split only ([test]), not {splits}")  # fmt: skip


def load_config(path: str | Path) -> dict:
    from vqaloop.io.readers import read_text

    path = Path(path)
    text = read_text(path, "config file")
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: top level must be a mapping of keys")
    return validate_config(config, str(path))


def config_hash(obj) -> str:
    """Short stable hash of a config slice (recorded in every table row)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def add_arguments(parser):
    parser.add_argument("config", type=Path)


def run(args) -> int:
    load_config(args.config)
    print(f"{args.config}: valid")
    return 0
