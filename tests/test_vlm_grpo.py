"""GRPO for the VLM f and failure predictor g (vqaloop.vlm.rewards / grpo / failure) on the tiny Qwen2.5-VL."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from scipy.stats import norm

from vqaloop.vlm import rewards as R

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


# ------------------------------------------------------------------------------------- rewards (pure tensors)


def reference_ranking_rewards(preds: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """VisualQuality-R1's fidelity reward written out with loops, numpy and scipy (NaN = unparsable)."""
    b, g = preds.shape
    means, variances, counts = [], [], []
    for row in preds:
        ok = row[~np.isnan(row)]
        counts.append(len(ok))
        means.append(ok.mean() if len(ok) else 0.0)
        variances.append(ok.var(ddof=1) if len(ok) > 1 else 0.0)
    out = np.zeros((b, g))
    for i in range(b):
        for j in range(g):
            if np.isnan(preds[i, j]):
                continue
            values = []
            for z in range(b):
                if z == i or counts[z] == 0:
                    continue
                p = norm.cdf((preds[i, j] - means[z]) / math.sqrt(variances[i] + variances[z] + 1e-6))
                gt = 1.0 if targets[i] > targets[z] else 0.0 if targets[i] < targets[z] else 0.5
                values.append(math.sqrt(p * gt + 1e-6) + math.sqrt((1 - p) * (1 - gt) + 1e-6))
            out[i, j] = np.mean(values) if values else 0.0
    return out


HAND_PREDS = np.array(
    [
        [1.0, 2.0, 1.5, np.nan],
        [4.0, 4.5, 3.5, 5.0],
        [3.0, np.nan, np.nan, np.nan],
        [np.nan, np.nan, np.nan, np.nan],
        [2.0, 2.0, 2.5, 3.0],
    ]
)
HAND_MOS = np.array([1.2, 4.4, 3.0, 2.0, 3.0])  # a tie between videos 2 and 4


def test_ranking_reward_matches_an_independent_computation():
    preds = torch.tensor(HAND_PREDS, dtype=torch.float64)
    got = R.batch_ranking_rewards(preds, torch.tensor(HAND_MOS)).numpy()
    np.testing.assert_allclose(got, reference_ranking_rewards(HAND_PREDS, HAND_MOS), rtol=1e-10, atol=1e-12)
    assert (got[np.isnan(HAND_PREDS)] == 0).all()  # unparsable: 0, never a guessed number
    assert got.max() <= 2.0 and got[~np.isnan(HAND_PREDS)].min() > 0


def test_ranking_reward_prefers_the_right_order():
    """An answer that puts the better video higher earns more than one that inverts the order."""
    preds = torch.tensor([[4.0, 1.0], [2.5, 2.5]], dtype=torch.float64)  # video 0 has the higher MOS
    r = R.batch_ranking_rewards(preds, torch.tensor([5.0, 1.0]))
    assert r[0, 0] > r[0, 1]


def test_split_batch_with_gathered_stats_equals_one_process():
    """Two processes holding whole groups, with the gathered (mean, var, count, target) rows, give the same
    rewards as one process holding the whole batch."""
    preds = torch.tensor(HAND_PREDS, dtype=torch.float64)
    mos = torch.tensor(HAND_MOS)
    whole = R.batch_ranking_rewards(preds, mos)
    parts = [slice(0, 2), slice(2, 5)]
    gathered = torch.cat([torch.cat([R.group_statistics(preds[s]), mos[s, None]], 1) for s in parts])
    split = torch.cat([R.ranking_rewards(preds[s], gathered[:, :3], gathered[:, 3], s.start) for s in parts])
    torch.testing.assert_close(split, whole, rtol=0, atol=0)
    # the process-local slice alone (what trl's reward functions see) gives other rewards
    local = torch.cat([R.batch_ranking_rewards(preds[s], mos[s]) for s in parts])
    assert not torch.allclose(local, whole)


def _gather_worker(rank: int, world: int, port: int, queue) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        preds = torch.tensor(HAND_PREDS, dtype=torch.float64)
        mos = torch.tensor(HAND_MOS)
        rows = [slice(0, 2), slice(2, 5)][rank]  # unequal shares: the gather pads and strips
        queue.put((rank, R.batch_ranking_rewards(preds[rows], mos[rows]).numpy()))
    finally:
        dist.destroy_process_group()


def test_all_gather_across_two_gloo_processes_equals_one_process():
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("fork")  # no re-import of torch in the children (CPU only, one thread)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_gather_worker, args=(r, 2, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    whole = R.batch_ranking_rewards(torch.tensor(HAND_PREDS), torch.tensor(HAND_MOS)).numpy()
    np.testing.assert_array_equal(np.concatenate([results[0], results[1]]), whole)


def test_format_reward():
    texts = [
        "<think>blurry, noisy</think>\n<answer>2.5</answer>",
        "  <think>a</think><answer>3</answer>\n",  # surrounding whitespace is ignored
        "<answer>3</answer>",  # no reasoning
        "<think>a</think> <answer>3</answer> trailing words",
        "<think>a</think>",
    ]
    assert R.format_rewards(texts).tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_classification_and_regression_rewards():
    preds = torch.tensor([[1.0, 5.0, 3.0, np.nan], [1.0, 5.0, 7.0, 2.0]], dtype=torch.float64)
    hard = torch.tensor([1.0, 0.0])
    cls = R.classification_rewards(preds, hard)
    # q = (s - 1) / 4 clipped; likelihood of the hard label
    expected = [[0.0, 1.0, 0.5, 0.0], [1.0, 0.0, 0.0, 0.75]]
    torch.testing.assert_close(cls, torch.tensor(expected, dtype=torch.float64))
    target = torch.tensor([1.0, 5.0])
    reg = R.regression_rewards(preds, target)
    expected = [[1.0, 0.0, 1 - 4 / 16, 0.0], [0.0, 1.0, 1 - 4 / 16, 1 - 9 / 16]]
    torch.testing.assert_close(reg, torch.tensor(expected, dtype=torch.float64))
    for kind, t in (("classification", hard), ("regression", target)):
        torch.testing.assert_close(R.score_rewards(kind, preds, t), cls if kind == "classification" else reg)


def test_group_advantages():
    rewards = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], dtype=torch.float64)
    adv = R.group_advantages(rewards)
    np.testing.assert_allclose(adv[0].numpy(), (np.array([1, 2, 3]) - 2) / (1.0 + 1e-4))
    assert (adv[1] == 0).all()  # equal rewards: no signal


def test_failure_layout_format_reward():
    texts = ["<answer>3.25</answer>", "<think>x</think><answer>3</answer>", "3.25"]
    assert R.format_rewards(texts, "failure").tolist() == [1.0, 0.0, 0.0]


# ------------------------------------------------------------------------------------- GRPO on the tiny Qwen2.5-VL

LANGUAGE_LINEARS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from vqaloop.vlm.tiny_qwen import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny_qwen") / "model")


def tiny_videos(n: int, seed: int = 0, frames: int = 4, size: int = 56) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8) for _ in range(n)]


def tiny_policy(folder, init_lora_weights=True):
    """The tiny VLM with a LoRA (r 8) on its language model's linear layers."""
    from peft import LoraConfig, get_peft_model

    from vqaloop.vlm.loading import load_vlm

    model, processor = load_vlm(folder, "qwen2_5_vl")
    for p in model.parameters():
        p.requires_grad_(False)
    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=LANGUAGE_LINEARS,
                        init_lora_weights=init_lora_weights)  # fmt: skip
    return get_peft_model(model, config), processor


def test_grpo_step_changes_only_lora_weights(tiny_folder):
    """A fresh LoRA starts with B = 0 (policy = reference: no KL gradient) and random answers are unparsable
    (no advantage), so the LoRA here starts away from zero: the KL term then moves it."""
    from vqaloop.training.vlm_grpo import GRPOSettings, grpo_step
    from vqaloop.vlm.prompts import QUALITY_PROMPT

    torch.manual_seed(0)
    policy, processor = tiny_policy(tiny_folder, init_lora_weights=False)
    before = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-3)
    settings = GRPOSettings(generations=3, max_new_tokens=12, micro_batch=4)
    stats = grpo_step(policy, processor, optimizer, tiny_videos(3), torch.tensor([1.0, 3.0, 2.0]), QUALITY_PROMPT,
                      "ranking", settings, seed=0)  # fmt: skip
    assert stats.answers == 9 and 0 <= stats.unparsable <= 9 and stats.kl > 0
    after = policy.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    lora = {k for k in before if "lora_" in k}
    assert changed == lora  # every LoRA matrix moved; every other parameter and buffer is bit-identical
    assert lora and all("language_model" in k for k in lora)


def test_answer_logprobs_are_the_sampling_distribution(tiny_folder):
    """The log-probs of the loss equal those of the distribution generate() sampled from (same temperature,
    vision placeholders suppressed)."""
    from vqaloop.training.vlm_grpo import GRPOSettings, answer_logprobs, prompt_inputs, sample_answers, vision_token_ids
    from vqaloop.vlm.prompts import QUALITY_PROMPT

    policy, processor = tiny_policy(tiny_folder)
    settings = GRPOSettings(temperature=0.7, max_new_tokens=8)
    inputs = prompt_inputs(processor, tiny_videos(2, seed=1), QUALITY_PROMPT)
    completion, mask = sample_answers(policy, processor, inputs, settings, seed=3)
    again, _ = sample_answers(policy, processor, inputs, settings, seed=3)
    assert torch.equal(completion, again)  # seeded sampling is repeatable
    suppressed = vision_token_ids(policy)
    assert not torch.isin(completion, torch.tensor(suppressed)).any()
    policy.eval()
    with torch.no_grad():
        logp = answer_logprobs(policy, inputs, completion, mask, settings.temperature, suppressed)
        # independent: step-by-step forward passes of the growing sequence, full softmax at temperature 0.7
        for t in range(completion.shape[1]):
            if not mask[:, t].any():
                break
            seq = torch.cat([inputs["input_ids"], completion[:, :t]], 1)
            am = torch.cat([inputs["attention_mask"], mask[:, :t]], 1)
            types = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(completion[:, :t])], 1)
            extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
            logits = policy(input_ids=seq, attention_mask=am, mm_token_type_ids=types, **extra).logits[:, -1] / 0.7
            logits[:, suppressed] = -math.inf
            expected = logits.log_softmax(-1).gather(1, completion[:, t : t + 1]).squeeze(1)
            rows = mask[:, t].bool()
            torch.testing.assert_close(logp[rows, t], expected[rows], rtol=1e-4, atol=1e-4)


def test_grpo_loss_matches_a_hand_computation():
    from vqaloop.training.vlm_grpo import grpo_token_loss, sequence_mean

    logp = torch.tensor([[-1.0, -2.0], [-0.5, -0.1]])
    old = torch.tensor([[-1.5, -2.0], [-0.2, -0.1]])
    ref = torch.tensor([[-1.2, -1.0], [-0.5, -0.3]])
    adv = torch.tensor([1.0, -2.0])
    loss, kl, clipped = grpo_token_loss(logp, old, ref, adv, beta=0.04, clip_eps=0.2)
    ratio = np.exp(logp.numpy() - old.numpy())
    a = adv.numpy()[:, None]
    sur = np.minimum(ratio * a, np.clip(ratio, 0.8, 1.2) * a)
    d = ref.numpy() - logp.numpy()
    np.testing.assert_allclose(loss.numpy(), -sur + 0.04 * (np.exp(d) - d - 1), rtol=1e-6)
    assert clipped[0, 0] == 1 and clipped[0, 1] == 0  # ratio e^0.5 > 1.2 with A > 0 is clipped
    mask = torch.tensor([[1, 1], [1, 0]])
    np.testing.assert_allclose(sequence_mean(kl, mask).numpy(), [kl[0].mean(), kl[1, 0]], rtol=1e-6)


def test_unparsable_answers_are_counted():
    from vqaloop.training.vlm_grpo import GRPOSettings, Rollout, batch_rewards, parse_answers

    texts = ["<think>ok</think><answer>4.5</answer>", "no tags 3", "<answer>bad</answer>",
             "<think>a</think><answer>2</answer>", "<answer>1.5</answer>", ""]  # fmt: skip
    scores, unparsable = parse_answers(texts, 3)
    assert unparsable == 3 and scores.shape == (2, 3)
    assert torch.isnan(scores).sum() == 3 and scores[0, 0] == 4.5 and scores[1, 0] == 2.0
    batch = Rollout({}, torch.zeros(6, 1, dtype=torch.long), torch.ones(6, 1, dtype=torch.long), texts, scores)
    total, parts = batch_rewards(batch, torch.tensor([4.0, 2.0]), "ranking", GRPOSettings(generations=3), "cpu")
    assert (total.reshape(-1)[[1, 2, 5]] == 0).all()  # unparsable: no format, no score reward
    assert parts["format_reward"] == pytest.approx(2 / 6)


# ------------------------------------------------------------------------------------- f and g through the CLI


def write_vlm_source(root, n: int = 4, frames: int = 2, size: int = 56):
    """A source manifest (train split) and its ``frames`` features file: random uint8 frames stored as rows."""
    import pandas as pd

    from vqaloop.features.io import write_features

    ids = [f"v{i}" for i in range(n)]
    manifest = pd.DataFrame({"video_id": ids, "path": [f"{v}.mp4" for v in ids], "mos": np.linspace(1.0, 4.0, n),
                             "split": "train", "dataset": "src", "content_id": [f"c{i}" for i in range(n)]})  # fmt: skip
    manifest.to_csv(root / "src.csv", index=False)
    rows = np.stack([v.reshape(frames, -1) for v in tiny_videos(n, seed=5, frames=frames, size=size)])
    write_features(root / "features" / "src" / "frames.npz", ids, rows.astype(np.float32), "frames",
                   np.tile(np.arange(frames), (n, 1)))  # fmt: skip
    return root / "src.csv", root / "features"


def test_train_base_and_train_g_cli_on_the_tiny_vlm(tiny_folder, tmp_path):
    """train-base (GRPO, 1 epoch) then train-g (GRPO on f's errors) end to end: g's checkpoint holds f's and g's
    LoRA tensors only, the Table-1 prompt, and the count of unparsable sampled answers."""
    from vqaloop.cli import run_command
    from vqaloop.models.registry import load_checkpoint

    manifest, features = write_vlm_source(tmp_path)
    grpo = ["--generations", "2", "--max-new-tokens", "6", "--micro-batch", "4", "--epochs", "1", "--batch", "4"]
    f_path, g_path = tmp_path / "f.pt", tmp_path / "g.pt"
    assert run_command("train-base", ["--base", "visualquality_r1", "--manifest", str(manifest), "--features-root",
                                      str(features), "--weights", str(tiny_folder), "--rank", "4", *grpo,
                                      "--out", str(f_path)]) == 0  # fmt: skip
    f = load_checkpoint(f_path)
    assert f.meta["trainer"] == "grpo" and f.meta["answers"] == 4 * 2 and f.logistic is not None
    assert [a["r"] for a in f.kwargs["lora"]] == [4] and all(k.startswith("lora.0.") for k in f.state_dict)
    assert run_command("train-g", ["--base-model", str(f_path), "--manifest", str(manifest), "--features-root",
                                   str(features), "--loss", "regression", "--rank", "2", *grpo,
                                   "--out", str(g_path)]) == 0  # fmt: skip
    g = load_checkpoint(g_path)
    assert g.kwargs["prompt"] == "failure" and [a["r"] for a in g.kwargs["lora"]] == [4, 2]
    assert {k.split(".")[1] for k in g.state_dict} == {"0", "1"}  # f's adapter, then g's: no pretrained weight
    assert g.meta["loss"] == "regression" and g.meta["answers"] == 4 * 2
    # random tiny weights never write "<answer>N</answer>": every sampled answer is counted as unparsable
    assert g.meta["unparsable"] == g.meta["answers"] == sum(e["unparsable"] for e in g.meta["epochs_log"])
    scores = g.build()(torch.zeros(2, 2, 56 * 56 * 3))
    assert scores.shape == (2,) and ((scores >= 1) & (scores <= 5)).all()
    # finetune: a new LoRA on f, GRPO on the source split and one revealed selection (batches never mix them)
    from vqaloop.features.io import write_features

    ids = ["t0", "t1"]
    rows = np.stack([v.reshape(2, -1) for v in tiny_videos(2, seed=9, frames=2)]).astype(np.float32)
    write_features(features / "tgt" / "frames.npz", ids, rows, "frames", np.tile(np.arange(2), (2, 1)))
    (tmp_path / "labels.csv").write_text("video_id,dataset,mos\nt0,tgt,10\nt1,tgt,70\n")
    ft_path = tmp_path / "ft.pt"
    assert run_command("finetune", ["--base-model", str(f_path), "--source-manifest", str(manifest), "--labels",
                                    str(tmp_path / "labels.csv"), "--features-root", str(features), "--rank", "2",
                                    *grpo, "--out", str(ft_path)]) == 0  # fmt: skip
    ft = load_checkpoint(ft_path)
    assert ft.meta["groups"] == {"src": 4, "tgt": 2} and ft.meta["answers"] == (4 + 2) * 2
    assert [a["r"] for a in ft.kwargs["lora"]] == [4, 2] and ft.kwargs["prompt"] == "quality"


def test_failure_targets_per_loss():
    from vqaloop.training.vlm_failure import failure_targets

    errors, mos = np.array([0.5, 2.0, 1.0, 0.0]), np.array([1.0, 3.0, 5.0, 2.0])
    assert failure_targets("ranking", errors, mos).tolist() == errors.tolist()
    assert failure_targets("classification", errors, mos).tolist() == [0.0, 1.0, 1.0, 0.0]  # median 0.75
    np.testing.assert_allclose(failure_targets("regression", errors, mos).numpy(), 1 + errors)  # MOS span 4
