"""TableDistribution against direct brute-force formulas (issue 2 item 3).

The helpers ``brute_conditionals`` and ``brute_chain`` are written from the
definition (sum the table over the configurations consistent with a context) and
share no code with the package; the other test modules import them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.strategies import chain_queries, contexts, enumerable_distributions
from distributions.table import TableDistribution
from tests.helpers import assert_family, brute_chain, brute_conditionals, gtest_table

ALPHA = 0.01


# ----------------------------------------------------------------- brute force
# ----------------------------------------------------------------- conditionals
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_conditionals_match_brute_force(data: st.DataObject) -> None:
    d = data.draw(enumerable_distributions(max_n=4, max_q=3))
    x = data.draw(contexts(d))
    np.testing.assert_allclose(
        d.conditionals(x), brute_conditionals(d.pmf(), d.n, d.q, x), rtol=0, atol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_conditionals_at_match_brute_force(data: st.DataObject) -> None:
    d = data.draw(enumerable_distributions(max_n=4, max_q=3))
    x, pos, vals = data.draw(chain_queries(d, max_batch=4))
    pmf = d.pmf()
    np.testing.assert_allclose(d.conditionals_at(x, pos), brute_chain(pmf, d.n, d.q, x, pos, None),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.conditionals_at(x, pos, vals),
                               brute_chain(pmf, d.n, d.q, x, pos, vals), rtol=0, atol=1e-12)


def test_large_table_fallback_path_matches_brute_force() -> None:
    # (q+1)**n = 3**15 > 2**23: no extended table, the chunked masked-sum path answers
    n, q = 15, 2
    rng = np.random.default_rng(20261122)
    table = rng.random((q,) * n) ** 3
    table.reshape(-1)[rng.random(q**n) < 0.2] = 0.0
    d = TableDistribution(table)
    assert d._log_ext is None  # the path under test
    x = rng.integers(MASK, q, size=(3, n))
    x[0] = MASK
    ref = brute_conditionals(d.pmf(), n, q, x)
    np.testing.assert_allclose(d.conditionals(x), ref, rtol=0, atol=1e-12)
    pos = np.array([np.flatnonzero(r == MASK)[:1] for r in x[:1]])
    vals = np.zeros_like(pos)
    np.testing.assert_allclose(d.conditionals_at(x[:1], pos, vals),
                               brute_chain(d.pmf(), n, q, x[:1], pos, vals), atol=1e-12)


def test_zero_probability_context_gives_zero_rows() -> None:
    d = TableDistribution(np.array([[0.5, 0.5], [0.0, 0.0]]))  # x_0 = 1 impossible
    out = d.conditionals(np.array([[1, MASK], [0, MASK]]))
    np.testing.assert_array_equal(out[0], [[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(out[1], [[1.0, 0.0], [0.5, 0.5]])
    # the positional form (q = 2 branch), with and without chain values
    ctx = np.array([[1, MASK], [0, MASK]])
    np.testing.assert_array_equal(d.conditionals_at(ctx, np.array([[1], [1]])),
                                  [[[0.0, 0.0]], [[0.5, 0.5]]])
    np.testing.assert_array_equal(
        d.conditionals_at(np.full((2, 2), MASK), np.array([[0, 1], [0, 1]]),
                          np.array([[1, 0], [0, 1]])),
        [[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.5, 0.5]]])


# ----------------------------------------------------------------- other methods
@settings(max_examples=40, deadline=None)
@given(d=enumerable_distributions(max_n=4, max_q=3), data=st.data())
def test_marginal_and_log_pmf(d: TableDistribution, data: st.DataObject) -> None:
    idx = data.draw(st.permutations(range(d.n)))[: data.draw(st.integers(1, d.n))]
    configs = np.array(list(itertools.product(range(d.q), repeat=d.n)))
    pmf = d.pmf()
    expected = np.zeros((d.q,) * len(idx))
    for c, p in zip(configs, pmf, strict=True):
        expected[tuple(c[idx])] += p
    np.testing.assert_allclose(d.marginal(idx), expected, atol=1e-14)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(d.log_pmf(configs), np.log(pmf), atol=1e-12)


def test_sample_gtest_family() -> None:
    seed = 4711
    rng = np.random.default_rng(seed)
    num = 20000
    tables = {
        "dirichlet(2,3)": rng.dirichlet(np.ones(9)).reshape(3, 3),
        "spiky(4,2)": rng.dirichlet(np.full(16, 0.3)).reshape((2,) * 4),
        "zeros(3,2)": np.array([0.1, 0.0, 0.3, 0.0, 0.2, 0.1, 0.0, 0.3]).reshape(2, 2, 2),
    }
    pvalues = {}
    for name, t in tables.items():
        d = TableDistribution(t)
        res = gtest_table(d.sample(num, rng=rng), d.pmf(), d.q)
        assert res.impossible_hits == 0, f"{name}: sample hit a zero-probability cell"
        pvalues[name] = res.pvalue
    assert_family(pvalues, alpha=ALPHA, seed=seed, sizes=f"{num} samples per table")


# ----------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("probs", "match"),
    [
        (np.array([[0.5, -0.1], [0.3, 0.3]]), r"`probs` must be finite and non-negative"),
        (np.array([[0.5, np.nan], [0.3, 0.3]]), r"`probs` must be finite and non-negative"),
        (np.ones((2, 3)), r"`probs` must have shape \(q,\)\*n with q >= 2"),
        (np.ones((1, 1)), r"`probs` must have shape \(q,\)\*n with q >= 2"),
        (np.zeros((2, 2)), r"`probs` must have a positive sum"),
        (np.ones((2,) * 21), r"`probs` must have at most 1048576 entries"),
        (np.float64(1.0), r"`probs` must have at least 1 axis"),
        ("abc", r"`probs` must be an array of non-negative numbers"),
    ],
)
def test_constructor_rejects_bad_probs(probs: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        TableDistribution(probs)


def test_methods_reject_bad_arguments() -> None:
    d = TableDistribution(np.ones((2, 2, 2)))
    with pytest.raises(ParameterError, match=r"`x` must be full configurations"):
        d.log_pmf(np.array([[0, MASK, 1]]))
    with pytest.raises(ParameterError, match=r"`indices` must be distinct"):
        d.marginal([0, 0])
    with pytest.raises(ParameterError, match=r"`indices\[k\]` must be an integer in \[0, 2\]"):
        d.marginal([3])
    with pytest.raises(ParameterError, match=r"`num` must be an integer >= 0; got -1"):
        d.sample(-1)
    with pytest.raises(ParameterError, match=r"`x` must have shape \(B, 3\)"):
        d.conditionals(np.zeros((2, 2), dtype=int))
    with pytest.raises(ParameterError, match=r"`x` entries must be in"):
        d.conditionals(np.array([[0, 2, 0]]))
    with pytest.raises(ParameterError, match=r"`x` must be an integer array"):
        d.conditionals(np.zeros((1, 3)))


# ----------------------------------------------------------------- exact weights
def test_rational_weights_only_when_known_exactly() -> None:
    w = np.arange(1.0, 9.0).reshape(2, 2, 2)
    got = TableDistribution(w).rational_weights
    assert got is not None and got.dtype == object and got.shape == (2, 2, 2)
    assert all(type(v) is int for v in got.flat) and (got == w.astype(int)).all()
    assert TableDistribution(np.array([[0.0, 3.0], [1e20, 2.0]])).rational_weights[1, 0] == 10**20
    # non-integer or irrational weights: the law is known only in floating point
    assert TableDistribution(np.array([[0.5, 1.0], [1.0, 1.0]])).rational_weights is None
    assert TableDistribution(np.exp(-0.7 * np.arange(4.0) / 3).reshape(2, 2)
                             ).rational_weights is None
    # log weights all equal where finite: weight 1 on the support
    lw = np.array([[-3.0, -np.inf], [-3.0, -3.0]])
    assert TableDistribution.from_log_weights(lw).rational_weights.tolist() == [[1, 0], [1, 1]]
    assert TableDistribution.from_log_weights(np.array([0.0, 1.0])).rational_weights is None
