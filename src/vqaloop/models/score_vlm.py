"""The VLM branch of ``vqaloop score`` (``w2s.scoring`` hands a VLM ``--model`` to it).

``vqaloop score --model M VIDEO...`` where M is a Qwen2.5-VL folder (its config.json says so; e.g.
VisualQuality-R1-7B) or a ``visualquality_r1`` checkpoint (``vqaloop train-base``): each video's frames are
sampled (``--frames`` evenly, or ``--fps``), and scored deterministically with ``expected_scores`` (one forward
pass, expectation over the digits 1..5; no sampling, so two runs give identical CSVs). A checkpoint brings its
own frame count, frame size, prompt and dtype. Output: CSV ``video_id,score`` (stdout without ``--out``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from vqaloop.errors import UserError


def add_score_arguments(parser) -> None:
    """Options of ``vqaloop score`` used only when ``--model`` is a VLM."""
    group = parser.add_argument_group("VLM models (a Qwen2.5-VL folder or a visualquality_r1 checkpoint)")
    from vqaloop.cli_checks import MAX_FRAME_SIZE, device, float_in, int_in, positive_int

    group.add_argument("--fps", type=float_in(0.0, 240.0, lo_open=True),
                       help="VLM: sample frames at this rate instead of --frames evenly (at most each clip's rate)")  # fmt: skip
    group.add_argument("--frame-size", type=int_in(14, MAX_FRAME_SIZE),
                       help="VLM folder: resize frames to this square size")  # fmt: skip
    group.add_argument("--prompt", choices=("quality", "failure"), default=None, help="VLM folder: default quality")
    group.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None)
    group.add_argument("--device", type=device, default="cpu", help="VLM: cpu or cuda[:N]")
    group.add_argument("--vlm-batch", type=positive_int, default=4, help="VLM: videos per forward pass")


def vlm_model_kind(model: str | Path) -> str | None:
    """ "folder" for a local Qwen2.5-VL folder, "checkpoint" for a visualquality_r1 checkpoint, else None."""
    from vqaloop.vlm.loading import folder_arch, looks_like_hub_id

    path = Path(model)
    if not path.exists():
        if looks_like_hub_id(str(model)):
            return "folder"  # a hub id: load_vlm looks in the local Hugging Face cache (never downloads)
        raise UserError(f"{path}: model not found (a W2S student checkpoint, a VLM folder or checkpoint)")
    if path.is_dir():
        arch = folder_arch(path)
        if arch == "llava_onevision":
            raise UserError(f"{path}: a LLaVA-OneVision folder is a W2S student backbone, not a scorer of its own")
        return "folder" if arch == "qwen2_5_vl" else None
    if path.is_file():
        import torch

        try:
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # not a torch file, or not ours: the student branch reports it
            return None
        if isinstance(payload, dict) and payload.get("name") == "visualquality_r1":
            return "checkpoint"
    return None


def score_rows(args) -> tuple[list[str], list[Path]]:
    """(ids, paths) of the videos to score: VIDEO files, or every row (or --split) of --manifest."""
    if args.manifest is not None:
        from vqaloop.io.manifest import read_split

        rows = read_split(args.manifest, args.split)
        return list(rows.video_id), [args.data_root / p for p in rows.path]
    if args.videos:
        return [str(p) for p in args.videos], list(args.videos)
    raise UserError("give VIDEO files or --manifest")


def run_score(args, kind: str) -> int:
    """Deterministic expected scores of the videos with the VLM named by ``--model``; CSV video_id,score."""
    import dataclasses

    import numpy as np
    import pandas as pd
    import torch

    from vqaloop.dispatch import set_compute_threads
    from vqaloop.io.atomic import write_csv_atomic
    from vqaloop.vlm.frames import sample_video
    from vqaloop.vlm.prompts import answer_prefix, prompt_text
    from vqaloop.vlm.scoring import expected_scores

    set_compute_threads(args.threads)
    if args.anchors is not None:
        raise UserError("--anchors: a VLM scores each video on its own (anchors are for W2S students)")
    ids, paths = score_rows(args)
    if kind == "checkpoint":
        from vqaloop.models.registry import load_checkpoint

        checkpoint = load_checkpoint(args.model)
        kwargs = dict(checkpoint.kwargs)
        if args.dtype is not None:
            kwargs["dtype"] = args.dtype
        if args.fps is not None or args.frame_size is not None or args.prompt is not None:
            raise UserError("--fps/--frame-size/--prompt: a visualquality_r1 checkpoint brings its own settings")
        from vqaloop.cli_checks import check_device

        f = dataclasses.replace(checkpoint, kwargs=kwargs).build().to(check_device(args.device))
        model, processor = f.vlm, f.processor
        frames, size, prompt, prefix, rate = f.frames, f.frame_size, f.prompt, f.answer_prefix, f.fps
    else:
        from vqaloop.vlm.loading import load_vlm

        model, processor = load_vlm(str(args.model), "qwen2_5_vl", dtype=args.dtype or "float32", device=args.device)
        name = args.prompt or "quality"
        frames, size, prompt, prefix, rate = args.frames, args.frame_size, prompt_text(name), answer_prefix(name), None
    scores = []
    for start in range(0, len(paths), args.vlm_batch):
        sampled = [
            sample_video(p, frames=frames, fps=args.fps, size=size) for p in paths[start : start + args.vlm_batch]
        ]
        rates = [s.rate for s in sampled] if kind == "folder" else [rate] * len(sampled)  # checkpoint: as in training
        with torch.no_grad():
            out = expected_scores(
                model, processor, [s.frames for s in sampled], prompt, answer_prefix=prefix, fps=rates
            )
        scores.append(out.double().cpu().numpy())
    table = pd.DataFrame({"video_id": ids, "score": np.round(np.concatenate(scores), 6)})
    if args.out is None:
        table.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        write_csv_atomic(table, args.out)
    return 0
