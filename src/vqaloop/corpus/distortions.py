"""Synthetic distortions of W2S-VQA Appendix A.3 (spatial, temporal, streaming) plus four artefact families.

Frames are numpy uint8 arrays (T, H, W, 3), RGB. Every family is a small function
``apply(frames, param, rng, fps) -> frames`` (same shape, uint8) and is deterministic given the
``numpy.random.Generator``. The random families draw their random numbers independently of the level
(unit draws scaled by the level's parameter), so for one seed the levels are nested: a stronger level moves
the same pixels/frames further ("common random numbers"), which keeps the level order of a clip monotone.

Decisions where the paper is silent (SPEC.md "W2S" -> "Distortions" says "decide"):

- luminance is Y of BT.601 full-range YCbCr on [0, 1]; changing Y with Cb, Cr kept adds the same
  delta Y to R, G and B, which is how the luminance families are computed;
- darken  f(L, p) = L ** (1 + 2p)            (W2S Eq. 17; power curve, black and white fixed);
- brighten g(L, p) = 1 - (1 - L) ** (1 + 2p)  (W2S Eq. 18; mirrored power curve);
- jitter: per-frame integer shift (W2S Eq. 19) up to (1 %, 3 %, 6 %) of width/height, edge-replicated
  borders, then an edge crop of (2 %, 4 %, 8 %) of each dimension resized back bilinearly: centred (half per
  side, the same box on every frame: ``fixed``, the embedded default) or, as A.3.2's "random cropping", placed at
  random on each frame (``random``: config ``corpus.jitter_crop``, ``jitter_crop_mode``);
- stutter: drop rate p_d in (0.1, 0.25, 0.5) (W2S Eq. 20), frame 0 never dropped;
- resize: PIL box (area) downsampling by s, bilinear upsampling back (W2S Eq. 14);
- H.264 CRF 63 is encoded as CRF 51, the x264 maximum.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqaloop.errors import UserError

X264_MAX_CRF = 51  # x264 and x265 reject (ffmpeg: clamp) CRF above 51

# BT.601 luma weights (full range YCbCr, as in JPEG).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Family:
    """A distortion family: level ``k`` (1-based) is ``apply(frames, levels[k - 1], rng, fps)``."""

    name: str
    kind: str  # "spatial" | "temporal" | "streaming" | "artefact"
    levels: tuple  # parameter of each level, mild -> severe
    apply: Callable[[np.ndarray, object, np.random.Generator, float], np.ndarray]
    description: str

    @property
    def n_levels(self) -> int:
        return len(self.levels)


# ----------------------------------------------------------------------------------------------- helpers


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Round half to even and clip a float array to uint8."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma Y on [0, 1] of float RGB frames on [0, 1], shape (T, H, W)."""
    return rgb @ _LUMA


def _with_luma(frames: np.ndarray, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Replace Y (BT.601 full range) by ``curve(Y)`` keeping Cb and Cr: RGB' = RGB + (Y' - Y)."""
    rgb = frames.astype(np.float32) / 255.0
    y = _luma(rgb)
    new_y = curve(y).astype(np.float32)
    return _to_uint8((rgb + (new_y - y)[..., None]) * 255.0)


def _pil_resize(frame: np.ndarray, size: tuple[int, int], resample, box=None) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize(size, resample, box=box))


# ----------------------------------------------------------------------------------------------- spatial


def resize(frames: np.ndarray, s: int, rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S Eq. 14: I' = Upsample(Downsample(I, s), s).

    Downsampling by ``s`` with PIL's box filter (exact area average) to round(W/s) x round(H/s) (at least 1),
    upsampling back to W x H with PIL's bilinear filter.
    """
    from PIL import Image

    _, h, w, _ = frames.shape
    small = (max(1, round(w / s)), max(1, round(h / s)))
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        down = _pil_resize(frame, small, Image.Resampling.BOX)
        out[t] = _pil_resize(down, (w, h), Image.Resampling.BILINEAR)
    return out


def blur(frames: np.ndarray, sigma: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S Eq. 15: I' = I * G(sigma), per frame and channel (scipy gaussian_filter, reflect borders).

    sigma = 0.1 leaves 8-bit frames unchanged (neighbour weight exp(-50)); that is the paper's level 1.
    """
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(frames.astype(np.float32), sigma=(0, sigma, sigma, 0), mode="reflect")
    return _to_uint8(out)


def noise(frames: np.ndarray, sigma: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S Eq. 16: I' = I + N(0, sigma^2) on [0, 1] pixels, independently per pixel and channel; clip, round.

    sigma in (0.001 ... 0.01) is 0.26 ... 2.6 grey levels at 8 bits (the paper's setting, kept).
    """
    unit = rng.standard_normal(frames.shape, dtype=np.float32)
    return _to_uint8(frames.astype(np.float32) + unit * np.float32(sigma * 255.0))


def darken(frames: np.ndarray, p: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S Eq. 17 with f(L, p) = L ** (1 + 2p) on BT.601 luma L in [0, 1], chroma kept (decided).

    A power curve: black and white stay fixed, mid-grey 0.5 -> 0.47 (p = 0.05) ... 0.17 (p = 0.8).
    """
    return _with_luma(frames, lambda y: np.power(y, np.float32(1.0 + 2.0 * p)))


def brighten(frames: np.ndarray, p: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S Eq. 18 with g(L, p) = 1 - (1 - L) ** (1 + 2p) on BT.601 luma L in [0, 1], chroma kept (decided).

    The mirror of ``darken``: mid-grey 0.5 -> 0.56 (p = 0.1) ... 0.89 (p = 1.1).
    """
    return _with_luma(frames, lambda y: 1.0 - np.power(1.0 - y, np.float32(1.0 + 2.0 * p)))


# ----------------------------------------------------------------------------------------------- temporal


def jitter(frames: np.ndarray, param: tuple[float, float], rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S Eq. 19: per-frame random translation M = [[1, 0, dx], [0, 1, dy]], then edge crop and resize back.

    ``param = (shift, crop)``: dx, dy are integers round(u * shift * W), round(v * shift * H) with
    u, v ~ U(-1, 1) drawn per frame (frame 0 included); the uncovered border replicates the edge pixels
    (no black bars); then ``crop`` of each dimension (half per side) is cut off and the rest is resized
    back to W x H bilinearly (PIL).
    """
    from PIL import Image

    shift, crop = param
    t_len, h, w, _ = frames.shape
    u = rng.uniform(-1.0, 1.0, size=(t_len, 2))
    dx = np.rint(u[:, 0] * shift * w).astype(int)
    dy = np.rint(u[:, 1] * shift * h).astype(int)
    boxes = jitter_crop_boxes(t_len, w, h, crop, rng)
    rows, cols = np.arange(h), np.arange(w)
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        moved = frame[np.clip(rows - dy[t], 0, h - 1)][:, np.clip(cols - dx[t], 0, w - 1)]
        out[t] = _pil_resize(moved, (w, h), Image.Resampling.BILINEAR, box=boxes[t])
    return out


JITTER_CROPS = ("fixed", "random")
_jitter = {"crop": "fixed"}


@contextlib.contextmanager
def jitter_crop_mode(mode: str):
    """Within the block, the jitter family crops ``fixed`` (centred) or ``random`` (config ``corpus.jitter_crop``)."""
    if mode not in JITTER_CROPS:
        raise UserError(f"jitter crop {mode!r} is not one of {', '.join(JITTER_CROPS)}")
    saved = _jitter["crop"]
    _jitter["crop"] = mode
    try:
        yield
    finally:
        _jitter["crop"] = saved


def jitter_crop_boxes(t_len: int, w: int, h: int, crop: float, rng: np.random.Generator) -> list[tuple]:
    """Each frame's crop box (left, top, right, bottom): ``crop`` of each dimension cut off. Fixed: half per side.
    Random (W2S A.3.2, "random cropping"): the cut split between the two sides by u ~ U(0, 1) per frame and
    axis, drawn after the shifts and independently of the level (the clip's generator: deterministic, and a
    stronger level moves the same box further)."""
    if _jitter["crop"] == "fixed":
        cx, cy = crop * w / 2.0, crop * h / 2.0
        return [(cx, cy, w - cx, h - cy)] * t_len
    c = rng.uniform(0.0, 1.0, size=(t_len, 2))
    left, top = c[:, 0] * crop * w, c[:, 1] * crop * h
    return [(lx, ty, lx + (1.0 - crop) * w, ty + (1.0 - crop) * h) for lx, ty in zip(left, top, strict=True)]


def stutter(frames: np.ndarray, p_drop: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S Eq. 20: frame t is replaced by output frame t-1 when r_t < p_d, r_t ~ U(0, 1); frame 0 is kept.

    Consecutive drops freeze the last kept frame (the replacement is the *output* frame t-1).
    """
    t_len = frames.shape[0]
    r = rng.uniform(0.0, 1.0, size=t_len)
    keep = r >= p_drop
    keep[0] = True
    source = np.maximum.accumulate(np.where(keep, np.arange(t_len), 0))
    return frames[source]


# ----------------------------------------------------------------------------------------------- streaming


def _codec_roundtrip(frames: np.ndarray, fps: float, codec: str, crf: int, preset: str) -> np.ndarray:
    """Encode to a temporary mp4 (yuv420p) with vqaloop.io.video.encode and decode it back to RGB."""
    from vqaloop.io.video import decode_ffmpeg, encode

    t_len, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2  # yuv420p needs even sizes: replicate one edge row/column, cut it after
    padded = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge") if pad_h or pad_w else frames
    with tempfile.TemporaryDirectory(prefix="vqaloop-distort-") as tmp:
        path = encode(padded, Path(tmp) / "clip.mp4", fps=fps, codec=codec, crf=crf, preset=preset)
        out = decode_ffmpeg(path, width=w + pad_w, height=h + pad_h)
    if out.shape[0] != t_len:
        raise UserError(f"{codec} CRF {crf}: decoded {out.shape[0]} frames from a {t_len}-frame clip")
    return np.ascontiguousarray(out[:, :h, :w])


# The encoder presets of the codec families. The paper's (W2S A.3.3) are x264 ``fast`` and x265 ``veryslow``;
# the embedded default renders x265 with a faster preset (config ``corpus.x265_preset``, README "Time"), which
# ``codec_presets`` sets for the duration of a render.
PAPER_PRESETS = {"h264": "fast", "h265": "veryslow"}
X265_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_presets = dict(PAPER_PRESETS)


@contextlib.contextmanager
def codec_presets(**presets: str):
    """Within the block, the codec families encode with these presets (e.g. ``h265="medium"``)."""
    unknown = sorted(set(presets) - set(PAPER_PRESETS))
    if unknown:
        raise ValueError(f"no codec family {unknown[0]!r}; valid: {', '.join(PAPER_PRESETS)}")
    for codec, preset in presets.items():
        if preset not in X265_PRESETS:
            raise UserError(f"{codec} preset {preset!r} is not an x264/x265 preset ({', '.join(X265_PRESETS)})")
    saved = dict(_presets)
    _presets.update(presets)
    try:
        yield
    finally:
        _presets.clear()
        _presets.update(saved)


def h264(frames: np.ndarray, crf: int, rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S A.3.3: x264 preset ``fast`` at ``crf``; CRF above 51 (the paper's 63) is clamped to 51 here."""
    return _codec_roundtrip(frames, fps, "h264", min(int(crf), X264_MAX_CRF), _presets["h264"])


def h265(frames: np.ndarray, crf: int, rng: np.random.Generator, fps: float) -> np.ndarray:
    """W2S A.3.3: x265 preset ``veryslow`` (``codec_presets`` may set another) at ``crf`` (36 ... 48)."""
    return _codec_roundtrip(frames, fps, "h265", min(int(crf), X264_MAX_CRF), _presets["h265"])


# ----------------------------------------------------------------------------------------------- artefacts


def ghosting(frames: np.ndarray, a: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """Temporal smear of generated video: out_t = (1 - a) in_t + a out_{t-1}, out_0 = in_0."""
    src = frames.astype(np.float32)
    out = np.empty_like(src)
    out[0] = src[0]
    keep, carry = np.float32(1.0 - a), np.float32(a)
    for t in range(1, src.shape[0]):
        out[t] = keep * src[t] + carry * out[t - 1]
    return _to_uint8(out)


def banding(frames: np.ndarray, n: int, rng: np.random.Generator, fps: float) -> np.ndarray:
    """Bit-depth reduction / posterisation: each RGB channel quantised to ``n`` uniform levels, no dither."""
    step = 255.0 / (n - 1)
    return _to_uint8(np.rint(frames.astype(np.float32) / np.float32(step)) * np.float32(step))


def flicker(frames: np.ndarray, amp: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """Per-frame global luminance gain Y' = g_t Y (chroma kept), g_t = 1 + amp * s_t.

    s_t = 0.5 sin(2 pi f t / fps + phi) + 0.5 e_t with f ~ U(2, 6) Hz, phi ~ U(0, 2 pi), e_t ~ U(-1, 1):
    a beating (aliased mains / exposure-hunting) flicker plus frame-to-frame random gain, |s_t| <= 1.
    """
    t_len = frames.shape[0]
    f = rng.uniform(2.0, 6.0)
    phi = rng.uniform(0.0, 2.0 * np.pi)
    e = rng.uniform(-1.0, 1.0, size=t_len)
    s = 0.5 * np.sin(2.0 * np.pi * f * np.arange(t_len) / fps + phi) + 0.5 * e
    gain = (1.0 + amp * s).astype(np.float32)[:, None, None]
    return _with_luma(frames, lambda y: y * gain)


_TONEMAP_K = 6.0


def tonemap(frames: np.ndarray, s: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """HDR-to-SDR-like failure: luma S-curve (crushed shadows, compressed highlights) plus desaturation.

    Y' = (1 - s) Y + s S(Y), S(Y) = 0.5 + 0.5 tanh(k (Y - 0.5)) / tanh(k / 2), k = 6;
    chroma (RGB - Y) scaled by (1 - 0.6 s).
    """
    rgb = frames.astype(np.float32) / 255.0
    y = _luma(rgb)
    k = np.float32(_TONEMAP_K)
    curve = 0.5 + 0.5 * np.tanh(k * (y - 0.5)) / np.tanh(k / 2)
    new_y = (1.0 - s) * y + s * curve
    sat = np.float32(1.0 - 0.6 * s)
    out = new_y[..., None] + sat * (rgb - y[..., None])
    return _to_uint8(out * 255.0)


# ----------------------------------------------------------------------------------------------- registry

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family(
            "resize",
            "spatial",
            (2, 3, 4, 8, 16),
            resize,
            "W2S Eq. 14: area (box) downsample by s in {2,3,4,8,16}, bilinear upsample back",
        ),
        Family(
            "blur",
            "spatial",
            (0.1, 0.5, 1, 2, 5),
            blur,
            "W2S Eq. 15: Gaussian blur sigma in {0.1,0.5,1,2,5} px per frame and channel "
            "(sigma 0.1 is a no-op at 8 bit)",
        ),
        Family(
            "noise",
            "spatial",
            (0.001, 0.002, 0.003, 0.005, 0.01),
            noise,
            "W2S Eq. 16: additive Gaussian noise sigma in {0.001..0.01} on [0,1] pixels "
            "(0.26-2.6 grey levels), independent per pixel and channel",
        ),
        Family(
            "darken",
            "spatial",
            (0.05, 0.1, 0.2, 0.4, 0.8),
            darken,
            "W2S Eq. 17, decided f(L,p) = L^(1+2p) on BT.601 full-range luma, chroma kept, p in {0.05..0.8}",
        ),
        Family(
            "brighten",
            "spatial",
            (0.1, 0.2, 0.4, 0.7, 1.1),
            brighten,
            "W2S Eq. 18, decided g(L,p) = 1-(1-L)^(1+2p) on BT.601 full-range luma, chroma kept, p in {0.1..1.1}",
        ),
        Family(
            "jitter",
            "temporal",
            ((0.01, 0.02), (0.03, 0.04), (0.06, 0.08)),
            jitter,
            "W2S Eq. 19, decided: per-frame integer shift up to 1/3/6% of W,H (edge-replicated), "
            "then 2/4/8% edge crop resized back bilinearly; level = (shift, crop)",
        ),
        Family(
            "stutter",
            "temporal",
            (0.1, 0.25, 0.5),
            stutter,
            "W2S Eq. 20, decided drop rate p_d in {0.1,0.25,0.5}: frame t <- output frame t-1 if r < p_d; frame 0 kept",
        ),
        Family(
            "h264",
            "streaming",
            (24, 36, 48, 63),
            h264,
            "W2S A.3.3: x264 preset fast CRF {24,36,48,63}; CRF 63 is encoded as 51 (x264 maximum)",
        ),
        Family(
            "h265",
            "streaming",
            (36, 40, 44, 48),
            h265,
            "W2S A.3.3: x265 preset veryslow CRF {36,40,44,48}",
        ),
        Family(
            "ghosting",
            "artefact",
            (0.2, 0.35, 0.5, 0.65, 0.8),
            ghosting,
            "AIGC-like temporal smear, out_t = (1-a) in_t + a out_{t-1}, a in {0.2,0.35,0.5,0.65,0.8}",
        ),
        Family(
            "banding",
            "artefact",
            (64, 32, 16, 10, 6),
            banding,
            "bit-depth reduction: each RGB channel quantised to n in {64,32,16,10,6} levels, no dither",
        ),
        Family(
            "flicker",
            "artefact",
            (0.02, 0.04, 0.08, 0.12, 0.2),
            flicker,
            "per-frame luma gain 1 + A s_t (s_t = half 2-6 Hz sine + half U(-1,1) per frame), "
            "A in {0.02,0.04,0.08,0.12,0.2}",
        ),
        Family(
            "tonemap",
            "artefact",
            (0.15, 0.3, 0.5, 0.7, 0.9),
            tonemap,
            "HDR->SDR-like: luma blended by s toward tanh S-curve (k=6), chroma x(1-0.6s), s in {0.15..0.9}",
        ),
    ]
}

# Capture-side families of random_capture_chain, in the order a capture pipeline applies them
# (camera shake, optics, exposure, sensor noise, downscaling for upload).
CAPTURE_FAMILIES = ("jitter", "blur", "darken", "brighten", "noise", "resize")


def _valid_list() -> str:
    return ", ".join(f"{f.name} (1-{f.n_levels})" for f in FAMILIES.values())


def get_family(name: str) -> Family:
    """The family called ``name`` (UserError listing the valid ones otherwise)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise UserError(f"unknown distortion family {name!r}; valid families (levels): {_valid_list()}") from None


def _check_level(family: Family, level: object, token: str) -> int:
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 1 <= level <= family.n_levels:
        raise UserError(
            f"{token!r}: level {level!r} out of range for {family.name} (valid levels 1-{family.n_levels}); "
            f"valid families (levels): {_valid_list()}"
        )
    return int(level)


def apply_distortion(frames: np.ndarray, family: str, level: int, rng: np.random.Generator, fps: float) -> np.ndarray:
    """Apply level ``level`` (1-based, mild -> severe) of ``family`` to uint8 RGB frames (T, H, W, 3)."""
    fam = get_family(family)
    level = _check_level(fam, level, f"{family}:{level}")
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")
    out = fam.apply(frames, fam.levels[level - 1], rng, float(fps))
    assert out.shape == frames.shape and out.dtype == np.uint8, (family, out.shape, out.dtype)
    return out


def apply_chain(frames: np.ndarray, chain: list[tuple[str, int]], rng: np.random.Generator, fps: float) -> np.ndarray:
    """Apply the (family, level) steps of ``chain`` in order, sharing ``rng``; [] returns ``frames``."""
    for family, level in chain:
        frames = apply_distortion(frames, family, level, rng, fps)
    return frames


CODEC_FAMILIES = ("h264", "h265")


def render_chain(frames: np.ndarray, chain: list[tuple[str, int]], rng: np.random.Generator, fps: float,
                 path: str | Path) -> Path:  # fmt: skip
    """Apply ``chain`` to ``frames`` and store the result at ``path`` (an .mp4).

    A chain whose last step is a codec family is stored as that codec's own output: the file is the encode
    the round trip would decode, so its frames are exactly the distorted frames, without a decode and a
    lossless re-encode (two ffmpeg runs a video). Any other chain, or a frame size the codecs cannot take
    (odd), is stored as x264 lossless. The same ``rng`` stream is used either way (codecs draw nothing).
    """
    from vqaloop.io.video import encode

    h, w = frames.shape[1:3]
    if chain and chain[-1][0] in CODEC_FAMILIES and h % 2 == 0 and w % 2 == 0:
        name, level = chain[-1]
        family = get_family(name)
        crf = min(int(family.levels[_check_level(family, level, f"{name}:{level}") - 1]), X264_MAX_CRF)
        distorted = apply_chain(frames, chain[:-1], rng, fps)
        return encode(distorted, path, fps=fps, codec=name, crf=crf, preset=_presets[name])
    return encode(apply_chain(frames, chain, rng, fps), path, fps=fps)


def format_chain(chain: list[tuple[str, int]]) -> str:
    """[("blur", 2), ("h264", 3)] -> "blur:2+h264:3"; [] -> "pristine"."""
    if not chain:
        return "pristine"
    return "+".join(f"{family}:{int(level)}" for family, level in chain)


def parse_chain(text: str) -> list[tuple[str, int]]:
    """Inverse of format_chain ("pristine" or "" -> []); names and levels validated (UserError)."""
    text = text.strip()
    if text in ("", "pristine"):
        return []
    chain: list[tuple[str, int]] = []
    for token in text.split("+"):
        name, sep, level_text = token.strip().partition(":")
        if not sep or not level_text.strip().isdigit():
            raise UserError(
                f"bad distortion step {token!r} in {text!r}: expected family:level; "
                f"valid families (levels): {_valid_list()}"
            )
        if name not in FAMILIES:
            raise UserError(
                f"bad distortion step {token!r}: unknown family {name!r}; valid families (levels): {_valid_list()}"
            )
        chain.append((name, _check_level(FAMILIES[name], int(level_text), token)))
    return chain


def random_capture_chain(rng: np.random.Generator, max_steps: int = 3) -> list[tuple[str, int]]:
    """A UGC-like mixed chain: 1..max_steps distinct capture families at random levels, then (p = 0.8) h264.

    Capture families are drawn without replacement from CAPTURE_FAMILIES and applied in capture-pipeline order
    (jitter, blur, darken, brighten, noise, resize); the h264 level is uniform over its 4 levels.
    Deterministic in ``rng``: the same generator state gives the same chain.
    """
    if max_steps < 1:
        raise UserError(f"random_capture_chain: max_steps must be >= 1, got {max_steps}")
    n_steps = int(rng.integers(1, min(max_steps, len(CAPTURE_FAMILIES)) + 1))
    picked = rng.choice(len(CAPTURE_FAMILIES), size=n_steps, replace=False)
    chain = []
    for index in sorted(int(i) for i in picked):
        family = FAMILIES[CAPTURE_FAMILIES[index]]
        chain.append((family.name, int(rng.integers(1, family.n_levels + 1))))
    if rng.uniform() < 0.8:
        chain.append(("h264", int(rng.integers(1, FAMILIES["h264"].n_levels + 1))))
    return chain
