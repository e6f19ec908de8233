"""``vqaloop thurstone``: MAP scaling of a pairwise preference matrix (Thurstone Case V or Bradley-Terry).

For a matrix M (n x n) with M_ij = P(i preferred over j), or the count of "i preferred over j" outcomes, the MAP
scores q maximise

    sum_{i != j} M_ij log F(q_i - q_j) - sum_i q_i^2 / 2                                    (W2S-VQA Eq. 35)

with F the standard normal CDF (``link="normal"``: Thurstone Case V, the paper's text) or the logistic sigmoid
(``link="sigmoid"``: Bradley-Terry, what the authors' code calls). Decisions where the paper is silent or wrong:

* **The prior.** Eq. 35 prints "- sum_i q_i / 2 s.t. sum_i q_i = 0"; with the constraint that term is a constant,
  so it is read as the Gaussian prior - sum_i q_i^2 / 2 (SPEC "Soft comparison inference"), unconstrained. The
  objective is then strictly concave (log F is concave for both links, the prior is 1-strongly concave), so the
  MAP is unique, and ||q - q*|| <= ||gradient at q|| (strong concavity with modulus 1) certifies any estimate.
* **The diagonal** is ignored (any value, NaN included): log F(q_i - q_i) = log F(0) does not depend on q.
* **No symmetry is required of the solver**: M_ij + M_ji need not be 1 (counts never sum to 1); any finite
  M_ij >= 0 works. The CLI reads probabilities (P(i over j) + P(j over i) = 1 for every pair, within 1e-6: a
  matrix that breaks it is refused) or, with ``--counts``, counts of outcomes in [0, 1e12] (any totals).
* **Numerics.** log F and its derivative r = F'/F in stable forms: log_ndtr and phi/Phi = exp(log phi - log_ndtr)
  for the normal link (no 0/0 for very negative differences), log-sigmoid and sigmoid(-x) for the logistic one.
* **Solvers.** One matrix: :func:`map_scores`, scipy L-BFGS-B from q = 0 with the analytic gradient (the solver
  gMAD's Thurstone rank has always used; :func:`vqaloop.evaluation.gmad.thurstone_map` calls it), then Newton
  steps from its result, as L-BFGS-B stops on its relative-reduction test at a gradient of ~1e-9 (or, with
  large counts, on a failed line search at ~1e-5, where gMAD's solver used to raise).
  Many matrices of one size: :func:`map_scores_batched`, a damped Newton iteration on all B problems at once
  (batched n x n Hessians, ``np.linalg.solve``, per-problem Armijo backtracking, no Python loop over B), stopped
  when every problem's max |gradient| <= 1e-10 (times the largest entry when that exceeds 1, as for counts: the
  rounding level of the gradient grows with it). Newton rather than L-BFGS because the Hessians are tiny and
  exact, so every problem converges quadratically in a handful of iterations.
* **The authors' recipe** (``infer_pair.py::optimize_score_map_pytorch_cuda`` of W2S-VQA commit 2c7ca75, itself
  from Compare2Score): Adam, lr 0.1, a fixed number of steps (100 by default there, 50 at the call site), start
  ``torch.rand(n)`` after ``torch.manual_seed(seed)`` (the same start for every video), the sigmoid link with
  F clamped below at 1e-6, float32; then min-max scaling of the n scores to 0-100 and the last one returned.
  :func:`adam_recipe` and :func:`minmax_0_100` reproduce it for matching published numbers; it is not the default
  (it stops before convergence, and the min-max step maps every test video better than all anchors to 100).
  Their start is drawn on CUDA there; here on the CPU generator, so the start values differ from theirs.

CLI: ``vqaloop thurstone --matrix M.csv [--link normal|sigmoid] [--counts] [--out S.csv]`` (see ``--help``).
"""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

import numpy as np
from scipy import optimize, special

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_text_atomic

LINKS = ("normal", "sigmoid")
MAX_COUNT = 1e12  # a larger count is no pair-comparison study (and the Newton solve loses its precision)
GTOL = 1e-10  # max |gradient| at which a MAP counts as converged
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------- link functions


def _check_link(link: str) -> None:
    if link not in LINKS:
        raise ValueError(f"unknown link {link!r}; choose one of {', '.join(LINKS)}")


def log_link(x: np.ndarray, link: str) -> np.ndarray:
    """log F(x): log Phi(x) (normal) or log sigmoid(x) (sigmoid), stable for large |x|."""
    if link == "normal":
        return special.log_ndtr(x)
    return -np.logaddexp(0.0, -x)


def _dlog_link(x: np.ndarray, log_f: np.ndarray, link: str) -> np.ndarray:
    """r(x) = d/dx log F(x) = F'(x) / F(x) (phi/Phi via logs; sigmoid(-x) for the logistic link)."""
    if link == "normal":
        return np.exp(-0.5 * x**2 - _LOG_SQRT_2PI - log_f)
    return special.expit(-x)


def _d2log_link(x: np.ndarray, r: np.ndarray, link: str) -> np.ndarray:
    """d^2/dx^2 log F(x) (<= 0: F is log-concave): -r (x + r) (normal), -sigmoid(x) sigmoid(-x) (sigmoid)."""
    if link == "normal":
        return -r * (x + r)
    return -r * (1.0 - r)


# --------------------------------------------------------------------------------------------- the objective


def _prepare(matrix: np.ndarray) -> np.ndarray:
    """Float copy with a zero diagonal; (..., n, n) with finite, non-negative off-diagonal entries."""
    m = np.array(matrix, dtype=float)  # a copy
    if m.ndim < 2 or m.shape[-1] != m.shape[-2] or m.shape[-1] == 0:
        raise ValueError(f"a preference matrix must be square and non-empty, got shape {m.shape}")
    n = m.shape[-1]
    diag = np.arange(n)
    m[..., diag, diag] = 0.0  # W2S-VQA Eq. 35: the diagonal does not depend on q
    if not np.isfinite(m).all():
        raise ValueError("off-diagonal entries of a preference matrix must be finite")
    if (m < 0).any():
        raise ValueError("off-diagonal entries of a preference matrix must be >= 0")
    return m


def neg_log_posterior(q: np.ndarray, matrix: np.ndarray, link: str = "normal") -> tuple[np.ndarray, np.ndarray]:
    """Value and gradient of -(sum_ij M_ij log F(q_i - q_j) - |q|^2 / 2), batched over leading axes.

    ``q`` (..., n), ``matrix`` (..., n, n) with a zero diagonal; returns (value (...), gradient (..., n)).
    """
    diff = q[..., :, None] - q[..., None, :]
    log_f = log_link(diff, link)
    g = matrix * _dlog_link(diff, log_f, link)  # d/d diff of M_ij log F(diff_ij)
    value = -(matrix * log_f).sum(axis=(-2, -1)) + 0.5 * (q**2).sum(axis=-1)
    grad = -(g.sum(axis=-1) - g.sum(axis=-2)) + q
    return value, grad


def hessian(q: np.ndarray, matrix: np.ndarray, link: str = "normal") -> np.ndarray:
    """Hessian (..., n, n) of :func:`neg_log_posterior`: I + the Laplacian of C + C^T, C_ij = -M_ij (log F)''."""
    diff = q[..., :, None] - q[..., None, :]
    r = _dlog_link(diff, log_link(diff, link), link)
    c = -matrix * _d2log_link(diff, r, link)  # >= 0
    s = c + np.swapaxes(c, -1, -2)
    h = -s
    n = q.shape[-1]
    diag = np.arange(n)
    h[..., diag, diag] = 1.0 + s.sum(axis=-1) - s[..., diag, diag]
    return h


def gradient(q: np.ndarray, matrix: np.ndarray, link: str = "normal") -> np.ndarray:
    """Gradient of the log posterior (zero at the MAP); the diagonal of ``matrix`` is ignored."""
    _check_link(link)
    return -neg_log_posterior(np.asarray(q, dtype=float), _prepare(matrix), link)[1]


# --------------------------------------------------------------------------------------------- exact solvers


def map_scores(matrix: np.ndarray, link: str = "normal") -> np.ndarray:
    """MAP scores (n,) of one preference matrix (module doc): L-BFGS-B from 0, then Newton to a gradient <= 1e-10."""
    _check_link(link)
    m = _prepare(matrix)
    if m.ndim != 2:
        raise ValueError(f"map_scores takes one (n, n) matrix, got shape {m.shape}; see map_scores_batched")

    def fun(q):
        value, grad = neg_log_posterior(q, m, link)
        return float(value), grad

    res = optimize.minimize(fun, np.zeros(len(m)), jac=True, method="L-BFGS-B",
                            options={"gtol": GTOL, "ftol": 1e-15, "maxiter": 10000})  # fmt: skip
    # L-BFGS-B stops on its relative-reduction test at a gradient of ~1e-9, or, with large counts (a value in the
    # thousands), on a failed line search at ~1e-5; Newton steps from there finish (and raise if they cannot)
    return map_scores_batched(m[None], link, x0=res.x[None])[0]


def map_scores_batched(matrices: np.ndarray, link: str = "normal", gtol: float = GTOL, max_iter: int = 100,
                       x0: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """MAP scores (B, n) of B matrices (B, n, n) at once: damped Newton with batched Hessians (module doc).

    Starts from q = 0 (or ``x0`` (B, n)); stops when every problem's max |gradient| <= ``gtol`` (times its largest
    entry when that exceeds 1).
    """
    _check_link(link)
    m = _prepare(matrices)
    if m.ndim != 3:
        raise ValueError(f"map_scores_batched takes (B, n, n) matrices, got shape {m.shape}")
    batch, n = m.shape[0], m.shape[-1]
    q = np.zeros((batch, n)) if x0 is None else np.array(x0, dtype=float).reshape(batch, n)
    value, grad = neg_log_posterior(q, m, link)
    tol = gtol * np.maximum(1.0, m.max(axis=(-2, -1)))  # counts: relative to the largest count (rounding)
    for _ in range(max_iter):
        active = np.abs(grad).max(axis=-1) > tol
        if not active.any():
            return q
        qa, ma, va, ga = q[active], m[active], value[active], grad[active]
        step = -np.linalg.solve(hessian(qa, ma, link), ga[..., None])[..., 0]
        slope = (ga * step).sum(axis=-1)  # < 0: the Hessian is positive definite
        # accept a full step without a test once the Newton decrement is at rounding level of the value
        tiny = -slope < 1e-12 * np.maximum(1.0, np.abs(va))
        t = np.ones(len(qa))
        todo = np.ones(len(qa), dtype=bool)
        new_q, new_v, new_g = qa.copy(), va.copy(), ga.copy()
        for _ in range(60):  # Armijo backtracking, per problem
            idx = np.flatnonzero(todo)
            cand = qa[idx] + t[idx, None] * step[idx]
            cv, cg = neg_log_posterior(cand, ma[idx], link)
            ok = (cv <= va[idx] + 1e-4 * t[idx] * slope[idx]) | tiny[idx]
            new_q[idx[ok]], new_v[idx[ok]], new_g[idx[ok]] = cand[ok], cv[ok], cg[ok]
            todo[idx[ok]] = False
            if not todo.any():
                break
            t[todo] *= 0.5
        q[active], value[active], grad[active] = new_q, new_v, new_g
    worst = float((np.abs(grad).max(axis=-1) / np.maximum(1.0, m.max(axis=(-2, -1)))).max())
    if worst > 1e-6:
        raise RuntimeError(f"batched Thurstone MAP did not converge in {max_iter} iterations (max |grad| {worst:.2e})")
    return q


# --------------------------------------------------------------------------------------------- the authors' recipe


def adam_recipe(matrix: np.ndarray, link: str = "sigmoid", steps: int = 50, lr: float = 0.1,
                seed: int = 0) -> np.ndarray:  # fmt: skip
    """The reference code's MAP (module doc): Adam from a seeded ``torch.rand`` start, F clamped at 1e-6, float32.

    ``matrix`` (n, n) gives (n,), (B, n, n) gives (B, n). Adam updates each coordinate on its own, so B problems
    run together follow the trajectories they would one by one (up to float32 summation order); all start from
    the same seeded draw, as the reference re-seeds for every video. Raw scores; :func:`minmax_0_100` applies the reference's scaling.
    """
    import torch

    _check_link(link)
    m = _prepare(matrix)
    single = m.ndim == 2
    c = torch.as_tensor(m[None] if single else m, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    start = torch.rand(c.shape[-1], generator=gen)
    q = start.expand(c.shape[0], -1).clone().requires_grad_(True)
    opt = torch.optim.Adam([q], lr=lr)
    floor = torch.tensor(1e-6)
    cdf = torch.sigmoid if link == "sigmoid" else torch.special.ndtr
    for _ in range(steps):
        opt.zero_grad()
        diff = q[:, :, None] - q[:, None, :]
        loss = -((c * torch.log(torch.maximum(cdf(diff), floor))).sum() - (q**2).sum() / 2)
        loss.backward()
        opt.step()
    out = q.detach().double().numpy()
    return out[0] if single else out


def minmax_0_100(scores: np.ndarray) -> np.ndarray:
    """The reference's final scaling: 100 (q - min q) / (max q - min q) along the last axis (not our default)."""
    s = np.asarray(scores, dtype=float)
    lo, hi = s.min(axis=-1, keepdims=True), s.max(axis=-1, keepdims=True)
    return 100.0 * (s - lo) / (hi - lo)


# --------------------------------------------------------------------------------------------- CLI


def _cell(path: Path, line: int, row: str, col: str, text: str, counts: bool) -> float:
    where = f"{path}: row {line} ({row!r}), column {col!r}"
    if text == "":
        raise UserError(f"{where}: empty cell")
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: {text!r} is not a finite number")
    if counts and value < 0:
        raise UserError(f"{where}: {text} is a negative count")
    if counts and value > MAX_COUNT:
        raise UserError(f"{where}: {text} is a count above {MAX_COUNT:g}")
    if not counts and not 0.0 <= value <= 1.0:
        raise UserError(f"{where}: {text} is not a probability in [0, 1] (use --counts for counts)")
    return value


def read_matrix(path: Path, counts: bool = False) -> tuple[list[str], np.ndarray]:
    """(names, M) of a square preference CSV (``--help``); UserError naming the file, row and column."""
    if not path.is_file():
        raise UserError(f"{path}: matrix file not found")
    data = path.read_bytes()
    if not data.strip():
        raise UserError(f"{path}: empty file")
    if b"\x00" in data:
        raise UserError(f"{path}: binary content, not a CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: binary content, not a UTF-8 CSV") from None
    try:
        rows = [(k, [c.strip() for c in r]) for k, r in enumerate(csv.reader(io.StringIO(text)), 1) if any(r)]
    except csv.Error as err:
        raise UserError(f"{path}: not a readable CSV ({err})") from None
    (_, header), body = rows[0], rows[1:]
    names = header[1:]
    if not names:
        raise UserError(f"{path}: the header row names no items")
    seen = set()
    for k, name in enumerate(names, 2):
        if not name:
            raise UserError(f"{path}: header column {k} has an empty item name")
        if name in seen:
            raise UserError(f"{path}: header names item {name!r} twice")
        seen.add(name)
    n = len(names)
    if n < 2:
        raise UserError(f"{path}: names {n} item; a preference matrix needs at least 2")
    if len(body) != n:
        raise UserError(f"{path}: not square: the header names {n} items but there are {len(body)} data rows")
    m = np.zeros((n, n))
    for i, (line, row) in enumerate(body):
        if len(row) != n + 1:
            raise UserError(f"{path}: row {line} has {len(row)} cells, expected {n + 1} (a name and {n} values)")
        if row[0] != names[i]:
            raise UserError(f"{path}: row {line} is item {row[0]!r}, but header column {i + 2} is {names[i]!r} "
                            "(the first column must list the header's items in the same order)")  # fmt: skip
        for j in range(n):
            if i != j:  # the diagonal is ignored (any content)
                m[i, j] = _cell(path, line, names[i], names[j], row[j + 1], counts)
    if not counts:
        check_complementary(path, names, m)
    return names, m


def check_complementary(path: Path, names: list[str], m: np.ndarray) -> None:
    """Probabilities of one pair sum to 1 (P(i over j) + P(j over i), within 1e-6); anything else is counts
    (``--counts``: ties as 0.5 to each side, any totals)."""
    gap = np.abs(m + m.T - 1.0)
    np.fill_diagonal(gap, 0.0)
    if gap.max() > 1e-6:
        i, j = np.unravel_index(int(np.argmax(gap)), gap.shape)
        raise UserError(f"{path}: P({names[i]} over {names[j]}) + P({names[j]} over {names[i]}) = "
                        f"{m[i, j] + m[j, i]:.6g}, not 1: probabilities of a pair must be complementary "
                        "(use --counts for counts of outcomes)")  # fmt: skip


def add_arguments(parser):
    parser.description = (
        "MAP scores of a pairwise preference matrix: maximise sum_{i != j} M_ij log F(q_i - q_j) - sum_i q_i^2 / 2 "
        "(W2S-VQA Eq. 35), F = normal CDF (Thurstone Case V) or logistic sigmoid (Bradley-Terry)."
    )
    from vqaloop.cli_checks import output_file

    parser.add_argument("--matrix", required=True, type=Path,
                        help="square CSV: the header row is a corner cell then the item names; each row is an item "
                             "name (same names, same order) then its entries; entry (i, j) = P(i preferred over j) "
                             "in [0, 1], P(i over j) + P(j over i) = 1 (or a count with --counts). Diagonal cells "
                             "are ignored (may be blank).")  # fmt: skip
    parser.add_argument("--link", choices=LINKS, default="normal",
                        help="normal: Thurstone Case V (the paper); sigmoid: Bradley-Terry (the authors' code)")  # fmt: skip
    parser.add_argument("--counts", action="store_true",
                        help="entries are counts of 'i preferred over j' in [0, 1e12] (a pair-comparison study; "
                             "fractions allowed, e.g. 0.5 per tie; no totals required)")  # fmt: skip
    parser.add_argument("--out", type=output_file, help="output CSV (item,score); default: stdout")


def run(args) -> int:
    names, m = read_matrix(args.matrix, args.counts)
    q = map_scores(m, args.link)
    text = "item,score\n" + "".join(f"{_csv_field(n)},{s:.12g}\n" for n, s in zip(names, q, strict=True))
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(args.out, text)
    return 0


def _csv_field(name: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([name])
    return buf.getvalue()
