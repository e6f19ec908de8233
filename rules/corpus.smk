# Embedded corpus: sources -> catalogue -> per-dataset plan -> rendered shards (pristine, distorted, VMAF)
# -> manifests (+ hidden pool labels for the label oracle).


rule sources:
    output:
        f"{DATA}/sources/inventory.csv",
    log:
        f"{LOGS}/corpus/sources.log",
    benchmark:
        f"{BENCH}/corpus/sources.tsv"
    conda:
        CONDA_ENV
    params:
        sources=" ".join(CORPUS["sources"]),
        cache=config["cache_dir"],
    shell:
        recorded(
            "python -m vqaloop sources --cache {params.cache} --sources {params.sources}"
            " --out {output} > {log} 2>&1"
        )


rule catalogue:
    input:
        rules.sources.output,
    output:
        f"{DATA}/catalogue.csv",
    log:
        f"{LOGS}/corpus/catalogue.log",
    benchmark:
        f"{BENCH}/corpus/catalogue.tsv"
    conda:
        CONDA_ENV
    params:
        settings=as_json(CORPUS["catalogue"]),
        seconds=CORPUS["clip"]["seconds"],
        seed=config["seed"],
        cache=config["cache_dir"],
    shell:
        recorded(
            "python -m vqaloop catalogue --inventory {input} --cache {params.cache} --clip-seconds {params.seconds}"
            " --params {params.settings} --seed {params.seed} --out {output} > {log} 2>&1"
        )


rule plan:
    input:
        rules.catalogue.output,
    output:
        f"{DATA}/plans/{{dataset}}.csv",
    log:
        f"{LOGS}/corpus/plan_{{dataset}}.log",
    benchmark:
        f"{BENCH}/corpus/plan_{{dataset}}.tsv"
    wildcard_constraints:
        dataset=RENDERED_PATTERN,
    conda:
        CONDA_ENV
    params:
        allocation=as_json(
            {d: s.get("contents", {}) for d, s in CORPUS["datasets"].items()}
        ),
        spec=lambda wc: as_json(plan_slice(wc.dataset)),
        seed=config["seed"],
        shards=CORPUS["shards"],
    shell:
        recorded(
            "python -m vqaloop plan --catalogue {input} --dataset {wildcards.dataset}"
            " --allocation {params.allocation} --spec {params.spec} --seed {params.seed}"
            " --shards {params.shards} --out {output} > {log} 2>&1"
        )


rule render:
    input:
        plan=rules.plan.output,
        catalogue=rules.catalogue.output,
    output:
        directory(f"{DATA}/{{dataset}}/shard{{shard}}"),
    log:
        f"{LOGS}/corpus/render_{{dataset}}_shard{{shard}}.log",
    benchmark:
        f"{BENCH}/corpus/render_{{dataset}}_shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    params:
        clip=as_json(CORPUS["clip"]),
        noise=CORPUS["label"]["rater_noise_sd"],
        data=lambda wc, input: corpus_root(input.plan),
        vmaf=lambda wc: (
            "" if CORPUS["datasets"][wc.dataset].get("vmaf", True) else "--no-vmaf"
        ),
        codecs=lambda wc: codec_args(wc.dataset),
        cache=config["cache_dir"],
    shell:
        recorded(
            "python -m vqaloop render --plan {input.plan} --catalogue {input.catalogue}"
            " --shard {wildcards.shard} --data-root {params.data} --clip {params.clip}"
            " --rater-noise-sd {params.noise} {params.vmaf} {params.codecs} --cache {params.cache} --out {output} > {log} 2>&1"
        )


rule manifest:
    input:
        plan=rules.plan.output,
        shards=expand(f"{DATA}/{{{{dataset}}}}/shard{{shard}}", shard=SHARDS),
    output:
        manifest=f"{DATA}/manifests/{{dataset}}.csv",
        oracle=f"{DATA}/oracle/{{dataset}}.csv",
    log:
        f"{LOGS}/corpus/manifest_{{dataset}}.log",
    benchmark:
        f"{BENCH}/corpus/manifest_{{dataset}}.tsv"
    wildcard_constraints:
        dataset=RENDERED_PATTERN,
    conda:
        CONDA_ENV
    shell:
        recorded(
            "python -m vqaloop manifest --plan {input.plan} --shards {input.shards}"
            " --out {output.manifest} --oracle {output.oracle} > {log} 2>&1"
        )


# One of the papers' datasets, read from where the user keeps it by its adapter (vqaloop.datasets): the
# manifest (absolute video paths) and the oracle with the splits its role needs (vqaloop.corpus.external).
rule adapt_dataset:
    output:
        manifest=f"{DATA}/manifests/{{dataset}}.csv",
        oracle=f"{DATA}/oracle/{{dataset}}.csv",
    log:
        f"{LOGS}/corpus/adapt_{{dataset}}.log",
    benchmark:
        f"{BENCH}/corpus/adapt_{{dataset}}.tsv"
    wildcard_constraints:
        dataset=ADAPTED_PATTERN,
    conda:
        CONDA_ENV
    params:
        args=lambda wc: adapter_args(wc.dataset),
        seed=config["seed"],
    shell:
        recorded(
            "python -m vqaloop adapt {params.args} --dataset {wildcards.dataset} --seed {params.seed}"
            " --out {output.manifest} --oracle {output.oracle} > {log} 2>&1"
        )


# The corpus summary table and its contact sheet; `snakemake corpus` builds the whole corpus through them.
rule corpus_summary:
    input:
        manifests=expand(f"{DATA}/manifests/{{dataset}}.csv", dataset=DATASETS),
        oracles=expand(f"{DATA}/oracle/{{dataset}}.csv", dataset=DATASETS),
    output:
        table=report(
            f"{RESULTS}/tables/corpus_summary.csv",
            caption="../report/corpus_summary.rst",
            category="Corpus",
            subcategory="Embedded corpus",
        ),
        figure=report(
            f"{RESULTS}/figures/contact_sheet.png",
            caption="../report/contact_sheet.rst",
            category="Corpus",
            subcategory="Embedded corpus",
        ),
    log:
        f"{LOGS}/tables/corpus_summary.log",
    benchmark:
        f"{BENCH}/tables/corpus_summary.tsv"
    conda:
        CONDA_ENV
    params:
        data=lambda wc, input: corpus_root(input.manifests[0]),
        per_dataset=with_defaults(config, "corpus")["contact_sheet_per_dataset"],
        roles=as_json({d: s["analogue"] for d, s in CORPUS["datasets"].items()}),
        domains=as_json({d: s["domain"] for d, s in CORPUS["datasets"].items()}),
        seed=config["seed"],
    shell:
        recorded(
            "python -m vqaloop corpus-summary --manifests {input.manifests} --oracles {input.oracles}"
            " --data-root {params.data} --analogues {params.roles} --domains {params.domains}"
            " --per-dataset {params.per_dataset}"
            " --seed {params.seed} --table {output.table} --figure {output.figure} > {log} 2>&1"
        )


rule corpus:
    input:
        rules.corpus_summary.output,
