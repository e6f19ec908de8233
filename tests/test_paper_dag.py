"""The paper-scale DAG (config/paper.yaml) built on a placeholder tree: every rule's job count and every batched
command count follow from the config (methods x lambdas x encoders x ranks x losses x seeds x datasets x stages),
computed here from the config's values, not from the workflow's own helpers."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml
from conftest import REPO, run_cli, snakemake

pytestmark = pytest.mark.slow

SHARED_METHODS = {"random", "coreset", "rd", "greedy", "alcs", "freesel"}  # features only: one selection for all f
MODEL_METHODS = {"mc_dropout", "noise_stability"}  # run f itself: one selection per base model


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    out = tmp_path_factory.mktemp("placeholder")
    proc = run_cli("placeholder-tree", "--config", str(REPO / "config/paper.yaml"), "--out", str(out / "tree"),
                   cwd=REPO)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config_path = out / "tree" / "paper_placeholder.yaml"
    dry = snakemake(REPO, "-n", "-p", "--configfile", str(config_path), timeout=600)
    assert dry.returncode == 0, dry.stderr[-3000:] + dry.stdout[-3000:]
    return yaml.safe_load(config_path.read_text()), dry.stdout + dry.stderr, out / "tree"


def job_counts(text: str) -> dict[str, int]:
    """The first 'Job stats' table of a dry run."""
    block = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", block, re.M)}


def mds_variants(mds: dict) -> set[tuple]:
    """The distinct MDS-VQA selections of the main base model: Tables 2/3 methods, Table 5 losses and
    "removing g", Table 6 lambdas, Table 7 encoders, Table 8 ranks (each a one-factor change of the default)."""
    d = mds["default"]
    default = (d["loss"], d["rank"], d["encoder"], d["lambda"])
    variants = {("mds", *default), ("divonly", d["encoder"])}
    variants |= {("mds", loss, d["rank"], d["encoder"], d["lambda"]) for loss in mds["losses"]}
    variants |= {("mds", d["loss"], d["rank"], d["encoder"], lam) for lam in mds["lambdas"]}
    variants |= {("mds", d["loss"], d["rank"], enc, d["lambda"]) for enc in mds["diversity_encoders"]}
    variants |= {("mds", d["loss"], r, d["encoder"], d["lambda"]) for r in mds["ranks"]}
    return variants


def expected_jobs(config: dict) -> dict[str, int]:
    datasets, mds, w2s = config["corpus"]["datasets"], config["mds"], config["w2s"]
    adapted = [n for n, s in datasets.items() if "adapter" in s]
    rendered = [n for n in datasets if n not in adapted]
    alt = list(mds.get("alternative_bases", {}))
    methods = set(mds["methods"])
    teachers = w2s["teachers"]
    g_ids = {(loss, mds["default"]["rank"]) for loss in mds["losses"]} | {(mds["default"]["loss"], r)
                                                                          for r in mds["ranks"]}  # fmt: skip
    main_selections = len(mds_variants(mds)) + len(methods & MODEL_METHODS)
    alt_selections = len(alt) * len(methods & (MODEL_METHODS | {"mds"}))
    shared_selections = len(methods & SHARED_METHODS)
    # fine-tuned: every selection of the main base (Tables 2-8) and every method row of each Table 9 base
    finetuned = (len(mds_variants(mds)) + len(methods & MODEL_METHODS) + shared_selections) + len(alt) * len(methods)
    stage1 = 3  # (I) teacher pairs, (II) + synthetic pairs, (III) + confidence loss (W2S Table 1)
    stages = 2  # (IV), (V): iterative stages mined with gMAD (W2S Sec. 4.2)
    single = w2s.get("single_teacher", "pointwise")  # Table 5's variants (issue 22: pointwise = W2S Sec. 3)
    variants = [single] if isinstance(single, str) else list(single)
    # + per variant one student per teacher and the source-labelled one (Table 5)
    students = stage1 + stages + (len(teachers) + 1) * len(variants)
    return {
        "adapt_dataset": len(adapted),
        "sources": 1 if rendered else 0,
        "catalogue": 1 if rendered else 0,
        "plan": len(rendered),
        "render": len(rendered) * config["corpus"]["shards"],
        "manifest": len(rendered),
        "corpus_summary": 1,
        "features": len(datasets),
        "train_base": 1 + len(alt),
        "score_base": 1 + len(alt),
        "base_features": 1,
        "train_g": len(g_ids) + len(alt) * ("mds" in methods),
        "difficulty": len(g_ids) + len(alt) * ("mds" in methods),
        "select": main_selections + alt_selections + shared_selections,
        "reveal": main_selections + alt_selections + shared_selections,
        "finetune": finetuned,
        "gmad_competition": 1,
        "w2s_metrics": 2,  # the pool and the source (W2S Appendix A.2 shaping)
        "w2s_shape": 1,
        "w2s_teacher": len(teachers),
        "w2s_anchors": 1,
        "w2s_test_sets": 1,  # the rows scored on every test set (w2s.test_sets.<name>.splits)
        # ensemble and synthetic ladders; the pairwise variant: each teacher alone and the source MOS
        "w2s_pairs": 2 + (len(teachers) + 1) * ("pairwise" in variants),
        "w2s_targets": (len(teachers) + 1) * ("pointwise" in variants),  # per-video targets of the pointwise ones
        "w2s_student": students,
        "w2s_scores": students,
        "w2s_mine": stages,
        "mds_table_build": 7,  # MDS-VQA Tables 2, 3, 5, 6, 7, 8, 9
        "mds_table4_build": 1,
        "mds_figures": 1,
        "mds_methods_figure": 1,
        "w2s_table_build": 2,  # W2S-VQA Tables 1 and 5
        "w2s_figure": 1,
        "claims": 1,
        "all": 1,
    }


def test_placeholder_tree_is_shaped_like_the_config(paper):
    config, _, tree = paper
    for spec in config["corpus"]["datasets"].values():
        if "adapter" in spec:
            assert str(tree) in spec["adapter"]["root"]
    for role, spec in config["paper_scale"]["models"].items():
        assert (tree / "weights" / spec["weights"].split("/")[-1] / "config.json").is_file(), role
    for name, spec in config["w2s"]["teachers"].items():
        assert spec["kind"] != "scores" or (tree / "teachers" / f"{name}.csv").is_file()


def test_every_rule_count_follows_from_the_config(paper):
    config, text, _ = paper
    counts = job_counts(text)
    expected = {k: v for k, v in expected_jobs(config).items() if v}
    assert counts == expected


def test_batched_commands_multiply_seeds_and_datasets(paper):
    """Jobs batch every seed and target of one variant: the printed commands count variants x seeds x targets."""
    config, text, _ = paper
    mds, w2s = config["mds"], config["w2s"]
    jobs = expected_jobs(config)
    seeds, targets = len(mds["seeds"]), len(mds["targets"])
    calls = Counter(re.findall(r"\b(select|reveal|finetune|train-g|w2s-train|w2s-evaluate) --", text))
    assert calls["select"] == jobs["select"] * seeds * targets
    assert calls["reveal"] == jobs["reveal"] * seeds * targets
    assert calls["finetune"] == jobs["finetune"] * seeds
    assert calls["train-g"] == jobs["train_g"] * seeds
    assert calls["w2s-train"] == jobs["w2s_student"] * len(w2s["seeds"])
    assert calls["w2s-evaluate"] == jobs["w2s_scores"] * len(w2s["seeds"])


def test_gpu_rules_ask_for_a_gpu(paper):
    """With gpu.enabled, the rules that run a vision-language model declare resources gpu=1 (the dry run
    prints each job's resources)."""
    config, text, _ = paper
    assert config["gpu"]["enabled"]
    blocks = job_blocks(text)
    for rule in ("train_base", "train_g", "finetune", "w2s_student"):
        jobs = [b for r, b in blocks if r == rule]
        assert len(jobs) == expected_jobs(config)[rule], rule  # every job of the rule, not the first one only
        missing = [b.splitlines()[0] for b in jobs if not re.search(r"^\s+resources: .*\bgpu=1\b", b, re.M)]
        assert not missing, (rule, missing[:2])
    cpu_only = [b for r, b in blocks if r in ("corpus_summary", "claims", "mds_table", "w2s_table")]
    assert cpu_only and not any(re.search(r"\bgpu=[1-9]", b) for b in cpu_only)  # the CPU rules ask for none


def job_blocks(dry_run: str) -> list[tuple[str, str]]:
    """(rule, the job's block of the dry run) for every planned job: a block starts at 'rule X:' / 'localrule X:'."""
    starts = list(re.finditer(r"^(?:local)?rule (\w+):$", dry_run, re.M))
    ends = [m.start() for m in starts[1:]] + [len(dry_run)]
    return [(m.group(1), dry_run[m.start() : end]) for m, end in zip(starts, ends, strict=True)]


def test_the_base_models_batch_is_the_supplements_and_w2s_scores_whole_test_sets(paper):
    """MDS-VQA supplement: per-GPU batch 24, effective 48 with 2 accumulation steps = 8 videos x G 6 answers a
    step in passes of 24 answers; W2S-VQA Table 1: whole test sets (LSVQ: its test split; CGVDS: MDS-VQA's pool
    too, its MOS from the oracle); Table 5's single-teacher students learn per-video targets (issue 22)."""
    config, text, _ = paper
    f, base = config["paper_scale"]["models"]["f"], config["mds"]["training"]["base"]
    train_base = re.findall(r"train-base .*", text)
    assert len(train_base) == 1 + len(config["mds"].get("alternative_bases", {}))
    vlm = [c for c in train_base if "--generations" in c]
    assert (
        len(vlm) == 1 and f"--batch {base['batch']} " in vlm[0] and f"--micro-batch {f['per_device_batch']} " in vlm[0]
    )
    assert base["batch"] * f["generations"] == 48 == 2 * f["per_device_batch"]
    sets = {m.group(1): m.group(2) for m in re.finditer(r"w2s-test-set --manifest \S+/(\w+)\.csv --splits ([\w ]+?)"
                                                         r"(?: --oracle| --out)", text)}  # fmt: skip
    assert sets["lsvq"] == "test" and sets["cgvds"] == "pool test" and sets["kvq"] == "test"
    assert set(sets) == set(config["w2s"]["test_sets"])
    assert len(re.findall(r"w2s-test-set [^\n]*--oracle \S+/oracle/cgvds\.csv", text)) == 1
    targets = len(re.findall(r"w2s-train --targets", text))
    assert targets == (len(config["w2s"]["teachers"]) + 1) * len(config["w2s"]["seeds"])
