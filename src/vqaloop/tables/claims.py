"""``vqaloop claims``: a claim-by-claim verdict table for MDS-VQA and W2S-VQA, with paired tests over seeds.

Inputs: the built tables' per-seed files ``<tables-dir>/<table>_seeds.csv`` (``table,row,column,metric,seed,value``,
written by ``vqaloop mds-table`` / ``vqaloop w2s-table``), the long CSVs beside them (only for the ``note`` of a
row that has no values, e.g. "unavailable: no weights"), and for MDS-VQA Table 4 the per-seed gMAD result JSONs
(``vqaloop gmad``; the seed is read from the file name ``seed<k>.json``, else the JSON's position).
Output: one CSV row per claim (``COLUMNS``) and optionally the same as a Markdown table.

Decisions (every one of them, so the verdicts can be checked):

* **Metric.** SRCC only (both papers' headline metric); PLCC is not tested. Failure identification (MDS-VQA
  Tables 2, 5-9, ``failure_identification`` / Table 2's ``mean``): *lower* is better. Active fine-tuning and the
  W2S columns: *higher* is better. gMAD (Table 4): the global gMAD score (a_i + r_i) / 2, higher is better.
* **Pairing.** The same seed shares pools, g, selections and pairs across methods, so a comparison of A and B
  pairs their values by seed (inner join on the seed; seeds present on one side only are left out and named
  in ``detail``) and tests the differences d_s = A_s - B_s. A seedless row (the base model, a W2S teacher: one
  value) is compared by a one-sample t-test of the other side's seeds against that value.
* **Test.** Student's one-sample t-test of the differences (identical to ``scipy.stats.ttest_rel`` on the
  paired values), **one-sided**, in each direction: p_claimed for "the difference lies in the claimed
  direction", p_opposite for the reverse. ``p_value`` in the table is p_claimed of the deciding comparison
  (below): small = evidence for the claim, near 1 = evidence against it. No test is possible with fewer than two
  paired seeds or with differences constant across seeds (zero variance, e.g. two deterministic rows): such a
  comparison is significant in neither direction (p is empty) and says why.
* **Level.** ``--level`` (default 0.05), written in every row.
* **Combining comparisons** (a claim such as "A is best of all" or "ranking > regression > classification >
  removing g" needs k pairwise comparisons): ``agree`` when every comparison is significant in the claimed
  direction at the level (an intersection-union test: its error rate is at most the level, no correction
  needed); ``disagree`` when any comparison is significant in the opposite direction at level / k (Bonferroni
  over the claim's k comparisons, so that "disagree" is not declared more easily with more competitors);
  otherwise ``inconclusive``. The deciding comparison (its statistic, test, n and p are the row's) is, for
  ``disagree``, the one with the smallest p_opposite, else the one with the largest p_claimed (the weakest link);
  ``detail`` lists every comparison.
* ``statistic``: the mean over paired seeds of (subject - other) SRCC of the deciding comparison (its sign is
  the raw difference; the claimed direction is in ``statement``).
* ``not computed``: a table that was not built (no ``_seeds.csv``), a subject row absent or without values (its
  note, e.g. "unavailable: no weights", is the reason), no gMAD JSON, no competitor present. A competitor row
  that is absent is left out of a "best of all" claim and named in ``detail``; a chain step that is absent
  makes the claim ``not computed``. Malformed input files raise one :class:`UserError` naming the file.

Claims and criteria:

* MDS-VQA Table 2: ``mds`` has the lowest mean (over pools) failure-identification SRCC: ``mds`` < each of the
  paper's rows (base model on the whole pool, random, core-set, RD, MC dropout, greedy, ALCS, FreeSel,
  NoiseStability). Extra rows (``mds_oof``) are not in the paper's claim and are left out.
* MDS-VQA Table 3: ``mds`` has the best mean SRCC after fine-tuning: ``mds`` > each of the same rows.
* MDS-VQA Table 4: ``mds`` has the top gMAD rank: its per-seed gMAD score > each other paper model's, paired by
  the competition's seed.
* MDS-VQA Table 5: ranking > regression > classification > removing g, as two claims: on failure
  identification (SRCC lower along the chain) and on active fine-tuning (SRCC higher); each claim is the three
  adjacent comparisons of the chain (ranking vs regression, regression vs classification, classification vs
  removing g).
* MDS-VQA Table 6: lambda = 0.25 is best, as two claims (failure identification, active fine-tuning): ``lambda_0.25``
  vs every other ``lambda_*`` row (the base model is not a lambda).
* MDS-VQA Table 7: generic encoders beat the quality-tuned base features: one claim per generic encoder row (the
  paper's CLIP and SigLIP 2, and any other encoder row of our table, e.g. EfficientNet-Lite0, marked as not in
  the paper) and per column, each ``<encoder>`` vs ``base_feature``. Unavailable encoders give ``not computed``.
* MDS-VQA Table 8: rank 64 is best on failure identification (the paper's claim; it calls fine-tuning "largely
  stable across ranks", which is not tested): ``rank_64`` < ``rank_8`` and ``rank_128``.
* MDS-VQA Table 9: gains are architecture-agnostic: per alternative base (row prefix ``<base>/``) and column,
  ``<base>/mds`` beats ``<base>/base_model`` and ``<base>/random``.
* W2S-VQA Table 5: per teacher (a seedless row with a ``<teacher>_labeled`` student): in-domain the student is at
  least equal to its teacher (``overall_in_domain``; **non-inferiority** with margin ``--margin``, default 0.01
  SRCC: agree when student - teacher > -margin is significant, disagree when student - teacher < -margin is);
  out of distribution it is above its teacher (``overall_ood``; superiority, margin 0).
* W2S-VQA Table 1: each stage improves on the previous: (II) > (I), (III) > (II), (IV) > (III), (V) > (IV), one
  claim per step and per overall column (``overall_in_domain``, ``overall_ood``).

Positive controls (``--controls``; tables of ``vqaloop control-table``, README "Positive controls"): rows whose claim
id starts with ``control_``, ``paper`` "MDS-VQA control" / "W2S-VQA control", and the ``control`` column saying what
the control expects (``planted: expected agree``, ``twin: expected not agree``, ``planted: measured`` where the run
measures rather than checks); ``detail`` starts with whether the expectation was met. Same tests and decisions as the
papers' claims (no published effect: agree, disagree or inconclusive):

* MDS-VQA (``control_mds``, its twin ``control_mds_twin``): MDS-VQA's picks have a lower failure-identification
  SRCC than random picks; fine-tuning on them repairs the planted failure (SRCC on its test videos) more than on
  random picks; difficulty-only picks (``lambda_0``) are more redundant (lower mean pairwise Chamfer distance) than
  MDS-VQA's and than random picks (both comparisons: random-looking picks are not redundant).
* W2S-VQA (``control_w2s``, ``control_w2s_twin``): the student of the ensemble's pairs exceeds every teacher on the
  held-out pool videos, in-domain and out of distribution (``overall_in_domain``, ``overall_ood``): measured; the
  student of the teachers' mean score exceeds every teacher on the held-out pool videos: expected.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, text_writer, write_all_atomic
from vqaloop.io.readers import MAX_VALUE
from vqaloop.tables.mds_build import SEED_COLUMNS
from vqaloop.tables.power import (  # noqa: F401 (the verdict names: this module's interface)
    AGREE,
    DISAGREE,
    EXCLUDED,
    INCONCLUSIVE,
    MAX_SEEDS,
    UNDERPOWERED,
    decide,
    equivalence_p,
    minimal_detectable_effect,
    seeds_needed,
)

log = logging.getLogger(__name__)

COLUMNS = ["claim", "paper", "table", "statement", "statistic", "test", "n_seeds", "p_value", "level", "verdict",
           "paper_effect", "mde_80", "seeds_needed", "p_equivalence", "detail", "control"]  # fmt: skip
NOT_COMPUTED = "not computed"
METRIC = "srcc"
HIGHER, LOWER = 1, -1  # the claimed direction of (subject - other)
FI, AF = "failure_identification", "active_finetuning"
#: The paper's rows of MDS-VQA Tables 2-4 other than MDS-VQA (extras such as mds_oof are not in its claims).
MDS_COMPARED = ("base_model", "random", "coreset", "rd", "mc_dropout", "greedy", "alcs", "freesel", "noise_stability")
LOSS_CHAIN = ("ranking", "regression", "classification", "removing_g")  # MDS-VQA Table 5, best first
PAPER_GENERIC_ENCODERS = ("clip", "siglip2")  # MDS-VQA Table 7
W2S_STAGES = ("w2s_i", "w2s_ii", "w2s_iii", "w2s_iv", "w2s_v")  # W2S-VQA Table 1
W2S_OVERALL = {"in_domain": "overall_in_domain", "ood": "overall_ood"}
GMAD_TABLE = "mds_table4"
#: The positive controls' tables (vqaloop control-table): name -> (paper, kind)
CONTROLS = {"control_mds": ("mds", "planted"), "control_mds_twin": ("mds", "twin"),
            "control_w2s": ("w2s", "planted"), "control_w2s_twin": ("w2s", "twin")}  # fmt: skip
CHAMFER = "chamfer"  # the metric of the MDS control's redundancy column


class Missing(Exception):
    """An input a claim needs is absent: the claim is ``not computed`` with this reason."""


# ------------------------------------------------------------------------------------------------- inputs


def read_seeds(path: Path) -> pd.DataFrame:
    """A ``_seeds.csv`` file; ``seed`` is a nullable integer (empty: a seedless row), ``value`` a float."""
    try:
        df = pd.read_csv(path, dtype={"table": str, "row": str, "column": str, "metric": str}, keep_default_na=False,
                         na_values=[""])  # fmt: skip
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a per-seed table CSV ({err})") from None
    missing = [c for c in SEED_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path}: lacks column(s) {missing} (has {list(df.columns)})")
    for col in ("seed", "value"):
        numeric = pd.to_numeric(df[col], errors="coerce")
        bad = df[col].notna() & numeric.isna()
        if bad.any():
            raise UserError(f"{path}: {col} {df[col][bad].iloc[0]!r} (line {int(bad.idxmax()) + 2}) is not a number")
        huge = numeric.notna() & ~(numeric.abs() <= MAX_VALUE)
        if huge.any():
            raise UserError(f"{path}: {col} {df[col][huge].iloc[0]!r} (line {int(huge.idxmax()) + 2}) is not a finite "
                            f"number within +-{MAX_VALUE:g}")  # fmt: skip
        df[col] = numeric
    if (df.seed.dropna() % 1 != 0).any():
        raise UserError(f"{path}: a seed is not an integer")
    df["seed"] = df.seed.astype("Int64")
    return df[SEED_COLUMNS]


def read_notes(path: Path) -> dict[str, str]:
    """Row key -> its note in a long table CSV ({} when the file or its note column is absent)."""
    if not path.is_file():
        return {}
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a long table CSV ({err})") from None
    if "row" not in df.columns or "note" not in df.columns:
        return {}
    return {r: n for r, n in zip(df.row, df.note, strict=True) if n}


@dataclass
class Table:
    """One built table's per-seed values (or why it is missing)."""

    name: str
    seeds: pd.DataFrame | None
    notes: dict[str, str] = field(default_factory=dict)
    missing: str = ""
    metric: str = METRIC  # the metric its claims test
    paper: dict[tuple[str, str], float] = field(default_factory=dict)  # (row, column) -> the published value

    def published(self, row: str, column: str) -> float:
        """The paper's value of a cell (its ``metric``); nan when the paper has none."""
        return self.paper.get((row, column), float("nan"))

    @property
    def rows(self) -> list[str]:
        return [] if self.seeds is None else list(dict.fromkeys(self.seeds.row))

    def series(self, row: str, column: str) -> pd.Series:
        """Values of one cell (its ``metric``) indexed by seed (a seedless row: one value with a missing index)."""
        if self.seeds is None:
            raise Missing(self.missing)
        s = self.seeds
        sub = s[(s.row == row) & (s.column == column) & (s.metric == self.metric)]
        if sub.empty:
            why = self.notes.get(row)
            raise Missing(f"{self.name} row {row!r}: {why}" if why else f"{self.name} has no row {row!r} / {column}")
        sub = sub[sub.value.notna()]
        if sub.empty:
            raise Missing(f"{self.name} row {row!r} / {column}: no finite value")
        return pd.Series(sub.value.to_numpy(dtype=float), index=pd.Index(sub.seed, dtype="Int64"))


def read_published(path: Path, metric: str = METRIC) -> dict[tuple[str, str], float]:
    """(row, column) -> the published value of ``metric`` from a ``_vs_paper.csv`` ({} when the file is absent)."""
    if not path.is_file():
        return {}
    try:
        df = pd.read_csv(path, dtype={"row": str, "column": str, "metric": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a side-by-side table CSV ({err})") from None
    if not {"row", "column", "metric", "paper"} <= set(df.columns):
        raise UserError(f"{path}: lacks the columns row, column, metric, paper (has {list(df.columns)})")
    values = pd.to_numeric(df.paper, errors="coerce")
    keep = (df.metric == metric) & values.notna() & (values.abs() <= MAX_VALUE)
    return {(r, c): float(v) for r, c, v in zip(df.row[keep], df.column[keep], values[keep], strict=True)}


def load_table(tables_dir: Path, name: str) -> Table:
    path = tables_dir / f"{name}_seeds.csv"
    if not path.is_file():
        return Table(name, None, missing=f"{path} not found (table not built)")
    return Table(name, read_seeds(path), read_notes(tables_dir / f"{name}.csv"),
                 paper=read_published(tables_dir / f"{name}_vs_paper.csv"))  # fmt: skip


def gmad_seed(path: Path, position: int) -> int:
    match = re.search(r"seed(\d+)", path.stem)
    return int(match.group(1)) if match else position


def load_gmad(paths: list[Path]) -> Table:
    """Per-seed gMAD scores as a Table (column ``gmad``, metric ``gmad_score``), from ``vqaloop gmad`` JSONs."""
    present = [p for p in paths if p.is_file()]
    if not present:
        why = "no gMAD result JSON given" if not paths else f"gMAD result(s) not found: {[str(p) for p in paths]}"
        return Table(GMAD_TABLE, None, missing=why)
    records = []
    for n, path in enumerate(present):
        try:
            data = json.loads(path.read_text())
            scores = data["gmad_score"]
            items = [(str(m), float(v)) for m, v in scores.items()]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError, ValueError) as err:
            raise UserError(f"{path}: not a gMAD result JSON with a gmad_score per model ({err!r})") from None
        seed = gmad_seed(path, n)
        records += [{"table": GMAD_TABLE, "row": m, "column": "gmad", "metric": "gmad_score", "seed": seed,
                     "value": v} for m, v in items]  # fmt: skip
    df = pd.DataFrame.from_records(records, columns=SEED_COLUMNS)
    if df.duplicated(["row", "seed"]).any():
        raise UserError(f"gMAD results {[str(p) for p in present]}: two JSONs have the same seed")
    df["seed"] = df.seed.astype("Int64")
    absent = [str(p) for p in paths if not p.is_file()]
    return Table(GMAD_TABLE, df, missing=f"not found: {absent}" if absent else "", metric="gmad_score")


# ------------------------------------------------------------------------------------------------- tests


@dataclass
class Comparison:
    """One pairwise comparison subject vs other on one cell, tested over paired seeds."""

    subject: str
    other: str
    column: str
    direction: int  # HIGHER: the claim is subject > other; LOWER: subject < other
    margin: float = 0.0  # non-inferiority margin (claim: direction * (subject - other) > -margin)
    n: int = 0
    mean_diff: float = float("nan")  # mean of subject - other
    p_claimed: float = float("nan")
    p_opposite: float = float("nan")
    test: str = ""
    note: str = ""
    paper_effect: float = float("nan")  # the published difference in the claimed direction (vqaloop.tables.power)
    mde: float = float("nan")  # minimal detectable effect at 80% power, from the seeds' spread
    seeds_needed: int | None = None  # seeds for 80% power at the paper's effect
    p_equivalence: float = float("nan")  # H0: the effect is at least the paper's

    @property
    def powered(self) -> bool:
        """A published effect in the claimed direction and a seed spread: the comparison's power can be stated."""
        return bool(np.isfinite(self.paper_effect) and self.paper_effect > 0 and np.isfinite(self.mde))

    def text(self) -> str:
        p = "n/a" if np.isnan(self.p_claimed) else f"{self.p_claimed:.3g}"
        extra = f" ({self.note})" if self.note else ""
        power = ""
        if np.isfinite(self.paper_effect):
            power = f", paper {self.paper_effect:+.4f}, MDE {self.mde:.4f}"
        return (f"{self.subject} vs {self.other} [{self.column}]: diff {self.mean_diff:+.4f}, n={self.n}, "
                f"p={p}{power}{extra}")  # fmt: skip


def paired_differences(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, str, str]:
    """(a - b per paired seed, test name, note). A seedless side (one value) is broadcast to the other's seeds."""
    a_single, b_single = a.index.isna().all(), b.index.isna().all()
    if a_single and b_single:
        return np.array([a.iloc[0] - b.iloc[0]]), "single values (no test)", "both rows have one value"
    if b_single:
        return a.to_numpy() - b.iloc[0], "one-sample t vs single value", ""
    if a_single:
        return a.iloc[0] - b.to_numpy(), "one-sample t vs single value", ""
    common = a.index.intersection(b.index)
    only = sorted(int(s) for s in set(a.index).symmetric_difference(b.index))
    note = f"unpaired seeds left out: {only}" if only else ""
    return (a.loc[common] - b.loc[common]).to_numpy(dtype=float), "paired t over seeds", note


def one_sided_tests(shifted: np.ndarray) -> tuple[float, float, str]:
    """(p for mean > 0, p for mean < 0, why untestable) of a one-sample t-test."""
    if len(shifted) < 2:
        return float("nan"), float("nan"), "fewer than 2 paired seeds: no test"
    if np.std(shifted) <= 1e-12 * max(1.0, float(np.abs(shifted).max())):
        return float("nan"), float("nan"), "differences constant across seeds: t-test undefined"
    greater = stats.ttest_1samp(shifted, 0.0, alternative="greater").pvalue
    less = stats.ttest_1samp(shifted, 0.0, alternative="less").pvalue
    return float(greater), float(less), ""


def compare(table: Table, subject: str, other: str, column: str, direction: int, margin: float = 0.0,
            level: float = 0.05) -> Comparison:  # fmt: skip
    """Test the claim direction * (subject - other) > -margin over paired seeds (raises Missing), with its power
    and equivalence against the paper's effect (``vqaloop.tables.power``)."""
    diffs, test, note = paired_differences(table.series(subject, column), table.series(other, column))
    shifted = direction * diffs + margin
    p_claimed, p_opposite, why = one_sided_tests(shifted)
    if margin:
        test = f"{test}, non-inferiority margin {margin:g}"
    paper_effect = direction * (table.published(subject, column) - table.published(other, column))
    effects = direction * diffs
    sd = float(np.std(effects, ddof=1)) if len(effects) >= 2 and not why else float("nan")
    # power of the test as run (against -margin) at the paper's effect: the distance to detect is effect + margin
    return Comparison(subject, other, column, direction, margin, len(diffs), float(np.mean(diffs)), p_claimed,
                      p_opposite, f"{test} (one-sided)", "; ".join(x for x in (note, why) if x),
                      paper_effect=float(paper_effect), mde=minimal_detectable_effect(sd, len(effects), level),
                      seeds_needed=seeds_needed(sd, paper_effect + margin, level),
                      p_equivalence=equivalence_p(effects, paper_effect) if not why else float("nan"))  # fmt: skip


def verdict(comparisons: list[Comparison], level: float) -> tuple[str, Comparison]:
    """The decision rules of ``vqaloop.tables.power``: (verdict, deciding comparison)."""
    result, k = decide([c.p_claimed for c in comparisons], [c.p_opposite for c in comparisons],
                       [c.p_equivalence for c in comparisons], [c.powered for c in comparisons], level)  # fmt: skip
    return result, comparisons[k]


# ------------------------------------------------------------------------------------------------- claims


@dataclass
class Claim:
    claim: str
    paper: str
    table: str  # our table file name, e.g. mds_table5
    statement: str
    pairs: list[tuple[str, str, str]]  # (subject, other, column) comparisons the claim needs
    direction: int
    source: str = ""  # the Table the values come from (default: ``table``)
    margin: float = 0.0
    optional_others: bool = False  # "best of all": absent competitors are left out, not fatal
    note: str = ""
    control: str = ""  # a positive control's kind and expectation ("planted: expected agree"); "" for the papers'


def evaluate(claim: Claim, tables: dict[str, Table], level: float) -> dict:
    row = {"claim": claim.claim, "paper": claim.paper, "table": claim.table, "statement": claim.statement,
           "statistic": None, "test": "", "n_seeds": None, "p_value": None, "level": level, "paper_effect": None,
           "mde_80": None, "seeds_needed": None, "p_equivalence": None, "control": claim.control}  # fmt: skip
    table = tables[claim.source or claim.table]
    comparisons, left_out = [], []
    try:
        for subject, other, column in claim.pairs:
            table.series(subject, column)  # the subject must exist, whatever the competitors
            try:
                comparisons.append(compare(table, subject, other, column, claim.direction, claim.margin, level))
            except Missing as err:
                if not claim.optional_others:
                    raise
                left_out.append(f"{other} left out ({err})")
        if not comparisons:
            raise Missing("no competitor row present")
    except Missing as err:
        return {**row, "verdict": NOT_COMPUTED, "detail": "; ".join(x for x in (str(err), claim.note) if x)}
    result, deciding = verdict(comparisons, level)
    detail = [f"deciding: {deciding.subject} vs {deciding.other}", *(c.text() for c in comparisons), *left_out]
    if claim.control:
        detail.insert(0, expectation(claim.control, result))
    if claim.note:
        detail.append(claim.note)
    if table.missing:
        detail.append(table.missing)
    if result == UNDERPOWERED:
        needed = deciding.seeds_needed
        detail.insert(1, f"80% power at the paper's effect needs {needed} seeds" if needed else
                      f"80% power at the paper's effect needs more than {MAX_SEEDS} seeds")  # fmt: skip

    def rounded(v: float, digits: int = 4):
        return None if not np.isfinite(v) else float(f"{v:.{digits}g}")

    return {**row, "statistic": round(deciding.mean_diff, 6), "test": deciding.test, "n_seeds": deciding.n,
            "p_value": rounded(deciding.p_claimed), "verdict": result,
            "paper_effect": rounded(deciding.paper_effect), "mde_80": rounded(deciding.mde),
            "seeds_needed": deciding.seeds_needed, "p_equivalence": rounded(deciding.p_equivalence),
            "detail": "; ".join(detail)}  # fmt: skip


def against(subject: str, others, column: str) -> list[tuple[str, str, str]]:
    return [(subject, o, column) for o in others if o != subject]


def mds_claims(tables: dict[str, Table]) -> list[Claim]:
    m = "MDS-VQA"
    best = dict(optional_others=True)
    claims = [
        Claim("mds_t2_lowest_failure_srcc", m, "mds_table2",
              "MDS-VQA Table 2: MDS-VQA has the lowest mean failure-identification SRCC of all methods (lower = "
              "more failure-focused)", against("mds", MDS_COMPARED, "mean"), LOWER, **best),
        Claim("mds_t3_best_mean_srcc", m, "mds_table3",
              "MDS-VQA Table 3: MDS-VQA has the best mean SRCC after active fine-tuning",
              against("mds", MDS_COMPARED, "mean"), HIGHER, **best),
        Claim("mds_t4_top_gmad", m, "mds_table4",
              "MDS-VQA Table 4: MDS-VQA has the top gMAD rank (highest gMAD score, per seed's competition)",
              against("mds", MDS_COMPARED, "gmad"), HIGHER, source=GMAD_TABLE, **best),
    ]  # fmt: skip
    chain = list(zip(LOSS_CHAIN, LOSS_CHAIN[1:], strict=False))
    for column, direction, what in ((FI, LOWER, "failure identification"), (AF, HIGHER, "active fine-tuning")):
        claims.append(Claim(f"mds_t5_loss_order_{column}", m, "mds_table5",
                            f"MDS-VQA Table 5: ranking > regression > classification > removing g on {what} SRCC",
                            [(a, b, column) for a, b in chain], direction))  # fmt: skip
    lambdas = [r for r in tables["mds_table6"].rows if r.startswith("lambda_")] or ["lambda_0", "lambda_0.125",
                                                                                   "lambda_0.5"]  # fmt: skip
    for column, direction, what in ((FI, LOWER, "failure identification"), (AF, HIGHER, "active fine-tuning")):
        claims.append(Claim(f"mds_t6_lambda_best_{column}", m, "mds_table6",
                            f"MDS-VQA Table 6: lambda = 0.25 is the best weight on {what} SRCC",
                            against("lambda_0.25", lambdas, column), direction, **best))  # fmt: skip
    t7 = tables["mds_table7"]
    extra = [r for r in [*t7.rows, *t7.notes] if r not in ("base_model", "base_feature", *PAPER_GENERIC_ENCODERS)]
    for enc in [*PAPER_GENERIC_ENCODERS, *dict.fromkeys(extra)]:
        note = "" if enc in PAPER_GENERIC_ENCODERS else f"{enc}: a generic encoder of ours, not in the paper"
        for column, direction, what in ((FI, LOWER, "failure identification"), (AF, HIGHER, "active fine-tuning")):
            claims.append(Claim(f"mds_t7_{enc}_vs_base_feature_{column}", m, "mds_table7",
                                f"MDS-VQA Table 7: the generic encoder {enc} beats the quality-tuned base model's "
                                f"features on {what} SRCC", [(enc, "base_feature", column)], direction,
                                note=note))  # fmt: skip
    claims.append(Claim("mds_t8_rank64_best_failure_identification", m, "mds_table8",
                        "MDS-VQA Table 8: LoRA rank 64 gives the best failure identification (SRCC)",
                        against("rank_64", ("rank_8", "rank_128"), FI), LOWER, **best))  # fmt: skip
    t9 = tables["mds_table9"]
    prefixes = list(dict.fromkeys(r.split("/")[0] for r in [*t9.rows, *t9.notes] if "/" in r)) or ["uvq", "modularbvqa"]
    for p in prefixes:
        for column, direction, what in ((FI, LOWER, "failure identification"), (AF, HIGHER, "active fine-tuning")):
            claims.append(Claim(f"mds_t9_{p}_{column}", m, "mds_table9",
                                f"MDS-VQA Table 9: with the {p} base model, MDS-VQA beats the base model and random "
                                f"sampling on {what} SRCC",
                                [(f"{p}/mds", f"{p}/base_model", column), (f"{p}/mds", f"{p}/random", column)],
                                direction))  # fmt: skip
    return claims


def w2s_claims(tables: dict[str, Table], margin: float) -> list[Claim]:
    w = "W2S-VQA"
    claims = []
    t5 = tables["w2s_table5"]
    teachers = []
    if t5.seeds is not None:
        teachers = list(dict.fromkeys(t5.seeds.row[t5.seeds.seed.isna()]))
    if not teachers:
        claims.append(Claim("w2s_t5_students_vs_teachers", w, "w2s_table5",
                            "W2S-VQA Table 5: students at least equal their teachers in-domain and exceed them out "
                            "of distribution", [("<student>", "<teacher>", W2S_OVERALL["in_domain"])], HIGHER,
                            note="no teacher (a seedless row) in w2s_table5"))  # fmt: skip
    for t in teachers:
        s = f"{t}_labeled"
        claims.append(Claim(f"w2s_t5_{t}_in_domain", w, "w2s_table5",
                            f"W2S-VQA Table 5: the student of {t} is at least equal to {t} in-domain "
                            f"(overall SRCC, non-inferiority margin {margin:g})",
                            [(s, t, W2S_OVERALL["in_domain"])], HIGHER, margin=margin))  # fmt: skip
        claims.append(Claim(f"w2s_t5_{t}_ood", w, "w2s_table5",
                            f"W2S-VQA Table 5: the student of {t} is above {t} out of distribution (overall SRCC)",
                            [(s, t, W2S_OVERALL["ood"])], HIGHER))  # fmt: skip
    for prev, stage in zip(W2S_STAGES, W2S_STAGES[1:], strict=False):
        for block, column in W2S_OVERALL.items():
            claims.append(Claim(f"w2s_t1_{stage}_over_{prev}_{block}", w, "w2s_table1",
                                f"W2S-VQA Table 1: stage {stage} improves on {prev} ({column} SRCC)",
                                [(stage, prev, column)], HIGHER))  # fmt: skip
    return claims


def expectation(control: str, result: str) -> str:
    """Whether a control's verdict is what it expects (``control``: "<kind>: expected agree | not agree", or
    "<kind>: measured")."""
    if control.endswith("expected agree"):
        return "expectation met" if result == AGREE else "expectation NOT met (expected agree)"
    if control.endswith("expected not agree"):
        return "expectation met" if result != AGREE else "expectation NOT met (expected not agree)"
    return "measured (no expectation)"


def control_claims(name: str, tables: dict[str, Table]) -> list[Claim]:
    """The claims of one positive control (module docstring); the twin's are the same claims, expected not agree."""
    paper, kind = CONTROLS[name]
    twin = kind == "twin"
    expected = "twin: expected not agree" if twin else "planted: expected agree"
    if paper == "mds":
        who = ("Negative twin (errors on random videos, g uninformed)" if twin else
               "Control (a planted failure of f on a content cluster, g knows it up to noise)")  # fmt: skip
        m = "MDS-VQA control"
        return [
            Claim(f"{name}_failure_identification", m, name,
                  f"{who}: MDS-VQA's picks have a lower failure-identification SRCC than random picks",
                  [("mds", "random", "failure_identification")], LOWER, control=expected),
            Claim(f"{name}_repair", m, name,
                  f"{who}: fine-tuning on MDS-VQA's picks repairs the planted failure (SRCC on its test videos) more "
                  "than fine-tuning on random picks", [("mds", "random", "repair")], HIGHER, control=expected),
            Claim(f"{name}_redundancy", m, name,
                  f"{who}: difficulty-only picks (lambda 0) are more redundant (lower mean pairwise Chamfer distance) "
                  "than MDS-VQA's and than random picks", [("lambda_0", "mds", "redundancy"),
                                                           ("lambda_0", "random", "redundancy")], LOWER,
                  source=f"{name}/{CHAMFER}", control=expected),
        ]  # fmt: skip
    who = ("Negative twin (teachers' errors systematic: one per video, shared, a function of its features)" if twin
           else "Control (teachers = the hidden MOS + independent noise)")  # fmt: skip
    teachers = [r for r in tables[name].rows if r.startswith("teacher_")] or ["teacher_1"]
    planted = "twin: expected not agree" if twin else "planted: measured"
    cases = [("student", "heldout", "on held-out pool videos (its own distribution)", planted),
             ("student", W2S_OVERALL["in_domain"], "in-domain (overall SRCC)", planted),
             ("student", W2S_OVERALL["ood"], "out of distribution (overall SRCC)", planted),
             ("student_mean", "heldout", "on held-out pool videos (its own distribution)", expected)]  # fmt: skip
    what = {"student": "the student of the ensemble's pairs (W2S Sec. 4.1.2)",
            "student_mean": "the student of the teachers' mean score (one teacher, a fixed sigma)"}  # fmt: skip
    present = set(tables[name].rows) or {"student", "student_mean"}  # a control may train one student only
    return [Claim(f"{name}_{student}_{column}", "W2S-VQA control", name,
                  f"{who}: {what[student]} exceeds every teacher {text}", against(student, teachers, column), HIGHER,
                  optional_others=True, control=control)
            for student, column, text, control in cases if student in present]  # fmt: skip


def build_claims(tables_dir: Path, gmad: list[Path], level: float = 0.05, margin: float = 0.01,
                 papers: tuple[str, ...] = ("mds", "w2s"), controls: tuple[str, ...] = ()) -> pd.DataFrame:  # fmt: skip
    names = [*(["mds_table2", "mds_table3", "mds_table5", "mds_table6", "mds_table7", "mds_table8", "mds_table9"]
               if "mds" in papers else []), *(["w2s_table1", "w2s_table5"] if "w2s" in papers else [])]  # fmt: skip
    tables = {n: load_table(tables_dir, n) for n in names}
    claims = []
    if "mds" in papers:
        tables[GMAD_TABLE] = load_gmad(gmad)
        claims += mds_claims(tables)
    if "w2s" in papers:
        claims += w2s_claims(tables, margin)
    for name in controls:
        tables[name] = load_table(tables_dir, name)
        chamfer = load_table(tables_dir, name)
        chamfer.metric = CHAMFER
        tables[f"{name}/{CHAMFER}"] = chamfer
        claims += control_claims(name, tables)
    out = pd.DataFrame.from_records([evaluate(c, tables, level) for c in claims], columns=COLUMNS)
    return out.astype({"n_seeds": "Int64", "seeds_needed": "Int64"})


def markdown(claims: pd.DataFrame) -> str:
    """The claims as a Markdown table (README / report)."""

    def cell(v) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return ""
        return str(v).replace("|", "\\|")

    cols = ["claim", "statement", "verdict", "statistic", "p_value", "n_seeds", "paper_effect", "mde_80",
            "seeds_needed", "p_equivalence", "test", "detail", "control"]  # fmt: skip
    level = claims.level.iloc[0] if len(claims) else ""
    lines = [f"Claims (paired one-sided t-tests over seeds, level {level}):", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]  # fmt: skip
    lines += ["| " + " | ".join(cell(r[c]) for c in cols) + " |" for r in claims.to_dict("records")]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------- CLI


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, output_file

    parser.add_argument("--tables-dir", required=True, type=Path,
                        help="the run's tables folder (<table>_seeds.csv; a table not there is 'not computed')")  # fmt: skip
    parser.add_argument("--gmad", nargs="*", default=[], type=Path, help="vqaloop gmad JSONs, one per seed (Table 4)")
    parser.add_argument("--level", type=float_in(0.0, 1.0, lo_open=True, hi_open=True), default=0.05,
                        help="significance level, in (0, 1) (default 0.05)")  # fmt: skip
    parser.add_argument("--margin", type=float_in(0.0, 1.0), default=0.01,
                        help="W2S Table 5 in-domain non-inferiority margin, in SRCC, in [0, 1] (default 0.01)")  # fmt: skip
    parser.add_argument("--papers", nargs="*", choices=["mds", "w2s"], default=["mds", "w2s"],
                        help="the papers whose claims are tested (none: the controls' rows alone)")  # fmt: skip
    parser.add_argument("--controls", nargs="*", choices=list(CONTROLS), default=[],
                        help="positive controls whose tables (<name>_seeds.csv) add claim rows (README)")  # fmt: skip
    parser.add_argument("--out", required=True, type=output_file, help="claims CSV")
    parser.add_argument("--markdown", type=output_file, help="the same table as Markdown")


def run(args) -> int:
    if not args.tables_dir.is_dir():
        raise UserError(f"--tables-dir {args.tables_dir}: not a folder (the run's tables)")
    absent = [str(p) for p in args.gmad if not p.is_file()]
    if absent:
        raise UserError(f"--gmad: gMAD result(s) not found: {', '.join(absent[:3])}")
    claims = build_claims(args.tables_dir, list(args.gmad), args.level, args.margin, tuple(args.papers),
                          tuple(args.controls))  # fmt: skip
    writes = [(args.out, csv_writer(claims))]
    if args.markdown is not None:
        writes.append((args.markdown, text_writer(markdown(claims))))
    write_all_atomic(writes)  # both files or neither
    log.info("claims:\n%s", claims[["claim", "verdict", "statistic", "p_value"]].to_string(index=False))
    return 0
