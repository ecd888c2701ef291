"""Small-graph families: definitions, oracle answers vs brute force, bad arguments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.families import hardcore, ising, potts, random_table
from distributions.strategies import FAMILIES, chain_queries, contexts, enumerable_distributions
from tests.helpers import assert_family, brute_chain, brute_conditionals

ALPHA = 0.01


def _configs(n: int, q: int) -> np.ndarray:
    return np.array(list(itertools.product(range(q), repeat=n)))


def _normalise(w: np.ndarray) -> np.ndarray:
    return w / w.sum()


# ------------------------------------------------------- oracle vs brute force
@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_family_oracle_matches_brute_force(family: str, data: st.DataObject) -> None:
    """conditionals and conditionals_at (with/without chain) vs the family's own table,
    on random contexts including zero-probability ones (hard-core, zeroed tables)."""
    d = data.draw(enumerable_distributions(max_n=4, max_q=3, families=(family,)))
    pmf = d.pmf()
    x = data.draw(contexts(d))
    np.testing.assert_allclose(d.conditionals(x), brute_conditionals(pmf, d.n, d.q, x),
                               rtol=0, atol=1e-12)
    x, pos, vals = data.draw(chain_queries(d, max_batch=3))
    np.testing.assert_allclose(d.conditionals_at(x, pos),
                               brute_chain(pmf, d.n, d.q, x, pos, None), rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.conditionals_at(x, pos, vals),
                               brute_chain(pmf, d.n, d.q, x, pos, vals), rtol=0, atol=1e-12)


def test_hardcore_impossible_contexts_are_all_zero() -> None:
    d = hardcore(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]), 2.0)  # path 0-1-2
    x = np.array([[1, 1, MASK], [1, MASK, 1], [MASK, MASK, MASK]])
    out = d.conditionals(x)
    np.testing.assert_array_equal(out[0, 2], [0.0, 0.0])  # 0 and 1 adjacent: impossible
    np.testing.assert_array_equal(out[1, 1], [1.0, 0.0])  # 1 is forced out
    assert np.isfinite(out).all()
    # a chain through an impossible value: later steps are all zero
    at = d.conditionals_at(np.array([[1, MASK, MASK]]), np.array([[1, 2]]), np.array([[1, 0]]))
    np.testing.assert_array_equal(at[0], [[1.0, 0.0], [0.0, 0.0]])


# ------------------------------------------------------- definitions
def test_ising_matches_definition() -> None:
    rng = np.random.default_rng(11)
    n = 5
    J = np.triu(rng.normal(size=(n, n)), 1)
    J = J + J.T + np.diag(rng.normal(size=n))  # the diagonal is ignored
    h, beta = rng.normal(size=n), 0.7
    s = 2 * _configs(n, 2) - 1
    energy = np.array([sum(J[i, j] * c[i] * c[j] for i in range(n) for j in range(i + 1, n))
                       + h @ c for c in s])
    np.testing.assert_allclose(ising(J, h, beta=beta).pmf(), _normalise(np.exp(beta * energy)),
                               rtol=1e-12)
    np.testing.assert_allclose(ising(np.zeros((3, 3))).pmf(), np.full(8, 1 / 8))


def test_potts_matches_definition() -> None:
    rng = np.random.default_rng(12)
    n, q, beta = 4, 3, 1.3
    J = np.triu(rng.normal(size=(n, n)), 1)
    J = J + J.T
    x = _configs(n, q)
    energy = np.array([sum(J[i, j] * (c[i] == c[j]) for i in range(n) for j in range(i + 1, n))
                       for c in x])
    np.testing.assert_allclose(potts(J, q, beta=beta).pmf(),
                               _normalise(np.exp(beta * energy)), rtol=1e-12)


def test_hardcore_matches_definition() -> None:
    A = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0]])
    lam = 1.7
    x = _configs(4, 2)
    indep = np.array([all(not (c[i] and c[j] and A[i, j]) for i in range(4) for j in range(4))
                      for c in x])
    expected = _normalise(np.where(indep, lam ** x.sum(axis=1), 0.0))
    pmf = hardcore(A, lam).pmf()
    np.testing.assert_allclose(pmf, expected, rtol=1e-12)
    np.testing.assert_array_equal(pmf == 0, ~indep)


def test_large_weights_do_not_overflow() -> None:
    J = np.ones((4, 4)) - np.eye(4)
    d = ising(J, beta=400.0)  # exp(beta * 6) overflows without log-sum-exp
    pmf = d.pmf()
    assert np.isfinite(pmf).all()
    np.testing.assert_allclose(pmf[[0, -1]], [0.5, 0.5])


def test_random_table_reproducible_and_normalised() -> None:
    a = random_table(3, 3, rng=5).pmf()
    np.testing.assert_array_equal(a, random_table(3, 3, rng=5).pmf())
    assert not np.array_equal(a, random_table(3, 3, rng=6).pmf())
    assert abs(a.sum() - 1) < 1e-12
    tiny = random_table(4, 2, concentration=1e-3, rng=1).pmf()  # log-space gammas
    assert np.isfinite(tiny).all() and abs(tiny.sum() - 1) < 1e-12


def test_random_table_cells_follow_dirichlet_marginal() -> None:
    """A cell of Dirichlet(a,...,a) over K cells is Beta(a, (K-1) a): KS tests, Holm."""
    seed = 2026
    rng = np.random.default_rng(seed)
    reps, n, q = 400, 2, 2
    pvalues = {}
    for a in (0.05, 0.5, 3.0):
        cells = np.array([random_table(n, q, concentration=a, rng=rng).pmf()[1]
                          for _ in range(reps)])
        pvalues[f"a={a}"] = stats.kstest(cells, stats.beta(a, (q**n - 1) * a).cdf).pvalue
    assert_family(pvalues, alpha=ALPHA, seed=seed, sizes=f"{reps} tables per concentration")


def test_dirichlet_check_detects_a_wrong_concentration() -> None:
    """The other side: tables drawn with concentration 1.5 are rejected as Dirichlet(0.5)."""
    rng = np.random.default_rng(2027)
    cells = np.array([random_table(2, 2, concentration=1.5, rng=rng).pmf()[1]
                      for _ in range(400)])
    assert stats.kstest(cells, stats.beta(0.5, 1.5).cdf).pvalue < ALPHA


# ------------------------------------------------------- bad arguments
SYM = np.array([[0.0, 1.0], [1.0, 0.0]])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: random_table(0, 2), r"`n` must be an integer >= 1; got 0\."),
        (lambda: random_table(2, 1), r"`q` must be an integer >= 2; got 1\."),
        (lambda: random_table(2.5, 2), r"`n` must be an integer >= 1; got 2\.5\."),
        (lambda: random_table(21, 2), r"table size q\*\*n must be <= 1048576 .*got 2\*\*21"),
        (lambda: random_table(2, 2, concentration=0.0), r"`concentration` must be a finite "
         r"number > 0; got 0\.0\."),
        (lambda: random_table(2, 2, concentration=np.inf), r"`concentration` must be a finite"),
        (lambda: ising(np.ones((2, 3))), r"`couplings` must have shape \(n, n\)"),
        (lambda: ising(np.array([[0, 1], [2, 0]])), r"`couplings` must be symmetric; got 1\.0 "
         r"at \(0, 1\) but 2\.0 at \(1, 0\)\."),
        (lambda: ising(np.array([[0, np.nan], [np.nan, 0]])), r"`couplings` must be finite"),
        (lambda: ising(SYM, np.ones(3)), r"`field` must have shape \(2,\); got shape \(3,\)\."),
        (lambda: ising(SYM, [0.0, np.inf]), r"`field` must be finite; got inf at index 1\."),
        (lambda: ising(SYM, beta=np.nan), r"`beta` must be a finite number; got nan\."),
        (lambda: ising(np.zeros((21, 21))), r"table size q\*\*n must be <= 1048576"),
        (lambda: ising("x"), r"`couplings` must be a real \(n, n\) matrix"),
        (lambda: potts(SYM, 1), r"`q` must be an integer >= 2; got 1\."),
        (lambda: potts(np.zeros((13, 13)), 3), r"got 3\*\*13 = 1594323"),
        (lambda: potts(np.array([[0, 1], [0, 0]]), 3), r"`couplings` must be symmetric"),
        (lambda: potts(SYM, 3, beta="hot"), r"`beta` must be a finite number; got 'hot'\."),
        (lambda: hardcore(SYM * 2, 1.0), r"`adjacency` entries must be 0 or 1; got 2\.0"),
        (lambda: hardcore(np.eye(2), 1.0), r"`adjacency` must have a zero diagonal; got 1 at "
         r"\(0, 0\)\."),
        (lambda: hardcore(np.array([[0, 1], [0, 0]]), 1.0), r"`adjacency` must be symmetric"),
        (lambda: hardcore(SYM, 0.0), r"`fugacity` must be a finite number > 0; got 0\.0\."),
        (lambda: hardcore(SYM, -1.0), r"`fugacity` must be a finite number > 0; got -1\.0\."),
        (lambda: hardcore(np.zeros((0, 0)), 1.0), r"`adjacency` must have shape \(n, n\) "
         r"with n >= 1; got shape \(0, 0\)\."),
    ],
)
def test_bad_arguments_raise_parameter_error(call: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        call()  # type: ignore[operator]


def test_strategy_arguments_are_validated() -> None:
    with pytest.raises(ParameterError, match=r"`families` must be a non-empty subset"):
        enumerable_distributions(families=("nope",))
    with pytest.raises(ParameterError, match=r"`max_q\*\*max_n` must be <= 65536"):
        enumerable_distributions(max_n=17, max_q=2)
    with pytest.raises(ParameterError, match=r"other than 'hardcore'"):
        enumerable_distributions(families=("hardcore",), allow_zeros=False)
    with pytest.raises(ParameterError, match=r"`max_batch` must be an integer >= 3"):
        contexts(random_table(2, 2, rng=0), min_batch=3, max_batch=2)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_allow_zeros_false_gives_full_support(data: st.DataObject) -> None:
    d = data.draw(enumerable_distributions(max_n=3, allow_zeros=False))
    assert (d.pmf() > 0).all()
    x = data.draw(contexts(d, allow_impossible=False))
    out = d.conditionals(x)
    assert np.allclose(out.sum(axis=-1), 1.0)  # no zero-probability context drawn
