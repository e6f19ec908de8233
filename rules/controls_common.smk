# The positive controls' settings, paths and command lines (issue 21; README "Positive controls"; src/vqaloop/controls):
# what rules/controls.smk's rules use. Include after rules/common.smk (and the papers' rules), before controls.smk.

from vqaloop.config import config_hash as control_hash
from vqaloop.controls.paths import ControlPaths

CONTROLS_CFG = with_defaults(config, "controls")
C = ControlPaths(f"{config['work_root']}/{RUN}")
CONTROL_SEEDS = sorted(
    CONTROLS_CFG["seeds"]
)  # canonical order: a reorder reruns nothing
CONTROL_TABLES = [
    *(["control_mds", "control_mds_twin"] if HAS_MDS else []),
    *(["control_w2s", "control_w2s_twin"] if HAS_W2S else []),
]


def control_kind(table):
    return "twin" if table.endswith("_twin") else "planted"


if HAS_MDS:
    CM = CONTROLS_CFG["mds"]
    CONTROL_DATASET = CM["dataset"] or MDS["ablation_dataset"]
    if CONTROL_DATASET not in TARGETS:
        raise UserError(
            f"controls.mds.dataset: {CONTROL_DATASET!r} is not one of mds.targets ({', '.join(TARGETS)})"
        )
    CONTROL_LAMBDA = MDS["default"]["lambda"]
    CONTROL_ENCODER = MDS["default"][
        "encoder"
    ]  # the diversity features of MDS-VQA's default variant
    CONTROL_METHODS = ["mds", "lambda_0", "random"]
    CONTROL_FINETUNED = ["mds", "random"]
    CP = paths(BASE)

    def control_select_args(method, kind, seed):
        if method == "random":
            return "--method random"
        lam = CONTROL_LAMBDA if method == "mds" else 0
        return f"--method mds --lambda {lam:g} --difficulty {C.mds_difficulty(kind, seed)} {diversity_args(CONTROL_ENCODER)}"

    def control_mds_commands(kind):
        """The planted (or twin) oracle, manifest and every seed's g (vqaloop control-mds)."""
        d = CONTROL_DATASET
        normalise = MDS["diversity"].get(CONTROL_ENCODER, {}).get("normalise", True)
        return [
            f"control-mds --manifest {CP.manifest(d)} --predictions {CP.f_predictions(d)}"
            f" --features {CP.features(d, CONTROL_ENCODER)} --share {CM['share']} --noise {CM['noise']}"
            f" --g-noise {CM['g_noise']}{'' if normalise else ' --no-normalise'}{' --twin' if kind == 'twin' else ''}"
            f" --seed {config['seed']} --seeds {' '.join(map(str, CONTROL_SEEDS))}"
            f" --difficulty {' '.join(C.mds_difficulty(kind, s) for s in CONTROL_SEEDS)}"
            f" --out-manifest {C.mds_manifest(kind, d)} --out-oracle {C.mds_oracle(kind, d)} --out {C.mds_planted(kind)}"
        ]

    def control_finetune_commands(kind):
        d, t = CONTROL_DATASET, training(BASE, "finetune")
        full = " --full" if t.get("full", False) else ""
        out = []
        for s in CONTROL_SEEDS:
            for m in CONTROL_FINETUNED:
                model = C.mds_model(kind, m, s)
                out += [
                    f"finetune --base-model {CP.f_model()} --source-manifest {CP.manifest(MDS['source'])}"
                    f" --labels {C.mds_labels(kind, m, s)} --features-root {FEATURES_ROOT} --rank {t.get('rank', 64)}{full}"
                    f" {optim_args(BASE, 'finetune')}{grpo_args(BASE)} --seed {s} --out {model}",
                    f"evaluate --model {model} --manifests {C.mds_manifest(kind, d)} --features-root {FEATURES_ROOT}"
                    f" --out {C.mds_eval(kind, m, s)}",
                    f"predict --model {model} --manifest {C.mds_manifest(kind, d)} --split test"
                    f" --features-root {FEATURES_ROOT} --out {C.mds_predictions(kind, m, s)}",
                ]
        return out


if HAS_W2S:
    CW = CONTROLS_CFG["w2s"]
    if LLAVA_STUDENT:
        raise UserError(
            "controls: the W2S-VQA control trains the compact student (w2s.student.name pair_transformer)"
        )
    CONTROL_TEACHERS = list(range(1, CW["teachers"] + 1))
    CONTROL_W2S_SETS = [
        paths(BASE).manifest(W2S_SOURCE),
        *(W.test_set(d) for d in W2S_TESTS),
    ]
    CONTROL_NOISE = {"planted": CW["noise"], "twin": CW["noise"], "ceiling": 0.0}

    def control_w2s_args():
        m = paths(BASE).manifest
        return (f"--sets {' '.join(CONTROL_W2S_SETS)} --pool {m(W2S_POOL)} --shaped {W.shaped()}"
                f" --oracle {paths(BASE).oracle(W2S_POOL)}")  # fmt: skip

    def control_students(kind):
        """The students of a control kind: the ceiling's pairs are the ensemble's only; the twin's ensemble student
        is opt-in (controls.w2s.twin_ensemble)."""
        if kind == "ceiling":
            return ["student"]
        if kind == "twin" and not CW["twin_ensemble"]:
            return ["student_mean"]
        return ["student", "student_mean"]

    def control_teacher_commands(kind):
        """Per seed: the T teachers' raw scores and their mean (vqaloop control-w2s), each through the real
        w2s-teacher (the logistic to the MOS scale fitted on the source training set).
        """
        m = paths(BASE).manifest
        sets = " ".join(
            [m(W2S_SOURCE), m(W2S_POOL), *(W.test_set(d) for d in W2S_TESTS)]
        )
        twin = f" --twin --features-root {FEATURES_ROOT}" if kind == "twin" else ""
        out = []
        for s in CONTROL_SEEDS:
            raw = " ".join(C.w2s_raw(kind, s, t) for t in CONTROL_TEACHERS)
            out.append(
                f"control-w2s {control_w2s_args()} --noise {CONTROL_NOISE[kind]:g}{twin} --seed {s} --out {raw}"
                f" --mean-out {C.w2s_raw(kind, s, 'mean')}"
            )
            out += [
                f"w2s-teacher --teacher control_{t} --kind scores --scores {C.w2s_raw(kind, s, t)}"
                f" --source {W2S_SOURCE} --sets {sets} --pool-ids {W.shaped()} --out {C.w2s_teacher(kind, s, t)}"
                for t in [*CONTROL_TEACHERS, "mean"]
            ]
        return out

    def control_student_commands(kind, student):
        """Per seed: the student's pairs on D(1) (the ensemble's, or the teachers' mean as one teacher with the
        single-teacher sigma), the student, its soft-comparison scores on every test set and the held-out set.
        """
        m = paths(BASE).manifest
        st, tr = W2S["student"], W2S["training"]
        epochs = CW["epochs"] or tr["epochs"]
        count = CW["pairs"] or W2S["pairs"]["homogeneous"]
        single = W2S["pairs"]["single_sigma"]
        out = []
        for s in CONTROL_SEEDS:
            teachers = (
                " ".join(C.w2s_teacher(kind, s, t) for t in CONTROL_TEACHERS)
                if student == "student"
                else f"{C.w2s_teacher(kind, s, 'mean')} --single-sigma {single}"
            )
            out += [
                f"w2s-pairs --kind homogeneous --count {count} --teachers {teachers} --pool {m(W2S_POOL)}"
                f" --shaped {W.shaped()} --stage 1 {stage_sizes_args()} --split-seed {config['seed']} --seed {s}"
                f" --out {C.w2s_pairs(kind, student, s)}",
                f"w2s-train --pairs {C.w2s_pairs(kind, student, s)} --manifests {m(W2S_POOL)}"
                f" --features-root {FEATURES_ROOT} --loss ce --batch {tr['batch']}"
                f" --weight-decay {tr['weight_decay']} --warmup {tr['warmup']}"
                f" --student {st['name']} --hidden {st['hidden']} --layers {st['layers']}"
                f" --heads {st['heads']} --epochs {epochs} --lr {tr['lr']} --seed {s}"
                f" --out {C.w2s_student(kind, student, s)}",
                f"w2s-evaluate --model {C.w2s_student(kind, student, s)} --anchors {W.anchors()} {inference_args()}"
                f" --sets {' '.join([*(W.test_set(d) for d in W2S_TESTS), C.w2s_heldout()])}"
                f" --features-root {FEATURES_ROOT} --scores-out {C.w2s_scores(kind, student, s)}"
                f" --out {C.w2s_eval(kind, student, s)}",
            ]
        return out


def control_spec(table):
    """What vqaloop control-table needs (the rule's params: an edit of the control's settings rebuilds it)."""
    kind = control_kind(table)
    base = {"control": kind, "table": table, "seeds": CONTROL_SEEDS, "run": RUN}
    if table.startswith("control_mds"):
        normalise = MDS["diversity"].get(CONTROL_ENCODER, {}).get("normalise", True)
        spec = {**base, "kind": "mds", "features": CP.features(CONTROL_DATASET, CONTROL_ENCODER),
                "chamfer": MDS["chamfer"], "normalise": normalise,
                "note": f"{CONTROL_DATASET}: planted failure (vqaloop control-mds)" if kind == "planted" else
                f"{CONTROL_DATASET}: negative twin (vqaloop control-mds --twin)"}  # fmt: skip
        settings = {
            "mds": CM,
            "lambda": CONTROL_LAMBDA,
            "finetune": training(BASE, "finetune"),
        }
    else:
        from vqaloop.tables.w2s_spec import table_spec as w2s_table_spec

        columns = w2s_table_spec("w2s_table1", W2S, RUN, "")["columns"]
        spec = {**base, "kind": "w2s", "columns": columns, "pool": W2S_POOL, "teachers": CW["teachers"],
                "ceiling": kind == "planted" and CW["ceiling"], "students": control_students(kind),
                "note": "teachers = hidden MOS + noise" if kind == "planted" else "teachers = permuted MOS + noise"}  # fmt: skip
        settings = {"w2s": CW, "student": W2S_WRITTEN["student"], "training": W2S_WRITTEN["training"]}
    spec["config_hash"] = control_hash(
        {"seeds": CONTROL_SEEDS, "seed": config["seed"], **settings}
    )
    return spec


def control_table_inputs(wc):
    kind = control_kind(wc.control)
    if wc.control.startswith("control_mds"):
        return {
            "planted": C.mds_planted(kind),
            "features": CP.features(CONTROL_DATASET, CONTROL_ENCODER),
            "selections": [
                C.mds_selection(kind, m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_METHODS
            ],
            "labels": [
                C.mds_labels(kind, m, s) for s in CONTROL_SEEDS for m in CONTROL_METHODS
            ],
            "evaluations": [
                C.mds_eval(kind, m, s) for s in CONTROL_SEEDS for m in CONTROL_FINETUNED
            ],
            "predictions": [
                C.mds_predictions(kind, m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_FINETUNED
            ],
        }
    kinds = [kind, "ceiling"] if kind == "planted" and CW["ceiling"] else [kind]
    return {
        "evaluations": [
            C.w2s_eval(k, student, s)
            for k in kinds
            for student in control_students(k)
            for s in CONTROL_SEEDS
        ],
        "teachers": [
            C.w2s_teacher(kind, s, t)
            for s in CONTROL_SEEDS
            for t in [*CONTROL_TEACHERS, "mean"]
        ],
        "sets": [*(W.test_set(d) for d in W2S_TESTS), C.w2s_heldout()],
    }
