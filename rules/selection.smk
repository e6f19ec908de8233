# Selection from each target pool under the budget, then the label oracle reveals the selected MOS only.
# Selections that use neither f nor g live under base "shared" and serve every base model.


rule select:
    input:
        unpack(selection_inputs),
    output:
        P.selection("{variant}", "{seed}", "{dataset}"),
    log:
        f"{LOGS}/mds/{{base}}/select_{{variant}}_seed{{seed}}_{{dataset}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/select_{{variant}}_seed{{seed}}_{{dataset}}.tsv"
    conda:
        CONDA_ENV
    params:
        args=selection_args,
        budget=MDS["budget"],
    shell:
        "python -m vqaloop select {params.args} --features {input.features} --pool {input.manifest}"
        " --budget {params.budget} --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule reveal:
    input:
        selection=P.selection("{variant}", "{seed}", "{dataset}"),
        oracle=P.oracle("{dataset}"),
    output:
        P.labels("{variant}", "{seed}", "{dataset}"),
    log:
        f"{LOGS}/mds/{{base}}/reveal_{{variant}}_seed{{seed}}_{{dataset}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/reveal_{{variant}}_seed{{seed}}_{{dataset}}.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m vqaloop reveal --selection {input.selection} --oracle {input.oracle}"
        " --dataset {wildcards.dataset} --out {output} > {log} 2>&1"
