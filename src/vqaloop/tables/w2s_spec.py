"""Which rows, columns and files each W2S-VQA table needs (Tables 1 and 5), from the ``w2s`` config section.

Students (the rows the paper trains; one string id each, used in paths):
- Table 1: ``w2s_i`` (I) ensemble of homogeneous teachers; ``w2s_ii`` (II) + synthetic-distortion pairs
  (heterogeneous teachers); ``w2s_iii`` (III) + the confidence loss; ``w2s_iv`` (IV) stage 2 from (III);
  ``w2s_v`` (V) stage 3 from (IV).
- Table 5: ``<teacher>_labeled`` (one student per single teacher) and ``lsvq_labeled`` (the source training MOS:
  the paper's "LSVQ-labelled"), each in the variant ``w2s.single_teacher`` names first: ``pointwise`` (W2S Sec. 3:
  per-video scores, the single-video prompt; targets ``teacher_<teacher>`` / ``source`` of ``vqaloop
  w2s-targets``) or ``pairwise`` (five-level pairs of that teacher only, or of the source MOS). Each further
  variant of the list adds the rows ``<teacher>_labeled_<variant>`` and ``lsvq_labeled_<variant>``.
Stage-1 students are trained from scratch with ``w2s.training``; stage 2 and 3 continue from the previous
stage's student with ``w2s.stage_training`` on the pairs mined by ``vqaloop w2s-mine``.
"""

from __future__ import annotations

TABLES = ("w2s_table1", "w2s_table5")
TABLE1_STUDENTS = ("w2s_i", "w2s_ii", "w2s_iii", "w2s_iv", "w2s_v")
BLOCKS = ("in_domain", "ood")
OVERALL = {"in_domain": "overall_in_domain", "ood": "overall_ood"}
ENSEMBLE = "ensemble"  # the homogeneous pair set labelled by every teacher
VARIANTS = ("pointwise", "pairwise")  # w2s.single_teacher
VARIANT_NOTES = {"pointwise": "pointwise: learns per-video scores (W2S Sec. 3, the single-video prompt)",
                 "pairwise": "pairwise: learns five-level pairs of its one labeller"}  # fmt: skip


def single_teacher_variants(value: str | list[str] = "pointwise") -> list[str]:
    """``w2s.single_teacher`` as a list (the first variant gives Table 5's rows)."""
    variants = [value] if isinstance(value, str) else list(value)
    if not variants or any(v not in VARIANTS for v in variants) or len(set(variants)) != len(variants):
        raise ValueError(f"w2s.single_teacher: {value!r} is not one of {VARIANTS} or a list of them")
    return variants


def variant_suffix(variant: str, variants: list[str]) -> str:
    """'' for the first (main) variant, '_<variant>' for the others."""
    return "" if variant == variants[0] else f"_{variant}"


def single_teacher_students(teachers: list[str], single_teacher: str | list[str] = "pointwise") -> list[str]:
    """Table 5's student ids, variant by variant: the teachers' students, then the source-labelled one."""
    out = []
    variants = single_teacher_variants(single_teacher)
    for variant in variants:
        sfx = variant_suffix(variant, variants)
        out += [*(f"{t}_labeled{sfx}" for t in teachers), f"lsvq_labeled{sfx}"]
    return out


def student_recipes(teachers: list[str], single_teacher: str | list[str] = "pointwise") -> dict[str, dict]:
    """student id -> {pairs: [pair-set ids], targets: target-set id or None (pointwise), loss, init: previous
    student or None, stage}."""
    both = ["homogeneous_ensemble", "synthetic"]
    recipes = {
        "w2s_i": {"pairs": ["homogeneous_ensemble"], "loss": "ce", "init": None, "stage": 1},
        "w2s_ii": {"pairs": both, "loss": "ce", "init": None, "stage": 1},
        "w2s_iii": {"pairs": both, "loss": "confidence", "init": None, "stage": 1},
        "w2s_iv": {"pairs": ["stage2"], "loss": "confidence", "init": "w2s_iii", "stage": 2},
        "w2s_v": {"pairs": ["stage3"], "loss": "confidence", "init": "w2s_iv", "stage": 3},
    }
    for recipe in recipes.values():
        recipe["targets"] = None
    variants = single_teacher_variants(single_teacher)
    for variant in variants:
        sfx = variant_suffix(variant, variants)
        for who, labeller in [*((t, f"teacher_{t}") for t in teachers), ("lsvq", "source")]:
            pairs = [labeller.replace("teacher_", "homogeneous_")] if variant == "pairwise" else []
            recipes[f"{who}_labeled{sfx}"] = {"pairs": pairs, "targets": None if pairs else labeller, "loss": "ce",
                                              "init": None, "stage": 1, "variant": variant}  # fmt: skip
    return recipes


def miner_of(stage: int) -> str:
    """The student whose mistakes and disagreements make stage ``stage``'s pairs (stage 2: (III), 3: (IV))."""
    return {2: "w2s_iii", 3: "w2s_iv"}[int(stage)]


def table_students(table: str, teachers: list[str], single_teacher: str | list[str] = "pointwise") -> list[str]:
    if table == "w2s_table1":
        return list(TABLE1_STUDENTS)
    return single_teacher_students(teachers, single_teacher)


def row_key(name: str, teachers_cfg: dict) -> str:
    """The paper's row key of a teacher or a student id (a teacher's ``paper_key``, when it has one); a further
    variant's suffix (``_labeled_pairwise``) is kept."""
    for suffix in ("_labeled", *(f"_labeled_{v}" for v in VARIANTS)):
        base = name.removesuffix(suffix)
        if base != name and base in teachers_cfg:
            return f"{teachers_cfg[base].get('paper_key') or base}{suffix}"
    if name in teachers_cfg:
        return teachers_cfg[name].get("paper_key") or name
    return name


def student_note(table: str, name: str, recipes: dict[str, dict]) -> str:
    """The note of a Table 5 student's rows: how it learns (w2s.single_teacher)."""
    variant = recipes.get(name, {}).get("variant")
    return VARIANT_NOTES[variant] if table == "w2s_table5" and variant else ""


def table_spec(table: str, w2s: dict, run: str, config_hash: str) -> dict:
    """Everything the W2S table builder needs, as plain JSON (the rule's params)."""
    teachers = list(w2s["teachers"])
    tests = w2s["test_sets"]
    columns = []
    for block in BLOCKS:
        columns += [{"dataset": d, "key": s.get("paper_key", d), "block": block} for d, s in tests.items()
                    if s["block"] == block]  # fmt: skip
        columns.append({"dataset": None, "key": OVERALL[block], "block": block})
    single = w2s.get("single_teacher", "pointwise")
    recipes = student_recipes(teachers, single)
    rows = [{"id": t, "key": row_key(t, w2s["teachers"]), "kind": "teacher"} for t in teachers]
    rows += [{"id": s, "key": row_key(s, w2s["teachers"]), "kind": "student", "note": student_note(table, s, recipes)}
             for s in table_students(table, teachers, single)]  # fmt: skip
    return {"table": table, "rows": rows, "columns": columns, "seeds": sorted(w2s["seeds"]), "run": run,
            "config_hash": config_hash}  # fmt: skip
