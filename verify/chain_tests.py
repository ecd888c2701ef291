"""Chain-rule and low-order marginal tests for targets without a table (large ``n``).

A target that is only a :class:`~distributions.base.DiscreteOracle` (e.g.
``MixtureOfProducts`` at ``n = 1000``) cannot be tabulated. :func:`chain_test` tests
samples ``x^(1..N)`` against it with a family of sub-tests, each calibrated under
the null "the samples are iid from the oracle's law", combined by Holm's method
(``statsmodels.stats.multitest.multipletests``); the family's p-value is the
smallest Holm-adjusted p-value (= Bonferroni's global p-value), valid under any
dependence between the sub-tests.

What the family can and cannot see
----------------------------------
The stated power (``detectable_tv``, :func:`plan_chain_sample_size`) covers exactly
the **one-site marginals of all n sites and the two-site marginals of every tested
pair** (interaction orders 1 and 2, :data:`INTERACTION_ORDERS`): all ``n (n - 1) / 2``
pairs when ``n (q - 1) <= MAX_PAIR_FEATURES``, otherwise every pair among a random
subset of ``MAX_PAIR_FEATURES // (q - 1)`` sites (listed in the result's
``pair_sites``; deviations confined to the other pairs are not covered). A joint
deviation that leaves every one- and two-site marginal unchanged is **invisible** to
the stated power: ``x2 = x0 XOR x1`` on a uniform product (joint TV 0.5) passes with
p = 1 at any size, because its one- and two-site marginals are those of the target
and, with uniform conditionals, so are its PITs and scores. The chain-rule PIT,
score and moment sub-tests add power against other deviations (tempered or
sharpened samplers, wrong mixture weights) but no stated power. Every result states
this in its ``power_against`` and ``interaction_orders`` fields.

Sub-tests
---------
``chain-pit[g]`` (exact calibration)
    Every sample's coordinates are revealed in an independent uniform random order.
    Step ``t`` reveals position ``sigma(t)``; under the null its value has law
    ``p_t = mu(X_sigma(t) | revealed values)`` (the oracle's chain rule, one
    ``conditionals_at(..., chain_values=...)`` call per chunk). The randomised
    probability-integral transform ``U = F_t(v - 1) + V p_t(v)`` (``V`` uniform) is
    then exactly iid Uniform(0, 1) over all steps and samples. Steps are grouped
    geometrically (``t = 1``, ``2``, ``3-4``, ``5-8``, ...) so that early steps, where
    most of a global deviation shows, are not diluted; each group's PITs are binned
    into equiprobable bins and tested with Pearson's chi-square. A revealed value
    with conditional probability 0 is an immediate failure.
``chain-score`` (martingale CLT)
    ``sum_t [log p_t(v_t) + H(p_t)] / sqrt(sum_t Var_{p_t} log p_t)`` is asymptotically
    N(0, 1); detects tempered / sharpened samplers. Omitted, with a note, when the
    variance is zero (every conditional deterministic or uniform).
``site[i]`` (exact binomial)
    Counts of ``X_i = v`` against the exact one-site marginal (one oracle call).
``pair[i,j]`` (exact binomial)
    Counts of each cell of ``(X_i, X_j)`` for every pair of the pair sites against
    the exact two-site marginal ``mu(X_i = a) mu(X_j = b | X_i = a)`` (Bonferroni
    over the ``q**2`` cells). All pair counts come from one Gram matrix of one-hot
    features.
``moment-top`` / ``moment-all`` (CLT, Hotelling with known covariance)
    The one-hot features ``f(x) = (1[x_i = v])`` of the pair sites (``v`` over the
    values other than the site's most probable one, so that near-deterministic
    sites keep an accurate covariance) have exact mean and covariance from the one-
    and two-site marginals; ``N (u_k . (f_bar - m))**2 / lambda_k`` summed over the
    top :data:`TOP_PCS` principal directions (and over all directions of positive
    variance) is asymptotically chi-square. Mixture-type deviations (wrong component
    weights) live in the top directions. Omitted when the covariance is zero (a
    deterministic target), with a note.

Status
------
``"fail"`` when the family rejects at ``alpha`` (or a sample has probability 0);
``"no-power"`` when it does not and the size has no stated power (``detectable_tv >=
1``: no one- or two-site deviation is guaranteed to be detected); ``"pass"``
otherwise. ``passed`` is True only for ``"pass"``.

Planning
--------
:func:`plan_chain_sample_size` gives the size at which a deviation of TV ``tv`` in
any one-site marginal or any tested two-site marginal is detected with probability
``power`` at family-wise level ``alpha`` (the worst cell of a ``q**2`` table deviates
by at least ``2 tv / q**2``; exact binomial test at the Bonferroni level of the
whole family, normal approximation with the worst variance 1/4). The family size is
the one :func:`chain_test` runs (every pair of the pair sites), so the stated power
is the power against a deviation in any single tested pair; it is checked by
simulation in ``tests/verify/test_chain_tests.py`` (one coupled pair of a ``Product(n=40)``
at exactly the stated TV). A joint deviation at TV ``tv`` need not show in a
low-order marginal; ``tests/verify/test_chain_tests.py`` also checks that samplers at joint
TV >= 0.05 from a ``MixtureOfProducts(n=1000)`` fail at this size. Figure:
``n = 1000, q = 2, tv = 0.05, alpha = 1e-3, power = 0.99 -> N = 29,212`` (family of
500,514 sub-tests, all 499,500 pairs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import linalg, stats
from statsmodels.stats.multitest import multipletests

from distributions._validation import check_float
from distributions.base import MASK
from distributions.errors import ParameterError
from samplers.oracle import CountingOracle
from verify.results import WorstCell

__all__ = [
    "ChainTestResult",
    "chain_test",
    "plan_chain_sample_size",
    "chain_detectable_tv",
    "chain_layout",
    "ChainLayout",
    "MAX_PAIR_FEATURES",
    "TOP_PCS",
    "INTERACTION_ORDERS",
]

#: Largest ``S (q - 1)`` for the ``S`` sites whose pairs are all tested (one-hot
#: Gram matrix and feature covariance of this order).
MAX_PAIR_FEATURES: int = 1024
#: Principal directions of the ``moment-top`` sub-test.
TOP_PCS: int = 10
#: Interaction orders whose marginals carry the stated power.
INTERACTION_ORDERS: tuple[int, ...] = (1, 2)
#: Elements per oracle answer chunk.
_CHUNK_ELEMS: int = 2**22


# ---------------------------------------------------------------------- planning
@dataclass(frozen=True)
class ChainLayout:
    """What :func:`chain_test` tests on an ``(n, q)`` target (and the planner counts).

    Attributes
    ----------
    n, q : int
    pair_sites : int
        Number ``S`` of sites whose pairs are all tested (``n`` when
        ``n (q - 1) <= MAX_PAIR_FEATURES``).
    pairs_tested, pairs_total : int
        ``S (S - 1) / 2`` and ``n (n - 1) / 2``.
    family_size : int
        Largest number of sub-tests (PIT groups, score, sites, pairs, moments).
    """

    n: int
    q: int
    pair_sites: int
    pairs_tested: int
    pairs_total: int
    family_size: int


def chain_layout(n: int, q: int) -> ChainLayout:
    """The sub-test family of :func:`chain_test` for an ``(n, q)`` target."""
    ns = min(n, max(2, MAX_PAIR_FEATURES // (q - 1)))
    pairs = ns * (ns - 1) // 2
    per_site = 1 if q == 2 else q
    moments = 0 if ns < 2 else (2 if ns * (q - 1) > TOP_PCS else 1)
    fam = len(_groups(n)) + 1 + n * per_site + pairs + moments
    return ChainLayout(n, q, ns, pairs, n * (n - 1) // 2, fam)


def _cell_z(n: int, q: int, alpha: float, power: float) -> tuple[float, float]:
    # a pair's p-value is Bonferroni over its q*q cells, the family Holm/Bonferroni
    m = chain_layout(n, q).family_size * q * q
    return float(stats.norm.isf(alpha / (2.0 * m))), float(stats.norm.isf(1.0 - power))


def _levels(tv: Any, alpha: Any, power: Any) -> tuple[float, float, float]:
    tv = check_float("tv", tv, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    return tv, alpha, power


def plan_chain_sample_size(oracle: Any, *, tv: float, alpha: float, power: float) -> int:
    """Sample size of the chain-rule family (see the module docstring).

    The size at which a deviation of TV ``tv`` in any one-site marginal or in the
    two-site marginal of any tested pair (:func:`chain_layout`) is detected with
    probability ``power`` at family-wise level ``alpha``. It says nothing about
    deviations of higher interaction order (module docstring).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> plan_chain_sample_size(SimpleNamespace(n=1000, q=2), tv=0.05, alpha=1e-3, power=0.99)
    29212
    """
    tv, alpha, power = _levels(tv, alpha, power)
    za, zb = _cell_z(int(oracle.n), int(oracle.q), alpha, power)
    delta = 2.0 * tv / (oracle.q * oracle.q)
    return max(1, math.ceil((0.5 * (za + zb) / delta) ** 2))


def chain_detectable_tv(n: int, q: int, num_samples: int, *, alpha: float, power: float) -> float:
    """One- or two-site-marginal TV detected with probability ``power`` at ``num_samples``.

    1.0 means no stated power (no such deviation is guaranteed to be detected).
    """
    za, zb = _cell_z(n, q, alpha, power)
    delta = 0.5 * (za + zb) / math.sqrt(num_samples)
    return float(min(1.0, delta * q * q / 2.0))


def _power_statement(lay: ChainLayout, num: int, alpha: float, power: float) -> str:
    tv = chain_detectable_tv(lay.n, lay.q, num, alpha=alpha, power=power)
    blind = (
        "Deviations of interaction order >= 3 that leave every tested one- and two-site "
        "marginal unchanged (e.g. x2 = x0 XOR x1 on a uniform product, joint TV 0.5) are "
        "not covered; the chain-rule PIT, score and moment sub-tests have no stated power."
    )
    if tv >= 1.0:
        return (
            f"No stated power: at N = {num} no deviation of a one- or two-site marginal "
            f"is detected with probability >= {power:g} at family-wise level {alpha:g}. "
            + blind
        )
    if lay.pairs_tested == lay.pairs_total:
        pairs = f"any of the {lay.pairs_total} pairs (all pairs)"
    else:
        pairs = (
            f"any of the {lay.pairs_tested} pairs among the {lay.pair_sites} sites listed "
            f"in `pair_sites` (the other {lay.pairs_total - lay.pairs_tested} of the "
            f"{lay.pairs_total} pairs are not tested)"
        )
    return (
        f"With probability >= {power:g} at family-wise level {alpha:g}: a deviation of "
        f"TV >= {tv:.3g} in the one-site marginal of any of the {lay.n} sites or in the "
        f"two-site marginal of {pairs}. " + blind
    )


# ---------------------------------------------------------------------- result
@dataclass(frozen=True)
class ChainTestResult:
    """Outcome of :func:`chain_test`.

    Attributes
    ----------
    statistic : float
        ``-log10(pvalue)``.
    pvalue : float
        Smallest Holm-adjusted p-value of the family (0 after an impossible value).
    pvalues : mapping of str to float
        Raw p-value of every sub-test (sites and pairs summarised by their minimum:
        ``site-min``, ``pair-min``; every one is in the Holm family).
    num_samples, n, q : int
    family_size : int
    alpha : float
    tv_estimate : float
        Largest bias-corrected one- or two-site marginal TV (a lower-bound proxy).
    worst_cells : tuple of WorstCell
        The sub-tests with the smallest p-values.
    impossible : str
        Description of the first zero-probability observation, or ``""``.
    rejected : tuple of str
        Sub-tests rejected by Holm at ``alpha``.
    status : {"pass", "fail", "no-power"}
        See the module docstring; ``passed`` is True only for ``"pass"``.
    passed : bool
    power : float
        Power of the stated detectable TV (:meth:`detectable_tv`).
    interaction_orders : tuple of int
        Orders of the marginals that carry the stated power: ``(1, 2)``.
    power_against : str
        The class of deviations detected with probability ``power`` (and the ones
        not covered), in words, for reports.
    pair_sites : tuple of int
        Sites whose pairs are all tested.
    pairs_tested, pairs_total : int
        Pairs tested and ``n (n - 1) / 2``.
    notes : tuple of str
        Sub-tests omitted as degenerate (zero variance) and why, (nearly)
        deterministic sites, a family p-value of 1 explained (Holm's cap).
    """

    statistic: float
    pvalue: float
    pvalues: Mapping[str, float]
    num_samples: int
    n: int
    q: int
    family_size: int
    alpha: float
    tv_estimate: float
    worst_cells: tuple[WorstCell, ...]
    impossible: str = ""
    rejected: tuple[str, ...] = field(default_factory=tuple)
    status: str = "pass"
    passed: bool = True
    power: float = 0.99
    interaction_orders: tuple[int, ...] = INTERACTION_ORDERS
    power_against: str = ""
    pair_sites: tuple[int, ...] = field(default_factory=tuple)
    pairs_tested: int = 0
    pairs_total: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def detectable_tv(self, power: float | None = None) -> float:
        """One- or two-site-marginal TV detected with probability ``power`` (default:
        the result's own ``power``); 1.0 means no stated power."""
        return chain_detectable_tv(self.n, self.q, self.num_samples, alpha=self.alpha,
                                   power=self.power if power is None else power)


# ---------------------------------------------------------------------- kernels
def _binom_two_sided(c: np.ndarray, num: int, p: np.ndarray) -> np.ndarray:
    """Exact two-sided binomial p-values (doubling), vectorised; p = 0/1 handled."""
    c = np.asarray(c, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    pc = np.clip(p, 0.0, 1.0)
    lo = stats.binom.cdf(c, num, pc)
    hi = stats.binom.sf(c - 1, num, pc)
    out = np.minimum(1.0, 2.0 * np.minimum(lo, hi))
    out = np.where((pc <= 0.0) & (c > 0), 0.0, out)
    out = np.where((pc >= 1.0) & (c < num), 0.0, out)
    return out


def _groups(n: int) -> list[tuple[int, int]]:
    out, s = [], 0
    while s < n:
        e = min(n, 1 if s == 0 else 2 * s)
        out.append((s, e))
        s = e
    return out


def _chain_pits(
    samples: np.ndarray, oracle: CountingOracle, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """PITs (N, n) by reveal step, score increments and variances, impossible note."""
    N, n = samples.shape
    q = oracle.q
    pits = np.empty((N, n))
    score = np.empty((N, n))
    var = np.empty((N, n))
    chunk = max(1, _CHUNK_ELEMS // (n * q))
    impossible = ""
    for s in range(0, N, chunk):
        x = samples[s : s + chunk]
        B = x.shape[0]
        perm = np.argsort(gen.random((B, n)), axis=1)
        vals = np.take_along_axis(x, perm, axis=1)
        ctx = np.full((B, n), MASK, dtype=np.int64)
        p = oracle.conditionals_at(ctx, perm, vals)  # (B, n, q)
        pv = np.take_along_axis(p, vals[..., None], axis=2)[..., 0]
        cdf_below = np.cumsum(p, axis=2) - p
        below = np.take_along_axis(cdf_below, vals[..., None], axis=2)[..., 0]
        pits[s : s + B] = np.clip(below + gen.random((B, n)) * pv, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            logp = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
        ent = -(p * logp).sum(axis=2)
        second = (p * logp**2).sum(axis=2)
        with np.errstate(divide="ignore"):
            score[s : s + B] = np.where(pv > 0, np.log(np.where(pv > 0, pv, 1.0)), 0.0) + ent
        var[s : s + B] = np.maximum(second - ent**2, 0.0)
        if not impossible and (pv <= 0).any():
            b, t = (int(i) for i in np.argwhere(pv <= 0)[0])
            impossible = (
                f"sample {s + b}: revealed value {int(vals[b, t])} at position "
                f"{int(perm[b, t])} (reveal step {t + 1}) has conditional probability 0"
            )
    return pits, score, var, impossible


def _pit_group_test(u: np.ndarray) -> tuple[float, float, int]:
    cnt = u.size
    bins = int(max(2, min(20, cnt // 10)))
    idx = np.minimum((u * bins).astype(np.int64), bins - 1)
    obs = np.bincount(idx, minlength=bins).astype(np.float64)
    exp = cnt / bins
    x2 = float(((obs - exp) ** 2).sum() / exp)
    return x2, float(stats.chi2.sf(x2, bins - 1)), bins


def _pair_table(
    oracle: CountingOracle, sites: np.ndarray, single: np.ndarray
) -> np.ndarray:
    """``P(X_i = a, X_j = b)`` for i, j in ``sites``: shape (S, q, S, q), symmetrised.

    Row ``(i, a)`` pins site ``i`` to ``a`` and asks for the conditionals at the other
    pair sites (``conditionals_at`` when the oracle has it, so the cost does not grow
    with ``n``; else full conditionals). Contexts are built per chunk.
    """
    n, q = oracle.n, oracle.q
    S = sites.size
    rows = S * q
    pin = np.repeat(np.arange(S), q)
    val = np.tile(np.arange(q), S)
    flat = np.zeros((rows, S, q))
    flat[np.arange(rows), pin, val] = 1.0  # the pinned site's one-hot (contract)
    fast = callable(getattr(oracle.inner, "conditionals_at", None))
    others = np.array([np.delete(np.arange(S), a) for a in range(S)]).reshape(S, S - 1)
    chunk = max(1, _CHUNK_ELEMS // (n * (1 if fast else q)))
    for s in range(0, rows, chunk):
        r = np.arange(s, min(rows, s + chunk))
        ctx = np.full((r.size, n), MASK, dtype=np.int64)
        ctx[np.arange(r.size), sites[pin[r]]] = val[r]
        if fast:
            idx = others[pin[r]]  # (B, S - 1) indices into sites
            ans = oracle.conditionals_at(ctx, sites[idx])  # (B, S - 1, q)
            flat[r[:, None], idx] = ans
        else:
            flat[r] = oracle.conditionals(ctx)[:, sites, :]
    cond = flat.reshape(S, q, S, q)
    out = single[sites][:, :, None, None] * cond
    return 0.5 * (out + out.transpose(2, 3, 0, 1))


def _pair_counts(xs: np.ndarray, q: int) -> np.ndarray:
    """Counts ``C[i, a, j, b]`` of ``(X_i, X_j) = (a, b)``, shape (S, q, S, q).

    One Gram matrix of the one-hot features of the values ``1..q-1`` (float32 blocks:
    every partial sum is an integer below ``2**24``, hence exact); the cells with a 0
    follow from the one-site counts.
    """
    N, S = xs.shape
    k = q - 1
    gram = np.zeros((S * k, S * k))
    rows = max(1, min(1 << 20, _CHUNK_ELEMS // (S * k)))
    for s in range(0, N, rows):
        blk = xs[s : s + rows]
        feat = np.zeros((blk.shape[0], S, k), dtype=np.float32)
        for v in range(1, q):
            feat[:, :, v - 1] = blk == v
        feat = feat.reshape(blk.shape[0], S * k)
        gram += (feat.T @ feat).astype(np.float64)
    inner = gram.reshape(S, k, S, k)
    single = np.stack([(xs == v).sum(axis=0) for v in range(1, q)], axis=1).astype(np.float64)
    out = np.empty((S, q, S, q))
    out[:, 1:, :, 1:] = inner
    out[:, 1:, :, 0] = single[:, :, None] - inner.sum(axis=3)
    out[:, 0, :, 1:] = single[None, :, :] - inner.sum(axis=1)
    tot = single.sum(axis=1)
    out[:, 0, :, 0] = N - tot[:, None] - tot[None, :] + inner.sum(axis=(1, 3))
    return out


def _iv(samples: Any, oracle: Any, alpha: Any, power: Any) -> tuple[np.ndarray, float, float]:
    for attr in ("n", "q", "conditionals"):
        if not hasattr(oracle, attr):
            raise ParameterError(
                f"`oracle` must be a DiscreteOracle (n, q, conditionals); it has no `{attr}`: "
                f"got {type(oracle).__name__}."
            )
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    x = np.asarray(samples)
    n, q = int(oracle.n), int(oracle.q)
    if x.ndim != 2 or x.shape[1] != n or x.shape[0] < 1:
        raise ParameterError(
            f"`samples` must be an array of shape (N, {n}) with N >= 1; got shape {x.shape}."
        )
    if not np.issubdtype(x.dtype, np.integer):
        raise ParameterError(f"`samples` must be an integer array; got dtype {x.dtype}.")
    if x.size and (x.min() < 0 or x.max() >= q):
        raise ParameterError(
            f"`samples` values must be in [0, {q - 1}]; got values in "
            f"[{int(x.min())}, {int(x.max())}]."
        )
    return x.astype(np.int64, copy=False), alpha, power


def chain_test(
    samples: np.ndarray,
    oracle: Any,
    *,
    alpha: float = 1e-3,
    power: float = 0.99,
    rng: Any = None,
) -> ChainTestResult:
    """Chain-rule, marginal and moment tests of ``samples`` against ``oracle``.

    The stated power covers one-site marginals of all sites and two-site marginals
    of every tested pair only (``interaction_orders = (1, 2)``); deviations of higher
    order that leave those marginals unchanged are not covered (module docstring),
    and the result's ``power_against`` says so.

    Parameters
    ----------
    samples : ndarray of int, shape (N, n)
    oracle : DiscreteOracle
        The target (its ``conditionals_at`` fast path is used when present).
    alpha : float in (0, 1)
        Family-wise level (status and the ``rejected`` list).
    power : float in (0, 1), default 0.99
        Power of the stated detectable TV; a size with detectable TV >= 1 gets status
        ``"no-power"`` unless the family rejects.
    rng : seed, Generator or SeedSequence
        Reveal orders, PIT randomisation and the choice of pair sites (when not all).

    Returns
    -------
    ChainTestResult
    """
    x, alpha, power = _iv(samples, oracle, alpha, power)
    gen = np.random.default_rng(rng)
    co = CountingOracle(oracle, validate=False)
    N, n = x.shape
    q = co.q
    lay = chain_layout(n, q)
    pvals: dict[str, float] = {}
    info: dict[str, tuple[float, float]] = {}  # label -> (observed, expected)
    notes: list[str] = []
    # ---- chain rule (PIT by reveal-step group, score)
    pits, score, var, impossible = _chain_pits(x, co, gen)
    for s, e in _groups(n):
        label = f"chain-pit[steps {s + 1}-{e}]"
        _, pv, bins = _pit_group_test(pits[:, s:e].ravel())
        pvals[label] = pv
        info[label] = (float("nan"), float(N * (e - s)) / bins)
    tot_var = float(var.sum())
    if tot_var > 0:
        z = float(score.sum()) / math.sqrt(tot_var)
        pvals["chain-score"] = float(2.0 * stats.norm.sf(abs(z)))
        info["chain-score"] = (float(score.sum()), 0.0)
    else:
        notes.append("chain-score omitted: log p_t is constant under every revealed "
                     "conditional (deterministic or uniform conditionals: zero variance)")
    # ---- one-site marginals
    empty = np.full((1, n), MASK, dtype=np.int64)
    single = co.conditionals_at(empty, np.arange(n)[None, :])[0]  # (n, q)
    counts = np.stack([(x == v).sum(axis=0) for v in range(q)], axis=1).astype(np.float64)
    vals = [q - 1] if q == 2 else list(range(q))
    site_p = _binom_two_sided(counts[:, vals], N, single[:, vals])  # (n, len(vals))
    site_labels = [f"site[{i}]" if q == 2 else f"site[{i}]={v}" for i in range(n) for v in vals]
    site_obs = counts[:, vals].reshape(-1)
    site_exp = (N * single[:, vals]).reshape(-1)
    tvs = [float(np.max(0.5 * np.abs(counts / N - single).sum(axis=1)
                        - 0.5 * np.sqrt(2 * single * (1 - single) / (math.pi * N)).sum(axis=1)))]
    if not impossible and ((single == 0) & (counts > 0)).any():
        i, v = (int(k) for k in np.argwhere((single == 0) & (counts > 0))[0])
        impossible = f"site {i} took value {v}, which has marginal probability 0"
    # ---- two-site marginals (every pair of the pair sites) and moments
    ns = lay.pair_sites
    sites = np.arange(n) if ns == n else np.sort(gen.choice(n, ns, replace=False))
    pair_p = pair_obs = pair_exp = np.empty(0)
    pair_i = pair_j = np.empty(0, dtype=np.int64)  # sites of each tested pair
    if ns >= 2:
        joint = _pair_table(co, sites, single)  # (S, q, S, q)
        S = sites.size
        iu, ju = np.triu_indices(S, k=1)
        cnt = _pair_counts(x[:, sites], q)
        obs = cnt[iu, :, ju, :].reshape(iu.size, q * q)
        exp_p = np.clip(joint[iu, :, ju, :].reshape(iu.size, q * q), 0.0, 1.0)
        pv = np.empty_like(obs)
        step = max(1, (1 << 20) // (q * q))
        for s in range(0, iu.size, step):
            pv[s : s + step] = _binom_two_sided(obs[s : s + step], N, exp_p[s : s + step])
        worst_c = np.argmin(pv, axis=1)
        # the min over q*q cells is Bonferroni-corrected within the pair
        pair_p = np.minimum(1.0, pv[np.arange(iu.size), worst_c] * q * q)
        pair_i, pair_j = sites[iu], sites[ju]
        rows = np.arange(iu.size)
        pair_obs = obs[rows, worst_c]
        pair_exp = N * exp_p[rows, worst_c]
        ptv = (0.5 * np.abs(obs / N - exp_p).sum(axis=1)
               - 0.5 * np.sqrt(2 * exp_p * (1 - exp_p) / (math.pi * N)).sum(axis=1))
        tvs.append(float(ptv.max()))
        bad = ((exp_p == 0) & (obs > 0)).any(axis=1)
        if not impossible and bad.any():
            k = int(np.argmax(bad))
            impossible = (f"pair ({int(pair_i[k])}, {int(pair_j[k])}) took a value of "
                          "probability 0")
        _moment_tests(x[:, sites], single[sites], joint, N, pvals, info, notes)
    labels = list(pvals)
    raw = np.concatenate([np.array([pvals[k] for k in labels]), site_p.reshape(-1), pair_p])
    n_named, n_site = len(labels), site_p.size

    def label_of(k: int) -> str:
        if k < n_named:
            return labels[k]
        if k < n_named + n_site:
            return site_labels[k - n_named]
        m = k - n_named - n_site
        return f"pair[{int(pair_i[m])},{int(pair_j[m])}]"

    def obs_exp(k: int) -> tuple[float, float]:
        if k < n_named:
            return info.get(labels[k], (math.nan, math.nan))
        if k < n_named + n_site:
            return float(site_obs[k - n_named]), float(site_exp[k - n_named])
        m = k - n_named - n_site
        return float(pair_obs[m]), float(pair_exp[m])

    if impossible:
        pvalue = 0.0
        reject = np.zeros(raw.size, bool)
    else:
        reject, adj, _, _ = multipletests(raw, alpha=alpha, method="holm")
        pvalue = float(adj.min())
    order = np.argsort(raw, kind="stable")[:5]
    worst = []
    if impossible:
        worst.append(WorstCell(impossible, None, 1.0, 0.0, math.inf, True))
    for k in order:
        o, e = obs_exp(int(k))
        worst.append(WorstCell(label_of(int(k)), None, o, e,
                               float(-math.log10(max(raw[k], 1e-300)))))
    summary: dict[str, float] = dict(pvals)
    if site_p.size:
        summary["site-min"] = float(site_p.min())
    if pair_p.size:
        summary["pair-min"] = float(pair_p.min())
    if not impossible and pvalue >= 1.0:
        notes.append(
            f"family p-value 1: Holm's adjustment min(1, m p_min) with m = {raw.size} and "
            f"smallest raw p-value {float(raw.min()):.3g} >= 1/m (the correction, not a "
            "degenerate statistic)")
    frozen = int(np.count_nonzero(N * (1.0 - single.max(axis=1)) <= 1e-3))
    if frozen:
        notes.append(
            f"{frozen} of {n} sites are (nearly) deterministic at this size (N (1 - max_v "
            "mu(X_i = v)) <= 1e-3): their site and pair tests fail only on a value of "
            "(nearly) zero probability")
    failed = bool(impossible) or pvalue <= alpha
    dtv = chain_detectable_tv(n, q, N, alpha=alpha, power=power)
    status = "fail" if failed else ("no-power" if dtv >= 1.0 else "pass")
    return ChainTestResult(
        statistic=float(-math.log10(max(pvalue, 1e-300))),
        pvalue=pvalue,
        pvalues=summary,
        num_samples=N,
        n=n,
        q=q,
        family_size=int(raw.size),
        alpha=alpha,
        tv_estimate=float(max(0.0, max(tvs))),
        worst_cells=tuple(worst),
        impossible=impossible,
        rejected=tuple(label_of(int(k)) for k in np.flatnonzero(reject)),
        status=status,
        passed=status == "pass",
        power=power,
        interaction_orders=INTERACTION_ORDERS,
        power_against=_power_statement(lay, N, alpha, power),
        pair_sites=tuple(int(s) for s in sites) if ns >= 2 else (),
        pairs_tested=lay.pairs_tested if ns >= 2 else 0,
        pairs_total=lay.pairs_total,
        notes=tuple(notes),
    )


def _moment_tests(
    xs: np.ndarray,
    single: np.ndarray,
    joint: np.ndarray,
    num: int,
    pvals: dict[str, float],
    info: dict[str, tuple[float, float]],
    notes: list[str],
) -> None:
    """``moment-top`` / ``moment-all`` on the one-hot features of the pair sites.

    Features: ``1[x_i = v]`` for the values ``v`` other than site ``i``'s most
    probable one (the affine span is that of all indicators; rare-value indicators
    keep the covariance free of cancellation at near-deterministic sites). Features
    of variance below ``1e-10`` of the largest are dropped (their sites are covered
    exactly by the site and pair tests); top directions by a partial
    eigendecomposition, the full quadratic form by Cholesky (eigh when singular).
    """
    S, q = single.shape
    ref = np.argmax(single, axis=1)
    vals = np.array([[v for v in range(q) if v != ref[i]] for i in range(S)], dtype=np.int64)
    si = np.repeat(np.arange(S), q - 1)
    vi = vals.reshape(-1)
    mean = single[si, vi]
    cov = joint[si[:, None], vi[:, None], si[None, :], vi[None, :]] - np.outer(mean, mean)
    cov = 0.5 * (cov + cov.T)
    fbar = (xs[:, si] == vi[None, :]).mean(axis=0)
    d = fbar - mean
    diag = np.diag(cov)
    scale = float(diag.max()) if diag.size and np.isfinite(cov).all() else 0.0
    if not scale > 0.0:
        notes.append("moment tests omitted: the feature covariance of the pair sites is "
                     "zero (deterministic one- and two-site marginals)")
        return
    live = diag > 1e-10 * scale
    cov, d = cov[np.ix_(live, live)], d[live]
    dim = int(live.sum())
    top = min(TOP_PCS, dim)
    lam, vec = linalg.eigh(cov, subset_by_index=[dim - top, dim - 1])
    good = lam > 1e-10 * float(lam.max())
    t_top = float(num * ((vec[:, good].T @ d) ** 2 / lam[good]).sum())
    r_top = int(good.sum())
    pvals["moment-top"] = float(stats.chi2.sf(t_top, r_top))
    info["moment-top"] = (t_top, float(r_top))
    if mean.size > TOP_PCS:
        t_all, r_all = _hotelling(cov, d, num)
        pvals["moment-all"] = float(stats.chi2.sf(t_all, r_all))
        info["moment-all"] = (t_all, float(r_all))


def _hotelling(cov: np.ndarray, d: np.ndarray, num: int) -> tuple[float, int]:
    """``num d^T cov^+ d`` and the rank: Cholesky when positive definite, else eigh."""
    scale = float(np.max(np.diag(cov)))
    try:
        chol = np.linalg.cholesky(cov)
        if float(np.min(np.diag(chol))) ** 2 > 1e-10 * scale:
            z = linalg.solve_triangular(chol, d, lower=True)
            return float(num * z @ z), int(d.size)
    except np.linalg.LinAlgError:
        pass
    lam, vec = np.linalg.eigh(cov)
    keep = lam > 1e-10 * scale
    return float(num * ((vec[:, keep].T @ d) ** 2 / lam[keep]).sum()), int(keep.sum())
