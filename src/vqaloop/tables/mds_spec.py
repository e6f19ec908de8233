"""Which cells each MDS-VQA table needs: rows (a variant of one base model, the base model itself, or an
unavailable marker) and columns. Used by the Snakemake rules (to request exactly those jobs) and by the
table builder."""

from __future__ import annotations

from dataclasses import dataclass

from vqaloop.variants import OOF, Variant, mds

TABLES = ("mds_table2", "mds_table3", "mds_table5", "mds_table6", "mds_table7", "mds_table8", "mds_table9")


# Deviations a method's row carries in its long and side-by-side CSVs (README "Deviations and choices").
METHOD_NOTES = {
    "freesel": "stand-in: EfficientNet-Lite0 saliency patterns (effnet_patterns) instead of ViT CLS attention",
    "mds_oof": "extra (not in the paper): MDS-VQA with g trained on f's out-of-fold errors",
}


@dataclass(frozen=True)
class Row:
    key: str  # the paper's row key (results/paper/keys.yaml)
    kind: str  # "base" | "variant" | "unavailable"
    variant: str | None = None
    note: str = ""
    base: str = ""  # the base model whose predictions / fine-tuning the row reads


def default_variant(cfg: dict, errors: str = "") -> Variant:
    d = cfg["default"]
    return mds(d["loss"], d["rank"], d["encoder"], d["lambda"], errors)


def method_rows(cfg: dict, base: str, prefix: str = "") -> list[Row]:
    """Base model, then every configured method (Tables 2, 3, 9), MDS-VQA last as in the paper."""
    rows = [Row(f"{prefix}base_model", "base", base=base)]
    for method in cfg["methods"]:
        variant = {"mds": default_variant(cfg).id, "mds_oof": default_variant(cfg, OOF).id}.get(method, method)
        rows.append(Row(f"{prefix}{method}", "variant", variant, base=base, note=METHOD_NOTES.get(method, "")))
    return rows


def table_rows(table: str, cfg: dict, encoder_available: dict[str, tuple[bool, str]]) -> list[Row]:
    """The rows of one table for the ``mds`` config section; unavailable encoders become marked rows."""
    d, base = cfg["default"], cfg["base"]
    if table in ("mds_table2", "mds_table3"):
        return method_rows(cfg, base)
    if table == "mds_table9":
        rows = []
        for alt, spec in cfg.get("alternative_bases", {}).items():
            rows += method_rows(cfg, alt, prefix=f"{spec.get('paper_key', alt)}/")
        return rows
    rows = [Row("base_model", "base", base=base)] if table != "mds_table8" else []
    if table == "mds_table5":
        rows.append(Row("removing_g", "variant", Variant("divonly", encoder=d["encoder"]).id, base=base))
        rows += [
            Row(loss, "variant", mds(loss, d["rank"], d["encoder"], d["lambda"]).id, base=base)
            for loss in cfg["losses"]
        ]
    elif table == "mds_table6":
        rows += [Row(f"lambda_{lam:g}", "variant", mds(d["loss"], d["rank"], d["encoder"], lam).id, base=base)
                 for lam in cfg["lambdas"]]  # fmt: skip
    elif table == "mds_table7":
        for enc in cfg["diversity_encoders"]:
            key = "base_feature" if enc == "base" else enc
            ok, why = encoder_available.get(enc, (True, ""))
            if ok:
                rows.append(Row(key, "variant", mds(d["loss"], d["rank"], enc, d["lambda"]).id, base=base))
            else:
                rows.append(Row(key, "unavailable", note=f"unavailable: {why}", base=base))
    elif table == "mds_table8":
        rows += [
            Row(f"rank_{r}", "variant", mds(d["loss"], r, d["encoder"], d["lambda"]).id, base=base)
            for r in cfg["ranks"]
        ]
    else:
        raise KeyError(table)
    return rows


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
        "run": run,
        "config_hash": config_hash,
    }
