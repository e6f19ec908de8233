# Base quality models f (the default and the Table-9 alternatives): trained on the source training split,
# then scored on every dataset.


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
    params:
        features=f"{DATA}/features",
        optim=lambda wc: optim_args(wc.base, "base"),
        hidden=lambda wc: training(wc.base, "base").get("hidden", 128),
        seed=config["seed"],
    shell:
        "python -m vqaloop train-base --base {wildcards.base} --manifest {input.manifest}"
        " --features-root {params.features} --hidden {params.hidden} {params.optim} --seed {params.seed}"
        " --out {output} > {log} 2>&1"


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
    params:
        features=f"{DATA}/features",
        optim=lambda wc: optim_args(wc.base, "base"),
        hidden=lambda wc: training(wc.base, "base").get("hidden", 128),
        folds=MDS.get("out_of_fold", {}).get("folds", 5),
        seed=config["seed"],
    shell:
        "python -m vqaloop oof-errors --base {wildcards.base} --manifest {input.manifest}"
        " --features-root {params.features} --hidden {params.hidden} {params.optim} --folds {params.folds}"
        " --seed {params.seed} --out {output} > {log} 2>&1"


rule predict_base:
    input:
        model=P.f_model(),
        manifest=P.manifest("{dataset}"),
        features=lambda wc: [P.features(wc.dataset, e) for e in base_encoders(wc.base)],
    output:
        P.f_predictions("{dataset}"),
    log:
        f"{LOGS}/mds/{{base}}/predict_base_{{dataset}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/predict_base_{{dataset}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
    shell:
        "python -m vqaloop predict --model {input.model} --manifest {input.manifest}"
        " --features-root {params.features} --out {output} > {log} 2>&1"


rule base_features:
    input:
        model=P.f_model(),
        manifest=P.manifest("{dataset}"),
        features=lambda wc: [P.features(wc.dataset, e) for e in base_encoders(wc.base)],
    output:
        P.features("{dataset}", "base"),
    log:
        f"{LOGS}/mds/{{base}}/base_features_{{dataset}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/base_features_{{dataset}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
    shell:
        "python -m vqaloop embed --model {input.model} --manifest {input.manifest}"
        " --features-root {params.features} --out {output} > {log} 2>&1"


rule evaluate_base:
    input:
        model=P.f_model(),
        manifests=[P.manifest(d) for d in EVAL_DATASETS],
        features=lambda wc: [
            P.features(d, e) for d in EVAL_DATASETS for e in base_encoders(wc.base)
        ],
    output:
        P.f_eval(),
    log:
        f"{LOGS}/mds/{{base}}/evaluate_base.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/evaluate_base.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
    shell:
        "python -m vqaloop evaluate --model {input.model} --manifests {input.manifests}"
        " --features-root {params.features} --out {output} > {log} 2>&1"
