"""W2S-VQA students: one registry, one interface, one checkpoint format.

A student compares two videos: ``forward(first, second)`` maps two batches of per-video inputs (B, F, D) to
logits (B, 5) over ``LEVELS`` (inferior, worse, similar, better, superior) = the second video's quality
compared to the first (W2S Eq. 22, Appendix B.2). A single video is scored by soft comparison against anchors
(``vqaloop.w2s.scoring``). The LLaVA-OneVision student of the paper is ``llava_onevision``
(``vqaloop.w2s.llava_student``, imported when asked for).

``mode="pointwise"`` (a constructor argument, kept in the checkpoint's kwargs; ``is_pointwise``): the same student
rates one video, ``forward(x)`` -> logits (B, 5) over the ratings 1..5, the straightforward W2S of Sec. 3
(the single-video prompt of Appendix B.2, "Answer: [quality score]"; ``vqaloop.w2s.pointwise``). The same
parameters, initialised in the same order: only the inputs and the meaning of the five logits differ.

``pair_transformer`` (the embedded default, W2S Appendix C.1 in miniature): a dual-branch visual encoder and a
fusing Transformer.
- spatial branch: each sampled frame's frozen ImageNet EfficientNet-Lite0 features, standardised, through a
  two-layer MLP projector P_I; motion branch: the frame's motion features (temporal difference, freeze, flicker,
  sharpness), standardised, through its own two-layer MLP projector P_M (W2S Eq. 21: f_k^s, f_k^t);
- tokens: [CLS] + one token per frame k of the first video, then of the second: the frame's motion projection
  fused with its spatial one (summed: the motion tokens join the key-frame tokens, as the SlowFast projector's
  output does in the authors' model), plus a learned video embedding (first / second) and a frame-position
  embedding. One token per frame instead of one per frame and branch halves the Transformer's work;
- fusion: a pre-norm Transformer encoder over all tokens (both videos attend to each other: W2S Eq. 22);
- head: a linear layer on [CLS] -> 5 logits.
Every linear map is ``vqaloop.models.portable.PortableLinear`` (numpy's BLAS: the same bits on any AVX2 CPU, three
times the speed of torch's products under the dispatch pin).
It is strictly stronger than every teacher: more parameters, a motion branch of its own, and both videos as input.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from vqaloop.errors import UserError
from vqaloop.models.portable import PortableEncoderLayer, PortableLinear
from vqaloop.registry import Registry, decorator_setting

# students registered here, and the modules registering further ones, imported only when their name is asked for
# (transformers loads lazily)
STUDENTS: Registry[type[nn.Module]] = Registry("student", {"llava_onevision": "vqaloop.w2s.llava_student"})
STUDENT_KIND = "w2s_student"  # the checkpoint kind tag (base-model checkpoints have none)
MODES = ("pairwise", "pointwise")  # two videos -> five comparison levels; one video -> five ratings (Sec. 3)


def check_mode(mode: str, name: str) -> str:
    if mode not in MODES:
        raise UserError(f"student {name}: mode {mode!r} is not one of {', '.join(MODES)}")
    return mode


def register_student(name: str):
    return decorator_setting(STUDENTS, name, NAME=name)


def get_student_class(name: str) -> type[nn.Module]:
    return STUDENTS.get(name)


def _projector(in_dim: int, hidden: int) -> nn.Sequential:
    """A two-layer MLP projector (P_I, P_M of W2S Appendix C.1)."""
    return nn.Sequential(PortableLinear(in_dim, hidden), nn.GELU(), PortableLinear(hidden, hidden))


@register_student("pair_transformer")
class PairTransformer(nn.Module):
    ENCODERS = ("efficientnet_lite0", "motion")
    MAX_FRAMES = 64

    def __init__(self, in_dim: int, spatial_dim: int, hidden: int = 128, layers: int = 2, heads: int = 4,
                 dropout: float = 0.1, mode: str = "pairwise"):  # fmt: skip
        super().__init__()
        if not 0 < spatial_dim < in_dim:
            raise ValueError(f"spatial_dim {spatial_dim} must split in_dim {in_dim} into two branches")
        self.in_dim, self.spatial_dim, self.hidden = in_dim, spatial_dim, hidden
        self.mode = check_mode(mode, "pair_transformer")
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.spatial = _projector(spatial_dim, hidden)
        self.motion = _projector(in_dim - spatial_dim, hidden)
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
        self.video_embedding = nn.Parameter(torch.zeros(2, hidden))
        self.position = nn.Parameter(torch.zeros(self.MAX_FRAMES, hidden))
        self.encoder = nn.Sequential(*(PortableEncoderLayer(hidden, heads, 2 * hidden, dropout) for _ in range(layers)))
        self.norm = nn.LayerNorm(hidden)
        self.head = PortableLinear(hidden, 5)
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.video_embedding, std=0.02)

    def set_input_statistics(self, x: torch.Tensor) -> None:
        from vqaloop.features.inputs import frame_statistics

        mean, std = frame_statistics(x)  # flat.mean(0), flat.std(0); LazyInputs read in chunks
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-6))

    def video_tokens(self, x: torch.Tensor, which: int) -> torch.Tensor:
        """(B, F, D) -> (B, F, H): one token per frame, its spatial and motion projections fused (W2S Eq. 21)."""
        z = (x - self.mean) / self.std
        tokens = self.spatial(z[..., : self.spatial_dim]) + self.motion(z[..., self.spatial_dim :])
        return tokens + self.position[: x.shape[1]] + self.video_embedding[which]

    def forward(self, first: torch.Tensor, second: torch.Tensor | None = None) -> torch.Tensor:
        """Pairwise: (B, 5) level logits of ``second`` compared to ``first``; pointwise (``second`` None): (B, 5)
        rating logits of ``first`` alone ([CLS] + its frame tokens through the same encoder and head)."""
        if (second is None) != (self.mode == "pointwise"):
            raise ValueError(f"a {self.mode} student takes {'one' if self.mode == 'pointwise' else 'two'} input(s)")
        parts = [self.cls.expand(len(first), -1, -1), self.video_tokens(first, 0)]
        if second is not None:
            parts.append(self.video_tokens(second, 1))
        return self.head(self.norm(self.encoder(torch.cat(parts, dim=1))[:, 0]))


def is_pointwise(checkpoint: StudentCheckpoint) -> bool:
    """Whether a checkpoint's student rates single videos (``mode`` pointwise) instead of comparing pairs."""
    return checkpoint.kwargs.get("mode", "pairwise") == "pointwise"


@dataclass
class StudentCheckpoint:
    name: str
    kwargs: dict
    state_dict: dict
    encoders: tuple[str, ...]
    meta: dict = field(default_factory=dict)

    def build(self) -> nn.Module:
        model = get_student_class(self.name)(**self.kwargs)
        model.load_state_dict(self.state_dict)
        model.eval()
        return model

    def save(self, path: str | Path) -> None:
        """Atomic and byte-deterministic: serialised in memory (fixed record name), then written."""
        from vqaloop.io.atomic import atomic_path

        payload = {"kind": STUDENT_KIND, "name": self.name, "kwargs": self.kwargs, "encoders": list(self.encoders),
                   "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()},
                   "meta": self.meta}  # fmt: skip
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getvalue())


def load_student(path: str | Path) -> StudentCheckpoint:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: student checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"{path}: not a vqaloop checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("kind") != STUDENT_KIND:
        what = "a base-model checkpoint" if isinstance(payload, dict) and "name" in payload else "not a checkpoint"
        raise UserError(f"{path}: not a W2S student checkpoint ({what})")
    return StudentCheckpoint(payload["name"], payload["kwargs"], payload["state_dict"], tuple(payload["encoders"]),
                             payload.get("meta", {}))  # fmt: skip
