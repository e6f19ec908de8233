# W2S-VQA: shaped unlabelled pool -> weak teachers on the MOS scale -> five-level and synthetic pairs ->
# pairwise students (stage 1, then iterative stages 2-3 mined from the previous student) -> soft-comparison
# scores on every test set -> W2S Tables 1 and 5. No rule reads the pool's oracle file (its hidden MOS).


rule w2s_metrics:
    input:
        manifest=paths(BASE).manifest("{dataset}"),
        shards=lambda wc: dataset_videos(wc.dataset),
    output:
        W.metrics("{dataset}"),
    log:
        f"{LOGS}/w2s/metrics_{{dataset}}.log",
    benchmark:
        f"{BENCH}/w2s/metrics_{{dataset}}.tsv"
    conda:
        CONDA_ENV
    params:
        data=lambda wc, input: corpus_root(input.manifest),
        split=lambda wc: "--split train" if wc.dataset == W2S_SOURCE else "",
    shell:
        recorded(
            "python -m vqaloop metrics --manifest {input.manifest} --data-root {params.data} {params.split}"
            " --out {output} > {log} 2>&1"
        )


rule w2s_shape:
    input:
        candidates=W.metrics(W2S_POOL),
        reference=W.metrics(W2S_SOURCE),
    output:
        picks=W.shaped(),
        figure=report(
            f"{RESULTS}/figures/w2s_shaping.png",
            caption="../report/w2s_shaping.rst",
            category="W2S-VQA",
            subcategory="Figures",
            labels={"table": "pool shaping (Fig. 9 analogue)", "file": "figure"},
        ),
    log:
        f"{LOGS}/w2s/shape.log",
    benchmark:
        f"{BENCH}/w2s/shape.tsv"
    conda:
        CONDA_ENV
    params:
        size=sum(W2S["stage_sizes"]),
        bins=W2S["shaping"]["bins"],
    shell:
        recorded(
            "python -m vqaloop shape --candidates {input.candidates} --reference {input.reference}"
            " --size {params.size} --bins {params.bins} --out {output.picks} --figure {output.figure} > {log} 2>&1"
        )


rule w2s_teacher:
    input:
        unpack(teacher_inputs),
    output:
        scores=W.teacher("{teacher}"),
        fit=W.teacher_fit("{teacher}"),
    log:
        f"{LOGS}/w2s/teacher_{{teacher}}.log",
    benchmark:
        f"{BENCH}/w2s/teacher_{{teacher}}.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container(teacher_runs_model)
    resources:
        gpu=gpus(teacher_runs_model),
        gpu_model=gpu_model(teacher_runs_model),
    params:
        kind=lambda wc: W2S["teachers"][wc.teacher]["kind"],
        args=teacher_args,
        sets=" ".join(w2s_sets()),
        source=W2S_SOURCE,
    shell:
        recorded(
            gpu_shell(
                "python -m vqaloop w2s-teacher --teacher {wildcards.teacher} --kind {params.kind} {params.args}"
                " --source {params.source} --sets {params.sets} --pool-ids {input.shaped} --out {output.scores} > {log} 2>&1"
            )
        )


# the rows W2S-VQA scores on each test set (w2s.test_sets.<name>.splits), with their MOS: one job for all sets; a
# target's oracle is an input only where its pool split is scored (config/paper.yaml's CGVDS)
rule w2s_test_sets:
    input:
        manifests=[paths(BASE).manifest(d) for d in W2S_TESTS],
        oracles=test_set_oracles(),
    output:
        [W.test_set(d) for d in W2S_TESTS],
    log:
        f"{LOGS}/w2s/test_sets.log",
    benchmark:
        f"{BENCH}/w2s/test_sets.tsv"
    conda:
        CONDA_ENV
    params:
        commands=batch(test_set_commands()),
    shell:
        recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")


rule w2s_anchors:
    input:
        manifest=paths(BASE).manifest(W2S_SOURCE),
        teachers=[W.teacher(t) for t in W2S_TEACHERS],
    output:
        W.anchors(),
    log:
        f"{LOGS}/w2s/anchors.log",
    benchmark:
        f"{BENCH}/w2s/anchors.tsv"
    conda:
        CONDA_ENV
    params:
        n=W2S["anchors"],
    shell:
        recorded(
            "python -m vqaloop w2s-anchors --source-manifest {input.manifest} --teachers {input.teachers}"
            " --count {params.n} --out {output} > {log} 2>&1"
        )


rule w2s_pairs:
    input:
        unpack(pair_inputs),
    output:
        [W.pairs("{pairset}", s) for s in W2S_SEEDS],
    log:
        f"{LOGS}/w2s/pairs_{{pairset}}.log",
    benchmark:
        f"{BENCH}/w2s/pairs_{{pairset}}.tsv"
    conda:
        CONDA_ENV
    params:
        commands=lambda wc: batch(pairs_commands(wc.pairset)),
    shell:
        recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")


# per-video targets of the pointwise single-teacher students (W2S Sec. 3, Table 5): a teacher's scores on D(1),
# or the source MOS
rule w2s_targets:
    input:
        unpack(target_inputs),
    output:
        W.targets("{targetset}"),
    log:
        f"{LOGS}/w2s/targets_{{targetset}}.log",
    benchmark:
        f"{BENCH}/w2s/targets_{{targetset}}.tsv"
    wildcard_constraints:
        targetset="|".join(TARGETSETS),
    conda:
        CONDA_ENV
    params:
        args=lambda wc: target_args(wc.targetset),
    shell:
        recorded(
            "python -m vqaloop w2s-targets {params.args} --out {output} > {log} 2>&1"
        )


rule w2s_mine:
    input:
        students=lambda wc: [W.student(miner_of(wc.stage), s) for s in W2S_SEEDS],
        teachers=[W.teacher(t) for t in W2S_TEACHERS],
        manifests=[paths(BASE).manifest(d) for d in (W2S_POOL, W2S_SYNTH, W2S_SOURCE)],
        shaped=W.shaped(),
        anchors=W.anchors(),
        features=student_features([W2S_POOL, W2S_SYNTH, W2S_SOURCE]),
    output:
        [W.pairs("stage{stage}", s) for s in W2S_SEEDS],
    log:
        f"{LOGS}/w2s/mine_stage{{stage}}.log",
    benchmark:
        f"{BENCH}/w2s/mine_stage{{stage}}.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        commands=lambda wc: batch(mine_commands(wc.stage)),
    shell:
        recorded(gpu_shell("python -m vqaloop batch {params.commands} > {log} 2>&1"))


# one job per student: every seed's training (stage 1 from scratch, stages 2-3 from the previous stage's
# student); the anchors and inference settings are not inputs, so editing them retrains nothing
rule w2s_student:
    input:
        unpack(student_inputs),
    output:
        models=[W.student("{student}", s) for s in W2S_SEEDS],
    log:
        f"{LOGS}/w2s/student_{{student}}.log",
    benchmark:
        f"{BENCH}/w2s/student_{{student}}.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    threads: THREADS
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        commands=lambda wc: batch(student_commands(wc.student)),
    shell:
        recorded(
            gpu_shell(
                "python -m vqaloop batch --threads {threads} {params.commands} > {log} 2>&1"
            )
        )


# one job per student: every seed's soft-comparison scores of every test set against the anchors
rule w2s_scores:
    input:
        unpack(score_inputs),
    output:
        evaluations=[W.student_eval("{student}", s) for s in W2S_SEEDS],
        scores=[W.student_scores("{student}", s) for s in W2S_SEEDS],
    log:
        f"{LOGS}/w2s/scores_{{student}}.log",
    benchmark:
        f"{BENCH}/w2s/scores_{{student}}.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    threads: THREADS
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        commands=lambda wc: batch(score_commands(wc.student)),
    shell:
        recorded(
            gpu_shell(
                "python -m vqaloop batch --threads {threads} {params.commands} > {log} 2>&1"
            )
        )


rule w2s_table_build:
    input:
        files=lambda wc: w2s_table_inputs(wc.table),
        manifests=[W.test_set(d) for d in W2S_TESTS],
    output:
        long=report(
            f"{RESULTS}/tables/{{table}}.csv",
            caption="../report/table.rst",
            category="W2S-VQA",
            subcategory=report_subcategory,
            labels=report_labels("long"),
        ),
        wide=report(
            f"{RESULTS}/tables/{{table}}_wide.csv",
            caption="../report/table.rst",
            category="W2S-VQA",
            subcategory=report_subcategory,
            labels=report_labels("wide"),
        ),
        paper=report(
            f"{RESULTS}/tables/{{table}}_vs_paper.csv",
            caption="../report/table_vs_paper.rst",
            category="W2S-VQA",
            subcategory=report_subcategory,
            labels=report_labels("ours beside the paper's"),
        ),
        seeds=report(
            f"{RESULTS}/tables/{{table}}_seeds.csv",
            caption="../report/table.rst",
            category="W2S-VQA",
            subcategory=report_subcategory,
            labels=report_labels("per seed"),
        ),
    log:
        f"{LOGS}/tables/{{table}}.log",
    benchmark:
        f"{BENCH}/tables/{{table}}.tsv"
    wildcard_constraints:
        table="|".join(W2S_TABLES),
    conda:
        CONDA_ENV
    params:
        spec=lambda wc: as_json(w2s_spec(wc.table)),
        work=lambda wc, input: Path(input.manifests[0]).parents[2],  # <work>/w2s/test_sets/<set>.csv
    shell:
        recorded(
            "python -m vqaloop w2s-table --spec {params.spec} --work {params.work} --manifests {input.manifests}"
            " --out {output.long} > {log} 2>&1"
        )


rule w2s_figure:
    input:
        table5=f"{RESULTS}/tables/w2s_table5.csv",
    output:
        report(
            f"{RESULTS}/figures/w2s_teachers_vs_students.png",
            caption="../report/w2s_teachers_vs_students.rst",
            category="W2S-VQA",
            subcategory="Table 5",
            labels={"table": "w2s_table5", "file": "figure (Fig. 4 analogue)"},
        ),
    log:
        f"{LOGS}/tables/w2s_figure.log",
    benchmark:
        f"{BENCH}/tables/w2s_figure.tsv"
    conda:
        CONDA_ENV
    shell:
        recorded(
            "python -m vqaloop w2s-figure --table5 {input.table5} --out {output} > {log} 2>&1"
        )


rule w2s_table1:
    input:
        f"{RESULTS}/tables/w2s_table1.csv",


rule w2s_table5:
    input:
        f"{RESULTS}/tables/w2s_table5.csv",
        rules.w2s_figure.output,


rule w2s_tables:
    input:
        rules.w2s_table1.input,
        rules.w2s_table5.input,
        rules.w2s_shape.output.figure,
