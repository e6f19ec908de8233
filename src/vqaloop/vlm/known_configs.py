"""The published ``config.json`` of the paper-scale VLMs, written out without downloading anything.

The dictionaries below are the public Hugging Face ``config.json`` files of

- ``Qwen/Qwen2.5-VL-7B-Instruct`` (VisualQuality-R1-7B is a fine-tune of it with the same architecture;
  MDS-VQA Sec. 4.1 uses it as f and g), 8.29B parameters;
- ``llava-hf/llava-onevision-qwen2-7b-ov-hf`` (the W2S-VQA strong student backbone, W2S-VQA Table 4), 8.03B.

They were written from knowledge of the published files (no hub access on this machine), keeping the keys that
define the architecture and the special token ids; the parameter counts they give match the published totals
(tests/test_vlm_memory.py instantiates the real classes on the meta device to check). Two points checked against
the ``transformers`` config classes: the SigLIP tower of LLaVA-OneVision has 26 layers in the converted
checkpoint (SigLIP so400m has 27; LLaVA-OneVision drops the last one and reads the penultimate features, which
is ``LlavaOnevisionConfig``'s default vision config too), and Qwen2.5-VL's vision tower is 1280 wide (the
``Qwen2_5_VLConfig`` default vision ``hidden_size`` of 3584 is not the 7B model's).

``write_config(folder, name)`` writes one of them as ``folder/config.json`` (placeholder weight folders of the
workflow; ``transformers.AutoConfig.from_pretrained(folder)`` loads it).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_text_atomic

QWEN2_5_VL_7B = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "vision_token_id": 151654,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "max_position_embeddings": 128000,
    "max_window_layers": 28,
    "model_type": "qwen2_5_vl",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 32768,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.41.2",
    "use_cache": True,
    "use_sliding_window": False,
    "vision_config": {
        "depth": 32,
        "hidden_act": "silu",
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "in_chans": 3,
        "out_hidden_size": 3584,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "spatial_patch_size": 14,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
        "temporal_patch_size": 2,
    },
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vocab_size": 152064,
}

LLAVA_ONEVISION_QWEN2_7B = {
    "architectures": ["LlavaOnevisionForConditionalGeneration"],
    "ignore_index": -100,
    "image_grid_pinpoints": [[384 * i, 384 * j] for i in range(1, 7) for j in range(1, 7)],
    "image_token_index": 151646,
    "model_type": "llava_onevision",
    "projector_hidden_act": "gelu",
    "text_config": {
        "_name_or_path": "Qwen/Qwen2-7B-Instruct",
        "architectures": ["Qwen2ForCausalLM"],
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "max_position_embeddings": 32768,
        "max_window_layers": 28,
        "model_type": "qwen2",
        "num_attention_heads": 28,
        "num_hidden_layers": 28,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 131072,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_sliding_window": False,
        "vocab_size": 152128,
    },
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "use_image_newline_parameter": True,
    "video_token_index": 151647,
    "vision_aspect_ratio": "anyres_max_9",
    "vision_config": {
        "hidden_size": 1152,
        "image_size": 384,
        "intermediate_size": 4304,
        "model_type": "siglip_vision_model",
        "num_attention_heads": 16,
        "num_hidden_layers": 26,
        "patch_size": 14,
        "vision_use_head": False,
    },
    "vision_feature_layer": -1,
    "vision_feature_select_strategy": "full",
}

# name -> (config.json contents, arch of vqaloop.vlm.loading, published parameter count)
KNOWN_CONFIGS: dict[str, tuple[dict, str, float]] = {
    "qwen2_5_vl_7b": (QWEN2_5_VL_7B, "qwen2_5_vl", 8.29e9),
    "llava_onevision_qwen2_7b": (LLAVA_ONEVISION_QWEN2_7B, "llava_onevision", 8.03e9),
}
# the arch names of the VLM contract map to their paper-scale model
ARCH_DEFAULTS = {"qwen2_5_vl": "qwen2_5_vl_7b", "llava_onevision": "llava_onevision_qwen2_7b"}


def known_config(name: str) -> dict:
    """A deep copy of the published config.json of ``name`` (a key of KNOWN_CONFIGS or an arch name)."""
    key = ARCH_DEFAULTS.get(name, name)
    if key not in KNOWN_CONFIGS:
        known = ", ".join(sorted([*KNOWN_CONFIGS, *ARCH_DEFAULTS]))
        raise UserError(f"unknown model config {name!r}: known are {known}")
    return copy.deepcopy(KNOWN_CONFIGS[key][0])


def published_parameters(name: str) -> float:
    """The parameter count the model card publishes for ``name``."""
    return KNOWN_CONFIGS[ARCH_DEFAULTS.get(name, name)][2]


def write_config(folder: str | Path, name: str) -> Path:
    """Write ``folder/config.json`` for the known model ``name`` (creates the folder); returns the file path."""
    config = known_config(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    write_text_atomic(path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path
