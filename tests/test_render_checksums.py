"""What this toolchain renders, pinned: committed checksums of a few pristine renders, distortions and VMAF
labels at a small size. A change of the bundled ffmpeg (imageio-ffmpeg release), of x264/x265/libvmaf, of a
lavfi source or of a distortion shows up here before it silently changes a corpus (README "Reproducibility").

The values were computed with imageio-ffmpeg 0.8.1 (ffmpeg n9.0.2-17-g2a571b6068-20260930, envs/constraints.txt).
With imageio-ffmpeg 0.7.0 (ffmpeg 7.0.2) the lavfi frames below match except perlin (absent there), while every
encoded file, the H.265 frames and the VMAF values differ.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from vqaloop.corpus import distortions
from vqaloop.corpus.catalogue import RENDERS
from vqaloop.corpus.pristine import ClipFormat, deterministic_lavfi, render_lavfi
from vqaloop.corpus.vmaf import vmaf_mean
from vqaloop.io.video import encode, ffmpeg_build, file_sha256

FMT = ClipFormat(64, 36, 5.0, 1.0)
BUILD = "ffmpeg version n9.0.2-17-g2a571b6068-20260930"
# sha256 (first 16 hex digits) of the raw RGB frames of each lavfi source at 64x36, 5 fps, 1 s
PRISTINE = {
    "mandelbrot0": "f57362cc196fc205", "life0": "fd933a822849770a", "cellauto_r30": "afd8765f8b72a548",
    "gradients2": "cdf898ef2c593567", "perlin1": "cb903c67b100bcbe", "zoneplate0": "51f560aa156ee461",
    "sierpinski1": "94e76fad96ae3280", "testsrc2": "6150bc10adf04eb0",
}  # fmt: skip
PRISTINE_FILE = "4d2f5aa773d431bf"  # mandelbrot0 stored losslessly (x264 qp 0, preset ultrafast)
# chain on mandelbrot0 (rng seed 7): (frames sha, stored file sha, VMAF against the stored pristine)
DISTORTED = {  # a chain ending in a codec is stored as the codec's output (distortions.render_chain)
    "h264:2": ("b1504bb5b11af0de", "4874fe475a06d9f4", 59.9981),
    "h265:1": ("f5ed215e77ebd833", "a2160b61321fe8ac", 78.1622),
    "blur:2": ("166ea9000de44290", "546ad882e41036ec", 85.3539),
    "noise:3": ("707517b5fc14db63", "9de6e6a9a7d27d08", 99.4624),
    "darken:2": ("bd05f5ee0b00a09b", "6c02e63c38e73b4e", 98.5191),
    "resize:2+h264:3": ("dd752861d91ca905", "fa9c16f09d483d9d", 0.0),
}


def sha(frames: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16]


def toolchain_note() -> str:
    return f"rendered by {ffmpeg_build()}; the checksums are of {BUILD} (imageio-ffmpeg 0.8.1)"


def test_the_bundled_ffmpeg_is_the_pinned_one():
    assert ffmpeg_build()["ffmpeg"] == BUILD, toolchain_note()


@pytest.mark.parametrize("name", list(PRISTINE))
def test_pristine_renders_match_the_committed_checksums(name):
    assert sha(render_lavfi(RENDERS[name], FMT)) == PRISTINE[name], toolchain_note()


def test_every_lavfi_source_renders_the_same_frames_twice():
    """Renders are deterministic: ffmpeg's gradients colours default to OS randomness whatever the seed, so they
    are given explicitly (pristine.deterministic_lavfi); without that gradients differed on every run."""
    small = ClipFormat(32, 18, 4.0, 0.5)
    for name, expr in RENDERS.items():
        assert sha(render_lavfi(expr, small)) == sha(render_lavfi(expr, small)), name
    assert deterministic_lavfi("gradients=seed=1") != "gradients=seed=1"
    assert deterministic_lavfi("gradients=seed=1:c0=red") == "gradients=seed=1:c0=red"  # given colours stay
    assert deterministic_lavfi(RENDERS["mandelbrot0"]) == RENDERS["mandelbrot0"]


def test_distortions_encodes_and_vmaf_match_the_committed_checksums(tmp_path: Path):
    reference = render_lavfi(RENDERS["mandelbrot0"], FMT)
    ref_path = encode(reference, tmp_path / "ref.mp4", fps=FMT.fps)
    assert file_sha256(ref_path)[:16] == PRISTINE_FILE, toolchain_note()
    got = {}
    for chain in DISTORTED:
        frames = distortions.apply_chain(reference, distortions.parse_chain(chain), np.random.default_rng(7), FMT.fps)
        path = distortions.render_chain(reference, distortions.parse_chain(chain), np.random.default_rng(7), FMT.fps,
                                        tmp_path / "d.mp4")  # fmt: skip
        got[chain] = (sha(frames), file_sha256(path)[:16], vmaf_mean(path, ref_path))
    assert got == DISTORTED, toolchain_note()


@pytest.mark.parametrize("chain", ["h264:2", "resize:2+h264:3", "h265:1"])
def test_a_stored_video_decodes_to_the_distorted_frames(tmp_path: Path, chain):
    """A chain ending in a codec is stored as the codec's own output (no decode + lossless re-encode): its file
    decodes to exactly the frames the chain gives (a lossless file decodes to the yuv420p frames)."""
    from vqaloop.io.video import read_frames

    reference = render_lavfi(RENDERS["mandelbrot0"], FMT)
    steps = distortions.parse_chain(chain)
    frames = distortions.apply_chain(reference, steps, np.random.default_rng(7), FMT.fps)
    path = distortions.render_chain(reference, steps, np.random.default_rng(7), FMT.fps, tmp_path / "v.mp4")
    assert np.array_equal(read_frames(path, list(range(len(frames)))), frames)


def test_vmaf_of_several_videos_in_one_run_equals_one_run_each(tmp_path: Path, monkeypatch):
    """The render scores all versions of a content in one ffmpeg run (the reference decoded once): the same
    values as scoring each alone, also when the versions need several runs."""
    from vqaloop.corpus import vmaf

    reference = render_lavfi(RENDERS["mandelbrot0"], FMT)
    ref_path = encode(reference, tmp_path / "ref.mp4", fps=FMT.fps)
    paths = [distortions.render_chain(reference, distortions.parse_chain(chain), np.random.default_rng(7), FMT.fps,
                                      tmp_path / f"{k}.mp4") for k, chain in enumerate(DISTORTED)]  # fmt: skip
    alone = [vmaf_mean(p, ref_path) for p in paths]
    assert vmaf.vmaf_means(paths, ref_path) == alone
    monkeypatch.setattr(vmaf, "MAX_PER_CALL", 4)
    assert vmaf.vmaf_means(paths, ref_path) == alone == [v[2] for v in DISTORTED.values()]
