# Tables and figures. At this stage: the corpus summary and its contact sheet.


rule corpus_summary:
    input:
        manifests=expand(f"{DATA}/manifests/{{dataset}}.csv", dataset=DATASETS),
        oracles=expand(f"{DATA}/oracle/{{dataset}}.csv", dataset=DATASETS),
    output:
        table=f"{RESULTS}/tables/corpus_summary.csv",
        figure=f"{RESULTS}/figures/contact_sheet.png",
    params:
        data=DATA,
        per_dataset=CORPUS.get("contact_sheet_per_dataset", 6),
        roles=as_json({d: s["analogue"] for d, s in CORPUS["datasets"].items()}),
        seed=config["seed"],
    log:
        f"{LOGS}/tables/corpus_summary.log",
    benchmark:
        f"{BENCH}/tables/corpus_summary.tsv"
    shell:
        "python -m vqaloop corpus-summary --manifests {input.manifests} --oracles {input.oracles}"
        " --data-root {params.data} --analogues {params.roles} --per-dataset {params.per_dataset}"
        " --seed {params.seed} --table {output.table} --figure {output.figure} > {log} 2>&1"


rule corpus:
    input:
        rules.corpus_summary.output,
