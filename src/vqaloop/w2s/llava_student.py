"""The W2S-VQA student at paper scale: LLaVA-OneVision with a motion branch, answering with a level word.

Student ``llava_onevision`` of the registry in ``vqaloop.w2s.students`` (same interface as ``pair_transformer``):
``forward(first, second)`` maps two batches of per-video inputs (B, F, D) to the (B, 5) logits of the five level
tokens, in the order of ``soft_comparison.LEVELS`` (inferior, worse, similar, better, superior) = the second video's
quality compared to the first. Inputs are the ``frames`` encoder's key frames (each an S x S RGB frame flattened,
``features/frames.py``) followed by the motion encoder's features of the one-second chunk that starts at each key
frame (``features/motion3d.py``: ``slowfast`` at paper scale, ``motion3d`` in tests), so D = 3 S^2 + M.

Model (W2S-VQA Appendix C.1, Eqs. 21-22; the authors' LLaVA-OneVision fork, commit 2c7ca75):

- spatial branch: the key frames through LLaVA-OneVision's own SigLIP tower, its two-layer projector P_I and its
  2x2 bilinear pooling (``get_video_features``): P tokens a frame, plus the model's newline token after the video;
- motion branch: each chunk's motion features, standardised (the training set's mean and std), through a new
  two-layer MLP projector P_M (Linear M -> H, GELU, Linear H -> H, H = the LM's hidden size: the authors'
  ``slowfast_projector``, 256 -> 3584 -> 3584 with GELU): one token a chunk;
- fusion (option ``fusion``): ``interleave`` (default, Eq. 21: f^v = Concat([f_k^s, f_k^t] for k), each key frame's
  P tokens followed by its chunk's motion token, then the newline) or ``append`` (the authors' code: all frame
  tokens, the newline, then all motion tokens). The video's tokens replace one run of ``<video>`` placeholder
  tokens in the prompt's embeddings, as the model's own forward does (``masked_scatter``), one run per video;
- prompt: W2S-VQA Appendix B.2's dual-video question in the Qwen2 chat layout of the authors' ``preprocess_qwen``
  (system "You are a helpful assistant."), the assistant's answer begun with "The quality of the second video
  is"; the LM's logits at that last position, restricted to the five level words (each one token, with its leading
  space: Qwen2's " inferior" ... " superior"; the authors' ``infer_pair.py`` reads the same five token ids).

Training: LoRA (peft, rank ``lora_rank``, alpha 2 x rank, no dropout) on the language model's linear layers plus
P_M are trained, both in float32 whatever ``dtype`` the model runs in; the vision tower, P_I and the LM's own weights stay frozen (the authors fine-tune the whole model
with DeepSpeed; LoRA keeps a 7B student on one GPU and keeps the checkpoint small). With ``lora_rank: 0`` only P_M
trains. The checkpoint (``StudentCheckpoint``) stores ``weights`` (the pretrained folder or hub id) in its kwargs
and only the trainable tensors (LoRA, P_M, the motion statistics) in its state: never the pretrained weights.

Mode pointwise (``mode="pointwise"``, W2S-VQA Sec. 3: the straightforward students of Table 5): one video, the
single-video prompt of Appendix B.2 ("What is your overall rating of the quality of this video?", the answer
"[quality score]" begun right after the assistant turn opens), and the LM's logits at that position for the rating
tokens "1" ... "5" (each one token in Qwen2's vocabulary); ``forward(x)`` -> (B, 5) rating logits, scored by
``vqaloop.w2s.pointwise`` (expected rating) and trained there with cross-entropy on per-video targets.

Batches: ``train.py`` and ``scoring.py`` hand whole batches (up to 512 pairs when scoring); the student runs them
``per_device_batch`` pairs at a time. With gradients on and more than one such chunk, each chunk's language-model
pass is checkpointed (``torch.utils.checkpoint``), so memory is one chunk's activations whatever the batch. The
vision tower runs without gradients (nothing in it trains). Inputs may live on the CPU; the student moves them to
its device and returns float32 logits on the inputs' device, so the training loop and the loss need no change.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from vqaloop.errors import UserError
from vqaloop.w2s.soft_comparison import LEVELS
from vqaloop.w2s.students import check_mode, register_student

SYSTEM_PROMPT = "You are a helpful assistant."  # preprocess_qwen (2c7ca75)
# W2S-VQA Appendix B.2; VIDEO marks where a video's tokens go
VIDEO = "<video>"
SINGLE_VIDEO_PROMPT = (
    f"You will now receive a video: {VIDEO}. Please watch the video carefully and answer the following question: "
    "What is your overall rating of the quality of this video?"
)
DUAL_VIDEO_PROMPT = (
    f"You will now receive two videos. The first video: {VIDEO}. The second video: {VIDEO}. Please watch both "
    "videos carefully and answer the following question: Compared to the first video, how would you rate the "
    "quality of the second video?"
)
ANSWER_PREFIX = "The quality of the second video is"  # Appendix B.2: "... is [level] compared to the first video."
RATING_TOKENS = ("1", "2", "3", "4", "5")  # Appendix B.2's single-video answer "[quality score]" (pointwise mode)
FUSIONS = ("interleave", "append")
OPTIONS = ("weights", "motion", "lora_rank", "dtype", "device", "per_device_batch", "fusion")
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def chat_text(question: str, answer_prefix: str) -> str:
    """The Qwen2 chat layout of the authors' preprocess_qwen, the assistant's answer begun (no end token)."""
    return (f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            f"<|im_start|>assistant\n{answer_prefix}")  # fmt: skip


def level_token_ids(tokenizer, where: str) -> list[int]:
    """The ids of " inferior" ... " superior" (LEVELS order); UserError unless each is exactly one token."""
    ids = []
    for word in LEVELS:
        got = tokenizer.encode(" " + word, add_special_tokens=False)
        if len(got) != 1:
            raise UserError(f"{where}: the level word {' ' + word!r} is {len(got)} tokens in this tokenizer, not one")
        ids.append(int(got[0]))
    return ids


def rating_token_ids(tokenizer, where: str) -> list[int]:
    """The ids of the rating tokens "1" ... "5" (pointwise mode); UserError unless each is exactly one token."""
    ids = []
    for digit in RATING_TOKENS:
        got = tokenizer.encode(digit, add_special_tokens=False)
        if len(got) != 1:
            raise UserError(f"{where}: the rating {digit!r} is {len(got)} tokens in this tokenizer, not one")
        ids.append(int(got[0]))
    return ids


def motion_projector(in_dim: int, hidden: int) -> nn.Sequential:
    """P_M: a two-layer MLP with GELU (W2S-VQA Eq. 21; the authors' slowfast_projector, mlp2x_gelu)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))


@register_student("llava_onevision")
class LlavaOnevisionStudent(nn.Module):
    """LLaVA-OneVision + motion projector comparing two videos through the level-token logits (module doc)."""

    ENCODERS = ("frames", "motion3d")  # the default; ``encoders_for`` names the configured motion encoder

    def __init__(self, in_dim: int, spatial_dim: int, weights: str, lora_rank: int = 64, dtype: str = "float32",
                 device: str = "cpu", per_device_batch: int = 2, fusion: str = "interleave",
                 mode: str = "pairwise"):  # fmt: skip
        super().__init__()
        from vqaloop.vlm.loading import load_vlm, torch_dtype

        side = int(round((spatial_dim / 3) ** 0.5))
        if side * side * 3 != spatial_dim or not 0 < spatial_dim < in_dim:
            raise UserError(f"student llava_onevision: inputs of {in_dim} values do not start with S*S*3 frame values "
                            f"(spatial_dim {spatial_dim}) followed by motion features")  # fmt: skip
        if fusion not in FUSIONS:
            raise UserError(f"student llava_onevision: fusion {fusion!r} is not one of {', '.join(FUSIONS)}")
        if per_device_batch < 1 or lora_rank < 0:
            raise UserError(f"student llava_onevision: per_device_batch must be >= 1 and lora_rank >= 0, got "
                            f"{per_device_batch}, {lora_rank}")  # fmt: skip
        self.in_dim, self.spatial_dim, self.frame_size = in_dim, spatial_dim, side
        self.weights, self.fusion, self.per_device_batch = str(weights), fusion, per_device_batch
        self.mode = check_mode(mode, "llava_onevision")
        self.device_name, self.dtype = device, torch_dtype(dtype)
        self.vlm, self.processor = load_vlm(self.weights, "llava_onevision", dtype=dtype, device=device)
        self.vlm.requires_grad_(False)
        if self.mode == "pairwise":
            self.level_ids = level_token_ids(self.processor.tokenizer, self.weights)
            self.answer_ids, self.question, self.answer_prefix = self.level_ids, DUAL_VIDEO_PROMPT, ANSWER_PREFIX
        else:
            self.answer_ids = rating_token_ids(self.processor.tokenizer, self.weights)
            self.question, self.answer_prefix = SINGLE_VIDEO_PROMPT, ""
        self.video_token_id = int(self.vlm.config.video_token_id)
        hidden = int(self.vlm.config.text_config.hidden_size)
        if lora_rank:
            from peft import LoraConfig, inject_adapter_in_model

            config = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0, target_modules=LORA_TARGETS)
            inject_adapter_in_model(config, self.vlm)
            for name, param in self.vlm.named_parameters():  # adapters train in float32 whatever the base dtype
                if ".lora_" in name:
                    param.data = param.data.float()
        motion_dim = in_dim - spatial_dim
        self.motion_projector = motion_projector(motion_dim, hidden).to(device)
        self.register_buffer("motion_mean", torch.zeros(motion_dim, device=device))
        self.register_buffer("motion_std", torch.ones(motion_dim, device=device))
        self._prompt_cache: dict[int, torch.Tensor] = {}

    # ---- configuration hooks used by ``vqaloop w2s-train`` ----
    @classmethod
    def encoders_for(cls, options: dict) -> tuple[str, str]:
        """The features files the student reads: key frames, then the configured motion encoder."""
        motion = options.get("motion", "motion3d")
        if motion not in ("motion3d", "slowfast"):
            raise UserError(f"--student-options: motion {motion!r} is not one of motion3d, slowfast")
        return ("frames", motion)

    @classmethod
    def kwargs_for(cls, options: dict, dims: list[int]) -> dict:
        """Constructor arguments from the student's options and the dims of its encoders' features."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise UserError(f"--student-options: llava_onevision takes no option {unknown[0]!r} "
                            f"(its options: {', '.join(OPTIONS)})")  # fmt: skip
        if not options.get("weights"):
            raise UserError("--student-options: llava_onevision needs 'weights' (a LLaVA-OneVision folder or hub id)")
        kwargs = {"in_dim": int(sum(dims)), "spatial_dim": int(dims[0]), "weights": str(options["weights"])}
        kwargs.update({k: options[k] for k in OPTIONS if k not in ("weights", "motion") and k in options})
        return kwargs

    def set_input_statistics(self, x: torch.Tensor) -> None:
        """The motion features' mean and std over every frame of the training inputs (standardisation)."""
        from vqaloop.features.inputs import frame_statistics

        mean, std = frame_statistics(x, slice(self.spatial_dim, None))  # LazyInputs read in chunks
        self.motion_mean.copy_(mean)
        self.motion_std.copy_(std.clamp_min(1e-6) if len(x) * x.shape[1] > 1 else torch.ones_like(mean))

    # ---- checkpoint: trainable tensors only ----
    def trainable_names(self) -> list[str]:
        return [name for name, p in self.named_parameters() if p.requires_grad]

    def state_dict(self, *args, **kwargs) -> OrderedDict:
        """LoRA, P_M and the motion statistics: never the pretrained weights (they stay at ``weights``)."""
        params = dict(self.named_parameters())
        state = OrderedDict((name, params[name].detach()) for name in self.trainable_names())
        state["motion_mean"], state["motion_std"] = self.motion_mean.detach(), self.motion_std.detach()
        return state

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        expected = set(self.trainable_names()) | {"motion_mean", "motion_std"}
        if set(state_dict) != expected:
            missing, extra = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
            raise UserError(f"student llava_onevision: checkpoint tensors do not fit the model (missing {missing[:3]}, "
                            f"unexpected {extra[:3]}); was it trained with another lora_rank or motion encoder?")  # fmt: skip
        tensors = dict(self.named_parameters()) | {"motion_mean": self.motion_mean, "motion_std": self.motion_std}
        wrong = [k for k, v in state_dict.items() if tuple(v.shape) != tuple(tensors[k].shape)]
        if wrong:
            raise UserError(f"student llava_onevision: checkpoint tensors do not fit the model ({wrong[0]}: "
                            f"{tuple(state_dict[wrong[0]].shape)}, the model has {tuple(tensors[wrong[0]].shape)})")  # fmt: skip
        with torch.no_grad():
            for name, value in state_dict.items():
                tensors[name].copy_(value.to(tensors[name].device, tensors[name].dtype))
        return nn.modules.module._IncompatibleKeys([], [])

    # ---- inputs ----
    def videos(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, F, D) inputs -> N uint8 (F, S, S, 3) key-frame videos (the ``frames`` encoder's rows)."""
        from vqaloop.features.frames import rows_to_frames

        frames = rows_to_frames(x[..., : self.spatial_dim].detach().cpu().numpy(), self.frame_size)
        return [torch.from_numpy(np.ascontiguousarray(v)) for v in frames]

    def prompt_ids(self, tokens_per_video: int) -> torch.Tensor:
        """(1, L) ids of the mode's prompt (dual-video; pointwise: single-video) with a run of ``tokens_per_video``
        video tokens for each video."""
        if tokens_per_video not in self._prompt_cache:
            tokenizer = self.processor.tokenizer
            pieces = chat_text(self.question, self.answer_prefix).split(VIDEO)
            ids: list[int] = []
            for i, piece in enumerate(pieces):
                ids += tokenizer.encode(piece, add_special_tokens=False)
                if i < len(pieces) - 1:
                    ids += [self.video_token_id] * tokens_per_video
            self._prompt_cache[tokens_per_video] = torch.tensor([ids], dtype=torch.long)
        return self._prompt_cache[tokens_per_video]

    @torch.no_grad()
    def frame_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F, P + ...) -> (N, F * P + 1, H): SigLIP + P_I + pooling of the key frames, newline last (frozen)."""
        pixels = self.processor.video_processor(videos=self.videos(x), return_tensors="pt")["pixel_values_videos"]
        pixels = pixels.to(self.device_name, self.dtype)
        tokens = self.vlm.get_video_features(pixels).pooler_output  # positional: the keyword differs across 5.x
        vision = self.vlm.config.vision_config
        per_frame = math.ceil(vision.image_size // vision.patch_size / 2) ** 2  # after the 2x2 pooling
        if tokens.shape[1] == x.shape[1] * per_frame:  # transformers < 5.25 adds the newline in forward instead
            newline = self.vlm.model.image_newline.to(tokens.dtype)
            tokens = torch.cat([tokens, newline.expand(len(tokens), 1, -1)], dim=1)
        if tokens.shape[1] != x.shape[1] * per_frame + 1:
            raise RuntimeError(f"LLaVA-OneVision gave {tokens.shape[1]} tokens for {x.shape[1]} frames")
        return tokens

    def motion_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F, D) -> (N, F, H): P_M of the standardised motion features, one token per chunk (Eq. 21: f_k^t)."""
        m = x[..., self.spatial_dim :].to(self.device_name, torch.float32)
        return self.motion_projector((m - self.motion_mean) / self.motion_std)

    def fuse(self, frame_tokens: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """One video's token sequence (N, T, H) from its frame tokens (newline last) and motion tokens (doc)."""
        motion = motion.to(frame_tokens.dtype)
        if self.fusion == "append":  # the authors' code: frames, newline, motion
            return torch.cat([frame_tokens, motion], dim=1)
        n, f = motion.shape[:2]
        per_frame = frame_tokens[:, :-1].reshape(n, f, -1, frame_tokens.shape[-1])
        interleaved = torch.cat([per_frame, motion[:, :, None]], dim=2).reshape(n, -1, frame_tokens.shape[-1])
        return torch.cat([interleaved, frame_tokens[:, -1:]], dim=1)  # Eq. 21: [f_k^s, f_k^t] for k, newline

    def inputs_embeds(self, first_tokens: torch.Tensor, second_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, H) prompt embeddings with each row's video token runs replaced by the videos' tokens (a pair's
        two; pointwise: one)."""
        ids = self.prompt_ids(first_tokens.shape[1]).to(self.device_name).expand(len(first_tokens), -1)
        embeds = self.vlm.get_input_embeddings()(ids)
        runs = [first_tokens] if second_tokens is None else [first_tokens, second_tokens]
        visual = torch.cat(runs, dim=1).to(embeds.dtype)  # row order = placeholder order
        mask = (ids == self.video_token_id)[..., None].expand_as(embeds)
        return embeds.masked_scatter(mask, visual)

    def level_logits(self, first_tokens: torch.Tensor, second_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 5) LM logits of the answer tokens at the answer position (the prompt's last token): the level words
        (pairwise) or the ratings "1" ... "5" (pointwise)."""
        embeds = self.inputs_embeds(first_tokens, second_tokens)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        logits = self.vlm(inputs_embeds=embeds, attention_mask=mask, logits_to_keep=1).logits[:, -1]
        return logits[:, self.answer_ids].float()

    def video_sequence(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.frame_tokens(x), self.motion_tokens(x))

    def forward(self, first: torch.Tensor, second: torch.Tensor | None = None) -> torch.Tensor:
        from torch.utils.checkpoint import checkpoint

        if (second is None) != (self.mode == "pointwise"):
            raise ValueError(f"a {self.mode} student takes {'one' if self.mode == 'pointwise' else 'two'} input(s)")
        step = self.per_device_batch
        chunked = torch.is_grad_enabled() and len(first) > step
        out = []
        for i in range(0, len(first), step):
            runs = [self.video_sequence(v[i : i + step]) for v in (first, second) if v is not None]
            if chunked:  # one chunk's LM activations at a time; recomputed in the backward pass
                out.append(checkpoint(self.level_logits, *runs, use_reentrant=False))
            else:
                out.append(self.level_logits(*runs))
        return torch.cat(out).to(first.device)
