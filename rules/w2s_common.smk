# W2S-VQA's settings and command builders (present when the config has a w2s section): teachers, pairs, students,
# scores and the tables' specs. Included by the Snakefile after rules/common.smk (and rules/mds_common.smk).

from vqaloop.tables.w2s_spec import TABLES as W2S_TABLES
from vqaloop.tables.w2s_spec import miner_of, student_recipes
from vqaloop.tables.w2s_spec import table_spec as w2s_table_spec
from vqaloop.workflow_paths import W2sPaths

W2S = with_defaults(
    config, "w2s"
)  # the schema's defaults filled in: the one place they live
W2S_WRITTEN = config["w2s"]  # as the config file has it: the tables' provenance hash
W = W2sPaths(WORK)
W2S_TEACHERS = list(W2S["teachers"])
RECIPES = student_recipes(W2S_TEACHERS, W2S["single_teacher"])
W2S_SOURCE, W2S_POOL, W2S_SYNTH = W2S["source"], W2S["pool"], W2S["synthetic"]
W2S_TESTS = list(W2S["test_sets"])


def student_options():
    """The LLaVA-OneVision student's --student-options (paper_scale.models.student, w2s.student.motion)."""
    m, motion = VLM_MODELS["student"], W2S["student"]["motion"]
    return {"weights": m["weights"], "motion": motion, "lora_rank": m.get("lora_rank", 64),
            "dtype": m.get("dtype", "bfloat16"), "device": "cuda" if GPU_ENABLED else "cpu",
            "per_device_batch": m.get("per_device_batch", 2)}  # fmt: skip


LLAVA_STUDENT = W2S["student"]["name"] == "llava_onevision"
for _encoder in (("frames", W2S["student"]["motion"]) if LLAVA_STUDENT else ()):
    if not ENCODER_STATUS[_encoder][
        0
    ]:  # the student cannot run without it: say so before any job starts
        raise UserError(f"features.encoders.{_encoder} (read by the llava_onevision student) is unavailable: "
                        f"{ENCODER_STATUS[_encoder][1]}")  # fmt: skip
STUDENT_ENCODERS = (
    ("frames", W2S["student"]["motion"])
    if LLAVA_STUDENT
    else ("efficientnet_lite0", "motion")
)
PAIRSETS = [
    "homogeneous_ensemble",
    *(f"homogeneous_{t}" for t in W2S_TEACHERS),
    "synthetic",
    "source",
]


def w2s_sets():
    """Rows every teacher scores: the source (all), the pool (its shaped videos: --pool-ids) and each test
    set's scored rows (vqaloop w2s-test-set)."""
    sets = [paths(BASE).manifest(W2S_SOURCE), paths(BASE).manifest(W2S_POOL)]
    return sets + [W.test_set(d) for d in W2S_TESTS]


def test_splits(dataset):
    """w2s.test_sets.<dataset>.splits: the dataset's splits W2S-VQA scores ("all" = every configured one)."""
    splits = W2S["test_sets"][dataset]["splits"]
    return (
        sorted(CORPUS["datasets"][dataset]["splits"])
        if splits == "all"
        else list(splits)
    )


def test_set_oracles():
    """The oracle files the test sets need: a dataset whose pool split is scored (its MOS are hidden there)."""
    return [paths(BASE).oracle(d) for d in W2S_TESTS if "pool" in test_splits(d)]


def test_set_commands():
    """Per test set: its scored rows with their MOS (vqaloop w2s-test-set)."""
    return [
        f"w2s-test-set --manifest {paths(BASE).manifest(d)} --splits {' '.join(test_splits(d))}"
        + (f" --oracle {paths(BASE).oracle(d)}" if "pool" in test_splits(d) else "")
        + f" --out {W.test_set(d)}"
        for d in W2S_TESTS
    ]


def w2s_set_datasets():
    return sorted({W2S_SOURCE, W2S_POOL, *W2S_TESTS})


def teacher_inputs(wc):
    spec = W2S["teachers"][wc.teacher]
    manifests = [paths(BASE).manifest(d) for d in w2s_set_datasets()]
    inputs = {
        "manifests": manifests,
        "test_sets": [W.test_set(d) for d in W2S_TESTS],
        "shaped": W.shaped(),
    }  # of the pool, the shaped videos only
    if spec["kind"] == "base_model":
        inputs["model"] = paths(wc.teacher).f_model()
        inputs["features"] = [
            paths(wc.teacher).features(d, e)
            for d in w2s_set_datasets()
            for e in base_encoders(wc.teacher)
        ]
    elif spec["kind"] == "scores":
        inputs["scores"] = spec["scores"]
    else:
        inputs["videos"] = [v for d in w2s_set_datasets() for v in dataset_videos(d)]
    return inputs


def teacher_args(wc, input):
    spec = W2S["teachers"][wc.teacher]
    if spec["kind"] == "base_model":
        return f"--model {input.model} --features-root {DATA}/features"
    if spec["kind"] == "scores":
        return f"--scores {input.scores}"
    return f"--data-root {corpus_root(input.manifests)} --cache {config['cache_dir']}"


def student_features(datasets):
    return [paths(BASE).features(d, e) for d in datasets for e in STUDENT_ENCODERS]


W2S_SEEDS = sorted(W2S["seeds"])  # canonical order: a reorder reruns nothing
TRAIN_DATASETS = sorted({W2S_POOL, W2S_SYNTH, W2S_SOURCE})  # what training reads
SCORE_DATASETS = sorted(
    {W2S_SOURCE, *W2S_TESTS}
)  # what scoring reads (anchors: source train)


def pair_inputs(wc):
    inputs = {}
    if wc.pairset.startswith("homogeneous_"):
        who = wc.pairset.removeprefix("homogeneous_")
        teachers = W2S_TEACHERS if who == "ensemble" else [who]
        inputs["teachers"] = [W.teacher(t) for t in teachers]
        inputs["pool"] = paths(BASE).manifest(W2S_POOL)
        inputs["shaped"] = W.shaped()
    elif wc.pairset == "synthetic":
        inputs["ladder"] = paths(BASE).manifest(W2S_SYNTH)
    else:
        inputs["source"] = paths(BASE).manifest(W2S_SOURCE)
    return inputs


def pair_args(pairset):
    counts, manifest = W2S["pairs"], paths(BASE).manifest
    if pairset.startswith("homogeneous_"):
        who = pairset.removeprefix("homogeneous_")
        teachers = " ".join(
            W.teacher(t) for t in (W2S_TEACHERS if who == "ensemble" else [who])
        )
        single = (
            "" if who == "ensemble" else f" --single-sigma {counts['single_sigma']}"
        )
        return (f"--kind homogeneous --count {counts['homogeneous']} --teachers {teachers}{single}"
                f" --pool {manifest(W2S_POOL)} --shaped {W.shaped()} --stage 1 {stage_sizes_args()}"
                f" --split-seed {config['seed']}")  # fmt: skip
    if pairset == "synthetic":
        return f"--kind synthetic --count {counts['synthetic']} --ladder {manifest(W2S_SYNTH)}"
    return (f"--kind source --count {counts['homogeneous']} --source-manifest {manifest(W2S_SOURCE)}"
            f" --source-sigma {counts['source_sigma']}")  # fmt: skip


TARGETSETS = ["source", *(f"teacher_{t}" for t in W2S_TEACHERS)]


def target_inputs(wc):
    """A pointwise student's per-video targets: one teacher's scores on D(1), or the source MOS."""
    if wc.targetset == "source":
        return {"source": paths(BASE).manifest(W2S_SOURCE)}
    return {"teacher": W.teacher(wc.targetset.removeprefix("teacher_")),
            "pool": paths(BASE).manifest(W2S_POOL), "shaped": W.shaped()}  # fmt: skip


def target_args(targetset):
    if targetset == "source":
        return f"--kind source --source-manifest {paths(BASE).manifest(W2S_SOURCE)}"
    return (f"--kind teacher --teacher {W.teacher(targetset.removeprefix('teacher_'))}"
            f" --pool {paths(BASE).manifest(W2S_POOL)} --shaped {W.shaped()} --stage 1 {stage_sizes_args()}"
            f" --split-seed {config['seed']}")  # fmt: skip


def stage_sizes_args():
    """D(1), D(2), D(3)'s video counts (w2s.stage_sizes; the shaping keeps their sum)."""
    return "--stage-sizes " + " ".join(str(n) for n in W2S["stage_sizes"])


def pairs_commands(pairset):
    return [
        f"w2s-pairs {pair_args(pairset)} --seed {seed} --out {W.pairs(pairset, seed)}"
        for seed in W2S_SEEDS
    ]


def mine_commands(stage):
    """Per seed: the pairs of iterative stage ``stage``, mined with the previous stage's student."""
    m = paths(BASE).manifest
    teachers = " ".join(W.teacher(t) for t in W2S_TEACHERS)
    counts = W2S["pairs"]
    return [
        f"w2s-mine --student {W.student(miner_of(stage), seed)} --stage {stage} --teachers {teachers}"
        f" --pool {m(W2S_POOL)} --shaped {W.shaped()} --ladder {m(W2S_SYNTH)} --source-manifest {m(W2S_SOURCE)}"
        f" --anchors {W.anchors()} --features-root {FEATURES_ROOT} --gmad-count {counts['stage_gmad']}"
        f" --synthetic-count {counts['stage_synthetic']} --levels {W2S['gmad_levels']} {stage_sizes_args()}"
        f" --split-seed {config['seed']} {inference_args()} --seed {seed} --out {W.pairs(f'stage{stage}', seed)}"
        for seed in W2S_SEEDS
    ]


def student_inputs(wc):
    recipe = RECIPES[wc.student]
    inputs = {
        "pairs": [W.pairs(p, s) for p in recipe["pairs"] for s in W2S_SEEDS],
        "targets": [W.targets(recipe["targets"])] if recipe["targets"] else [],
        "manifests": [paths(BASE).manifest(d) for d in TRAIN_DATASETS],
        "features": student_features(TRAIN_DATASETS),
    }
    if recipe["init"]:
        inputs["init"] = [W.student(recipe["init"], s) for s in W2S_SEEDS]
    return inputs


def student_args(student, seed):
    recipe = RECIPES[student]
    s, t = W2S["student"], W2S["training"]
    args = f"--loss {recipe['loss']}"
    if recipe["loss"] == "confidence":
        args += f" --loss-warmup {W2S['confidence_warmup']}"
    args += f" --batch {t['batch']} --weight-decay {t['weight_decay']} --warmup {t['warmup']}"
    if recipe["init"]:
        st = W2S["stage_training"]
        return f"{args} --init {W.student(recipe['init'], seed)} --epochs {st['epochs']} --lr {st['lr']}"
    if LLAVA_STUDENT:
        return (f"{args} --student {s['name']} --student-options {as_json(student_options())}"
                f" --epochs {t['epochs']} --lr {t['lr']}")  # fmt: skip
    return (f"{args} --student {s['name']} --hidden {s['hidden']} --layers {s['layers']}"
            f" --heads {s['heads']} --epochs {t['epochs']} --lr {t['lr']}")  # fmt: skip


def student_commands(student):
    """Per seed: train the student on its pairs (stage 1 from scratch, stages 2-3 from the previous)."""
    m = paths(BASE).manifest
    train_manifests = " ".join(m(d) for d in (W2S_POOL, W2S_SYNTH, W2S_SOURCE))
    recipe = RECIPES[student]
    return [
        (
            f"w2s-train --targets {W.targets(recipe['targets'])}"
            if recipe["targets"]
            else f"w2s-train --pairs {' '.join(W.pairs(p, seed) for p in recipe['pairs'])}"
        )
        + f" --manifests {train_manifests} --features-root {FEATURES_ROOT}"
        f" {student_args(student, seed)} --seed {seed} --out {W.student(student, seed)}"
        for seed in W2S_SEEDS
    ]


def score_inputs(wc):
    inputs = {
        "models": [W.student(wc.student, s) for s in W2S_SEEDS],
        "manifests": [paths(BASE).manifest(W2S_SOURCE)],
        "test_sets": [W.test_set(d) for d in W2S_TESTS],
        "features": student_features(SCORE_DATASETS),
    }
    if not RECIPES[wc.student]["targets"]:  # a pointwise student scores without anchors
        inputs["anchors"] = W.anchors()
    return inputs


def score_commands(student):
    """Per seed: the student's scores of every test set (pairwise: soft comparison against the anchors, W2S
    Appendix C.3; pointwise: its expected rating)."""
    scoring = (
        ""
        if RECIPES[student]["targets"]
        else f" --anchors {W.anchors()} {inference_args()}"
    )
    return [
        f"w2s-evaluate --model {W.student(student, seed)}{scoring} --sets {' '.join(eval_sets())}"
        f" --features-root {FEATURES_ROOT} --scores-out {W.student_scores(student, seed)}"
        f" --out {W.student_eval(student, seed)}"
        for seed in W2S_SEEDS
    ]


def inference_args():
    i = W2S["inference"]
    return f"--temperature {i['temperature']} --link {i['link']} --solver {i.get('solver', 'newton')}"


def eval_sets():
    return [f"{paths(BASE).manifest(W2S_SOURCE)}:train"] + [
        W.test_set(d) for d in W2S_TESTS
    ]


# keys only Table 1's students read: the iterative stages (rows IV, V) and the confidence loss (III-V)
TABLE1_KEYS = ("stage_training", "gmad_levels", "confidence_warmup")
TABLE5_PAIR_KEYS = (
    "source_sigma",
    "single_sigma",
)  # only Table 5's single-teacher / source students
TABLE5_KEYS = ("single_teacher",)  # how Table 5's students learn


def w2s_slice(table):
    """The part of the w2s config a table depends on (its provenance hash; other edits do not rebuild it)."""
    w2s = {
        **W2S_WRITTEN,
        "seeds": sorted(W2S_WRITTEN["seeds"]),
    }  # the seeds' order shows nowhere
    if table == "w2s_table1":
        pairs = {k: v for k, v in w2s["pairs"].items() if k not in TABLE5_PAIR_KEYS}
        return {
            **{k: v for k, v in w2s.items() if k not in TABLE5_KEYS},
            "pairs": pairs,
        }
    pairs = {k: v for k, v in w2s["pairs"].items() if not k.startswith("stage_")}
    return {
        **{k: v for k, v in w2s.items() if k not in TABLE1_KEYS},
        "pairs": pairs,
    }


def w2s_spec(table):
    from vqaloop.config import config_hash

    return w2s_table_spec(table, W2S, RUN, config_hash({"w2s": w2s_slice(table)}))


def w2s_table_inputs(table):
    spec = w2s_spec(table)
    files = []
    for row in spec["rows"]:
        if row["kind"] == "teacher":
            files.append(W.teacher(row["id"]))
        else:
            files += [W.student_eval(row["id"], s) for s in W2S_SEEDS]
    return files
