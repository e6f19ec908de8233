"""``vqaloop placeholder-tree``: a tree of placeholder files shaped like the papers' datasets, weights and teacher
scores, and ``DIR/paper_placeholder.yaml`` pointing at it, so the full paper-scale DAG can be built (``snakemake -n``)
on a machine that has none of them.

- every adapted dataset of the config: its adapter writes its published metadata file(s) and empty video files
  (``vqaloop.datasets``: ``write_placeholder``), one folder per dataset root of the config: ``--videos`` each, or
  with ``--published-sizes`` as many as the published dataset has where its adapter knows the count
  (``DatasetAdapter.published``: KoNViD-1k 1,200, LSVQ 28,056 + 7,182 test, KVQ's 2,926 + 420 validation, ...),
  its official test split included, so the W2S test sets' counts can be checked against W2S-VQA's Table 1
  (``tests/test_w2s_test_sets.py``);
- every vision-language model of ``paper_scale.models``: a folder with the published ``config.json`` of its
  architecture (``vqaloop.vlm.known_configs``), enough for ``plan-memory`` and for the architecture check;
- every weights file of a feature encoder (``features.encoders.<name>.weights``): an empty file;
- every ``scores`` teacher of W2S-VQA: a CSV with a seeded random score for every video of every adapted dataset.
Nothing here can be trained or scored: the placeholders exist to build and count the DAG.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vqaloop.errors import UserError
from vqaloop.io.atomic import atomic_dir, write_csv_atomic

log = logging.getLogger(__name__)

PLACEHOLDER_CONFIG = "paper_placeholder.yaml"
MAX_VIDEOS = 100_000  # placeholder videos per dataset (empty files: enough to count any DAG)


def placeholder_datasets(config: dict, out: Path, videos: int, seed: int, published: bool = False) -> dict[str, Path]:
    """Write each adapted dataset's placeholder tree (``videos`` each, or its published size where known); the new
    root of every dataset (roots shared by several datasets of the config, e.g. LSVQ and LSVQ-1080p, stay
    shared)."""
    from vqaloop.datasets import get_adapter

    roots: dict[str, Path] = {}
    new_roots: dict[str, Path] = {}
    for name, spec in config["corpus"]["datasets"].items():
        if "adapter" not in spec:
            continue
        old = spec["adapter"]["root"]
        roots.setdefault(old, out / "datasets" / Path(old).name)
        new_roots[name] = roots[old]
        adapter = get_adapter(spec["adapter"]["name"])
        n, held_out = adapter.published if published and adapter.published else (videos, None)
        adapter.write_placeholder(roots[old], n, seed, held_out=held_out)
    return new_roots


def placeholder_weights(config: dict, out: Path) -> dict[str, Path]:
    """A config.json folder per paper-scale model; an empty file per encoder weights file."""
    from vqaloop.vlm.known_configs import ARCH_DEFAULTS, write_config

    written = {}
    for role, spec in config.get("paper_scale", {}).get("models", {}).items():
        folder = out / "weights" / Path(spec["weights"]).name
        write_config(folder, ARCH_DEFAULTS[spec["arch"]])
        written[f"model:{role}"] = folder
    for name, options in config.get("features", {}).get("encoders", {}).items():
        if isinstance(options, dict) and options.get("weights"):
            path = out / "weights" / "encoders" / name / Path(options["weights"]).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            written[f"encoder:{name}"] = path
    return written


def placeholder_teacher_scores(config: dict, new_roots: dict[str, Path], out: Path, seed: int) -> dict[str, Path]:
    """Seeded random raw scores of every adapted dataset's videos for each ``scores`` teacher."""
    from vqaloop.corpus.external import adapt_dataset

    teachers = {n: s for n, s in config.get("w2s", {}).get("teachers", {}).items() if s["kind"] == "scores"}
    if not teachers:
        return {}
    ids = []
    for name, root in new_roots.items():
        spec = config["corpus"]["datasets"][name]
        manifest, _ = adapt_dataset(spec["adapter"]["name"], root, None, name, spec["role"], 0.2, seed)
        ids += list(manifest.video_id)
    ids = sorted(set(ids))
    written = {}
    for i, name in enumerate(sorted(teachers)):
        rng = np.random.default_rng([seed, i])
        path = out / "teachers" / f"{name}.csv"
        write_csv_atomic(pd.DataFrame({"video_id": ids, "score": rng.normal(size=len(ids)).round(6)}), path)
        written[name] = path
    return written


def placeholder_config(config: dict, out: Path, new_roots: dict, weights: dict, teachers: dict) -> dict:
    """The config with every path pointing into the placeholder tree and every output under ``out``."""
    new = copy.deepcopy(config)
    new["run"] = f"{config['run']}_placeholder"
    new["data_root"] = str(out / "data")
    new["results_root"] = str(out / "results")
    new["work_root"] = str(out / "work")
    for name, root in new_roots.items():
        new["corpus"]["datasets"][name]["adapter"]["root"] = str(root)
        new["corpus"]["datasets"][name]["adapter"].pop("metadata", None)
    for key, path in weights.items():
        kind, name = key.split(":")
        if kind == "model":
            new["paper_scale"]["models"][name]["weights"] = str(path)
        else:
            new["features"]["encoders"][name]["weights"] = str(path)
    for name, path in teachers.items():
        new["w2s"]["teachers"][name]["scores"] = str(path)
    return new


def write_placeholder_tree(config_path: Path, out: Path, videos: int, seed: int, published: bool = False) -> Path:
    """The tree, written as a whole (``atomic_dir``: a folder it did not write is never replaced); the config in it
    points at ``out``, where the tree ends up."""
    from vqaloop.config import load_config, validate_config

    config = load_config(config_path)
    if not any("adapter" in s for s in config["corpus"]["datasets"].values()):
        raise UserError(f"{config_path}: no dataset of corpus.datasets has an adapter: nothing to stand in for")
    out = out.resolve()
    with atomic_dir(out, PLACEHOLDER_CONFIG) as tmp:
        new_roots = placeholder_datasets(config, tmp, videos, seed, published)
        weights = placeholder_weights(config, tmp)
        teachers = placeholder_teacher_scores(config, new_roots, tmp, seed)

        def final(paths: dict[str, Path]) -> dict[str, Path]:
            return {k: out / p.relative_to(tmp) for k, p in paths.items()}

        new = placeholder_config(config, out, final(new_roots), final(weights), final(teachers))
        new = validate_config(new, str(config_path))
        header = f"# Placeholder tree of {config_path} (vqaloop placeholder-tree): for snakemake -n only.\n"
        (tmp / PLACEHOLDER_CONFIG).write_text(header + yaml.safe_dump(new, sort_keys=False))
    return out / PLACEHOLDER_CONFIG


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, output_dir, seed

    parser.add_argument("--config", required=True, type=Path, help="a paper-scale config (config/paper.yaml)")
    parser.add_argument("--out", required=True, type=output_dir(PLACEHOLDER_CONFIG),
                        help=f"the folder of the placeholder tree: new, empty, or an earlier tree ({PLACEHOLDER_CONFIG} "
                             "in it), which is replaced")  # fmt: skip
    parser.add_argument("--videos", type=int_in(2, MAX_VIDEOS), default=20,
                        help=f"placeholder videos per dataset, 2 to {MAX_VIDEOS}")  # fmt: skip
    parser.add_argument("--published-sizes", action="store_true",
                        help="each dataset with a known published size at that size (its test split included)")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0)


def run(args) -> int:
    if args.videos < 2:
        raise UserError(f"--videos {args.videos}: at least 2 (a dataset needs a train or pool and a test video)")
    target = write_placeholder_tree(args.config, args.out, args.videos, args.seed, args.published_sizes)
    log.info("placeholder tree in %s; config %s", args.out, target)
    print(target)
    return 0
