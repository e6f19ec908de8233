"""The W2S-VQA student at paper scale (LLaVA-OneVision + motion projector) on a tiny random-weight model: its
level-token logits, the token layout of the dual-video prompt, training (only LoRA and P_M move), checkpoints,
the w2s-train / score command lines, and the per-second motion encoders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vqaloop.errors import UserError
from vqaloop.features.registry import available, get_encoder
from vqaloop.losses.confidence import get_w2s_loss
from vqaloop.w2s.soft_comparison import LEVEL_WEIGHTS, LEVELS, level_probabilities, preference

torch.set_num_threads(1)
S, F, M = 16, 3, 16  # frame side, key frames, motion dim


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    from vqaloop.vlm.tiny_llava import build_tiny_llava_onevision

    return build_tiny_llava_onevision(tmp_path_factory.mktemp("vlm") / "tiny_llava", seed=0)


def make_student(weights, seed=0, **kw):
    from vqaloop.w2s.students import get_student_class

    torch.manual_seed(seed)
    return get_student_class("llava_onevision")(in_dim=3 * S * S + M, spatial_dim=3 * S * S, weights=str(weights),
                                                lora_rank=2, per_device_batch=2, **kw)  # fmt: skip


def inputs(n, seed=0):
    """(n, F, 3 S^2 + M): frames rows (uint8 values, as the frames encoder stores them) + motion features."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (n, F, 3 * S * S), generator=g).float()
    return torch.cat([frames, 3.0 * torch.randn(n, F, M, generator=g) + 1.0], dim=-1)


def perturb(model, seed=1):
    """Non-zero LoRA B matrices (they start at 0) so that the adapter changes the logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.3 * torch.randn(p.shape, generator=g))


@pytest.fixture(scope="module")
def student(tiny_llava):
    model = make_student(tiny_llava)
    model.set_input_statistics(inputs(8, seed=5))
    perturb(model)
    return model.eval()


def test_the_tiny_model_loads_with_single_token_level_words(tiny_llava):
    from vqaloop.vlm.loading import load_vlm

    model, processor = load_vlm(tiny_llava, "llava_onevision")
    assert type(model).__name__ == "LlavaOnevisionForConditionalGeneration"
    ids = [processor.tokenizer.encode(" " + w, add_special_tokens=False) for w in LEVELS]
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 5
    assert [processor.tokenizer.decode(i) for i in ids] == [" " + w for w in LEVELS]
    with pytest.raises(UserError, match="architecture"):
        load_vlm(tiny_llava, "qwen2_5_vl")


def hand_embeddings(model, *batches):
    """The prompt embeddings built position by position: Eq. 21's interleaving written out as a loop (a pair's two
    videos, or one video in mode pointwise)."""
    vlm, proc = model.vlm, model.processor
    embed = vlm.get_input_embeddings()
    rows = []
    for videos in zip(*batches, strict=True):
        tokens = []
        for video in videos:
            frames = video[:, : 3 * S * S].reshape(F, S, S, 3).round().clamp(0, 255).to(torch.uint8)
            pixels = proc.video_processor(videos=[frames], return_tensors="pt")["pixel_values_videos"]
            with torch.no_grad():
                visual = vlm.get_video_features(pixels).pooler_output[0]  # (F*P + 1, H)
            per_frame = (len(visual) - 1) // F
            z = (video[:, 3 * S * S :] - model.motion_mean) / model.motion_std
            lin1, lin2 = model.motion_projector[0], model.motion_projector[2]
            motion = lin2(torch.nn.functional.gelu(lin1(z)))
            for k in range(F):
                tokens += [visual[k * per_frame + j] for j in range(per_frame)] + [motion[k]]
            tokens.append(visual[-1])  # the newline token closes the video
        ids = model.prompt_ids(len(tokens) // len(videos))[0]
        slots = iter(tokens)
        rows.append(torch.stack([next(slots) if t == model.video_token_id else embed(t) for t in ids]))
    return torch.stack(rows)


def test_forward_is_the_lm_logits_of_the_level_tokens_at_the_answer_position(student):
    first, second = inputs(3, seed=1), inputs(3, seed=2)
    with torch.no_grad():
        got = student(first, second)
        embeds = hand_embeddings(student, first, second)
        full = student.vlm(inputs_embeds=embeds).logits  # every position, the whole vocabulary
    level_ids = [student.processor.tokenizer.convert_tokens_to_ids(" " + w) for w in LEVELS]
    assert got.shape == (3, 5)
    assert torch.allclose(got, full[:, -1, level_ids], atol=1e-5)
    # the prompt: Appendix B.2's dual-video question, the answer begun, two runs of video tokens
    from vqaloop.w2s.llava_student import ANSWER_PREFIX, DUAL_VIDEO_PROMPT, chat_text

    ids = student.prompt_ids(7)[0].tolist()
    text = student.processor.tokenizer.decode(ids).replace("<video>" * 7, "<video>")
    assert text == chat_text(DUAL_VIDEO_PROMPT, ANSWER_PREFIX) and text.endswith("second video is")
    assert ids.count(student.video_token_id) == 14
    # the motion branch matters, and the order of the two videos does
    shuffled = torch.cat([first[..., : 3 * S * S], first[..., 3 * S * S :].flip(1)], dim=-1)
    with torch.no_grad():
        assert not torch.allclose(student(shuffled, second), got, atol=1e-4)
        assert not torch.allclose(student(second, first), got, atol=1e-4)


def test_level_probabilities_feed_the_soft_comparison(student):
    from vqaloop.w2s.scoring import soft_comparison_scores

    first, second = inputs(4, seed=3), inputs(4, seed=4)
    with torch.no_grad():
        logits = student(first, second)
        full = student.vlm(inputs_embeds=hand_embeddings(student, first, second)).logits[:, -1]
    ids = student.level_ids
    independent = torch.exp(full[:, ids] / 5.0) / torch.exp(full[:, ids] / 5.0).sum(-1, keepdim=True)
    assert torch.allclose(level_probabilities(logits, 5.0), independent, atol=1e-5)
    assert np.allclose(preference(logits.numpy(), 5.0), independent.numpy() @ np.array(LEVEL_WEIGHTS), atol=1e-6)
    anchors, videos = inputs(3, seed=6), inputs(2, seed=7)
    scores, matrices = soft_comparison_scores(student, anchors, videos)
    assert scores.shape == (2,) and np.isfinite(scores).all() and matrices.shape == (2, 4, 4)
    with torch.no_grad():  # the test row of each matrix = P(video better than anchor k) from the level tokens
        p = preference(student(anchors.repeat(2, 1, 1), videos.repeat_interleave(3, dim=0)).numpy(), 5.0)
    assert np.allclose(matrices[:, 3, :3], p.reshape(2, 3), atol=1e-6)


def test_pointwise_mode_reads_the_rating_tokens_after_the_single_video_prompt(tiny_llava):
    """W2S-VQA Sec. 3 / Appendix B.2: one video, "What is your overall rating ...", the answer "[quality score]":
    the logits of "1" ... "5" at the position after the opened assistant turn; a CE step trains it."""
    from vqaloop.w2s.llava_student import SINGLE_VIDEO_PROMPT, chat_text
    from vqaloop.w2s.pointwise import train_pointwise

    model = make_student(tiny_llava, seed=5, mode="pointwise")
    x = inputs(4, seed=13)
    model.set_input_statistics(x)
    perturb(model, seed=2)
    model.eval()
    with torch.no_grad():
        got = model(x)
        full = model.vlm(inputs_embeds=hand_embeddings(model, x)).logits[:, -1]
    digits = [model.processor.tokenizer.convert_tokens_to_ids(d) for d in "12345"]
    assert got.shape == (4, 5) and torch.allclose(got, full[:, digits], atol=1e-5)
    ids = model.prompt_ids(7)[0].tolist()
    assert ids.count(model.video_token_id) == 7  # one video
    text = model.processor.tokenizer.decode(ids).replace("<video>" * 7, "<video>")
    assert text == chat_text(SINGLE_VIDEO_PROMPT, "") and text.endswith("assistant\n")
    with pytest.raises(ValueError, match="pointwise student takes one"):
        model(x, x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    meta = train_pointwise(model, x, torch.arange(4), torch.tensor([1.5, 2.0, 3.7, 4.9]), epochs=1, lr=1e-2, batch=4,
                           weight_decay=0.0, warmup=0.0, seed=0)  # fmt: skip
    assert meta["steps"] == 1 and np.isfinite(meta["loss_history"]).all()
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items() if ".lora_B." in k)


def test_a_training_step_with_the_confidence_loss_moves_only_lora_and_the_motion_projector(tiny_llava):
    from vqaloop.w2s.train import train_student

    model = make_student(tiny_llava, seed=3)
    x = inputs(6, seed=8)
    model.set_input_statistics(x)
    before = {k: v.clone() for k, v in model.vlm.state_dict().items()}
    proj_before = {k: v.clone() for k, v in model.motion_projector.state_dict().items()}
    pairs = pd.DataFrame({"first_row": [0, 1, 2, 3, 4], "second_row": [5, 4, 3, 2, 1], "label": [0, 1, 2, 3, 4]})
    meta = train_student(model, x, pairs, get_w2s_loss("confidence", warmup=0.1), epochs=1, lr=1e-2, batch=5,
                         weight_decay=0.0, warmup=0.0, seed=0)  # fmt: skip
    assert meta["steps"] == 1 and np.isfinite(meta["loss_history"]).all()
    after = model.vlm.state_dict()
    trainable = {n.removeprefix("vlm.") for n in model.trainable_names() if n.startswith("vlm.")}
    assert trainable and all(".lora_" in n and "language_model" in n for n in trainable)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and changed <= trainable  # only LoRA tensors moved; the pretrained weights are intact
    assert any(".lora_B." in k for k in changed)  # B starts at 0: the step reached it through the LM
    assert any(not torch.equal(v, model.motion_projector.state_dict()[k]) for k, v in proj_before.items())


def test_checkpoints_hold_only_trainable_tensors_and_reload_to_identical_logits(student, tmp_path, tiny_llava):
    from vqaloop.w2s.students import StudentCheckpoint, load_student

    kwargs = {"in_dim": student.in_dim, "spatial_dim": student.spatial_dim, "weights": str(tiny_llava),
              "lora_rank": 2, "per_device_batch": 2}  # fmt: skip
    ckpt = StudentCheckpoint("llava_onevision", kwargs, student.state_dict(), ("frames", "motion3d"))
    ckpt.save(tmp_path / "s.pt")
    ckpt.save(tmp_path / "t.pt")
    assert (tmp_path / "s.pt").read_bytes() == (tmp_path / "t.pt").read_bytes()
    state = load_student(tmp_path / "s.pt").state_dict
    assert set(state) == set(student.trainable_names()) | {"motion_mean", "motion_std"}
    assert not any("embed_tokens" in k or "vision_tower" in k or "lm_head" in k for k in state)
    weight_bytes = sum(p.stat().st_size for p in tiny_llava.glob("*.safetensors"))
    assert (tmp_path / "s.pt").stat().st_size < weight_bytes / 3
    first, second = inputs(3, seed=9), inputs(3, seed=10)
    with torch.no_grad():
        assert torch.equal(load_student(tmp_path / "s.pt").build()(first, second), student(first, second))
    bad = StudentCheckpoint("llava_onevision", {**kwargs, "lora_rank": 3}, student.state_dict(), ("frames", "motion3d"))
    with pytest.raises(UserError, match="do not fit"):
        bad.build()


def test_chunked_batches_give_the_logits_and_gradients_of_one_pass(tiny_llava):
    first, second = inputs(5, seed=11), inputs(5, seed=12)
    grads = []
    for per_device_batch in (2, 5):  # 2: three checkpointed chunks; 5: one plain pass
        model = make_student(tiny_llava, seed=4)
        model.per_device_batch = per_device_batch
        perturb(model)
        model.train()
        logits = model(first, second)
        torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3, 4])).backward()
        grads.append((logits.detach(), model.motion_projector[0].weight.grad.clone()))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-5)


def test_student_options_are_checked(tiny_llava):
    from vqaloop.w2s.llava_student import LlavaOnevisionStudent

    assert LlavaOnevisionStudent.encoders_for({"motion": "slowfast"}) == ("frames", "slowfast")
    with pytest.raises(UserError, match="motion 'i3d'"):
        LlavaOnevisionStudent.encoders_for({"motion": "i3d"})
    with pytest.raises(UserError, match="needs 'weights'"):
        LlavaOnevisionStudent.kwargs_for({}, [768, 16])
    with pytest.raises(UserError, match="no option 'hidden'"):
        LlavaOnevisionStudent.kwargs_for({"weights": "w", "hidden": 3}, [768, 16])
    with pytest.raises(UserError, match="model folder not found"):
        make_student(tiny_llava.parent / "missing")


# ---- motion per one-second chunk ----


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 3 s clip at 10 fps whose frame t is filled with the value 8 t (frame numbers readable from pixels)."""
    from vqaloop.io.video import encode

    frames = np.stack([np.full((24, 32, 3), 8 * t, dtype=np.uint8) for t in range(30)])
    return encode(frames, tmp_path_factory.mktemp("clip") / "ramp.mp4", fps=10.0)


def test_chunks_start_at_each_key_frame_and_span_one_second(clip):
    from vqaloop.features.motion3d import chunk_indices, read_chunks

    assert chunk_indices(25, 30, 10.0, 4) == [25, 27, 29, 29]  # stride round(10 / 4) = 2; the end repeats
    assert chunk_indices(0, 300, 30.0, 32) == list(range(32))  # the authors' 32 consecutive frames at 30 fps
    chunks = read_chunks(clip, [0, 10, 25], 4)
    assert chunks.shape == (3, 4, 24, 32, 3) and chunks.dtype == np.uint8
    frame_numbers = np.round(chunks.reshape(3, 4, -1).mean(-1) / 8)
    assert frame_numbers.tolist() == [[0, 2, 4, 6], [10, 12, 14, 16], [25, 27, 29, 29]]


def test_motion3d_gives_one_seeded_feature_per_chunk_through_vqaloop_features(clip):
    from vqaloop.features.extract import extract, extract_many
    from vqaloop.features.motion3d import read_chunks

    encoder = get_encoder("motion3d", chunk_frames=4)
    chunks = read_chunks(clip, [0, 10, 25], 4)
    out = encoder.encode(chunks[:, 0], chunks)
    assert out.shape == (3, 16) and out.dtype == np.float32
    assert np.array_equal(get_encoder("motion3d", chunk_frames=4).encode(chunks[:, 0], chunks), out)  # seeded
    assert not np.allclose(get_encoder("motion3d", chunk_frames=4, seed=1).encode(chunks[:, 0], chunks), out)
    assert np.array_equal(encoder.encode(chunks[:1, 0], chunks[:1]), out[:1])  # a chunk's row is its own
    manifest = pd.DataFrame({"video_id": ["a", "b"], "path": [clip.name, clip.name]})
    many, idx = extract_many(manifest, clip.parent, [get_encoder("frames", size=8), encoder], n_frames=3)
    assert many[0].shape == (2, 3, 192) and many[1].shape == (2, 3, 16)
    one, idx_one = extract(manifest, clip.parent, encoder, n_frames=3)
    assert np.array_equal(one, many[1]) and np.array_equal(idx, idx_one)
    expected = encoder.encode(chunks[:, 0], read_chunks(clip, list(idx[0]), 4))
    assert np.array_equal(many[1][0], expected)  # row k = the chunk starting at sampled frame k


def test_slowfast_without_weights_is_unavailable(tmp_path):
    assert available("slowfast", {}) == (False, "no weights")
    ok, reason = available("slowfast", {"weights": str(tmp_path / "missing.pth")})
    assert not ok and "not found" in reason
    with pytest.raises(UserError, match=r"unavailable: no weights \(config key features.encoders.slowfast.weights\)"):
        get_encoder("slowfast")
    assert available("motion3d", {}) == (True, "")


def test_slowfast_loads_a_local_state_dict_and_gives_256_values_a_chunk(tmp_path):
    pytest.importorskip("pytorchvideo")
    from pytorchvideo.models.slowfast import create_slowfast

    torch.manual_seed(0)
    net = create_slowfast().eval()
    torch.save(net.state_dict(), tmp_path / "slowfast_r50.pth")
    encoder = get_encoder("slowfast", weights=str(tmp_path / "slowfast_r50.pth"), chunk_frames=8, size=64)
    chunks = np.random.default_rng(0).integers(0, 256, (2, 8, 40, 48, 3), dtype=np.uint8)
    out = encoder.encode(chunks[:, 0], chunks)
    assert out.shape == (2, 256)
    from vqaloop.features.motion3d import chunks_to_tensor

    x = chunks_to_tensor(chunks, 64, 0.45, 0.225, "cpu")
    pathways = [x[:, :, [0, 7]], x]  # slow pathway: T // 4 = 2 frames at linspace(0, T - 1, 2)
    with torch.no_grad():
        for block in net.blocks[:5]:
            pathways = block(pathways)
    feats = pathways[1].mean(dim=(2, 3, 4))
    assert np.allclose(out, feats.numpy(), atol=1e-4)


# ---- the command lines ----


def test_the_student_trains_and_scores_through_w2s_train_and_score(tiny_llava, tmp_path, capsys):
    import json

    from vqaloop.cli import main
    from vqaloop.features.io import write_features
    from vqaloop.w2s.students import load_student

    ids = [f"v{i}" for i in range(6)]
    x = inputs(6, seed=13).numpy()
    write_features(tmp_path / "feat/ds/frames.npz", ids, x[..., : 3 * S * S], "frames", None)
    write_features(tmp_path / "feat/ds/motion3d.npz", ids, x[..., 3 * S * S :], "motion3d", None)
    pd.DataFrame({"video_id": ids, "path": [f"{v}.mp4" for v in ids], "mos": np.linspace(1, 5, 6), "split": "test",
                  "dataset": "ds", "content_id": ids}).to_csv(tmp_path / "ds.csv", index=False)  # fmt: skip
    pd.DataFrame({"first": ["v0", "v1", "v2", "v3"], "second": ["v5", "v4", "v3", "v1"], "label": [4, 3, 2, 0],
                  "kind": "synthetic"}).to_csv(tmp_path / "pairs.csv", index=False)  # fmt: skip
    options = json.dumps({"weights": str(tiny_llava), "lora_rank": 2, "per_device_batch": 2})
    common = ["--pairs", str(tmp_path / "pairs.csv"), "--manifests", str(tmp_path / "ds.csv"), "--features-root",
              str(tmp_path / "feat"), "--loss", "confidence", "--epochs", "2", "--batch", "4", "--lr", "0.01"]  # fmt: skip
    argv = ["w2s-train", *common, "--student", "llava_onevision", "--student-options", options]
    assert main([*argv, "--out", str(tmp_path / "s.pt")]) == 0
    ckpt = load_student(tmp_path / "s.pt")
    assert ckpt.name == "llava_onevision" and ckpt.encoders == ("frames", "motion3d")
    assert ckpt.kwargs["weights"] == str(tiny_llava) and ckpt.meta["steps"] == 2
    assert main(["w2s-train", *common, "--init", str(tmp_path / "s.pt"), "--out", str(tmp_path / "s2.pt")]) == 0
    pd.DataFrame({"video_id": ["v0", "v3", "v5"], "dataset": "ds", "path": "x.mp4", "mos": [1.0, 3.0, 5.0]}).to_csv(
        tmp_path / "anchors.csv", index=False
    )
    assert main(["score", "--model", str(tmp_path / "s2.pt"), "--anchors", str(tmp_path / "anchors.csv"),
                 "--manifest", str(tmp_path / "ds.csv"), "--features-root", str(tmp_path / "feat"),
                 "--out", str(tmp_path / "scores.csv")]) == 0  # fmt: skip
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.video_id) == ids and np.isfinite(scores.score).all()
    assert main(["w2s-train", *common, "--student-options", options, "--out", str(tmp_path / "p.pt")]) == 2
    assert "student pair_transformer takes no options" in capsys.readouterr().err
