"""Base quality models f: one registry, one checkpoint format.

A base model is a ``torch.nn.Module`` whose ``forward(x)`` maps per-video inputs (N, F, D) to scores (N,)
and whose ``frame_embeddings(x)`` gives per-frame internal features (N, F, H) (the "base" diversity encoder).
Each class declares the feature encoders it reads (``ENCODERS``) so the workflow knows its inputs. The
VLM (VisualQuality-R1) and the Table-9 alternatives plug in here under new names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import LogisticFit
from vqaloop.models.catalogue import BASE_MODEL_FACTS
from vqaloop.registry import Registry, decorator_setting

# the modules that register base models, imported on the first lookup (vqaloop.registry)
BASE_MODELS: Registry[type[torch.nn.Module]] = Registry(
    "base model", ("vqaloop.models.effnet_head", "vqaloop.models.alternatives", "vqaloop.models.vlm")
)


def per_dimension_statistics(model: torch.nn.Module, x) -> None:
    """Set a model's ``mean``/``std`` buffers to each input dimension's statistics over all training frames
    (``x``: a tensor or ``features.inputs.LazyInputs``, read in chunks: the same numbers)."""
    from vqaloop.features.inputs import frame_statistics

    mean, std = frame_statistics(x)
    model.mean.copy_(mean)
    model.std.copy_(std.clamp_min(1e-6))


def register_base_model(name: str):
    """Register a base model class under ``name``; its ``ENCODERS`` and ``TRAINER`` come from
    ``models.catalogue`` (torch-free: what the workflow reads), which must declare it."""

    if name not in BASE_MODEL_FACTS:
        raise TypeError(f"base model {name!r} is not declared in vqaloop.models.catalogue.BASE_MODEL_FACTS")
    facts = BASE_MODEL_FACTS[name]
    return decorator_setting(BASE_MODELS, name, NAME=name, ENCODERS=facts.encoders, TRAINER=facts.trainer)


def get_base_model_class(name: str) -> type[torch.nn.Module]:
    return BASE_MODELS.get(name)


@dataclass
class Checkpoint:
    """A trained model with everything needed to use it: the class, its arguments, the MOS mapping."""

    name: str
    kwargs: dict
    state_dict: dict
    logistic: LogisticFit | None = None
    meta: dict = field(default_factory=dict)

    def build(self) -> torch.nn.Module:
        model = get_base_model_class(self.name)(**self.kwargs)
        model.load_state_dict(self.state_dict)
        model.eval()
        return model

    def save(self, path: str | Path) -> None:
        """Write the checkpoint atomically; the same checkpoint always gives the same bytes.

        ``torch.save`` names the zip records after the file it writes to (a temporary's random name would
        land inside the archive): it writes to memory here, where the record name is always ``archive``.
        """
        import io

        from vqaloop.io.atomic import write_bytes_atomic

        payload = {
            "name": self.name,
            "kwargs": self.kwargs,
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()},
            "logistic": None if self.logistic is None else vars(self.logistic),
            "meta": self.meta,
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> Checkpoint:
    from vqaloop.io.readers import read_torch

    path = Path(path)
    payload = read_torch(path, "model checkpoint")
    if not isinstance(payload, dict) or {"name", "kwargs", "state_dict"} - set(payload):
        raise UserError(f"{path}: not a vqaloop model checkpoint (keys missing)")
    logistic = payload.get("logistic")
    return Checkpoint(
        name=payload["name"],
        kwargs=payload["kwargs"],
        state_dict=payload["state_dict"],
        logistic=None
        if logistic is None
        else LogisticFit(logistic["kind"], tuple(logistic["params"]), logistic["message"]),
        meta=payload.get("meta", {}),
    )
