"""``vqaloop select``: pick videos from an unlabelled pool under a labelling budget.

    vqaloop select --method mds --features FEATS.npz --difficulty DIFF.csv --budget 0.05 --lambda 0.25 \\
        --seed 0 --out OUT.csv

Methods that query the base model f (mc_dropout, noise_stability) also take ``--model CKPT --pool MANIFEST``;
f's inputs are read from ``<features-root>/<dataset>/<encoder>.npz`` (default root: the grandparent folder of
``--features``), for the pool ids in manifest order.

OUT.csv has ``video_id,rank`` in pick order (rank 1 = first pick) and is written atomically. Every input
problem ends with one ``vqaloop: error: ...`` line, exit status 2 and no OUT.csv.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
from pathlib import Path

import pandas as pd

from vqaloop.cli_checks import MAX_COUNT
from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.selection.features_io import load_labelled_pooled, load_selection_inputs
from vqaloop.selection.registry import (
    CHAMFER_KINDS,
    STORAGES,
    accepted_params,
    describe_methods,
    get_method,
    method_names,
    run_method,
)

log = logging.getLogger(__name__)

DEFAULT_BUDGET = "0.05"  # MDS-VQA Sec. 4.1: 5% of each target pool
DEFAULT_LAMBDA = "0.25"  # MDS-VQA Sec. 4.1 and Table 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "methods:\n" + "\n".join("  " + line for line in describe_methods().splitlines())
    from vqaloop.cli_checks import device, float_in, output_file, seed

    parser.add_argument("--method", default="mds", choices=method_names(), metavar="METHOD",
                        help="selection method (listed below; default: mds)")  # fmt: skip
    parser.add_argument(
        "--features",
        required=True,
        type=Path,
        help="FEATS.npz: ids (N), frames (N,F,D), pooled (N,D); methods that need nothing but ids (random) read ids",
    )
    parser.add_argument("--difficulty", type=Path, help="DIFF.csv: video_id,difficulty (needed by mds)")
    parser.add_argument(
        "--labelled",
        type=Path,
        help="FEATS.npz of the already-labelled set L (core-set, RD); needs --labelled-manifest",
    )
    parser.add_argument("--labelled-manifest", type=Path,
                        help="manifest whose 'train' rows form L (e.g. the source dataset)")  # fmt: skip
    parser.add_argument("--pool", type=Path,
                        help="a manifest: select only among its rows with split 'pool' (default: every id)")  # fmt: skip
    parser.add_argument("--model", type=Path, help="CKPT: a base-model checkpoint (needed by methods that query f)")
    parser.add_argument(
        "--features-root",
        type=Path,
        help="folder of f's input features <root>/<dataset>/<encoder>.npz (default: grandparent of --features)",
    )
    parser.add_argument(
        "--budget",
        type=budget_text,
        default=DEFAULT_BUDGET,
        help="a fraction of the pool in (0,1), rounded to the nearest count (at least 1), or a count "
        f"such as 20, at most the pool size (default: {DEFAULT_BUDGET})",
    )
    parser.add_argument(
        "--lambda",
        dest="lam",
        type=float_in(0.0),
        default=DEFAULT_LAMBDA,
        help=f"diversity weight >= 0 (default: {DEFAULT_LAMBDA})",
    )
    parser.add_argument("--seed", type=seed, default=0, help="seed for methods that draw at random (default: 0)")
    parser.add_argument("--out", required=True, type=output_file, help="OUT.csv: video_id,rank in pick order")
    parser.add_argument(
        "--no-normalise",
        dest="normalise",
        action="store_false",
        help="skip L2 normalisation of frame features",
    )
    parser.add_argument(
        "--device", type=device, default="cpu", help="torch device for the Chamfer products (cpu, cuda)"
    )
    parser.add_argument(
        "--chamfer",
        choices=CHAMFER_KINDS,
        default="paper",
        help="the diversity term's Chamfer distance: paper = Eq. 7 (squared distances, the two means summed); "
        "authors = the MDS-VQA authors' code (Euclidean distances, the two means averaged). Changes the distance "
        "only: L2 normalisation stays --no-normalise's (default: paper)",
    )
    parser.add_argument(
        "--storage",
        choices=STORAGES,
        default="float32",
        help="mds: how the pool's frame features are held during the greedy: one float32 working copy (default; "
        "the same picks as ever), float16 / bfloat16 (half the memory, float32 accumulation), or stream (no copy: "
        "each pick reads the features file in chunks)",
    )
    parser.add_argument(
        "--sample-epsilon",
        dest="epsilon",
        type=float_in(0.0, 1.0, hi_open=True),
        default=0.0,
        help="mds: stochastic greedy, each pick among ceil(N/B ln(1/eps)) candidates drawn with --seed "
        "(Mirzasoleiman et al. 2015); 0 = exact greedy (default: 0)",
    )


def budget_text(text: str) -> str:
    """``type=`` of ``--budget``: a count >= 1 or a fraction in (0, 1) (the pool size bounds it once read)."""
    try:
        parse_budget(text, MAX_COUNT)
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def parse_budget(text: str, pool_size: int) -> int:
    """A count ("20") or a fraction in (0, 1) ("0.05", rounded to the nearest count, at least 1)."""
    text = text.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        count = int(text)
    else:
        try:
            fraction = float(text)
        except ValueError:
            raise UserError(f"--budget {text!r} is neither a count nor a fraction") from None
        if not (math.isfinite(fraction) and 0 < fraction < 1):
            raise UserError(f"--budget {text}: a fraction must be in (0, 1)")
        count = max(1, math.floor(fraction * pool_size + 0.5))
    if count <= 0:
        raise UserError(f"--budget {text}: must be positive")
    if count > pool_size:  # the whole pool is a legitimate (if unselective) budget
        raise UserError(f"--budget {text} asks for {count} videos, but the pool has only {pool_size}")
    return count


def parse_lambda(text: str) -> float:
    try:
        lam = float(text)
    except ValueError:
        raise UserError(f"--lambda {text!r} is not a number") from None
    if not (math.isfinite(lam) and lam >= 0):
        raise UserError(f"--lambda {text}: must be a finite number >= 0")
    return lam


def run(args: argparse.Namespace) -> int:
    method = get_method(args.method)  # unknown method: fail before reading anything
    lam = parse_lambda(args.lam)
    model_path = None
    if "model" in method.needs:
        missing = [flag for flag, value in (("--model CKPT", args.model), ("--pool MANIFEST", args.pool)) if not value]
        if missing:
            raise UserError(f"selection method {args.method!r} queries the base model f: give {' and '.join(missing)}")
        model_path = args.model
    if (args.labelled is None) != (args.labelled_manifest is None):
        raise UserError(
            "--labelled and --labelled-manifest go together (features and the manifest whose train rows are L)"
        )
    common = {"lam": lam, "normalise": args.normalise, "device": args.device, "chamfer": args.chamfer,
              "storage": args.storage, "epsilon": args.epsilon}  # fmt: skip
    params = accepted_params(args.method, common)
    inputs = load_selection_inputs(args.features, args.difficulty, args.pool, model_path, args.features_root,
                                   need_frames="frames" in method.needs_for(params))  # fmt: skip
    if args.labelled is not None:
        inputs.labelled_pooled = load_labelled_pooled(args.labelled, args.labelled_manifest)
    budget = parse_budget(args.budget, inputs.pool_size)
    picks = run_method(args.method, inputs, budget, args.seed, **params)
    table = pd.DataFrame({"video_id": [inputs.ids[i] for i in picks], "rank": range(1, len(picks) + 1)})
    write_csv_atomic(table, args.out)
    log.info("%s: picked %d of %d videos -> %s", args.method, budget, inputs.pool_size, args.out)
    return 0
