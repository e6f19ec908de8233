"""Thurstone / Bradley-Terry MAP scaling: recovery, exactness, gradients, batching, the Adam recipe and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import error_line, run_cli
from scipy import optimize, special, stats

from vqaloop.cli import main
from vqaloop.evaluation import thurstone as T

LINKS = ("normal", "sigmoid")


def cdf(x, link):
    return special.ndtr(x) if link == "normal" else special.expit(x)


def count_matrix(q, n_per_pair, link, rng):
    """Counts of 'i preferred over j' from n_per_pair comparisons of every pair, P = F(q_i - q_j)."""
    n = len(q)
    w = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            w[i, j] = rng.binomial(n_per_pair, cdf(q[i] - q[j], link))
            w[j, i] = n_per_pair - w[i, j]
    return w


def prob_matrix(q, link):
    return cdf(q[:, None] - q[None, :], link)


def reference_map(matrix, link):
    """An independent high-precision MAP: torch float64 objective, autograd gradient and Hessian, trust-exact."""
    m = torch.tensor(np.where(np.eye(len(matrix), dtype=bool), 0.0, matrix), dtype=torch.float64)

    def objective(q):
        diff = q[:, None] - q[None, :]
        log_f = torch.special.log_ndtr(diff) if link == "normal" else torch.nn.functional.logsigmoid(diff)
        return -(m * log_f).sum() + 0.5 * (q**2).sum()

    def fun(x):
        return objective(torch.tensor(x)).item()

    def jac(x):
        q = torch.tensor(x, requires_grad=True)
        (g,) = torch.autograd.grad(objective(q), q)
        return g.numpy()

    def hess(x):
        return torch.autograd.functional.hessian(objective, torch.tensor(x)).numpy()

    res = optimize.minimize(fun, np.zeros(len(m)), jac=jac, hess=hess, method="trust-exact", options={"gtol": 1e-13})
    x = res.x  # trust-exact stops on its value test at a gradient of ~1e-9; plain Newton steps polish
    for _ in range(3):
        x = x - np.linalg.solve(hess(x), jac(x))
    assert np.abs(jac(x)).max() < 1e-12  # strong concavity (modulus 1): |x - MAP| <= |gradient|
    return x


# ------------------------------------------------------------------------------------------ recovery


@pytest.mark.parametrize("link", LINKS)
def test_map_recovers_the_true_scores_from_simulated_comparisons(link):
    """Case V data for the normal link, Bradley-Terry data for the sigmoid link: Spearman > 0.95 in every draw."""
    rng = np.random.default_rng(1)
    rhos = []
    for _ in range(30):
        # 10 items in random order, neighbours 0.1-0.5 apart (closer ones cannot be told apart by 300 comparisons)
        q_true = rng.permutation(np.cumsum(rng.uniform(0.1, 0.5, 10)))
        q_true -= q_true.mean()
        w = count_matrix(q_true, 300, link, rng)
        rhos.append(stats.spearmanr(T.map_scores(w, link), q_true)[0])
    assert min(rhos) > 0.95, rhos


def test_probability_matrix_of_true_scores_gives_their_order():
    q_true = np.array([-1.5, -0.4, 0.1, 0.9, 2.0])
    for link in LINKS:
        q = T.map_scores(prob_matrix(q_true, link), link)
        assert (np.diff(q) > 0).all()


# ------------------------------------------------------------------------------------------ exactness


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("kind", ["probabilities", "counts"])
def test_equals_a_high_precision_optimisation_of_the_same_objective(link, kind):
    rng = np.random.default_rng(2)
    for _ in range(5):
        q_true = rng.normal(0, 1.5, 6)
        m = prob_matrix(q_true, link) if kind == "probabilities" else count_matrix(q_true, 40, link, rng)
        ref = reference_map(m, link)
        assert np.abs(T.map_scores(m, link) - ref).max() < 1e-6
        assert np.abs(T.map_scores_batched(m[None], link)[0] - ref).max() < 1e-6


@pytest.mark.parametrize("link", LINKS)
def test_gradient_is_zero_at_the_solution_and_matches_finite_differences(link):
    rng = np.random.default_rng(3)
    m = count_matrix(rng.normal(0, 1, 5), 20, link, rng)
    m[np.diag_indices(5)] = np.nan  # the diagonal is ignored, whatever it holds

    def log_posterior(x):
        diff = x[:, None] - x[None, :]
        return float((np.nan_to_num(m) * np.log(cdf(diff, link))).sum() - 0.5 * (x**2).sum())

    q = rng.normal(0, 1, 5)
    eps = 1e-6
    numeric = np.array([(log_posterior(q + eps * e) - log_posterior(q - eps * e)) / (2 * eps) for e in np.eye(5)])
    assert np.allclose(T.gradient(q, m, link), numeric, atol=1e-5)
    # the Hessian matches finite differences of the gradient
    mz = np.nan_to_num(m)
    h = T.hessian(q, mz, link)
    h_num = np.array(
        [(T.gradient(q + eps * e, m, link) - T.gradient(q - eps * e, m, link)) / (2 * eps) for e in np.eye(5)]
    )
    assert np.allclose(h, -h_num, atol=1e-5)
    assert np.abs(T.gradient(T.map_scores(m, link), m, link)).max() < 1e-9
    assert np.abs(T.gradient(T.map_scores_batched(m[None], link)[0], m, link)).max() < 1e-9


def test_extreme_preferences_stay_finite():
    """A dominant item that never loses, and huge counts: the prior keeps the MAP finite; log_ndtr keeps it exact."""
    m = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=float) * 5000
    for link in LINKS:
        q = T.map_scores(m, link)
        assert np.isfinite(q).all() and q[0] > q[1] > q[2]
        assert np.abs(T.map_scores_batched(m[None], link)[0] - q).max() < 1e-8
        assert np.abs(T.gradient(q, m, link)).max() < 1e-10 * 5000


# ------------------------------------------------------------------------------------------ batching, links


@pytest.mark.parametrize("link", LINKS)
def test_batched_equals_one_by_one(link):
    rng = np.random.default_rng(4)
    q_true = rng.normal(0, 1, (40, 6))
    ms = np.stack([prob_matrix(q, link) for q in q_true])
    ms[0] = 0.0  # no evidence at all: q = 0
    ms[1] = count_matrix(q_true[1], 100, link, rng)  # counts mixed with probabilities
    batched = T.map_scores_batched(ms, link)
    one = np.stack([T.map_scores(m, link) for m in ms])
    assert batched.shape == (40, 6)
    assert np.abs(batched - one).max() < 1e-9
    assert np.abs(batched[0]).max() == 0.0


def test_the_two_links_differ_where_they_should():
    m = prob_matrix(np.array([-1.0, 0.0, 0.5, 2.0]), "normal")
    qn, qs = T.map_scores(m, "normal"), T.map_scores(m, "sigmoid")
    assert (np.argsort(qn) == np.argsort(qs)).all()  # same order
    assert np.abs(qn - qs).max() > 1e-2  # different scales: the logistic is wider than the normal CDF
    assert np.abs(T.gradient(qn, m, "sigmoid")).max() > 1e-3  # each is stationary only for its own link
    assert np.abs(T.gradient(qs, m, "normal")).max() > 1e-3
    # with no difference at all (a uniform 0.5 matrix), both give 0
    half = np.full((4, 4), 0.5)
    assert np.abs(T.map_scores(half, "normal")).max() < 1e-12 and np.abs(T.map_scores(half, "sigmoid")).max() < 1e-12


def test_bad_matrices_raise_value_errors():
    with pytest.raises(ValueError, match="square"):
        T.map_scores(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=">= 0"):
        T.map_scores(np.array([[0, -1.0], [1, 0]]))
    with pytest.raises(ValueError, match="finite"):
        T.map_scores(np.array([[0, np.nan], [1, 0]]))
    with pytest.raises(ValueError, match="link"):
        T.map_scores(np.zeros((2, 2)), link="probit")
    with pytest.raises(ValueError, match="batched"):
        T.map_scores(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"\(B, n, n\)"):
        T.map_scores_batched(np.zeros((2, 2)))


# ------------------------------------------------------------------------------------------ the authors' recipe


def test_adam_recipe_error_against_the_exact_map_is_reported():
    """Not asserted tiny: the reference stops after 50 (or 100) Adam steps from a random start."""
    rng = np.random.default_rng(5)
    ms = np.stack([prob_matrix(rng.normal(0, 1, 6), "sigmoid") for _ in range(50)])
    exact = T.map_scores_batched(ms, "sigmoid")
    errors = {}
    for steps in (50, 100, 1000):
        adam = T.adam_recipe(ms, link="sigmoid", steps=steps)
        errors[steps] = float(np.abs(adam - exact).max())
    print(f"\nAdam recipe (lr 0.1) max |q - exact MAP| over 50 matrices: {errors}")
    assert all(np.isfinite(v) for v in errors.values())
    assert errors[1000] < errors[50]  # it does head for the same optimum
    assert errors[1000] < 1e-2


def test_adam_recipe_is_seeded_and_batches_exactly():
    rng = np.random.default_rng(6)
    ms = np.stack([prob_matrix(rng.normal(0, 1, 6), "sigmoid") for _ in range(4)])
    together = T.adam_recipe(ms, steps=30)
    one = np.stack([T.adam_recipe(m, steps=30) for m in ms])
    assert np.allclose(together, one, atol=1e-5)  # float32: only the summation order differs
    assert np.array_equal(T.adam_recipe(ms[0], steps=30, seed=3), T.adam_recipe(ms[0], steps=30, seed=3))
    assert not np.array_equal(T.adam_recipe(ms[0], steps=30, seed=3), T.adam_recipe(ms[0], steps=30, seed=4))
    # the start is torch.rand after manual_seed(seed), as in the reference
    torch.manual_seed(0)
    start = torch.rand(6).double().numpy()
    assert np.allclose(T.adam_recipe(ms[0], steps=0), start)


def test_minmax_0_100_is_the_reference_scaling():
    s = T.minmax_0_100(np.array([[1.0, 3.0, 2.0], [-1.0, -2.0, 0.0]]))
    assert np.allclose(s, [[0, 100, 50], [50, 0, 100]])


# ------------------------------------------------------------------------------------------ CLI


def write(path, text):
    path.write_text(text)
    return path


GOOD = ",a,b,c\na,,0.8,0.9\nb,0.2,,0.7\nc,0.1,0.3,\n"


def test_cli_round_trip(tmp_path):
    src = write(tmp_path / "m.csv", GOOD)
    proc = run_cli("thurstone", "--matrix", str(src), check=True)
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "item,score" and [x.split(",")[0] for x in lines[1:]] == ["a", "b", "c"]
    scores = np.array([float(x.split(",")[1]) for x in lines[1:]])
    m = np.array([[0, 0.8, 0.9], [0.2, 0, 0.7], [0.1, 0.3, 0]])
    assert np.allclose(scores, T.map_scores(m, "normal"), atol=1e-10)

    out = tmp_path / "sub" / "s.csv"
    out.parent.mkdir()
    counts = write(tmp_path / "c.csv", "item,x,y\nx,-,7\ny,3,-\n")  # diagonal content is ignored
    assert main(["thurstone", "--matrix", str(counts), "--counts", "--link", "sigmoid", "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "item,score"
    q = T.map_scores(np.array([[0, 7.0], [3.0, 0]]), "sigmoid")
    assert np.allclose([float(r.split(",")[1]) for r in rows[1:]], q, atol=1e-10)
    assert [p.name for p in out.parent.iterdir()] == ["s.csv"]  # no temporary left behind


BAD = {
    "not square": (",a,b,c\na,,0.5,0.5\nb,0.5,,0.5\n", False, "not square"),
    "short row": (",a,b\na,,0.5\nb,0.5\n", False, "row 3 has 2 cells"),
    "names disagree": (",a,b\na,,0.5\nc,0.5,\n", False, "row 3 is item 'c'"),
    "order disagrees": (",a,b\nb,,0.5\na,0.5,\n", False, "row 2 is item 'b'"),
    "above one": (",a,b\na,,1.5\nb,0.5,\n", False, "not a probability"),
    "below zero": (",a,b\na,,-0.1\nb,0.5,\n", False, "not a probability"),
    "negative count": (",a,b\na,,-2\nb,3,\n", True, "negative count"),
    "nan": (",a,b\na,,nan\nb,0.5,\n", False, "not a finite number"),
    "empty cell": (",a,b\na,,\nb,0.5,\n", False, "empty cell"),
    "non-numeric": (",a,b\na,,abc\nb,0.5,\n", True, "'abc' is not a number"),
    "duplicate names": (",a,a\na,,0.5\na,0.5,\n", False, "names item 'a' twice"),
    "zero bytes": ("", False, "empty file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_cli_bad_input_gives_one_error_line_and_writes_nothing(tmp_path, capsys, case):
    text, counts, expected = BAD[case]
    src = write(tmp_path / "bad.csv", text)
    out = tmp_path / "s.csv"
    rc = main(["thurstone", "--matrix", str(src), "--out", str(out), *(["--counts"] if counts else [])])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith(f"vqaloop: error: {src}: ") and expected in err[-1], err
    if case not in ("not square", "duplicate names", "zero bytes"):
        assert "row" in err[-1]
    if case in ("above one", "negative count", "nan", "empty cell", "non-numeric"):
        assert "column 'b'" in err[-1]
    assert list(tmp_path.iterdir()) == [src]


def test_cli_binary_and_missing_files(tmp_path):
    binary = tmp_path / "m.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "binary content" in error_line(run_cli("thurstone", "--matrix", str(binary)))
    latin = tmp_path / "l.csv"
    latin.write_bytes(b",\xe9\xff\n")
    assert "binary content" in error_line(run_cli("thurstone", "--matrix", str(latin)))
    assert "not found" in error_line(run_cli("thurstone", "--matrix", str(tmp_path / "none.csv")))
