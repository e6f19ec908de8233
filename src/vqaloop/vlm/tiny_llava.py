"""A tiny random-weight LLaVA-OneVision (model, tokenizer, processor) built offline from a hand-made config.

The real architecture of the W2S-VQA student's base (``LlavaOnevisionForConditionalGeneration``: a SigLIP vision
tower, a two-layer MLP projector, 2x2 bilinear pooling of each video frame's patch grid plus one newline token per
video, a Qwen2 decoder) at a size that runs in milliseconds on a CPU: a 2-layer SigLIP with 56x56 inputs and
14-pixel patches (4x4 patches, pooled to 2x2 = 4 tokens a video frame), a 2-layer Qwen2 with hidden size 64. The
tokenizer is a byte-level ``Qwen2Tokenizer`` with no merges (256 byte symbols, the chat and ``<image>`` /
``<video>`` tokens), plus the five comparison level words with their leading space (" inferior", " worse",
" similar", " better", " superior") as added tokens, so that each is ONE token as in the real Qwen2 vocabulary
(W2S-VQA Appendix B.2: "The quality of the second video is [level] ..."). Written with ``save_pretrained``; loads
with ``vqaloop.vlm.loading.load_vlm(folder, "llava_onevision")``. Weights are random (seeded): the model proves
the code paths, never a quality score.
"""

from __future__ import annotations

import os
from pathlib import Path

from vqaloop.vlm.tiny import byte_tokenizer, byte_vocab, save_tiny, tiny_decoder

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")
LEVEL_WORDS = ("inferior", "worse", "similar", "better", "superior")  # = vqaloop.w2s.soft_comparison.LEVELS
IMAGE_SIZE, PATCH_SIZE = 56, 14
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)

# LLaVA-OneVision's published chat template (the Qwen2 ChatML layout; images and videos as <image> / <video>).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<image>' }}{% elif content['type'] == 'video' %}{{ '<video>' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_vocab() -> dict[str, int]:
    """Byte symbols first, then the special tokens (fixed ids, so the config can name them)."""
    return byte_vocab(SPECIAL_TOKENS)


def tiny_tokenizer():
    """Byte-level Qwen2 tokenizer; the five level words (with their leading space) as single added tokens."""
    from transformers import AddedToken

    tokenizer = byte_tokenizer(tiny_vocab(), list(SPECIAL_TOKENS[1:]),
                               extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})  # fmt: skip
    tokenizer.add_tokens([AddedToken(" " + word, normalized=False, special=False) for word in LEVEL_WORDS])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_config(tokenizer):
    """The hand-made LLaVA-OneVision config: real architecture, toy sizes."""
    from transformers import LlavaOnevisionConfig

    vision = {
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
        "vision_use_head": False,
    }
    text = {"model_type": "qwen2", **tiny_decoder(len(tokenizer), tokenizer.convert_tokens_to_ids)}
    config = LlavaOnevisionConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=[[IMAGE_SIZE, IMAGE_SIZE], [IMAGE_SIZE, 2 * IMAGE_SIZE], [2 * IMAGE_SIZE, IMAGE_SIZE]],
        tie_word_embeddings=False,
    )
    config.architectures = ["LlavaOnevisionForConditionalGeneration"]
    return config


def tiny_processor(tokenizer):
    """Tokenizer + image and video processors at the tower's 56x56 input (SigLIP normalisation)."""
    from transformers import LlavaOnevisionImageProcessor, LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor

    size = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    norm = {"image_mean": list(SIGLIP_MEAN), "image_std": list(SIGLIP_STD)}
    pinpoints = [[IMAGE_SIZE, IMAGE_SIZE], [IMAGE_SIZE, 2 * IMAGE_SIZE], [2 * IMAGE_SIZE, IMAGE_SIZE]]
    image_processor = LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=pinpoints, **norm)
    video_processor = LlavaOnevisionVideoProcessor(size=size, **norm)
    return LlavaOnevisionProcessor(
        image_processor=image_processor,
        video_processor=video_processor,
        tokenizer=tokenizer,
        num_image_tokens=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        vision_feature_select_strategy="full",
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_llava_onevision(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Write a tiny random-weight LLaVA-OneVision with its processor to ``out_dir`` (atomically); return the folder."""
    import torch
    from transformers import LlavaOnevisionForConditionalGeneration

    out_dir = Path(out_dir)
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(tiny_config(tokenizer)).eval()
    processor = tiny_processor(tokenizer)
    return save_tiny(model, processor, out_dir, "llava_onevision", seed)
