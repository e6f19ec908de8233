"""Video I/O: lossless round trip, bit-exact encodes, and one clear error per bad video (decord and ffmpeg)."""

from __future__ import annotations

import numpy as np
import pytest

from vqaloop.errors import UserError
from vqaloop.io.video import (
    count_frames,
    decode_ffmpeg,
    encode,
    probe,
    read_frames,
    run_ffmpeg,
    uniform_indices,
)


def test_lossless_round_trip_keeps_luma(tmp_path, photo_clip):
    path = encode(photo_clip, tmp_path / "a.mp4", fps=10)
    back = read_frames(path)
    assert back.shape == photo_clip.shape
    # yuv420p halves chroma and uses the limited range: about 41 dB, a small uniform darkening (~1.5 levels)
    # that the pristine references share, so VMAF (computed between two stored files) does not see it
    diff = back.astype(float) - photo_clip
    assert 10 * np.log10(255**2 / (diff**2).mean()) > 38
    assert abs(diff.mean()) < 2.5
    assert count_frames(path) == len(photo_clip)
    info = probe(path)
    assert (info["width"], info["height"], info["fps"]) == (128, 72, 10.0)


def test_encodes_are_bit_exact(tmp_path, photo_clip):
    for codec, crf in (("lossless", None), ("h264", 30), ("h265", 36)):
        a = encode(photo_clip, tmp_path / f"a_{codec}.mp4", fps=10, codec=codec, crf=crf, preset="fast")
        b = encode(photo_clip, tmp_path / f"b_{codec}.mp4", fps=10, codec=codec, crf=crf, preset="fast")
        assert a.read_bytes() == b.read_bytes(), codec


def test_decord_and_ffmpeg_decode_the_same_pixels(tmp_path, photo_clip):
    path = encode(photo_clip, tmp_path / "a.mp4", fps=10)
    via_ffmpeg = decode_ffmpeg(path, width=128, height=72)
    assert np.array_equal(via_ffmpeg, read_frames(path))


def test_uniform_indices_spread_and_clip():
    assert uniform_indices(30, 3) == [5, 15, 25]
    assert uniform_indices(4, 8) == [0, 1, 2, 3]


@pytest.fixture
def bad_videos(tmp_path, photo_clip):
    good = encode(photo_clip, tmp_path / "good.mp4", fps=10)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:600])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    zero = tmp_path / "zero.y4m"  # a valid stream header with no frame
    zero.write_text("YUV4MPEG2 W64 H48 F15:1 Ip A1:1 C420jpeg\n")
    audio = tmp_path / "audio.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "anullsrc", "-t", "0.5", "-y", str(audio)])
    return {"truncated": truncated, "garbage": garbage, "zero": zero, "audio": audio,
            "missing": tmp_path / "missing.mp4"}  # fmt: skip


@pytest.mark.parametrize("kind", ["truncated", "garbage", "zero", "audio", "missing"])
def test_bad_video_gives_one_clear_error_from_decord(bad_videos, kind):
    path = bad_videos[kind]
    with pytest.raises(UserError) as err:
        read_frames(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert any(w in message for w in ("corrupt", "not found", "zero", "unreadable"))
    assert ".cc:" not in message  # decord's C++ source locations are stripped


@pytest.mark.parametrize("kind", ["truncated", "garbage", "zero", "audio", "missing"])
def test_bad_video_gives_one_clear_error_from_ffmpeg(bad_videos, kind):
    path = bad_videos[kind]
    with pytest.raises(UserError) as err:
        decode_ffmpeg(path, width=64, height=48)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "0x" not in message  # ffmpeg's "[demuxer @ 0x...]" prefixes are stripped
