"""Which rows, columns and files each W2S-VQA table needs (Tables 1 and 5), from the ``w2s`` config section.

Students (the rows the paper trains; one string id each, used in paths):
- Table 1: ``w2s_i`` (I) ensemble of homogeneous teachers; ``w2s_ii`` (II) + synthetic-distortion pairs
  (heterogeneous teachers); ``w2s_iii`` (III) + the confidence loss; ``w2s_iv`` (IV) stage 2 from (III);
  ``w2s_v`` (V) stage 3 from (IV).
- Table 5: ``<teacher>_labeled`` (one student per single teacher, homogeneous pairs of that teacher only) and
  ``lsvq_labeled`` (pairs labelled by the source training MOS: the paper's "LSVQ-labelled").
Stage-1 students are trained from scratch with ``w2s.training``; stage 2 and 3 continue from the previous
stage's student with ``w2s.stage_training`` on the pairs mined by ``vqaloop w2s-mine``.
"""

from __future__ import annotations

TABLES = ("w2s_table1", "w2s_table5")
TABLE1_STUDENTS = ("w2s_i", "w2s_ii", "w2s_iii", "w2s_iv", "w2s_v")
BLOCKS = ("in_domain", "ood")
OVERALL = {"in_domain": "overall_in_domain", "ood": "overall_ood"}
ENSEMBLE = "ensemble"  # the homogeneous pair set labelled by every teacher


def student_recipes(teachers: list[str]) -> dict[str, dict]:
    """student id -> {pairs: [pair-set ids], loss, init: previous student or None, stage}."""
    both = ["homogeneous_ensemble", "synthetic"]
    recipes = {
        "w2s_i": {"pairs": ["homogeneous_ensemble"], "loss": "ce", "init": None, "stage": 1},
        "w2s_ii": {"pairs": both, "loss": "ce", "init": None, "stage": 1},
        "w2s_iii": {"pairs": both, "loss": "confidence", "init": None, "stage": 1},
        "w2s_iv": {"pairs": ["stage2"], "loss": "confidence", "init": "w2s_iii", "stage": 2},
        "w2s_v": {"pairs": ["stage3"], "loss": "confidence", "init": "w2s_iv", "stage": 3},
        "lsvq_labeled": {"pairs": ["source"], "loss": "ce", "init": None, "stage": 1},
    }
    for t in teachers:
        recipes[f"{t}_labeled"] = {"pairs": [f"homogeneous_{t}"], "loss": "ce", "init": None, "stage": 1}
    return recipes


def miner_of(stage: int) -> str:
    """The student whose mistakes and disagreements make stage ``stage``'s pairs (stage 2: (III), 3: (IV))."""
    return {2: "w2s_iii", 3: "w2s_iv"}[int(stage)]


def table_students(table: str, teachers: list[str]) -> list[str]:
    if table == "w2s_table1":
        return list(TABLE1_STUDENTS)
    return [*(f"{t}_labeled" for t in teachers), "lsvq_labeled"]


def row_key(name: str, teachers_cfg: dict) -> str:
    """The paper's row key of a teacher or a student id (a teacher's ``paper_key``, when it has one)."""
    base = name.removesuffix("_labeled")
    if base in teachers_cfg:
        key = teachers_cfg[base].get("paper_key") or base
        return f"{key}_labeled" if name.endswith("_labeled") else key
    return name


def table_spec(table: str, w2s: dict, run: str, config_hash: str) -> dict:
    """Everything the W2S table builder needs, as plain JSON (the rule's params)."""
    teachers = list(w2s["teachers"])
    tests = w2s["test_sets"]
    columns = []
    for block in BLOCKS:
        columns += [{"dataset": d, "key": s.get("paper_key", d), "block": block} for d, s in tests.items()
                    if s["block"] == block]  # fmt: skip
        columns.append({"dataset": None, "key": OVERALL[block], "block": block})
    rows = [{"id": t, "key": row_key(t, w2s["teachers"]), "kind": "teacher"} for t in teachers]
    rows += [{"id": s, "key": row_key(s, w2s["teachers"]), "kind": "student"} for s in table_students(table, teachers)]
    return {"table": table, "rows": rows, "columns": columns, "seeds": sorted(w2s["seeds"]), "run": run,
            "config_hash": config_hash}  # fmt: skip
