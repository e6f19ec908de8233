"""``vqaloop embed``: f's per-frame internal features (the "base" diversity encoder of MDS-VQA Table 7)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vqaloop.features.io import load_features, write_features
from vqaloop.models.registry import load_checkpoint
from vqaloop.training.common import feature_paths, manifest_inputs

log = logging.getLogger(__name__)


@torch.no_grad()
def frame_embeddings(model, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    model.eval()
    return torch.cat([model.frame_embeddings(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()


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
    frames = frame_embeddings(checkpoint.build(), x).astype(np.float32)
    # the frames f saw: those of its first input encoder, in manifest order
    source = load_features(feature_paths(args.features_root, str(manifest.dataset.iloc[0]), checkpoint.name)[0])
    row = {vid: i for i, vid in enumerate(source.ids)}
    indices = source.frame_indices[[row[vid] for vid in manifest.video_id]]
    write_features(args.out, list(manifest.video_id), frames, f"base:{checkpoint.name}", indices)
    log.info("%s: %s", args.out, frames.shape)
    return 0
