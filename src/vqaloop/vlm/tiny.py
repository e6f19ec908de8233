"""What the tiny random-weight VLMs share (``tiny_qwen``: Qwen2.5-VL, ``tiny_llava``: LLaVA-OneVision): a byte-level
Qwen2 tokenizer with no merges, the toy Qwen2 decoder sizes, and the atomic writing of model and processor.

The vocabulary is the 256 GPT-2 byte symbols (so every digit is one token) followed by each model's special tokens,
with fixed ids so that a config can name them. Weights are random (seeded): the models prove code paths, never a
quality score.
"""

from __future__ import annotations

import json
from pathlib import Path

from vqaloop.io.atomic import atomic_dir

TINY_MARKER = "vqaloop_tiny.json"  # what tiny-vlm writes in every folder: a folder without it is never replaced


def byte_symbols() -> list[str]:
    """The 256 printable symbols GPT-2 / Qwen2 byte-level BPE uses for the bytes 0..255 (in byte order)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    symbols, extra = {}, 0
    for b in range(256):
        if b in printable:
            symbols[b] = chr(b)
        else:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def byte_vocab(special_tokens: tuple[str, ...]) -> dict[str, int]:
    """Byte symbols first, then ``special_tokens`` in order (fixed ids)."""
    vocab = {sym: i for i, sym in enumerate(byte_symbols())}
    for token in special_tokens:
        vocab[token] = len(vocab)
    return vocab


def byte_tokenizer(vocab: dict[str, int], additional_special_tokens: list[str], **kwargs):
    """A ``Qwen2Tokenizer`` over ``vocab`` with no merges; ends a turn with <|im_end|>, pads with <|endoftext|>."""
    from transformers import Qwen2Tokenizer

    return Qwen2Tokenizer(
        vocab=dict(vocab),
        merges=[],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=additional_special_tokens,
        **kwargs,
    )


def tiny_decoder(vocab_size: int, token_id) -> dict:
    """The Qwen2 decoder's toy sizes (hidden 64, 2 layers, 4 heads, 2 key-value heads) as a text-config dict;
    ``token_id(name)`` gives the id of a special token."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "bos_token_id": token_id("<|endoftext|>"),
        "eos_token_id": token_id("<|im_end|>"),
        "pad_token_id": token_id("<|endoftext|>"),
    }


def save_tiny(model, processor, out_dir: Path, arch: str, seed: int) -> Path:
    """Model, processor and a note of what they are, written to ``out_dir`` at once (atomically)."""
    with atomic_dir(out_dir, TINY_MARKER) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / TINY_MARKER).write_text(json.dumps({"arch": arch, "seed": seed}, indent=1) + "\n")
    return out_dir
