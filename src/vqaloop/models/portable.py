"""Linear layers and a Transformer encoder layer whose matrix products run on numpy's BLAS (README "Reproducibility").

Under the dispatch pin (``vqaloop.dispatch``) torch's CPU matrix products go to MKL's ``COMPATIBLE`` branch: the same
bits on Intel and AMD, but about a third of the speed of OpenBLAS's Haswell kernels (numpy's BLAS, pinned by
``OPENBLAS_CORETYPE=Haswell`` and one thread), which give the same bits on every AVX2 CPU as well
(``benchmarks/bench_dispatch.py``: the student's training step). ``PortableLinear`` computes a linear layer's three products (forward, input
gradient, weight gradient) there, ``portable_matmul`` a batched product's; everything else (bias, sums, softmax, dropout) stays in torch's pinned AVX2
kernels. Other dtypes and devices (bf16, CUDA) take ``torch.nn.functional.linear``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BLAS_DTYPES = (torch.float32, torch.float64)


def blas_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` of two CPU tensors (2-d, or stacks of matrices) by numpy's BLAS (a new tensor; transposed views need
    no copy)."""
    return torch.from_numpy(np.matmul(a.detach().numpy(), b.detach().numpy()))


class _BlasMatmul(torch.autograd.Function):
    """c = a b for two stacks of matrices of the same batch shape, and its gradients: da = g b^T, db = a^T g."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return blas_mm(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da = blas_mm(grad, b.transpose(-2, -1)) if ctx.needs_input_grad[0] else None
        db = blas_mm(a.transpose(-2, -1), grad) if ctx.needs_input_grad[1] else None
        return da, db


def portable_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` (stacks of matrices of the same batch shape) on numpy's BLAS for float32/float64 CPU tensors."""
    if a.device.type != "cpu" or a.dtype not in BLAS_DTYPES or a.dtype != b.dtype or a.shape[:-2] != b.shape[:-2]:
        return a @ b
    return _BlasMatmul.apply(a, b)


class _BlasLinear(torch.autograd.Function):
    """y = x W^T + b, and its gradients: dx = g W, dW = g^T x, db = sum of g over the rows."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = blas_mm(x.reshape(-1, x.shape[-1]), weight.t())
        if bias is not None:
            y += bias
        return y.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])
        dx = blas_mm(g, weight).reshape(x.shape) if ctx.needs_input_grad[0] else None
        dw = blas_mm(g.t(), x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
        db = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db


def portable_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` with its products on numpy's BLAS for float32/float64 CPU tensors."""
    if x.device.type != "cpu" or x.dtype not in BLAS_DTYPES or x.dtype != weight.dtype:
        return F.linear(x, weight, bias)
    return _BlasLinear.apply(x, weight, bias)


class PortableLinear(nn.Linear):
    """``nn.Linear`` (same parameters, initialisation and state dict) computed by ``portable_linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return portable_linear(x, self.weight, self.bias)


class PortableEncoderLayer(nn.Module):
    """A pre-norm Transformer encoder layer (batch first), as ``nn.TransformerEncoderLayer(norm_first=True)`` with
    ReLU: x + Drop(Attn(LN(x))), then x + Drop(W2 Drop(ReLU(W1 LN(x)))); attention weights dropped out too. Its four
    linear maps are ``PortableLinear``, the attention's two batched products ``portable_matmul``."""

    def __init__(self, hidden: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv, self.out = PortableLinear(hidden, 3 * hidden), PortableLinear(hidden, hidden)
        self.linear1, self.linear2 = PortableLinear(hidden, ffn), PortableLinear(ffn, hidden)
        self.attention_dropout, self.dropout = nn.Dropout(dropout), nn.Dropout(dropout)
        self.residual1, self.residual2 = nn.Dropout(dropout), nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.qkv.weight)  # as nn.MultiheadAttention's in_proj and its zero biases
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.out.bias)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(portable_matmul(q, k.transpose(-2, -1)) / math.sqrt(h // self.heads), dim=-1)
        return self.out(portable_matmul(self.attention_dropout(weights), v).transpose(1, 2).reshape(b, t, h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.residual1(self.attention(self.norm1(x)))
        return x + self.residual2(self.linear2(self.dropout(F.relu(self.linear1(self.norm2(x))))))
