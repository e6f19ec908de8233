"""Command-line interface: ``vqaloop <command> ...`` (also ``python -m vqaloop``).

Each stage module registers its subcommands through ``COMMANDS`` below: a name maps to
``(module, help)``; the module defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules are
imported only when their command runs, so ``vqaloop --help`` stays fast and light.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from vqaloop.dispatch import pin as pin_dispatch
from vqaloop.errors import UserError

# command name -> (module path, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate-config": ("vqaloop.config", "validate a config file against config/schema.yaml"),
    "sources": ("vqaloop.corpus.sources", "fetch and cache the offline content sources"),
    "catalogue": ("vqaloop.corpus.catalogue", "list the content items (shots, stills, renders)"),
    "plan": ("vqaloop.corpus.plan", "plan one dataset: contents, splits and distortion chains"),
    "render": ("vqaloop.corpus.render", "render one shard of a dataset: pristine, distorted, VMAF"),
    "manifest": ("vqaloop.corpus.manifest_build", "assemble a dataset manifest from its labelled shards"),
    "corpus-summary": ("vqaloop.corpus.summary", "corpus summary table and contact sheet"),
    "placeholder-tree": ("vqaloop.corpus.placeholder", "placeholder files shaped like the papers' data and weights"),
    "adapt": ("vqaloop.corpus.external", "a user's CSV or a published dataset -> a manifest (--role: and its oracle)"),
    "check-manifest": ("vqaloop.io.manifest", "validate a manifest CSV"),
    "select": ("vqaloop.selection.cli", "select videos from an unlabelled pool under a budget"),
    "features": ("vqaloop.features.extract", "frame-level features of every video of a manifest"),
    "train-base": ("vqaloop.training.base", "train the base quality model f on the source training split"),
    "predict": ("vqaloop.models.predict", "scores (or difficulty) of a trained model on a manifest"),
    "embed": ("vqaloop.models.embed", "f's per-frame internal features (the 'base' diversity encoder)"),
    "oof-errors": ("vqaloop.training.errors", "f's out-of-fold errors on the source training set (K fold models)"),
    "train-g": ("vqaloop.training.failure", "train the LoRA failure predictor g on f's errors"),
    "reveal": ("vqaloop.evaluation.oracle", "label oracle: reveal MOS of a selection's videos only"),
    "finetune": ("vqaloop.training.finetune", "active fine-tuning of f on source + revealed selections"),
    "evaluate": ("vqaloop.models.evaluate", "SRCC/PLCC of a model on test splits"),
    "gmad": ("vqaloop.evaluation.gmad", "gMAD competition among models on a labelled pool (matrices and ranks)"),
    "thurstone": ("vqaloop.evaluation.thurstone", "Thurstone / Bradley-Terry MAP scores of a preference matrix CSV"),
    "mds-figures": ("vqaloop.tables.mds_figures", "MDS-VQA figures: failure scatter and lambda trade-off"),
    "mds-table": ("vqaloop.tables.mds_build", "build one MDS-VQA table (long, wide, side by side with the paper)"),
    "mds-methods-figure": ("vqaloop.tables.mds_methods", "every method of Tables 2, 3, 9 with its seed interval"),
    "mds-table4": ("vqaloop.tables.mds_table4", "MDS-VQA Table 4: SRCC rank vs gMAD rank, and the gMAD pairs figure"),
    "w2s-teacher": ("vqaloop.w2s.teachers", "W2S: one weak teacher's scores on every needed set, on the MOS scale"),
    "w2s-anchors": ("vqaloop.w2s.anchors", "W2S: choose the soft-comparison anchors from the source training set"),
    "w2s-pairs": ("vqaloop.w2s.pairs", "W2S: five-level pairs from teachers, synthetic ladders or source labels"),
    "w2s-targets": ("vqaloop.w2s.targets", "W2S: per-video targets of a pointwise student (one teacher or source)"),
    "w2s-train": ("vqaloop.w2s.train", "W2S: train a student on pairs (CE, confidence, Burns) or per-video targets"),
    "w2s-mine": ("vqaloop.w2s.stages", "W2S: pairs of an iterative stage (misclassified synthetic + gMAD)"),
    "w2s-test-set": ("vqaloop.w2s.test_sets", "W2S: the rows scored on one test set (w2s.test_sets.<name>.splits)"),
    "w2s-evaluate": ("vqaloop.w2s.evaluate", "W2S: a student's soft-comparison scores and SRCC/PLCC per test set"),
    "score": ("vqaloop.w2s.scoring", "score videos with a W2S student by soft comparison against anchors"),
    "w2s-table": ("vqaloop.tables.w2s_build", "build one W2S-VQA table (long, wide, side by side with the paper)"),
    "w2s-figure": ("vqaloop.tables.w2s_figures", "W2S-VQA Fig. 4 analogue: each teacher vs its student"),
    "claims": ("vqaloop.tables.claims", "claim-by-claim verdicts of both papers: paired tests over seeds"),
    "control-mds": ("vqaloop.controls.mds", "positive control: a planted failure of f on one target (oracle and g)"),
    "control-w2s": ("vqaloop.controls.w2s", "positive control: W2S teachers = the hidden MOS + independent noise"),
    "control-table": ("vqaloop.controls.table", "a positive control's per-seed values and means (claims' input)"),
    "mds-replay-inputs": ("vqaloop.selection.replay_inputs", "the MDS-VQA authors' g as vqaloop select inputs"),
    "mds-replay": (
        "vqaloop.tables.mds_replay",
        "MDS-VQA's SDR cells from the authors' outputs; the claim on human MOS",
    ),
    "metrics": ("vqaloop.w2s.metrics", "W2S: the nine low-level metrics (Appendix A.2) of videos at 1 fps"),
    "shape": ("vqaloop.w2s.shaping", "W2S: pick N candidates whose metric histograms match a reference set's"),
    "iqa": ("vqaloop.w2s.classical", "W2S: classical no-reference teachers (BRISQUE, NIQE) of videos at 1 fps"),
    "tiny-vlm": ("vqaloop.vlm.cli", "write a tiny random-weight VLM folder (qwen2_5_vl / llava_onevision) for tests"),
    "plan-memory": ("vqaloop.vlm.memory", "per-GPU memory plan of the paper-scale VLM training (1, 4, 8 GPUs)"),
    "batch": ("vqaloop.batch", "run several vqaloop commands in one process (one workflow job per stage)"),
    "gpu-run": ("vqaloop.devices", "run a command with its own GPU(s): a per-device lock, CUDA_VISIBLE_DEVICES set"),
    "record-job": ("vqaloop.provenance.records", "write a workflow job's output checksums (results/<run>/checksums)"),
    "compare-runs": (
        "vqaloop.provenance.compare",
        "where two runs' outputs first differ, in DAG order, and by how much",
    ),
    "dispatch": ("vqaloop.dispatch", "show the CPU-dispatch pin (the environment every command runs under)"),
}


class Parser(argparse.ArgumentParser):
    """argparse's parser whose errors are the project's one line (``vqaloop: error: ...``, exit 2), not usage."""

    def error(self, message: str):
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="vqaloop", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        pin_dispatch()  # before numpy or torch loads: the same bits on every CPU (vqaloop.dispatch)
    except UserError as err:
        print(f"vqaloop: error: {err}", file=sys.stderr)
        return 2
    top = build_parser()
    # Parse only the global flags and the command name; the command's module parses the rest.
    try:
        known, rest = top.parse_known_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if known.verbose else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        if known.command is None:
            top.print_usage(sys.stderr)
            raise UserError("no command given (vqaloop --help lists them)")
        return run_command(known.command, rest)
    except UserError as err:
        print(f"vqaloop: error: {' '.join(str(err).split())}", file=sys.stderr)  # one line, always
        return 2


def run_command(command: str, argv: list[str], defaults: dict | None = None) -> int:
    """Parse ``argv`` with ``command``'s own parser and run it in this process (UserError propagates).

    ``defaults``: new defaults for the options the command has (``vqaloop batch --threads``); others ignored.
    """
    module, args = parse_command(command, argv, defaults)
    return int(module.run(args) or 0)


def parse_command(command: str, argv: list[str], defaults: dict | None = None):
    """(module, args) of one command line, every argument checked before anything runs (``vqaloop.cli_checks``:
    ranges, names, paths; a bad one is a UserError naming the option)."""
    from vqaloop.cli_checks import check_paths

    module_name, help_text = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = Parser(prog=f"vqaloop {command}", description=help_text)
    module.add_arguments(parser)
    dests = {action.dest for action in parser._actions}
    parser.set_defaults(**{k: v for k, v in (defaults or {}).items() if k in dests})
    args = parser.parse_args(argv)
    check_paths(parser, args, getattr(module, "derived_outputs", None))
    return module, args
