# The failure predictor g (LoRA on f) per base, g id (<loss>_r<rank>[_oof]) and seed, and its difficulty on
# target pools. "_oof": g learns f's out-of-fold errors (rule oof_errors) instead of its in-sample ones.


rule train_g:
    input:
        unpack(g_inputs),
    output:
        P.g_model("{g}", "{seed}"),
    log:
        f"{LOGS}/mds/{{base}}/train_g_{{g}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/train_g_{{g}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
        optim=lambda wc: optim_args(wc.base, "g"),
        g=lambda wc, input: g_args(wc.g, input),
    shell:
        "python -m vqaloop train-g --base-model {input.base} --manifest {input.manifest}"
        " --features-root {params.features} {params.g}"
        " {params.optim} --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule difficulty:
    input:
        model=P.g_model("{g}", "{seed}"),
        manifest=P.manifest("{dataset}"),
        features=lambda wc: [P.features(wc.dataset, e) for e in base_encoders(wc.base)],
    output:
        P.difficulty("{g}", "{seed}", "{dataset}"),
    log:
        f"{LOGS}/mds/{{base}}/difficulty_{{g}}_seed{{seed}}_{{dataset}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/difficulty_{{g}}_seed{{seed}}_{{dataset}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
    shell:
        "python -m vqaloop predict --model {input.model} --manifest {input.manifest} --split pool"
        " --column difficulty --features-root {params.features} --out {output} > {log} 2>&1"
