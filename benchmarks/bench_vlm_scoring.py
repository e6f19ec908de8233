"""Deterministic one-pass VLM scoring against ``generate()``-based scoring, on the tiny Qwen2.5-VL.

    python benchmarks/bench_vlm_scoring.py                       # 8 videos x 8 frames 112x112, 3 repeats
    python benchmarks/bench_vlm_scoring.py --videos 16 --max-new-tokens 64

Both routes score the same videos with the MDS-VQA Table-10 prompt, in one batch, in one process, alternating
``--repeats`` times (the fastest of each counts):

- floor: the processor alone (chat template, tokenisation, frame patching): work both routes must do;
- one pass: ``expected_scores`` (processor + ONE forward pass, softmax over the digits 1..5, expectation);
- generate: ``generate_scores`` (processor + greedy ``generate()`` of up to ``--max-new-tokens`` tokens, 256 =
  VisualQuality-R1's setting, then ``parse_score``), the way the official code reads a score.

Reported: seconds, the ratio generate / one pass, and how many generated answers were unparsable (with random
weights nearly all: the text route then gives no score at all, while the one-pass route always gives one). The
tiny model's forward is cheap next to the fixed per-call costs, so the ratio here understates the one at 7B,
where each generated token costs a forward pass over the KV cache of a ~1,000-token prompt. Also checked: two
one-pass runs give bit-identical scores. Writes JSON to benchmarks/results/vlm_scoring.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from vqaloop.benchmarking import photo, stamped
from vqaloop.io.atomic import write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "vlm_scoring.json"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=112, help="frame side (pixels)")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def pan_videos(count: int, frames: int, size: int) -> list[np.ndarray]:
    """Pans over real photos: (frames, size, size, 3) uint8 each."""
    out = []
    for k in range(count):
        image = photo(PHOTOS[k % len(PHOTOS)], size, size, cover=2.0)
        steps = np.linspace(0, image.shape[1] - size, frames).round().astype(int) // (1 + k // len(PHOTOS))
        out.append(np.stack([image[:size, s : s + size] for s in steps]))
    return out


def generated_lengths(model, processor, videos, prompt, max_new_tokens) -> list[int]:
    """Tokens each greedy answer ran to (up to and including the end-of-turn token), outside the timings."""
    import torch

    from vqaloop.vlm.scoring import to_model, video_inputs

    inputs = to_model(video_inputs(processor, videos, prompt, ""), model)
    eos = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=eos)
    new = out[:, inputs["input_ids"].shape[1] :]
    return [int((row == eos).nonzero()[0]) + 1 if (row == eos).any() else len(row) for row in new]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from vqaloop.vlm.answers import AnswerStats
    from vqaloop.vlm.loading import load_vlm
    from vqaloop.vlm.prompts import QUALITY_PROMPT
    from vqaloop.vlm.scoring import expected_scores, generate_scores, video_inputs
    from vqaloop.vlm.tiny_qwen import build_tiny_qwen2_5_vl

    torch.set_num_threads(args.threads)
    videos = pan_videos(args.videos, args.frames, args.size)
    with tempfile.TemporaryDirectory(prefix="bench_vlm.") as tmp:
        model, processor = load_vlm(build_tiny_qwen2_5_vl(Path(tmp) / "tiny"), "qwen2_5_vl")
    prefix = "<think>\n</think>\n<answer>"

    def one_pass():
        with torch.no_grad():
            return expected_scores(model, processor, videos, QUALITY_PROMPT, answer_prefix=prefix)

    stats = AnswerStats()

    def generate():
        return generate_scores(model, processor, videos, QUALITY_PROMPT, max_new_tokens=args.max_new_tokens,
                               stats=stats)  # fmt: skip

    reference = one_pass()  # warm-up, and the scores every repeat must reproduce bit for bit
    prompt_tokens = int(video_inputs(processor, videos[:1], QUALITY_PROMPT, prefix)["input_ids"].shape[1])
    best = dict.fromkeys(("floor", "one_pass", "generate"), math.inf)
    identical = True
    for _ in range(args.repeats):
        t, _ = timed(lambda: video_inputs(processor, videos, QUALITY_PROMPT, prefix))
        best["floor"] = min(best["floor"], t)
        t, scores = timed(one_pass)
        best["one_pass"] = min(best["one_pass"], t)
        identical &= bool(torch.equal(scores, reference))
        t, (_, texts) = timed(generate)
        best["generate"] = min(best["generate"], t)
    new_tokens = generated_lengths(model, processor, videos, QUALITY_PROMPT, args.max_new_tokens)
    report = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads,
        "torch": torch.__version__,
        "model": "tiny Qwen2.5-VL (hidden 64, 2 layers, 2-block vision tower; random weights)",
        "videos": args.videos,
        "frames": args.frames,
        "frame_size": args.size,
        "prompt_tokens_per_video": prompt_tokens,
        "max_new_tokens": args.max_new_tokens,
        "generated_tokens_per_answer": new_tokens,
        "repeats": args.repeats,
        "seconds": best,
        "ratio_generate_vs_one_pass": best["generate"] / best["one_pass"],
        "ratio_one_pass_vs_floor": best["one_pass"] / best["floor"],
        "generated_answers": stats.total,
        "unparsable_answers": stats.unparsable,
        "one_pass_bit_identical_across_repeats": identical,
    }
    write_text_atomic(args.out, json.dumps(stamped(report), indent=2) + "\n")
    print(f"\nScoring {args.videos} videos x {args.frames} frames {args.size}x{args.size} (tiny Qwen2.5-VL, "
          f"{args.threads} thread(s), prompt {prompt_tokens} tokens)")  # fmt: skip
    print(f"  floor (processor only)            {best['floor']:8.3f} s")
    print(
        f"  one pass (expected_scores)        {best['one_pass']:8.3f} s  {report['ratio_one_pass_vs_floor']:.2f}x floor"
    )
    print(f"  generate ({args.max_new_tokens} new tokens max) + parse {best['generate']:8.3f} s  "
          f"{report['ratio_generate_vs_one_pass']:.1f}x one pass; unparsable {stats.unparsable}/{stats.total}")  # fmt: skip
    print(f"  one-pass scores bit-identical across repeats: {identical}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
