"""``vqaloop w2s-train``: train a W2S student on labelled pairs (W2S-VQA Sec. 4.3, Appendix C.2).

AdamW with a linear warm-up and a cosine decay (Appendix C.2.1: warm-up ratio 0.03, cosine schedule); each
epoch visits every pair once in a seeded order, and each pair is shown in a random order (first/second swapped
with probability 1/2, the label mirrored: level k -> 4 - k), so the comparator learns both directions. The loss
is chosen by name (``vqaloop.losses.confidence``: ce, confidence (Eqs. 23-26), burns) and gets the training
progress t in [0, 1] for its schedule. ``--init`` continues from a previous stage's student (iterative W2S
training, Sec. 4.2: stage i+1 starts from the stage-i student and trains on the stage's new pairs).
``--student-options`` (JSON) configures students that take options (``llava_onevision``: weights, motion encoder,
LoRA rank, ...): such a student class names its encoders (``encoders_for``) and constructor arguments
(``kwargs_for``) from them; ``pair_transformer`` takes ``--hidden/--layers/--heads`` instead.
``--targets`` (files of ``vqaloop w2s-targets``) instead of ``--pairs`` trains the same student in mode pointwise on
per-video scores (W2S Sec. 3, Table 5; ``vqaloop.w2s.pointwise``: soft-label cross-entropy over the ratings 1-5).
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from vqaloop.errors import UserError
from vqaloop.features.inputs import resident
from vqaloop.io.manifest import read_manifest
from vqaloop.w2s.data import load_bank
from vqaloop.w2s.pairs import read_pairs
from vqaloop.w2s.students import StudentCheckpoint, get_student_class, load_student

log = logging.getLogger(__name__)


def ids_by_dataset(manifests: list[Path], wanted: set[str]) -> dict[str, list[str]]:
    """The wanted ids grouped by the dataset whose manifest lists them (features live per dataset)."""
    out: dict[str, list[str]] = {}
    found: set[str] = set()
    for path in manifests:
        manifest = read_manifest(path)
        hit = manifest[manifest.video_id.isin(wanted) & ~manifest.video_id.isin(found)]
        if len(hit):
            out.setdefault(str(hit.dataset.iloc[0]), []).extend(hit.video_id)
            found.update(hit.video_id)
    missing = sorted(wanted - found)
    if missing:
        raise UserError(f"{len(missing)} paired video(s) are in none of the manifests given, e.g. {missing[0]!r}")
    return out


def encoder_dims(features_root: Path, encoders: tuple[str, ...], dataset: str) -> list[int]:
    from vqaloop.features.io import features_file
    from vqaloop.features.store import open_store

    return [open_store(features_file(features_root, dataset, e)).frames.shape[2] for e in encoders]


def student_encoders(cls, options: dict) -> tuple[str, ...]:
    """The features a new student reads: its class's ENCODERS, or what its options name (``encoders_for``)."""
    return tuple(cls.encoders_for(options)) if hasattr(cls, "encoders_for") else tuple(cls.ENCODERS)


def student_kwargs(cls, args, options: dict, dims: list[int], in_dim: int) -> dict:
    """Constructor arguments of a new student: from its options (``kwargs_for``) or --hidden/--layers/--heads."""
    if hasattr(cls, "kwargs_for"):
        return cls.kwargs_for(options, dims)
    return {"in_dim": in_dim, "spatial_dim": int(dims[0]), "hidden": args.hidden, "layers": args.layers,
            "heads": args.heads}  # fmt: skip


def lr_factor(step: int, total: int, warmup: float) -> float:
    """Linear warm-up over ``warmup`` of the steps, then cosine decay to 0 (W2S Appendix C.2.1)."""
    warm = max(1, int(round(warmup * total)))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def oriented_batches(pairs: pd.DataFrame, batch: int, rng: np.random.Generator):
    """One epoch: (first rows, second rows, labels) batches in a seeded order, each pair randomly swapped."""
    order = rng.permutation(len(pairs))
    swap = rng.random(len(pairs)) < 0.5
    first = np.where(swap, pairs.second_row.to_numpy(), pairs.first_row.to_numpy())[order]
    second = np.where(swap, pairs.first_row.to_numpy(), pairs.second_row.to_numpy())[order]
    label = np.where(swap, 4 - pairs.label.to_numpy(), pairs.label.to_numpy())[order]
    for start in range(0, len(order), batch):
        sl = slice(start, start + batch)
        yield torch.from_numpy(first[sl]), torch.from_numpy(second[sl]), torch.from_numpy(label[sl])


def train_student(model: torch.nn.Module, x: torch.Tensor, pairs: pd.DataFrame, loss_fn, *, epochs: int, lr: float,
                  batch: int, weight_decay: float, warmup: float, seed: int) -> dict:  # fmt: skip
    """The training loop; returns per-epoch losses and the final training accuracy."""
    rng = np.random.default_rng([seed, 5])
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total = max(1, epochs * math.ceil(len(pairs) / batch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warmup))
    history, step, info = [], 0, {}
    x = resident(x)
    model.train()
    for _ in tqdm(range(epochs), desc="w2s student", unit="epoch", disable=not sys.stderr.isatty()):
        losses = []
        for a, b, y in oriented_batches(pairs, batch, rng):
            loss, info = loss_fn(model(x[a], x[b]), y, step / total)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
        history.append(round(float(np.mean(losses)), 6))
    model.eval()
    first_rows = torch.from_numpy(pairs.first_row.to_numpy())
    second_rows = torch.from_numpy(pairs.second_row.to_numpy())
    with torch.no_grad():
        predicted = torch.cat([model(x[first_rows[i : i + 1024]], x[second_rows[i : i + 1024]]).argmax(1)
                               for i in range(0, len(pairs), 1024)])  # fmt: skip
    accuracy = float((predicted.numpy() == pairs.label.to_numpy()).mean())
    last = {k: round(float(v), 6) for k, v in info.items()}
    return {"loss_history": history, "train_accuracy": round(accuracy, 6), "last_loss_terms": last, "steps": step}


def student_and_bank(args, ids: set[str], mode: str = "pairwise"):
    """(name, model, kwargs, encoders, features bank of ``ids``): the ``--init`` student, or a new one of ``mode``
    built from --student and its options (seeded, input statistics from the bank)."""
    from vqaloop.io.readers import parse_json_argument

    init = load_student(args.init) if args.init else None
    name = init.name if init else args.student
    cls = get_student_class(name)
    options = parse_json_argument(args.student_options, "--student-options")
    if not isinstance(options, dict):
        raise UserError(f"--student-options: expected a JSON object, got {args.student_options}")
    if options and not hasattr(cls, "kwargs_for"):
        raise UserError(f"--student-options: student {name} takes no options (got {sorted(options)})")
    encoders = tuple(init.encoders) if init else student_encoders(cls, options)
    groups = ids_by_dataset(args.manifests, ids)
    bank = load_bank(args.features_root, encoders, groups)
    if init:
        model, kwargs = init.build(), init.kwargs
        if bank.x.shape[-1] != kwargs["in_dim"]:
            raise UserError(f"{args.init}: the student expects {kwargs['in_dim']}-d inputs, features give "
                            f"{bank.x.shape[-1]}")  # fmt: skip
    else:
        dims = encoder_dims(args.features_root, encoders, next(iter(groups)))
        kwargs = student_kwargs(cls, args, options, dims, int(bank.x.shape[-1]))
        if mode != "pairwise":  # pairwise students keep today's kwargs (and checkpoint bytes)
            kwargs["mode"] = mode
        torch.manual_seed(args.seed)
        model = cls(**kwargs)
        model.set_input_statistics(bank.x)
    return name, model, kwargs, encoders, bank


def run_pointwise(args) -> int:
    """``--targets``: a pointwise student on per-video targets (W2S Sec. 3; ``vqaloop.w2s.pointwise``)."""
    from vqaloop.w2s.pointwise import train_pointwise
    from vqaloop.w2s.targets import read_targets

    if args.loss != "ce":
        raise UserError(f"--loss {args.loss}: a pointwise student (--targets) trains with cross-entropy (ce) only")
    targets = pd.concat([read_targets(p) for p in args.targets], ignore_index=True)
    dup = targets.video_id.duplicated()
    if dup.any():
        raise UserError(f"--targets: video {targets.video_id[dup].iloc[0]!r} has a target in two files")
    name, model, kwargs, encoders, bank = student_and_bank(args, set(targets.video_id), mode="pointwise")
    if kwargs.get("mode", "pairwise") != "pointwise":
        raise UserError(f"{args.init}: a pairwise student trains on --pairs, not on per-video targets")
    meta = train_pointwise(model, bank.x, bank.rows(list(targets.video_id)),
                           torch.from_numpy(targets.target.to_numpy(dtype=np.float32)), epochs=args.epochs,
                           lr=args.lr, batch=args.batch, weight_decay=args.weight_decay, warmup=args.warmup,
                           seed=args.seed)  # fmt: skip
    meta.update({"loss": "soft_ce", "targets": {str(k): int(n) for k, n in targets.kind.value_counts().items()},
                 "init": str(args.init) if args.init else None, "seed": args.seed})  # fmt: skip
    StudentCheckpoint(name, kwargs, model.state_dict(), encoders, meta).save(args.out)
    log.info("pointwise student %s: %d videos, loss %s, train MAE %.3f", args.out, len(targets), meta["loss_history"],
             meta["train_mae"])  # fmt: skip
    return 0


def add_arguments(parser):
    from vqaloop.cli_checks import MAX_EPOCHS, float_in, int_in, json_object, output_file, seed, threads
    from vqaloop.losses.confidence import CONF_WARMUP, W2S_LOSSES
    from vqaloop.w2s.students import STUDENTS

    parser.add_argument("--student", default="pair_transformer", choices=STUDENTS.names(),
                        help="student registry name")  # fmt: skip
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--pairs", nargs="+", type=Path, help="pair files (vqaloop w2s-pairs / w2s-mine)")
    data.add_argument("--targets", nargs="+", type=Path,
                      help="per-video target files (vqaloop w2s-targets): a pointwise student")  # fmt: skip
    parser.add_argument("--manifests", nargs="+", required=True, type=Path, help="manifests listing the paired videos")
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--init", type=Path, help="continue from this student checkpoint (iterative stages)")
    parser.add_argument("--loss", default="ce", choices=W2S_LOSSES.names(), help="ce | confidence | burns")
    parser.add_argument("--loss-warmup", type=float_in(0.0, 1.0, lo_open=True), default=CONF_WARMUP,
                        help="T_warmup of the confidence loss (Eq. 25), in (0, 1]")  # fmt: skip
    parser.add_argument("--student-options", type=json_object, default="{}",
                        help="JSON options of students that take them (llava_onevision: weights, motion, ...)")  # fmt: skip
    parser.add_argument("--hidden", type=int_in(1, 1 << 16), default=128)
    parser.add_argument("--layers", type=int_in(1, 1024), default=2)
    parser.add_argument("--heads", type=int_in(1, 1024), default=4)
    parser.add_argument("--epochs", type=int_in(1, MAX_EPOCHS), default=3)
    parser.add_argument("--lr", type=float_in(0.0, 10.0, lo_open=True), default=5e-4, help="learning rate, in (0, 10]")
    parser.add_argument("--batch", type=int_in(2, 1 << 16), default=64, help="pairs per batch")
    parser.add_argument("--weight-decay", type=float_in(0.0, 10.0), default=0.05)
    parser.add_argument(
        "--warmup", type=float_in(0.0, 1.0), default=0.03, help="learning-rate warm-up ratio, in [0, 1]"
    )
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--threads", type=threads, default=1)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads
    from vqaloop.losses.confidence import get_w2s_loss

    set_compute_threads(args.threads)
    if args.targets:
        return run_pointwise(args)
    loss_fn = get_w2s_loss(args.loss, warmup=args.loss_warmup) if args.loss == "confidence" else get_w2s_loss(args.loss)
    pairs = pd.concat([read_pairs(p) for p in args.pairs], ignore_index=True)
    if pairs.empty:
        raise UserError(f"no pairs in {[str(p) for p in args.pairs]}")
    name, model, kwargs, encoders, bank = student_and_bank(args, set(pairs["first"]) | set(pairs["second"]))
    if kwargs.get("mode", "pairwise") != "pairwise":
        raise UserError(f"{args.init}: a {kwargs['mode']} student trains on --targets, not on pairs")
    pairs = pairs.assign(first_row=bank.rows(list(pairs["first"])).numpy(),
                         second_row=bank.rows(list(pairs["second"])).numpy())  # fmt: skip
    meta = train_student(model, bank.x, pairs, loss_fn, epochs=args.epochs, lr=args.lr, batch=args.batch,
                         weight_decay=args.weight_decay, warmup=args.warmup, seed=args.seed)  # fmt: skip
    meta.update({"loss": args.loss, "pairs": {str(p): int(n) for p, n in pairs.kind.value_counts().items()},
                 "init": str(args.init) if args.init else None, "seed": args.seed})  # fmt: skip
    StudentCheckpoint(name, kwargs, model.state_dict(), encoders, meta).save(args.out)
    log.info("student %s: %d pairs, loss %s, train accuracy %.3f", args.out, len(pairs), meta["loss_history"],
             meta["train_accuracy"])  # fmt: skip
    return 0
