"""``vqaloop select --chamfer paper|authors``: Eq. 7 and the MDS-VQA authors' Euclidean / 2 Chamfer distance, each
against a brute-force greedy written here (float64, frame by frame); lambda 0 without frame features."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch

from vqaloop.cli import run_command
from vqaloop.features.io import write_npz_deterministic
from vqaloop.selection.chamfer import chamfer_matrix
from vqaloop.selection.mds import mds_greedy, top_by_difficulty

torch.set_num_threads(1)


def chamfer_paper(x: np.ndarray, y: np.ndarray) -> float:
    """MDS-VQA Eq. 7: squared distances, the two directed means summed."""
    x_to_y = np.mean([min(float(np.sum((u - v) ** 2)) for v in y) for u in x])
    y_to_x = np.mean([min(float(np.sum((v - u) ** 2)) for u in x) for v in y])
    return float(x_to_y + y_to_x)


def chamfer_authors(x: np.ndarray, y: np.ndarray) -> float:
    """The authors' get_pairwise_distance: Euclidean distances, the two directed means averaged."""
    x_to_y = np.mean([min(math.sqrt(float(np.sum((u - v) ** 2))) for v in y) for u in x])
    y_to_x = np.mean([min(math.sqrt(float(np.sum((v - u) ** 2))) for u in x) for v in y])
    return float((x_to_y + y_to_x) / 2.0)


def brute_greedy(frames, g, budget, lam, distance, normalise):
    """Eq. 9 literally, in float64: every candidate's score at every step; ties to the lowest index. Also the
    smallest margin between the winner and the runner-up (near-ties could flip in float32)."""
    frames = np.asarray(frames, dtype=np.float64)
    if normalise:
        frames = frames / np.linalg.norm(frames, axis=-1, keepdims=True)
    n = len(frames)
    dist = {(i, j): distance(frames[i], frames[j]) for i, j in itertools.product(range(n), repeat=2)}
    picked, margin = [], math.inf
    for _ in range(budget):
        scores = {x: g[x] + (lam * sum(dist[x, y] for y in picked) / len(picked) if picked else 0.0)
                  for x in range(n) if x not in picked}  # fmt: skip
        best = max(scores.values())
        winner = min(x for x, s in scores.items() if s == best)
        others = [s for x, s in scores.items() if x != winner]
        if others:
            margin = min(margin, best - max(others))
        picked.append(winner)
    return picked, margin


def select_cli(tmp_path, frames, g, budget, lam, chamfer, normalise=True, name="a"):
    """Picks of ``vqaloop select --method mds`` run in this process (the command's own parser and code)."""
    ids = [f"v{i:02d}" for i in range(len(g))]
    feats, diff, out = tmp_path / f"{name}.npz", tmp_path / f"{name}_g.csv", tmp_path / f"{name}_out.csv"
    arrays = {"ids": np.array(ids)}
    if frames is not None:
        arrays["frames"] = np.asarray(frames, dtype=np.float32)
    write_npz_deterministic(feats, arrays)
    pd.DataFrame({"video_id": ids, "difficulty": g}).to_csv(diff, index=False)
    argv = ["--method", "mds", "--features", str(feats), "--difficulty", str(diff), "--budget", str(budget),
            "--lambda", str(lam), "--chamfer", chamfer, "--out", str(out)] + ([] if normalise else ["--no-normalise"])  # fmt: skip
    assert run_command("select", argv) == 0
    return [ids.index(v) for v in pd.read_csv(out).video_id]


@pytest.mark.parametrize("chamfer", ["paper", "authors"])
@pytest.mark.parametrize("normalise", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_select_matches_the_brute_force_greedy(tmp_path, chamfer, normalise, seed):
    rng = np.random.default_rng(seed)
    n, f, d = 14, 3, 5
    frames, g = rng.normal(size=(n, f, d)), rng.normal(scale=0.3, size=n)
    lam, budget = [0.25, 1.0, 3.0, 0.6][seed], 8
    distance = chamfer_paper if chamfer == "paper" else chamfer_authors
    expected, margin = brute_greedy(frames, g, budget, lam, distance, normalise)
    assert margin > 1e-4  # no near-tie that float32 could decide the other way
    assert select_cli(tmp_path, frames, g, budget, lam, chamfer, normalise) == expected


def test_the_two_distances_pick_differently_on_a_pool_built_for_it(tmp_path):
    """Video 0 is picked first (highest g). Against it, video 1 (both frames at distance 1) scores 2 (Eq. 7) or 1
    (authors); video 2 (frames at 0 and 2.2) scores 2.42 (Eq. 7: 4.84 / 2 + 0) or 0.55 (authors: 2.2 / 2 / 2):
    Eq. 7 rewards one far frame, the authors' mean of distances two moderately far ones."""
    frames = np.array([[[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [2.2, 0.0]]])
    g = np.array([1.0, 0.0, 0.0])
    assert chamfer_paper(frames[1], frames[0]) == pytest.approx(2.0)
    assert chamfer_paper(frames[2], frames[0]) == pytest.approx(2.42)
    assert chamfer_authors(frames[1], frames[0]) == pytest.approx(1.0)
    assert chamfer_authors(frames[2], frames[0]) == pytest.approx(0.55)
    paper = select_cli(tmp_path, frames, g, 2, 1.0, "paper", normalise=False, name="p")
    authors = select_cli(tmp_path, frames, g, 2, 1.0, "authors", normalise=False, name="q")
    assert paper == [0, 2] and authors == [0, 1]
    assert paper == brute_greedy(frames, g, 2, 1.0, chamfer_paper, False)[0]
    assert authors == brute_greedy(frames, g, 2, 1.0, chamfer_authors, False)[0]


def test_chamfer_matrix_kinds_against_brute_force():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(4, 3, 6)), rng.normal(size=(5, 2, 6))
    for kind, distance in (("paper", chamfer_paper), ("authors", chamfer_authors)):
        expected = np.array([[distance(x, y) for y in b] for x in a])
        got = chamfer_matrix(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32), kind=kind)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown Chamfer distance 'squared'"):
        chamfer_matrix(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), kind="squared")


def test_lambda_zero_reads_no_frames_and_picks_the_top_difficulty(tmp_path):
    """Eq. 9 with lambda 0: the top g, ties to the lowest pool index; an ids-only features file is enough, and the
    picks equal the greedy's with frames (whichever Chamfer distance)."""
    g = np.array([2.0, 3.0, 2.0, 3.0, 1.0, 2.0, 4.8])
    frames = np.random.default_rng(1).normal(size=(7, 2, 3))
    expected = [6, 1, 3, 0, 2]
    assert top_by_difficulty(g, 5) == expected
    assert mds_greedy(torch.tensor(frames, dtype=torch.float32), g, 5, 0.0) == expected
    assert select_cli(tmp_path, None, g, 5, 0.0, "paper", name="ids") == expected
    assert select_cli(tmp_path, frames, g, 5, 0.0, "authors", name="frames") == expected


def test_lambda_above_zero_without_frames_is_one_line(tmp_path, capsys):
    from vqaloop.cli import main

    ids = [f"v{i}" for i in range(4)]
    write_npz_deterministic(tmp_path / "ids.npz", {"ids": np.array(ids)})
    pd.DataFrame({"video_id": ids, "difficulty": [1.0, 2.0, 3.0, 4.0]}).to_csv(tmp_path / "g.csv", index=False)
    code = main(["select", "--method", "mds", "--features", str(tmp_path / "ids.npz"), "--difficulty",
                 str(tmp_path / "g.csv"), "--budget", "2", "--lambda", "0.25", "--out", str(tmp_path / "o.csv")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("vqaloop: error: ")
    assert "frames" in err[0] and not (tmp_path / "o.csv").exists()
