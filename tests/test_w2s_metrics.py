"""The nine low-level metrics of W2S-VQA Appendix A.2: each against an independent slow implementation on small
real images, sanity trends, the 1 fps sampling, and the ``vqaloop metrics`` command (columns, forms, errors)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
from conftest import error_line, pan_clip, run_cli

from vqaloop.io.video import encode, read_frames
from vqaloop.w2s import metrics as M

# ---------------------------------------------------------------- helpers


def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def _grey(name: str, crop: tuple[int, int] = (160, 224)) -> np.ndarray:
    """A real photo's BT.601 luma, cropped: (H, W) float32."""
    h, w = crop
    return M.luma(_photo(name))[40 : 40 + h, 30 : 30 + w]


def _rgb_stack(names=("astronaut", "coffee", "chelsea"), h=72, w=96) -> np.ndarray:
    return np.stack([_photo(n)[50 : 50 + h, 60 : 60 + w] for n in names])


def _jpeg_like(y: np.ndarray, step: float = 80.0) -> np.ndarray:
    """Each 8 x 8 block DCT-coded with a coarse uniform quantiser (JPEG-like blocking)."""
    from scipy.fft import dctn, idctn

    h, w = (s // 8 * 8 for s in y.shape)
    out = y[:h, :w].astype(np.float64).copy()
    for r in range(0, h, 8):
        for c in range(0, w, 8):
            coeff = dctn(out[r : r + 8, c : c + 8], norm="ortho")
            out[r : r + 8, c : c + 8] = idctn(np.round(coeff / step) * step, norm="ortho")
    return np.clip(out, 0, 255).astype(np.float32)


# ---------------------------------------------------------------- sampling


def test_one_frame_per_second_indices_and_partners():
    assert M.sample_indices(30, 15.0) == [0, 15]
    assert M.sample_indices(31, 15.0) == [0, 15, 30]
    assert M.sample_indices(100, 29.97) == [0, 30, 60, 90]  # round(k * fps)
    assert M.sample_indices(5, 0.5) == [0, 1, 2, 3, 4]  # below 1 fps every frame, once each
    assert M.sample_indices(1, 25.0) == [0]
    assert M.partner_indices([0, 15, 29], 30) == [1, 16, 28]  # successor; predecessor at the last frame
    assert M.partner_indices([0], 1) == [0]


# ---------------------------------------------------------------- blockiness


def _blockiness_slow(y: np.ndarray, offset: float = M.BLOCKINESS_OFFSET) -> float:
    """Pair by pair: external pairs straddle an 8-pixel border (horizontal and vertical pairs)."""
    h, w = y.shape
    ext, n_ext, inn, n_inn = 0.0, 0, 0.0, 0
    for r in range(h):
        for c in range(w):
            for dr, dc in ((0, 1), (1, 0)):
                r2, c2 = r + dr, c + dc
                if r2 >= h or c2 >= w:
                    continue
                diff = abs(float(y[r, c]) - float(y[r2, c2]))
                border = (c2 % 8 == 0) if dc else (r2 % 8 == 0)
                if border:
                    ext, n_ext = ext + diff, n_ext + 1
                else:
                    inn, n_inn = inn + diff, n_inn + 1
    return (ext / n_ext + offset) / (inn / n_inn + offset)


def test_blockiness_matches_pair_by_pair_formula():
    y = _grey("camera", (37, 53))  # not a multiple of 8 either way
    got = M.blockiness(y[None])[0]
    assert got == pytest.approx(_blockiness_slow(y), rel=1e-6)


def test_blockiness_rises_with_blocking():
    clean = _grey("camera", (160, 224))
    blocked = _jpeg_like(clean)
    b_clean, b_blocked = M.blockiness(np.stack([clean, blocked]))
    assert 0.85 < b_clean < 1.15  # about 1 on clean content
    assert b_blocked > b_clean + 0.3  # higher = stronger blocking (the reciprocal of Eq. 3; module docstring)


def test_blockiness_rises_on_h264_crf51(tmp_path):
    clip = pan_clip(_photo("astronaut"), n=8, h=144, w=256, step=2)
    encode(clip, tmp_path / "clean.mp4", fps=15)
    encode(clip, tmp_path / "crf51.mp4", fps=15, codec="h264", crf=51, preset="fast")
    clean = M.blockiness(M.luma(read_frames(tmp_path / "clean.mp4", [0, 4])))
    coded = M.blockiness(M.luma(read_frames(tmp_path / "crf51.mp4", [0, 4])))
    assert np.all(coded > clean + 0.1), (clean, coded)


# ---------------------------------------------------------------- CPBD


def _walk(line: np.ndarray, c: int, rising: bool) -> int:
    """Marziliano width at position c of a 1-D profile, walking as the reference code does."""
    n = len(line)

    def keeps_going(outer: int, inner: int, outwards_left: bool) -> bool:
        step = line[outer] - line[inner]
        # Going left from a rising edge the profile must keep falling, going right keep rising.
        return (step < 0) if (rising == outwards_left) else (step > 0)

    margin = 0
    for margin in range(M.CPBD_MAX_MARGIN + 1):
        inner, outer = c - 1 - margin, c - 2 - margin
        if outer < 0 or not keeps_going(outer, inner, True):
            break
    left = margin + 1
    for margin in range(M.CPBD_MAX_MARGIN + 1):
        inner, outer = c + 1 + margin, c + 2 + margin
        if outer >= n or not keeps_going(outer, inner, False):
            break
    return left + margin + 1


def cpbd_reference(y: np.ndarray) -> float:
    """CPBD with plain loops over blocks and pixels (same Canny edges; gradients, angles and widths by hand)."""
    from skimage.feature import canny

    y = np.asarray(y, dtype=np.float32)
    edges = canny(y / 255.0, sigma=1.0)
    h, w = y.shape
    widths = np.zeros((h, w))
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            if not edges[r, c]:
                continue
            gx = (float(y[r, c + 1]) - float(y[r, c - 1])) / 2
            gy = (float(y[r + 1, c]) - float(y[r - 1, c])) / 2
            angle = 45 * round(math.degrees(math.atan2(gy, gx)) / 45)
            if angle == 0:
                widths[r, c] = _walk(y[r].astype(np.float64), c, rising=True)
            elif angle in (180, -180):
                widths[r, c] = _walk(y[r].astype(np.float64), c, rising=False)
            elif angle == 90:
                widths[r, c] = _walk(y[:, c].astype(np.float64), r, rising=True)
            elif angle == -90:
                widths[r, c] = _walk(y[:, c].astype(np.float64), r, rising=False)
    sharp = total = 0
    for r0 in range(0, h - 63, 64):
        for c0 in range(0, w - 63, 64):
            block = (slice(r0, r0 + 64), slice(c0, c0 + 64))
            if edges[block].sum() <= 0.002 * 64 * 64:
                continue
            w_jnb = 5.0 if float(y[block].max()) - float(y[block].min()) <= 50 else 3.0
            for width in widths[block].ravel():
                if width == 0:
                    continue
                p_blur = 1 - math.exp(-((width / w_jnb) ** 3.6))
                sharp += round(p_blur * 100) <= 63
                total += 1
    return sharp / total if total else 0.0


@pytest.mark.parametrize("name", ["camera", "astronaut", "coffee"])
def test_cpbd_matches_reference_loops_and_falls_with_blur(name):
    y = _grey(name, (150, 205))  # partial blocks at the right and bottom are ignored
    scores = []
    for sigma in (0.0, 0.7, 1.2, 2.0, 3.0):
        blurred = ndi.gaussian_filter(y, sigma) if sigma else y
        fast, slow = M.cpbd(blurred), cpbd_reference(blurred)
        assert fast == pytest.approx(slow, abs=1e-12), (name, sigma)
        scores.append(fast)
    assert scores[0] > 0.3, scores  # a sharp photo has many sharp edges
    assert all(a > b for a, b in zip(scores[:-1], scores[1:], strict=True) if a > 0), scores
    assert scores[-1] < 0.05, scores


def test_cpbd_widths_follow_the_gradient_direction():
    # A vertical ramp edge of width 6 (horizontal gradient) and the same edge transposed: same widths.
    profile = np.concatenate([np.zeros(60), np.linspace(0, 200, 7)[1:-1], np.full(62, 200.0)])
    image = np.tile(profile, (128, 1)).astype(np.float32)
    for y in (image, np.ascontiguousarray(image.T)):
        edges = np.zeros(y.shape, dtype=bool)
        if y is image:
            edges[1:-1, 62] = True
        else:
            edges[62, 1:-1] = True
        widths = M.edge_widths(y, edges)
        assert set(np.unique(widths[edges])) == {6}, np.unique(widths[edges])
    assert M.cpbd(np.zeros((128, 128), np.float32)) == 0.0  # no edge block


# ---------------------------------------------------------------- contrast, noise, colour, luminance


def test_contrast_is_the_grey_level_std_and_grows_with_stretch():
    y = _grey("camera", (40, 50))
    mu = y.astype(np.float64).sum() / y.size  # Eq. 5
    sigma = math.sqrt(((y.astype(np.float64) - mu) ** 2).sum() / y.size)  # Eq. 6
    stretched = np.clip((y - 128.0) * 1.5 + 128.0, 0, 255)
    got = M.contrast(np.stack([y, stretched]))
    assert got[0] == pytest.approx(sigma, rel=1e-6)
    assert got[1] > got[0] * 1.2


def test_noise_matches_immerkaer_formula_and_recovers_sigma():
    rng = np.random.default_rng(0)
    smooth = ndi.gaussian_filter(_grey("camera", (144, 256)).astype(np.float64), 6)
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    for sigma in (2.0, 5.0, 10.0):
        noisy = (smooth + rng.normal(0, sigma, smooth.shape)).astype(np.float32)
        h, w = noisy.shape
        conv = ndi.convolve(noisy.astype(np.float64), mask)[1:-1, 1:-1]
        direct = math.sqrt(math.pi / 2) * np.abs(conv).sum() / (6 * (w - 2) * (h - 2))
        got = M.noise_sigma(noisy[None])[0]
        assert got == pytest.approx(direct, rel=1e-5)
        assert got == pytest.approx(sigma, rel=0.1)
    assert M.noise_sigma(smooth[None].astype(np.float32))[0] < 0.5


def test_colourfulness_and_luminance_direct_formulas():
    frames = _rgb_stack()
    got_c, got_l = M.colourfulness(frames), M.luminance(frames)
    for t, frame in enumerate(frames):
        r, g, b = (frame[..., i].astype(np.float64).ravel() for i in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b  # Eq. 8
        expect = math.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)  # Eq. 9
        assert got_c[t] == pytest.approx(expect, rel=1e-6)
        assert got_l[t] == pytest.approx((r + g + b).mean(), rel=1e-9)  # Eq. 10
    grey = np.repeat(frames[..., :1], 3, axis=3)
    assert np.allclose(M.colourfulness(grey), 0.0)
    assert np.all(got_c > 5)


# ---------------------------------------------------------------- flicker, SI, TI


def test_si_ti_by_p910_definitions_with_scipy_sobel():
    clip = pan_clip(_photo("astronaut"), n=4, h=60, w=80, step=3)
    y = M.luma(clip).astype(np.float64)
    for t in range(3):
        magnitude = np.hypot(ndi.sobel(y[t], axis=0), ndi.sobel(y[t], axis=1))[1:-1, 1:-1]
        assert M.spatial_information(y[t : t + 1])[0] == pytest.approx(magnitude.std(), rel=1e-5)
        assert M.temporal_information(y[t : t + 1], y[t + 1 : t + 2])[0] == pytest.approx(
            (y[t + 1] - y[t]).std(), rel=1e-5
        )
    still = np.repeat(clip[:1], 3, axis=0)
    values = M.frame_metrics(still, still)
    assert np.all(values[:, M.METRIC_NAMES.index("ti")] == 0)
    assert np.all(values[:, M.METRIC_NAMES.index("flicker")] == 0)
    assert np.all(M.frame_metrics(clip[:3], clip[1:4])[:, M.METRIC_NAMES.index("ti")] > 5)


def test_flicker_direct_formula_and_rises_with_brightness_flicker():
    frame = _photo("coffee")[100:172, 100:196]
    y0 = M.luma(frame[None])
    rng = np.random.default_rng(1)
    y1 = y0 + rng.normal(0, 8, y0.shape).astype(np.float32)
    expect = np.mean(np.abs(y1 - y0) > M.FLICKER_THRESHOLD)  # Eq. 7
    assert M.flicker(y0, y1)[0] == pytest.approx(expect)
    levels = []
    for boost in (0, 6, 14, 40):
        brighter = np.clip(frame.astype(np.int16) + boost, 0, 255).astype(np.uint8)
        levels.append(M.frame_metrics(frame[None], brighter[None])[0, M.METRIC_NAMES.index("flicker")])
    assert levels[0] == 0 and levels[1] == 0  # below T_f = 10 grey levels
    assert 0.5 < levels[2] < levels[3] <= 1.0, levels


def test_summary_means_seven_and_takes_max_of_si_ti():
    per_frame = np.arange(27, dtype=np.float64).reshape(3, 9)
    per_frame[1, 7] = 100.0
    out = M.summarise(per_frame)
    assert np.allclose(out[:7], per_frame[:, :7].mean(axis=0))
    assert out[7] == 100.0 and out[8] == per_frame[:, 8].max()


# ---------------------------------------------------------------- videos and the command


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("metrics_clips")
    encode(pan_clip(_photo("astronaut"), n=31, h=72, w=128, step=2), folder / "a.mp4", fps=15)
    encode(pan_clip(_photo("coffee"), n=20, h=72, w=128, step=1), folder / "b.mp4", fps=10)
    return folder


def test_video_metrics_sample_one_frame_per_second(clips):
    indices, values = M.video_metrics(clips / "a.mp4")
    assert indices == [0, 15, 30]
    frames = read_frames(clips / "a.mp4", [0, 1, 15, 16, 29, 30])
    expect = M.frame_metrics(frames[[0, 2, 5]], frames[[1, 3, 4]])
    assert np.allclose(values, expect)
    assert values.shape == (3, 9) and np.all(np.isfinite(values))


def _manifest(folder, rows, name: str = "manifest.csv") -> str:
    path = folder / name
    pd.DataFrame(
        [
            {"video_id": vid, "path": rel, "mos": 50.0, "split": split[0] if split else "pool", "dataset": "d"}
            | {"content_id": vid}
            for vid, rel, *split in rows
        ]
    ).to_csv(path, index=False)
    return str(path)


def test_cli_video_and_manifest_forms(clips, tmp_path):
    out = tmp_path / "m.csv"
    run_cli("metrics", str(clips / "a.mp4"), str(clips / "b.mp4"), "--out", str(out), check=True)
    table = pd.read_csv(out)
    assert list(table.columns) == ["path", *M.METRIC_NAMES]
    assert table.path.tolist() == [str(clips / "a.mp4"), str(clips / "b.mp4")]
    _, values = M.video_metrics(clips / "a.mp4")
    assert np.allclose(table.iloc[0, 1:].to_numpy(float), M.summarise(values), rtol=1e-6)

    manifest = _manifest(tmp_path, [("va", "a.mp4"), ("vb", "b.mp4")])
    out2 = tmp_path / "m2.csv"
    run_cli("metrics", "--manifest", manifest, "--data-root", str(clips), "--out", str(out2), "--per-frame", check=True)
    frames = pd.read_csv(out2, dtype={"video_id": str})
    assert list(frames.columns) == ["video_id", "frame", *M.METRIC_NAMES]
    assert frames.video_id.tolist() == ["va", "va", "va", "vb", "vb"]
    assert frames.frame.tolist() == [0, 15, 30, 0, 10]
    assert np.allclose(frames.iloc[:3, 2:].to_numpy(float), values, rtol=1e-6)


def test_cli_bad_inputs_one_line_and_nothing_written(clips, tmp_path):
    out = tmp_path / "never.csv"
    cases = []
    cases.append((["metrics", str(tmp_path / "missing.mp4")], "missing.mp4: video file not found"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 not a video" * 50)
    cases.append((["metrics", str(junk)], "junk.mp4"))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    cases.append((["metrics", "--manifest", str(empty), "--data-root", str(clips)], "empty.csv: empty file (0 bytes)"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    cases.append((["metrics", "--manifest", str(binary), "--data-root", str(clips)], "binary.csv"))
    nocols = tmp_path / "nocols.csv"
    nocols.write_text("video_id,file\nva,a.mp4\n")
    cases.append((["metrics", "--manifest", str(nocols), "--data-root", str(clips)], "lacks required column"))
    bad_row = _manifest(tmp_path, [("va", "a.mp4"), ("gone", "gone.mp4")])
    cases.append((["metrics", "--manifest", bad_row, "--data-root", str(clips)], "row 3 (video_id gone): "))
    split = _manifest(tmp_path, [("va", "a.mp4", "train"), ("gone", "gone.mp4", "pool")], "split.csv")
    args = ["metrics", "--manifest", split, "--data-root", str(clips), "--split", "pool"]
    cases.append((args, "split.csv: row 3 (video_id gone): "))  # the CSV line, although --split dropped row 2
    cases.append(([*args[:-1], "test"], "no rows in split 'test'"))
    cases.append((["metrics"], "no input"))
    for args, expect in cases:
        line = error_line(run_cli(*args, "--out", str(out)))
        assert expect in line, (args, line)
        assert not out.exists()
    assert not list(tmp_path.glob(".never.csv*"))
