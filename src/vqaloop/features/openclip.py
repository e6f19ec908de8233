"""``clip`` and ``siglip2``: image embeddings of each frame from an open_clip model with LOCAL weights.

Options: ``model`` (an ``open_clip.list_models()`` name; defaults ``ViT-B-32`` and ``ViT-B-16-SigLIP2``) and
``weights`` (a local checkpoint file: open_clip ``.pt`` / ``.bin`` / ``.safetensors`` state dict, or big_vision
``.npz`` for SigLIP). Without weights the encoder is unavailable ("no weights"): it never computes anything with
random weights, and it never downloads.

Loading is open_clip's own: ``create_model_and_transforms(model, pretrained=<file>)`` (strict state-dict load).
When ``pretrained`` is a file, open_clip does not know which release it holds and falls back to OpenAI CLIP
preprocessing; so the mean/std/interpolation/resize mode of the model's published tags are passed explicitly
whenever all its tags agree (SigLIP2: mean = std = 0.5, bicubic, squash to 224x224; CLIP ViT-B-32: the OpenAI
mean/std, bicubic, shortest side to 224 then centre crop).

Caveat: OpenAI's (and MetaCLIP's) ViT-B-32 weights were trained with QuickGELU; load them with
``model: ViT-B-32-quickgelu``. The state dicts are identical, so a wrong choice loads without error but gives
degraded embeddings. ``ViT-B-32`` fits the LAION / DataComp releases.

Embeddings are ``model.encode_image`` outputs, not L2-normalised (the selection code normalises frame features).
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import numpy as np

from vqaloop.errors import UserError
from vqaloop.features.registry import FORWARD_FRAMES, Encoder, check_frames, encode_in_batches, register_encoder

log = logging.getLogger(__name__)

PREPROCESS_KEYS = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation"}
PREPROCESS_KEYS["resize_mode"] = "image_resize_mode"


def tag_preprocess(model: str) -> dict:
    """Preprocessing overrides shared by all of ``model``'s published tags ({} if none or if they differ)."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    found = set()
    for tag in open_clip.list_pretrained_tags_by_model(model):
        cfg = get_pretrained_cfg(model, tag)
        found.add(tuple((key, _hashable(cfg.get(key))) for key in PREPROCESS_KEYS))
    if len(found) != 1:
        if found:
            log.info("open_clip tags of %s differ in preprocessing; using the model config's defaults", model)
        return {}
    return {PREPROCESS_KEYS[key]: value for key, value in next(iter(found)) if value is not None}


def _hashable(value):
    return tuple(value) if isinstance(value, list | tuple) else value


class OpenClipEncoder(Encoder):
    """Image embeddings of an open_clip model loaded from a local checkpoint."""

    default_model = ""
    needs_pairs = False
    unavailable_option = "weights"

    def __init__(
        self,
        *,
        model: str | None = None,
        weights: str | Path | None = None,
        batch: int = FORWARD_FRAMES,
        device: str = "cpu",
    ):
        import open_clip
        import torch

        self.model_name = model or self.default_model
        self.batch = int(batch)
        self.device = str(device)
        ok, reason = self.available(weights=weights)
        if not ok:  # get_encoder checks first; direct construction must not get random weights either
            raise UserError(f"encoder {self.name} unavailable: {reason}")
        weights = Path(weights).resolve()  # absolute: never mistaken for a download tag such as 'openai'
        known = open_clip.list_models()
        if self.model_name not in known:
            close = difflib.get_close_matches(self.model_name, known, n=3)
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise UserError(f"encoder {self.name}: unknown open_clip model {self.model_name!r}{hint}")
        if self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        try:
            net, _, preprocess = open_clip.create_model_and_transforms(
                self.model_name,
                pretrained=str(weights),
                device=self.device,
                pretrained_image=False,
                pretrained_text=False,
                **tag_preprocess(self.model_name),
            )
        except Exception as err:  # strict state-dict load: missing / unexpected keys, shape mismatches
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
            raise UserError(
                f"encoder {self.name}: weights {weights} do not load into open_clip model {self.model_name} "
                f"({lines[0][:200]})"
            ) from None
        self.net = net.eval()
        self.preprocess = preprocess
        self.dim = int(self.net.visual.output_dim) if hasattr(self.net.visual, "output_dim") else 0
        if not self.dim:
            with torch.inference_mode():
                self.dim = int(self.encode(np.zeros((1, 32, 32, 3), np.uint8)).shape[1])

    @classmethod
    def available(cls, **options) -> tuple[bool, str]:
        weights = options.get("weights")
        if weights is None or str(weights).strip() == "":
            return False, "no weights"
        if Path(weights).is_dir():
            return False, f"weights {weights} is a folder, not a checkpoint file"
        if not Path(weights).is_file():
            return False, f"weights file {weights} not found"
        return True, ""

    def encode(self, frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
        import torch
        from PIL import Image

        check_frames(frames)

        def forward(chunk):
            x = torch.stack([self.preprocess(Image.fromarray(f)) for f in chunk]).to(self.device)
            return self.net.encode_image(x)

        return encode_in_batches(frames, self.batch, forward)


@register_encoder("clip")
class Clip(OpenClipEncoder):
    default_model = "ViT-B-32"


@register_encoder("siglip2")
class SigLIP2(OpenClipEncoder):
    default_model = "ViT-B-16-SigLIP2"
