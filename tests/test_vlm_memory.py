"""Memory plan of the paper-scale VLMs (vqaloop.vlm.memory): parameter formulas against the real transformers
classes, the predicted training-step memory against what a tiny model's step really holds, trends, the CLI."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import run_cli
from peft import LoraConfig, get_peft_model
from transformers import (
    AutoConfig,
    AutoModelForImageTextToText,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
)

from vqaloop.errors import UserError
from vqaloop.vlm import memory
from vqaloop.vlm.known_configs import KNOWN_CONFIGS, known_config, published_parameters, write_config

torch.set_num_threads(1)
VOCAB = 300
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def qwen_config(h=64, layers=2, heads=4, kv=2, inter=160, vh=32, vd=2):
    text = dict(
        hidden_size=h,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
        vocab_size=VOCAB,
        bos_token_id=1,
        eos_token_id=2,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
    )
    head = h // heads  # mrope sections cover head_dim / 2
    text["rope_parameters"]["mrope_section"] = [head // 2 - 2 * (head // 6), head // 6, head // 6]
    vision = dict(
        depth=vd,
        hidden_size=vh,
        intermediate_size=2 * vh,
        num_heads=2,
        out_hidden_size=h,
        fullatt_block_indexes=[vd - 1],
    )
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config={**vision, "window_size": 56},
        image_token_id=VOCAB - 5,
        video_token_id=VOCAB - 4,
        vision_start_token_id=VOCAB - 3,
        vision_end_token_id=VOCAB - 2,
    )


def llava_config(h=64, layers=2, heads=4, kv=2, inter=160, vh=32, vd=2):
    text = dict(
        model_type="qwen2",
        hidden_size=h,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
        vocab_size=VOCAB,
    )
    vision = dict(
        model_type="siglip_vision_model",
        hidden_size=vh,
        intermediate_size=2 * vh,
        num_attention_heads=2,
        num_hidden_layers=vd,
        image_size=56,
        patch_size=14,
        vision_use_head=False,
    )
    return LlavaOnevisionConfig(
        text_config=text,
        vision_config=vision,
        image_token_index=VOCAB - 5,
        video_token_index=VOCAB - 4,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
    )


def build(config, trainable="full", dtype="float32", rank=8):
    torch.manual_seed(0)
    config._attn_implementation = "sdpa"
    cls = (
        Qwen2_5_VLForConditionalGeneration
        if config.model_type == "qwen2_5_vl"
        else LlavaOnevisionForConditionalGeneration
    )
    model = cls(config).to(getattr(torch, dtype))
    if trainable == "lora":
        lora = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules=LORA_TARGETS)
        model = get_peft_model(model, lora)
    return model


def video_inputs(config, batch, frames, frame_size, text):
    """Model inputs of ``batch`` sequences: text, one video of ``frames`` frames, text; labels = input ids."""
    g = torch.Generator().manual_seed(0)
    shape = memory.model_shape(config)
    lm_tokens, vision_tokens = memory.visual_tokens(shape, frames, frame_size)
    v = shape.vision
    if shape.arch == "qwen2_5_vl":
        groups = math.ceil(frames / v.temporal_patch)
        side = math.isqrt(vision_tokens // groups)
        pixels = torch.randn(batch * vision_tokens, v.channels * v.temporal_patch * v.patch**2, generator=g)
        kwargs = dict(pixel_values_videos=pixels, video_grid_thw=torch.tensor([[groups, side, side]] * batch))
        video = (
            [config.vision_start_token_id] + [config.video_token_id] * (lm_tokens - 2) + [config.vision_end_token_id]
        )
    else:
        pixels = torch.randn(batch, frames, v.channels, v.image_size, v.image_size, generator=g)
        kwargs = dict(pixel_values_videos=pixels)
        video = [config.video_token_index] * lm_tokens
    words = torch.randint(3, VOCAB - 10, (batch, text), generator=g)
    ids = torch.cat([words[:, : text // 2], torch.tensor([video] * batch), words[:, text // 2 :]], dim=1)
    kwargs.update(input_ids=ids, labels=ids.clone(), attention_mask=torch.ones_like(ids))
    if shape.arch == "qwen2_5_vl":
        kwargs["mm_token_type_ids"] = (ids == config.video_token_id).int() * 2
    return kwargs


# ------------------------------------------------------------------------------------------- parameter counts
@pytest.mark.parametrize("make", [qwen_config, llava_config])
@pytest.mark.parametrize("sizes", [{}, dict(h=96, layers=3, heads=6, kv=3, inter=200, vh=48, vd=3), dict(kv=4)])
def test_parameter_formula_equals_real_numel(make, sizes):
    config = make(**sizes)
    model = build(config)
    counts = memory.parameter_counts(memory.model_shape(config), lora_rank=8)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    lora = get_peft_model(model, LoraConfig(r=8, target_modules=LORA_TARGETS))
    assert counts["lora"] == sum(p.numel() for p in lora.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(KNOWN_CONFIGS))
def test_paper_scale_parameters_match_real_classes_and_published(name, tmp_path):
    write_config(tmp_path, name)
    config = AutoConfig.from_pretrained(tmp_path)  # the file a placeholder weights folder holds
    with torch.device("meta"):  # the real class, no memory
        model = AutoModelForImageTextToText.from_config(config)
    real = sum(p.numel() for p in model.parameters())
    counts = memory.parameter_counts(memory.model_shape(known_config(name)))
    assert counts["total"] == real
    assert abs(counts["total"] / published_parameters(name) - 1) < 0.01


def test_known_config_shapes():
    qwen = memory.model_shape(known_config("qwen2_5_vl"))
    assert (qwen.text.hidden, qwen.text.layers, qwen.text.heads, qwen.text.kv_heads) == (3584, 28, 28, 4)
    assert (qwen.text.intermediate, qwen.text.vocab, qwen.text.tied) == (18944, 152064, False)
    assert (qwen.vision.hidden, qwen.vision.layers, qwen.vision.intermediate, qwen.vision.out_hidden) == (
        1280,
        32,
        3420,
        3584,
    )
    llava = memory.model_shape(known_config("llava_onevision"))
    assert (llava.vision.hidden, llava.vision.layers, llava.vision.intermediate) == (1152, 26, 4304)
    with pytest.raises(UserError, match="unknown model config"):
        known_config("gpt5")


# ------------------------------------------------------------------------------------ predicted vs measured
SETTINGS = [  # arch, trainable, dtype, batch, frames, text tokens, checkpointing, model sizes
    ("qwen", "full", "float32", 2, 4, 32, False, {}),
    ("qwen", "full", "float32", 2, 4, 32, True, {}),
    ("qwen", "lora", "bfloat16", 3, 4, 96, False, dict(h=96, layers=3, heads=6, kv=2, inter=256)),
    ("qwen", "lora", "bfloat16", 3, 4, 96, True, dict(h=96, layers=3, heads=6, kv=2, inter=256)),
    ("qwen", "lora", "float32", 1, 8, 200, False, dict(layers=4)),
    ("llava", "full", "float32", 2, 4, 32, False, dict(h=128, heads=8, kv=4, inter=256)),
    ("llava", "full", "float32", 1, 2, 64, True, dict(layers=3)),
    ("llava", "lora", "bfloat16", 4, 4, 48, True, {}),
]


@pytest.mark.parametrize("arch,trainable,dtype,batch,frames,text,checkpointing,sizes", SETTINGS)
def test_predicted_peak_within_25_percent_of_measured(
    arch, trainable, dtype, batch, frames, text, checkpointing, sizes
):
    config = (qwen_config if arch == "qwen" else llava_config)(**sizes)
    model = build(config, trainable, dtype)
    measured = memory.measure_training_step(
        model, video_inputs(config, batch, frames, 56, text), checkpointing=checkpointing
    )
    plan = memory.plan_memory(
        config,
        lora_rank=8,
        trainable=trainable,
        dtype=dtype,
        per_device_batch=batch,
        frames=frames,
        frame_size=56,
        prompt_tokens=text,
        gradient_checkpointing=checkpointing,
        mixed_precision=False,  # plain torch AdamW, as measured
        device="cpu",
    )
    # static parts are exact; the activation part alone must be within 25% too (it carries the formula)
    assert plan["weights"] == measured["weights"]
    assert abs(plan["optimizer"] - measured["optimizer"]) <= 0.01 * measured["optimizer"]
    predicted_activations = plan["activations"] + plan["recompute"] + plan["logits"]
    measured_activations = measured["activations"] + measured["recompute"]
    assert abs(predicted_activations / measured_activations - 1) < 0.25, (predicted_activations, measured)
    if checkpointing:  # one recomputed layer isolates the per-layer formula: held to 10%
        assert abs(plan["recompute"] / measured["recompute"] - 1) < 0.10, (plan["recompute"], measured)
    predicted = plan["weights"] + plan["gradients"] + plan["optimizer"] + predicted_activations
    assert abs(predicted / measured["total"] - 1) < 0.25


def test_checkpointing_measured_and_predicted_reduce_activations():
    config = qwen_config(layers=4)
    inputs = video_inputs(config, 2, 4, 56, 64)
    plain = memory.measure_training_step(build(config, "lora"), inputs, checkpointing=False)
    ckpt = memory.measure_training_step(build(config, "lora"), inputs, checkpointing=True)
    assert ckpt["activations"] + ckpt["recompute"] < plain["activations"]
    kwargs = dict(lora_rank=8, trainable="lora", dtype="float32", per_device_batch=2, frames=4, frame_size=56)
    on = memory.plan_memory(config, gradient_checkpointing=True, **kwargs)
    off = memory.plan_memory(config, gradient_checkpointing=False, **kwargs)
    assert on["activations"] + on["recompute"] < off["activations"]


FULL_CKPT_ON_H200 = (  # measured 2026-12-04 (transformers 5.17, torch 2.11): 2 of 3 settings within 25%
    "H200: plan 74.6 MB vs CUDA peak 59.4 MB (+25.5%); the CPU measurement of the same step (74.6 MB) agrees "
    "with the plan: the CUDA run frees part of what the formula holds for the recomputed layer"
)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: torch.cuda.max_memory_allocated")
@pytest.mark.parametrize(
    "trainable,checkpointing",
    [("lora", True), ("lora", False), pytest.param("full", True, marks=pytest.mark.xfail(reason=FULL_CKPT_ON_H200))],
)
def test_cuda_peak_within_25_percent(trainable, checkpointing):
    config = qwen_config(h=256, layers=4, heads=8, kv=2, inter=704)
    inputs = {k: v.to("cuda") for k, v in video_inputs(config, 8, 8, 112, 256).items()}
    # one throwaway step first: cuBLAS / cuDNN workspaces are allocated once per process (the plan's headroom)
    memory.measure_training_step(build(config, trainable, "bfloat16").to("cuda"), inputs, checkpointing=checkpointing)
    model = build(config, trainable, "bfloat16").to("cuda")
    measured = memory.measure_training_step(model, inputs, checkpointing=checkpointing)
    plan = memory.plan_memory(
        config,
        lora_rank=8,
        trainable=trainable,
        dtype="bfloat16",
        per_device_batch=8,
        frames=8,
        frame_size=112,
        prompt_tokens=256,
        gradient_checkpointing=checkpointing,
        mixed_precision=False,  # plain torch AdamW, as measured
        device="cuda",
    )
    print(f"cuda {trainable} ckpt={checkpointing}: plan {plan['total']} measured {measured}")
    assert abs(plan["total"] / measured["cuda_peak"] - 1) < 0.25, (plan["total"], measured)


# -------------------------------------------------------------------------------------------- trends (7B)
PAPER_F = dict(
    lora_rank=64,
    trainable="lora",
    dtype="bfloat16",
    per_device_batch=4,
    generations=6,
    frames=8,
    frame_size=448,
    max_new_tokens=256,
)


@pytest.mark.parametrize(
    "key,low,high",
    [
        ("per_device_batch", 2, 4),
        ("generations", 4, 8),
        ("frames", 8, 16),
        ("max_new_tokens", 128, 512),
        ("frame_size", 336, 448),
    ],
)
def test_plan_monotone(key, low, high):
    config = known_config("qwen2_5_vl")
    small = memory.plan_memory(config, **{**PAPER_F, key: low})
    large = memory.plan_memory(config, **{**PAPER_F, key: high})
    assert large["total"] > small["total"]
    assert large["activations"] > small["activations"]


def test_plan_sharding_and_reference():
    config = known_config("llava_onevision")
    kwargs = dict(trainable="full", per_device_batch=2, frames=8, frame_size=384, videos_per_sample=2)
    one = memory.plan_memory(config, n_gpus=1, zero_stage=3, **kwargs)
    eight = memory.plan_memory(config, n_gpus=8, zero_stage=3, **kwargs)
    assert eight["weights"] == pytest.approx(one["weights"] / 8)
    assert eight["optimizer"] == pytest.approx(one["optimizer"] / 8)
    assert one["optimizer"] == pytest.approx(12 * one["parameters"])  # fp32 master + two AdamW moments
    ddp = memory.plan_memory(config, n_gpus=8, zero_stage="ddp", **kwargs)
    assert ddp["weights"] == one["weights"]
    # GRPO reference: LoRA shares the weights (adapters disabled); full fine-tuning holds a second copy
    qwen = known_config("qwen2_5_vl")
    assert memory.plan_memory(qwen, **PAPER_F)["reference_weights"] == 0
    full = memory.plan_memory(qwen, **{**PAPER_F, "trainable": "full"})
    assert full["reference_weights"] == 2 * full["parameters"]


# ------------------------------------------------------------------------------------------------------ CLI
PLAN_YAML = """\
paper_scale:
  models:
    f: {weights: weights/visualquality_r1, arch: qwen2_5_vl, lora_rank: 64, per_device_batch: 24,
        generations: 6, frames: 8, frame_size: 448, max_new_tokens: 256, batch_counts: completions}
    student: {weights: weights/llava_ov, arch: llava_onevision, per_device_batch: 2,
              generations: 1, frames: 8, frame_size: 384, max_new_tokens: 1, trainable: full, zero_stage: 3,
              videos_per_sample: 2}
"""


def test_cli_writes_the_table(tmp_path):
    import pandas as pd

    # relative weights paths are relative to where the workflow runs: an absolute one here
    (tmp_path / "paper.yaml").write_text(PLAN_YAML.replace("weights/llava_ov", str(tmp_path / "weights" / "llava_ov")))
    write_config(tmp_path / "weights" / "llava_ov", "llava_onevision")  # a weights folder's config.json is used
    proc = run_cli("plan-memory", "--config", str(tmp_path / "paper.yaml"), "--out", str(tmp_path / "plan.csv"))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "plan.csv")
    assert list(table["role"]) == ["f"] * 3 + ["student"] * 3
    assert list(table["n_gpus"]) == [1, 4, 8] * 2
    assert table["config"].iloc[0] == "known:qwen2_5_vl" and table["config"].iloc[3].endswith("config.json")
    assert set(table["fits"]) <= {"yes", "no"}
    student = table[table["role"] == "student"]
    assert student["total_gib"].is_monotonic_decreasing  # ZeRO-3 shards more with more GPUs
    assert "total_gib" in proc.stdout or "total" in proc.stdout


def test_cli_bad_config_names_the_key(tmp_path):
    (tmp_path / "bad.yaml").write_text("paper_scale:\n  models:\n    f: {weights: x, arch: qwen2_5_vl}\n")
    proc = run_cli("plan-memory", "--config", str(tmp_path / "bad.yaml"))
    assert proc.returncode == 2
    assert "paper_scale.models.f" in proc.stderr and "per_device_batch" in proc.stderr
