"""Every convolution of a CPU model through oneDNN: faster under the dispatch pin, and the same bits on every ISA.

PyTorch sends a convolution to one of two CPU back ends by a heuristic: a 1 x 1 convolution of fewer than 16
images on one thread goes to its own im2col + BLAS path (``aten::_slow_conv2d_forward``, i.e. MKL's sgemm), every
other one to oneDNN (``aten::mkldnn_convolution``). With 8 frames per pass (registry.FORWARD_FRAMES) and one thread,
all of EfficientNet-Lite0's pointwise convolutions took the BLAS path. Under the portable dispatch pin
(``vqaloop.dispatch``) MKL runs its SSE2 branch (``MKL_CBWR=COMPATIBLE``, the one that is the same on Intel and
AMD), three times slower there than oneDNN's AVX2 kernels; and oneDNN's convolutions gave the same bits under every
ISA limit tried on this machine (AVX2, AVX2_VNNI, AVX512_CORE: its blocking changes, its sums do not), where the
BLAS path's did not. ``convolutions_on_onednn`` switches a model's ``nn.Conv2d`` modules (and timm's ``Conv2dSame``,
which pads first) to ``torch.mkldnn_convolution`` on the CPU: the same function, within float rounding
(``tests/test_features.py``). CUDA tensors keep PyTorch's own choice (cuDNN).
"""

from __future__ import annotations

import torch
from timm.layers import Conv2dSame
from timm.layers.padding import pad_same
from torch import nn


class OneDnnConv2d(nn.Conv2d):
    """``nn.Conv2d`` computed by oneDNN on the CPU whatever the batch size and thread count."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or isinstance(self.padding, str) or self.padding_mode != "zeros":
            return super().forward(x)
        return torch.mkldnn_convolution(x, self.weight, self.bias, self.padding, self.stride, self.dilation,
                                        self.groups)  # fmt: skip


class OneDnnConv2dSame(Conv2dSame):
    """timm's TensorFlow-style "same" convolution (pad, then convolve) with the convolution computed by oneDNN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        x = pad_same(x, self.weight.shape[-2:], self.stride, self.dilation)
        return torch.mkldnn_convolution(x, self.weight, self.bias, (0, 0), self.stride, self.dilation, self.groups)


def convolutions_on_onednn(model: nn.Module) -> nn.Module:
    """Switch every plain ``nn.Conv2d`` and timm ``Conv2dSame`` of ``model`` to its oneDNN class (in place)."""
    for module in model.modules():
        if type(module) is nn.Conv2d:
            module.__class__ = OneDnnConv2d
        elif type(module) is Conv2dSame:
            module.__class__ = OneDnnConv2dSame
    return model
