# Selection from each target pool under the budget, then the label oracle reveals the selected MOS only: one
# job per variant for every seed and target. Selections that use neither f nor g live under base "shared" and
# serve every base model.


rule select:
    input:
        unpack(
            lambda wc: merged_inputs(
                selection_inputs(wc.base, wc.variant, s, d)
                for s in SEEDS
                for d in TARGETS
            )
        ),
    output:
        [P.selection("{variant}", s, d) for s in SEEDS for d in TARGETS],
    log:
        f"{LOGS}/mds/{{base}}/select_{{variant}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/select_{{variant}}.tsv"
    conda:
        CONDA_ENV
    container:
        gpu_container(select_runs_model)
    resources:
        gpu=gpus(select_runs_model),
        gpu_model=gpu_model(select_runs_model),
    params:
        commands=lambda wc: batch(
            select_command(wc.base, wc.variant, s, d) for s in SEEDS for d in TARGETS
        ),
    shell:
        recorded(gpu_shell("python -m vqaloop batch {params.commands} > {log} 2>&1"))


rule reveal:
    input:
        selections=[P.selection("{variant}", s, d) for s in SEEDS for d in TARGETS],
        oracles=[P.oracle(d) for d in TARGETS],
    output:
        [P.labels("{variant}", s, d) for s in SEEDS for d in TARGETS],
    log:
        f"{LOGS}/mds/{{base}}/reveal_{{variant}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/reveal_{{variant}}.tsv"
    conda:
        CONDA_ENV
    params:
        commands=lambda wc: batch(
            reveal_command(wc.base, wc.variant, s, d) for s in SEEDS for d in TARGETS
        ),
    shell:
        recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")
