# gMAD competition (MDS-VQA Table 4): the base model and every fine-tuned model of Table 3 score the gMAD
# pool (rules base_model, finetune); each seed's models compete; Table 4 ranks them by SRCC (Table 3's mean)
# and by gMAD.


rule gmad_competition:
    input:
        unpack(gmad_inputs),
    output:
        results=[P.gmad_result(s) for s in SEEDS],
        pairs=[P.gmad_pairs(s) for s in SEEDS],
    log:
        f"{LOGS}/mds/{{base}}/gmad.log",
    benchmark:
        f"{BENCH}/mds/{{base}}/gmad.tsv"
    conda:
        CONDA_ENV
    params:
        commands=lambda wc: batch(gmad_commands(wc.base)),
    shell:
        recorded("python -m vqaloop batch {params.commands} > {log} 2>&1")


rule mds_table4_build:
    input:
        gmad=[paths(BASE).gmad_result(s) for s in SEEDS],
        table3=f"{RESULTS}/tables/mds_table3.csv",
        manifest=paths(BASE).manifest(MDS["gmad"]["dataset"]),
    output:
        long=report(
            f"{RESULTS}/tables/mds_table4.csv",
            caption="../report/table.rst",
            category="MDS-VQA",
            subcategory="Table 4",
            labels=report_labels("long", "mds_table4"),
        ),
        wide=report(
            f"{RESULTS}/tables/mds_table4_wide.csv",
            caption="../report/table.rst",
            category="MDS-VQA",
            subcategory="Table 4",
            labels=report_labels("wide", "mds_table4"),
        ),
        paper=report(
            f"{RESULTS}/tables/mds_table4_vs_paper.csv",
            caption="../report/table_vs_paper.rst",
            category="MDS-VQA",
            subcategory="Table 4",
            labels=report_labels("ours beside the paper's", "mds_table4"),
        ),
        figure=report(
            f"{RESULTS}/figures/mds_gmad_pairs.png",
            caption="../report/mds_gmad_pairs.rst",
            category="MDS-VQA",
            subcategory="Table 4",
            labels={"table": "mds_table4", "file": "figure (Fig. 3 analogue)"},
        ),
    log:
        f"{LOGS}/tables/mds_table4.log",
    benchmark:
        f"{BENCH}/tables/mds_table4.tsv"
    conda:
        CONDA_ENV
    params:
        data=lambda wc, input: corpus_root(input.manifest),
        config_hash=table4_config_hash(),
    shell:
        recorded(
            "python -m vqaloop mds-table4 --gmad {input.gmad} --table3 {input.table3} --out {output.long}"
            " --config-hash {params.config_hash} --figure {output.figure} --manifest {input.manifest}"
            " --data-root {params.data} > {log} 2>&1"
        )
