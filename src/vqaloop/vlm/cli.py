"""``vqaloop tiny-vlm --arch qwen2_5_vl|llava_onevision --out DIR``: a tiny random-weight model folder (tests,
demos, the workflow's tiny config; ``vqaloop.vlm.tiny_qwen`` / ``vqaloop.vlm.tiny_llava``). The VLM branch of
``vqaloop score`` loads checkpoints through the base-model registry, so it lives above it: ``models.score_vlm``.
"""

from __future__ import annotations

TINY_ARCHES = ("qwen2_5_vl", "llava_onevision")


# ---- tiny-vlm ----
def add_arguments(parser):
    from vqaloop.cli_checks import output_dir, seed
    from vqaloop.vlm.tiny import TINY_MARKER

    parser.add_argument("--arch", required=True, choices=TINY_ARCHES)
    parser.add_argument("--out", required=True, type=output_dir(TINY_MARKER),
                        help=f"model folder to write: a new or empty folder, or one tiny-vlm wrote ({TINY_MARKER} in "
                             "it), which is replaced")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0)


def run(args) -> int:
    if args.arch == "qwen2_5_vl":
        from vqaloop.vlm.tiny_qwen import build_tiny_qwen2_5_vl as build
    else:
        from vqaloop.vlm.tiny_llava import build_tiny_llava_onevision as build
    folder = build(args.out, seed=args.seed)
    print(f"{folder}: tiny random-weight {args.arch} (not a quality model: for tests and demos)")
    return 0
