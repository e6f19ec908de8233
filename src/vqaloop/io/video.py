"""Video decoding and encoding through imageio-ffmpeg's static ffmpeg (with libvmaf, x264, x265) and decord.

Frames are numpy uint8 arrays shaped (T, H, W, 3), RGB. Every encode is bit-exact (no encoder/version
metadata, one thread for the codecs whose output depends on threading) so two builds give identical files.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from vqaloop.errors import UserError
from vqaloop.io.atomic import atomic_path

BITEXACT = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]


@functools.cache
def ffmpeg_exe() -> str:
    """Path of imageio-ffmpeg's static ffmpeg (built with libvmaf); overridable with VQALOOP_FFMPEG."""
    override = os.environ.get("VQALOOP_FFMPEG")
    if override:
        return override
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def ffmpeg_build() -> dict[str, str]:
    """The ffmpeg that renders, encodes and scores: its version line and the imageio-ffmpeg release bundling it
    (recorded beside every rendered shard: the static binary changes with each imageio-ffmpeg release)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True, check=False)
    line = proc.stdout.strip().splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else "unknown"
    line = line.split(" Copyright")[0]  # "ffmpeg version n9.0.2-17-g2a571b6068-20260930"
    try:
        from importlib.metadata import version

        package = version("imageio-ffmpeg")
    except Exception:  # not installed (VQALOOP_FFMPEG names another binary)
        package = "not installed"
    override = os.environ.get("VQALOOP_FFMPEG")
    return {"ffmpeg": line, "imageio_ffmpeg": "overridden by VQALOOP_FFMPEG" if override else package}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_ffmpeg(args: list[str], *, input_bytes: bytes | None = None, what: str = "ffmpeg") -> bytes:
    """Run ffmpeg quietly; on failure raise UserError with the last lines of its log."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    proc = subprocess.run(cmd, input=input_bytes, capture_output=True, check=False)
    if proc.returncode != 0:
        lines = [re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", ln).strip()
                 for ln in proc.stderr.decode(errors="replace").strip().splitlines()]  # fmt: skip
        reason = next((ln for ln in lines if ln), f"exit {proc.returncode}")
        raise UserError(f"{what}: ffmpeg failed ({reason[:200]})")
    return proc.stdout


def probe(path: str | os.PathLike) -> dict:
    """Width, height, fps and duration of a video file, read from ffmpeg's stream header."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: video file not found")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    err = subprocess.run(cmd, capture_output=True, check=False).stderr.decode(errors="replace")
    video = re.search(r"Stream #.*?Video: .*?(\d{2,5})x(\d{2,5})", err)
    if video is None:
        raise UserError(f"{path}: not a readable video (ffmpeg found no video stream)")
    fps = re.search(r"([\d.]+) fps", err)
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", err)
    seconds = None
    if dur:
        h, m, s = dur.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    return {
        "width": int(video.group(1)),
        "height": int(video.group(2)),
        "fps": float(fps.group(1)) if fps else None,
        "duration": seconds,
    }


def decode_ffmpeg(
    path: str | os.PathLike,
    *,
    width: int,
    height: int,
    fps: float | None = None,
    start: float | None = None,
    duration: float | None = None,
    input_args: list[str] | None = None,
    filters: str | None = None,
) -> np.ndarray:
    """Decode (a segment of) a video, scaled to width x height, as RGB uint8 frames (T, H, W, 3).

    ``filters`` runs before the final scale (e.g. a crop); ``input_args`` go before ``-i`` (e.g. ``-f lavfi``).
    """
    args: list[str] = []
    if start is not None:
        args += ["-ss", f"{start:.3f}"]
    args += list(input_args or [])
    args += ["-i", str(path)]
    if duration is not None:
        args += ["-t", f"{duration:.3f}"]
    chain = [filters] if filters else []
    if fps is not None:
        chain.append(f"fps={fps}")
    chain.append(f"scale={width}:{height}:flags=area")
    args += ["-vf", ",".join(chain), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = run_ffmpeg(args, what=str(path))
    frame_bytes = width * height * 3
    n = len(raw) // frame_bytes
    if n == 0:
        raise UserError(f"{path}: video has zero decodable frames")
    return np.frombuffer(raw[: n * frame_bytes], dtype=np.uint8).reshape(n, height, width, 3).copy()


def _check_frames(frames: np.ndarray) -> tuple[int, int, int]:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    if t == 0:
        raise ValueError("frames must hold at least one frame")
    return t, h, w


def encode(
    frames: np.ndarray,
    path: str | os.PathLike,
    *,
    fps: float,
    codec: str = "lossless",
    crf: int | None = None,
    preset: str | None = None,
) -> Path:
    """Encode RGB frames to ``path`` atomically.

    codec: ``lossless`` (x264 qp 0, yuv420p: the working format of every stored clip), ``h264`` (x264) or
    ``h265`` (x265), the last two at ``crf`` with ``preset``. CRF is clamped to the encoders' maximum of 51.
    """
    _, h, w = _check_frames(frames)
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "-"]
    if codec == "lossless":
        # lossless: the preset changes the file size and the encode time, never the decoded frames
        args += ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-threads", "1"]
    elif codec == "h264":
        args += ["-c:v", "libx264", "-crf", str(min(int(crf), 51)), "-preset", preset or "medium"]
        args += ["-threads", "1"]
    elif codec == "h265":
        x265 = "log-level=error:pools=1:frame-threads=1"
        args += ["-c:v", "libx265", "-crf", str(min(int(crf), 51)), "-preset", preset or "medium"]
        args += ["-x265-params", x265, "-tag:v", "hvc1"]
    else:
        raise ValueError(f"unknown codec {codec!r}; expected lossless, h264 or h265")
    args += ["-pix_fmt", "yuv420p", *BITEXACT, "-an"]
    path = Path(path)
    with atomic_path(path) as tmp:
        run_ffmpeg([*args, "-y", str(tmp)], input_bytes=np.ascontiguousarray(frames).tobytes(), what=str(path))
    return path


def _decord_reason(err: Exception) -> str:
    """decord's messages carry C++ source paths and check expressions; keep the readable part."""
    text = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    text = re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", text)  # "[03:07:52] /path/video_reader.cc:151: "
    if "ERROR" in text:
        text = text.split("ERROR", 1)[1].strip()
    return f"decord: {text[:160]}"


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C libraries' own stderr logging (decord/libav) while we report a clean error instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_reader(path: str | os.PathLike):
    """(decord reader, frame count) of a stored clip: the one place a clip is opened. Missing, unreadable, corrupt
    or empty files raise UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: video file not found")
    try:
        import decord

        with _quiet_stderr():
            reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        n = len(reader)
    except Exception as err:  # decord raises its own DECORDError and RuntimeError types
        raise UserError(f"{path}: unreadable or corrupt video ({_decord_reason(err)})") from None
    if n == 0:
        raise UserError(f"{path}: video has zero frames")
    return reader, n


def read_frames(path: str | os.PathLike, indices: list[int] | None = None) -> np.ndarray:
    """Read frames of a stored clip with decord (all frames when ``indices`` is None).

    Unreadable, corrupt or empty files raise UserError naming the file.
    """
    path = Path(path)
    reader, n = open_reader(path)
    if indices is None:
        indices = list(range(n))
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise UserError(f"{path}: frame index {bad[0]} out of range (video has {n} frames)")
    try:
        return reader.get_batch(list(indices)).asnumpy()
    except Exception as err:
        raise UserError(f"{path}: corrupt video, decoding failed ({_decord_reason(err)})") from None


def count_frames(path: str | os.PathLike) -> int:
    """Number of frames decord sees in a stored clip (UserError if unreadable or empty)."""
    return open_reader(path)[1]


def clip_info(path: str | os.PathLike) -> tuple[int, float]:
    """(frame count, frame rate) of a stored clip from one decord open (``probe`` runs ffmpeg, which costs more
    than decoding a short clip's samples); UserError if unreadable, empty or without a valid rate."""
    reader, n = open_reader(path)
    try:
        fps = float(reader.get_avg_fps())
    except Exception as err:
        raise UserError(f"{path}: unreadable or corrupt video ({_decord_reason(err)})") from None
    if not math.isfinite(fps) or fps <= 0:
        raise UserError(f"{path}: no valid frame rate in the video stream ({fps})")
    return n, fps


def uniform_indices(n_frames: int, k: int) -> list[int]:
    """k frame indices spread evenly over a clip (centres of k equal segments)."""
    k = min(k, n_frames)
    return [int((i + 0.5) * n_frames / k) for i in range(k)]
