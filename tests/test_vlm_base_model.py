"""The ``visualquality_r1`` base model (vqaloop.models.vlm) and the ``frames`` encoder on a tiny Qwen2.5-VL.

Proves: the registry entry's contract (encoders, trainer, LoRA only on the language model), forward = the
deterministic expected scores of the frames it is given, per-frame embeddings that follow Qwen2.5-VL's temporal
pairing, checkpoints that hold only LoRA tensors (not the pretrained weights) and rebuild bit-identical models,
stacked adapters (g on a LoRA-trained f) included.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqaloop.errors import UserError

torch.set_num_threads(1)
SIZE, FRAMES = 56, 4


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from vqaloop.vlm.tiny_qwen import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("vlm") / "tiny_qwen", seed=0)


def build(folder, **kwargs):
    from vqaloop.models.registry import get_base_model_class

    return get_base_model_class("visualquality_r1")(weights=str(folder), frames=FRAMES, frame_size=SIZE, **kwargs)


def frame_rows(n=3, seed=0) -> torch.Tensor:
    """(n, F, D) rows of the frames encoder for n random videos."""
    from vqaloop.features.registry import get_encoder

    rng = np.random.default_rng(seed)
    encoder = get_encoder("frames", size=SIZE)
    videos = [rng.integers(0, 256, (FRAMES, 48, 64, 3), dtype=np.uint8) for _ in range(n)]
    return torch.from_numpy(np.stack([encoder.encode(v) for v in videos]))


def randomise_lora(model, seed):
    """Give the live adapter non-zero B (a fresh LoRA is the identity) so the adapter changes the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.vlm.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


def test_registry_entry_contract(tiny_folder):
    from vqaloop.models.catalogue import model_encoders
    from vqaloop.models.registry import get_base_model_class

    cls = get_base_model_class("visualquality_r1")
    assert model_encoders("visualquality_r1") == ("frames",) and cls.TRAINER == "grpo"
    model = build(tiny_folder)
    model.add_lora(4)
    adapted = {n.removesuffix(".lora_A.default.weight") for n, _ in model.vlm.named_parameters() if "lora_A" in n}
    assert len(adapted) == 2 * 7  # q, k, v, o, gate, up, down of both decoder layers
    assert all(".language_model.layers." in n for n in adapted)  # never the vision tower, merger or lm_head
    assert all(p.requires_grad == ("lora_" in n) for n, p in model.vlm.named_parameters())


def test_frames_encoder_rows_round_trip_to_the_resized_frames():
    from vqaloop.features.frames import rows_to_frames
    from vqaloop.features.registry import get_encoder
    from vqaloop.vlm.frames import resize_frames

    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 70, 3), dtype=np.uint8)
    rows = get_encoder("frames", size=SIZE).encode(frames)
    assert rows.shape == (3, SIZE * SIZE * 3) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows_to_frames(rows, SIZE), resize_frames(frames, SIZE))
    with pytest.raises(UserError, match="size must be an integer >= 1"):
        get_encoder("frames", size=0)


def test_forward_is_the_expected_score_of_its_frames(tiny_folder):
    from vqaloop.vlm.prompts import QUALITY_PROMPT
    from vqaloop.vlm.scoring import expected_scores

    model = build(tiny_folder)
    x = frame_rows()
    with torch.no_grad():
        scores = model(x)
        again = model(x)
        direct = expected_scores(model.vlm, model.processor, model.videos(x), QUALITY_PROMPT,
                                 answer_prefix="<think>\n</think>\n<answer>")  # fmt: skip
    assert scores.shape == (3,) and torch.equal(scores, again)
    torch.testing.assert_close(scores, direct.to(scores.device), rtol=0, atol=1e-6)
    assert all(v.shape == (FRAMES, SIZE, SIZE, 3) and v.dtype == np.uint8 for v in model.videos(x))


def test_frame_embeddings_follow_the_temporal_pairs(tiny_folder):
    """Qwen2.5-VL patches frames in pairs: frames 0 and 1 share temporal step 0, 2 and 3 step 1. The vision tower
    attends within a step and the decoder is causal, so changing frames 2-3 leaves the embeddings of 0-1 alone."""
    model = build(tiny_folder)
    x = frame_rows(2)
    with torch.no_grad():
        emb = model.frame_embeddings(x)
        changed = x.clone()
        changed[:, 2:] = 255.0 - changed[:, 2:]
        emb_changed = model.frame_embeddings(changed)
    assert emb.shape == (2, FRAMES, 64)
    assert torch.equal(emb[:, 0], emb[:, 1]) and torch.equal(emb[:, 2], emb[:, 3])
    assert not torch.allclose(emb[:, 0], emb[:, 2])
    torch.testing.assert_close(emb_changed[:, :2], emb[:, :2], rtol=0, atol=1e-5)
    assert (emb_changed[:, 2:] - emb[:, 2:]).abs().max() > 1e-3


def full_state_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in model.vlm.state_dict().values())


def test_lora_checkpoint_rebuilds_identical_outputs_without_pretrained_weights(tmp_path, tiny_folder):
    from vqaloop.models.registry import Checkpoint, load_checkpoint

    model = build(tiny_folder)
    x = frame_rows(seed=3)
    with torch.no_grad():
        plain = model(x)
    model.add_lora(8)
    randomise_lora(model, seed=1)
    model.eval()
    with torch.no_grad():
        adapted = model(x)
    assert (adapted - plain).abs().max() > 1e-3  # the adapter matters
    state = model.state_dict()
    assert state and all(k.startswith("lora.0.") and ".lora_" in k for k in state)
    Checkpoint("visualquality_r1", model.init_kwargs(), state).save(tmp_path / "f.pt")
    size = (tmp_path / "f.pt").stat().st_size
    lora_bytes = sum(t.numel() * t.element_size() for t in state.values())
    assert size < lora_bytes + 200_000 and size < full_state_bytes(model) / 5  # LoRA only, no pretrained copy
    rebuilt = load_checkpoint(tmp_path / "f.pt").build()
    with torch.no_grad():
        assert torch.equal(rebuilt(x), adapted)
    assert load_checkpoint(tmp_path / "f.pt").kwargs["weights"] == str(tiny_folder)


def test_stacked_adapters_g_on_a_lora_trained_f_rebuild_bit_identical(tmp_path, tiny_folder):
    from vqaloop.models.registry import Checkpoint, load_checkpoint

    f = build(tiny_folder)
    f.add_lora(8)
    randomise_lora(f, seed=1)
    Checkpoint("visualquality_r1", f.init_kwargs(), f.state_dict()).save(tmp_path / "f.pt")
    g = load_checkpoint(tmp_path / "f.pt").build()
    g.add_lora(4)  # merges f's adapter, then a fresh (identity) one
    x = frame_rows(seed=4)
    with torch.no_grad():
        torch.testing.assert_close(g(x), f.eval()(x), rtol=0, atol=1e-5)  # merge = the same function
    randomise_lora(g, seed=2)
    g.eval()
    with torch.no_grad():
        scores = g(x)
    Checkpoint("visualquality_r1", g.init_kwargs(), g.state_dict()).save(tmp_path / "g.pt")
    checkpoint = load_checkpoint(tmp_path / "g.pt")
    assert {k.split(".")[1] for k in checkpoint.state_dict} == {"0", "1"}
    with torch.no_grad():
        assert torch.equal(checkpoint.build()(x), scores)


def test_bad_checkpoint_state_and_inputs_are_user_errors(tiny_folder):
    model = build(tiny_folder, lora=[{"r": 4}])
    state = model.state_dict()
    with pytest.raises(UserError, match="unexpected tensor 'model.embed_tokens.weight'"):
        model.load_state_dict({**state, "model.embed_tokens.weight": torch.zeros(1)})
    with pytest.raises(UserError, match="LoRA tensors do not match the adapter"):
        model.load_state_dict(dict(list(state.items())[1:]))
    with pytest.raises(UserError, match="input dim 100 is not frame_size"):
        build(tiny_folder, in_dim=100)
    with pytest.raises(UserError, match="prompt: 'other'"):
        build(tiny_folder, prompt="other")
    with pytest.raises(UserError, match="model folder not found"):
        build(tiny_folder / "missing")
