"""``vqaloop embed``: f's per-frame internal features (the "base" diversity encoder of MDS-VQA Table 7)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vqaloop.io.arrays import save_npz
from vqaloop.models.registry import load_checkpoint
from vqaloop.training.common import manifest_inputs

log = logging.getLogger(__name__)


@torch.no_grad()
def frame_embeddings(model, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    model.eval()
    return torch.cat([model.frame_embeddings(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()


def add_arguments(parser):
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, type=Path)


def run(args) -> int:
    torch.set_num_threads(args.threads)
    checkpoint = load_checkpoint(args.model)
    manifest, x = manifest_inputs(args.manifest, args.features_root, checkpoint.name)
    frames = frame_embeddings(checkpoint.build(), x).astype(np.float32)
    save_npz(args.out, ids=np.array(manifest.video_id, dtype=str), frames=frames, pooled=frames.mean(axis=1),
             encoder=np.array(f"base:{checkpoint.name}"))  # fmt: skip
    log.info("%s: %s", args.out, frames.shape)
    return 0
