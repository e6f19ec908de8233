"""GRPO for a LoRA on Qwen2.5-VL with video input: VisualQuality-R1's recipe (f) and the VLM failure predictor (g).

One step (``grpo_step``): the videos of a batch, each repeated G times, go through ``generate(do_sample=True)``
(the only place in vqaloop that samples); each answer is parsed with ``vqaloop.vlm.answers.parse_score``
(unparsable answers are counted and get 0 for the score part of the reward, never a guessed number); rewards
(``vqaloop.vlm.rewards``: format + score) give group-normalised advantages; the per-token log-probabilities of
the answers under the policy and under the reference (the same peft model with its adapter disabled) give the
clipped surrogate with the k3 KL estimator, beta * (exp(ref - logp) - (ref - logp) - 1); the loss is the
per-answer token mean averaged over answers (VLM-R1 / trl's "grpo" loss), and AdamW updates only the LoRA
parameters. Defaults are VisualQuality-R1's: G = 6, temperature 1, 256 new tokens, beta 0.04, clip eps 0.2.

Why not trl's ``GRPOTrainer`` (trl 1.16, read before writing this): its multimodal path extracts only
``{"type": "image"}`` parts from conversational prompts and passes ``images=`` to the processor, so a video never
reaches Qwen2.5-VL (trl issues 4144, 5373); and it calls reward functions on the process-local slice of the
batch, gathering only the finished rewards, while VisualQuality-R1's reward compares each answer with the answer
distribution of every *other* video of the batch. This loop keeps whole groups on one process and all-gathers
the per-group score statistics (``rewards.batch_ranking_rewards``), so N processes compute the rewards one
process would. ``accelerate.Accelerator`` places the model, wraps it for multi-process data parallelism and
applies bf16 autocast (``mixed_precision="bf16"``).

Sampling: plain temperature sampling (top-k off, top-p 1), so the log-probabilities computed at the same
temperature are those of the distribution the answers were drawn from. The sampling RNG is seeded per step
(seed, step, process), so a run is repeatable on the same hardware.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor

from vqaloop.vlm import rewards as R

log = logging.getLogger(__name__)

VISUAL_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "pixel_values", "image_grid_thw")


@dataclass
class GRPOSettings:
    """GRPO hyper-parameters (defaults: VisualQuality-R1's public training script; SPEC "VisualQuality-R1")."""

    generations: int = 6
    temperature: float = 1.0
    max_new_tokens: int = 256
    beta: float = 0.04
    clip_eps: float = 0.2
    format_weight: float = 1.0
    answer_layout: str = "quality"  # the format reward's layout (rewards.FORMAT_PATTERNS): "quality" f, "failure" g
    micro_batch: int = 8  # answers per forward/backward pass (gradient accumulation inside a step)
    updates_per_batch: int = 1  # policy updates per batch of sampled answers (GRPO's mu)
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = False
    mixed_precision: str = "no"  # "no" or "bf16" (accelerate)
    # "paper" (group-normalised advantages of the rewards) or "authors": the MDS-VQA authors' g recipe (G = 1,
    # rewards.authors_failure_losses, advantage = minus the losses); config grpo.g_recipe
    recipe: str = "paper"
    train_frames: int | None = None  # k random key frames of each video per step (sorted); None = all of them


@dataclass
class StepStats:
    """What one GRPO step did (all counts over this process's answers)."""

    answers: int = 0
    unparsable: int = 0
    reward: float = 0.0
    format_reward: float = 0.0
    score_reward: float = 0.0
    loss: float = 0.0
    kl: float = 0.0
    clipped: float = 0.0
    completion_tokens: float = 0.0
    seconds: float = 0.0


@dataclass
class Rollout:
    """G sampled answers for each of B videos, flattened video-major (row = b * G + j)."""

    inputs: dict  # the prompt inputs, one row per answer
    completion_ids: Tensor  # (B*G, C)
    completion_mask: Tensor  # (B*G, C) 1 up to and including the first end-of-sequence token
    texts: list[str]
    scores: Tensor  # (B, G) parsed scores, NaN = unparsable
    suppressed: list[int] = field(default_factory=list)  # tokens the sampler never draws (vision_token_ids)


@dataclass
class TrainingHistory:
    epochs: list[dict] = field(default_factory=list)

    @property
    def unparsable(self) -> int:
        return int(sum(e["unparsable"] for e in self.epochs))

    @property
    def answers(self) -> int:
        return int(sum(e["answers"] for e in self.epochs))


# ---------------------------------------------------------------------------------------------- inputs


def prompt_inputs(processor, videos: Sequence[np.ndarray], prompt: str) -> dict:
    """Processor inputs for generation: the chat prompt of each video, ending where the assistant's answer starts."""
    from vqaloop.vlm.scoring import video_inputs

    return dict(video_inputs(processor, list(videos), prompt, answer_prefix=""))


def _visual_rows(inputs: dict, key: str, grid_key: str) -> list[int]:
    """Number of rows of the flattened visual tensor ``key`` that belong to each video / image."""
    grid = inputs.get(grid_key)
    return [] if grid is None else [int(t * h * w) for t, h, w in grid.tolist()]


def slice_inputs(inputs: dict, start: int, stop: int) -> dict:
    """Rows start..stop-1 of batched processor inputs, the flattened visual patches included.

    Assumes one video (or image) per row, which is how ``prompt_inputs`` builds them.
    """
    out = {}
    for key, value in inputs.items():
        if key in ("pixel_values_videos", "pixel_values"):
            grid_key = "video_grid_thw" if key == "pixel_values_videos" else "image_grid_thw"
            offsets = np.cumsum([0, *_visual_rows(inputs, key, grid_key)])
            out[key] = value[int(offsets[start]) : int(offsets[stop])]
        elif isinstance(value, Tensor):
            out[key] = value[start:stop]
        else:
            out[key] = value
    return out


def move_inputs(inputs: dict, device, float_dtype: torch.dtype | None = None) -> dict:
    """Inputs on ``device``; pixel tensors cast to the model's floating dtype."""
    out = {}
    for key, value in inputs.items():
        if isinstance(value, Tensor):
            value = value.to(device)
            if float_dtype is not None and key.startswith("pixel_values"):
                value = value.to(float_dtype)
        out[key] = value
    return out


# ---------------------------------------------------------------------------------------------- sampling


def end_token_ids(model, processor) -> list[int]:
    """Token ids that end an answer: the generation config's eos ids and the tokenizer's eos."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else ([ids] if isinstance(ids, int) else list(ids))
    eos = processor.tokenizer.eos_token_id
    return sorted(set(ids) | ({eos} if eos is not None else set()))


def vision_token_ids(model) -> list[int]:
    """Placeholder tokens of the vision input (image/video pad, vision start/end): never sampled in an answer,
    since a sampled one would be read as a slot for visual features in the log-probability forward pass."""
    config = getattr(model, "config", None)
    names = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    return sorted({int(getattr(config, n)) for n in names if getattr(config, n, None) is not None})


def completion_mask(completion_ids: Tensor, end_ids: Sequence[int]) -> Tensor:
    """(N, C) 1 for every token up to and including the first end token of each answer, 0 after."""
    is_end = torch.isin(completion_ids, torch.tensor(list(end_ids), device=completion_ids.device))
    ends_before = torch.cumsum(is_end.long(), dim=1) - is_end.long()  # end tokens strictly before position t
    return (ends_before == 0).long()


@torch.no_grad()
def sample_answers(model, processor, inputs: dict, settings: GRPOSettings, seed: int) -> tuple[Tensor, Tensor]:
    """``generate(do_sample=True)`` (the only sampling in vqaloop): completion ids and their mask (N, C)."""
    from transformers import GenerationConfig

    end_ids = end_token_ids(model, processor)
    pad = processor.tokenizer.pad_token_id
    config = GenerationConfig(do_sample=True, temperature=settings.temperature, top_k=0, top_p=1.0,
                              max_new_tokens=settings.max_new_tokens, eos_token_id=end_ids,
                              pad_token_id=end_ids[0] if pad is None else pad,
                              suppress_tokens=vision_token_ids(model) or None)  # fmt: skip
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()  # no LoRA dropout while sampling: the answers come from the policy being optimised
    sequences = model.generate(**inputs, generation_config=config)
    model.train(was_training)
    completion = sequences[:, inputs["input_ids"].shape[1] :]
    return completion, completion_mask(completion, end_ids)


def parse_answers(texts: Sequence[str], generations: int) -> tuple[Tensor, int]:
    """(B, G) parsed scores (NaN = unparsable) and the number of unparsable answers (SPEC "Answer parsing")."""
    from vqaloop.vlm.answers import parse_score

    parsed = [parse_score(t) for t in texts]
    rows = [parsed[i : i + generations] for i in range(0, len(parsed), generations)]
    return R.scores_tensor(rows), sum(p is None for p in parsed)


def rollout(model, processor, videos: Sequence[np.ndarray], prompt: str, settings: GRPOSettings, seed: int) -> Rollout:
    """G sampled answers per video and their parsed scores."""
    repeated = [v for v in videos for _ in range(settings.generations)]
    inputs = move_inputs(prompt_inputs(processor, repeated, prompt), model.device, model.dtype)
    completion, mask = sample_answers(model, processor, inputs, settings, seed)
    texts = processor.batch_decode(completion * mask + (1 - mask) * _pad_id(processor), skip_special_tokens=True)
    scores, _ = parse_answers(texts, settings.generations)
    return Rollout(inputs, completion, mask, texts, scores, vision_token_ids(model))


def _pad_id(processor) -> int:
    tok = processor.tokenizer
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


# ---------------------------------------------------------------------------------------------- log-probs


def answer_logprobs(
    model, inputs: dict, completion_ids: Tensor, mask: Tensor, temperature: float, suppressed: Sequence[int] = ()
) -> Tensor:
    """(N, C) log-probabilities of the answer tokens given the video prompt (one forward pass), under the
    sampling distribution: logits / temperature with the ``suppressed`` tokens (``vision_token_ids``) removed."""
    length = completion_ids.shape[1]
    forward = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
    forward["input_ids"] = torch.cat([inputs["input_ids"], completion_ids], dim=1)
    forward["attention_mask"] = torch.cat([inputs["attention_mask"], mask.to(inputs["attention_mask"].dtype)], dim=1)
    if "mm_token_type_ids" in inputs:  # text tokens are type 0 (Qwen2.5-VL's 3-D positions need the types)
        types = inputs["mm_token_type_ids"]
        forward["mm_token_type_ids"] = torch.cat([types, torch.zeros_like(completion_ids, dtype=types.dtype)], dim=1)
    logits = model(**forward, use_cache=False, logits_to_keep=length + 1).logits[:, :-1].float()
    logits = logits / temperature
    if len(suppressed):
        logits[..., list(suppressed)] = -math.inf
    return torch.gather(logits.log_softmax(-1), 2, completion_ids[:, :, None]).squeeze(2)


def chunked_logprobs(model, batch: Rollout, settings: GRPOSettings) -> Tensor:
    """``answer_logprobs`` of every answer in micro-batches, without gradients."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(batch.completion_ids), settings.micro_batch):
            stop = min(start + settings.micro_batch, len(batch.completion_ids))
            parts.append(answer_logprobs(model, slice_inputs(batch.inputs, start, stop), batch.completion_ids[start:stop],
                                         batch.completion_mask[start:stop], settings.temperature,
                                         batch.suppressed))  # fmt: skip
    return torch.cat(parts)


def reference_logprobs(model, batch: Rollout, settings: GRPOSettings) -> Tensor:
    """Log-probs under the reference policy: the same peft model with its LoRA adapter disabled."""
    with model.disable_adapter():
        return chunked_logprobs(model, batch, settings)


def grpo_token_loss(logp: Tensor, old_logp: Tensor, ref_logp: Tensor | None, advantages: Tensor, beta: float,
                    clip_eps: float) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """Per-token loss -min(ratio A, clip(ratio) A) + beta KL_k3, the KL and whether the ratio was clipped."""
    ratio = torch.exp(logp - old_logp)
    a = advantages[:, None]
    surrogate = torch.min(ratio * a, torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * a)
    clipped = (ratio * a > torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * a).float()
    if ref_logp is None:
        kl = torch.zeros_like(logp)
    else:
        delta = ref_logp - logp
        kl = torch.exp(delta) - delta - 1.0  # k3 estimator of KL(policy || reference)
    return -surrogate + beta * kl, kl, clipped


def sequence_mean(values: Tensor, mask: Tensor) -> Tensor:
    """(N,) mean of each answer's token values (empty answers count 0)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(1) / mask.sum(1).clamp_min(1.0)


# ---------------------------------------------------------------------------------------------- one step


def batch_rewards(batch: Rollout, targets: Tensor, reward: str, settings: GRPOSettings, device) -> tuple[Tensor, dict]:
    """(B*G,) total rewards (format + score) and their parts' means; the authors' recipe: minus their losses,
    -(fidelity loss + format loss), the format loss being 1 - the format reward (``authors_advantages``)."""
    preds = batch.scores.to(device)
    if settings.recipe == "authors":
        losses = R.authors_failure_losses(preds, targets.to(device=device, dtype=torch.float64))
        fmt = R.format_rewards(batch.texts, settings.answer_layout).to(device).view_as(losses)
        total = -(losses + (1.0 - fmt))
        return total, {"format_reward": float(fmt.mean()), "score_reward": float(-losses.mean())}
    score = R.score_rewards(reward, preds, targets.to(device=device, dtype=torch.float64))
    fmt = R.format_rewards(batch.texts, settings.answer_layout).to(device).view_as(score)
    total = settings.format_weight * fmt + score
    return total, {"format_reward": float(fmt.mean()), "score_reward": float(score.mean())}


def step_advantages(rewards: Tensor, settings: GRPOSettings) -> Tensor:
    """(B, G) advantages: GRPO's group-normalised rewards; the authors' g recipe: the rewards themselves (their
    trainer sets advantages = -(summed losses) when num_generations is 1, no group baseline)."""
    if settings.recipe == "authors":
        return rewards
    return R.group_advantages(rewards)


def subsample_frames(videos: Sequence[np.ndarray], k: int | None, seed: int) -> list[np.ndarray]:
    """Each video's frames, or k of them drawn at random and kept in time order (the authors' trainer: 14 of
    the frames it decoded at 2 fps, the same for the G answers of a video; config grpo.train_frames)."""
    if k is None:
        return list(videos)
    rng = np.random.default_rng([seed, 7])
    out = []
    for video in videos:
        if len(video) > k:
            video = video[np.sort(rng.choice(len(video), size=k, replace=False))]
        out.append(video)
    return out


def grpo_step(
    model,
    processor,
    optimizer,
    videos: Sequence[np.ndarray],
    targets: Tensor,
    prompt: str,
    reward: str,
    settings: GRPOSettings,
    *,
    seed: int,
    accelerator=None,
    scheduler=None,
) -> StepStats:
    """One GRPO step on this process's videos (whole groups); ``model`` is the (possibly prepared) peft model."""
    started = time.perf_counter()
    policy = accelerator.unwrap_model(model) if accelerator is not None else model
    videos = subsample_frames(videos, settings.train_frames, seed)
    batch = rollout(policy, processor, videos, prompt, settings, seed)
    unparsable = int(torch.isnan(batch.scores).sum())
    rewards, parts = batch_rewards(batch, targets, reward, settings, batch.completion_ids.device)
    advantages = step_advantages(rewards, settings).reshape(-1).float()
    ref = reference_logprobs(policy, batch, settings) if settings.beta > 0 else None
    old = chunked_logprobs(policy, batch, settings) if settings.updates_per_batch > 1 else None
    n = len(batch.completion_ids)
    losses, kls, clips = [], [], []
    model.train()
    for _ in range(settings.updates_per_batch):
        optimizer.zero_grad()
        for start in range(0, n, settings.micro_batch):
            stop = min(start + settings.micro_batch, n)
            mask = batch.completion_mask[start:stop]
            # gradients are all-reduced across processes once, after the last micro-batch
            sync = contextlib.nullcontext() if accelerator is None or stop == n else accelerator.no_sync(model)
            with sync:
                logp = answer_logprobs(model, slice_inputs(batch.inputs, start, stop),
                                       batch.completion_ids[start:stop], mask, settings.temperature,
                                       batch.suppressed)  # fmt: skip
                old_logp = logp.detach() if old is None else old[start:stop]
                token_loss, kl, clipped = grpo_token_loss(logp, old_logp, None if ref is None else ref[start:stop],
                                                          advantages[start:stop], settings.beta,
                                                          settings.clip_eps)  # fmt: skip
                loss = sequence_mean(token_loss, mask).sum() / n  # mean over answers of the per-answer token mean
                if accelerator is not None:
                    accelerator.backward(loss)
                else:
                    loss.backward()
            losses.append(float(loss.detach()))
            kls.append(float(sequence_mean(kl.detach(), mask).sum()) / n)
            clips.append(float(sequence_mean(clipped, mask).sum()) / n)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if settings.max_grad_norm and settings.max_grad_norm > 0:
            if accelerator is not None:
                accelerator.clip_grad_norm_(trainable, settings.max_grad_norm)
            else:
                torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    updates = settings.updates_per_batch
    return StepStats(answers=n, unparsable=unparsable, reward=float(rewards.mean()), loss=sum(losses) / updates,
                     kl=sum(kls) / updates, clipped=sum(clips) / updates,
                     completion_tokens=float(batch.completion_mask.sum()) / n,
                     seconds=time.perf_counter() - started, **parts)  # fmt: skip


# ---------------------------------------------------------------------------------------------- training


def prepare_policy(model, gradient_checkpointing: bool) -> None:
    """Gradient checkpointing (non-reentrant, so it works with frozen inputs and DDP) and input grads for it."""
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
        model.config.use_cache = False


def process_rows(rows: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This process's share of a batch's rows (whole groups: every answer of a video stays on one process)."""
    return np.array_split(rows, world)[rank]


def train_grpo(
    model,
    processor,
    groups: Sequence,
    videos: Callable[[int, np.ndarray], list[np.ndarray]],
    prompt: str,
    reward: str,
    settings: GRPOSettings,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    weight_decay: float,
    seed: int,
    desc: str,
    accelerator=None,
) -> TrainingHistory:
    """GRPO over ``epochs`` with AdamW on the LoRA parameters, lr decaying linearly to 0 (MDS-VQA Sec. 4.1).

    ``groups``: ``vqaloop.training.data.Group`` objects whose ``y`` are the reward targets (MOS for f; errors,
    hard labels or regression targets for g); a batch is drawn from one group only, so the cross-sample ranking
    reward never compares videos of two datasets. ``videos(g, rows)`` returns the uint8 videos (F, H, W, 3) of
    rows of group g. ``model`` is a peft model. Each process takes its share of every batch.
    """
    from tqdm import tqdm

    from vqaloop.training.data import group_batches

    if reward not in R.SCORE_REWARDS:
        raise ValueError(f"unknown reward {reward!r}; valid: {R.SCORE_REWARDS}")
    if settings.recipe == "authors" and settings.generations != 1:
        from vqaloop.errors import UserError

        raise UserError(
            f"the authors' g recipe samples one answer per video (--generations 1), got {settings.generations}"
        )
    accelerator = accelerator or make_accelerator(settings)
    world, rank = accelerator.num_processes, accelerator.process_index
    prepare_policy(model, settings.gradient_checkpointing)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    steps_per_epoch = len(_usable(group_batches(groups, batch_size, np.random.default_rng(0)), world))
    total = max(1, epochs * steps_per_epoch * settings.updates_per_batch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total))
    model, optimizer = accelerator.prepare(model, optimizer)
    history = TrainingHistory()
    step = 0
    bar = tqdm(
        range(epochs), desc=desc, unit="epoch", disable=not sys.stderr.isatty() or not accelerator.is_main_process
    )
    for epoch in bar:
        stats = []
        for g, rows in _usable(group_batches(groups, batch_size, rng), world):
            mine = process_rows(rows, rank, world)
            targets = groups[g].y[torch.from_numpy(mine)]
            s = grpo_step(model, processor, optimizer, videos(g, mine), targets, prompt, reward, settings,
                          seed=_step_seed(seed, step, rank), accelerator=accelerator, scheduler=scheduler)  # fmt: skip
            stats.append(s)
            step += 1
            log.info("%s epoch %d step %d: reward %.4f (format %.3f) loss %.4f kl %.5f unparsable %d/%d "
                     "tokens %.1f %.2fs", desc, epoch, step, s.reward, s.format_reward, s.loss, s.kl,
                     s.unparsable, s.answers, s.completion_tokens, s.seconds)  # fmt: skip
        history.epochs.append(_epoch_summary(stats, accelerator))
        bar.set_postfix(reward=f"{history.epochs[-1]['reward']:.4f}")
    model = accelerator.unwrap_model(model)
    model.eval()
    if history.epochs:
        log.info("%s: reward %.4f -> %.4f over %d epochs; %d of %d answers unparsable", desc,
                 history.epochs[0]["reward"], history.epochs[-1]["reward"], epochs, history.unparsable,
                 history.answers)  # fmt: skip
    return history


def make_accelerator(settings: GRPOSettings):
    """The ``accelerate.Accelerator`` of a run: the GPU of this process when there is one, else the CPU."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    options = {"mixed_precision": settings.mixed_precision, "cpu": not torch.cuda.is_available()}
    try:
        return Accelerator(**options)
    except ValueError:  # an earlier command of this process (``vqaloop batch``) set another precision
        AcceleratorState._reset_state()  # the process group (PartialState) stays
        return Accelerator(**options)


def _usable(batches: list, world: int) -> list:
    """Batches with at least one video per process (every process must take part in every step)."""
    return [(g, rows) for g, rows in batches if len(rows) >= world]


def _step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 1009 + rank) % (2**63 - 1)


def _epoch_summary(stats: list[StepStats], accelerator) -> dict:
    """Means over the epoch's steps (rewards, loss, KL) and counts (answers, unparsable) summed over processes."""
    if not stats:
        return {"answers": 0, "unparsable": 0, "reward": math.nan, "loss": math.nan, "kl": math.nan}
    mean = {k: float(np.mean([getattr(s, k) for s in stats])) for k in ("reward", "format_reward", "score_reward",
                                                                       "loss", "kl", "clipped", "completion_tokens")}  # fmt: skip
    counts = torch.tensor([sum(s.answers for s in stats), sum(s.unparsable for s in stats)], dtype=torch.long,
                          device=accelerator.device)  # fmt: skip
    counts = accelerator.reduce(counts, reduction="sum") if accelerator.num_processes > 1 else counts
    return {"answers": int(counts[0]), "unparsable": int(counts[1]), **{k: round(v, 6) for k, v in mean.items()},
            "seconds": round(sum(s.seconds for s in stats), 3)}  # fmt: skip


def settings_from_args(args, **overrides) -> GRPOSettings:
    """GRPOSettings from the ``add_grpo_arguments`` options (``overrides``: fields the caller fixes)."""
    frames = getattr(args, "train_frames", None)
    if frames is not None and frames < 1:
        from vqaloop.errors import UserError

        raise UserError(f"--train-frames must be at least 1, got {frames}")
    return GRPOSettings(**overrides, generations=args.generations, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                        beta=args.beta, clip_eps=args.clip_eps, micro_batch=args.micro_batch,
                        gradient_checkpointing=args.gradient_checkpointing,
                        mixed_precision=args.mixed_precision,
                        train_frames=getattr(args, "train_frames", None))  # fmt: skip


def add_grpo_arguments(parser) -> None:
    """The GRPO options of train-base / train-g / finetune (used when the base model's TRAINER is "grpo")."""
    from vqaloop.cli_checks import MAX_FRAMES, float_in, int_in

    d = GRPOSettings()
    group = parser.add_argument_group("GRPO (vision-language base models)")
    group.add_argument("--generations", type=int_in(1, 1024), default=d.generations,
                       help="answers sampled per video (G)")  # fmt: skip
    group.add_argument("--temperature", type=float_in(0.0, 100.0, lo_open=True), default=d.temperature,
                       help="sampling temperature, in (0, 100]")  # fmt: skip
    group.add_argument("--max-new-tokens", type=int_in(1, 1 << 16), default=d.max_new_tokens)
    group.add_argument("--beta", type=float_in(0.0, 100.0), default=d.beta, help="KL weight, in [0, 100]")
    group.add_argument("--clip-eps", type=float_in(0.0, 1.0, lo_open=True), default=d.clip_eps,
                       help="PPO clip range, in (0, 1]")  # fmt: skip
    group.add_argument("--micro-batch", type=int_in(1, 1 << 16), default=d.micro_batch,
                       help="answers per forward/backward pass")  # fmt: skip
    group.add_argument("--gradient-checkpointing", action="store_true")
    group.add_argument("--train-frames", type=int_in(1, MAX_FRAMES), default=None,
                       help="k random key frames of each video per step, in time order (config grpo.train_frames; "
                       "the authors: 14); default: all of them")  # fmt: skip
    group.add_argument(
        "--lora-lm-head",
        action="store_true",
        help="LoRA on the output layer lm_head too (config grpo.lora_lm_head; the authors' trainer)",
    )
    group.add_argument("--mixed-precision", choices=("no", "bf16"), default=d.mixed_precision)


def settings_meta(settings: GRPOSettings) -> dict:
    return asdict(settings)


# ---------------------------------------------------------------------------------------------- f (train-base, finetune)


@torch.no_grad()
def vlm_predict(wrapper, x: Tensor) -> np.ndarray:
    """The wrapper's deterministic expected scores (N,) as float64 on the CPU (whatever device the VLM is on).

    Inputs read on demand (``features.inputs.LazyInputs``) go through in chunks of whole scoring batches (the same
    batches as one call), about ``BATCH_BYTES`` a chunk; sampled answers are seeded by their position in one call
    (``vlm.scoring.sampled_scores``), so those inputs are read whole."""
    from vqaloop.features.inputs import capped_batch, is_lazy

    wrapper.eval()
    batch = int(getattr(wrapper, "batch", 1) or 1)
    if not is_lazy(x) or getattr(wrapper, "scoring", "deterministic") == "sampled":
        return wrapper(x[:] if is_lazy(x) else x).detach().double().cpu().numpy()
    if len(x) == 0:
        return np.zeros(0)
    step = max(batch, capped_batch(x, len(x)) // batch * batch)
    return np.concatenate([wrapper(x[i : i + step]).detach().double().cpu().numpy() for i in range(0, len(x), step)])


def train_vlm_on_groups(wrapper, groups: Sequence, reward: str, rank: int, settings: GRPOSettings, args, desc: str,
                        accelerator=None) -> TrainingHistory:  # fmt: skip
    """Attach a LoRA (rank ``rank``, alpha 2r, dropout 0.05, the class's ``LORA_TARGETS``) to a VLM base-model
    wrapper (``models.vlm.VisualQualityR1``: an earlier adapter is merged into the weights first) and train it
    with GRPO on ``groups`` with the wrapper's prompt (``args``: epochs, lr, batch, weight_decay, seed)."""
    accelerator = accelerator or make_accelerator(settings)
    wrapper.vlm.to(accelerator.device)
    wrapper.add_lora(r=rank, targets=lora_targets(wrapper, getattr(args, "lora_lm_head", False)))
    wrapper.vlm.to(accelerator.device)

    def videos(g: int, rows: np.ndarray) -> list[np.ndarray]:
        return wrapper.videos(groups[g].x[torch.from_numpy(rows)])

    return train_grpo(wrapper.vlm, wrapper.processor, groups, videos, wrapper.prompt, reward, settings,
                      epochs=args.epochs, lr=args.lr, batch_size=args.batch, weight_decay=args.weight_decay,
                      seed=args.seed, desc=desc, accelerator=accelerator)  # fmt: skip


def lora_targets(wrapper, lm_head: bool) -> str:
    """The LoRA's target modules: the class's ``LORA_TARGETS`` (the language model's linear layers), plus the
    output layer ``lm_head`` when asked (the MDS-VQA authors' trainer adapts every Linear outside the vision tower)."""
    return f"(?:{wrapper.LORA_TARGETS})|(?:.*lm_head)" if lm_head else wrapper.LORA_TARGETS


def history_meta(history: TrainingHistory, settings: GRPOSettings) -> dict:
    """What a VLM checkpoint's meta records of its GRPO training (the unparsable count is reported in tables)."""
    return {"trainer": "grpo", "grpo": settings_meta(settings), "answers": history.answers,
            "unparsable": history.unparsable, "reward_history": [e["reward"] for e in history.epochs],
            "epochs_log": history.epochs}  # fmt: skip


def frame_side(dim: int) -> int:
    """The frame size of ``frames`` encoder rows of length dim = size * size * 3."""
    side = int(round((dim / 3) ** 0.5))
    if side * side * 3 != dim:
        from vqaloop.errors import UserError

        raise UserError(f"VLM base model: input rows of length {dim} are not frames-encoder rows (size*size*3)")
    return side


def train_vlm_base(name: str, x: Tensor, mos: Tensor, args):
    """train-base for a VLM base model (TRAINER "grpo"): f = the pretrained VLM (``--weights``), GRPO with the
    quality prompt (Table 10) and VisualQuality-R1's fidelity reward on the source training split when
    ``--epochs`` > 0, then the 4-parameter logistic from its expected scores to MOS (as for every base)."""
    from vqaloop.errors import UserError
    from vqaloop.evaluation.metrics import fit_logistic4, srcc
    from vqaloop.models.registry import Checkpoint, get_base_model_class
    from vqaloop.training.data import Group
    from vqaloop.training.loops import seed_everything

    if not getattr(args, "weights", None):
        raise UserError(f"train-base --base {name}: --weights (a model folder or Hugging Face id) is required")
    seed_everything(args.seed)
    settings = settings_from_args(args)
    kwargs = {"in_dim": int(x.shape[-1]), "weights": str(args.weights), "frames": int(x.shape[1]),
              "frame_size": frame_side(int(x.shape[-1])), "dtype": args.dtype, "prompt": "quality",
              "scoring": getattr(args, "scores", "deterministic")}  # fmt: skip
    wrapper = get_base_model_class(name)(**kwargs)
    accelerator = make_accelerator(settings)
    wrapper.vlm.to(accelerator.device)
    meta = {"trainer": "none (pretrained VLM, --epochs 0)"}
    if args.epochs > 0:
        history = train_vlm_on_groups(wrapper, [Group("source", x, mos)], "ranking", args.rank, settings, args,
                                      desc=f"train {name} (GRPO)", accelerator=accelerator)  # fmt: skip
        meta = history_meta(history, settings)
    raw = vlm_predict(wrapper, x)
    fit = fit_logistic4(raw, mos.numpy())
    meta["train_srcc"] = round(srcc(raw, mos.numpy()), 6)
    return Checkpoint(name, {**kwargs, "lora": list(wrapper.lora)}, wrapper.state_dict(), fit, meta)


def finetune_vlm(base, groups: Sequence, rank: int, args):
    """finetune for a VLM base model: a new LoRA on f (f's own adapter merged first) trained with GRPO and the
    fidelity reward on the source split plus the revealed selections, each batch from one dataset
    (scale-free, MDS-VQA Sec. 3.4); then the logistic refitted on the source split."""
    from vqaloop.evaluation.metrics import fit_logistic4
    from vqaloop.models.registry import Checkpoint
    from vqaloop.training.loops import seed_everything

    seed_everything(args.seed)
    settings = settings_from_args(args)
    wrapper = base.build()
    history = train_vlm_on_groups(wrapper, groups, "ranking", rank, settings, args, desc="active fine-tuning (GRPO)")
    source = groups[0]
    fit = fit_logistic4(vlm_predict(wrapper, source.x), source.y.numpy())
    meta = {**history_meta(history, settings), "groups": {g.name: len(g.y) for g in groups}}
    return Checkpoint(base.name, {**base.kwargs, "lora": list(wrapper.lora)}, wrapper.state_dict(), fit, meta)
