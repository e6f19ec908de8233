# Active fine-tuning of f on the source training split plus every target's revealed selection, its evaluation
# on all test splits and its scores of the gMAD pool: one job per base and variant, every seed. LoRA for the
# default base model, full fine-tuning for the Table-9 ones.


rule finetune:
    input:
        base=P.f_model(),
        manifests=[P.manifest(d) for d in sorted({*EVAL_DATASETS, GMAD_DATASET})],
        labels=lambda wc: [
            labels_for(wc.base, wc.variant, s, d) for s in SEEDS for d in TARGETS
        ],
        features=lambda wc: [
            P.features(d, e)
            for d in sorted({*EVAL_DATASETS, GMAD_DATASET})
            for e in base_encoders(wc.base)
        ],
    output:
        models=[P.ft_model("{variant}", s) for s in SEEDS],
        evaluations=[P.ft_eval("{variant}", s) for s in SEEDS],
        predictions=[P.ft_predictions("{variant}", s, GMAD_DATASET) for s in SEEDS],
    log:
        f"{LOGS}/mds/{{base}}/finetune_{{variant}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/finetune_{{variant}}.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        commands=lambda wc: batch(finetune_commands(wc.base, wc.variant)),
    shell:
        recorded(gpu_shell("python -m vqaloop batch {params.commands} > {log} 2>&1"))
