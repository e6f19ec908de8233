"""``vqaloop compare-runs RUN_A RUN_B``: where two runs of the workflow first part, and by how much.

Each run leaves one checksum record per job (``vqaloop.provenance.records``). This command reads both runs'
records, orders the jobs as the DAG runs them (a job comes after every job that wrote one of its inputs),
compares each job's output checksums and prints

- the **first divergences**: jobs whose outputs differ while nothing upstream of them differs, i.e. where the
  two runs first part (every other differing job is downstream of one of them);
- for each differing file of those jobs, how much it differs when both files are at hand: the largest absolute
  difference per numeric column of a CSV, per array of an ``.npz``, per tensor of a torch checkpoint, per
  numeric leaf of a JSON file; bytes and sizes otherwise;
- how many jobs differ downstream, and jobs present in one run only.

A run is named by its record folder (``results/<run>/checksums``) or by a working folder holding one
(``--run`` picks the run when there are several). Files are looked up in the run's working folder, and for a
snapshot such as ``results/reference/demo/`` (records and tables only) beside the record folder. Exit status:
0 when every common job wrote the same bits and both runs have the same jobs, 1 when they differ, 2 on an error.
"""

from __future__ import annotations

import heapq
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from vqaloop.errors import UserError

SHOWN_PER_FILE = 6  # columns / arrays / tensors listed per differing file (the largest differences first)


@dataclass
class Run:
    """One run's records: job -> record, and where its files can be found."""

    name: str
    records: dict[str, dict]
    records_dir: Path
    root: Path | None  # the working folder the records' paths are relative to (None: unknown)
    declared_dir: str = ""  # the record folder as the workflow named it (results/<run>/checksums)

    def locate(self, rel: str) -> Path | None:
        """The file a record path names, in the working folder or beside the record folder (a snapshot)."""
        if self.root is not None and (self.root / rel).is_file():
            return self.root / rel
        run_prefix = str(Path(self.declared_dir).parent.as_posix()) + "/" if self.declared_dir else ""
        if run_prefix and rel.startswith(run_prefix):
            candidate = self.records_dir.parent / rel[len(run_prefix) :]
            if candidate.is_file():
                return candidate
        return None


def _record_folders(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("results/*/checksums") if p.is_dir()) + sorted(
        p for p in path.glob("results/reference/*/checksums") if p.is_dir()
    )


def find_records_dir(path: str | os.PathLike, run: str | None) -> Path:
    """A record folder from a record folder itself or from a working folder (``run`` chooses among several)."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: not a folder (expected a run's record folder results/<run>/checksums or a working folder)")  # fmt: skip
    if not (path / "results").is_dir():
        return path  # a record folder itself
    if run is not None:
        candidate = path / "results" / run / "checksums"
        if not candidate.is_dir():
            raise UserError(f"{path}: no record folder results/{run}/checksums (was the run made with record-job?)")
        return candidate
    found = [p for p in _record_folders(path) if p.parent.parent.name == "results"]
    if len(found) != 1:
        names = ", ".join(p.parent.name for p in found) or "none"
        raise UserError(f"{path}: {len(found)} runs with checksum records ({names}): name one with --run")
    return found[0]


def load_run(path: str | os.PathLike, run: str | None = None) -> Run:
    """Every record below a record folder, keyed by job."""
    records_dir = find_records_dir(path, run)
    records = {}
    for file in sorted(records_dir.rglob("*.json")):
        try:
            record = json.loads(file.read_text())
            job = record["job"]
            record["outputs"], record["inputs"], record["declared_outputs"]  # noqa: B018 (required keys)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{file}: not a checksum record ({type(err).__name__}: {err})") from None
        records[job] = record
    if not records:
        raise UserError(f"{records_dir}: no checksum records (*.json)")
    declared = next(iter(records.values())).get("records_dir", "")
    root = None
    parts = Path(declared).parts
    if declared and records_dir.resolve().parts[-len(parts) :] == parts:
        root = records_dir.resolve().parents[len(parts) - 1]
    return Run(str(path), records, records_dir, root, declared)


def producers(records: dict[str, dict]) -> dict[str, str]:
    """Declared output (file or folder) -> the job that wrote it."""
    return {out: job for job, rec in records.items() for out in rec["declared_outputs"]}


def upstream_jobs(record: dict, made_by: dict[str, str]) -> set[str]:
    """The jobs that wrote one of ``record``'s inputs (an input inside a folder output counts)."""
    jobs = set()
    for path in record["inputs"]:
        probe = Path(path)
        for candidate in (probe, *probe.parents):
            job = made_by.get(candidate.as_posix())
            if job is not None:
                jobs.add(job)
                break
    jobs.discard(record["job"])
    return jobs


def dag_order(records: dict[str, dict]) -> tuple[list[str], dict[str, set[str]]]:
    """Jobs in DAG order (Kahn's algorithm, ties by name) and each job's direct upstream jobs."""
    made_by = producers(records)
    parents = {job: upstream_jobs(rec, made_by) for job, rec in records.items()}
    children: dict[str, list[str]] = {job: [] for job in records}
    for job, ups in parents.items():
        for up in ups:
            children[up].append(job)
    waiting = {job: len(ups) for job, ups in parents.items()}
    ready = [job for job, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        job = heapq.heappop(ready)
        order.append(job)
        for child in children[job]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    order += sorted(set(records) - set(order))  # a cycle cannot come from a DAG; keep every job anyway
    return order, parents


def differing_files(a: dict, b: dict) -> list[str]:
    """Output files whose checksums differ or that only one of two records of the same job has."""
    keys = sorted(set(a["outputs"]) | set(b["outputs"]))
    return [k for k in keys if a["outputs"].get(k) != b["outputs"].get(k)]


# ---- magnitudes ------------------------------------------------------------------------------------------


def _largest(items: dict[str, float]) -> list[tuple[str, float]]:
    finite = [(k, v) for k, v in items.items() if v != 0]
    return sorted(finite, key=lambda kv: (-(kv[1] if not math.isnan(kv[1]) else math.inf), kv[0]))


def _max_abs(x, y) -> float:
    import numpy as np

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        return math.nan
    both_nan = np.isnan(x) & np.isnan(y)
    d = np.abs(x - y)
    d[both_nan] = 0.0
    return float(np.nanmax(d, initial=0.0)) if not np.isnan(d).any() else math.nan


def csv_difference(a: Path, b: Path) -> str:
    """Rows, columns and the largest absolute difference per numeric column (row by row)."""
    import pandas as pd

    x, y = pd.read_csv(a), pd.read_csv(b)
    notes = []
    if list(x.columns) != list(y.columns):
        notes.append(f"columns differ ({len(x.columns)} vs {len(y.columns)})")
    if len(x) != len(y):
        notes.append(f"rows {len(x)} vs {len(y)}")
        return "; ".join(notes)
    numeric, text = {}, {}
    for col in [c for c in x.columns if c in y.columns]:
        if pd.api.types.is_numeric_dtype(x[col]) and pd.api.types.is_numeric_dtype(y[col]):
            numeric[col] = _max_abs(x[col].to_numpy(), y[col].to_numpy())
        else:
            n = int((x[col].astype(str) != y[col].astype(str)).sum())
            if n:
                text[col] = n
    shown = _largest(numeric)
    parts = [f"{c} {v:.3g}" for c, v in shown[:SHOWN_PER_FILE]]
    if len(shown) > SHOWN_PER_FILE:
        parts.append(f"... {len(shown) - SHOWN_PER_FILE} more columns")
    parts += [f"{c}: {n} cell(s) differ" for c, n in sorted(text.items())]
    if parts:
        notes.append("max |diff| " + ", ".join(parts))
    return "; ".join(notes) or "same values, other bytes (formatting)"


def arrays_difference(x: dict, y: dict, kind: str) -> str:
    """The largest absolute difference per array / tensor present in both; names present in one only."""
    import numpy as np

    notes = []
    only = sorted(set(x) ^ set(y))
    if only:
        notes.append(f"{len(only)} {kind}(s) in one file only ({', '.join(only[:3])})")
    diffs = {}
    for name in sorted(set(x) & set(y)):
        u, v = np.asarray(x[name]), np.asarray(y[name])
        if u.shape != v.shape:
            notes.append(f"{name}: shape {u.shape} vs {v.shape}")
        elif u.dtype.kind in "fiub" and v.dtype.kind in "fiub":
            diffs[name] = _max_abs(u, v)
        elif not np.array_equal(u, v):
            notes.append(f"{name}: differs")
    shown = _largest(diffs)
    if shown:
        listed = ", ".join(f"{k} {v:.3g}" for k, v in shown[:SHOWN_PER_FILE])
        more = f" (+{len(shown) - SHOWN_PER_FILE} more)" if len(shown) > SHOWN_PER_FILE else ""
        notes.insert(0, f"{len(shown)} of {len(diffs)} {kind}s differ, max |diff| {listed}{more}")
    return "; ".join(notes) or f"same {kind}s, other bytes (container)"


def _flatten(obj, prefix: str = "") -> dict:
    """Nested dicts / lists -> flat name -> leaf (tensors and arrays kept whole)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, (list, tuple)) and not all(isinstance(v, (int, float)) for v in obj):
        out = {}
        for k, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def _numeric_leaves(flat: dict) -> dict:
    import numpy as np

    out = {}
    for k, v in flat.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().double().numpy()
        if isinstance(v, (bool, int, float, list, tuple, np.ndarray, np.generic)):
            try:
                out[k] = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                out[k] = np.asarray(str(v))
        else:
            out[k] = np.asarray(str(v))
    return out


def file_difference(a: Path, b: Path) -> str:
    """How two versions of one output file differ (see the module docstring)."""
    suffix = a.suffix.lower()
    try:
        if suffix == ".csv":
            return csv_difference(a, b)
        if suffix == ".npz":
            import numpy as np

            with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
                return arrays_difference(dict(x), dict(y), "array")
        if suffix in (".pt", ".pth"):
            import torch

            x = torch.load(a, map_location="cpu", weights_only=True)
            y = torch.load(b, map_location="cpu", weights_only=True)
            return arrays_difference(_numeric_leaves(_flatten(x)), _numeric_leaves(_flatten(y)), "tensor")
        if suffix == ".json":
            x, y = json.loads(a.read_text()), json.loads(b.read_text())
            return arrays_difference(_numeric_leaves(_flatten(x)), _numeric_leaves(_flatten(y)), "value")
    except Exception as err:  # a file that does not parse is still reported, by bytes
        return f"unreadable as {suffix} ({type(err).__name__}); {a.stat().st_size} vs {b.stat().st_size} bytes"
    return f"bytes differ ({a.stat().st_size} vs {b.stat().st_size} bytes)"


# ---- the report ----------------------------------------------------------------------------------------


@dataclass
class Comparison:
    order: list[str]
    differing: dict[str, list[str]]  # job -> differing files, in DAG order
    first: list[str]  # differing jobs with no differing job upstream
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differing and not self.only_a and not self.only_b


def compare(a: Run, b: Run) -> Comparison:
    """Compare two runs job by job (see the module docstring)."""
    common = {job: a.records[job] for job in a.records if job in b.records}
    order, parents = dag_order({**b.records, **a.records})
    differing = {
        job: files for job in order if job in common and (files := differing_files(a.records[job], b.records[job]))
    }

    def ancestors(job: str, seen: set[str]) -> set[str]:
        for up in parents.get(job, ()):
            if up not in seen:
                seen.add(up)
                ancestors(up, seen)
        return seen

    first = [job for job in differing if not (ancestors(job, set()) & set(differing))]
    only_a = [job for job in order if job in a.records and job not in b.records]
    only_b = [job for job in order if job in b.records and job not in a.records]
    return Comparison(order, differing, first, only_a, only_b)


def report_lines(a: Run, b: Run, result: Comparison, show_all: bool = False) -> list[str]:
    n_common = len(set(a.records) & set(b.records))
    lines = [
        f"A: {a.records_dir} ({len(a.records)} jobs)",
        f"B: {b.records_dir} ({len(b.records)} jobs)",
    ]
    dispatch_a = {json.dumps(r.get("dispatch"), sort_keys=True) for r in a.records.values()}
    dispatch_b = {json.dumps(r.get("dispatch"), sort_keys=True) for r in b.records.values()}
    if dispatch_a != dispatch_b:
        lines.append(
            f"note: the runs used other CPU-dispatch settings: A {sorted(dispatch_a)} / B {sorted(dispatch_b)}"
        )
    if result.identical:
        lines.append(f"identical: all {n_common} jobs wrote the same bits")
        return lines
    lines.append(
        f"{n_common - len(result.differing)} of {n_common} common jobs identical, {len(result.differing)} differ; "
        f"{len(result.first)} where the runs first part (DAG order):"
    )
    shown = list(result.differing) if show_all else result.first
    for job in shown:
        record = a.records[job]
        files = result.differing[job]
        marker = "" if job in result.first else "  (downstream)"
        lines.append(f"  {job}: {len(files)} of {len(record['outputs'])} file(s) differ{marker}")
        for rel in files:
            fa, fb = a.locate(rel), b.locate(rel)
            if rel not in a.records[job]["outputs"] or rel not in b.records[job]["outputs"]:
                what = "written by one run only"
            elif fa is None or fb is None:
                what = "checksums differ (the file is not at hand in both runs)"
            else:
                what = file_difference(fa, fb)
            lines.append(f"    {rel}: {what}")
    rest = len(result.differing) - len(result.first)
    if rest and not show_all:
        lines.append(f"  ... and {rest} differing job(s) downstream of these (--all lists them)")
    for side, jobs in (("A", result.only_a), ("B", result.only_b)):
        if jobs:
            listed = ", ".join(jobs[:5]) + (f", ... ({len(jobs)} in all)" if len(jobs) > 5 else "")
            lines.append(f"jobs only in {side}: {listed}")
    return lines


def add_arguments(parser) -> None:
    from vqaloop.cli_checks import name

    parser.add_argument("run_a", metavar="RUN_A", help="a record folder (results/<run>/checksums) or a working folder")
    parser.add_argument("run_b", metavar="RUN_B", help="the other run, the same way")
    parser.add_argument("--run", default=None, type=name, help="the run's name when a working folder holds several")
    parser.add_argument("--all", action="store_true", help="list every differing job, not only the first ones")


def run(args) -> int:
    a, b = load_run(args.run_a, args.run), load_run(args.run_b, args.run)
    result = compare(a, b)
    print("\n".join(report_lines(a, b, result, args.all)))
    return 0 if result.identical else 1
