"""The MDS-VQA authors' recipe beside the paper's (README "Deviations and choices"): each option changes what it
should and nothing else. The workflow keys are checked on dry runs (every command of the DAG compared with the
default's); the code behind them on small inputs, the g recipe by one GRPO step on the tiny VLM whose advantages
are recomputed here from the authors' formula."""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, snakemake
from scipy.stats import norm

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------- the workflow keys


def commands(text: str) -> list[str]:
    """Every vqaloop command a dry run prints (batched ones split; the checksum record left out)."""
    out = []
    for line in text.splitlines():
        if "python -m vqaloop " not in line:
            continue
        command = line.split("python -m vqaloop ", 1)[1].split(" > ", 1)[0].strip()
        if command.startswith("batch "):
            out += [c for c in shlex.split(command[len("batch ") :]) if not c.startswith("--")]
        elif not command.startswith("record-job"):
            out.append(command)
    # a table's spec carries the hash of the config slice it depends on: every selection setting is part of it
    out = [re.sub(r'"config_hash": "[0-9a-f]+"', '"config_hash": "*"', c) for c in out]
    return sorted(re.sub(r"--config-hash [0-9a-f]+", "--config-hash *", c) for c in out)


def dry_commands(tmp_path: Path, base: str, overlay: dict | None, name: str) -> list[str]:
    configs = [str(REPO / base)]
    if overlay:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(overlay))
        configs.append(str(path))
    done = snakemake(REPO, "-n", "-p", "--forceall", "--configfile", *configs, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    return commands(done.stdout + done.stderr)


def changed(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    gone, new = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    return gone, new


@pytest.fixture(scope="module")
def tiny_default(tmp_path_factory):
    return dry_commands(tmp_path_factory.mktemp("dry"), "config/tiny.yaml", None, "default")


# the positive control of MDS-VQA (vqaloop control-mds, rules/controls.smk) selects with the run's MDS settings too
CONTROL = r'|^control-mds |^control-table .*"kind": "mds"'


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overlay", "only_in", "swaps"),
    [
        ({"mds": {"chamfer": "authors"}}, r"^select --method (mds|mds_diversity_only) " + CONTROL,
         [("--chamfer paper", "--chamfer authors"), ('"chamfer": "paper"', '"chamfer": "authors"')]),
        ({"mds": {"diversity": {"efficientnet_lite0": {"normalise": False}}}},
         r"^select --method (mds|mds_diversity_only) .*efficientnet_lite0\.npz" + CONTROL,
         [("--chamfer paper", "--chamfer paper --no-normalise"), ("--g-noise 0.3 ", "--g-noise 0.3 --no-normalise "),
          ('"normalise": true', '"normalise": false')]),
        ({"mds": {"target_budgets": {"cgvds": 3}}}, r"^select .*--pool \S*/cgvds\.csv", [("--budget 2 ", "--budget 3 ")]),
    ],
)  # fmt: skip
def test_each_mds_key_changes_only_its_selections(tmp_path, tiny_default, overlay, only_in, swaps):
    after = dry_commands(tmp_path, "config/tiny.yaml", overlay, "overlay")
    gone, new = changed(tiny_default, after)
    assert gone and len(gone) == len(new)
    assert all(re.search(only_in, c) for c in gone + new), [c for c in gone + new if not re.search(only_in, c)][:2]
    assert sorted(swapped(c, swaps) for c in gone) == new


def swapped(command: str, swaps: list[tuple[str, str]]) -> str:
    for old, new in swaps:
        command = command.replace(old, new)
    return command


@pytest.mark.slow
def test_a_per_encoder_weight_moves_the_default_lambda_rows_only(tmp_path, tiny_default):
    """mds.diversity.<default encoder>.weight replaces mds.default.lambda (the authors: SigLIP 2 at 0.075) in the
    default-lambda variants (the default, oof and other-loss/rank rows); Table 6's sweep keeps its lambda 0.25 row,
    and no other selection changes."""
    config = yaml.safe_load((REPO / "config/tiny.yaml").read_text())
    d = config["mds"]["default"]
    after = dry_commands(tmp_path, "config/tiny.yaml", {"mds": {"diversity": {d["encoder"]: {"weight": 0.075}}}}, "w")
    old, new = f"_lam{d['lambda']:g}", "_lam0.075"
    before_sel = {c for c in tiny_default if c.startswith("select")}
    after_sel = {c for c in after if c.startswith("select")}
    moved = {c for c in before_sel if f"_{d['encoder']}{old}/" in c or f"_{d['encoder']}{old}_oof/" in c}
    sweep = f"mds_{d['loss']}_r{d['rank']}_{d['encoder']}{old}/"  # Table 6's lambda 0.25 row
    lam = f"--lambda {d['lambda']:g} "
    assert after_sel - before_sel == {c.replace(old, new).replace(lam, "--lambda 0.075 ") for c in moved}
    assert before_sel - after_sel == {c for c in moved if sweep not in c}
    assert any(sweep in c for c in after_sel)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overlay", "commands_changed", "added"),
    [
        ({"grpo": {"g_recipe": "authors"}}, {"train-g"}, "--recipe authors"),
        ({"grpo": {"scores": "sampled"}}, {"train-base"}, "--scores sampled"),
        ({"grpo": {"train_frames": 1}}, {"train-base", "train-g", "finetune"}, "--train-frames 1"),
        ({"grpo": {"lora_lm_head": True}}, {"train-base", "train-g", "finetune"}, "--lora-lm-head"),
    ],
)
def test_each_grpo_key_changes_only_the_vlm_training_it_names(tmp_path, overlay, commands_changed, added):
    before = dry_commands(tmp_path, "config/tiny_vlm.yaml", None, "base")
    after = dry_commands(tmp_path, "config/tiny_vlm.yaml", overlay, "overlay")
    gone, new = changed(before, after)
    assert {c.split()[0] for c in gone} == {c.split()[0] for c in new} == commands_changed
    assert all(added in c for c in new) and not any(added in c for c in gone)
    if overlay["grpo"].get("g_recipe") == "authors":  # one sampled answer per video
        assert all("--generations 1 " in c for c in new)


# ---------------------------------------------------------------------------------------------- diversity frames


def test_an_encoder_frames_option_takes_every_decoded_frame(tmp_path):
    """features.encoders.<e>.frames: every -> that encoder's file holds each decoded frame (a shorter clip repeats
    its frames evenly up to the longest); the other encoders keep --frames."""
    from vqaloop.cli import run_command
    from vqaloop.features.io import load_features
    from vqaloop.io.video import encode

    rng = np.random.default_rng(0)
    for name, n in (("a", 6), ("b", 3)):
        encode(rng.integers(0, 256, (n, 72, 128, 3), dtype=np.uint8), tmp_path / f"{name}.mp4", fps=6)
    pd.DataFrame({"video_id": ["a", "b"], "path": ["a.mp4", "b.mp4"], "mos": [3.0, 2.0], "split": "test",
                  "dataset": "d", "content_id": ["a", "b"]}).to_csv(tmp_path / "m.csv", index=False)  # fmt: skip
    out = tmp_path / "feats"
    out.mkdir()
    options = '{"thumbnail": {"factor": 4, "frames": "every"}}'
    assert run_command("features", ["--manifest", str(tmp_path / "m.csv"), "--data-root", str(tmp_path),
                                    "--encoders", "thumbnail", "motion", "--options", options, "--frames", "2",
                                    "--out-dir", str(out)]) == 0  # fmt: skip
    every, motion = load_features(out / "thumbnail.npz"), load_features(out / "motion.npz")
    assert every.frames.shape[1] == 6 and motion.frames.shape[1] == 2
    assert every.frame_indices[0].tolist() == [0, 1, 2, 3, 4, 5] and every.frame_indices[1].tolist() == [
        0,
        0,
        1,
        1,
        2,
        2,
    ]


# ---------------------------------------------------------------------------------------------- the g recipe


def authors_advantages(texts: list[str], errors: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The authors' trainer, written out: each answer's score (last <answer> block, first number), fidelity loss
    against every other video of the batch with unit variances and ties as harder, plus the format loss
    (0 for exactly <answer>...</answer>), advantage = minus the sum. (An unparsable answer: loss 1, no partner.)"""
    scores = []
    for t in texts:
        blocks = re.findall(r"<answer>(.*?)</answer>", t, re.DOTALL)
        number = re.search(r"\d+(\.\d+)?", blocks[-1]) if blocks else None
        scores.append(float(number.group()) if number else None)
    out = []
    for i, s in enumerate(scores):
        partners = [j for j, sj in enumerate(scores) if j != i and sj is not None]
        if s is None:
            fidelity = 1.0
        else:
            losses = []
            for j in partners:
                p = norm.cdf((s - scores[j]) / math.sqrt(1.0 + 1.0 + eps))
                gt = 1.0 if errors[i] >= errors[j] else 0.0
                losses.append(1 - math.sqrt(p * gt + eps) - math.sqrt((1 - p) * (1 - gt) + eps))
            fidelity = float(np.mean(losses)) if losses else 0.0
        fmt = 0.0 if re.fullmatch(r"<answer>.*?</answer>", texts[i].strip(), re.DOTALL) else 1.0
        out.append(-(fidelity + fmt))
    return np.array(out)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from vqaloop.vlm.tiny_qwen import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny_qwen") / "model")


def test_one_authors_step_with_g_1_gives_their_advantages(tiny_folder, monkeypatch):
    """One GRPO step of g with the authors' recipe on the tiny Qwen2.5-VL, G = 1, its sampled answers fixed (a
    random tiny model writes no score): the advantages the step uses equal the authors' formula computed here,
    the LoRA moves, and the paper's recipe gives other advantages on the same answers."""
    from peft import LoraConfig, get_peft_model

    from vqaloop.training import vlm_grpo as G
    from vqaloop.vlm.loading import load_vlm
    from vqaloop.vlm.prompts import FAILURE_PROMPT

    texts = ["<answer>2.0</answer>", "<answer>3.5</answer>", "the answer is 4", "<answer>2.0</answer> ok",
             "<answer>1.0</answer>"]  # fmt: skip
    errors = torch.tensor([0.1, 0.9, 0.4, 0.1, 0.6], dtype=torch.float64)  # a tie between videos 0 and 3
    model, processor = load_vlm(tiny_folder, "qwen2_5_vl")
    for p in model.parameters():
        p.requires_grad_(False)
    policy = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\.q_proj",
                                              init_lora_weights=False))  # fmt: skip
    eos = processor.tokenizer.eos_token_id

    def fixed_answers(model, processor, inputs, settings, seed):
        rows = [processor.tokenizer.encode(t, add_special_tokens=False) + [eos] for t in texts]
        width = max(map(len, rows))
        ids = torch.tensor([r + [eos] * (width - len(r)) for r in rows])
        return ids, G.completion_mask(ids, [eos])

    seen = {}

    def capture(logp, old, ref, advantages, beta, clip_eps):
        seen.setdefault("advantages", advantages.detach().clone())
        return real_loss(logp, old, ref, advantages, beta, clip_eps)

    def fixed_rollout(*args, **kwargs):
        """The real rollout on the fixed answers; the tiny tokenizer's <answer> tags are special tokens that
        decoding drops, so the texts are set back to what was 'sampled'."""
        batch = real_rollout(*args, **kwargs)
        batch.texts = list(texts)
        batch.scores = G.parse_answers(texts, 1)[0]
        return batch

    real_loss, real_rollout = G.grpo_token_loss, G.rollout
    monkeypatch.setattr(G, "sample_answers", fixed_answers)
    monkeypatch.setattr(G, "rollout", fixed_rollout)
    monkeypatch.setattr(G, "grpo_token_loss", capture)
    videos = [np.random.default_rng(i).integers(0, 256, (2, 56, 56, 3), dtype=np.uint8) for i in range(5)]
    before = {k: v.clone() for k, v in policy.state_dict().items() if "lora_" in k}
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-3)
    settings = G.GRPOSettings(generations=1, max_new_tokens=16, micro_batch=8, recipe="authors",
                              answer_layout="failure")  # fmt: skip
    G.grpo_step(policy, processor, optimizer, videos, errors, FAILURE_PROMPT, "ranking", settings, seed=0)
    expected = authors_advantages(texts, errors.numpy())
    np.testing.assert_allclose(seen["advantages"].numpy(), expected, rtol=1e-6, atol=1e-7)
    assert any(not torch.equal(before[k], v) for k, v in policy.state_dict().items() if k in before)
    seen.clear()
    paper = G.GRPOSettings(generations=1, max_new_tokens=16, micro_batch=8, answer_layout="failure")
    G.grpo_step(policy, processor, optimizer, videos, errors, FAILURE_PROMPT, "ranking", paper, seed=0)
    assert not np.allclose(seen["advantages"].numpy(), expected)  # G = 1: group-normalised advantages are all 0
    with pytest.raises(Exception, match="one answer per video"):
        G.train_grpo(policy, processor, [], lambda g, r: [], FAILURE_PROMPT, "ranking",
                     G.GRPOSettings(generations=2, recipe="authors"), epochs=1, lr=1e-3, batch_size=2,
                     weight_decay=0.0, seed=0, desc="x")  # fmt: skip


def test_authors_errors_are_raw_f_against_min_max_mos():
    from vqaloop.training.vlm_failure import authors_errors

    mos = np.array([20.0, 60.0, 100.0])  # min-max normalised: 1, 3, 5
    np.testing.assert_allclose(authors_errors(np.array([2.0, 3.0, 4.5]), mos), [1.0, 0.0, 0.5])


def test_train_frames_and_lm_head(tiny_folder):
    from vqaloop.models.vlm import VisualQualityR1
    from vqaloop.training.vlm_grpo import lora_targets, subsample_frames

    videos = [np.arange(10)[:, None, None, None] * np.ones((1, 4, 4, 3), dtype=np.uint8) for _ in range(2)]
    picked = subsample_frames(videos, 3, seed=5)
    firsts = [v[:, 0, 0, 0].tolist() for v in picked]
    assert all(len(f) == 3 and f == sorted(f) for f in firsts)
    assert firsts == [v[:, 0, 0, 0].tolist() for v in subsample_frames(videos, 3, seed=5)]  # seeded
    assert subsample_frames(videos, None, seed=5)[0].shape[0] == 10  # None: every key frame
    for lm_head in (False, True):
        wrapper = VisualQualityR1(weights=str(tiny_folder), frames=2, frame_size=56)
        wrapper.add_lora(r=2, targets=lora_targets(wrapper, lm_head))
        adapted = {n.split(".lora_")[0] for n, _ in wrapper.vlm.named_parameters() if ".lora_" in n}
        assert any(n.endswith("lm_head") for n in adapted) == lm_head
        assert any("language_model.layers.0.self_attn.q_proj" in n for n in adapted)
        assert not any("visual" in n for n in adapted)


def test_sampled_scores_parse_one_answer_and_never_guess(tiny_folder, monkeypatch):
    from vqaloop.errors import UserError
    from vqaloop.models.vlm import VisualQualityR1

    wrapper = VisualQualityR1(weights=str(tiny_folder), frames=2, frame_size=56, scoring="sampled", sample_tokens=8)
    assert wrapper.init_kwargs()["scoring"] == "sampled"
    tok = wrapper.processor.tokenizer
    calls = []

    def answer(text):
        def generate(**kwargs):
            calls.append({k: kwargs[k] for k in ("do_sample", "top_k", "top_p", "temperature")})
            new = torch.tensor([tok.encode(text, add_special_tokens=False)])
            return torch.cat([kwargs["input_ids"], new], dim=1)

        return generate

    x = torch.zeros(2, 2, 56 * 56 * 3)
    monkeypatch.setattr(wrapper.vlm, "generate", answer("<think>ok</think><answer>3.5</answer>"))
    assert wrapper(x).tolist() == [3.5, 3.5]
    assert calls[0] == {"do_sample": True, "top_k": 50, "top_p": 1.0, "temperature": 1.0}
    monkeypatch.setattr(wrapper.vlm, "generate", answer("no number here"))
    with pytest.raises(UserError, match="4 sampled answers, none parsable"):
        wrapper(x)
    deterministic = VisualQualityR1(weights=str(tiny_folder), frames=2, frame_size=56)
    assert deterministic.scoring == "deterministic" and torch.equal(deterministic(x), deterministic(x))


def test_the_authors_overlay_sets_every_recipe_key_away_from_the_paper_s_default():
    """config/paper_authors.yaml merged into config/paper.yaml (as Snakemake merges --configfile A B) is valid and
    sets each recipe key to the authors' value, the schema's default being the paper's reading."""
    import copy

    from snakemake.utils import update_config

    from vqaloop.config import validate_config, with_defaults

    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    merged = copy.deepcopy(paper)
    update_config(merged, yaml.safe_load((REPO / "config/paper_authors.yaml").read_text()))
    validate_config(merged, "paper + paper_authors")
    authors, default = with_defaults(merged, "grpo"), with_defaults({}, "grpo")
    assert authors == {"g_recipe": "authors", "scores": "sampled", "train_frames": 14, "lora_lm_head": True}
    assert all(authors[k] != default[k] for k in default)
    mds, paper_mds = with_defaults(merged, "mds"), with_defaults(paper, "mds")
    assert (mds["chamfer"], paper_mds["chamfer"]) == ("authors", "paper")
    assert mds["diversity"]["siglip2"] == {"weight": 0.075, "normalise": False} and paper_mds["diversity"] == {}
    assert mds["target_budgets"] == paper_mds["target_budgets"] == {"sfv_sdr": 64}  # paper.yaml: the authors' count
    encoders = merged["features"]["encoders"]
    assert encoders["clip"]["frames"] == encoders["siglip2"]["frames"] == "every"
    assert "frames" not in paper["features"]["encoders"]["clip"]
    assert encoders["frames"]["size"] == merged["paper_scale"]["models"]["f"]["frame_size"] == 504


def test_a_table_s_provenance_hash_follows_only_the_encoders_it_reads():
    """mds.diversity of an encoder enters the config slice (and hash) of the tables whose rows read that encoder only:
    editing SigLIP 2's settings leaves Table 2 alone and changes Table 7 (which has a SigLIP 2 row)."""
    from vqaloop.config import config_hash, with_defaults
    from vqaloop.models.catalogue import model_encoders
    from vqaloop.tables.mds_spec import config_slice, table_spec

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())

    def table_hash(table, diversity):
        cfg = {**config, "mds": with_defaults({**config, "mds": {**config["mds"], "diversity": diversity}}, "mds")}
        status = dict.fromkeys([*cfg["features"]["encoders"], "base"], (True, ""))
        spec = table_spec(table, cfg["mds"], cfg["corpus"]["datasets"], status, cfg["run"])
        bases = {b: list(model_encoders(b)) for b in [cfg["mds"]["base"], *cfg["mds"]["alternative_bases"]]}
        return config_hash(config_slice(spec, cfg, bases))

    siglip = {"siglip2": {"weight": 0.075, "normalise": False}}
    assert table_hash("mds_table2", {}) == table_hash("mds_table2", siglip)
    assert table_hash("mds_table7", {}) != table_hash("mds_table7", siglip)
