"""``vqaloop select`` end to end: output format, ranks, and one-line errors that leave no OUT.csv."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vqaloop.selection.registry import SelectionInputs, run_method

SRC = Path(__file__).resolve().parents[1] / "src"
N, F, D = 20, 3, 8


def vqaloop(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "vqaloop", "select", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def write_pool(folder: Path, ids=None, frames=None, pooled=None, difficulty_rows=None):
    """FEATS.npz and DIFF.csv for a pool of N videos; any part may be replaced to make it wrong."""
    rng = np.random.default_rng(0)
    ids = [f"v{i:02d}" for i in range(N)] if ids is None else ids
    frames = rng.normal(size=(N, F, D)).astype(np.float32) if frames is None else frames
    arrays = {"ids": np.array(ids), "frames": frames}
    if pooled is not None:
        arrays["pooled"] = pooled
    np.savez(folder / "feats.npz", **arrays)
    if difficulty_rows is None:
        difficulty_rows = [(i, f"{v:.6f}") for i, v in zip(ids, rng.normal(size=len(ids)), strict=True)]
        difficulty_rows = difficulty_rows[::-1]  # any order
    lines = ["video_id,difficulty"] + [f"{i},{v}" for i, v in difficulty_rows]
    (folder / "diff.csv").write_text("\n".join(lines) + "\n")
    return folder / "feats.npz", folder / "diff.csv"


def select_args(feats, diff, out, budget="5", lam="0.25", method="mds", seed="0"):
    args = ["--method", method, "--features", str(feats), "--budget", budget, "--lambda", lam]
    args += ["--seed", seed, "--out", str(out)]
    return args + (["--difficulty", str(diff)] if diff is not None else [])


def test_mds_output_is_ids_and_ranks_in_pick_order(tmp_path):
    feats, diff = write_pool(tmp_path)
    out = tmp_path / "out" / "sel.csv"
    out.parent.mkdir()
    result = vqaloop(*select_args(feats, diff, out, budget="5"))
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines()[0] == "video_id,rank"
    table = pd.read_csv(out, dtype={"video_id": str})
    assert list(table.columns) == ["video_id", "rank"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    data = np.load(feats)
    difficulty = pd.read_csv(diff, dtype={"video_id": str}).set_index("video_id")["difficulty"]
    ids = data["ids"].tolist()
    inputs = SelectionInputs(ids=ids, frames=data["frames"], difficulty=difficulty.loc[ids].to_numpy())
    expected = [ids[i] for i in run_method("mds", inputs, 5, 0, lam=0.25)]
    assert table["video_id"].tolist() == expected
    assert expected[0] == difficulty.idxmax()  # first pick = the hardest video
    assert not [p for p in out.parent.iterdir() if p.name != "sel.csv"]  # no temporary left behind


@pytest.mark.parametrize(("budget", "count"), [("0.25", 5), ("0.01", 1), ("0.5", 10), ("19", 19)])
def test_budget_fraction_or_count_with_random(tmp_path, budget, count):
    feats, _ = write_pool(tmp_path)
    out = tmp_path / "sel.csv"
    result = vqaloop(*select_args(feats, None, out, budget=budget, method="random", seed="3"))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert table["rank"].tolist() == list(range(1, count + 1))
    assert table["video_id"].is_unique
    expected = run_method("random", SelectionInputs(ids=[f"v{i:02d}" for i in range(N)]), count, 3)
    assert table["video_id"].tolist() == [f"v{i:02d}" for i in expected]


def test_help_lists_methods_and_their_inputs():
    result = vqaloop("--help")
    assert result.returncode == 0
    assert "mds (needs: difficulty, frames)" in result.stdout
    assert "random (needs: nothing but ids)" in result.stdout
    assert "mds_diversity_only (needs: frames)" in result.stdout


def bad_frames_2d(folder):
    return write_pool(folder, frames=np.zeros((N, D), dtype=np.float32))


BAD_INPUTS = {
    # name: (pool writer, select_args overrides, words the error line must contain)
    "budget zero": (write_pool, {"budget": "0"}, "--budget"),
    "budget negative": (write_pool, {"budget": "-3"}, "--budget"),
    "budget > pool": (write_pool, {"budget": "25"}, "pool has only 20"),
    "budget = pool + 1": (write_pool, {"budget": "21"}, "asks for 21 videos, but the pool has only 20"),
    "fraction >= 1": (write_pool, {"budget": "1.5"}, "fraction"),
    "budget not a number": (write_pool, {"budget": "lots"}, "neither a count nor a fraction"),
    "lambda negative": (write_pool, {"lam": "-0.1"}, "--lambda"),
    "lambda not a number": (write_pool, {"lam": "big"}, "--lambda"),
    "unknown method": (write_pool, {"method": "oracle"}, "argument --method: invalid choice: 'oracle'"),
    "mds without difficulty": (write_pool, {"diff": None}, "needs difficulty"),
    "nan difficulty": (
        lambda f: write_pool(f, difficulty_rows=[(f"v{i:02d}", "nan" if i == 7 else "1.0") for i in range(N)]),
        {},
        "line 9 (video_id 'v07')",
    ),
    "non-numeric difficulty": (
        lambda f: write_pool(f, difficulty_rows=[(f"v{i:02d}", "hard" if i == 2 else "1") for i in range(N)]),
        {},
        "'hard' is not a finite number",
    ),
    "ids missing from difficulty": (
        lambda f: write_pool(f, difficulty_rows=[(f"v{i:02d}", "1") for i in range(N - 1)] + [("zz", "2")]),
        {},
        "only in",
    ),
    "ids duplicated in features": (
        lambda f: write_pool(f, ids=[f"v{i:02d}" for i in range(N - 1)] + ["v00"]),
        {},
        "duplicated: 'v00'",
    ),
    "ids duplicated in difficulty": (
        lambda f: write_pool(f, difficulty_rows=[(f"v{i:02d}", "1") for i in range(N)] + [("v03", "2")]),
        {},
        "duplicated: 'v03'",
    ),
    "frames 2-D": (bad_frames_2d, {}, "'frames' must be (N, F, D)"),
    "frames rows != ids": (
        lambda f: write_pool(f, frames=np.zeros((N + 1, F, D), dtype=np.float32)),
        {},
        "'frames' must be (N, F, D)",
    ),
    "pooled rows != ids": (
        lambda f: write_pool(f, pooled=np.zeros((N - 1, D), dtype=np.float32)),
        {},
        "'pooled' must be (N, D)",
    ),
    "nan in frames": (
        lambda f: write_pool(f, frames=np.where(np.arange(N)[:, None, None] == 4, np.nan, 1.0)),
        {},
        "'v04'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, case):
    writer, overrides, words = BAD_INPUTS[case]
    feats, diff = writer(tmp_path)
    out = tmp_path / "sel.csv"
    kwargs = {"diff": diff, **overrides}
    result = vqaloop(*select_args(feats, kwargs.pop("diff"), out, **kwargs))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vqaloop: error: ")
    assert words in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diff.csv", "feats.npz"]


def test_missing_features_file_names_it(tmp_path):
    out = tmp_path / "sel.csv"
    result = vqaloop(*select_args(tmp_path / "absent.npz", None, out, method="random"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"vqaloop: error: {tmp_path / 'absent.npz'}: features file not found"
    assert not out.exists()


@pytest.mark.parametrize("budget", ["20", "0.99"])  # a count equal to the pool, a fraction that rounds to it
def test_a_whole_pool_budget_selects_every_video(tmp_path, budget):
    feats, diff = write_pool(tmp_path)
    out = tmp_path / "sel.csv"
    result = vqaloop(*select_args(feats, diff, out, budget=budget))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out, dtype={"video_id": str})
    assert sorted(table.video_id) == [f"v{i:02d}" for i in range(N)] and table["rank"].tolist() == list(range(1, N + 1))


@pytest.mark.parametrize(
    "method", ["random", "mds", "mds_diversity_only", "coreset", "rd", "greedy", "alcs", "freesel"]
)
def test_every_feature_method_takes_the_whole_pool(method):
    rng = np.random.default_rng(1)
    inputs = SelectionInputs(ids=[f"v{i}" for i in range(N)], frames=rng.normal(size=(N, F, D)).astype(np.float32),
                             difficulty=rng.normal(size=N))  # fmt: skip
    picks = run_method(method, inputs, N, 0)
    assert sorted(picks) == list(range(N))


def test_random_needs_nothing_but_ids(tmp_path):
    """random (needs: nothing but ids, per --help) runs on an .npz holding ids alone, with or without --pool."""
    ids = [f"v{i:02d}" for i in range(N)]
    np.savez(tmp_path / "ids.npz", ids=np.array(ids))
    out = tmp_path / "sel.csv"
    result = vqaloop("--method", "random", "--features", str(tmp_path / "ids.npz"), "--budget", "4", "--seed", "3",
                     "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = run_method("random", SelectionInputs(ids=ids), 4, 3)
    assert pd.read_csv(out, dtype={"video_id": str}).video_id.tolist() == [ids[i] for i in expected]
    manifest = write_manifest(tmp_path, ids[5:], ids[:5])
    result = vqaloop("--method", "random", "--features", str(tmp_path / "ids.npz"), "--pool", str(manifest),
                     "--budget", "15", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(pd.read_csv(out, dtype={"video_id": str}).video_id) == ids[5:]
    result = vqaloop("--method", "coreset", "--features", str(tmp_path / "ids.npz"), "--budget", "4", "--out",
                     str(tmp_path / "c.csv"))  # fmt: skip
    assert result.returncode == 2 and "no 'frames' array" in result.stderr and not (tmp_path / "c.csv").exists()


def write_manifest(folder: Path, pool_ids: list[str], other_ids: list[str]) -> Path:
    rows = [{"video_id": v, "path": f"{v}.mp4", "mos": None, "split": "pool", "dataset": "t", "content_id": v}
            for v in pool_ids]  # fmt: skip
    rows += [{"video_id": v, "path": f"{v}.mp4", "mos": 3.0, "split": "test", "dataset": "t", "content_id": v}
             for v in other_ids]  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def test_pool_manifest_restricts_the_candidates(tmp_path):
    """Features files cover every split; --pool keeps only the manifest's pool rows (difficulty for those only)."""
    ids = [f"v{i:02d}" for i in range(N)]
    pool, test = ids[5:], ids[:5]
    feats, _ = write_pool(tmp_path)
    diff = tmp_path / "pool_diff.csv"
    diff.write_text("video_id,difficulty\n" + "".join(f"{v},{i}\n" for i, v in enumerate(pool)))
    manifest = write_manifest(tmp_path, pool, test)
    out = tmp_path / "sel.csv"
    result = vqaloop(*select_args(feats, diff, out, budget="4", lam="0"), "--pool", str(manifest))
    assert result.returncode == 0, result.stderr
    picked = pd.read_csv(out, dtype={"video_id": str}).video_id.tolist()
    assert picked == pool[::-1][:4]  # lambda 0: the four most difficult pool videos, none from the test split
    missing = write_manifest(tmp_path, [*pool, "ghost"], test)
    result = vqaloop(*select_args(feats, diff, tmp_path / "x.csv", budget="4"), "--pool", str(missing))
    assert result.returncode == 2 and "no features for 1 video(s)" in result.stderr and "ghost" in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_coreset_starts_from_the_labelled_set(tmp_path):
    """With L given, core-set's first pick is the pool video farthest from L (computed here independently)."""
    rng = np.random.default_rng(3)
    pool_ids, train_ids = [f"p{i}" for i in range(12)], [f"t{i}" for i in range(6)]
    frames = rng.normal(size=(18, 2, 4)).astype(np.float32)
    np.savez(tmp_path / "feats.npz", ids=np.array(pool_ids + train_ids), frames=frames)
    rows = [
        {"video_id": v, "path": "x", "mos": None, "split": "pool", "dataset": "t", "content_id": v} for v in pool_ids
    ]
    rows += [
        {"video_id": v, "path": "x", "mos": 3.0, "split": "train", "dataset": "t", "content_id": v} for v in train_ids
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "sel.csv"
    result = vqaloop("--method", "coreset", "--features", str(tmp_path / "feats.npz"), "--pool", str(tmp_path / "m.csv"),
                     "--labelled", str(tmp_path / "feats.npz"), "--labelled-manifest", str(tmp_path / "m.csv"),
                     "--budget", "3", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    emb = frames.mean(axis=1)
    dist_to_l = np.linalg.norm(emb[:12, None] - emb[None, 12:], axis=2).min(axis=1)
    assert pd.read_csv(out).video_id.iloc[0] == pool_ids[int(np.argmax(dist_to_l))]
    half = vqaloop("--method", "coreset", "--features", str(tmp_path / "feats.npz"), "--labelled",
                   str(tmp_path / "feats.npz"), "--budget", "3", "--out", str(tmp_path / "x.csv"))  # fmt: skip
    assert half.returncode == 2 and "--labelled and --labelled-manifest go together" in half.stderr
