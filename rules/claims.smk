# Claim-by-claim verdicts (MDS-VQA Tables 2-9, W2S-VQA Tables 1 and 5): paired one-sided t-tests over seeds
# on the tables' per-seed files (<table>_seeds.csv), powered against the published effects (<table>_vs_paper.csv),
# and the gMAD competitions (vqaloop claims; decisions in
# src/vqaloop/tables/claims.py), and the positive controls' rows. Include after rules/tables.smk, rules/w2s.smk and
# rules/controls.smk.

CLAIMS_TABLES = [*(BUILT_TABLES if HAS_MDS else []), *(W2S_TABLES if HAS_W2S else [])]
CLAIMS_PAPERS = [p for p, present in (("mds", HAS_MDS), ("w2s", HAS_W2S)) if present]
# the positive controls' rows (rules/controls.smk)
CLAIMS_CONTROLS = CONTROL_TABLES if HAS_CONTROLS else []


rule claims:
    input:
        seeds=expand(f"{RESULTS}/tables/{{table}}_seeds.csv", table=CLAIMS_TABLES),
        tables=expand(f"{RESULTS}/tables/{{table}}.csv", table=CLAIMS_TABLES),
        published=expand(
            f"{RESULTS}/tables/{{table}}_vs_paper.csv", table=CLAIMS_TABLES
        ),
        gmad=[paths(BASE).gmad_result(s) for s in SEEDS] if HAS_MDS else [],
        controls=expand(
            f"{RESULTS}/tables/{{control}}_seeds.csv", control=CLAIMS_CONTROLS
        ),
    output:
        csv=report(
            f"{RESULTS}/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
            subcategory="Verdicts",
            labels={"table": "claims", "file": "csv"},
        ),
        markdown=report(
            f"{RESULTS}/tables/claims.md",
            caption="../report/claims.rst",
            category="Claims",
            subcategory="Verdicts",
            labels={"table": "claims", "file": "markdown"},
        ),
    log:
        f"{LOGS}/tables/claims.log",
    benchmark:
        f"{BENCH}/tables/claims.tsv"
    conda:
        CONDA_ENV
    params:
        tables=lambda wc, output: Path(output.csv).parent,
        gmad=lambda wc, input: f"--gmad {' '.join(input.gmad)}" if input.gmad else "",
        papers=" ".join(CLAIMS_PAPERS),
        controls=f"--controls {' '.join(CLAIMS_CONTROLS)}" if CLAIMS_CONTROLS else "",
        level=0.05,  # the significance level written in every row
    shell:
        recorded(
            "python -m vqaloop claims --tables-dir {params.tables} {params.gmad} --papers {params.papers} {params.controls}"
            " --level {params.level} --out {output.csv} --markdown {output.markdown} > {log} 2>&1"
        )
