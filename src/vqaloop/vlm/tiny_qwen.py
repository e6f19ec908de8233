"""A tiny random-weight Qwen2.5-VL (model, tokenizer, processor) built offline from a hand-made config.

It has the real architecture of VisualQuality-R1 / Qwen2.5-VL-7B (``Qwen2_5_VLForConditionalGeneration``: the
windowed ViT with 2x2 spatial merge and 2-frame temporal patches, the Qwen2 decoder with 3-D multimodal RoPE)
at a size that runs in milliseconds on a CPU: hidden 64, 2 decoder layers, a 2-block vision tower. The tokenizer
is ``vqaloop.vlm.tiny``'s byte-level ``Qwen2Tokenizer`` with no merges: its vocabulary is the 256 GPT-2 byte
symbols (so every digit is one token) plus the special tokens Qwen2.5-VL needs and the answer tags ``<think>``, ``</think>``,
``<answer>``, ``</answer>`` as added tokens. Everything is written with ``save_pretrained`` and loads with
``vqaloop.vlm.loading.load_vlm(folder, "qwen2_5_vl")``. Weights are random (seeded): the model proves the code
paths, never a quality score.
"""

from __future__ import annotations

import os
from pathlib import Path

from vqaloop.vlm.tiny import byte_tokenizer, byte_vocab, save_tiny, tiny_decoder

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
ANSWER_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")

# Qwen2-VL's chat template (the published one, system default included), so prompts built for the tiny model
# have the same layout as for the real checkpoint.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_vocab() -> dict[str, int]:
    """Byte symbols first, then the special and answer tokens (ids fixed, so configs can name them)."""
    return byte_vocab(SPECIAL_TOKENS + ANSWER_TOKENS)


def tiny_config(vocab: dict[str, int]):
    """The hand-made Qwen2.5-VL config: real architecture, toy sizes (mrope sections sum to head_dim / 2)."""
    from transformers import Qwen2_5_VLConfig

    text = {
        **tiny_decoder(len(vocab), vocab.__getitem__),
        "max_window_layers": 2,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
    }
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": 64,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
        "window_size": 112,
        "fullatt_block_indexes": [1],
    }
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    config.architectures = ["Qwen2_5_VLForConditionalGeneration"]
    return config


def tiny_processor(vocab: dict[str, int]):
    """Byte-level tokenizer + image and video processors with a small pixel budget (56x56 .. 112x112 a frame)."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    tokenizer = byte_tokenizer(vocab, list(SPECIAL_TOKENS[1:]) + list(ANSWER_TOKENS))
    tokenizer.chat_template = CHAT_TEMPLATE
    size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    image_processor = Qwen2VLImageProcessor(size=size, patch_size=14, temporal_patch_size=2, merge_size=2)
    video_processor = Qwen2VLVideoProcessor(size=size, patch_size=14, temporal_patch_size=2, merge_size=2)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        video_processor=video_processor,
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_qwen2_5_vl(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Write a tiny random-weight Qwen2.5-VL with its processor to ``out_dir`` (atomically); return the folder."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    out_dir = Path(out_dir)
    vocab = tiny_vocab()
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(tiny_config(vocab)).eval()
    processor = tiny_processor(vocab)
    return save_tiny(model, processor, out_dir, "qwen2_5_vl", seed)
