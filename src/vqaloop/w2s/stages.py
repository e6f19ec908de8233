"""``vqaloop w2s-mine``: the training pairs of an iterative stage (W2S-VQA Sec. 4.2, Fig. 6, Eq. 1).

Given the stage-i student and the stage's share D^(i+1) of the shaped pool:
(a) **misclassified synthetic pairs**: every ordered level pair of the synthetic ladders, labelled by the level
    gap; kept when the student's predicted level (argmax of its five logits) differs from the label;
(b) **gMAD pairs** (Ma et al. 2018, reusing ``vqaloop.evaluation.gmad.level_sets``): for each weak teacher j,
    the pool is partitioned into ``levels`` (xi) uniform levels of j's scores (videos j sees as equal; level sets
    with delta = half the level width, so they cover the pool, as Sec. 4.2 says); within each, the pairs the
    student separates most (Eq. 1); and the reverse roles (levels of the student, pairs the teacher separates
    most). Decided: ``per_level`` pairs per level set (the i-th highest with the i-th lowest,
    disjoint), so a stage gets the configured count instead of one pair per level.
The mined pairs are labelled like stage-1 ensemble pairs (five levels from mean and spread), with the stage-i
student **recycled as one more teacher** (Sec. 4.2: "promoted to act as a new teacher"): the ensemble is the
weak teachers plus the student mapped to the MOS scale by a logistic fitted on the source training set.
Nothing reads the pool's hidden MOS.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.evaluation.gmad import level_sets
from vqaloop.evaluation.metrics import apply_logistic4, fit_logistic4
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.manifest import read_manifest
from vqaloop.io.readers import read_ids
from vqaloop.w2s.data import SHAPED, labelled_split, pool_ids, stage_split
from vqaloop.w2s.pairs import PAIR_COLUMNS, all_synthetic_pairs, ensemble_statistics, label_pairs
from vqaloop.w2s.scoring import pair_logits, read_anchors, score_ids
from vqaloop.w2s.teachers import read_teacher

log = logging.getLogger(__name__)


def partition_delta(scores: np.ndarray, levels: int) -> float:
    """Half a level's width (a hair more, so rounding keeps the range's ends in): level sets that cover the pool."""
    d = np.asarray(scores, dtype=float)
    return (float(d.max()) - float(d.min())) / levels / 2 * (1 + 1e-9)


def most_differentiated_pairs(attacker: np.ndarray, defender: np.ndarray, levels: int, per_level: int):
    """(high, low, gap) index arrays: within each defender level, the attacker's most separated pairs.

    The levels *partition* the defender's range ("partition the video pool into xi uniform quality levels",
    W2S Sec. 4.2): gMAD level sets with delta = half the level width, so every video is in a level.
    """
    sets, _ = level_sets(defender, levels, delta=partition_delta(defender, levels))
    high, low = [], []
    for _k, _centre, idx in sets:
        if len(idx) < 2:
            continue
        ranked = idx[np.argsort(-attacker[idx], kind="stable")]
        for r in range(min(per_level, len(ranked) // 2)):
            high.append(int(ranked[r]))
            low.append(int(ranked[-1 - r]))
    high, low = np.asarray(high, dtype=int), np.asarray(low, dtype=int)
    return high, low, attacker[high] - attacker[low] if len(high) else np.zeros(0)


def gmad_pairs_between(student: np.ndarray, teachers: np.ndarray, levels: int, count: int) -> tuple[np.ndarray, ...]:
    """Index pairs (low, high) from both roles against every teacher, the most separated first, ``count`` at most."""
    n_teachers = teachers.shape[1]
    per_level = max(1, math.ceil(count / (2 * n_teachers * levels)))
    lows, highs, gaps = [], [], []
    for j in range(n_teachers):
        for attacker, defender in ((student, teachers[:, j]), (teachers[:, j], student)):
            high, low, gap = most_differentiated_pairs(attacker, defender, levels, per_level)
            scale = np.ptp(attacker) or 1.0
            highs.append(high), lows.append(low), gaps.append(gap / scale)
    low, high, gap = np.concatenate(lows), np.concatenate(highs), np.concatenate(gaps)
    key = np.minimum(low, high) * (len(student) + 1) + np.maximum(low, high)
    _, first = np.unique(key, return_index=True)  # one pair per unordered video pair
    keep = first[np.argsort(-gap[first], kind="stable")][:count]
    return low[keep], high[keep]


def misclassified_synthetic(model, bank_x, bank_rows, candidates: pd.DataFrame, count: int,
                            rng: np.random.Generator) -> pd.DataFrame:  # fmt: skip
    """Synthetic pairs whose label the student gets wrong (argmax level != label), ``count`` at most."""
    from vqaloop.features.inputs import take_rows

    a = take_rows(bank_x, bank_rows(list(candidates["first"])))  # read a batch at a time by pair_logits
    b = take_rows(bank_x, bank_rows(list(candidates["second"])))
    predicted = pair_logits(model, a, b).argmax(axis=1)
    wrong = candidates[predicted != candidates.label.to_numpy()]
    log.info("synthetic pairs: %d of %d misclassified by the student", len(wrong), len(candidates))
    if len(wrong) > count:
        wrong = wrong.iloc[np.sort(rng.choice(len(wrong), size=count, replace=False))]
    return wrong


def teacher_scores(path: Path, ids: list[str]) -> np.ndarray:
    """A teacher's MOS-scale scores of ``ids``; one line naming the file when it lacks one."""
    table, _ = read_teacher(path)
    missing = [v for v in ids if v not in table.index]
    if missing:
        raise UserError(f"{path}: no score for {len(missing)} stage video(s), e.g. {missing[0]!r}")
    return table.loc[ids, "mos"].to_numpy(dtype=float)


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, output_file, positive_float, positive_int, seed, threads

    parser.add_argument("--student", required=True, type=Path, help="the previous stage's student checkpoint")
    parser.add_argument("--stage", required=True, type=int, choices=[2, 3])
    parser.add_argument("--teachers", nargs="+", required=True, type=Path, help="weak teachers' score files")
    parser.add_argument("--pool", required=True, type=Path, help="the unlabelled pool manifest")
    parser.add_argument("--shaped", required=True, type=Path, help="shaping picks (video_id)")
    parser.add_argument("--ladder", required=True, type=Path, help="the synthetic ladder manifest")
    parser.add_argument("--source-manifest", required=True, type=Path)
    parser.add_argument("--anchors", required=True, type=Path)
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--gmad-count", required=True, type=positive_int)
    parser.add_argument("--synthetic-count", required=True, type=positive_int)
    parser.add_argument("--levels", type=int_in(1, 1000), default=5, help="xi: level sets per teacher (W2S Eq. 1)")
    parser.add_argument("--stage-sizes", nargs=3, required=True, type=positive_int, metavar="N",
                        help="videos of D(1), D(2), D(3); they sum to the shaped pool's size")  # fmt: skip
    parser.add_argument("--split-seed", type=seed, default=0)
    parser.add_argument("--temperature", type=positive_float, default=5.0)
    parser.add_argument("--link", choices=["normal", "sigmoid"], default="normal")
    parser.add_argument("--solver", choices=["newton", "lbfgs", "adam"], default="newton")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--threads", type=threads, default=1)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads
    from vqaloop.w2s.data import load_bank
    from vqaloop.w2s.students import load_student

    set_compute_threads(args.threads)
    rng = np.random.default_rng([args.seed, 13, args.stage])
    student = load_student(args.student)
    pool = read_manifest(args.pool)
    pool_set = set(pool_ids(args.pool))
    ids = stage_split(
        read_ids(args.shaped, SHAPED, empty_ok=True), args.stage_sizes, seed=args.split_seed, what=str(args.shaped)
    )[args.stage - 1]
    if not set(ids) <= pool_set:
        raise UserError(f"{args.shaped}: picks that are not in {args.pool}")
    train = labelled_split(args.source_manifest, "train")
    anchors = read_anchors(args.anchors)
    pool_name, source_name = str(pool.dataset.iloc[0]), str(train.dataset.iloc[0])
    if pool_name == source_name:
        raise UserError(f"{args.pool} and {args.source_manifest} are both dataset {pool_name!r}: the pool is another")
    inference = {"temperature": args.temperature, "link": args.link, "solver": args.solver}
    scores = score_ids(student, anchors, {pool_name: ids, source_name: list(train.video_id)}, args.features_root,
                       **inference)  # fmt: skip
    fit = fit_logistic4(scores.loc[list(train.video_id)].to_numpy(), train.mos.to_numpy(dtype=float))
    student_mos = apply_logistic4(fit, scores.loc[ids].to_numpy())
    teacher_mos = np.stack([teacher_scores(p, ids) for p in args.teachers], axis=1)
    low, high = gmad_pairs_between(student_mos, teacher_mos, args.levels, args.gmad_count)
    mean, var = ensemble_statistics(np.concatenate([teacher_mos, student_mos[:, None]], axis=1))
    ids_arr = np.asarray(ids)
    gmad = pd.DataFrame({"first": ids_arr[low], "second": ids_arr[high], "label": label_pairs(mean, var, low, high),
                         "kind": "gmad"})  # fmt: skip
    ladder = read_manifest(args.ladder)
    candidates = all_synthetic_pairs(ladder)
    bank = load_bank(args.features_root, student.encoders, {str(ladder.dataset.iloc[0]): list(ladder.video_id)})
    wrong = misclassified_synthetic(student.build(), bank.x, bank.rows, candidates, args.synthetic_count, rng)
    pairs = pd.concat([gmad, wrong.assign(kind="synthetic")[PAIR_COLUMNS]], ignore_index=True)
    write_csv_atomic(pairs[PAIR_COLUMNS], args.out)
    log.info("stage %d pairs: %d gMAD (from %d pool videos, %d teachers + the student), %d misclassified synthetic",
             args.stage, len(gmad), len(ids), teacher_mos.shape[1], len(wrong))  # fmt: skip
    return 0
