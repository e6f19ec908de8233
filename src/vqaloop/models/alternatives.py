"""Two alternative base models for MDS-VQA Table 9, architecturally different from the default.

- ``cnn_frames`` (analogue of the CNN-based UVQ): a small CNN learning from raw pixels (the ``thumbnail``
  encoder: half-resolution luma frames), per-frame conv features pooled by mean and standard deviation,
  temporal mean, linear head. UVQ itself has content, distortion and compression sub-networks trained on
  YouTube-UGC at full resolution; this keeps only "a CNN that learns quality from frames".
- ``transformer_tokens`` (analogue of the Transformer-based ModularBVQA): a 2-layer Transformer encoder over
  the frame tokens (EfficientNet-Lite0 + motion features of each sampled frame, projected, with learned
  positions), mean-pooled. ModularBVQA combines a ViT base quality module with spatial and temporal
  rectifiers; this keeps "a Transformer that attends across frames".
Both are trained with full fine-tuning in Table 9, as in the paper; their failure predictors use LoRA.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vqaloop.models.registry import per_dimension_statistics, register_base_model


@register_base_model("cnn_frames")
class CnnFrames(nn.Module):
    LORA_TARGETS = ["frame_mlp", "head"]  # g adapts the head; the conv trunk stays frozen (CPU cost)

    def __init__(self, in_dim: int, hidden: int = 64, aspect: float = 16 / 9, dropout: float = 0.1):
        super().__init__()
        self.height = round(math.sqrt(in_dim / aspect))
        self.width = in_dim // self.height
        if self.height * self.width != in_dim:
            raise ValueError(f"cnn_frames: {in_dim} inputs are not a {aspect:.3f}-aspect thumbnail")
        self.in_dim, self.hidden = in_dim, hidden
        self.register_buffer("mean", torch.zeros(1))
        self.register_buffer("std", torch.ones(1))
        self.conv1 = nn.Conv2d(1, 16, 5, stride=4, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.act = nn.GELU()
        self.frame_mlp = nn.Linear(128, hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def set_input_statistics(self, x: torch.Tensor) -> None:
        from vqaloop.features.inputs import value_statistics

        mean, std = value_statistics(x)  # a tensor or LazyInputs (read in chunks: the same numbers)
        self.mean.fill_(mean)
        self.std.fill_(float(std.clamp_min(1e-6)))

    # Frames per convolution call, channels-last: on the CPU about 2x faster than one call over a whole batch of
    # videos (the activations of a few hundred frames no longer fit the caches). Training, scoring and the
    # selection baselines' repeated passes (NoiseStability: 31 per pool) all go through here.
    CHUNK = 128

    def frame_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        n, f, _ = x.shape
        frames = x.reshape(n * f, 1, self.height, self.width)
        pooled = []
        for start in range(0, n * f, self.CHUNK):
            img = ((frames[start : start + self.CHUNK] - self.mean) / self.std).contiguous(
                memory_format=torch.channels_last
            )
            h = self.act(self.conv3(self.act(self.conv2(self.act(self.conv1(img))))))
            pooled.append(torch.cat([h.mean(dim=(2, 3)), h.std(dim=(2, 3))], dim=1))  # mean + contrast
        return self.act(self.frame_mlp(torch.cat(pooled))).reshape(n, f, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.frame_embeddings(x)).mean(dim=1)).squeeze(-1)


@register_base_model("transformer_tokens")
class TransformerTokens(nn.Module):
    LORA_TARGETS = ["proj", "out_proj", "linear1", "linear2", "head"]
    MAX_FRAMES = 64

    def __init__(self, in_dim: int, hidden: int = 64, layers: int = 2, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.in_dim, self.hidden = in_dim, hidden
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.proj = nn.Linear(in_dim, hidden)
        self.position = nn.Parameter(torch.zeros(self.MAX_FRAMES, hidden))
        layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def set_input_statistics(self, x: torch.Tensor) -> None:
        per_dimension_statistics(self, x)

    def frame_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj((x - self.mean) / self.std) + self.position[: x.shape[1]]
        return self.encoder(tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.frame_embeddings(x)).mean(dim=1)).squeeze(-1)
