"""``vqaloop control-mds``: MDS-VQA's positive control on one target dataset: a base model f whose errors are planted.

The oracle's labels are built from f's own predictions, so f's errors are exactly what is planted:

* **Cluster** (identifiable from the diversity features): each content's embedding is the mean of its videos' pooled
  diversity features, each L2-normalised as the selection normalises them; u is the first principal axis of the
  centred content embeddings (its sign fixed so that its largest coordinate is positive). In each split (pool,
  test) the ``round(share * contents)`` contents (at least one) farthest along u form the cluster C: a half-space of
  the feature space, holding whole contents, in the pool and in the test split alike.
* **Planted failure** (one MOS per video, pool and test):

      y_v = f_v + 1[v in C] * 2 (m_C - f_v) + eps_v,     eps_v ~ N(0, noise^2)

  with f_v f's prediction on the MOS scale and m_C the mean of f over C: outside C the oracle agrees with f (up to
  the noise); inside C it is f reflected about the cluster's mean, so f ranks the cluster's videos in the reverse
  order (SRCC -1 up to the noise) while the cluster's level stays where f puts it. The error 2 (m_C - f_v) is a
  function of f and of the cluster, so fine-tuning on revealed cluster videos can learn it (within-dataset ranking
  pairs, MDS-VQA Sec. 3.4, see it), and it is the same rule in the pool and in the test split.
  Decided against a constant shift of the cluster (y = f + delta on C): SRCC on a selected set and the ranking loss of
  fine-tuning see a constant shift only through pairs that mix cluster and other videos, so a selection made of
  cluster videos alone would look perfect and teach nothing (README "Positive controls": measured).
* **Failure predictor** (per seed s; MDS-VQA's g, Eq. 4, replaced by one that knows the planted errors up to noise):
  d_v = |2 (m_C - f_v)| 1[v in C] + g_noise * z_{v,s}, z ~ N(0, 1), on the pool.

**Negative twin** (``--twin``): the same errors with the planted effect removed: within each split the planted errors
2 (m_C - f_v) 1[v in C] are dealt to the videos in a random order (``numpy.random.default_rng(seed)``), so they have
the same sizes but fall on random videos, independent of the features, of the content and of f (a reflection about
m_C on random videos would make the error grow with |m_C - f_v|, which a diverse selection, reaching f's extremes,
would find); fine-tuning cannot learn where they are, and g knows nothing: d_v = g_noise * z_{v,s}.

Outputs: the control's manifest (the dataset's manifest with the test MOS replaced by y; pool MOS stay hidden), its
oracle (the pool's y, read by ``vqaloop reveal`` only), the planted table (``PLANTED_COLUMNS``: planted = 1 for the
videos carrying a planted error, planted_error its noise-free size, truth = y; what the control table reads) and one difficulty file per seed (``video_id,difficulty``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.manifest import read_manifest
from vqaloop.io.readers import numeric_column, read_csv

log = logging.getLogger(__name__)

SPLITS = ("pool", "test")
PLANTED_COLUMNS = ["video_id", "split", "content_id", "planted", "f", "planted_error", "truth"]


def content_embeddings(contents: pd.Series, pooled: np.ndarray, normalise: bool = True) -> pd.DataFrame:
    """One row per content (sorted): the mean of its videos' pooled features (each L2-normalised first)."""
    x = np.asarray(pooled, dtype=np.float64)
    if normalise:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    frame = pd.DataFrame(x, index=contents.to_numpy())
    return frame.groupby(level=0, sort=True).mean()


def principal_axis(embeddings: np.ndarray) -> np.ndarray:
    """The first principal axis of centred rows, its sign fixed (largest-magnitude coordinate positive)."""
    centred = embeddings - embeddings.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    return axis if axis[np.argmax(np.abs(axis))] > 0 else -axis


def cluster_contents(manifest: pd.DataFrame, embeddings: pd.DataFrame, share: float) -> set[str]:
    """Per split (pool, test): the round(share * n) contents (at least one) farthest along the principal axis."""
    axis = principal_axis(embeddings.to_numpy())
    projection = pd.Series((embeddings.to_numpy() - embeddings.to_numpy().mean(axis=0)) @ axis, index=embeddings.index)
    split_of = manifest.groupby("content_id", sort=True).split.first()
    chosen: set[str] = set()
    for split in SPLITS:
        contents = projection[split_of.loc[projection.index] == split]
        k = max(1, int(np.floor(share * len(contents) + 0.5)))
        order = sorted(contents.index, key=lambda c: (-round(float(contents[c]), 12), c))  # ties by name
        chosen.update(order[:k])
    return chosen


def dealt_at_random(manifest: pd.DataFrame, errors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The errors of each split dealt to its videos in a random order (the negative twin)."""
    out = np.zeros(len(manifest))
    for split in SPLITS:
        rows = np.flatnonzero((manifest.split == split).to_numpy())
        out[rows] = errors[rng.permutation(rows)]
    return out


def reflect(f: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The planted error of every video: 2 (m_C - f_v) on the members, 0 elsewhere (module docstring)."""
    if not members.any():
        raise UserError("the planted cluster is empty")
    return np.where(members, 2.0 * (f[members].mean() - f), 0.0)


def plant(manifest: pd.DataFrame, f: np.ndarray, pooled: np.ndarray, share: float, noise: float, seed: int,
          twin: bool = False, normalise: bool = True) -> pd.DataFrame:  # fmt: skip
    """The planted table (PLANTED_COLUMNS) of the manifest's pool and test rows (module docstring)."""
    embeddings = content_embeddings(manifest.content_id, pooled, normalise)
    members = manifest.content_id.isin(cluster_contents(manifest, embeddings, share)).to_numpy()
    rng = np.random.default_rng([seed, 21])
    planted_error = reflect(f, members)
    if twin:
        planted_error = dealt_at_random(manifest, planted_error, rng)
        members = planted_error != 0
    truth = f + planted_error + rng.normal(0.0, noise, len(f))
    return pd.DataFrame({"video_id": manifest.video_id.to_numpy(), "split": manifest.split.to_numpy(),
                         "content_id": manifest.content_id.to_numpy(), "planted": members.astype(int),
                         "f": f.round(6), "planted_error": planted_error.round(6), "truth": truth.round(6)})  # fmt: skip


def difficulty(planted: pd.DataFrame, g_noise: float, seed: int, twin: bool) -> pd.DataFrame:
    """g's scores of the pool for one seed: the planted error's size (none in the twin) plus N(0, g_noise^2)."""
    pool = planted[planted.split == "pool"]
    known = np.zeros(len(pool)) if twin else pool.planted_error.abs().to_numpy()
    z = np.random.default_rng([seed, 22]).normal(size=len(pool))
    return pd.DataFrame({"video_id": pool.video_id.to_numpy(), "difficulty": (known + g_noise * z).round(6)})


def read_inputs(manifest_path: Path, predictions_path: Path, features_path: Path):
    """The dataset's pool and test rows, f's MOS-scale predictions of them and their pooled diversity features."""
    from vqaloop.selection.features_io import load_features

    manifest = read_manifest(manifest_path)
    manifest = manifest[manifest.split.isin(SPLITS)].reset_index(drop=True)
    for split in SPLITS:
        if not (manifest.split == split).any():
            raise UserError(f"{manifest_path}: no {split} rows (the control plants a failure in the pool and the test)")
    predictions = read_csv(predictions_path, "f's predictions (vqaloop predict)", ("video_id", "mos_pred"),
                           dtype={"video_id": str})  # fmt: skip
    numeric_column(predictions, "mos_pred", predictions_path)
    predictions = predictions.drop_duplicates("video_id").set_index("video_id").mos_pred
    missing = manifest.video_id[~manifest.video_id.isin(predictions.index)]
    if len(missing):
        raise UserError(f"{predictions_path}: no prediction for {len(missing)} video(s), e.g. {missing.iloc[0]!r}")
    features = load_features(features_path, need_frames=False)
    if features.pooled is None:
        raise UserError(f"{features_path}: no pooled features (the cluster is found in them)")
    index = {v: i for i, v in enumerate(features.ids)}
    absent = [v for v in manifest.video_id if v not in index]
    if absent:
        raise UserError(f"{features_path}: no features for {len(absent)} video(s), e.g. {absent[0]!r}")
    pooled = np.asarray(features.pooled)[[index[v] for v in manifest.video_id]]  # an array or rows read on demand
    return manifest, predictions.loc[manifest.video_id].to_numpy(dtype=float), pooled


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, output_file, seed

    parser.add_argument("--manifest", required=True, type=Path, help="the target dataset's manifest (pool and test)")
    parser.add_argument("--predictions", required=True, type=Path, help="f's predictions of it (vqaloop predict)")
    parser.add_argument("--features", required=True, type=Path, help="its diversity features (pooled: the cluster)")
    parser.add_argument("--share", type=float_in(0.0, 1.0, lo_open=True, hi_open=True), default=0.2,
                        help="share of each split's contents in the planted cluster, in (0, 1) (default 0.2)")  # fmt: skip
    parser.add_argument("--noise", type=float_in(0.0, 100.0), default=0.1,
                        help="sd of the oracle's noise around f, in MOS, in [0, 100] (default 0.1)")  # fmt: skip
    parser.add_argument("--g-noise", type=float_in(0.0, 100.0), default=0.3,
                        help="sd of the failure predictor's noise, in [0, 100] (default 0.3)")  # fmt: skip
    parser.add_argument("--no-normalise", dest="normalise", action="store_false",
                        help="do not L2-normalise the diversity features (as select --no-normalise)")  # fmt: skip
    parser.add_argument("--twin", action="store_true", help="the negative twin: random members, g knows nothing")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the oracle's noise (and the twin's members)")
    parser.add_argument("--seeds", nargs="+", type=seed, required=True, help="seeds of g's noise, one per --difficulty")
    parser.add_argument("--difficulty", nargs="+", type=output_file, required=True,
                        help="g's difficulty of the pool, one file per --seeds")  # fmt: skip
    parser.add_argument("--out-manifest", required=True, type=output_file, help="the control's manifest")
    parser.add_argument("--out-oracle", required=True, type=output_file, help="the control's oracle (pool labels)")
    parser.add_argument("--out", required=True, type=output_file, help="the planted table")


def run(args) -> int:
    if len(args.seeds) != len(args.difficulty):
        raise UserError(f"--seeds ({len(args.seeds)}) and --difficulty ({len(args.difficulty)}): one file per seed")
    manifest, f, pooled = read_inputs(args.manifest, args.predictions, args.features)
    planted = plant(manifest, f, pooled, args.share, args.noise, args.seed, args.twin, args.normalise)
    truth = planted.set_index("video_id").truth
    out_manifest = read_manifest(args.manifest)
    test = (out_manifest.split == "test").to_numpy()
    out_manifest.loc[test, "mos"] = truth.loc[out_manifest.video_id[test]].to_numpy()
    pool = planted[planted.split == "pool"]
    oracle = pd.DataFrame({"video_id": pool.video_id, "dataset": str(out_manifest.dataset.iloc[0]), "mos": pool.truth})
    writes = [(args.out_manifest, csv_writer(out_manifest)), (args.out_oracle, csv_writer(oracle)),
              (args.out, csv_writer(planted[PLANTED_COLUMNS]))]  # fmt: skip
    writes += [(path, csv_writer(difficulty(planted, args.g_noise, s, args.twin)))
               for s, path in zip(args.seeds, args.difficulty, strict=True)]  # fmt: skip
    write_all_atomic(writes)
    share = planted.groupby("split").planted.mean().round(3).to_dict()
    log.info("%s control of %s: planted share %s, |error| %.3f on the planted videos", "twin" if args.twin else
             "planted", args.manifest, share, float(planted.planted_error[planted.planted == 1].abs().mean()))  # fmt: skip
    return 0
