# Active fine-tuning of f on the source training split plus every target's revealed selection, and its
# evaluation on all test splits.


rule finetune:
    input:
        base=P.f_model(),
        manifest=P.manifest(MDS["source"]),
        labels=[P.labels("{variant}", "{seed}", d) for d in MDS["targets"]],
        features=[P.features(d, e) for d in EVAL_DATASETS for e in BASE_ENCODERS],
    output:
        P.ft_model("{variant}", "{seed}"),
    log:
        f"{LOGS}/mds/finetune_{{variant}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/mds/finetune_{{variant}}_seed{{seed}}.tsv"
    params:
        features=f"{DATA}/features",
        optim=optim_args("finetune"),
        rank=MDS["training"]["finetune"].get("rank", 64),
    shell:
        "python -m vqaloop finetune --base-model {input.base} --source-manifest {input.manifest}"
        " --labels {input.labels} --features-root {params.features} --rank {params.rank} {params.optim}"
        " --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule evaluate_finetuned:
    input:
        model=P.ft_model("{variant}", "{seed}"),
        manifests=[P.manifest(d) for d in EVAL_DATASETS],
    output:
        P.ft_eval("{variant}", "{seed}"),
    log:
        f"{LOGS}/mds/evaluate_{{variant}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/mds/evaluate_{{variant}}_seed{{seed}}.tsv"
    params:
        features=f"{DATA}/features",
    shell:
        "python -m vqaloop evaluate --model {input.model} --manifests {input.manifests}"
        " --features-root {params.features} --out {output} > {log} 2>&1"
