# The failure predictor g (LoRA on f) per base, loss, rank and seed, and its difficulty on target pools.


rule train_g:
    input:
        base=P.f_model(),
        manifest=P.manifest(MDS["source"]),
        features=lambda wc: [
            P.features(MDS["source"], e) for e in base_encoders(wc.base)
        ],
    output:
        P.g_model("{loss}_r{rank}", "{seed}"),
    log:
        f"{LOGS}/mds/{{base}}/train_g_{{loss}}_r{{rank}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/train_g_{{loss}}_r{{rank}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
        optim=lambda wc: optim_args(wc.base, "g"),
    shell:
        "python -m vqaloop train-g --base-model {input.base} --manifest {input.manifest}"
        " --features-root {params.features} --loss {wildcards.loss} --rank {wildcards.rank}"
        " {params.optim} --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule difficulty:
    input:
        model=P.g_model("{loss}_r{rank}", "{seed}"),
        manifest=P.manifest("{dataset}"),
        features=lambda wc: [P.features(wc.dataset, e) for e in base_encoders(wc.base)],
    output:
        P.difficulty("{loss}_r{rank}", "{seed}", "{dataset}"),
    log:
        f"{LOGS}/mds/{{base}}/difficulty_{{loss}}_r{{rank}}_seed{{seed}}_{{dataset}}.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/difficulty_{{loss}}_r{{rank}}_seed{{seed}}_{{dataset}}.tsv"
    conda:
        CONDA_ENV
    params:
        features=f"{DATA}/features",
    shell:
        "python -m vqaloop predict --model {input.model} --manifest {input.manifest} --split pool"
        " --column difficulty --features-root {params.features} --out {output} > {log} 2>&1"
