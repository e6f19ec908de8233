"""Read and check the selection inputs: FEATS.npz (features contract, DESIGN.md) and DIFF.csv.

FEATS.npz holds ``ids`` (N,) strings, ``frames`` (N, F, D) floats and optionally ``pooled`` (N, D); a method that
needs nothing but ids (random) reads a file with ``ids`` alone. The arrays are not read here: ``frames`` and
``pooled`` come as ``features.store.RowView``s (the pool's rows, read on demand, float32; issue 22), checked for
shape and type here and for NaN / inf as they are read (the message names the id).
DIFF.csv holds ``video_id,difficulty`` rows in any order (extra columns are ignored). Every problem a user can
cause raises one ``UserError`` naming the file and, where there is one, the row or id.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.features.store import DiskArray, RowView, finite_rows_check
from vqaloop.selection.registry import ModelInputs, SelectionInputs

MAX_NAMED = 5  # ids named in one error message


@dataclass
class PoolFeatures:
    ids: list[str]
    frames: RowView | None  # (N, F, D) float32 rows read on demand; None only when the method needs no features
    pooled: RowView | None  # (N, D) float32 or None


def load_features(path: str | os.PathLike, need_frames: bool = True) -> PoolFeatures:
    """Open FEATS.npz and check its keys, shapes and ids (``frames`` may be absent without ``need_frames``); the
    values are checked as they are read."""
    from vqaloop.features.store import open_npz_store

    path = Path(path)
    store = open_npz_store(path)
    ids = _ids_from_array(store.ids_array if "ids" in store.arrays else None, path)
    n = len(ids)
    frames = pooled = None
    if need_frames or "frames" in store.arrays:
        frames = RowView(_numeric_array(store.arrays.get("frames"), "frames", path, ndim=3, n=n, ids=ids))
    if "pooled" in store.arrays:
        pooled = RowView(_numeric_array(store.arrays["pooled"], "pooled", path, ndim=2, n=n, ids=ids))
    return PoolFeatures(ids=ids, frames=frames, pooled=pooled)


def load_difficulty(path: str | os.PathLike) -> pd.Series:
    """Load DIFF.csv as a float Series indexed by video_id (file order kept)."""
    from vqaloop.io.readers import read_csv

    path = Path(path)
    table = read_csv(path, "difficulty file", dtype=str, keep_default_na=False)
    missing = [c for c in ("video_id", "difficulty") if c not in table.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (need video_id,difficulty)")
    if table.empty:
        raise UserError(f"{path}: no rows")
    ids = table["video_id"]
    empty = ids.index[ids.str.strip() == ""]
    if len(empty):
        raise UserError(f"{path} line {empty[0] + 2}: empty video_id")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise UserError(f"{path}: video_id duplicated: {_name_some(duplicated)}")
    values = pd.to_numeric(table["difficulty"], errors="coerce").astype(float)
    bad = values.index[~np.isfinite(values.to_numpy())]
    if len(bad):
        row = bad[0]
        raise UserError(
            f"{path} line {row + 2} (video_id {ids[row]!r}): difficulty {table['difficulty'][row]!r} "
            "is not a finite number"
        )
    return pd.Series(values.to_numpy(), index=ids.to_list(), name="difficulty")


def align_difficulty(
    ids: list[str], difficulty: pd.Series, features_path: os.PathLike, difficulty_path: os.PathLike
) -> np.ndarray:
    """Difficulty in the order of ``ids``; both files must hold exactly the same ids."""
    only_features = sorted(set(ids) - set(difficulty.index))
    only_difficulty = sorted(set(difficulty.index) - set(ids))
    if only_features or only_difficulty:
        parts = []
        if only_features:
            parts.append(f"{len(only_features)} only in {features_path} ({_name_some(only_features)})")
        if only_difficulty:
            parts.append(f"{len(only_difficulty)} only in {difficulty_path} ({_name_some(only_difficulty)})")
        raise UserError(f"video ids differ between {features_path} and {difficulty_path}: {'; '.join(parts)}")
    return difficulty.loc[ids].to_numpy(dtype=np.float64)


def restrict_to_pool(features: PoolFeatures, features_path, manifest_path) -> PoolFeatures:
    """Keep only the rows whose split is ``pool`` in a manifest (features files cover every split)."""
    from vqaloop.io.manifest import read_manifest

    manifest = read_manifest(manifest_path)
    pool_ids = list(manifest.loc[manifest.split == "pool", "video_id"])
    if not pool_ids:
        raise UserError(f"{manifest_path}: no row has split 'pool'")
    return restrict_ids(features, features_path, pool_ids, manifest_path)


def load_model_inputs(
    checkpoint_path: str | os.PathLike, features_root: str | os.PathLike, pool_manifest: str | os.PathLike, ids
) -> ModelInputs:
    """The base model of a checkpoint and its inputs (N, F, D) for ``ids`` (pool order), read from
    ``<features_root>/<dataset>/<encoder>.npz`` for each encoder the model reads (dataset: the manifest's pool rows).
    """
    from vqaloop.io.manifest import read_manifest
    from vqaloop.models.inputs import feature_paths, open_inputs
    from vqaloop.models.registry import load_checkpoint

    manifest = read_manifest(pool_manifest)
    datasets = sorted({str(d) for d in manifest.loc[manifest.split == "pool", "dataset"]})
    if len(datasets) != 1:
        raise UserError(f"{pool_manifest}: the pool rows must come from one dataset, found {datasets or 'none'}")
    checkpoint = load_checkpoint(checkpoint_path)
    module = checkpoint.build()
    x = open_inputs(feature_paths(features_root, datasets[0], checkpoint.name), list(ids))  # read on demand
    expected = getattr(module, "in_dim", checkpoint.kwargs.get("in_dim"))
    if expected is not None and int(expected) != x.shape[2]:
        raise UserError(
            f"model {checkpoint_path} expects D={int(expected)} inputs, features give {x.shape[2]} "
            f"(under {Path(features_root) / datasets[0]})"
        )
    return ModelInputs(module=module, x=x, name=checkpoint.name)


def load_labelled_pooled(features_path, manifest_path) -> np.ndarray:
    """Pooled features of the already-labelled set L: a manifest's ``train`` rows (core-set and RD start from L)."""
    from vqaloop.io.manifest import read_manifest

    manifest = read_manifest(manifest_path)
    train_ids = list(manifest.loc[manifest.split == "train", "video_id"])
    if not train_ids:
        raise UserError(f"{manifest_path}: no row has split 'train' (the labelled set L)")
    features = restrict_ids(load_features(features_path), features_path, train_ids, manifest_path)
    if features.pooled is not None:
        return features.pooled.read_all()
    return np.concatenate([rows.mean(axis=1) for _, rows in features.frames.chunks()])


def restrict_ids(features: PoolFeatures, features_path, ids: list[str], manifest_path) -> PoolFeatures:
    index = {vid: i for i, vid in enumerate(features.ids)}
    missing = [vid for vid in ids if vid not in index]
    if missing:
        raise UserError(
            f"{features_path}: no features for {len(missing)} video(s) of {manifest_path} ({_name_some(missing)})"
        )
    rows = np.array([index[vid] for vid in ids], dtype=np.int64)
    pooled = None if features.pooled is None else features.pooled.take(rows)
    frames = None if features.frames is None else features.frames.take(rows)
    return PoolFeatures(ids=list(ids), frames=frames, pooled=pooled)


def load_selection_inputs(
    features_path: str | os.PathLike,
    difficulty_path: str | os.PathLike | None = None,
    pool_manifest: str | os.PathLike | None = None,
    model_path: str | os.PathLike | None = None,
    features_root: str | os.PathLike | None = None,
    need_frames: bool = True,
) -> SelectionInputs:
    """Everything ``vqaloop select`` reads, checked and aligned on the features file's id order
    (restricted to a manifest's pool rows, in manifest order, when ``pool_manifest`` is given).

    With ``model_path`` (needs ``pool_manifest``) the base model and its inputs come too (``load_model_inputs``);
    ``features_root`` defaults to the grandparent folder of ``features_path`` (``<root>/<dataset>/<encoder>.npz``).
    """
    features = load_features(features_path, need_frames)
    if pool_manifest is not None:
        features = restrict_to_pool(features, features_path, pool_manifest)
    difficulty = None
    if difficulty_path is not None:
        table = load_difficulty(difficulty_path)
        difficulty = align_difficulty(features.ids, table, features_path, difficulty_path)
    model = None
    if model_path is not None:
        if pool_manifest is None:
            raise UserError("--model needs --pool MANIFEST (the pool's dataset names its features folder)")
        root = Path(features_path).resolve().parent.parent if features_root is None else features_root
        model = load_model_inputs(model_path, root, pool_manifest, features.ids)
    return SelectionInputs(
        ids=features.ids, frames=features.frames, pooled=features.pooled, difficulty=difficulty, model=model
    )


def _ids_from_array(ids: np.ndarray | None, path: Path) -> list[str]:
    if ids is None:
        raise UserError(f"{path}: no 'ids' array")
    if ids.ndim != 1:
        raise UserError(f"{path}: 'ids' must be 1-D, got shape {ids.shape}")
    if len(ids) == 0:
        raise UserError(f"{path}: 'ids' is empty")
    if ids.dtype.kind == "S":
        ids = np.char.decode(ids, "utf-8")
    elif ids.dtype.kind not in "Uiu":
        raise UserError(f"{path}: 'ids' must hold strings, got dtype {ids.dtype}")
    out = [str(i) for i in ids.tolist()]
    empty = [k for k, i in enumerate(out) if not i.strip()]
    if empty:
        raise UserError(f"{path}: ids[{empty[0]}] is empty")
    duplicated = sorted(i for i, count in Counter(out).items() if count > 1)
    if duplicated:
        raise UserError(f"{path}: ids duplicated: {_name_some(duplicated)}")
    return out


def _numeric_array(x: DiskArray | None, key: str, path: Path, ndim: int, n: int, ids: list[str]) -> DiskArray:
    """The array ``key`` checked for type and shape, its reads checked for NaN / inf (naming the id)."""
    if x is None:
        raise UserError(f"{path}: no {key!r} array")
    if x.dtype.kind not in "fiu":
        raise UserError(f"{path}: {key!r} must be numeric, got dtype {x.dtype}")
    if x.ndim != ndim or x.shape[0] != n or 0 in x.shape:
        expected = "(N, F, D)" if ndim == 3 else "(N, D)"
        raise UserError(f"{path}: {key!r} must be {expected} with N = {n} ids, got shape {x.shape}")
    x.check = finite_rows_check(path, ids, key)
    return x


def _name_some(values) -> str:
    values = [str(v) for v in values]
    named = ", ".join(repr(v) for v in values[:MAX_NAMED])
    return named + (f", ... ({len(values)} in all)" if len(values) > MAX_NAMED else "")
