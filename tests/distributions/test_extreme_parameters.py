"""Extreme but finite parameters: the law is right or the constructor refuses
(issue 18 items 18 and 21, issue 19 item 2).

The reference laws are computed here from the parameters alone, in exact decimal
arithmetic (:mod:`decimal`, energies summed at 2000 digits, ``exp`` of energy
differences at 60 digits): no code of the package is shared. Every oracle call runs
with warnings as errors and every floating-point exception raised
(``np.errstate(all="raise")``), underflow included.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Context, Decimal, localcontext
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributions import (
    MASK,
    CurieWeiss,
    IsingChain,
    MixtureOfProducts,
    Product,
    TableDistribution,
    ising,
    potts,
)
from distributions._numerics import LOG_WEIGHT_TOL
from distributions.errors import ParameterError
from distributions.strategies import EXTREME_FAMILIES, ExtremeSpec, extreme_targets

_EXACT = Context(prec=2000, Emax=10**7, Emin=-(10**7))
_SHORT = Context(prec=60, Emax=10**7, Emin=-(10**7))
#: Families whose log weights are sums of parameter terms: accepted parameters are
#: resolved to LOG_WEIGHT_TOL (numerator and denominator of a conditional each).
_ENERGY = frozenset({"ising", "potts", "hardcore", "curie_weiss", "ising_chain"})


@contextmanager
def _strict() -> Iterator[None]:
    """No warning and no floating-point exception (underflow included) may escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


# --------------------------------------------------------------- exact reference
def _configs(n: int, q: int) -> list[tuple[int, ...]]:
    return list(itertools.product(range(q), repeat=n))  # C order


def _D(v: Any) -> Decimal:
    return Decimal(float(v))


def _energy(spec: ExtremeSpec, x: tuple[int, ...]) -> Decimal | None:
    """Exact log weight (None: weight 0) of the energy families."""
    p, n = spec.params, spec.n
    s = [2 * v - 1 for v in x]
    with localcontext(_EXACT):
        if spec.family == "ising":
            J, h = p["couplings"], p["field"]
            e = sum((_D(J[i, j]) * s[i] * s[j] for i in range(n) for j in range(i + 1, n)),
                    Decimal(0))
            e += sum((_D(h[i]) * s[i] for i in range(n)), Decimal(0))
            return _D(p["beta"]) * e
        if spec.family == "potts":
            J = p["couplings"]
            e = sum((_D(J[i, j]) for i in range(n) for j in range(i + 1, n) if x[i] == x[j]),
                    Decimal(0))
            return _D(p["beta"]) * e
        if spec.family == "hardcore":
            A = p["adjacency"]
            if any(A[i, j] and x[i] and x[j] for i in range(n) for j in range(n)):
                return None
            return Decimal(sum(x)) * _D(p["fugacity"]).ln(_SHORT)
        if spec.family == "curie_weiss":
            S = Decimal(sum(s))
            return _D(p["beta"]) / (2 * n) * S * S + _D(p["h"]) * S
        assert spec.family == "ising_chain"
        e = sum((Decimal(s[i] * s[i + 1]) for i in range(n - 1)), Decimal(0))
        return _D(p["coupling"]) * e + _D(p["field"]) * Decimal(sum(s))


def reference_log_weights(
    spec: ExtremeSpec, own_log_pmf: np.ndarray | None = None
) -> list[Decimal | None]:
    """Exact log weights of every configuration, C order (None: weight 0)."""
    n, q, p = spec.n, spec.q, spec.params
    cfg = _configs(n, q)
    if spec.family == "random_table":  # a random law: its own log_pmf is the reference
        assert own_log_pmf is not None
        return [None if v == -np.inf else _D(v) for v in own_log_pmf]
    if spec.family in _ENERGY:
        return [_energy(spec, x) for x in cfg]
    with localcontext(_EXACT):
        if spec.family == "table":
            lin = [+_D(v) for v in np.asarray(p["probs"]).reshape(-1)]
        else:
            probs = np.asarray(p["probs"])
            if spec.family == "product":
                probs, wts = probs[None], np.ones(1)
            else:
                wts = np.asarray(p["weights"])
            wsum = sum((_D(w) for w in wts), Decimal(0))
            rows = [[sum((_D(v) for v in probs[k, i]), Decimal(0)) for i in range(n)]
                    for k in range(len(wts))]
            lin = []
            for x in cfg:
                tot = Decimal(0)
                for k in range(len(wts)):
                    term = _D(wts[k]) / wsum
                    for i in range(n):
                        term *= _D(probs[k, i, x[i]]) / rows[k][i]
                    tot += term
                lin.append(tot)
    with localcontext(_SHORT):
        return [v.ln() if v > 0 else None for v in lin]


def _normalised(lw: list[Decimal | None], keep: list[bool]) -> list[Decimal]:
    """``exp(lw - max)`` over the kept entries (0 elsewhere), 60 digits."""
    vals = [v for v, k in zip(lw, keep, strict=True) if k and v is not None]
    if not vals:
        return [Decimal(0)] * len(lw)
    top = max(vals)
    out = []
    with localcontext(_SHORT):
        for v, k in zip(lw, keep, strict=True):
            d = None if (v is None or not k) else _EXACT.subtract(v, top)
            out.append(Decimal(0) if d is None or d < -(10**5) else d.exp())
    return out


def reference_pmf(lw: list[Decimal | None]) -> np.ndarray:
    w = _normalised(lw, [True] * len(lw))
    with localcontext(_SHORT):
        tot = sum(w, Decimal(0))
        return np.array([float(v / tot) for v in w])


def reference_conditionals(
    lw: list[Decimal | None], n: int, q: int, ctx: np.ndarray
) -> np.ndarray:
    """``mu(X_i = v | ctx[b])`` from the exact log weights, each context scaled by
    its most likely consistent configuration; zero rows if impossible."""
    cfg = _configs(n, q)
    out = np.zeros((ctx.shape[0], n, q))
    with localcontext(_SHORT):
        for b, row in enumerate(ctx):
            ok = [all(r == MASK or r == c for r, c in zip(row, x, strict=True)) for x in cfg]
            w = _normalised(lw, ok)
            for i in range(n):
                if row[i] != MASK:
                    out[b, i, row[i]] = 1.0
                    continue
                num = [Decimal(0)] * q
                for x, wx in zip(cfg, w, strict=True):
                    num[x[i]] += wx
                den = sum(num, Decimal(0))
                if den > 0:
                    out[b, i] = [float(v / den) for v in num]
    return out


def _all_contexts(n: int, q: int) -> np.ndarray:
    return np.array(list(itertools.product(range(MASK, q), repeat=n)), dtype=np.int64)


def _assert_close(got: np.ndarray, ref: np.ndarray, rtol: float, what: str) -> None:
    err = np.abs(got - ref)
    bad = err > 1e-13 + rtol * np.abs(ref)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: got {got[idx]!r}, exact {ref[idx]!r} at {idx} (rtol {rtol:g})"
        )


def _check_target(spec: ExtremeSpec, d: Any, rng: np.random.Generator) -> None:
    """Finite, non-negative, rows summing to 1, equal to the exact law."""
    n, q = spec.n, spec.q
    with _strict():
        pmf = np.asarray(d.pmf())
        log_pmf = d.log_pmf(np.array(_configs(n, q), dtype=np.int64))
    w = reference_log_weights(spec, log_pmf)
    rtol = 2.5 * LOG_WEIGHT_TOL if spec.family in _ENERGY else 1e-12
    ref_pmf = reference_pmf(w)
    assert np.isfinite(pmf).all() and (pmf >= 0).all()
    assert abs(pmf.sum() - 1.0) < 1e-12, f"{spec}: pmf sums to {pmf.sum()!r}"
    _assert_close(pmf, ref_pmf, rtol, f"{spec}: pmf")
    ctx = _all_contexts(n, q)
    with _strict():
        got = d.conditionals(ctx)
    assert np.isfinite(got).all() and (got >= 0).all(), f"{spec}: non-finite or negative"
    ref = reference_conditionals(w, n, q, ctx)
    _assert_close(got, ref, rtol, f"{spec}: conditionals")
    sums = got.sum(axis=-1)
    possible = ref.sum(axis=-1) > 0
    np.testing.assert_allclose(sums[possible], 1.0, atol=1e-12, err_msg=str(spec))
    # a chain query: explicit contexts built here, one per step
    x = ctx[rng.integers(ctx.shape[0])].copy()
    free = np.flatnonzero(x == MASK)
    if free.size:
        pos = rng.permutation(free)
        vals = rng.integers(0, q, pos.size)
        with _strict():
            at = d.conditionals_at(x[None], pos[None], vals[None])[0]
        steps = np.repeat(x[None], pos.size, axis=0)
        for j in range(pos.size):
            steps[j, pos[:j]] = vals[:j]
        ref_at = reference_conditionals(w, n, q, steps)[np.arange(pos.size), pos]
        _assert_close(at, ref_at, rtol, f"{spec}: conditionals_at chain")


# --------------------------------------------------------------- the sweep
@pytest.mark.parametrize("family", EXTREME_FAMILIES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_extreme_parameters_give_the_exact_law_or_a_parameter_error(
    family: str, data: st.DataObject
) -> None:
    spec = data.draw(extreme_targets(families=(family,), max_n=3, max_q=3))
    try:
        with _strict():
            d = spec.build()
    except ParameterError as exc:
        msg = str(exc)
        assert "must" in msg and "`" in msg and "got" in msg, msg
        return
    _check_target(spec, d, np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))))


# --------------------------------------------------------------- the reported cases
def test_table_near_float_max_is_normalised_in_log_space() -> None:
    """Issue 18.18: entries near 1e308 overflowed the sum and gave all-zero rows."""
    probs = np.array([[1e308, 1e308], [1e308, 1.0]])
    spec = ExtremeSpec("table", 2, 2, {"probs": probs})
    with _strict():
        d = TableDistribution(probs)
    _check_target(spec, d, np.random.default_rng(1))
    np.testing.assert_allclose(d.conditionals(np.array([[MASK, MASK]]))[0, 0], [2 / 3, 1 / 3])


def test_table_subnormal_context_keeps_its_conditionals() -> None:
    """A context of positive (subnormal) mass is not answered as impossible."""
    probs = np.array([[1.0, 0.0], [1e-320, 3e-320]])
    with _strict():
        d = TableDistribution(probs)
        got = d.conditionals(np.array([[1, MASK]]))
    np.testing.assert_allclose(got[0, 1], [0.25, 0.75], rtol=1e-12)
    big = np.random.default_rng(2).random((2,) * 15)  # no extended table: brute path
    big[1] *= 1e-320
    with _strict():
        dd = TableDistribution(big)
        assert dd._log_ext is None
        out = dd.conditionals(np.array([[1] + [MASK] * 14]))
    ref = big[1].sum(axis=tuple(range(1, 14)))
    np.testing.assert_allclose(out[0, 1], ref / ref.sum(), rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: IsingChain(4, 1e308), r"`coupling` and `field` must keep the log weights "
         r"resolvable in float64.*got coupling = 1e\+308, field = 0\.0, n = 4"),
        (lambda: IsingChain(50, 1.0, 1e20), r"got coupling = 1\.0, field = 1e\+20, n = 50"),
        (lambda: CurieWeiss(10, 1e308), r"`beta` and `h` must keep the log weights resolvable"
         r".*got beta = 1e\+308, h = 0\.0, n = 10"),
        (lambda: CurieWeiss(100_000, 250.0), r"got beta = 250\.0, h = 0\.0, n = 100000"),
        (lambda: ising(np.array([[0.0, 1e20], [1e20, 0.0]]), [1.0, 0.0]),
         r"`couplings`, `field` and `beta` must keep the log weights resolvable.*"
         r"sum_\{i<j\} \|J_ij\| = 1e\+20, sum_i \|h_i\| = 1"),
        (lambda: ising(np.array([[0.0, 1e300], [1e300, 0.0]]), beta=1e10),
         r"got \|beta\| = 1e\+10, sum_\{i<j\} \|J_ij\| = 1e\+300"),
        (lambda: potts(np.full((3, 3), 1e308), 3), r"`couplings` and `beta` must keep the log "
         r"weights resolvable.*sum_\{i<j\} \|J_ij\| = 3e\+308"),
    ],
)
def test_unresolvable_parameters_are_refused(call: Callable[[], Any], match: str) -> None:
    """Issue 18.18: IsingChain(coupling=1e308) answered 0.5 everywhere."""
    with _strict(), pytest.raises(ParameterError, match=match):
        call()


@pytest.mark.parametrize(
    "spec",
    [
        ExtremeSpec("ising_chain", 3, 2, {"coupling": 1e5, "field": 1.0}),
        ExtremeSpec("ising_chain", 4, 2, {"coupling": -3e5, "field": 1e-300}),
        ExtremeSpec("curie_weiss", 4, 2, {"beta": 1e6, "h": -0.5}),
        ExtremeSpec("curie_weiss", 3, 2, {"beta": -1e5, "h": 5e-324}),
        ExtremeSpec("ising", 3, 2, {"couplings": np.array([[0, 1e5, 0], [1e5, 0, -2.0],
                                                          [0, -2.0, 0]]),
                                    "field": np.array([1e-300, 0.5, -700.0]), "beta": 3.0}),
        ExtremeSpec("potts", 3, 3, {"couplings": np.array([[0, 1e5, 1], [1e5, 0, 0],
                                                          [1, 0, 0]]), "beta": -2.0}),
        ExtremeSpec("hardcore", 3, 2, {"adjacency": np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]),
                                       "fugacity": 1.7976931348623157e308}),
        ExtremeSpec("hardcore", 3, 2, {"adjacency": np.zeros((3, 3), dtype=int),
                                       "fugacity": 5e-324}),
        ExtremeSpec("product", 3, 2, {"probs": np.array([[1e308, 1e308], [1e-308, 5e-324],
                                                         [1.0, 1e300]])}),
        ExtremeSpec("mixture", 2, 3, {"weights": np.array([1e308, 5e-324]),
                                      "probs": np.array([[[1e308, 1.0, 0.0], [1e-300, 1.0, 2.0]],
                                                         [[1.0, 1.0, 1.0], [5e-324, 0, 0]]])}),
        ExtremeSpec("random_table", 3, 2, {"concentration": 5e-324, "rng": 3}),
        ExtremeSpec("random_table", 2, 3, {"concentration": 1.7976931348623157e308, "rng": 4}),
    ],
    ids=lambda s: s.family,
)
def test_accepted_extreme_parameters_give_the_exact_law(spec: ExtremeSpec) -> None:
    """Extreme but resolvable parameters are accepted, and the law is exact."""
    with _strict():
        d = spec.build()
    _check_target(spec, d, np.random.default_rng(5))


# --------------------------------------------------------------- Curie-Weiss at 10**5
def test_curie_weiss_100000_raises_no_warning_and_stays_exact() -> None:
    """Issue 18.21: CurieWeiss(100000, beta=1) underflowed on construction and sampling."""
    n = 100_000
    rng = np.random.default_rng(21)
    x = np.where(rng.random((3, n)) < 0.5, rng.integers(0, 2, (3, n)), MASK)
    x[0] = MASK
    with _strict():
        d = CurieWeiss(n, beta=1.0)
        out = d.conditionals(x)
        pos = np.stack([rng.permutation(np.flatnonzero(r == MASK))[:30] for r in x])
        at = d.conditionals_at(x, pos, rng.integers(0, 2, pos.shape))
        samples = d.sample(2, rng=rng)
        lp = d.log_pmf(samples)
    assert np.isfinite(out).all() and np.isfinite(at).all() and np.isfinite(lp).all()
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(out[0, 0], [0.5, 0.5], atol=1e-15)  # symmetric at h = 0
    # the count law: exact log-space reference from log C(n, k) by math.lgamma
    k = np.arange(n + 1)
    lc = np.array([math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) for j in k])
    lw = lc + 1.0 / (2 * n) * (2.0 * k - n) ** 2
    top = lw.max()
    logz = top + math.log(math.fsum(math.exp(v - top) for v in lw))
    ones = samples.sum(axis=1)
    np.testing.assert_allclose(lp, 1.0 / (2 * n) * (2.0 * ones - n) ** 2 - logz, rtol=1e-12)


@pytest.mark.parametrize(("n", "beta", "h"), [(60, 1.0, 0.0), (200, 1.0, 0.02), (150, 3.0, -0.01)])
def test_curie_weiss_conditionals_match_an_exact_count_sum(n: int, beta: float, h: float) -> None:
    """Moderate n: P(+1 | p pinned +1, f free) from exact decimal sums over the count."""
    d = CurieWeiss(n, beta, h)
    rng = np.random.default_rng(n)
    x = np.where(rng.random((4, n)) < 0.6, rng.integers(0, 2, (4, n)), MASK)
    with _strict():
        got = d.conditionals(x)
    with localcontext(_SHORT):
        for b in range(4):
            p = int((x[b] == 1).sum())
            f = int((x[b] == MASK).sum())
            if f == 0:
                continue

            def z(pp: int, m: int) -> Decimal:
                tot = Decimal(0)
                for u in range(m + 1):
                    s = 2 * (pp + u) - n
                    e = _D(beta) / (2 * n) * s * s + _D(h) * s
                    tot += math.comb(m, u) * e.exp()
                return tot

            z1, z0 = z(p + 1, f - 1), z(p, f - 1)
            ref = float(z1 / (z1 + z0))
            i = int(np.flatnonzero(x[b] == MASK)[0])
            np.testing.assert_allclose(got[b, i, 1], ref, rtol=1e-10)


# --------------------------------------------------------------- the pmf cap (19.2)
@pytest.mark.parametrize(
    "make",
    [
        lambda: Product(np.random.default_rng(6).random((17, 2))),
        lambda: IsingChain(20, 0.7, -0.2),
        lambda: CurieWeiss(20, 1.1, 0.05),
        lambda: MixtureOfProducts([0.3, 0.7], np.random.default_rng(7).random((2, 12, 3))),
    ],
    ids=["product-17", "ising_chain-20", "curie_weiss-20", "mixture-3^12"],
)
def test_pmf_tabulates_up_to_2_pow_20(make: Callable[[], Any]) -> None:
    """Issue 19.2: pmf() capped at 2**16 (Product(n=17), IsingChain(n=20) raised)."""
    d = make()
    with _strict():
        pmf = d.pmf()
    assert pmf.shape == (d.q**d.n,) and abs(pmf.sum() - 1.0) < 1e-12
    rng = np.random.default_rng(8)
    idx = rng.integers(0, pmf.size, 200)
    configs = np.stack(np.unravel_index(idx, (d.q,) * d.n), axis=1)
    np.testing.assert_allclose(pmf[idx], np.exp(d.log_pmf(configs)), rtol=1e-12)
    t = TableDistribution(pmf.reshape((d.q,) * d.n))  # the same cap as the table
    first = d.conditionals(np.full((1, d.n), MASK))[0, 0]
    np.testing.assert_allclose(t.marginal([0]), first, atol=1e-12)


def test_pmf_above_2_pow_20_names_the_cap_and_the_size() -> None:
    with pytest.raises(ParameterError, match=r"pmf\(\) tabulates at most 1048576 \(2\*\*20\) "
                       r"cells, q\*\*n; got 3\*\*13 = 1594323\."):
        Product(np.ones((13, 3))).pmf()
    with pytest.raises(ParameterError, match=r"got 2\*\*21 = 2097152\."):
        IsingChain(21, 1.0).pmf()
