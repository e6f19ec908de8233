"""Deterministic VLM scoring on a tiny random-weight Qwen2.5-VL (vqaloop.vlm.{tiny_qwen,loading,scoring,...}).

The tiny model's scores mean nothing; what is tested is the machinery: one forward pass gives the expectation
over the digit tokens computed by hand from the full logits, bit-identical across calls, reloads and CLI runs;
bad inputs give one-line UserErrors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_cli

from vqaloop.errors import UserError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from vqaloop.vlm.tiny_qwen import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("vlm") / "tiny_qwen", seed=0)


@pytest.fixture(scope="module")
def tiny(tiny_folder):
    from vqaloop.vlm.loading import load_vlm

    return load_vlm(tiny_folder, "qwen2_5_vl")


def random_videos(n=3, frames=4, size=56, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (frames, size, size + 8 * i, 3), dtype=np.uint8) for i in range(n)]


def test_tokenizer_has_one_token_per_digit_and_the_answer_tags(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    for text in ["<think>", "</think>", "<answer>", "</answer>", *"0123456789"]:
        assert len(tok.encode(text, add_special_tokens=False)) == 1, text
    ids = tok.encode("<answer>3.75</answer>", add_special_tokens=False)
    assert tok.decode(ids) == "<answer>3.75</answer>"


def test_inputs_end_with_the_answer_prefix_and_carry_mm_token_types(tiny):
    from vqaloop.vlm.prompts import QUALITY_PROMPT
    from vqaloop.vlm.scoring import video_inputs

    _, processor = tiny
    videos = random_videos(2)
    inputs = video_inputs(processor, videos, QUALITY_PROMPT, "<answer>")
    answer = processor.tokenizer.convert_tokens_to_ids("<answer>")
    assert (inputs["input_ids"][:, -1] == answer).all()  # left padding: the answer position is last in every row
    video_id = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert torch.equal(inputs["mm_token_type_ids"] == 2, inputs["input_ids"] == video_id)
    # 4 frames of 56 x W: 2 temporal steps of (56/14) x (W/14) patches, 2x2 merged
    for i, v in enumerate(videos):
        t, h, w = inputs["video_grid_thw"][i].tolist()
        assert (t, h, w) == (2, 4, v.shape[2] // 14)
        assert int((inputs["input_ids"][i] == video_id).sum()) == t * h * w // 4


def test_expected_scores_equal_the_expectation_computed_by_hand(tiny):
    from vqaloop.vlm.prompts import QUALITY_PROMPT
    from vqaloop.vlm.scoring import expected_scores, video_inputs

    model, processor = tiny
    videos = random_videos(3)
    with torch.no_grad():
        scores = expected_scores(model, processor, videos, QUALITY_PROMPT).double().numpy()
        full = model(**video_inputs(processor, videos, QUALITY_PROMPT, "<answer>")).logits[:, -1].double().numpy()
    digits = [processor.tokenizer.convert_tokens_to_ids(d) for d in "12345"]  # byte symbols: the digit itself
    z = full[:, digits]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    by_hand = p @ np.arange(1, 6)
    np.testing.assert_allclose(scores, by_hand, rtol=0, atol=1e-6)
    assert ((scores > 1) & (scores < 5)).all()


def test_scores_are_bit_identical_across_calls_and_reloads(tiny_folder, tiny):
    from vqaloop.vlm.loading import load_vlm
    from vqaloop.vlm.prompts import FAILURE_PROMPT
    from vqaloop.vlm.scoring import expected_scores

    videos = random_videos(3, seed=1)
    with torch.no_grad():
        first = expected_scores(*tiny, videos, FAILURE_PROMPT)
        second = expected_scores(*tiny, videos, FAILURE_PROMPT)
        reloaded = [expected_scores(*load_vlm(tiny_folder, "qwen2_5_vl"), videos, FAILURE_PROMPT) for _ in range(2)]
    assert torch.equal(first, second)
    assert all(torch.equal(first, r) for r in reloaded)


def test_batching_changes_scores_only_by_padding_rounding(tiny):
    from vqaloop.vlm.prompts import QUALITY_PROMPT
    from vqaloop.vlm.scoring import expected_scores

    videos = random_videos(3, seed=2)
    with torch.no_grad():
        together = expected_scores(*tiny, videos, QUALITY_PROMPT)
        alone = expected_scores(*tiny, videos, QUALITY_PROMPT, batch_size=1)
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


def test_expected_scores_are_differentiable(tiny_folder):
    from vqaloop.vlm.loading import load_vlm
    from vqaloop.vlm.prompts import QUALITY_PROMPT
    from vqaloop.vlm.scoring import expected_scores

    model, processor = load_vlm(tiny_folder, "qwen2_5_vl")
    weight = model.lm_head.weight
    weight.requires_grad_(True)
    expected_scores(model, processor, random_videos(2), QUALITY_PROMPT).sum().backward()
    digits = [processor.tokenizer.convert_tokens_to_ids(d) for d in "12345"]
    grad_rows = weight.grad.abs().sum(1)
    assert (grad_rows[digits] > 0).all()  # only the score tokens' read-out rows get gradient
    others = torch.ones_like(grad_rows, dtype=torch.bool)
    others[digits] = False
    assert (grad_rows[others] == 0).all()


def test_generate_scores_count_unparsable_answers_never_guess(tiny):
    from vqaloop.vlm.answers import AnswerStats
    from vqaloop.vlm.prompts import QUALITY_PROMPT
    from vqaloop.vlm.scoring import generate_scores

    stats = AnswerStats()
    scores, texts = generate_scores(*tiny, random_videos(2), QUALITY_PROMPT, max_new_tokens=6, stats=stats)
    assert len(scores) == len(texts) == 2 and stats.total == 2
    assert stats.unparsable == sum(s is None for s in scores)  # random weights: answers are noise, counted as such
    again, texts_again = generate_scores(*tiny, random_videos(2), QUALITY_PROMPT, max_new_tokens=6)
    assert texts == texts_again  # greedy: deterministic


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("<think>ok</think><answer>3.75</answer>", 3.75),
        ("<answer>2</answer> then <answer>4.5 or 3</answer>", 4.5),
        ("<answer>score: 1.25/5</answer>", 1.25),
        ("<answer>none</answer>", None),
        ("3.5", None),
        ("<answer>3.5", None),
    ],
)
def test_parse_score(text, score):
    from vqaloop.vlm.answers import parse_score

    assert parse_score(text) == score


def test_prompts_are_the_papers_tables_and_tags_are_checked():
    from vqaloop.vlm.prompts import FAILURE_PROMPT, QUALITY_PROMPT, check_answer_tags

    assert "overall rating on the quality of this video" in QUALITY_PROMPT  # MDS-VQA Table 10
    assert "<think> </think>" in QUALITY_PROMPT
    assert "how difficult it is to evaluate this video's quality" in FAILURE_PROMPT  # MDS-VQA Table 1
    for prompt in (QUALITY_PROMPT, FAILURE_PROMPT):
        assert check_answer_tags(prompt, "p") == prompt
    with pytest.raises(UserError, match=r"^config key vlm.prompt: .*</answer>") as err:
        check_answer_tags("Rate this video. Put the score in <answer> tags.", "config key vlm.prompt")
    assert "\n" not in str(err.value)


def test_loading_errors_are_one_line(tmp_path, tiny_folder):
    from vqaloop.vlm.loading import load_vlm

    cases = {}
    cases["missing"] = (tmp_path / "nowhere", r"nowhere: model folder not found")
    wrong = tmp_path / "llava"
    wrong.mkdir()
    (wrong / "config.json").write_text(json.dumps({"architectures": ["LlavaOnevisionForConditionalGeneration"]}))
    cases["wrong arch"] = (wrong, r"config.json: architecture 'LlavaOnevisionForConditionalGeneration', expected")
    config_only = tmp_path / "config_only"
    config_only.mkdir()
    (config_only / "config.json").write_text((tiny_folder / "config.json").read_text())
    cases["no weights"] = (config_only, r"config_only: config.json only, no weight files")
    for path, pattern in cases.values():
        with pytest.raises(UserError, match=pattern) as err:
            load_vlm(path, "qwen2_5_vl")
        assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="arch: 'blip'"):
        load_vlm(tiny_folder, "blip")
    with pytest.raises(UserError, match="dtype: 'int8'"):
        load_vlm(tiny_folder, "qwen2_5_vl", dtype="int8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has CUDA")
def test_cuda_without_cuda_is_a_user_error(tiny_folder):
    from vqaloop.vlm.loading import load_vlm

    with pytest.raises(UserError, match=r"device: 'cuda' requested but torch sees no CUDA device"):
        load_vlm(tiny_folder, "qwen2_5_vl", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 scoring runs on a CUDA device")
def test_bf16_on_cuda_is_deterministic_and_close_to_fp32(tiny_folder, tiny):
    from vqaloop.vlm.loading import load_vlm
    from vqaloop.vlm.prompts import QUALITY_PROMPT
    from vqaloop.vlm.scoring import expected_scores

    model, processor = load_vlm(tiny_folder, "qwen2_5_vl", dtype="bfloat16", device="cuda")
    assert model.dtype == torch.bfloat16
    videos = random_videos(3)
    with torch.no_grad():
        a = expected_scores(model, processor, videos, QUALITY_PROMPT)
        b = expected_scores(model, processor, videos, QUALITY_PROMPT)
        reference = expected_scores(*tiny, videos, QUALITY_PROMPT)
    assert torch.equal(a, b)
    torch.testing.assert_close(a.cpu(), reference, rtol=0, atol=0.05)


def test_sample_video_evenly_and_at_one_fps(tmp_path, photo_clip):
    from vqaloop.io.video import encode, read_frames
    from vqaloop.vlm.frames import sample_video

    path = encode(photo_clip, tmp_path / "a.mp4", fps=6)  # 12 frames = 2 s
    even = sample_video(path, frames=4)
    assert even.indices == [1, 4, 7, 10] and even.frames.shape == (4, 72, 128, 3)
    np.testing.assert_array_equal(even.frames, read_frames(path, even.indices))
    assert even.rate == pytest.approx(2.0)  # 4 frames over 2 s
    per_second = sample_video(path, frames=None, fps=1.0, size=56)
    assert per_second.indices == [3, 9] and per_second.frames.shape == (2, 56, 56, 3)
    with pytest.raises(UserError, match="video file not found"):
        sample_video(tmp_path / "none.mp4")


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory, photo_clip):
    from vqaloop.io.video import encode

    root = tmp_path_factory.mktemp("clips")
    a = encode(photo_clip, root / "a.mp4", fps=10)
    b = encode(photo_clip[:, :, ::-1].copy(), root / "b.mp4", fps=10, codec="h264", crf=40, preset="fast")
    return a, b


def test_score_cli_on_a_vlm_folder_is_deterministic(tmp_path, tiny_folder, two_clips):
    """Once in this process, once in a fresh one: the same bytes."""
    from vqaloop.cli import main

    argv = ["score", "--model", str(tiny_folder), *map(str, two_clips), "--frames", "4", "--out"]
    assert main([*argv, str(tmp_path / "scores0.csv")]) == 0
    run_cli(*argv, str(tmp_path / "scores1.csv"), check=True)
    outs = [(tmp_path / f"scores{k}.csv").read_bytes() for k in range(2)]
    assert outs[0] == outs[1]
    lines = outs[0].decode().splitlines()
    assert lines[0] == "video_id,score" and len(lines) == 3
    assert all(1 < float(line.split(",")[1]) < 5 for line in lines[1:])


def cli_error(capsys, *argv: str) -> str:
    """``vqaloop ARGV`` in this process: exit status 2 and one error line (the CLI's contract)."""
    from vqaloop.cli import main

    assert main(list(argv)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("vqaloop: error: ")
    return lines[-1]


def test_score_cli_errors(tmp_path, capsys, tiny_folder, two_clips):
    line = cli_error(capsys, "score", "--model", str(tmp_path / "absent"), str(two_clips[0]))
    assert "absent: model not found" in line
    line = cli_error(capsys, "score", "--model", str(tiny_folder), str(tmp_path / "none.mp4"))
    assert "none.mp4: video file not found" in line
    line = cli_error(capsys, "score", "--model", str(tiny_folder), str(two_clips[0]), "--anchors", "x.csv")
    assert "--anchors: a VLM scores each video on its own" in line
    line = cli_error(capsys, "score", "--model", str(tiny_folder), str(two_clips[0]), "--device", "cuda:7")
    assert "device: 'cuda:7'" in line


def test_tiny_vlm_cli_writes_a_loadable_folder(tmp_path):
    from vqaloop.cli import main
    from vqaloop.vlm.loading import folder_arch

    assert main(["tiny-vlm", "--arch", "qwen2_5_vl", "--out", str(tmp_path / "m")]) == 0
    assert folder_arch(tmp_path / "m") == "qwen2_5_vl"
    assert (tmp_path / "m" / "model.safetensors").is_file()
