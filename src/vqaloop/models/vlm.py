"""Base model ``visualquality_r1``: VisualQuality-R1 (Qwen2.5-VL) scoring videos, the paper's f (MDS-VQA Sec. 4.1).

Input: the ``frames`` encoder's rows, x (N, F, size*size*3), turned back into uint8 frames (``videos``).
``forward(x)`` is the deterministic expected score of ``vqaloop.vlm.scoring.expected_scores``: the Table-10
prompt (or Table 1 for ``prompt="failure"``), the assistant turn opened with an empty think block and
``<answer>``, one forward pass, softmax over the tokens "1".."5", expectation (N,) in [1, 5]. Training is GRPO
(``TRAINER = "grpo"``, ``vqaloop.training.vlm_grpo``) on a LoRA; this class only holds the model and its adapters.

Checkpoints keep no pretrained weight. The constructor loads them from ``weights`` (an HF model folder or a
cached hub id, stored in the checkpoint's kwargs); ``state_dict()`` returns only LoRA tensors, as
``lora.<i>.<module>.lora_A.weight`` / ``lora_B.weight`` for adapter i of ``kwargs["lora"]`` (the list of
adapter settings), and ``load_state_dict`` accepts exactly those, so ``registry.Checkpoint`` saves and builds this
class unchanged. Adapters stack: ``add_lora`` on a model that already has a live adapter (g on a GRPO-trained f)
merges the live one into the weights first, W <- W + (alpha / r) B A (MDS-VQA Eq. 2, computed as peft does),
and keeps its tensors; building from the checkpoint redoes that merge with the same arithmetic, so the rebuilt
model is bit-identical to the trained one. ``LORA_TARGETS`` is a regular expression (peft full-matches it against
module names): the q/k/v/o and gate/up/down projections of the language model's decoder layers, not the vision
tower or its merger, and not ``lm_head`` (the read-out of the score tokens stays f's; SPEC "VisualQuality-R1"),
unless asked (``vqaloop.training.vlm_grpo.lora_targets``: the MDS-VQA authors' trainer adapts ``lm_head`` too).
``scoring="sampled"`` (config ``grpo.scores``) scores by one sampled answer instead (``scoring.sampled_scores``).

``frame_embeddings(x)`` (the ``base`` diversity encoder): the last hidden state (after the final norm) of the
video tokens, averaged per frame. Qwen2.5-VL patches frames in temporal pairs (``temporal_patch_size`` 2) and
merges 2x2 spatial patches, so its video tokens are ordered (t, h/2, w/2) with t = ceil(F / 2): tokens of
temporal step t stand for frames 2t and 2t+1 together. Frame j therefore gets the mean over the tokens of step
j // 2; the two frames of a pair share one embedding (an odd last frame is paired with its repeat by the
processor). (N, F, H) with H the language model's hidden size.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from vqaloop.errors import UserError
from vqaloop.models.registry import register_base_model

LM_LINEAR_RE = r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])(\.[^.]+)?\.weight$")
PEFT_PREFIX = "base_model.model."
SCORINGS = ("deterministic", "sampled")  # config grpo.scores


@register_base_model("visualquality_r1")
class VisualQualityR1(nn.Module):
    LORA_TARGETS = LM_LINEAR_RE
    ARCH = "qwen2_5_vl"

    def __init__(
        self,
        in_dim: int | None = None,
        hidden: int | None = None,
        *,
        weights: str,
        frames: int = 8,
        frame_size: int = 224,
        dtype: str = "float32",
        prompt: str = "quality",
        fps: float | None = None,
        batch: int = 8,
        lora: list[dict] | None = None,
        device: str = "auto",
        scoring: str = "deterministic",
        sample_tokens: int = 2048,
    ):
        super().__init__()
        from vqaloop.vlm.loading import load_vlm
        from vqaloop.vlm.prompts import answer_prefix, prompt_text

        if in_dim is not None and in_dim != frame_size * frame_size * 3:
            raise UserError(f"visualquality_r1: input dim {in_dim} is not frame_size^2 * 3 ({frame_size}): "
                            "features.encoders.frames.size must match the model's frame_size")  # fmt: skip
        self.weights, self.frames, self.frame_size, self.dtype_name = str(weights), frames, frame_size, dtype
        self.prompt_name, self.fps, self.batch = prompt, fps, batch
        if scoring not in SCORINGS:
            raise UserError(f"visualquality_r1: scoring {scoring!r} is not one of {', '.join(SCORINGS)}")
        self.scoring, self.sample_tokens = scoring, int(sample_tokens)
        self.prompt, self.answer_prefix = prompt_text(prompt), answer_prefix(prompt)
        # "auto": the job's GPU when it has one (vqaloop gpu-run gives each GPU job its own), else the CPU; not kept
        # in the checkpoint, so a model trained on a GPU scores on a CPU-only machine and the other way round
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        vlm, self.processor = load_vlm(weights, self.ARCH, dtype=dtype, device=device)
        for p in vlm.parameters():
            p.requires_grad_(False)
        self.vlm = vlm
        self.lora: list[dict] = []
        self._merged: list[dict[str, torch.Tensor]] = []  # tensors of the adapters merged into the weights
        for settings in lora or []:
            self.add_lora(**settings)

    def init_kwargs(self) -> dict:
        """The constructor arguments that rebuild this model, adapters included (a Checkpoint's ``kwargs``)."""
        return {"weights": self.weights, "frames": self.frames, "frame_size": self.frame_size,
                "dtype": self.dtype_name, "prompt": self.prompt_name, "fps": self.fps, "batch": self.batch,
                "lora": [dict(s) for s in self.lora], "scoring": self.scoring,
                "sample_tokens": self.sample_tokens}  # fmt: skip

    # ---- inputs ----
    def videos(self, x: torch.Tensor) -> list[np.ndarray]:
        """(N, F, D) frames-encoder rows -> N uint8 videos (F, frame_size, frame_size, 3)."""
        from vqaloop.features.frames import rows_to_frames

        array = rows_to_frames(x.detach().float().cpu().numpy(), self.frame_size)
        return [array[i] for i in range(len(array))]

    def set_input_statistics(self, x: torch.Tensor) -> None:
        """Nothing to standardise: the VLM's processor normalises pixels itself."""

    # ---- scores and embeddings ----
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) expected score in [1, 5] (float32), one forward pass per ``batch`` videos; with ``scoring``
        "sampled" one sampled answer per video, parsed (the MDS-VQA authors' inference; ``sampled_scores``)."""
        from vqaloop.vlm.scoring import expected_scores, sampled_scores

        if self.scoring == "sampled":
            scores = sampled_scores(self.vlm, self.processor, self.videos(x), self.prompt, fps=self.fps,
                                    max_new_tokens=self.sample_tokens)  # fmt: skip
            return scores.to(x.device)
        scores = expected_scores(self.vlm, self.processor, self.videos(x), self.prompt,
                                 answer_prefix=self.answer_prefix, fps=self.fps, batch_size=self.batch)  # fmt: skip
        return scores.to(x.device)  # on the inputs' device, as every base model (models.inputs.predict)

    def frame_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F, H): last hidden state averaged over each frame's video tokens (frames 2t, 2t+1 share step t)."""
        from vqaloop.vlm.scoring import to_model, video_inputs

        videos = self.videos(x)
        out = []
        for start in range(0, len(videos), self.batch):
            chunk = videos[start : start + self.batch]
            inputs = video_inputs(self.processor, chunk, self.prompt, self.answer_prefix, fps=self.fps)
            hidden = self.vlm(**to_model(inputs, self.vlm), output_hidden_states=True, use_cache=False)
            out.append(per_frame_means(hidden.hidden_states[-1], inputs, self.video_token_id(), x.shape[1]))
        return torch.cat(out).float().to(x.device)

    def video_token_id(self) -> int:
        tok = self.processor.tokenizer
        return int(tok.convert_tokens_to_ids(getattr(self.processor, "video_token", "<|video_pad|>")))

    # ---- LoRA adapters (checkpoints hold only these) ----
    def add_lora(self, r: int, alpha: int | None = None, dropout: float = 0.05, targets: str | None = None):
        """Attach a trainable LoRA (alpha defaults to 2r; LM linear layers); an earlier live adapter is merged
        into the weights first. Returns ``self.vlm``, now a peft model (base weights frozen)."""
        from peft import LoraConfig, get_peft_model

        settings = {"r": int(r), "alpha": int(alpha or 2 * r), "dropout": float(dropout),
                    "targets": targets or self.LORA_TARGETS}  # fmt: skip
        if self.lora:
            live = self.live_lora_tensors()
            self.vlm = self.vlm.unload()  # drop the LoRA layers, base weights untouched
            merge_lora(self.vlm, live, self.lora[-1], sign=1.0)
            self._merged.append(live)
        config = LoraConfig(r=settings["r"], lora_alpha=settings["alpha"], lora_dropout=settings["dropout"],
                            target_modules=settings["targets"], bias="none")  # fmt: skip
        self.vlm = get_peft_model(self.vlm, config)
        self.lora.append(settings)
        return self.vlm

    def live_lora_tensors(self) -> dict[str, torch.Tensor]:
        """The live adapter's tensors, keyed ``<module of the plain model>.lora_A.weight`` (copies)."""
        out = {}
        for name, p in self.vlm.named_parameters():
            match = LORA_KEY.match(name)
            if match and ".lora_" in name:
                module = match["module"].removeprefix(PEFT_PREFIX)
                out[f"{module}.lora_{match['ab']}.weight"] = p.detach().clone()
        return dict(sorted(out.items()))

    def state_dict(self, *args, **kwargs) -> OrderedDict:  # noqa: D102 (see the module docstring)
        state = OrderedDict()
        adapters = [*self._merged, self.live_lora_tensors()] if self.lora else []
        for i, tensors in enumerate(adapters):
            for key, value in tensors.items():
                state[f"lora.{i}.{key}"] = value.detach().cpu()
        return state

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load LoRA tensors saved by ``state_dict`` (same adapters, same modules: anything else is an error)."""
        groups: list[dict[str, torch.Tensor]] = [{} for _ in self.lora]
        for key, value in state_dict.items():
            match = re.match(r"^lora\.(\d+)\.(.+)$", key)
            if not match or int(match[1]) >= len(self.lora):
                raise UserError(f"visualquality_r1 checkpoint: unexpected tensor {key!r} (adapters: {len(self.lora)})")
            groups[int(match[1])][match[2]] = value
        for i, tensors in enumerate(groups[:-1]):  # merged adapters: replace their delta in the weights
            if set(tensors) != set(self._merged[i]):
                raise UserError(f"visualquality_r1 checkpoint: adapter {i} tensors do not match its settings")
            merge_lora(self.vlm, self._merged[i], self.lora[i], sign=-1.0, skip_zero=True)
            merge_lora(self.vlm, tensors, self.lora[i], sign=1.0)
            self._merged[i] = {k: v.detach().clone() for k, v in tensors.items()}
        if groups:
            self.load_live(groups[-1])
        return torch.nn.modules.module._IncompatibleKeys([], [])

    def load_live(self, tensors: dict[str, torch.Tensor]) -> None:
        params = dict(self.vlm.named_parameters())
        live = self.live_lora_tensors()
        if set(tensors) != set(live):
            missing = sorted(set(live) - set(tensors))[:1] or sorted(set(tensors) - set(live))[:1]
            raise UserError(f"visualquality_r1 checkpoint: LoRA tensors do not match the adapter ({missing[0]})")
        for key, value in tensors.items():
            match = LORA_KEY.match(key)
            name = f"{PEFT_PREFIX}{match['module']}.lora_{match['ab']}.default.weight"
            with torch.no_grad():
                params[name].copy_(value.to(params[name].dtype))


def lora_delta(a: torch.Tensor, b: torch.Tensor, settings: dict, dtype: torch.dtype) -> torch.Tensor:
    """(alpha / r) B A in ``dtype``, computed as peft's ``Linear.get_delta_weight`` does (fp32 for half on CPU)."""
    cast = b.device.type == "cpu" and b.dtype in (torch.float16, torch.bfloat16)
    a, b = (a.float(), b.float()) if cast else (a, b)
    delta = (b @ a) * (settings["alpha"] / settings["r"])
    return delta.to(dtype)


def merge_lora(model: nn.Module, tensors: dict, settings: dict, sign: float, skip_zero: bool = False) -> None:
    """W <- W + sign * (alpha / r) B A for every module of one adapter (MDS-VQA Eq. 2) in a plain or peft model."""
    modules = dict(model.named_modules())
    for key, a in tensors.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module_name = key.removesuffix(".lora_A.weight")
        b = tensors[f"{module_name}.lora_B.weight"]
        if skip_zero and not b.any():
            continue
        module = modules.get(module_name) or modules.get(PEFT_PREFIX + module_name)
        if module is None:
            raise UserError(f"visualquality_r1 checkpoint: no module {module_name!r} in the model")
        linear = getattr(module, "base_layer", module)
        with torch.no_grad():
            delta = lora_delta(a.to(linear.weight.device), b.to(linear.weight.device), settings, linear.weight.dtype)
            linear.weight.data += sign * delta


def per_frame_means(hidden: torch.Tensor, inputs: dict, video_token_id: int, n_frames: int) -> torch.Tensor:
    """(N, F, H): mean hidden state of the video tokens of temporal step j // 2 for frame j (see module doc)."""
    grid = inputs["video_grid_thw"]
    merge = 4  # 2x2 spatial merge of Qwen2.5-VL
    rows = []
    for i in range(hidden.shape[0]):
        mask = (inputs["input_ids"][i] == video_token_id).to(hidden.device)
        tokens = hidden[i][mask]  # (t * h * w / 4, H), ordered (t, h/2, w/2)
        t, h, w = (int(v) for v in grid[i])
        steps = tokens.reshape(t, (h * w) // merge, -1).mean(1)  # (t, H)
        index = torch.clamp(torch.arange(n_frames, device=steps.device) // 2, max=t - 1)
        rows.append(steps[index])
    return torch.stack(rows)


def is_vlm_checkpoint_kwargs(kwargs: dict) -> bool:
    """True for the kwargs of a ``visualquality_r1`` checkpoint (they name the pretrained weights)."""
    return isinstance(kwargs, dict) and "weights" in kwargs and isinstance(kwargs["weights"], str | os.PathLike)
