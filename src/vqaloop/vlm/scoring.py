"""Deterministic quality scores from a VLM: one forward pass, expectation over the score digits.

``video_inputs`` builds the model inputs for N videos: the chat prompt (one video, then the prompt text), the
assistant turn opened, and an answer prefix (e.g. ``<answer>``) so that the *next* token is the score's leading
digit. Sequences are left-padded, so the last position of every row is that answer position.

``expected_scores`` runs ONE forward pass and reads the logits z of the next token at that position, restricted
to the tokens "1" .. "5": p_k = softmax(z_1 .. z_5)_k, score = sum_k k p_k (the expectation over the rating
levels, as Q-Align scores an LMM; SPEC "VisualQuality-R1": its users ask for deterministic scores instead of
sampled ones). No sampling, no generation: the same inputs give the same bits, and the score is differentiable
(no ``no_grad`` inside; callers scoring only wrap it themselves).

``generate_scores`` is the sampled-free text route (greedy ``generate()``, then ``parse_score``), kept for
comparison (benchmarks/bench_vlm_scoring.py): it costs one forward per generated token and its answers can be
unparsable; ``AnswerStats`` counts them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vqaloop.errors import UserError
from vqaloop.vlm.answers import AnswerStats
from vqaloop.vlm.prompts import SCORE_TOKENS

DEFAULT_FPS = 2.0  # qwen-vl-utils' default sampling rate (VisualQuality-R1 / Qwen2.5-VL), used when not given


def chat_text(processor, prompt: str, answer_prefix: str) -> str:
    """The chat prompt: one user turn (a video, then ``prompt``), the assistant turn opened, then the prefix."""
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return text + answer_prefix


def check_videos(videos: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The videos as uint8 (T, H, W, 3) arrays; UserError for anything else."""
    if len(videos) == 0:
        raise UserError("video_inputs: no videos given")
    out = []
    for i, video in enumerate(videos):
        array = np.asarray(video)
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] == 0:
            raise UserError(f"video {i}: expected uint8 frames (T, H, W, 3), got {array.dtype} {array.shape}")
        out.append(np.ascontiguousarray(array))
    return out


def video_metadata(videos: Sequence[np.ndarray], fps: float | Sequence[float] | None) -> list[dict]:
    """Per video the rate its frames were sampled at (sets Qwen2.5-VL's temporal RoPE step ``second_per_grid_ts``;
    without it the processor assumes 24 fps)."""
    rates = list(fps) if isinstance(fps, Sequence) else [fps] * len(videos)
    if len(rates) != len(videos):
        raise UserError(f"fps: {len(rates)} rates for {len(videos)} videos")
    rates = [DEFAULT_FPS if r is None else float(r) for r in rates]
    return [
        {"total_num_frames": len(v), "fps": r, "frames_indices": list(range(len(v)))}
        for v, r in zip(videos, rates, strict=True)
    ]


def video_inputs(
    processor,
    videos: Sequence[np.ndarray],
    prompt: str,
    answer_prefix: str = "<answer>",
    *,
    fps: float | Sequence[float] | None = None,
) -> dict:
    """Model inputs (input_ids, attention_mask, mm_token_type_ids, pixel_values_videos, video_grid_thw, ...)
    for N videos, each uint8 (T, H, W, 3), asked ``prompt``; left-padded, ending with ``answer_prefix``."""
    videos = check_videos(videos)
    text = chat_text(processor, prompt, answer_prefix)
    extra = {}
    if hasattr(processor.video_processor, "cap_pixels_per_frame"):
        extra["cap_pixels_per_frame"] = True  # qwen-vl-utils' per-frame pixel budget (VisualQuality-R1's reference)
    inputs = processor(
        text=[text] * len(videos),
        videos=list(videos),
        video_metadata=video_metadata(videos, fps),
        padding=True,
        padding_side="left",
        return_tensors="pt",
        **extra,
    )
    if "mm_token_type_ids" not in inputs and "video_grid_thw" in inputs:
        inputs["mm_token_type_ids"] = mm_token_type_ids(processor, inputs["input_ids"])
    return dict(inputs)


def mm_token_type_ids(processor, input_ids):
    """0 for text, 1 for image, 2 for video tokens (what Qwen2.5-VL needs for its 3-D positions)."""
    import torch

    tok = processor.tokenizer
    types = torch.zeros_like(input_ids)
    types[input_ids == tok.convert_tokens_to_ids(getattr(processor, "image_token", "<|image_pad|>"))] = 1
    types[input_ids == tok.convert_tokens_to_ids(getattr(processor, "video_token", "<|video_pad|>"))] = 2
    return types


def score_token_ids(tokenizer, tokens: Sequence[str] = SCORE_TOKENS) -> list[int]:
    """The id of each score token ("1" .. "5"); UserError if the tokenizer splits one into several tokens."""
    ids = []
    for token in tokens:
        encoded = tokenizer.encode(token, add_special_tokens=False)
        if len(encoded) != 1:
            raise UserError(f"tokenizer: score token {token!r} is {len(encoded)} tokens, expected one")
        ids.append(int(encoded[0]))
    return ids


def to_model(inputs: dict, model) -> dict:
    """Inputs on the model's device; floating tensors (pixels) in the model's dtype."""
    device, dtype = model.device, model.dtype
    out = {}
    for key, value in inputs.items():
        if hasattr(value, "to"):
            value = value.to(device)
            if value.is_floating_point() and key.startswith("pixel_values"):
                value = value.to(dtype)
        out[key] = value
    return out


def score_logits(model, inputs: dict, token_ids: Sequence[int]):
    """(N, K) logits of the score tokens at the last position (one forward pass, only the last logits kept)."""
    out = model(**to_model(inputs, model), logits_to_keep=1, use_cache=False)
    return out.logits[:, -1, list(token_ids)].float()


def expectation(logits, levels: Sequence[float] | None = None):
    """sum_k level_k softmax(logits)_k over the last axis (levels default 1 .. K)."""
    import torch

    k = logits.shape[-1]
    values = torch.arange(1, k + 1, dtype=logits.dtype, device=logits.device) if levels is None else levels
    values = torch.as_tensor(values, dtype=logits.dtype, device=logits.device)
    return (torch.softmax(logits, dim=-1) * values).sum(-1)


def expected_scores(
    model,
    processor,
    videos: Sequence[np.ndarray],
    prompt: str,
    *,
    answer_prefix: str = "<answer>",
    fps: float | Sequence[float] | None = None,
    batch_size: int | None = None,
):
    """(N,) float32 expected score in [1, 5] of each video: one forward pass per batch, softmax over the digit
    tokens "1".."5" at the answer position, expectation. Deterministic and differentiable."""
    import torch

    videos = check_videos(videos)
    ids = score_token_ids(processor.tokenizer)
    step = len(videos) if not batch_size else int(batch_size)
    rates = fps if isinstance(fps, Sequence) else [fps] * len(videos)
    parts = []
    for start in range(0, len(videos), step):
        chunk = slice(start, start + step)
        inputs = video_inputs(processor, videos[chunk], prompt, answer_prefix, fps=list(rates[chunk]))
        parts.append(expectation(score_logits(model, inputs, ids)))
    return torch.cat(parts)


def generate_scores(
    model,
    processor,
    videos: Sequence[np.ndarray],
    prompt: str,
    *,
    answer_prefix: str = "",
    fps: float | Sequence[float] | None = None,
    max_new_tokens: int = 256,
    stats: AnswerStats | None = None,
) -> tuple[list[float | None], list[str]]:
    """Greedy ``generate()`` then ``parse_score`` on prefix + answer: (scores, None where unparsable; texts)."""
    import torch

    inputs = to_model(video_inputs(processor, videos, prompt, answer_prefix, fps=fps), model)
    pad = processor.tokenizer.pad_token_id
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad)
    new = out[:, inputs["input_ids"].shape[1] :]
    texts = [answer_prefix + t for t in processor.batch_decode(new, skip_special_tokens=False)]
    stats = stats if stats is not None else AnswerStats()
    return stats.add_all(texts), texts


SAMPLE_TOP_K = 50  # the MDS-VQA authors' inference.py: generate(do_sample=True, top_k=50, top_p=1)
SAMPLE_RETRIES = 3  # further samples of a video whose answer is unparsable, before giving up with one line


def sampled_scores(
    model,
    processor,
    videos: Sequence[np.ndarray],
    prompt: str,
    *,
    seed: int = 0,
    fps: float | Sequence[float] | None = None,
    max_new_tokens: int = 2048,
):
    """(N,) float32 scores from ONE sampled answer per video, as the MDS-VQA authors' ``inference.py`` scores f and
    g (config ``grpo.scores: sampled``): the chat prompt with the assistant turn opened, ``generate(do_sample=True,
    top_k=50, top_p=1, temperature 1)``, then ``parse_score`` (the last ``<answer>`` block, its first number).
    Seeded per video (``seed``, its position): the same inputs give the same answers on the same hardware. An
    unparsable answer is sampled again (at most ``SAMPLE_RETRIES`` times, the next seeds) and then refused with one
    line: never replaced by a guess (their code stores the raw text as the score)."""
    import torch

    from vqaloop.vlm.answers import parse_score

    videos = check_videos(videos)
    rates = list(fps) if isinstance(fps, Sequence) else [fps] * len(videos)
    pad = processor.tokenizer.pad_token_id
    scores = []
    for i, video in enumerate(videos):
        inputs = to_model(video_inputs(processor, [video], prompt, "", fps=[rates[i]]), model)
        for attempt in range(1 + SAMPLE_RETRIES):
            torch.manual_seed((seed * 1_000_003 + i * 7919 + attempt) % (2**63 - 1))
            with torch.no_grad():
                out = model.generate(**inputs, do_sample=True, top_k=SAMPLE_TOP_K, top_p=1.0, temperature=1.0,
                                     max_new_tokens=max_new_tokens, pad_token_id=pad)  # fmt: skip
            # special tokens kept: a tokenizer may hold the answer tags as special tokens (parse_score ignores the rest)
            text = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=False)[0]
            score = parse_score(text)
            if score is not None:
                scores.append(float(score))
                break
        else:
            raise UserError(f"video {i}: {1 + SAMPLE_RETRIES} sampled answers, none parsable (last: {text[:60]!r})")
    return torch.tensor(scores, dtype=torch.float32)
