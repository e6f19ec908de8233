"""GPU memory plan of the paper-scale VLM training runs, computed from the model configs.

``plan_memory(config, ...)`` predicts, per GPU, the bytes a training step holds at its peak: weights (frozen and
trainable), gradients, AdamW states (and fp32 master weights under mixed precision), the activations saved for
backward (with or without gradient checkpointing), the logits of the loss tokens, and for GRPO the rollout (KV
cache of G generations) and the reference model. The peak is the static part plus the largest of the phases of
a step (rollout, reference forward, policy forward + backward), which run one after the other.

Parameter counts come from the config by formula (GQA attention, SwiGLU MLP, embeddings, vision tower,
projector); the activation terms list the tensors the ``transformers`` modules save for backward, per token:

- RMSNorm (Qwen2): the fp32 input, the normalised input when the norm weight trains, the weighted output when
  the next linear layer's weight trains;
- attention (SDPA / flash kernels, no s x s matrix): q, k, v, the output and the fp32 log-sum-exp per head;
- SwiGLU MLP: gate output, its SiLU, up output, and their product when ``down_proj`` trains;
- LoRA on a linear layer (peft, adapters in fp32 when the model is 16-bit): the dropout mask, the dropped input
  and the rank-r output of A;
- loss: the returned logits and the fp32 log-softmax of every loss token.

``measure_training_step`` measures the same quantities on a real (tiny) model: parameters, gradients, AdamW states,
and the unique storages of the tensors saved for backward (``torch.autograd.graph.saved_tensors_hooks``),
including one recomputed layer under gradient checkpointing; on CUDA ``torch.cuda.max_memory_allocated``.
tests/test_vlm_memory.py checks the formula against it (within 25%).

``vqaloop plan-memory --config FILE`` prints the plan per role (f GRPO, g GRPO, W2S student) for 1, 4 and 8 GPUs.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from vqaloop.errors import UserError

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
GPU_COUNTS = (1, 4, 8)
ROLES = {  # role -> (training, what it is)
    "f": ("grpo", "base model f: VisualQuality-R1 GRPO fine-tuning (MDS-VQA Sec. 3.4, supplement Sec. 6)"),
    "g": ("grpo", "failure predictor g: LoRA on f (MDS-VQA Sec. 3.2)"),
    "student": ("sft", "W2S student: LLaVA-OneVision-7B, cross-entropy on pairs (W2S-VQA Sec. 3.1, App. C.2)"),
}


# ----------------------------------------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class TextShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool


@dataclass(frozen=True)
class VisionShape:
    kind: str  # "qwen2_5_vl" (windowed ViT + patch merger) or "siglip" (LLaVA-OneVision)
    hidden: int
    layers: int
    heads: int
    intermediate: int
    patch: int
    channels: int
    temporal_patch: int = 1
    merge: int = 1
    out_hidden: int = 0
    image_size: int = 0  # siglip: fixed input size (position embeddings)
    feature_layers: int = 1  # llava: number of vision layers concatenated before the projector


@dataclass(frozen=True)
class ModelShape:
    arch: str  # "qwen2_5_vl" or "llava_onevision"
    text: TextShape
    vision: VisionShape


def as_config(config):
    """A ``transformers`` config from a config object, a config.json dict or a folder / file path."""
    from transformers import AutoConfig, PretrainedConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if isinstance(config, PretrainedConfig):
        return config
    if isinstance(config, str | Path):
        path = Path(config)
        if not (path / "config.json").is_file() and not (path.is_file() and path.name.endswith(".json")):
            raise UserError(f"{path}: no config.json to read the model shape from")
        return AutoConfig.from_pretrained(path if path.is_dir() else path.parent)
    if isinstance(config, dict):
        model_type = config.get("model_type")
        if model_type not in CONFIG_MAPPING:
            raise UserError(f"model config: unknown model_type {model_type!r}")
        return CONFIG_MAPPING[model_type](**{k: v for k, v in config.items() if k != "model_type"})
    raise TypeError(f"not a model config: {type(config).__name__}")


def model_shape(config) -> ModelShape:
    """The sizes the formulas need, read from a Qwen2.5-VL or LLaVA-OneVision config."""
    config = as_config(config)
    tc = config.get_text_config()
    head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
    tied = bool(getattr(config, "tie_word_embeddings", False))
    text = TextShape(
        tc.hidden_size,
        tc.num_hidden_layers,
        tc.num_attention_heads,
        tc.num_key_value_heads,
        head_dim,
        tc.intermediate_size,
        tc.vocab_size,
        tied,
    )
    vc = config.vision_config
    if config.model_type == "qwen2_5_vl":
        vision = VisionShape(
            "qwen2_5_vl",
            vc.hidden_size,
            vc.depth,
            vc.num_heads,
            vc.intermediate_size,
            vc.patch_size,
            vc.in_channels,
            vc.temporal_patch_size,
            vc.spatial_merge_size,
            vc.out_hidden_size,
        )
        return ModelShape("qwen2_5_vl", text, vision)
    if config.model_type == "llava_onevision":
        layers = config.vision_feature_layer
        vision = VisionShape(
            "siglip",
            vc.hidden_size,
            vc.num_hidden_layers,
            vc.num_attention_heads,
            vc.intermediate_size,
            vc.patch_size,
            vc.num_channels,
            image_size=vc.image_size,
            feature_layers=1 if isinstance(layers, int) else len(layers),
        )
        return ModelShape("llava_onevision", text, vision)
    raise UserError(f"model config: model_type {config.model_type!r} is neither qwen2_5_vl nor llava_onevision")


# ------------------------------------------------------------------------------------------------- parameters
def text_layer_parameters(t: TextShape) -> int:
    """One Qwen2 decoder layer: q/k/v with bias (GQA: k, v have kv_heads), o without, SwiGLU MLP, two RMSNorms."""
    q, kv = t.heads * t.head_dim, t.kv_heads * t.head_dim
    attention = (t.hidden * q + q) + 2 * (t.hidden * kv + kv) + q * t.hidden
    return attention + 3 * t.hidden * t.intermediate + 2 * t.hidden


def text_parameters(t: TextShape) -> int:
    """Language model: embeddings, layers, final norm, LM head (unless tied to the embeddings)."""
    embeddings = t.vocab * t.hidden
    return embeddings + t.layers * text_layer_parameters(t) + t.hidden + (0 if t.tied else embeddings)


def vision_parameters(v: VisionShape, text_hidden: int) -> int:
    """Vision tower and projector into the language model (+ LLaVA's image_newline vector)."""
    if v.kind == "qwen2_5_vl":
        patch_embed = v.channels * v.temporal_patch * v.patch * v.patch * v.hidden  # Conv3d, no bias
        block = 2 * v.hidden + (v.hidden * 3 * v.hidden + 3 * v.hidden) + (v.hidden * v.hidden + v.hidden)
        block += 3 * v.hidden * v.intermediate + 2 * v.intermediate + v.hidden  # SwiGLU with bias
        merged = v.hidden * v.merge**2
        merger = v.hidden + (merged * merged + merged) + (merged * v.out_hidden + v.out_hidden)
        return patch_embed + v.layers * block + merger
    patches = (v.image_size // v.patch) ** 2
    embeddings = v.channels * v.patch * v.patch * v.hidden + v.hidden + patches * v.hidden
    layer = 4 * v.hidden + 4 * (v.hidden * v.hidden + v.hidden)
    layer += v.hidden * v.intermediate + v.intermediate + v.intermediate * v.hidden + v.hidden
    post_norm = 2 * v.hidden
    feature = v.hidden * v.feature_layers
    projector = (feature * text_hidden + text_hidden) + (text_hidden * text_hidden + text_hidden)
    return embeddings + v.layers * layer + post_norm + projector + text_hidden  # + image_newline


def lora_parameters(t: TextShape, rank: int) -> int:
    """LoRA A (r x in) and B (out x r) on the 7 linear layers of every decoder layer (the LM's linear layers)."""
    q, kv = t.heads * t.head_dim, t.kv_heads * t.head_dim
    shapes = [(t.hidden, q), (t.hidden, kv), (t.hidden, kv), (q, t.hidden)]
    shapes += [(t.hidden, t.intermediate)] * 2 + [(t.intermediate, t.hidden)]
    return t.layers * sum(rank * (d_in + d_out) for d_in, d_out in shapes)


def parameter_counts(shape: ModelShape, lora_rank: int = 0) -> dict[str, int]:
    """Parameters by part: language model, vision tower + projector, total, LoRA adapters."""
    text = text_parameters(shape.text)
    vision = vision_parameters(shape.vision, shape.text.hidden)
    return {"text": text, "vision": vision, "total": text + vision, "lora": lora_parameters(shape.text, lora_rank)}


# ----------------------------------------------------------------------------------------------- token counts
def visual_tokens(shape: ModelShape, frames: int, frame_size: int) -> tuple[int, int]:
    """(language-model tokens, vision-tower tokens) of one video of ``frames`` frames.

    Qwen2.5-VL: frames grouped by temporal_patch, frame_size rounded to a multiple of patch x merge, merged
    merge x merge (+ vision start / end tokens). LLaVA-OneVision: each frame resized to image_size, the projected
    patch grid pooled 2 x 2 (bilinear), one image_newline per video.
    """
    v = shape.vision
    if v.kind == "qwen2_5_vl":
        unit = v.patch * v.merge
        side = max(unit, round(frame_size / unit) * unit) // v.patch
        groups = math.ceil(frames / v.temporal_patch)
        vision = groups * side * side
        return vision // v.merge**2 + 2, vision
    side = v.image_size // v.patch
    pooled = math.ceil(side / 2) ** 2
    return frames * pooled + 1, frames * side * side


@dataclass(frozen=True)
class Batch:
    """Sequences of one optimizer micro-step on one GPU."""

    sequences: int  # policy forward/backward sequences (prompts x generations for GRPO)
    prompts: int  # distinct prompts (videos) in the step
    tokens: int  # tokens per sequence (prompt + visual + answer)
    vision_tokens: int  # vision-tower tokens per sequence
    loss_tokens: int  # tokens per sequence whose logits are computed
    prompt_tokens: int  # tokens per sequence before generation (rollout prefill)
    new_tokens: int  # generated tokens per sequence (rollout)


# ------------------------------------------------------------------------------------------------ activations
def rms_norm_bytes(hidden: int, c: int, weight_trains: bool, next_input_saved: bool) -> int:
    """Per token: the fp32 input and rsqrt; the normalised input if the norm weight trains; its weighted output
    if the next linear layer saves its input (its weight trains)."""
    return 4 * hidden + 4 + (c * hidden if weight_trains else 0) + (c * hidden if next_input_saved else 0)


def lora_linear_bytes(d_in: int, rank: int, adapter: int, mask: int, dropout: bool) -> int:
    """Per token, one LoRA-adapted linear layer: dropout mask and dropped input (saved by A), A's rank-r output."""
    return (mask + adapter) * d_in + adapter * rank if dropout else adapter * d_in + adapter * rank


def text_layer_bytes(t: TextShape, c: int, trainable: str, lora: dict) -> int:
    """Per token: tensors one Qwen2 decoder layer saves for backward (SDPA / flash attention)."""
    full = trainable == "full"
    q, kv = t.heads * t.head_dim, t.kv_heads * t.head_dim
    total = 2 * rms_norm_bytes(t.hidden, c, full, full)
    total += c * (2 * q + 2 * kv) + 4 * t.heads  # q, k, v, attention output, log-sum-exp (fp32)
    total += c * 3 * t.intermediate + (c * t.intermediate if full else 0)  # gate, silu(gate), up, product
    if trainable == "lora":
        r, a, m, p = lora["rank"], lora["adapter_bytes"], lora["mask_bytes"], lora["dropout"]
        inputs = [t.hidden] * 3 + [q] + [t.hidden] * 2 + [t.intermediate]  # q k v o gate up down
        if not p and a == c:  # no dropout, no cast: A saves the shared input once per input tensor
            total += sum(a * d for d in (t.hidden, q, t.hidden, t.intermediate)) + 7 * a * r
        else:
            total += sum(lora_linear_bytes(d, r, a, m, p) for d in inputs)
    return total


def vision_layer_bytes(v: VisionShape, c: int) -> int:
    """Per vision token: tensors one vision block saves when the tower trains (full fine-tuning)."""
    if v.kind == "qwen2_5_vl":
        norms = 2 * rms_norm_bytes(v.hidden, c, True, True)
        attention = 3 * 4 * v.hidden + c * 2 * v.hidden + 4 * v.heads  # fp32 rotary q, k (+v) ; out ; lse
        return norms + attention + 4 * c * v.intermediate
    layer_norms = 2 * (c * v.hidden + 8 + c * v.hidden)  # input, mean, rstd; output saved by the next linear
    attention = 4 * c * v.hidden + 4 * v.heads
    return layer_norms + attention + 2 * c * v.intermediate  # fc1 output (gelu input), gelu output


def projector_bytes(shape: ModelShape, c: int) -> int:
    """Per vision token: the pixels the patch embedding saves and the projector's saved tensors (full
    fine-tuning)."""
    v, h = shape.vision, shape.text.hidden
    if v.kind == "qwen2_5_vl":  # Conv3d input; merger: RMSNorm, Linear-GELU-Linear on merged tokens
        merged = v.hidden * v.merge**2
        pixels = c * v.channels * v.temporal_patch * v.patch**2
        return pixels + rms_norm_bytes(v.hidden, c, True, True) + (2 * c * merged) // v.merge**2
    return c * v.channels * v.patch**2 + c * v.hidden * v.feature_layers + 2 * c * h


def logits_bytes(vocab: int, c: int) -> int:
    """Per loss token: the returned logits (compute dtype) and the fp32 log-softmax saved by cross-entropy."""
    return (c + 4) * vocab


def activation_bytes(
    shape: ModelShape, batch: Batch, *, c: int, trainable: str, lora: dict, checkpointing: bool
) -> dict:
    """Bytes of the policy forward + backward (one micro-step, one GPU): held activations, one recomputed layer,
    logits. Vision activations count only when the vision tower trains (``trainable='full'``)."""
    t, seqs = shape.text, batch.sequences
    tokens = seqs * batch.tokens
    layer = text_layer_bytes(t, c, trainable, lora) * tokens
    # outside the layers: final norm, the embedding indices (full), rotary cos/sin (fp32 when 16-bit? compute dtype)
    outside = rms_norm_bytes(t.hidden, c, trainable == "full", trainable == "full") * tokens
    outside += 2 * c * t.head_dim * tokens + 8 * tokens
    vision_layer = 0
    vision_total = 0
    if trainable == "full":
        v_tokens = seqs * batch.vision_tokens
        vision_layer = vision_layer_bytes(shape.vision, c) * v_tokens
        vision_total = vision_layer * shape.vision.layers + projector_bytes(shape, c) * v_tokens
    if checkpointing:  # each layer keeps its input; backward recomputes one layer at a time
        held = c * t.hidden * tokens * t.layers
        held += c * shape.vision.hidden * seqs * batch.vision_tokens * shape.vision.layers if vision_total else 0
        recompute = max(layer, vision_layer)
        vision_held = projector_bytes(shape, c) * seqs * batch.vision_tokens if vision_total else 0
        held += vision_held
    else:
        held = layer * t.layers + vision_total
        recompute = 0
    return {
        "activations": held + outside,
        "recompute": recompute,
        "logits": logits_bytes(t.vocab, c) * seqs * batch.loss_tokens,
    }


def inference_layer_bytes(t: TextShape, c: int) -> int:
    """Per token: the largest live set of one decoder layer in a no-grad forward (input, q/k/v, MLP pair)."""
    return c * (2 * t.hidden + 3 * t.intermediate)


# ------------------------------------------------------------------------------------------------------- plan
def plan_memory(
    model_config,
    *,
    lora_rank: int = 64,
    trainable: str = "lora",
    dtype: str = "bfloat16",
    per_device_batch: int = 1,
    generations: int = 1,
    frames: int = 8,
    frame_size: int = 448,
    videos_per_sample: int = 1,
    prompt_tokens: int = 128,
    max_new_tokens: int = 0,
    loss_tokens: int | None = None,
    gradient_checkpointing: bool = True,
    optimizer: str = "adamw",
    n_gpus: int = 1,
    zero_stage: int | str = "ddp",
    reference_model: bool | None = None,
    lora_dropout: float = 0.05,
    mixed_precision: bool = True,
    device: str = "cuda",
) -> dict:
    """Bytes per GPU of one training micro-step, by component, and their peak total.

    ``per_device_batch``: prompts (videos or video pairs) per GPU per micro-step; GRPO generates ``generations``
    completions for each, so the policy sees per_device_batch x generations sequences. ``max_new_tokens`` > 0
    means GRPO (rollout KV cache, and by default a reference model); its loss tokens are the completions.
    ``trainable``: "lora" (adapters on the LM's linear layers, everything else frozen) or "full" (every weight).
    ``zero_stage``: "ddp" (replicated) or DeepSpeed ZeRO 1 (optimizer + master weights sharded), 2 (+ gradients),
    3 (+ weights). ``mixed_precision``: 16-bit full fine-tuning keeps fp32 master weights and fp32 AdamW states
    (DeepSpeed bf16); False models plain torch AdamW (states in the weights' dtype). ``device``: "cpu" saves
    dropout masks in the input's dtype, "cuda" as bool.
    """
    if trainable not in ("lora", "full"):
        raise UserError(f"trainable must be 'lora' or 'full', got {trainable!r}")
    if optimizer != "adamw":
        raise UserError(f"optimizer {optimizer!r}: only adamw is planned")
    if dtype not in DTYPE_BYTES:
        raise UserError(f"dtype {dtype!r}: expected one of {sorted(DTYPE_BYTES)}")
    if zero_stage not in ("ddp", 0, 1, 2, 3):
        raise UserError(f"zero_stage must be 'ddp' or 0-3, got {zero_stage!r}")
    shape = model_shape(model_config)
    c = DTYPE_BYTES[dtype]
    counts = parameter_counts(shape, lora_rank if trainable == "lora" else 0)
    stage = 0 if zero_stage == "ddp" else int(zero_stage)
    grpo = max_new_tokens > 0
    reference_model = grpo if reference_model is None else reference_model

    lm_tokens, vision_tokens = visual_tokens(shape, frames, frame_size)
    batch = Batch(
        sequences=per_device_batch * (generations if grpo else 1),
        prompts=per_device_batch,
        tokens=videos_per_sample * lm_tokens + prompt_tokens + max_new_tokens,
        vision_tokens=videos_per_sample * vision_tokens,
        loss_tokens=loss_tokens if loss_tokens is not None else (max_new_tokens if grpo else 0),
        prompt_tokens=videos_per_sample * lm_tokens + prompt_tokens,
        new_tokens=max_new_tokens,
    )
    if batch.loss_tokens == 0:
        batch = Batch(**{**batch.__dict__, "loss_tokens": batch.tokens})

    # static: weights, gradients, optimizer (SPEC: ZeRO shards optimizer >= 1, gradients >= 2, weights 3)
    shard = {k: (n_gpus if stage >= s else 1) for k, s in (("opt", 1), ("grad", 2), ("weights", 3))}
    if trainable == "lora":
        n_train = counts["lora"]
        train_bytes = 4 if c == 2 else c  # peft keeps adapters in fp32 under a 16-bit model
        frozen = c * counts["total"]
        master = 0
    else:
        n_train = counts["total"]
        train_bytes = c
        frozen = 0
        master = 4 * n_train if (c == 2 and mixed_precision) else 0
    state_bytes = 4 if (c == 4 or mixed_precision or trainable == "lora") else c
    out = {
        "parameters": counts["total"],
        "trainable_parameters": n_train,
        "sequences": batch.sequences,
        "tokens_per_sequence": batch.tokens,
        "weights": (frozen + train_bytes * n_train) / shard["weights"],
        "gradients": train_bytes * n_train / shard["grad"],
        "optimizer": (2 * state_bytes * n_train + master) / shard["opt"],
    }
    lora = {
        "rank": lora_rank,
        "adapter_bytes": train_bytes,
        "mask_bytes": train_bytes if device == "cpu" else 1,
        "dropout": lora_dropout > 0,
    }
    act = activation_bytes(shape, batch, c=c, trainable=trainable, lora=lora, checkpointing=gradient_checkpointing)
    out.update(act)
    train_phase = act["activations"] + act["recompute"] + act["logits"]

    # GRPO rollout: KV cache of every sequence at full length, one layer's prefill live set, last-token logits
    kv_cache = rollout_transient = reference = reference_transient = 0
    t = shape.text
    if grpo:
        kv_cache = 2 * t.layers * t.kv_heads * t.head_dim * c * batch.sequences * batch.tokens
        rollout_transient = inference_layer_bytes(t, c) * batch.sequences * batch.prompt_tokens
        rollout_transient += (c + 4) * t.vocab * batch.sequences
    if reference_model:  # LoRA: the reference is the same weights with adapters disabled; full: a second copy
        reference = 0 if trainable == "lora" else c * counts["total"] / shard["weights"]
        reference_transient = inference_layer_bytes(t, c) * batch.sequences * batch.tokens
        reference_transient += (c + 4) * t.vocab * batch.sequences * batch.loss_tokens
    out.update(
        kv_cache=kv_cache,
        rollout_transient=rollout_transient,
        reference_weights=reference,
        reference_transient=reference_transient,
    )
    static = out["weights"] + out["gradients"] + out["optimizer"] + reference
    out["static"] = static
    out["peak_phase"] = max(
        ("train", train_phase),
        ("rollout", kv_cache + rollout_transient),
        ("reference", reference_transient),
        key=lambda kv: kv[1],
    )[0]
    out["total"] = static + max(train_phase, kv_cache + rollout_transient, reference_transient)
    return out


def suggest_accumulation(model_config, budget_bytes: float, **settings) -> tuple[int, dict] | tuple[None, dict]:
    """Smallest gradient accumulation k (dividing per_device_batch) whose micro-batch fits ``budget_bytes``;
    returns (k, that plan) or (None, the plan of a micro-batch of 1)."""
    batch = settings["per_device_batch"]
    plan = None
    for k in range(1, batch + 1):
        if batch % k:
            continue
        plan = plan_memory(model_config, **{**settings, "per_device_batch": batch // k})
        if plan["total"] <= budget_bytes:
            return k, plan
    return None, plan


# -------------------------------------------------------------------------------------------------- measuring
def _storage_key(tensor) -> tuple[int, int]:
    storage = tensor.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


def measure_training_step(model, inputs: dict, *, checkpointing: bool = False, lr: float = 1e-4) -> dict:
    """Run one training step (forward with labels, backward, AdamW step) and measure what it holds.

    CPU: parameters, gradients and AdamW states by their storages; activations = unique storages saved for
    backward (``saved_tensors_hooks``) plus the returned logits, excluding parameter storages; under gradient
    checkpointing (reentrant, so the recomputation passes through the same hooks) the largest set saved while
    recomputing one layer. CUDA: also ``torch.cuda.max_memory_allocated`` of the whole step minus what was
    allocated before (weights), added back with the measured weights: ``cuda_peak``.
    """
    import torch

    device = next(model.parameters()).device
    params = [p for p in model.parameters()]
    param_keys = {_storage_key(p)[0] for p in params}
    trainable = [p for p in params if p.requires_grad]
    weights = sum(p.numel() * p.element_size() for p in params)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        model.enable_input_require_grads()
    model.train()
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()

    forward_saved: dict[int, int] = {}
    episode: dict[int, int] = {}
    episodes: list[int] = []
    state = {"backward": False}

    def pack(tensor):
        key, nbytes = _storage_key(tensor)
        if key not in param_keys:
            (episode if state["backward"] else forward_saved).setdefault(key, nbytes)
        return tensor

    # transformers checkpoints a layer's forward, not its __call__: the layer's own hooks do not rerun in the
    # recomputation, its children's do; a child of another layer starts a new recomputation episode
    def child_start(layer_id):
        def hook(module, args):
            if state["backward"] and state.get("layer") != layer_id:
                episodes.append(sum(episode.values()))
                episode.clear()
                state["layer"] = layer_id

        return hook

    layers = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)] if checkpointing else []
    handles = [child.register_forward_pre_hook(child_start(id(m))) for m in layers for child in m.children()]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            outputs = model(**inputs)
            for value in outputs.values():
                if torch.is_tensor(value) and value.numel() > 1:
                    forward_saved.setdefault(*_storage_key(value))
            state["backward"] = True
            outputs.loss.backward()
            episodes.append(sum(episode.values()))
        optimizer.step()
    finally:
        for handle in handles:
            handle.remove()
    grads = sum(p.grad.numel() * p.grad.element_size() for p in trainable if p.grad is not None)
    states = sum(
        v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)
    )
    activations = sum(forward_saved.values())
    recompute = max(episodes) if checkpointing else 0
    result = {
        "weights": weights,
        "gradients": grads,
        "optimizer": states,
        "activations": activations,
        "recompute": recompute,
        "total": weights + grads + states + activations + recompute,
    }
    if device.type == "cuda":
        torch.cuda.synchronize()
        result["cuda_peak"] = torch.cuda.max_memory_allocated() - before + weights
    optimizer.zero_grad(set_to_none=True)
    return result


# ----------------------------------------------------------------------------------------------------- the CLI
PLAN_KEYS = (
    "weights",
    "arch",
    "per_device_batch",
    "generations",
    "frames",
    "frame_size",
    "max_new_tokens",
)
OPTIONAL_KEYS = {
    "lora_rank": 64,
    "trainable": "lora",
    "dtype": "bfloat16",
    "zero_stage": "ddp",
    "gradient_checkpointing": True,
    "videos_per_sample": 1,
    "prompt_tokens": 128,
    "lora_dropout": 0.05,
    "batch_counts": "prompts",
    "loss_tokens": None,
}
COMPONENTS = (
    "weights",
    "gradients",
    "optimizer",
    "reference_weights",
    "activations",
    "recompute",
    "logits",
    "kv_cache",
    "rollout_transient",
    "reference_transient",
)


def read_roles(config_path: Path) -> dict[str, dict]:
    """``paper_scale.models.<role>`` of a config file, checked (UserError naming the key)."""
    import yaml

    from vqaloop.io.readers import read_text
    from vqaloop.schema import validate_keys

    try:
        config = yaml.safe_load(read_text(config_path, "config file")) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{config_path}: not valid YAML ({' '.join(str(err).split())})") from err
    if not isinstance(config, dict):
        raise UserError(f"{config_path}: top level must be a mapping of keys")
    models = (config.get("paper_scale") or {}).get("models")
    if not isinstance(models, dict) or not models:
        raise UserError(f"{config_path}: no paper_scale.models section (role -> model settings)")
    validate_keys(config, ["paper_scale"], str(config_path))  # types and ranges, as validate-config checks them
    roles = {}
    for role, settings in models.items():
        where = f"{config_path}: paper_scale.models.{role}"
        if not isinstance(settings, dict):
            raise UserError(f"{where}: expected a mapping of model settings")
        missing = [k for k in PLAN_KEYS if k not in settings]
        if missing:
            raise UserError(f"{where}: missing key(s) {', '.join(missing)}")
        unknown = sorted(set(settings) - set(PLAN_KEYS) - set(OPTIONAL_KEYS))
        if unknown:
            raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}")
        roles[role] = {**OPTIONAL_KEYS, **settings}
    return roles


def role_config(settings: dict, config_dir: Path):
    """The model config of a role: its weights folder's config.json if there is one, else the known config."""
    from vqaloop.vlm.known_configs import known_config

    weights = Path(str(settings["weights"]))
    # a relative path is relative to where Snakemake runs (the repository root), as every path of a config
    if (weights / "config.json").is_file():
        return as_config(weights), str(weights / "config.json")
    return known_config(settings["arch"]), f"known:{settings['arch']}"


def role_settings(role: str, settings: dict) -> dict:
    """plan_memory keyword arguments of one role."""
    batch, generations = int(settings["per_device_batch"]), int(settings["generations"])
    if settings["batch_counts"] == "completions":  # trl's convention: the batch counts completions
        if batch % generations:
            raise UserError(f"paper_scale.models.{role}: per_device_batch {batch} not divisible by {generations}")
        batch //= generations
    elif settings["batch_counts"] != "prompts":
        raise UserError(f"paper_scale.models.{role}.batch_counts: expected prompts or completions")
    return {
        "lora_rank": int(settings["lora_rank"]),
        "trainable": settings["trainable"],
        "dtype": settings["dtype"],
        "per_device_batch": batch,
        "generations": generations,
        "frames": int(settings["frames"]),
        "frame_size": int(settings["frame_size"]),
        "videos_per_sample": int(settings["videos_per_sample"]),
        "prompt_tokens": int(settings["prompt_tokens"]),
        "max_new_tokens": int(settings["max_new_tokens"]),
        "gradient_checkpointing": bool(settings["gradient_checkpointing"]),
        "lora_dropout": float(settings["lora_dropout"]),
        "zero_stage": settings["zero_stage"],
        "loss_tokens": None if settings["loss_tokens"] is None else int(settings["loss_tokens"]),
    }


def plan_table(config_path: Path, gpu_gib: float = 80.0, headroom: float = 0.10) -> list[dict]:
    """One row per role x GPU count: per-GPU GiB by component, total, fits, suggested gradient accumulation."""
    budget = gpu_gib * GIB * (1 - headroom)
    rows = []
    for role, settings in read_roles(config_path).items():
        model_config, source = role_config(settings, config_path.parent)
        kwargs = role_settings(role, settings)
        for n_gpus in GPU_COUNTS:
            plan = plan_memory(model_config, n_gpus=n_gpus, **kwargs)
            accumulation, _micro = suggest_accumulation(model_config, budget, n_gpus=n_gpus, **kwargs)
            row = {
                "role": role,
                "config": source,
                "trainable": kwargs["trainable"],
                "zero_stage": kwargs["zero_stage"],
                "n_gpus": n_gpus,
                "per_device_batch": kwargs["per_device_batch"],
                "generations": kwargs["generations"] if kwargs["max_new_tokens"] else 1,
                "sequences": plan["sequences"],
                "tokens_per_sequence": plan["tokens_per_sequence"],
                "parameters_b": round(plan["parameters"] / 1e9, 3),
                "trainable_parameters_m": round(plan["trainable_parameters"] / 1e6, 2),
            }
            row.update({f"{k}_gib": round(plan[k] / GIB, 2) for k in COMPONENTS})
            row["peak_phase"] = plan["peak_phase"]
            row["total_gib"] = round(plan["total"] / GIB, 2)
            row["budget_gib"] = round(budget / GIB, 2)
            row["fits"] = "yes" if plan["total"] <= budget else "no"
            row["grad_accumulation"] = accumulation if accumulation is not None else "none fits"
            rows.append(row)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vqaloop.cli_checks import float_in, output_file

    parser.add_argument("--config", required=True, type=Path, help="config with paper_scale.models.<role>")
    parser.add_argument("--out", type=output_file, default=None, help="write the table as CSV")
    parser.add_argument("--gpu-gib", type=float_in(0.0, 100_000.0, lo_open=True), default=80.0,
                        help="memory of one GPU in GiB, in (0, 100000] (default 80)")  # fmt: skip
    parser.add_argument("--headroom", type=float_in(0.0, 1.0, hi_open=True), default=0.10,
                        help="fraction kept free (allocator, CUDA context), in [0, 1)")  # fmt: skip


def run(args) -> int:
    import pandas as pd

    from vqaloop.io.atomic import write_csv_atomic

    if not 0 <= args.headroom < 1:
        raise UserError(f"--headroom must be in [0, 1), got {args.headroom}")
    table = pd.DataFrame(plan_table(args.config, args.gpu_gib, args.headroom))
    shown = [
        "role",
        "n_gpus",
        "sequences",
        "weights_gib",
        "gradients_gib",
        "optimizer_gib",
        "activations_gib",
        "recompute_gib",
        "logits_gib",
        "kv_cache_gib",
        "total_gib",
        "fits",
        "grad_accumulation",
    ]
    print(table[shown].to_string(index=False))
    if args.out is not None:
        write_csv_atomic(table, args.out, index=False)
    return 0


def plan_json(plan: dict) -> str:
    """A plan as indented JSON (GiB rounded), for logs."""
    return json.dumps({k: (round(v / GIB, 3) if isinstance(v, float) else v) for k, v in plan.items()}, indent=1)
