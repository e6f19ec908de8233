# The HTML report (snakemake --report; `make report`): helpers of the report() wrappers in rules/tables.smk,
# rules/gmad.smk, rules/w2s.smk and rules/claims.smk. Captions live in report/; include before those files.


def report_subcategory(wildcards):
    """The report's subcategory of a table rule's outputs: mds_table2 -> "Table 2"."""
    return f"Table {wildcards.table.rsplit('table', 1)[1]}"


def report_labels(kind, table=None):
    """The report's labels of a table file: which table, which of its files."""
    if table is not None:
        return {"table": table, "file": kind}
    return lambda wildcards: {"table": wildcards.table, "file": kind}
