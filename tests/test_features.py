"""Frame-feature encoders (real EfficientNet-Lite0 weights, motion cues, open_clip from a local file) and the
``vqaloop features`` command (shapes, order, determinism, one clear error per bad row)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import error_line, pan_clip, run_cli

from vqaloop.errors import UserError
from vqaloop.features import available, encoder_names, get_encoder, load_features
from vqaloop.features.extract import sample_indices
from vqaloop.io.video import encode

torch.set_num_threads(1)

CAT_CLASSES = set(range(281, 286))  # ImageNet tabby, tiger cat, Persian, Siamese, Egyptian cat


def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    return np.ascontiguousarray(image[..., :3])


# ---------------------------------------------------------------- registry


def test_registry_names_and_errors():
    assert {"efficientnet_lite0", "motion", "clip", "siglip2"} <= set(encoder_names())
    with pytest.raises(UserError, match=r"unknown encoder 'dino'; valid: .*efficientnet_lite0.*motion"):
        get_encoder("dino")
    with pytest.raises(UserError, match=r"encoder motion takes no option 'weights'"):
        get_encoder("motion", weights="w.pt")
    assert available("efficientnet_lite0") == (True, "")
    assert available("motion", {}) == (True, "")


# ---------------------------------------------------------------- efficientnet_lite0


@pytest.fixture(scope="module")
def classifier():
    from vqaloop.features.efficientnet import build_model

    return build_model(num_classes=1000)


def test_efficientnet_loads_the_package_weights(classifier):
    import timm

    from vqaloop.features.efficientnet import TIMM_ARCH, package_state_dict

    package = package_state_dict()
    assert len(package) == 296
    loaded = classifier.conv_stem.weight.detach()
    assert torch.equal(loaded, package["_conv_stem.weight"])
    assert torch.equal(classifier.classifier.weight.detach(), package["_fc.weight"])
    assert torch.equal(classifier.bn2.running_var, package["_bn1.running_var"])  # the head's BatchNorm
    torch.manual_seed(0)
    fresh = timm.create_model(TIMM_ARCH, pretrained=False, num_classes=1000)
    assert not torch.allclose(fresh.conv_stem.weight, loaded)


def test_efficientnet_weight_shapes_are_checked(classifier):
    from vqaloop.features.efficientnet import map_state_dict, package_state_dict

    package = package_state_dict()
    key = "_blocks.3._project_conv.weight"
    package[key] = package[key][:-1]
    with pytest.raises(UserError, match=r"do not fit timm .*_blocks\.3\._project_conv\.weight"):
        map_state_dict(classifier, package)


def _corpus_frame(name: str) -> np.ndarray:
    """A photo as a corpus frame: centre 16:9 crop, resized to 144 x 256 (1, 144, 256, 3) uint8."""
    from PIL import Image

    image = _photo(name)
    h, w = image.shape[:2]
    ch = min(h, w * 9 // 16)
    cw = ch * 16 // 9
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = Image.fromarray(image[top : top + ch, left : left + cw])
    return np.asarray(crop.resize((256, 144), Image.Resampling.BILINEAR))[None]


def test_efficientnet_classifies_a_real_photo(classifier):
    from vqaloop.features.efficientnet import to_input

    with torch.inference_mode():
        cat = classifier(to_input(_corpus_frame("chelsea"))).softmax(-1)[0]  # a tabby cat
        coffee = classifier(to_input(_corpus_frame("coffee"))).softmax(-1)[0]
    top5 = set(cat.topk(5).indices.tolist())
    assert CAT_CLASSES & top5, top5
    assert cat[sorted(CAT_CLASSES)].sum() > 0.8
    assert int(coffee.argmax()) in (967, 968)  # espresso, cup


def test_efficientnet_encoder_features(classifier):
    encoder = get_encoder("efficientnet_lite0", batch=3)
    frames = pan_clip(_photo("astronaut"), n=5, h=144, w=256)
    feats = encoder.encode(frames)
    assert feats.shape == (5, 1280) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and (feats >= 0).any()
    # another pass size changes a frame's features by float rounding only, and a repeat is bit-identical
    one = get_encoder("efficientnet_lite0", batch=5).encode(frames)
    np.testing.assert_allclose(feats, one, rtol=1e-4, atol=1e-4)
    assert np.array_equal(feats, encoder.encode(frames))
    # the pooled features are the classifier's input: same weights, same network
    with torch.inference_mode():
        logits = classifier.classifier(torch.from_numpy(feats))
        direct = classifier(torch.from_numpy(frames).permute(0, 3, 1, 2).float().sub(127).div(128))
    np.testing.assert_allclose(logits.numpy(), direct.numpy(), rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------- motion


def _motion(frames: np.ndarray, following: np.ndarray) -> np.ndarray:
    return get_encoder("motion").encode(frames, following)


def test_motion_identical_frames_are_frozen():
    frames = pan_clip(_photo("astronaut"), n=3)
    out = _motion(frames, frames.copy())
    assert out.shape == (3, 4) and out.dtype == np.float32
    assert np.all(out[:, 0] == 0) and np.all(out[:, 1] == 1) and np.all(out[:, 2] == 0)
    assert np.all(out[:, 3] > 0.05)


def test_motion_brightness_step_is_flicker():
    rng = np.random.default_rng(0)
    frame = rng.integers(20, 200, size=(1, 40, 60, 3), dtype=np.uint8)
    out = _motion(frame, frame + np.uint8(10))
    assert out[0, 2] == pytest.approx(10 / 255, abs=1e-5)
    assert out[0, 0] == pytest.approx(10 / 255, abs=1e-5)  # every pixel changed by 10 grey levels
    assert out[0, 1] == 0.0


def test_motion_pan_is_motion_not_freeze():
    frames = pan_clip(_photo("astronaut"), n=4, step=4)
    out = _motion(frames[:-1], frames[1:])
    assert np.all(out[:, 0] > 0.02) and np.all(out[:, 1] < 0.5)


def test_motion_blur_lowers_gradient_energy():
    from scipy.ndimage import gaussian_filter

    for name, factor in (("chelsea", 0.5), ("astronaut", 0.8)):  # fur texture; clean edges on a flat background
        sharp = pan_clip(_photo(name), n=1)
        blurred = gaussian_filter(sharp, sigma=(0, 2, 2, 0))
        s, b = _motion(sharp, sharp)[0, 3], _motion(blurred, blurred)[0, 3]
        assert b < factor * s, (name, s, b)
    flat = np.full((1, 20, 30, 3), 128, np.uint8)
    assert _motion(flat, flat)[0, 3] == 0.0


def test_motion_needs_pairs():
    encoder = get_encoder("motion")
    assert encoder.needs_pairs and encoder.dim == 4
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="next_frames"):
        encoder.encode(frames)


# ---------------------------------------------------------------- open_clip


TINY = "vqaloop-tiny-clip"


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A tiny open_clip model with random weights saved as a local checkpoint (stands in for real weights)."""
    import open_clip

    folder = tmp_path_factory.mktemp("openclip")
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
    }
    (folder / f"{TINY}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder / f"{TINY}.json")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=None)
    weights = folder / "weights.pt"
    torch.save(model.state_dict(), weights)
    return model.eval(), preprocess, weights


def test_openclip_loads_local_weights(tiny_clip):
    from PIL import Image

    model, preprocess, weights = tiny_clip
    frames = pan_clip(_photo("chelsea"), n=3, h=72, w=128)
    encoder = get_encoder("clip", model=TINY, weights=str(weights), batch=2)
    assert encoder.dim == 32 and not encoder.needs_pairs
    feats = encoder.encode(frames)
    with torch.inference_mode():
        direct = model.encode_image(torch.stack([preprocess(Image.fromarray(f)) for f in frames]))
    assert feats.shape == (3, 32) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, direct.numpy(), rtol=1e-5, atol=1e-5)


def test_openclip_without_weights_is_unavailable(tmp_path, tiny_clip):
    assert available("clip", {"weights": None}) == (False, "no weights")
    assert available("siglip2", {"model": "ViT-B-16-SigLIP2"}) == (False, "no weights")
    missing = tmp_path / "nowhere" / "open_clip_model.safetensors"
    ok, reason = available("clip", {"weights": str(missing)})
    assert not ok and str(missing) in reason
    with pytest.raises(UserError, match=r"encoder clip unavailable: no weights \(config key features\.encoders"):
        get_encoder("clip")
    with pytest.raises(UserError, match=f"unavailable: weights file {missing} not found"):
        get_encoder("siglip2", weights=missing)


def test_openclip_rejects_wrong_weights_and_models(tmp_path, tiny_clip):
    bad = tmp_path / "bad.pt"
    torch.save({"visual.proj": torch.zeros(3)}, bad)
    with pytest.raises(UserError, match=f"weights {bad} do not load into open_clip model {TINY}"):
        get_encoder("clip", model=TINY, weights=bad)
    with pytest.raises(UserError, match=r"unknown open_clip model 'ViT-B-16-SigLIP3'.*ViT-B-16-SigLIP2"):
        get_encoder("siglip2", model="ViT-B-16-SigLIP3", weights=tiny_clip[2])


def test_siglip2_uses_its_published_preprocessing():
    from vqaloop.features.openclip import tag_preprocess

    siglip = tag_preprocess("ViT-B-16-SigLIP2")
    assert siglip["image_mean"] == (0.5, 0.5, 0.5) and siglip["image_resize_mode"] == "squash"
    assert tag_preprocess("ViT-B-32")["image_std"][0] == pytest.approx(0.2686, abs=1e-4)
    assert tag_preprocess(TINY) == {}


# ---------------------------------------------------------------- vqaloop features


def test_sample_indices_always_gives_k():
    assert sample_indices(12, 4) == [1, 4, 7, 10]
    assert sample_indices(3, 8) == [0, 0, 0, 1, 1, 2, 2, 2]
    assert sample_indices(1, 2) == [0, 0]


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("features_data")
    rows = ["video_id,path,mos,split,dataset,content_id"]
    for k, (name, split) in enumerate([("coffee", "train"), ("chelsea", "test"), ("astronaut", "pool")]):
        clip = pan_clip(_photo(name), n=10 + k)  # 72 x 128, 10-12 frames
        encode(clip, root / "clips" / f"{name}.mp4", fps=10)
        mos = "" if split == "pool" else f"{3 + k}.0"
        rows.append(f"v_{name},clips/{name}.mp4,{mos},{split},tiny,c{k}")
    manifest = root / "tiny.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest, root


def test_features_cli_shapes_order_and_determinism(tiny_manifest, tmp_path):
    manifest, root = tiny_manifest
    outs = []
    for k in range(2):
        out = tmp_path / f"run{k}" / "efficientnet_lite0.npz"
        out.parent.mkdir()
        args = ["--manifest", str(manifest), "--data-root", str(root), "--encoder", "efficientnet_lite0"]
        proc = run_cli("features", *args, "--frames", "4", "--batch", "8", "--out", str(out), check=True)
        assert "3 videos (4 frames x 1280)" in proc.stdout
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert [p.name for p in outs[0].parent.iterdir()] == ["efficientnet_lite0.npz"]  # no temporary left
    feats = load_features(outs[0])
    assert feats.ids == ["v_coffee", "v_chelsea", "v_astronaut"]
    assert feats.encoder == "efficientnet_lite0"
    assert feats.frames.shape == (3, 4, 1280) and feats.frames.dtype == np.float32
    assert np.array_equal(feats.pooled, feats.frames.mean(axis=1))
    assert feats.frame_indices.tolist() == [[1, 3, 6, 8], [1, 4, 6, 9], [1, 4, 7, 10]]
    assert not np.allclose(feats.pooled[0], feats.pooled[1])  # different photos, different features
    with np.load(outs[0]) as raw:
        assert sorted(raw.files) == ["encoder", "frame_indices", "frames", "ids", "pooled"]


@pytest.mark.parametrize("name", ["efficientnet_lite0", "effnet_patterns"])
def test_features_do_not_depend_on_the_batch_size(tiny_manifest, name):
    """``features.batch`` is a performance knob (no rerun trigger): any --batch gives bit-identical features,
    because every forward pass has the same shape (registry.FORWARD_FRAMES)."""
    from vqaloop.features.extract import extract
    from vqaloop.io.manifest import read_manifest

    manifest, root = tiny_manifest
    table = read_manifest(manifest)
    encoder = get_encoder(name)
    runs = {
        batch: extract(table, root, encoder, n_frames=6, batch=batch, progress=False)[0] for batch in (1, 7, 12, 64)
    }
    for batch, feats in runs.items():
        assert np.array_equal(feats, runs[1]), f"--batch {batch} changed the features"


def test_one_pass_for_several_encoders_equals_each_encoder_alone(tiny_manifest, tmp_path):
    """``--encoders``: one decode per video and one EfficientNet pass shared by efficientnet_lite0 and
    effnet_patterns give the same bytes as extracting each encoder on its own."""
    manifest, root = tiny_manifest
    names = ["efficientnet_lite0", "motion", "thumbnail", "effnet_patterns"]
    common = ["--manifest", str(manifest), "--data-root", str(root), "--frames", "6"]
    (tmp_path / "many").mkdir()
    (tmp_path / "one").mkdir()
    proc = run_cli("features", *common, "--encoders", *names, "--out-dir", str(tmp_path / "many"), check=True)
    assert proc.stdout.count("features of 3 videos") == 4
    for name in names:
        run_cli("features", *common, "--encoder", name, "--out", str(tmp_path / "one" / f"{name}.npz"), check=True)
        assert (tmp_path / "many" / f"{name}.npz").read_bytes() == (tmp_path / "one" / f"{name}.npz").read_bytes()


def test_one_pass_computes_the_shared_trunk_once(tiny_manifest, monkeypatch):
    from vqaloop.features.efficientnet import EfficientNetLite0
    from vqaloop.features.extract import extract_many
    from vqaloop.io.manifest import read_manifest

    manifest, root = tiny_manifest
    calls = []
    original = EfficientNetLite0.trunk_passes
    monkeypatch.setattr(EfficientNetLite0, "trunk_passes", lambda self, f: calls.append(len(f)) or original(self, f))
    encoders = [get_encoder("efficientnet_lite0"), get_encoder("effnet_patterns")]
    arrays, _ = extract_many(read_manifest(manifest), root, encoders, n_frames=4, progress=False)
    assert calls == [4, 4, 4]  # one pass per video, not one per encoder
    assert arrays[0].shape == (3, 4, 1280) and arrays[1].shape == (3, 8, 1280)


def test_features_cli_several_encoders_errors(tiny_manifest, tmp_path):
    manifest, root = tiny_manifest
    common = ["features", "--manifest", str(manifest), "--data-root", str(root)]
    assert "--out-dir" in error_line(run_cli(*common, "--encoders", "motion"))
    assert "named twice" in error_line(run_cli(*common, "--encoders", "motion", "motion", "--out-dir", str(tmp_path)))
    bad = run_cli(*common, "--encoders", "motion", "--options", '{"clip": {}}', "--out-dir", str(tmp_path))
    assert "'clip' is not one of --encoders" in error_line(bad)
    assert not list(tmp_path.iterdir())


def test_batchnorm_folded_into_the_convolutions_keeps_the_features():
    """The encoders run EfficientNet-Lite0 with each BatchNorm folded into its convolution: the same features
    up to float rounding, and no BatchNorm left."""
    from timm.layers import BatchNormAct2d

    from vqaloop.features.efficientnet import build_model, fuse_batchnorm, to_input

    frames = np.concatenate([pan_clip(_photo(p), n=4, h=144, w=256) for p in ("astronaut", "coffee")])
    plain, fused = build_model(0), fuse_batchnorm(build_model(0))
    assert not any(isinstance(m, BatchNormAct2d) for m in fused.modules())
    assert sum(isinstance(m, BatchNormAct2d) for m in plain.modules()) == 49
    with torch.inference_mode():
        a, b = plain(to_input(frames)), fused(to_input(frames))
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4) and not torch.equal(a, b)


def test_a_frames_features_do_not_depend_on_the_other_frames_of_its_pass():
    """What makes padding safe: with a fixed pass shape, shuffling which frames share a pass changes nothing."""
    from vqaloop.features.registry import FORWARD_FRAMES

    frames = np.concatenate([pan_clip(_photo(p), n=4, h=144, w=256) for p in ("astronaut", "coffee", "chelsea")])
    encoder = get_encoder("efficientnet_lite0")
    order = np.random.default_rng(0).permutation(len(frames))
    direct = encoder.encode(frames)
    shuffled = np.empty_like(direct)
    shuffled[order] = encoder.encode(frames[order])
    assert len(frames) % FORWARD_FRAMES != 0  # the last pass is padded
    assert np.array_equal(direct, shuffled)


def test_features_cli_motion_pairs(tiny_manifest, tmp_path):
    manifest, root = tiny_manifest
    out = tmp_path / "motion.npz"
    args = ["--manifest", str(manifest), "--data-root", str(root), "--encoder", "motion", "--frames", "10"]
    run_cli("features", *args, "--out", str(out), check=True)
    feats = load_features(out)
    assert feats.frames.shape == (3, 10, 4)
    # every one of the 10 frames; the clip's last frame pairs with itself (a frozen pair)
    assert feats.frame_indices[0].tolist() == list(range(10))
    assert feats.frames[0, -1, 1] == 1.0 and feats.frames[0, -1, 0] == 0.0
    assert np.all(feats.frames[0, :-1, 0] > 0.01)  # the pan moves between consecutive frames
    # more frames than a clip has are refused (issue 19: bounded by the data), naming the clip
    line = error_line(run_cli("features", *args[:-1], "20", "--out", str(tmp_path / "m20.npz")))
    assert "the clip has 10 frames, fewer than the 20 asked (--frames)" in line


def test_features_cli_errors(tiny_manifest, tmp_path):
    manifest, root = tiny_manifest
    broken_root = tmp_path / "data"
    (broken_root / "clips").mkdir(parents=True)
    for name in ("coffee", "astronaut"):
        (broken_root / "clips" / f"{name}.mp4").write_bytes((root / "clips" / f"{name}.mp4").read_bytes())
    (broken_root / "clips" / "chelsea.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    out = tmp_path / "motion.npz"
    args = ["--manifest", str(manifest), "--data-root", str(broken_root), "--encoder", "motion", "--out", str(out)]
    line = error_line(run_cli("features", *args))
    assert f"{manifest}: row 3 (video_id v_chelsea): " in line and "chelsea.mp4" in line
    assert not out.exists() and not list(tmp_path.glob(".motion.npz*"))
    line = error_line(run_cli("features", *args[:4], "--encoder", "clip", "--out", str(out)))
    assert line.endswith("encoder clip unavailable: no weights (config key features.encoders.clip.weights)")


def test_load_features_validates(tmp_path):
    from vqaloop.features.io import write_npz_deterministic

    path = tmp_path / "f.npz"
    frames = np.zeros((2, 3, 4), np.float32)
    arrays = {"ids": np.array(["a", "a"]), "frames": frames, "pooled": frames.mean(1), "encoder": np.array("x")}
    write_npz_deterministic(path, arrays)
    with pytest.raises(UserError, match=f"{path}: duplicate id 'a'"):
        load_features(path)
    write_npz_deterministic(path, {**arrays, "ids": np.array(["a", "b"]), "pooled": np.zeros((2, 5), np.float32)})
    with pytest.raises(UserError, match=f"{path}: 'pooled' must be float"):
        load_features(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(UserError, match=f"{path}: not an .npz features file"):
        load_features(path)


@pytest.mark.parametrize("factor", [2, 4])
def test_thumbnail_factor_is_an_area_mean_over_factor_squared_pixels(factor):
    """Option ``factor``: each value is the mean BT.601 luma of one factor x factor block (computed by a loop)."""
    rng = np.random.default_rng(factor)
    frames = rng.integers(0, 256, size=(2, 12, 16, 3), dtype=np.uint8)
    out = get_encoder("thumbnail", factor=factor).encode(frames)
    h, w = 12 // factor, 16 // factor
    assert out.shape == (2, h * w)
    luma = frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    expected = np.array([[luma[t, i * factor : (i + 1) * factor, j * factor : (j + 1) * factor].mean()
                          for i in range(h) for j in range(w)] for t in range(2)])  # fmt: skip
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("factor", [0, -1, 1.5, True])
def test_thumbnail_factor_must_be_a_positive_integer(factor):
    with pytest.raises(UserError, match="factor must be an integer >= 1"):
        get_encoder("thumbnail", factor=factor)
