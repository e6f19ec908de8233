# The failure predictor g (LoRA on f) per base and g id (<loss>_r<rank>[_oof]): one job trains g for every
# seed on the source set, one scores every target pool's difficulty. "_oof": g learns f's out-of-fold errors
# (rule oof_errors).


rule train_g:
    input:
        unpack(g_inputs),
    output:
        [P.g_model("{g}", s) for s in SEEDS],
    log:
        f"{LOGS}/mds/{{base}}/train_g_{{g}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/train_g_{{g}}.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        commands=lambda wc: batch(train_g_commands(wc.base, wc.g)),
    shell:
        recorded(gpu_shell("python -m vqaloop batch {params.commands} > {log} 2>&1"))


rule difficulty:
    input:
        models=[P.g_model("{g}", s) for s in SEEDS],
        manifests=[P.manifest(d) for d in TARGETS],
        features=lambda wc: [
            P.features(d, e) for d in TARGETS for e in base_encoders(wc.base)
        ],
    output:
        [P.difficulty("{g}", s, d) for s in SEEDS for d in TARGETS],
    log:
        f"{LOGS}/mds/{{base}}/difficulty_{{g}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/difficulty_{{g}}.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container()
    resources:
        gpu=gpus(),
        gpu_model=gpu_model(),
    params:
        commands=lambda wc: batch(difficulty_commands(wc.base, wc.g)),
    shell:
        recorded(gpu_shell("python -m vqaloop batch {params.commands} > {log} 2>&1"))
