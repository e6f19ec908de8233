# Base quality models f (the default, the Table-9 alternatives and W2S teachers): trained on the source
# training split; then one job per base evaluates f and scores the datasets read later (vqaloop batch).


rule train_base:
    input:
        manifest=P.manifest(MDS["source"]),
        features=lambda wc: [
            P.features(MDS["source"], e) for e in base_encoders(wc.base)
        ],
    output:
        P.f_model(),
    log:
        f"{LOGS}/mds/{{base}}/train_base.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/train_base.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        command=lambda wc: train_base_command(wc.base),
    shell:
        recorded(gpu_shell("python -m vqaloop {params.command} > {log} 2>&1"))


# f on every test split (its evaluation) and its scores of the datasets read later (tables, gMAD): one job
rule score_base:
    input:
        model=P.f_model(),
        manifests=[P.manifest(d) for d in sorted({*EVAL_DATASETS, *F_PREDICT_DATASETS})],
        features=lambda wc: [
            P.features(d, e)
            for d in sorted({*EVAL_DATASETS, *F_PREDICT_DATASETS})
            for e in base_encoders(wc.base)
        ],
    output:
        evaluation=P.f_eval(),
        predictions=[P.f_predictions(d) for d in F_PREDICT_DATASETS],
    log:
        f"{LOGS}/mds/{{base}}/score_base.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/score_base.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        commands=lambda wc: batch(score_base_commands(wc.base)),
    shell:
        recorded(gpu_shell("python -m vqaloop batch {params.commands} > {log} 2>&1"))


rule oof_errors:
    input:
        manifest=P.manifest(MDS["source"]),
        features=lambda wc: [
            P.features(MDS["source"], e) for e in base_encoders(wc.base)
        ],
    output:
        P.oof_errors(),
    log:
        f"{LOGS}/mds/{{base}}/oof_errors.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/oof_errors.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        features=FEATURES_ROOT,
        optim=lambda wc: optim_args(wc.base, "base"),
        hidden=lambda wc: training(wc.base, "base").get("hidden", 128),
        folds=MDS.get("out_of_fold", {}).get("folds", 5),
        seed=config["seed"],
    shell:
        recorded(
            gpu_shell(
                "python -m vqaloop oof-errors --base {wildcards.base} --manifest {input.manifest}"
                " --features-root {params.features} --hidden {params.hidden} {params.optim} --folds {params.folds}"
                " --seed {params.seed} --out {output} > {log} 2>&1"
            )
        )


# f's own per-frame embeddings (the `base` diversity encoder of Table 7) on the source and every target
rule base_features:
    input:
        model=P.f_model(),
        manifests=[P.manifest(d) for d in EVAL_DATASETS],
        features=lambda wc: [
            P.features(d, e) for d in EVAL_DATASETS for e in base_encoders(wc.base)
        ],
    output:
        [P.features(d, "base") for d in EVAL_DATASETS],
    log:
        f"{LOGS}/mds/{{base}}/base_features.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/base_features.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        commands=lambda wc, input, output: batch(
            f"embed --model {input.model} --manifest {m} --features-root {FEATURES_ROOT} --out {o}"
            for m, o in zip(input.manifests, output)
        ),
    shell:
        recorded(gpu_shell("python -m vqaloop batch {params.commands} > {log} 2>&1"))
