# Positive controls (issue 21; README "Positive controls"; src/vqaloop/controls): the real pipelines run with an
# oracle whose properties are known, each beside a negative twin without the planted effect. MDS-VQA: a planted
# failure of f on a content cluster of one target (vqaloop control-mds), then the real select, reveal, finetune,
# evaluate. W2S-VQA: teachers = the hidden MOS + independent noise (vqaloop control-w2s), then the real w2s-teacher,
# w2s-pairs, w2s-train, w2s-evaluate. Each control's per-seed values: vqaloop control-table; its verdicts: rows of
# claims.csv (rules/claims.smk) and controls_claims.csv. Include after rules/common.smk (and the papers' rules).
# Helpers: rules/controls_common.smk.


if HAS_MDS:

    rule control_mds_oracle:
        input:
            manifest=CP.manifest(CONTROL_DATASET),
            predictions=CP.f_predictions(CONTROL_DATASET),
            features=CP.features(CONTROL_DATASET, CONTROL_ENCODER),
        output:
            manifest=C.mds_manifest("{ckind}", CONTROL_DATASET),
            oracle=C.mds_oracle("{ckind}", CONTROL_DATASET),
            planted=C.mds_planted("{ckind}"),
            difficulty=[C.mds_difficulty("{ckind}", s) for s in CONTROL_SEEDS],
        log:
            f"{LOGS}/controls/mds_oracle_{{ckind}}.log",
        benchmark:
            f"{BENCH}/controls/mds_oracle_{{ckind}}.tsv"
        wildcard_constraints:
            ckind="planted|twin",
        conda:
            CONDA_ENV
        params:
            commands=lambda wc: batch(control_mds_commands(wc.ckind)),
        shell:
            recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")

    rule control_mds_select:
        input:
            features=CP.features(CONTROL_DATASET, CONTROL_ENCODER),
            manifest=CP.manifest(CONTROL_DATASET),
            difficulty=[C.mds_difficulty("{ckind}", s) for s in CONTROL_SEEDS],
        output:
            [
                C.mds_selection("{ckind}", m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_METHODS
            ],
        log:
            f"{LOGS}/controls/mds_select_{{ckind}}.log",
        benchmark:
            f"{BENCH}/controls/mds_select_{{ckind}}.tsv"
        wildcard_constraints:
            ckind="planted|twin",
        conda:
            CONDA_ENV
        params:
            commands=lambda wc: batch(
                f"select {control_select_args(m, wc.ckind, s)} --features {CP.features(CONTROL_DATASET, CONTROL_ENCODER)}"
                f" --pool {CP.manifest(CONTROL_DATASET)} --budget {budget_of(CONTROL_DATASET):g} --seed {s}"
                f" --out {C.mds_selection(wc.ckind, m, s)}"
                for s in CONTROL_SEEDS
                for m in CONTROL_METHODS
            ),
        shell:
            recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")

    # the label oracle of the control: the only reader of its oracle file
    rule control_mds_reveal:
        input:
            selections=[
                C.mds_selection("{ckind}", m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_METHODS
            ],
            oracle=C.mds_oracle("{ckind}", CONTROL_DATASET),
        output:
            [
                C.mds_labels("{ckind}", m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_METHODS
            ],
        log:
            f"{LOGS}/controls/mds_reveal_{{ckind}}.log",
        benchmark:
            f"{BENCH}/controls/mds_reveal_{{ckind}}.tsv"
        wildcard_constraints:
            ckind="planted|twin",
        conda:
            CONDA_ENV
        params:
            commands=lambda wc: batch(
                f"reveal --selection {C.mds_selection(wc.ckind, m, s)} --oracle {C.mds_oracle(wc.ckind, CONTROL_DATASET)}"
                f" --dataset {CONTROL_DATASET} --out {C.mds_labels(wc.ckind, m, s)}"
                for s in CONTROL_SEEDS
                for m in CONTROL_METHODS
            ),
        shell:
            recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")

    # f fine-tuned on the source set plus one method's revealed picks, evaluated on the control's test split
    rule control_mds_finetune:
        input:
            base=CP.f_model(),
            source=CP.manifest(MDS["source"]),
            manifest=C.mds_manifest("{ckind}", CONTROL_DATASET),
            labels=[
                C.mds_labels("{ckind}", m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_FINETUNED
            ],
            features=[
                CP.features(d, e)
                for d in (MDS["source"], CONTROL_DATASET)
                for e in base_encoders(BASE)
            ],
        output:
            models=[
                C.mds_model("{ckind}", m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_FINETUNED
            ],
            evaluations=[
                C.mds_eval("{ckind}", m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_FINETUNED
            ],
            predictions=[
                C.mds_predictions("{ckind}", m, s)
                for s in CONTROL_SEEDS
                for m in CONTROL_FINETUNED
            ],
        log:
            f"{LOGS}/controls/mds_finetune_{{ckind}}.log",
        benchmark:
            f"{BENCH}/controls/mds_finetune_{{ckind}}.tsv"
        wildcard_constraints:
            ckind="planted|twin",
        conda:
            CONDA_ENV
        params:
            commands=lambda wc: batch(control_finetune_commands(wc.ckind)),
        shell:
            recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")


if HAS_W2S:

    rule control_w2s_heldout:
        input:
            sets=CONTROL_W2S_SETS,
            pool=paths(BASE).manifest(W2S_POOL),
            shaped=W.shaped(),
            oracle=paths(BASE).oracle(W2S_POOL),
        output:
            C.w2s_heldout(),
        log:
            f"{LOGS}/controls/w2s_heldout.log",
        benchmark:
            f"{BENCH}/controls/w2s_heldout.tsv"
        conda:
            CONDA_ENV
        params:
            args=control_w2s_args(),
            stages=stage_sizes_args(),
            split_seed=config["seed"],
        shell:
            recorded(
                "python -m vqaloop control-w2s {params.args} --heldout {output} {params.stages}"
                " --split-seed {params.split_seed} > {log} 2>&1"
            )

    rule control_w2s_teachers:
        input:
            sets=CONTROL_W2S_SETS,
            pool=paths(BASE).manifest(W2S_POOL),
            shaped=W.shaped(),
            oracle=paths(BASE).oracle(W2S_POOL),
            features=lambda wc: (
                [
                    paths(BASE).features(d, "efficientnet_lite0")
                    for d in sorted({W2S_SOURCE, W2S_POOL, *W2S_TESTS})
                ]
                if wc.ckind == "twin"
                else []
            ),
        output:
            raw=[
                C.w2s_raw("{ckind}", s, t)
                for s in CONTROL_SEEDS
                for t in [*CONTROL_TEACHERS, "mean"]
            ],
            teachers=[
                C.w2s_teacher("{ckind}", s, t)
                for s in CONTROL_SEEDS
                for t in [*CONTROL_TEACHERS, "mean"]
            ],
        log:
            f"{LOGS}/controls/w2s_teachers_{{ckind}}.log",
        benchmark:
            f"{BENCH}/controls/w2s_teachers_{{ckind}}.tsv"
        wildcard_constraints:
            ckind="planted|twin|ceiling",
        conda:
            CONDA_ENV
        params:
            commands=lambda wc: batch(control_teacher_commands(wc.ckind)),
        shell:
            recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")

    # one job per kind and student: every seed's pairs, student and scores
    rule control_w2s_student:
        input:
            teachers=[
                C.w2s_teacher("{ckind}", s, t)
                for s in CONTROL_SEEDS
                for t in [*CONTROL_TEACHERS, "mean"]
            ],
            pool=paths(BASE).manifest(W2S_POOL),
            shaped=W.shaped(),
            anchors=W.anchors(),
            sets=[*(W.test_set(d) for d in W2S_TESTS), C.w2s_heldout()],
            features=student_features(sorted({W2S_POOL, W2S_SOURCE, *W2S_TESTS})),
        output:
            pairs=[C.w2s_pairs("{ckind}", "{cstudent}", s) for s in CONTROL_SEEDS],
            students=[C.w2s_student("{ckind}", "{cstudent}", s) for s in CONTROL_SEEDS],
            evaluations=[C.w2s_eval("{ckind}", "{cstudent}", s) for s in CONTROL_SEEDS],
            scores=[C.w2s_scores("{ckind}", "{cstudent}", s) for s in CONTROL_SEEDS],
        log:
            f"{LOGS}/controls/w2s_{{cstudent}}_{{ckind}}.log",
        benchmark:
            f"{BENCH}/controls/w2s_{{cstudent}}_{{ckind}}.tsv"
        wildcard_constraints:
            ckind="planted|twin|ceiling",
            cstudent="student|student_mean",
        conda:
            CONDA_ENV
        params:
            commands=lambda wc: batch(control_student_commands(wc.ckind, wc.cstudent)),
        shell:
            recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")


rule control_table:
    input:
        unpack(control_table_inputs),
    output:
        long=report(
            f"{RESULTS}/tables/{{control}}.csv",
            caption="../report/controls.rst",
            category="Positive controls",
            subcategory=lambda wc: (
                "MDS-VQA" if wc.control.startswith("control_mds") else "W2S-VQA"
            ),
            labels=lambda wc: {"control": wc.control, "file": "long"},
        ),
        seeds=report(
            f"{RESULTS}/tables/{{control}}_seeds.csv",
            caption="../report/controls.rst",
            category="Positive controls",
            subcategory=lambda wc: (
                "MDS-VQA" if wc.control.startswith("control_mds") else "W2S-VQA"
            ),
            labels=lambda wc: {"control": wc.control, "file": "per seed"},
        ),
    log:
        f"{LOGS}/controls/table_{{control}}.log",
    benchmark:
        f"{BENCH}/controls/table_{{control}}.tsv"
    wildcard_constraints:
        control="|".join(CONTROL_TABLES),
    conda:
        CONDA_ENV
    params:
        spec=lambda wc: as_json(control_spec(wc.control)),
        work=f"{config['work_root']}/{RUN}",
        manifests=lambda wc, input: (
            f"--manifests {' '.join(input.sets)}" if "sets" in input.keys() else ""
        ),
    shell:
        recorded(
            "python -m vqaloop control-table --spec {params.spec} --work {params.work} {params.manifests}"
            " --out {output.long} > {log} 2>&1"
        )


# the controls' verdicts alone (the same rows are in claims.csv): `snakemake --cores all controls`
rule control_claims:
    input:
        seeds=expand(f"{RESULTS}/tables/{{control}}_seeds.csv", control=CONTROL_TABLES),
    output:
        csv=report(
            f"{RESULTS}/tables/controls_claims.csv",
            caption="../report/controls.rst",
            category="Positive controls",
            subcategory="Verdicts",
            labels={"control": "verdicts", "file": "csv"},
        ),
    log:
        f"{LOGS}/controls/claims.log",
    benchmark:
        f"{BENCH}/controls/claims.tsv"
    conda:
        CONDA_ENV
    params:
        tables=lambda wc, output: Path(output.csv).parent,
        controls=" ".join(CONTROL_TABLES),
        level=0.05,
    shell:
        recorded(
            "python -m vqaloop claims --tables-dir {params.tables} --papers --controls {params.controls}"
            " --level {params.level} --out {output.csv} > {log} 2>&1"
        )


rule controls:
    input:
        expand(f"{RESULTS}/tables/{{control}}.csv", control=CONTROL_TABLES),
        rules.control_claims.output,
