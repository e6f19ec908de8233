# Active fine-tuning of f on the source training split plus every target's revealed selection, and its
# evaluation on all test splits. LoRA for the default base model, full fine-tuning for the Table-9 ones.


rule finetune:
    input:
        base=P.f_model(),
        manifest=P.manifest(MDS["source"]),
        labels=lambda wc: [labels_for(wc.base, wc.variant, wc.seed, d) for d in TARGETS],
        features=lambda wc: [
            P.features(d, e) for d in EVAL_DATASETS for e in base_encoders(wc.base)
        ],
    output:
        P.ft_model("{variant}", "{seed}"),
    log:
        f"{LOGS}/mds/{{base}}/finetune_{{variant}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/finetune_{{variant}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
        optim=lambda wc: optim_args(wc.base, "finetune"),
        rank=lambda wc: training(wc.base, "finetune").get("rank", 64),
        full=lambda wc: (
            "--full" if training(wc.base, "finetune").get("full", False) else ""
        ),
    shell:
        "python -m vqaloop finetune --base-model {input.base} --source-manifest {input.manifest}"
        " --labels {input.labels} --features-root {params.features} --rank {params.rank} {params.full}"
        " {params.optim} --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule evaluate_finetuned:
    input:
        model=P.ft_model("{variant}", "{seed}"),
        manifests=[P.manifest(d) for d in EVAL_DATASETS],
    output:
        P.ft_eval("{variant}", "{seed}"),
    log:
        f"{LOGS}/mds/{{base}}/evaluate_{{variant}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/evaluate_{{variant}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
    shell:
        "python -m vqaloop evaluate --model {input.model} --manifests {input.manifests}"
        " --features-root {params.features} --out {output} > {log} 2>&1"
