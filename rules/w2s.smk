# W2S-VQA: shaped unlabelled pool -> weak teachers on the MOS scale -> five-level and synthetic pairs ->
# pairwise students (stage 1, then iterative stages 2-3 mined from the previous student) -> soft-comparison
# scores on every test set -> W2S Tables 1 and 5. No rule reads the pool's oracle file (its hidden MOS).


rule w2s_metrics:
    input:
        manifest=paths(BASE).manifest("{dataset}"),
        shards=expand(f"{DATA}/{{{{dataset}}}}/shard{{shard}}", shard=SHARDS),
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
        "python -m vqaloop metrics --manifest {input.manifest} --data-root {params.data} {params.split}"
        " --out {output} > {log} 2>&1"


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
        size=W2S["shaping"]["size"],
        bins=W2S["shaping"]["bins"],
    shell:
        "python -m vqaloop shape --candidates {input.candidates} --reference {input.reference}"
        " --size {params.size} --bins {params.bins} --out {output.picks} --figure {output.figure} > {log} 2>&1"


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
    params:
        kind=lambda wc: W2S["teachers"][wc.teacher]["kind"],
        args=teacher_args,
        sets=" ".join(w2s_sets()),
        source=W2S_SOURCE,
    shell:
        "python -m vqaloop w2s-teacher --teacher {wildcards.teacher} --kind {params.kind} {params.args}"
        " --source {params.source} --sets {params.sets} --out {output.scores} > {log} 2>&1"


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
        "python -m vqaloop w2s-anchors --source-manifest {input.manifest} --teachers {input.teachers}"
        " --count {params.n} --out {output} > {log} 2>&1"


rule w2s_pairs:
    input:
        unpack(pair_inputs),
    output:
        W.pairs("{pairset}", "{seed}"),
    log:
        f"{LOGS}/w2s/pairs_{{pairset}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/w2s/pairs_{{pairset}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    params:
        args=pair_args,
    shell:
        "python -m vqaloop w2s-pairs {params.args} --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule w2s_mine:
    input:
        student=lambda wc: W.student(miner_of(wc.stage), wc.seed),
        teachers=[W.teacher(t) for t in W2S_TEACHERS],
        pool=paths(BASE).manifest(W2S_POOL),
        shaped=W.shaped(),
        ladder=paths(BASE).manifest(W2S_SYNTH),
        source=paths(BASE).manifest(W2S_SOURCE),
        anchors=W.anchors(),
        features=student_features([W2S_POOL, W2S_SYNTH, W2S_SOURCE]),
    output:
        W.pairs("stage{stage}", "{seed}"),
    log:
        f"{LOGS}/w2s/mine_stage{{stage}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/w2s/mine_stage{{stage}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=lambda wc, input: features_root(input.features),
        gmad=W2S["pairs"]["stage_gmad"],
        synthetic=W2S["pairs"]["stage_synthetic"],
        levels=W2S["gmad_levels"],
        inference=inference_args(),
        split_seed=config["seed"],
    shell:
        "python -m vqaloop w2s-mine --student {input.student} --stage {wildcards.stage}"
        " --teachers {input.teachers} --pool {input.pool} --shaped {input.shaped} --ladder {input.ladder}"
        " --source-manifest {input.source} --anchors {input.anchors} --features-root {params.features}"
        " --gmad-count {params.gmad} --synthetic-count {params.synthetic} --levels {params.levels}"
        " --split-seed {params.split_seed} {params.inference} --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule w2s_train:
    input:
        unpack(student_inputs),
    output:
        W.student("{student}", "{seed}"),
    log:
        f"{LOGS}/w2s/train_{{student}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/w2s/train_{{student}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    threads: config.get("threads", 1)
    params:
        features=lambda wc, input: features_root(input.features),
        args=student_args,
    shell:
        "python -m vqaloop w2s-train --pairs {input.pairs} --manifests {input.manifests}"
        " --features-root {params.features} {params.args} --seed {wildcards.seed} --threads {threads}"
        " --out {output} > {log} 2>&1"


rule w2s_evaluate:
    input:
        model=W.student("{student}", "{seed}"),
        anchors=W.anchors(),
        manifests=[paths(BASE).manifest(d) for d in sorted({W2S_SOURCE, *W2S_TESTS})],
        features=student_features(sorted({W2S_SOURCE, *W2S_TESTS})),
    output:
        evaluation=W.student_eval("{student}", "{seed}"),
        scores=W.student_scores("{student}", "{seed}"),
    log:
        f"{LOGS}/w2s/evaluate_{{student}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/w2s/evaluate_{{student}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=lambda wc, input: features_root(input.features),
        sets=" ".join(eval_sets()),
        inference=inference_args(),
    shell:
        "python -m vqaloop w2s-evaluate --model {input.model} --anchors {input.anchors} --sets {params.sets}"
        " --features-root {params.features} {params.inference} --scores-out {output.scores}"
        " --out {output.evaluation} > {log} 2>&1"


rule w2s_table_build:
    input:
        files=lambda wc: w2s_table_inputs(wc.table),
        manifests=[paths(BASE).manifest(d) for d in W2S_TESTS],
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
        work=WORK,
    shell:
        "python -m vqaloop w2s-table --spec {params.spec} --work {params.work} --manifests {input.manifests}"
        " --out {output.long} > {log} 2>&1"


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
        "python -m vqaloop w2s-figure --table5 {input.table5} --out {output} > {log} 2>&1"


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
