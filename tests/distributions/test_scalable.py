"""Scalable exact families: agreement with their own tables, definitions, large n."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp

from distributions.base import MASK, PositionalOracle
from distributions.errors import ParameterError
from distributions.oracle_utils import build_chain_contexts
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts, Product
from distributions.strategies import chain_queries, contexts
from distributions.table import TableDistribution
from tests.helpers import assert_family, gtest_table

ALPHA = 0.01


def _small_families() -> dict[str, object]:
    rng = np.random.default_rng(31)
    pz = rng.random((5, 3))
    pz[[0, 2, 4], [1, 0, 2]] = 0.0
    mz = rng.random((3, 5, 2)) ** 2
    mz[0, 1, 0] = mz[1, 3, 1] = mz[2, 1, 0] = 0.0
    return {
        "product": Product(rng.random((6, 2))),
        "product-zeros": Product(pz),
        "mixture": MixtureOfProducts([0.2, 0.5, 0.3], rng.random((3, 6, 2)) ** 3),
        "mixture-zeros": MixtureOfProducts([0.4, 0.0, 0.6], mz),
        "mixture-q3": MixtureOfProducts(rng.random(2), rng.random((2, 4, 3))),
        "cw-high": CurieWeiss(7, 0.4, 0.2),
        "cw-critical": CurieWeiss(8, 1.0),
        "cw-low": CurieWeiss(8, 2.5, -0.1),
        "cw-anti": CurieWeiss(6, -1.5, 0.3),
        "chain": IsingChain(8, 0.7, 0.3),
        "chain-strong": IsingChain(7, 25.0, -0.5),
        "chain-anti": IsingChain(6, -1.2, 0.0),
        "chain-1": IsingChain(1, 1.0, 0.8),
    }


SMALL = _small_families()


def _configs(n: int, q: int) -> np.ndarray:
    return np.array(list(itertools.product(range(q), repeat=n)))


# --------------------------------------------------------------- vs own table
@pytest.mark.parametrize("name", list(SMALL))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_agrees_with_table_of_own_pmf(name: str, data: st.DataObject) -> None:
    d = SMALL[name]
    assert isinstance(d, PositionalOracle)
    t = TableDistribution(d.pmf().reshape((d.q,) * d.n))
    x = data.draw(contexts(d))
    np.testing.assert_allclose(d.conditionals(x), t.conditionals(x), rtol=0, atol=1e-12)
    x, pos, vals = data.draw(chain_queries(d))
    np.testing.assert_allclose(d.conditionals_at(x, pos), t.conditionals_at(x, pos),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.conditionals_at(x, pos, vals),
                               t.conditionals_at(x, pos, vals), rtol=0, atol=1e-12)


# --------------------------------------------------------------- definitions
def test_pmfs_match_definitions() -> None:
    rng = np.random.default_rng(32)
    p = rng.random((4, 3))
    x = _configs(4, 3)
    pn = p / p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(Product(p).pmf(), np.prod(pn[np.arange(4), x], axis=1))

    w, pk = np.array([1.0, 3.0]), rng.random((2, 4, 3))
    pkn = pk / pk.sum(axis=-1, keepdims=True)
    mix = sum(w[k] / 4 * np.prod(pkn[k][np.arange(4), x], axis=1) for k in range(2))
    np.testing.assert_allclose(MixtureOfProducts(w, pk).pmf(), mix)

    n, beta, h = 6, 1.3, -0.2
    s = (2 * _configs(n, 2) - 1).sum(axis=1)
    cw = np.exp(beta / (2 * n) * s**2 + h * s)
    np.testing.assert_allclose(CurieWeiss(n, beta, h).pmf(), cw / cw.sum(), rtol=1e-12)

    J, h = -0.8, 0.6
    sp = 2 * _configs(n, 2) - 1
    ch = np.exp(J * (sp[:, :-1] * sp[:, 1:]).sum(axis=1) + h * sp.sum(axis=1))
    np.testing.assert_allclose(IsingChain(n, J, h).pmf(), ch / ch.sum(), rtol=1e-12)


@pytest.mark.parametrize("name", list(SMALL))
def test_log_pmf_and_pmf_consistent(name: str) -> None:
    d = SMALL[name]
    pmf = d.pmf()
    assert abs(pmf.sum() - 1.0) < 1e-12
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(d.log_pmf(_configs(d.n, d.q)), np.log(pmf), atol=1e-12)


def test_samples_gtest_family() -> None:
    seed = 777
    rng = np.random.default_rng(seed)
    num = 20000
    pvalues = {}
    for name, d in SMALL.items():
        res = gtest_table(d.sample(num, rng=rng), d.pmf(), d.q)
        assert res.impossible_hits == 0, f"{name}: sample hit a zero-probability cell"
        pvalues[name] = res.pvalue
    assert_family(pvalues, alpha=ALPHA, seed=seed, sizes=f"{num} samples per family")


def test_sample_marginals_at_n40() -> None:
    """Per-site binomial tests of the samplers at n = 40 (several scan levels of the
    Ising-chain sampler) against the exact one-site marginals; Holm over all sites."""
    seed = 778
    rng = np.random.default_rng(seed)
    n, num = 40, 4000
    fams = {
        "mixture": MixtureOfProducts([0.3, 0.7], rng.random((2, n, 2)) ** 2),
        "curie_weiss": CurieWeiss(n, 1.2, 0.05),
        "ising_chain": IsingChain(n, 1.1, 0.15),
        "ising_chain-anti": IsingChain(n, -0.9, 0.3),
    }
    pvalues = {}
    for name, d in fams.items():
        marg = d.conditionals(np.full((1, n), MASK))[0, :, 1]
        ones = d.sample(num, rng=rng).sum(axis=0)
        for i in range(n):
            pvalues[f"{name}[{i}]"] = stats.binomtest(int(ones[i]), num, marg[i]).pvalue
    assert_family(pvalues, alpha=ALPHA, seed=seed, sizes=f"{num} samples, n={n}")


@pytest.mark.parametrize("name", list(SMALL))
def test_empty_batches_and_empty_position_lists(name: str) -> None:
    d = SMALL[name]
    n, q = d.n, d.q
    assert d.conditionals(np.zeros((0, n), dtype=int)).shape == (0, n, q)
    none = np.zeros((0, 1), dtype=int)
    assert d.conditionals_at(np.zeros((0, n), dtype=int), none, none).shape == (0, 1, q)
    empty = np.zeros((2, 0), dtype=int)
    assert d.conditionals_at(np.full((2, n), MASK), empty).shape == (2, 0, q)
    assert d.conditionals_at(np.full((2, n), MASK), empty, empty).shape == (2, 0, q)
    assert d.sample(0).shape == (0, n)


# --------------------------------------------------------------- zero probability
def test_product_zero_probability_contexts() -> None:
    d = Product(np.array([[1.0, 0.0], [0.3, 0.7], [0.5, 0.5]]))
    out = d.conditionals(np.array([[1, MASK, MASK], [0, MASK, MASK]]))
    np.testing.assert_array_equal(out[0, 1:], 0.0)
    np.testing.assert_allclose(out[1, 1], [0.3, 0.7])
    at = d.conditionals_at(np.array([[MASK, MASK, MASK]]), np.array([[2, 0, 1]]),
                           np.array([[0, 1, 0]]))
    np.testing.assert_allclose(at[0, :2], [[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(at[0, 2], [0.0, 0.0])  # after the impossible x_0 = 1


# --------------------------------------------------------------- medium / large n
def _medium() -> dict[str, object]:
    rng = np.random.default_rng(33)
    n = 300
    return {
        "product": Product(rng.random((n, 3))),
        "mixture": MixtureOfProducts(rng.random(4), rng.random((4, n, 2))),
        "curie_weiss": CurieWeiss(n, 1.2, 0.05),
        "ising_chain": IsingChain(n, 0.9, -0.2),
    }


@pytest.mark.parametrize("L", [30, 120])  # short and long chain code paths
@pytest.mark.parametrize("name", ["product", "mixture", "curie_weiss", "ising_chain"])
def test_fast_chain_equals_explicit_contexts_at_n300(name: str, L: int) -> None:
    """The O(n + L) chain paths against ``conditionals`` on the B * L explicit contexts."""
    d = _medium()[name]
    rng = np.random.default_rng(34)
    B, n = 6, d.n
    x = np.where(rng.random((B, n)) < 0.4, rng.integers(0, d.q, (B, n)), MASK)
    x[0] = MASK
    pos = np.stack([rng.permutation(np.flatnonzero(r == MASK))[:L] for r in x])
    vals = rng.integers(0, d.q, (B, L))
    full = d.conditionals(build_chain_contexts(x, pos, vals))
    ref = full[np.arange(B * L), pos.reshape(-1)].reshape(B, L, d.q)
    np.testing.assert_allclose(d.conditionals_at(x, pos, vals), ref, rtol=0, atol=1e-11)
    full0 = d.conditionals(x)
    np.testing.assert_allclose(d.conditionals_at(x, pos), full0[np.arange(B)[:, None], pos],
                               rtol=0, atol=1e-12)


def test_curie_weiss_table_path_equals_direct_sum() -> None:
    n = 3000
    rng = np.random.default_rng(35)
    x = np.where(rng.random((3, n)) < 0.5, rng.integers(0, 2, (3, n)), MASK)
    for beta, h in [(0.5, 0.0), (1.0, 0.01), (3.0, -0.02)]:
        fresh, warm = CurieWeiss(n, beta, h), CurieWeiss(n, beta, h)
        a = fresh.conditionals(x)
        assert fresh._table is None  # three rows: direct O(n) sums
        warm._direct_work = n  # as if O(n**2) direct work was done: next call builds
        warm.conditionals(x[:1])
        assert warm._table is not None
        np.testing.assert_allclose(warm.conditionals(x), a, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["product", "mixture", "curie_weiss", "ising_chain"])
def test_no_underflow_at_n_100000(name: str) -> None:
    n = 100_000
    rng = np.random.default_rng(36)
    d = {
        "product": lambda: Product(rng.random((n, 2)) + 1e-3),
        "mixture": lambda: MixtureOfProducts(rng.random(3), rng.random((3, n, 2)) + 1e-3),
        "curie_weiss": lambda: CurieWeiss(n, 1.5, 0.1),
        "ising_chain": lambda: IsingChain(n, 2.0, 0.3),
    }[name]()
    x = np.where(rng.random((2, n)) < 0.7, rng.integers(0, 2, (2, n)), MASK)
    out = d.conditionals(x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-12)
    L = 40
    pos = np.stack([rng.permutation(np.flatnonzero(r == MASK))[:L] for r in x])
    at = d.conditionals_at(x, pos, rng.integers(0, 2, (2, L)))
    assert np.isfinite(at).all()
    np.testing.assert_allclose(at.sum(axis=-1), 1.0, atol=1e-12)
    lp = d.log_pmf(d.sample(3, rng=rng))
    assert np.isfinite(lp).all() and (lp < 0).all()


def test_large_n_log_pmf_normaliser() -> None:
    """log Z by transfer matrices at n = 10**5 equals the closed form for h = 0:
    Z = 2 (2 cosh J)**(n-1)."""
    n, J = 100_000, 1.3
    d = IsingChain(n, J)
    x = np.zeros((1, n), dtype=np.int64)
    expected = J * (n - 1) - (np.log(2) + (n - 1) * np.log(2 * np.cosh(J)))
    np.testing.assert_allclose(d.log_pmf(x), [expected], rtol=1e-12)
    cw = CurieWeiss(n, 0.8)
    k = np.arange(n + 1)
    from scipy.special import gammaln

    logc = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    logz = logsumexp(logc + 0.8 / (2 * n) * (2 * k - n) ** 2)
    np.testing.assert_allclose(cw.log_pmf(x), [0.8 / 2 * n - logz], rtol=1e-12)


# --------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: Product(np.ones(3)), r"`probs` must be a 2-d array; got shape \(3,\)\."),
        (lambda: Product(np.ones((3, 1))), r"`probs` must have q = shape\[-1\] >= 2"),
        (lambda: Product([[1.0, -1.0]]), r"`probs` must be finite and non-negative"),
        (lambda: Product([[0.0, 0.0], [1.0, 1.0]]), r"`probs` rows must have a positive sum; "
         r"got row \(0, 0\)"),
        (lambda: MixtureOfProducts([1.0], np.ones((2, 3, 2))), r"`weights` must have shape "
         r"\(2,\) to match `probs`"),
        (lambda: MixtureOfProducts([0.0, 0.0], np.ones((2, 3, 2))), r"`weights` must have a "
         r"positive sum; got 0\.0\."),
        (lambda: MixtureOfProducts([1.0, np.nan], np.ones((2, 3, 2))), r"`weights` must be "
         r"finite and non-negative"),
        (lambda: MixtureOfProducts([1.0], np.ones((3, 2))), r"`probs` must be a 3-d array"),
        (lambda: CurieWeiss(0, 1.0), r"`n` must be an integer >= 1; got 0\."),
        (lambda: CurieWeiss(4, np.inf), r"`beta` must be a finite number; got inf\."),
        (lambda: CurieWeiss(4, 1.0, h=np.nan), r"`h` must be a finite number; got nan\."),
        (lambda: IsingChain(-3, 1.0), r"`n` must be an integer >= 1; got -3\."),
        (lambda: IsingChain(4, "J"), r"`coupling` must be a finite number; got 'J'\."),
        (lambda: IsingChain(4, 1.0, field=np.inf), r"`field` must be a finite number"),
        (lambda: Product(np.ones((21, 2))).pmf(), r"pmf\(\) tabulates at most 1048576 "
         r"\(2\*\*20\) cells, q\*\*n; got 2\*\*21 = 2097152\."),
        (lambda: CurieWeiss(100_000, 1.0).pmf(), r"pmf\(\) tabulates at most 1048576 "
         r"\(2\*\*20\) cells, q\*\*n; got 2\*\*100000\."),
        (lambda: CurieWeiss(3, 1.0).sample(-1), r"`num` must be an integer >= 0; got -1\."),
        (lambda: IsingChain(3, 1.0).log_pmf(np.array([[0, MASK, 1]])), r"full configurations"),
    ],
)
def test_constructors_reject_bad_arguments(call: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("name", ["product", "mixture", "cw-high", "chain"])
def test_conditionals_at_rejects_bad_queries(name: str) -> None:
    d = SMALL[name]
    x = np.full((2, d.n), MASK)
    x[1, 0] = 1
    good = np.array([[1, 2], [2, 3]])
    with pytest.raises(ParameterError, match=r"`positions` must have shape \(2, L\)"):
        d.conditionals_at(x, good[0])
    with pytest.raises(ParameterError, match=r"`positions` must be an integer array"):
        d.conditionals_at(x, good.astype(float))
    with pytest.raises(ParameterError, match=rf"`positions` entries must be in \[0, {d.n - 1}\]"):
        d.conditionals_at(x, good + d.n)
    with pytest.raises(ParameterError, match=r"distinct within a row; got 2 twice in row 1"):
        d.conditionals_at(x, np.array([[1, 2], [2, 2]]))
    with pytest.raises(ParameterError, match=r"must be masked in `x`; got position 0 of row 1 "
                       r"holding value 1\."):
        d.conditionals_at(x, np.array([[1, 2], [2, 0]]))
    with pytest.raises(ParameterError, match=r"`chain_values` must have shape \(2, 2\)"):
        d.conditionals_at(x, good, np.zeros((2, 3), dtype=int))
    with pytest.raises(ParameterError, match=r"`chain_values` entries must be in \[0, "):
        d.conditionals_at(x, good, np.full((2, 2), d.q))
    with pytest.raises(ParameterError, match=r"`x` entries must be in"):
        d.conditionals(np.full((1, d.n), 7))
