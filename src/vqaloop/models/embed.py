"""``vqaloop embed``: f's per-frame internal features (the "base" diversity encoder of MDS-VQA Table 7)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vqaloop.features.io import features_writer
from vqaloop.features.store import open_store
from vqaloop.models.inputs import feature_paths, manifest_inputs
from vqaloop.models.registry import load_checkpoint

log = logging.getLogger(__name__)


@torch.no_grad()
def embedding_batches(model, x, batch: int = 512):
    """(slice, (k, F, H) float32 embeddings) of ``x`` batch by batch (a tensor or ``LazyInputs``)."""
    from vqaloop.features.inputs import capped_batch

    model.eval()
    batch = capped_batch(x, batch)
    for i in range(0, len(x), batch):
        yield slice(i, min(i + batch, len(x))), model.frame_embeddings(x[i : i + batch]).numpy().astype(np.float32)


def frame_embeddings(model, x, batch: int = 512) -> np.ndarray:
    return np.concatenate([e for _, e in embedding_batches(model, x, batch)])


def add_arguments(parser):
    from vqaloop.cli_checks import output_file, threads

    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--threads", type=threads, default=1)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    checkpoint = load_checkpoint(args.model)
    manifest, x = manifest_inputs(args.manifest, args.features_root, checkpoint.name)
    # the frames f saw: those of its first input encoder, in manifest order
    source = open_store(feature_paths(args.features_root, str(manifest.dataset.iloc[0]), checkpoint.name)[0])
    rows = source.rows_of(list(manifest.video_id))
    ids, shape = list(manifest.video_id), None
    with features_writer(args.out, ids, f"base:{checkpoint.name}", True) as writer:  # a batch in memory at a time
        for where, frames in embedding_batches(checkpoint.build(), x):
            writer.add(frames, source.frame_indices.read(rows[where]))
            shape = (len(ids), *frames.shape[1:])
    log.info("%s: %s", args.out, shape)
    return 0
