"""Planning: content allocation is disjoint and deterministic, splits are content-disjoint, chains are valid."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from vqaloop.corpus import distortions
from vqaloop.corpus.plan import allocate_contents, grid_chains, plan_dataset, split_contents, stable_seed
from vqaloop.errors import UserError


def toy_catalogue() -> pd.DataFrame:
    rows = [{"content_id": f"{cat}{i}", "category": cat} for cat in ("photo", "render", "animation") for i in range(6)]
    return pd.DataFrame(rows)


def test_stable_seed_is_sha256_based():
    expected = int.from_bytes(hashlib.sha256(b"1/x/y").digest()[:4], "little")
    assert stable_seed(1, "x", "y") == expected


def test_allocation_is_disjoint_deterministic_and_fills_shortfalls():
    cat = toy_catalogue()
    requests = {"a": {"photo": 4}, "b": {"photo": 4, "render": 1}, "c": {"animation": 2}}
    alloc = allocate_contents(cat, requests, seed=3)
    assert alloc == allocate_contents(cat, requests, seed=3)
    assert alloc != allocate_contents(cat, requests, seed=4)
    everything = [c for ids in alloc.values() for c in ids]
    assert len(everything) == len(set(everything)) == 4 + 5 + 2
    assert sum(c.startswith("photo") for c in alloc["b"]) == 2  # only 2 photos left: 2 filled from others


def test_splits_are_content_disjoint_and_sized():
    ids = [f"c{i}" for i in range(10)]
    split = split_contents(ids, {"pool": 0.8, "test": 0.2}, seed=1, dataset="x")
    assert sorted(split) == ids
    assert list(pd.Series(split).value_counts().sort_index()) == [8, 2]


def test_grid_chains_enumerate_all_non_empty_combinations():
    chains = grid_chains({"resize": [0, 1, 2], "h264": [1, 4]})
    assert len(chains) == 3 * 2
    assert [("h264", 4)] in chains and [("resize", 2), ("h264", 1)] in chains
    with pytest.raises(UserError, match="level 9 out of range"):
        grid_chains({"blur": [9]})
    with pytest.raises(UserError, match="not a distortion family"):
        grid_chains({"sepia": [1]})


def test_plan_dataset_rows():
    cat = toy_catalogue()
    spec = {"recipe": {"type": "grid", "axes": {"resize": [0, 1, 2], "h264": [1, 2]}}, "versions": 4,
            "include_pristine": True, "splits": {"pool": 0.5, "test": 0.5}}  # fmt: skip
    plan = plan_dataset(cat, "t", {"t": {"render": 4}}, spec, seed=5, shards=3)
    assert len(plan) == 4 * 4 and plan.video_id.is_unique
    assert (plan.groupby("content_id").split.nunique() == 1).all()
    assert (plan.groupby("content_id").chain.nunique() == 4).all()  # versions of a content are distinct
    assert (plan.chain == "pristine").sum() == 4
    for chain in plan.chain:
        distortions.parse_chain(chain)
    assert set(plan.shard) <= {0, 1, 2}
    assert plan.equals(plan_dataset(cat, "t", {"t": {"render": 4}}, spec, seed=5, shards=3))


def test_plan_refuses_more_versions_than_the_grid_has():
    spec = {"recipe": {"type": "grid", "axes": {"blur": [1, 2]}}, "versions": 5, "splits": {"test": 1.0}}
    with pytest.raises(UserError, match="grid has 2 distinct chains but 5 versions"):
        plan_dataset(toy_catalogue(), "t", {"t": {"photo": 2}}, spec, seed=1, shards=1)
