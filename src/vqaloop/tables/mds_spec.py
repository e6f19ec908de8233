"""Which cells each MDS-VQA table needs: rows (a variant of one base model, the base model itself, or an
unavailable marker) and columns. Used by the Snakemake rules (to request exactly those jobs) and by the
table builder."""

from __future__ import annotations

from dataclasses import dataclass

from vqaloop.variants import OOF, PATTERN_METHODS, Variant, mds, parse_g_id, parse_variant

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


def default_lambda(cfg: dict, encoder: str) -> float:
    """The lambda of a default-lambda row with this diversity encoder: ``mds.diversity.<encoder>.weight`` where set
    (the MDS-VQA authors: CLIP 0.25, SigLIP 2 0.075), else ``mds.default.lambda`` (the paper's 0.25 for any)."""
    return float(cfg.get("diversity", {}).get(encoder, {}).get("weight", cfg["default"]["lambda"]))


def default_variant(cfg: dict, errors: str = "") -> Variant:
    d = cfg["default"]
    return mds(d["loss"], d["rank"], d["encoder"], default_lambda(cfg, d["encoder"]), errors)


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
            Row(loss, "variant", mds(loss, d["rank"], d["encoder"], default_lambda(cfg, d["encoder"])).id, base=base)
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
                rows.append(Row(key, "variant", mds(d["loss"], d["rank"], enc, default_lambda(cfg, enc)).id, base=base))
            else:
                rows.append(Row(key, "unavailable", note=f"unavailable: {why}", base=base))
    elif table == "mds_table8":
        rows += [
            Row(
                f"rank_{r}", "variant", mds(d["loss"], r, d["encoder"], default_lambda(cfg, d["encoder"])).id, base=base
            )
            for r in cfg["ranks"]
        ]
    else:
        raise KeyError(table)
    return rows


def table_spec(
    table: str, mds_cfg: dict, datasets_cfg: dict, encoder_available: dict, run: str, config_hash: str = ""
) -> dict:
    """Everything the table builder needs, as plain JSON (a rule's params: an edit reruns the table).

    Only what the table prints or computes with is here, in a canonical order where the order does not show
    (seeds, targets of the ablation tables), so an unrelated edit or a reorder leaves the spec unchanged.
    """
    rows = table_rows(table, mds_cfg, encoder_available)
    if table == "mds_table2":
        columns = list(mds_cfg["targets"])
    elif table == "mds_table3":
        columns = [mds_cfg["source"], *mds_cfg["targets"]]
    else:
        columns = ["failure_identification", "active_finetuning"]
    paper_key = {c: datasets_cfg[c].get("paper_key", c) for c in columns if c in datasets_cfg}
    return {
        "table": table,
        "rows": [vars(r) for r in rows],
        "columns": columns,
        "paper_key": paper_key,
        "source": mds_cfg["source"],
        "targets": sorted(mds_cfg["targets"]),
        "ablation_dataset": mds_cfg["ablation_dataset"],
        "seeds": sorted(mds_cfg["seeds"]),
        "run": run,
        "config_hash": config_hash,
    }


# Config keys no table value depends on: descriptions and labels (printed by the corpus summary or, for
# paper_key, by the table spec itself), and performance knobs (outputs are identical whatever their value).
DESCRIPTIVE_DATASET_KEYS = ("domain", "analogue", "role", "paper_key")
DESCRIPTIVE_CORPUS_KEYS = ("contact_sheet_per_dataset",)
PERFORMANCE_FEATURE_KEYS = ("batch",)


def corpus_slice(corpus: dict) -> dict:
    """The corpus config minus descriptions: every dataset's settings (allocation couples the datasets)."""
    datasets = {name: {k: v for k, v in ds.items() if k not in DESCRIPTIVE_DATASET_KEYS}
                for name, ds in corpus["datasets"].items()}  # fmt: skip
    return {
        **{k: v for k, v in corpus.items() if k not in ("datasets", *DESCRIPTIVE_CORPUS_KEYS)},
        "datasets": datasets,
    }


def variant_encoder(variant: Variant, mds_cfg: dict) -> str:
    """The features a variant's selection reads (FreeSel: its patterns; otherwise its diversity encoder)."""
    return PATTERN_METHODS.get(variant.method) or variant.encoder or mds_cfg["default"]["encoder"]


def config_slice(spec: dict, config: dict, base_encoders: dict[str, list[str]]) -> dict:
    """The part of the config one table's values depend on (its ``config_hash`` is the hash of this).

    The table's own spec, the global seed, the corpus settings (descriptions left out), the frame count and
    the options of the encoders its rows read, and the MDS settings of its base models (training, budget,
    source, the set of targets; out-of-fold settings only for an ``_oof`` row). Not in it: descriptions,
    labels of other tables, performance knobs (features.batch, threads), paths, other tables' row lists.
    ``base_encoders``: base model -> the feature encoders it reads.
    """
    mds_cfg, features = config["mds"], config["features"]
    rows = [r for r in spec["rows"] if r["kind"] != "unavailable"]
    bases = sorted({r["base"] for r in rows})
    variants = [parse_variant(r["variant"]) for r in rows if r["kind"] == "variant"]
    encoders = {e for b in bases for e in base_encoders[b]} | {variant_encoder(v, mds_cfg) for v in variants}
    training = {b: mds_cfg["training"] if b == mds_cfg["base"] else mds_cfg["alternative_bases"][b]["training"]
                for b in bases}  # fmt: skip
    mds_keys = {
        "base": mds_cfg["base"],
        "source": mds_cfg["source"],
        "targets": sorted(mds_cfg["targets"]),
        "budget": mds_cfg["budget"],
        **{k: mds_cfg[k] for k in ("target_budgets", "chamfer") if k in mds_cfg},  # schema defaults filled
        "diversity": {e: v for e, v in sorted(mds_cfg.get("diversity", {}).items()) if e in encoders},
        "labelled_set": mds_cfg.get("labelled_set", True),
        "training": training,
    }
    if any(v.needs_g and parse_g_id(v.g_id)[2] for v in variants):
        mds_keys["out_of_fold"] = mds_cfg.get("out_of_fold", {})
    return {
        "table": {k: v for k, v in spec.items() if k != "config_hash"},
        "seed": config["seed"],
        "corpus": corpus_slice(config["corpus"]),
        "features": {
            **{k: v for k, v in features.items() if k not in ("encoders", *PERFORMANCE_FEATURE_KEYS)},
            "encoders": {e: features["encoders"].get(e) for e in sorted(encoders)},
        },
        "mds": mds_keys,
    }
