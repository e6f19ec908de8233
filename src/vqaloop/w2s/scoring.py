"""Single-video scores from a pairwise student by soft comparison against anchors (W2S-VQA Appendix C.3).

For anchors b_1..b_n (n = 5) and a test video v: the student compares (first = anchor, second = v) and its
five level logits give P(v better than b_k) (Eqs. 28-30, temperature 5 as in the authors' code); the anchors
compared with one another give M_r (Eqs. 31-32); each test video gets its (n+1) x (n+1) matrix (Eq. 34) and
its score is its MAP value q under the chosen link (Eq. 35), solved for all test videos at once
(``vqaloop.evaluation.thurstone.map_scores_batched``).

A pointwise student (W2S Sec. 3, ``vqaloop.w2s.pointwise``) rates each video alone: its score is the expected
rating, with no anchors and no matrix.

``vqaloop score --model STUDENT --anchors ANCHORS.csv VIDEO...`` (or ``--manifest``) prints or writes one score
per video (a pointwise student without ``--anchors``); ``--matrix-out`` keeps each video's matrix. Anchor and
video features are computed on the fly with the student's encoders, or read from ``--features-root`` (the
workflow). A VLM ``--model`` (a Qwen2.5-VL folder or a visualquality_r1 checkpoint) is scored without anchors,
deterministically (``vqaloop.models.score_vlm.run_score``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vqaloop.errors import UserError
from vqaloop.features.inputs import paired_rows, take_rows
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.manifest import SPLITS, read_split
from vqaloop.io.paths import check_name, check_relative_path
from vqaloop.io.readers import numeric_column
from vqaloop.models.score_vlm import add_score_arguments, vlm_model_kind
from vqaloop.models.score_vlm import run_score as run_vlm_score
from vqaloop.w2s.data import VideoBank
from vqaloop.w2s.soft_comparison import (
    DEFAULT_TEMPERATURE,
    SOLVERS,
    anchor_matrix,
    preference,
    scores_from_preferences,
    test_matrices,
)

log = logging.getLogger(__name__)
ANCHOR_COLUMNS = ["video_id", "dataset", "path", "mos"]


@torch.no_grad()
def pair_logits(model: torch.nn.Module, x_first: torch.Tensor, x_second: torch.Tensor, batch: int = 512) -> np.ndarray:
    """(P, 5) level logits of the student on paired inputs, in batches."""
    model.eval()
    out = [model(x_first[i : i + batch], x_second[i : i + batch]) for i in range(0, len(x_first), batch)]
    return torch.cat(out).double().numpy() if out else np.zeros((0, 5))


def anchor_preferences(model, anchors: torch.Tensor, temperature: float) -> np.ndarray:
    """(n, n) P(anchor j better than anchor i | first = i) for every ordered pair (diagonal 0.5)."""
    n = len(anchors)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    logits = pair_logits(model, anchors[i.ravel()], anchors[j.ravel()])
    return preference(logits, temperature).reshape(n, n)


def soft_comparison_scores(model, anchors: torch.Tensor, videos: torch.Tensor, *, temperature: float = DEFAULT_TEMPERATURE,
                           link: str = "normal", solver: str = "newton") -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Scores (N,) of ``videos`` against ``anchors`` (n, F, D) and the (N, n+1, n+1) matrices they came from.

    ``solver``: ``newton`` (the exact MAP of every video at once, gradient below 1e-10), ``lbfgs`` (exact, one
    video at a time) or ``adam`` (the authors' recipe: 50 Adam steps; with ``link="sigmoid"`` their setting).
    """
    n = len(anchors)
    if n < 2:
        raise UserError(f"soft comparison needs at least 2 anchors, got {n}")
    m_r = anchor_matrix(anchor_preferences(model, anchors, temperature))
    first, second = paired_rows(anchors, videos)  # anchors.repeat / videos.repeat_interleave, read a batch at a time
    p = preference(pair_logits(model, first, second), temperature).reshape(len(videos), n)
    return scores_from_preferences(m_r, p, link=link, solver=solver), test_matrices(m_r, p)


def read_anchors(path: str | Path) -> pd.DataFrame:
    """Anchors CSV: video_id, dataset, path, mos; at least two anchors, every MOS a number."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: anchors file not found")
    try:
        table = pd.read_csv(path, dtype={"video_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable anchors CSV ({type(err).__name__})") from None
    missing = [c for c in ANCHOR_COLUMNS if c not in table.columns]
    if missing:
        raise UserError(f"{path}: anchors file lacks column(s) {missing}")
    if len(table) < 2:
        raise UserError(f"{path}: soft comparison needs at least 2 anchors, the file has {len(table)}")
    mos = pd.to_numeric(table.mos, errors="coerce")
    if mos.isna().any():
        i = int(np.flatnonzero(mos.isna().to_numpy())[0])
        raise UserError(f"{path}: row {i + 2}: anchor {table.video_id.iloc[i]!r} has no MOS")
    numeric_column(table, "mos", path)
    dup = table.video_id.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise UserError(f"{path}: row {i + 2}: anchor {table.video_id.iloc[i]!r} is listed twice")
    for i, (dataset, video) in enumerate(zip(table.dataset, table.path, strict=True)):
        check_name(dataset, f"{path}: row {i + 2}: dataset")
        check_relative_path(video, f"{path}: row {i + 2}")
    return table


def bank_of(features_root: Path, encoders, groups: dict[str, list[str]]) -> VideoBank:
    from vqaloop.w2s.data import load_bank

    return load_bank(features_root, tuple(encoders), groups)


def with_anchors(anchors: pd.DataFrame, groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """The id groups (dataset -> ids) plus the anchors, without repeating an id."""
    out = {ds: list(ids) for ds, ids in groups.items()}
    for vid, ds in zip(anchors.video_id, anchors.dataset, strict=True):
        if vid not in out.setdefault(str(ds), []):
            out[str(ds)].append(vid)
    return out


def score_ids(student, anchors: pd.DataFrame | None, groups: dict[str, list[str]], features_root: Path,
              **inference) -> pd.Series:  # fmt: skip
    """Soft-comparison scores of every id in ``groups`` (dataset -> ids), from the features files; a pointwise
    student's expected ratings (``anchors`` None)."""
    from vqaloop.w2s.pointwise import pointwise_scores
    from vqaloop.w2s.students import is_pointwise

    ids = [v for vs in groups.values() for v in vs]
    if is_pointwise(student):
        bank = bank_of(features_root, student.encoders, groups)
        return pd.Series(pointwise_scores(student.build(), bank.x, bank.rows(ids)), index=ids)
    if anchors is None:
        raise UserError("a pairwise student scores by soft comparison: --anchors is required")
    bank = bank_of(features_root, student.encoders, with_anchors(anchors, groups))
    scores, _ = soft_comparison_scores(student.build(), bank.x[bank.rows(list(anchors.video_id))],
                                       take_rows(bank.x, bank.rows(ids)), **inference)  # fmt: skip
    return pd.Series(scores, index=ids)


def computed_features(paths: list[Path], encoders, frames: int, batch: int = 64) -> torch.Tensor:
    """Model inputs (N, F, D) for video files, computed with the student's encoders (no features files)."""
    from vqaloop.features.extract import extract
    from vqaloop.features.registry import get_encoder

    table = pd.DataFrame({"video_id": [str(p) for p in paths], "path": [str(Path(p).resolve()) for p in paths]})
    parts = [extract(table, Path("/"), get_encoder(e), frames, batch, source="VIDEO")[0] for e in encoders]
    return torch.from_numpy(np.concatenate(parts, axis=2))


def add_arguments(parser):
    from vqaloop.cli_checks import MAX_FRAMES, int_in, output_file, positive_float, threads

    parser.add_argument("--model", required=True, type=Path, help="a W2S student checkpoint, or a VLM (see below)")
    parser.add_argument("--anchors", type=Path, help="CSV: video_id, dataset, path, mos (W2S students)")
    parser.add_argument("videos", nargs="*", type=Path, help="video files to score")
    parser.add_argument("--manifest", type=Path, help="score every row of a manifest instead of VIDEO files")
    parser.add_argument("--split", choices=SPLITS, help="with --manifest: only this split")
    parser.add_argument("--data-root", type=Path, default=Path("."), help="root of manifest and anchor paths")
    parser.add_argument("--features-root", type=Path, help="read features <root>/<dataset>/<encoder>.npz")
    parser.add_argument("--frames", type=int_in(1, MAX_FRAMES), default=8,
                        help="frames per video when features are computed (at most each clip's frame count)")  # fmt: skip
    parser.add_argument("--temperature", type=positive_float, default=DEFAULT_TEMPERATURE)
    parser.add_argument("--link", choices=["normal", "sigmoid"], default="normal")
    parser.add_argument("--solver", choices=SOLVERS, default="newton", help="adam = the authors' recipe")
    parser.add_argument("--matrix-out", type=output_file, help="CSV of each video's (n+1) x (n+1) matrix (long format)")
    parser.add_argument("--threads", type=threads, default=1)
    parser.add_argument("--out", type=output_file, help="CSV video_id,score (stdout without)")
    add_score_arguments(parser)  # a VLM --model: vqaloop.models.score_vlm (deterministic expected scores)


def run(args) -> int:
    from vqaloop.w2s.students import load_student

    kind = vlm_model_kind(args.model)
    if kind is not None:
        return run_vlm_score(args, kind)
    from vqaloop.dispatch import set_compute_threads
    from vqaloop.w2s.students import is_pointwise

    set_compute_threads(args.threads)
    student = load_student(args.model)
    pointwise = is_pointwise(student)
    if pointwise and (args.anchors is not None or args.matrix_out is not None):
        raise UserError(f"{args.model}: a pointwise student rates each video alone: no --anchors, no --matrix-out")
    if not pointwise and args.anchors is None:
        raise UserError("--anchors is required to score with a W2S student (CSV: video_id, dataset, path, mos)")
    anchors = read_anchors(args.anchors) if not pointwise else pd.DataFrame(columns=ANCHOR_COLUMNS)
    if args.manifest is not None:
        rows = read_split(args.manifest, args.split)
        ids, datasets = list(rows.video_id), list(rows.dataset)
        paths = [args.data_root / p for p in rows.path]
    elif args.videos:
        ids, datasets, paths = [str(p) for p in args.videos], [None] * len(args.videos), list(args.videos)
    else:
        raise UserError("give VIDEO files or --manifest")
    if args.features_root is not None:
        if args.manifest is None:
            raise UserError("--features-root needs --manifest (features are looked up per dataset)")
        groups: dict[str, list[str]] = {}
        for vid, ds in zip(ids, datasets, strict=True):
            groups.setdefault(str(ds), []).append(vid)
        bank = bank_of(args.features_root, student.encoders, with_anchors(anchors, groups))
        x_anchor, x_video = bank.x[bank.rows(list(anchors.video_id))], take_rows(bank.x, bank.rows(ids))
    else:
        for p in paths:
            if not Path(p).is_file():
                raise UserError(f"{p}: video file not found")
        x_anchor = (
            None
            if pointwise
            else computed_features([args.data_root / p for p in anchors.path], student.encoders, args.frames)
        )
        x_video = computed_features(paths, student.encoders, args.frames)
    if pointwise:
        from vqaloop.w2s.pointwise import pointwise_scores

        scores, matrices = pointwise_scores(student.build(), x_video), None
    else:
        scores, matrices = soft_comparison_scores(student.build(), x_anchor, x_video, temperature=args.temperature,
                                                  link=args.link, solver=args.solver)  # fmt: skip
    table = pd.DataFrame({"video_id": ids, "score": np.round(scores, 6)})
    writes = []
    if args.matrix_out is not None:
        names = [*anchors.video_id, "test"]
        long = [{"video_id": vid, "row": names[i], "column": names[j], "p": round(float(m[i, j]), 6)}
                for vid, m in zip(ids, matrices, strict=True) for i in range(len(names)) for j in range(len(names))]  # fmt: skip
        writes.append((args.matrix_out, csv_writer(pd.DataFrame(long))))
    if args.out is not None:
        writes.append((args.out, csv_writer(table)))
    write_all_atomic(writes)  # both files or neither
    if args.out is None:
        table.to_csv(sys.stdout, index=False, lineterminator="\n")
    return 0
