"""Plan one dataset: which contents it gets, their content-disjoint splits, and each video's distortion chain.

Contents are allocated to datasets in config order from a seeded shuffle of each category; a dataset that
asks for more items of a category than remain is filled from the other categories (logged). Each content
then yields ``versions`` videos whose distortion chains come from the dataset's recipe:
- ``grid``: the product of per-family level lists (level 0 = family absent); distinct grid points are drawn
  without replacement per content, plus the pristine clip when ``include_pristine`` is set.
- ``capture``: user-generated-like mixed chains from ``distortions.random_capture_chain``.
- ``ladder``: every level of each listed family alone (W2S-VQA Sec. 4.1.3: a distortion simulator degrades a
  primary video x^0 across its N_S severity levels); ``versions`` is ignored.

A dataset with ``contents_from: {dataset: D, count: K}`` allocates no content of its own: it takes K contents
(a seeded choice) of dataset D's allocation (the W2S synthetic ladders are built on D_w2s contents).

Contents of the ``extra_*`` categories (sources added for W2S-VQA's unlabelled pool) are kept apart from the four
base categories, so adding them never changes which base contents the MDS-VQA datasets get.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.corpus import distortions
from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.readers import parse_json_argument, read_csv

log = logging.getLogger(__name__)

PLAN_COLUMNS = [
    "video_id", "dataset", "content_id", "category", "split", "chain", "distortion", "level", "shard", "seed",
]  # fmt: skip
BASE_CATEGORIES = ("animation", "natural_video", "photo", "render")
EXTRA_CATEGORIES = ("extra_photo", "extra_render")  # W2S-only sources (catalogue ``extra_renders``, wallpapers)
CATEGORIES = (*BASE_CATEGORIES, *EXTRA_CATEGORIES)


def stable_seed(*parts) -> int:
    """A 32-bit seed from any parts, stable across runs and platforms (unlike Python's hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def allocate_contents(catalogue: pd.DataFrame, requests: dict[str, dict[str, int]], seed: int) -> dict:
    """Content ids per dataset: disjoint, deterministic, in config order, with cross-category fill."""
    remaining = {}
    for cat in CATEGORIES:
        ids = sorted(catalogue.loc[catalogue.category == cat, "content_id"])
        order = np.random.default_rng(stable_seed(seed, "allocate", cat)).permutation(len(ids))
        remaining[cat] = [ids[i] for i in order]
    allocation: dict[str, list[str]] = {}
    for dataset, wanted in requests.items():
        chosen: list[str] = []
        shortfall = 0
        for cat, n in wanted.items():
            if cat not in remaining:
                raise UserError(f"config key corpus.datasets.{dataset}.contents: unknown category {cat!r}; "
                                f"valid: {list(CATEGORIES)}")  # fmt: skip
            take = remaining[cat][:n]
            remaining[cat] = remaining[cat][n:]
            chosen += take
            shortfall += n - len(take)
        if shortfall:
            # fill from the categories with the most items left, in a fixed order (base or extra, never mixed)
            family = EXTRA_CATEGORIES if set(wanted) <= set(EXTRA_CATEGORIES) and wanted else BASE_CATEGORIES
            for cat in sorted(family, key=lambda c: -len(remaining[c])):
                take = remaining[cat][:shortfall]
                remaining[cat] = remaining[cat][len(take) :]
                chosen += take
                shortfall -= len(take)
            log.warning("dataset %s: categories short; filled from others (%d still missing)", dataset, shortfall)
        allocation[dataset] = chosen
    return allocation


def split_contents(content_ids: list[str], splits: dict[str, float], seed: int, dataset: str) -> dict[str, str]:
    """Assign whole contents to splits (content-disjoint by construction), sizes by rounded fractions."""
    ids = sorted(content_ids)
    order = np.random.default_rng(stable_seed(seed, "split", dataset)).permutation(len(ids))
    names = list(splits)
    counts = [int(round(splits[s] * len(ids))) for s in names[:-1]]
    counts.append(len(ids) - sum(counts))
    if any(c <= 0 for c in counts) and len(ids) >= len(names):
        raise UserError(f"config key corpus.datasets.{dataset}.splits: a split would get no content "
                        f"({dict(zip(names, counts, strict=True))} of {len(ids)} contents)")  # fmt: skip
    assignment, pos = {}, 0
    for name, count in zip(names, counts, strict=True):
        for i in order[pos : pos + count]:
            assignment[ids[i]] = name
        pos += count
    return assignment


def grid_chains(axes: dict[str, list[int]]) -> list[list[tuple[str, int]]]:
    """Every non-empty combination of the grid's levels (level 0 = that family absent)."""
    for family, levels in axes.items():
        if family not in distortions.FAMILIES:
            raise UserError(f"recipe axis {family!r} is not a distortion family; valid: {sorted(distortions.FAMILIES)}")
        n = len(distortions.FAMILIES[family].levels)
        bad = [lv for lv in levels if not 0 <= int(lv) <= n]
        if bad:
            raise UserError(f"recipe axis {family}: level {bad[0]} out of range 0..{n}")
    chains = []
    for combo in itertools.product(*axes.values()):
        chain = [(fam, int(lv)) for fam, lv in zip(axes, combo, strict=True) if int(lv) > 0]
        if chain:
            chains.append(chain)
    return chains


def ladder_chains(families: list[str]) -> list[list[tuple[str, int]]]:
    """Every level 1..N_S of each family alone, mild to severe (W2S-VQA Sec. 4.1.3, Appendix A.3)."""
    chains = []
    for family in families:
        fam = distortions.get_family(family)
        chains += [[(fam.name, level)] for level in range(1, fam.n_levels + 1)]
    return chains


def dataset_contents(allocation: dict, dataset: str, spec: dict, seed: int) -> list[str]:
    """The dataset's own allocation, or K contents of another dataset's (``contents_from``)."""
    source = spec.get("contents_from")
    if not source:
        if dataset not in allocation:
            raise UserError(f"--allocation has no contents for dataset {dataset!r} (has {sorted(allocation)[:5]})")
        return allocation[dataset]
    pool = sorted(allocation.get(source["dataset"], []))
    count = int(source["count"])
    if count > len(pool):
        raise UserError(f"config key corpus.datasets.{dataset}.contents_from.count: {count} contents asked, "
                        f"dataset {source['dataset']!r} has {len(pool)}")  # fmt: skip
    order = np.random.default_rng(stable_seed(seed, dataset, "contents_from")).permutation(len(pool))
    return sorted(pool[i] for i in order[:count])


def version_chains(recipe: dict, versions: int, rng: np.random.Generator, include_pristine: bool) -> list:
    n_distorted = versions - int(include_pristine)
    if recipe["type"] == "grid":
        grid = grid_chains(recipe["axes"])
        if n_distorted > len(grid):
            raise UserError(f"recipe grid has {len(grid)} distinct chains but {n_distorted} versions were asked")
        picks = sorted(rng.choice(len(grid), size=n_distorted, replace=False))
        chains = [grid[i] for i in picks]
    elif recipe["type"] == "capture":
        chains, seen = [], set()
        for _ in range(100 * versions):
            chain = distortions.random_capture_chain(rng, max_steps=recipe.get("max_steps", 3))
            key = distortions.format_chain(chain)
            if key not in seen:
                seen.add(key)
                chains.append(chain)
            if len(chains) == n_distorted:
                break
    elif recipe["type"] == "ladder":
        return ([[]] if include_pristine else []) + ladder_chains(recipe["families"])
    else:
        raise UserError(f"unknown recipe type {recipe['type']!r}; valid: grid, capture, ladder")
    return ([[]] if include_pristine else []) + chains


def plan_dataset(catalogue: pd.DataFrame, dataset: str, allocation_requests: dict, spec: dict, seed: int,
                 shards: int) -> pd.DataFrame:  # fmt: skip
    allocation = allocate_contents(catalogue, allocation_requests, seed)
    contents = dataset_contents(allocation, dataset, spec, seed)
    if not contents:
        raise UserError(f"dataset {dataset}: no content allocated (config key corpus.datasets.{dataset}.contents)")
    split_of = split_contents(contents, spec["splits"], seed, dataset)
    category = catalogue.set_index("content_id")["category"]
    rows = []
    for i, content_id in enumerate(sorted(contents)):
        rng = np.random.default_rng(stable_seed(seed, dataset, content_id, "chains"))
        chains = version_chains(spec["recipe"], spec.get("versions", 1), rng, spec.get("include_pristine", False))
        for k, chain in enumerate(chains):
            video_id = f"{dataset}__{content_id}__v{k:02d}"
            rows.append({
                "video_id": video_id, "dataset": dataset, "content_id": content_id,
                "category": category[content_id], "split": split_of[content_id],
                "chain": distortions.format_chain(chain),
                "distortion": "+".join(f for f, _ in chain) or "pristine",
                "level": max((lv for _, lv in chain), default=0),
                "shard": i % shards, "seed": stable_seed(seed, video_id),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, json_object, name, output_file, seed

    parser.add_argument("--catalogue", required=True, type=Path)
    parser.add_argument("--dataset", required=True, type=name)
    parser.add_argument("--allocation", required=True, type=json_object,
                        help="JSON {dataset: {category: count}} of all datasets")  # fmt: skip
    parser.add_argument("--spec", required=True, type=json_object,
                        help="JSON: this dataset's config (recipe, versions, splits)")  # fmt: skip
    parser.add_argument("--seed", required=True, type=seed)
    parser.add_argument("--shards", required=True, type=int_in(1, 10_000), help="render jobs, 1 to 10000")
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    catalogue = read_csv(args.catalogue, "a content catalogue (vqaloop catalogue)", ("content_id", "category"))
    allocation = parse_json_argument(args.allocation, "--allocation")
    plan = plan_dataset(catalogue, args.dataset, allocation, parse_json_argument(args.spec, "--spec"), args.seed,
                        args.shards)  # fmt: skip
    write_csv_atomic(plan, args.out)
    log.info("plan %s: %d videos, %d contents, splits %s", args.dataset, len(plan), plan.content_id.nunique(),
             plan.split.value_counts().to_dict())  # fmt: skip
    return 0
