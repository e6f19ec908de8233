"""The embedded default base model: frozen ImageNet EfficientNet-Lite0 frame features + motion features,
a small trainable per-frame MLP, temporal mean pooling and a linear quality head.

    h_t = GELU(W1 [z(phi_eff(frame_t)); z(phi_motion(frame_t))] + b1)     (per frame, H = hidden)
    f(x) = w2 . mean_t dropout(h_t) + b2

z() standardises each input dimension with statistics of the training set (stored as buffers). The Linear
layers ``frame_mlp`` and ``head`` are where LoRA attaches (failure predictor g, active fine-tuning).
"""

from __future__ import annotations

import torch
from torch import nn

from vqaloop.models.registry import per_dimension_statistics, register_base_model


@register_base_model("effnet_motion")
class EffNetMotionHead(nn.Module):
    LORA_TARGETS = ["frame_mlp", "head"]

    def __init__(self, in_dim: int, hidden: int = 128, dropout: float = 0.1):
        super().__init__()
        self.in_dim, self.hidden = in_dim, hidden
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.frame_mlp = nn.Linear(in_dim, hidden)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def set_input_statistics(self, x: torch.Tensor) -> None:
        """Standardisation statistics over all frames of the training videos (N, F, D)."""
        per_dimension_statistics(self, x)

    def frame_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.frame_mlp((x - self.mean) / self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.frame_embeddings(x)).mean(dim=1)
        return self.head(h).squeeze(-1)
