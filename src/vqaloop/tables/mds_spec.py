"""Which cells each MDS-VQA table needs: rows (a variant, the base model, or an unavailable marker) and
columns. Used by the Snakemake rules (to request exactly those jobs) and by the table builder."""

from __future__ import annotations

from dataclasses import dataclass

from vqaloop.variants import Variant, mds

TABLES = ("mds_table2", "mds_table3", "mds_table5", "mds_table6", "mds_table7", "mds_table8")


@dataclass(frozen=True)
class Row:
    key: str  # the paper's row key (results/paper/keys.yaml)
    kind: str  # "base" | "variant" | "unavailable"
    variant: str | None = None
    note: str = ""


def default_variant(cfg: dict) -> Variant:
    d = cfg["default"]
    return mds(d["loss"], d["rank"], d["encoder"], d["lambda"])


def table_rows(table: str, cfg: dict, encoder_available: dict[str, tuple[bool, str]]) -> list[Row]:
    """The rows of one table for the ``mds`` config section; unavailable encoders become marked rows."""
    d = cfg["default"]
    best = default_variant(cfg)
    base = Row("base_model", "base")
    if table in ("mds_table2", "mds_table3"):
        return [base, Row("random", "variant", "random"), Row("mds", "variant", best.id)]
    if table == "mds_table5":
        rows = [base, Row("removing_g", "variant", Variant("divonly", encoder=d["encoder"]).id)]
        rows += [Row(loss, "variant", mds(loss, d["rank"], d["encoder"], d["lambda"]).id) for loss in cfg["losses"]]
        return rows
    if table == "mds_table6":
        return [base] + [
            Row(f"lambda_{lam:g}", "variant", mds(d["loss"], d["rank"], d["encoder"], lam).id) for lam in cfg["lambdas"]
        ]
    if table == "mds_table7":
        rows = [base]
        for enc in cfg["diversity_encoders"]:
            key = "base_feature" if enc == "base" else enc
            ok, why = encoder_available.get(enc, (True, ""))
            if ok:
                rows.append(Row(key, "variant", mds(d["loss"], d["rank"], enc, d["lambda"]).id))
            else:
                rows.append(Row(key, "unavailable", note=f"unavailable: {why}"))
        return rows
    if table == "mds_table8":
        return [Row(f"rank_{r}", "variant", mds(d["loss"], r, d["encoder"], d["lambda"]).id) for r in cfg["ranks"]]
    raise KeyError(table)


def all_variants(cfg: dict, encoder_available: dict[str, tuple[bool, str]]) -> list[str]:
    seen: dict[str, None] = {}
    for table in TABLES:
        for row in table_rows(table, cfg, encoder_available):
            if row.kind == "variant":
                seen[row.variant] = None
    return list(seen)


def table_spec(
    table: str, mds_cfg: dict, datasets_cfg: dict, encoder_available: dict, run: str, config_hash: str
) -> dict:
    """Everything the table builder needs, as plain JSON (a rule's params: an edit reruns the table)."""
    rows = table_rows(table, mds_cfg, encoder_available)
    paper_key = {name: ds.get("paper_key", name) for name, ds in datasets_cfg.items()}
    if table == "mds_table2":
        columns = list(mds_cfg["targets"])
    elif table == "mds_table3":
        columns = [mds_cfg["source"], *mds_cfg["targets"]]
    else:
        columns = ["failure_identification", "active_finetuning"]
    return {
        "table": table,
        "rows": [vars(r) for r in rows],
        "columns": columns,
        "paper_key": paper_key,
        "source": mds_cfg["source"],
        "targets": list(mds_cfg["targets"]),
        "ablation_dataset": mds_cfg["ablation_dataset"],
        "seeds": list(mds_cfg["seeds"]),
        "base": mds_cfg["base"],
        "run": run,
        "config_hash": config_hash,
    }
