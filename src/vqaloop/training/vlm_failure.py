"""The VLM failure predictor g: a LoRA on the VLM quality model f, answering MDS-VQA's Table-1 prompt, trained
with GRPO on f's errors (MDS-VQA Sec. 3.2, Eq. 4; SPEC "VLM failure predictor").

A text answer cannot be back-propagated, so each Table-5 loss becomes a reward on the parsed answers
(``vqaloop.vlm.rewards``): ``ranking`` = the Eq. 5 fidelity against the Eq. 4 error order (the default),
``classification`` = the likelihood of hard = 1[e >= median e], ``regression`` = 1 - the squared error to
1 + e with e on the [1, 5] MOS scale. The targets each reward reads are built here (``failure_targets``).
Unparsable answers are counted and stored in the checkpoint's meta (``unparsable``, ``answers``), which the
Table-5 note reports.

``recipe="authors"`` (config ``grpo.g_recipe``) trains g as the MDS-VQA authors' code does: one sampled answer per
video, ``rewards.authors_failure_losses`` (pairs inside the local batch, unit variances, ties harder), advantage =
minus the losses, and Eq. 4's errors between f's *raw* answer (no logistic mapping; a sampled one where f's scores
are sampled) and the MOS min-max normalised to [1, 5] (``authors_errors``; they normalise over the whole dataset,
here over the training split g sees).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vqaloop.errors import UserError
from vqaloop.losses.fidelity import training_targets

log = logging.getLogger(__name__)

FAILURE_LOSSES = ("ranking", "classification", "regression")


def errors_on_unit_scale(errors: np.ndarray, mos: np.ndarray) -> np.ndarray:
    """e with the MOS range of the training set mapped to [1, 5] (a length of 4): e * 4 / (max mu - min mu)."""
    span = float(np.max(mos) - np.min(mos))
    if not span > 0:
        raise UserError("train-g: the source training MOS are all equal; no error scale to learn from")
    return np.asarray(errors, dtype=np.float64) * 4.0 / span


RECIPES = ("paper", "authors")


def authors_errors(raw: np.ndarray, mos: np.ndarray) -> np.ndarray:
    """|f - mu| with f's raw score and mu the MOS min-max normalised to [1, 5], 1 + 4 (m - min) / (max - min)
    (the authors' make_data_difficult.py targets against their *_set.txt labels)."""
    mos = np.asarray(mos, dtype=np.float64)
    span = float(np.max(mos) - np.min(mos))
    if not span > 0:
        raise UserError("train-g: the source training MOS are all equal; no error scale to learn from")
    return np.abs(np.asarray(raw, dtype=np.float64) - (1.0 + 4.0 * (mos - np.min(mos)) / span))


def failure_targets(loss: str, errors: np.ndarray, mos: np.ndarray) -> torch.Tensor:
    """(N,) what the reward of ``loss`` compares the answers with (SPEC "Loss ablation").

    ranking: the errors e (only their order matters, Eq. 4); classification: hard = 1[e >= median e] over the
    whole training set; regression: t = 1 + e on the [1, 5] scale, the rating a perfect g would answer.
    """
    errors = np.asarray(errors, dtype=np.float64)
    if loss == "ranking":
        return torch.from_numpy(errors)
    if loss == "classification":
        return training_targets(loss, torch.from_numpy(errors))  # the compact path's labels, over the set
    if loss == "regression":
        return torch.from_numpy(1.0 + errors_on_unit_scale(errors, mos))
    raise UserError(f"unknown failure-predictor loss {loss!r}; valid: {list(FAILURE_LOSSES)}")


def use_prompt(wrapper, name: str) -> None:
    """Switch a VLM wrapper to the prompt called ``name`` ("failure" = MDS-VQA Table 1) and its answer prefix."""
    from vqaloop.vlm.prompts import answer_prefix, prompt_text

    wrapper.prompt_name, wrapper.prompt, wrapper.answer_prefix = name, prompt_text(name), answer_prefix(name)


def train_vlm_failure_predictor(base, x: torch.Tensor, mos: np.ndarray, loss: str, rank: int, args,
                                errors: np.ndarray | None = None, recipe: str = "paper"):  # fmt: skip
    """g for a VLM base model f (checkpoint ``base``): f's errors on the source training split (MDS-VQA Eq. 4,
    f mapped to MOS by its logistic; or ``errors`` given, e.g. out-of-fold), then a LoRA on f trained with GRPO
    on the Table-1 prompt and the reward of ``loss``. Returns g's checkpoint: f's kwargs with prompt "failure"
    and the adapters (f's, then g's), the LoRA tensors only, and the unparsable count in its meta."""
    from vqaloop.evaluation.metrics import apply_logistic4, srcc
    from vqaloop.models.registry import Checkpoint
    from vqaloop.training.data import Group
    from vqaloop.training.loops import seed_everything
    from vqaloop.training.vlm_grpo import (
        history_meta,
        make_accelerator,
        settings_from_args,
        train_vlm_on_groups,
        vlm_predict,
    )

    if loss not in FAILURE_LOSSES:
        raise UserError(f"unknown failure-predictor loss {loss!r}; valid: {list(FAILURE_LOSSES)}")
    if recipe not in RECIPES:
        raise UserError(f"unknown g recipe {recipe!r}; valid: {list(RECIPES)}")
    if recipe == "authors" and loss != "ranking":
        raise UserError(f"the authors' g recipe is the ranking (fidelity) loss, not {loss!r}")
    seed_everything(args.seed)
    settings = settings_from_args(args, answer_layout="failure", recipe=recipe)
    accelerator = make_accelerator(settings)
    wrapper = base.build()
    wrapper.vlm.to(accelerator.device)
    mos = np.asarray(mos, dtype=np.float64)
    if errors is None and recipe == "authors":
        errors = authors_errors(vlm_predict(wrapper, x), mos)
    elif errors is None:
        errors = np.abs(apply_logistic4(base.logistic, vlm_predict(wrapper, x)) - mos)
    targets = failure_targets(loss, errors, mos)
    use_prompt(wrapper, "failure")
    history = train_vlm_on_groups(wrapper, [Group("source", x, targets)], loss, rank, settings, args,
                                  desc=f"train g ({loss}, r={rank}, GRPO)", accelerator=accelerator)  # fmt: skip
    trained = vlm_predict(wrapper, x)
    meta = {"loss": loss, "rank": rank, "recipe": recipe, "train_srcc_vs_error": round(srcc(trained, errors), 6),
            **history_meta(history, settings)}  # fmt: skip
    log.info("g %s r=%d: %d of %d sampled answers unparsable", loss, rank, meta["unparsable"], meta["answers"])
    kwargs = {**base.kwargs, "prompt": "failure", "lora": list(wrapper.lora)}
    return Checkpoint(base.name, kwargs, wrapper.state_dict(), None, meta)
