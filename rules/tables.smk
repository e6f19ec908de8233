# Tables and figures of both papers (the corpus summary and its contact sheet: rules/corpus.smk).


# ---- MDS-VQA tables: one wildcard-free target rule per table ----
if HAS_MDS:

    rule mds_table_build:
        input:
            files=lambda wc: table_inputs(wc.table),
            manifest=paths(BASE).manifest(MDS["source"]),
        output:
            long=report(
                f"{RESULTS}/tables/{{table}}.csv",
                caption="../report/table.rst",
                category="MDS-VQA",
                subcategory=report_subcategory,
                labels=report_labels("long"),
            ),
            wide=report(
                f"{RESULTS}/tables/{{table}}_wide.csv",
                caption="../report/table.rst",
                category="MDS-VQA",
                subcategory=report_subcategory,
                labels=report_labels("wide"),
            ),
            paper=report(
                f"{RESULTS}/tables/{{table}}_vs_paper.csv",
                caption="../report/table_vs_paper.rst",
                category="MDS-VQA",
                subcategory=report_subcategory,
                labels=report_labels("ours beside the paper's"),
            ),
            seeds=report(
                f"{RESULTS}/tables/{{table}}_seeds.csv",
                caption="../report/table.rst",
                category="MDS-VQA",
                subcategory=report_subcategory,
                labels=report_labels("per seed"),
            ),
        log:
            f"{LOGS}/tables/{{table}}.log",
        benchmark:
            f"{BENCH}/tables/{{table}}.tsv"
        wildcard_constraints:
            table="|".join(BUILT_TABLES),
        conda:
            CONDA_ENV
        params:
            spec=lambda wc: as_json(mds_spec(wc.table)),
            data=lambda wc, input: corpus_root(input.manifest),
            work=WORK,
        shell:
            recorded(
                "python -m vqaloop mds-table --spec {params.spec} --data-root {params.data} --work {params.work}"
                " --out {output.long} > {log} 2>&1"
            )

    rule mds_table2:
        input:
            f"{RESULTS}/tables/mds_table2.csv",

    rule mds_table3:
        input:
            f"{RESULTS}/tables/mds_table3.csv",

    rule mds_table4:  # built by rules/gmad.smk (the gMAD competition)
        input:
            rules.mds_table4_build.output,

    rule mds_table5:
        input:
            f"{RESULTS}/tables/mds_table5.csv",

    rule mds_table6:
        input:
            f"{RESULTS}/tables/mds_table6.csv",

    rule mds_table7:
        input:
            f"{RESULTS}/tables/mds_table7.csv",

    rule mds_table8:
        input:
            f"{RESULTS}/tables/mds_table8.csv",

    rule mds_table9:
        input:
            f"{RESULTS}/tables/mds_table9.csv",

    rule mds_figures:
        input:
            predictions=paths(BASE).f_predictions(MDS["ablation_dataset"]),
            oracle=paths(BASE).oracle(MDS["ablation_dataset"]),
            mds=paths(BASE)
            .scoped(DEFAULT_VARIANT)
            .selection(DEFAULT_VARIANT, min(MDS["seeds"]), MDS["ablation_dataset"]),
            random=paths(BASE)
            .scoped("random")
            .selection("random", min(MDS["seeds"]), MDS["ablation_dataset"]),
            table6=f"{RESULTS}/tables/mds_table6.csv",
        output:
            scatter=report(
                f"{RESULTS}/figures/mds_failure_scatter.png",
                caption="../report/mds_failure_scatter.rst",
                category="MDS-VQA",
                subcategory="Table 2",
                labels={"table": "mds_table2", "file": "figure (Fig. 1 analogue)"},
            ),
            tradeoff=report(
                f"{RESULTS}/figures/mds_lambda_tradeoff.png",
                caption="../report/mds_lambda_tradeoff.rst",
                category="MDS-VQA",
                subcategory="Table 6",
                labels={"table": "mds_table6", "file": "figure"},
            ),
        log:
            f"{LOGS}/tables/mds_figures.log",
        benchmark:
            f"{BENCH}/tables/mds_figures.tsv"
        conda:
            CONDA_ENV
        params:
            dataset=MDS["ablation_dataset"],
        shell:
            recorded(
                "python -m vqaloop mds-figures --predictions {input.predictions} --oracle {input.oracle}"
                " --dataset {params.dataset} --mds-selection {input.mds} --random-selection {input.random}"
                " --table6 {input.table6} --scatter {output.scatter} --tradeoff {output.tradeoff} > {log} 2>&1"
            )

    rule mds_methods_figure:
        input:
            tables=expand(
                f"{RESULTS}/tables/{{table}}.csv",
                table=[
                    t
                    for t in ("mds_table2", "mds_table3", "mds_table9")
                    if t in BUILT_TABLES
                ],
            ),
            paper="results/paper/mds_table2.csv",
        output:
            report(
                f"{RESULTS}/figures/mds_methods.png",
                caption="../report/mds_methods.rst",
                category="MDS-VQA",
                subcategory="Figures",
                labels={"table": "mds_table2, 3, 9", "file": "figure"},
            ),
        log:
            f"{LOGS}/tables/mds_methods_figure.log",
        benchmark:
            f"{BENCH}/tables/mds_methods_figure.tsv"
        conda:
            CONDA_ENV
        params:
            paper=lambda wc, input: Path(input.paper).parent,
        shell:
            recorded(
                "python -m vqaloop mds-methods-figure --tables {input.tables} --paper-root {params.paper}"
                " --out {output} > {log} 2>&1"
            )

    rule mds_tables:
        input:
            expand(f"{RESULTS}/tables/{{table}}.csv", table=BUILT_TABLES),
            rules.mds_figures.output,
            rules.mds_methods_figure.output,
            rules.mds_table4.input,
