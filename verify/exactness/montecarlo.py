"""Monte Carlo one- and two-sample statistics and the simulated power of the tests as run.

The sparse-regime tests of :mod:`verify.exactness` (an expected count below 5):
multinomial draws of the bias-corrected chi-square (and of G / Pearson), the
two-sample homogeneity statistic, the Monte Carlo p-value and critical value, and
the simulated detectable TV against :func:`two_block_alternatives` (module
docstring of :mod:`verify.exactness`), and the planner's screen
(:func:`screened_size`: a normal approximation with the statistic's exact null
mean and variance, which picks the first size to simulate).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from verify.planning import (
    MAX_RESAMPLES,
    check_resolution,
    detectable_tv,
)
from verify.sampling import (
    Deadline,
)

#: Alternative draws per TV value in the simulated power of the Monte Carlo tests.
_POWER_REPS: int = 1000
#: Tables up to this size are counted densely in the Monte Carlo draws.
_DENSE_CELLS: int = 1 << 14
#: Element budget (draws x sample size) of one simulated-power computation.
_POWER_WORK: float = 1.5e7


def _adk(counts: np.ndarray, exp: np.ndarray) -> np.ndarray:
    """Bias-corrected chi-square ``sum ((N_i - E_i)^2 - N_i) / E_i`` along the last axis."""
    return np.sum(((counts - exp) ** 2 - counts) / exp, axis=-1)


def _adk_counts(counts: np.ndarray, inv_exp: np.ndarray, num: int) -> np.ndarray:
    """The same statistic as ``sum N_i (N_i - 1) / E_i - N`` (``sum E_i = N``): only
    the occupied cells contribute, so a sparse sample costs O(N), not O(k)."""
    return (counts * (counts - 1.0)) @ inv_exp - num


def _alias(law: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker-Vose alias table of ``law`` (O(1) draws)."""
    k = law.size
    scaled = law / law.sum() * k
    prob = np.ones(k)
    alias = np.arange(k)
    small = [i for i in range(k) if scaled[i] < 1.0]
    large = [i for i in range(k) if scaled[i] >= 1.0]
    while small and large:
        s_, l_ = small.pop(), large.pop()
        prob[s_], alias[s_] = scaled[s_], l_
        scaled[l_] -= 1.0 - scaled[s_]
        (small if scaled[l_] < 1.0 else large).append(l_)
    return prob, alias


def _sparse_draws(cdf: np.ndarray, num: int, m: int, gen: np.random.Generator,
                  table: tuple[np.ndarray, np.ndarray] | None = None,
                  ) -> tuple[np.ndarray, np.int64]:
    """``m`` samples of size ``num``: (row * k + cell) keys, and k. By the alias
    ``table`` when given, else by inversion of ``cdf``."""
    k = cdf.size
    if table is not None:
        prob, alias = table
        idx = gen.integers(0, k, size=(m, num))
        idx = np.where(gen.random((m, num)) < prob[idx], idx, alias[idx])
    else:
        idx = np.searchsorted(cdf, gen.random((m, num)), side="right")
        np.minimum(idx, k - 1, out=idx)
    return (np.arange(m, dtype=np.int64)[:, None] * k + idx).ravel(), np.int64(k)


def _cdf(law: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(law)
    return cdf / cdf[-1]


def _stat_weights(kind: str, inv_exp: np.ndarray, num: int,
                  wq: float = 1.0) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], float]:
    """Per-cell weight ``w(count, cell)`` (zero at count 0) and offset: the statistic is
    ``sum_cells w - offset`` ("montecarlo": bias-corrected chi-square; "pearson";
    "gtest": G with Williams' factor ``wq``)."""
    if kind == "montecarlo":
        return (lambda c, i: c * (c - 1.0) * inv_exp[i]), float(num)
    if kind == "pearson":
        return (lambda c, i: c * c * inv_exp[i]), float(num)

    def g(c: np.ndarray, i: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(c > 0, 2.0 * c * np.log(c * inv_exp[i]) / wq, 0.0)

    return g, 0.0


def _onesample_stats(law: np.ndarray, inv_exp: np.ndarray, num: int, reps: int,
                     gen: np.random.Generator, deadline: Deadline | None,
                     kind: str = "montecarlo", wq: float = 1.0) -> np.ndarray:
    """Statistic ``kind`` (default: bias-corrected chi-square) of ``reps``
    multinomial(num, law) samples."""
    k = law.size
    weight, offset = _stat_weights(kind, inv_exp, num, wq)
    out = np.empty(reps)
    # three draw paths by cost: multinomial O(k) per sample when num >= k; inversion
    # with a dense bincount O(num + k); inversion with a sort O(num log num) for huge k
    mode = "multinomial" if num >= 8 * k else ("dense" if k <= _DENSE_CELLS else "sort")
    chunk = max(1, int(4e6 // (k if mode == "multinomial" else max(k, num))))
    cdf = _cdf(law)
    table = _alias(law) if mode == "dense" else None
    law = law / law.sum()
    cells = np.arange(k)
    for start in range(0, reps, chunk):
        m = min(chunk, reps - start)
        if mode == "multinomial":
            sims = gen.multinomial(num, law, size=m).astype(np.float64)
            out[start:start + m] = weight(sims, cells[None, :]).sum(axis=1) - offset
        else:
            key, kk = _sparse_draws(cdf, num, m, gen, table)
            if mode == "dense":
                sims = np.bincount(key, minlength=m * k).reshape(m, k).astype(np.float64)
                out[start:start + m] = weight(sims, cells[None, :]).sum(axis=1) - offset
            else:
                u, c = np.unique(key, return_counts=True)
                out[start:start + m] = np.bincount(
                    u // kk, weights=weight(c.astype(np.float64), u % kk), minlength=m
                ) - offset
        if deadline is not None:
            deadline.check(f"after {start + m:,} of {reps:,} Monte Carlo draws")
    return out


def _twosample_stats(ref: np.ndarray, law: np.ndarray, num: int, reps: int,
                     gen: np.random.Generator, deadline: Deadline | None) -> np.ndarray:
    """Pearson homogeneity statistic of ``reps`` pairs of samples of size ``num``
    (first from ``ref``, second from ``law``)."""
    k = ref.size
    out = np.empty(reps)
    sparse = 2 * num < k
    chunk = max(1, int(4e6 // (2 * num if sparse else k)))
    cdf_ref, cdf_law = _cdf(ref), _cdf(law)
    t_ref = _alias(ref) if k <= _DENSE_CELLS else None
    t_law = _alias(law) if k <= _DENSE_CELLS else None
    ref, law = ref / ref.sum(), law / law.sum()
    for start in range(0, reps, chunk):
        m = min(chunk, reps - start)
        if sparse:
            k1, kk = _sparse_draws(cdf_ref, num, m, gen, t_ref)
            k2, _ = _sparse_draws(cdf_law, num, m, gen, t_law)
            u, inv = np.unique(np.concatenate([k1, k2]), return_inverse=True)
            c1 = np.bincount(inv[:k1.size], minlength=u.size).astype(np.float64)
            c2 = np.bincount(inv[k1.size:], minlength=u.size).astype(np.float64)
            out[start:start + m] = np.bincount(u // kk, weights=(c1 - c2) ** 2 / (c1 + c2),
                                               minlength=m)
        else:
            c1 = gen.multinomial(num, ref, size=m).astype(np.float64)
            c2 = gen.multinomial(num, law, size=m).astype(np.float64)
            t = c1 + c2
            out[start:start + m] = np.sum((c1 - c2) ** 2 / np.where(t > 0, t, 1.0), axis=1)
        if deadline is not None:
            deadline.check(f"after {start + m:,} of {reps:,} Monte Carlo draws")
    return out


def _mc_crit(null: np.ndarray, alpha: float) -> float:
    """The test rejects iff ``(1 + #{null >= t}) / (R + 1) <= alpha``, i.e. iff ``t``
    exceeds the returned order statistic (``inf``: it can never reject)."""
    r = null.size
    m0 = math.floor(alpha * (r + 1) * (1 + 1e-12)) - 1
    if m0 < 0:
        return math.inf
    return float(np.sort(null)[r - 1 - m0])


#: Fewest null draws at or above the observed statistic that stop the sequential
#: Monte Carlo p-value (:func:`_mc_pvalue`; at least ``alpha (resamples + 1)``).
SEQUENTIAL_EXCEEDANCES: int = 10


def _mc_pvalue(
    obs: np.ndarray, p: np.ndarray, num: int, alpha: float, gen: np.random.Generator,
    max_resamples: int = MAX_RESAMPLES, deadline: Deadline | None = None,
) -> tuple[float, float, int, np.ndarray]:
    """Sequential Monte Carlo p-value (Besag and Clifford 1991) of the bias-corrected
    chi-square under multinomial(num, p): ``(t_obs, pvalue, resamples, null drawn)``.

    Null statistics are drawn in growing chunks, in stream order, until ``h = max(10,
    ceil(alpha m))`` of them reach the observed one (``m = resamples + 1``): then
    ``p = h / l`` after ``l`` draws; else all ``m - 1`` are drawn and ``p = (1 + G) / m``
    with ``G`` of them reaching it, the fixed-size p-value. Valid (``P(p <= u) <= u``
    under the null) and at level ``alpha`` the fixed-size test's decision: it rejects
    iff fewer than ``alpha m`` of the ``m - 1`` draws reach the statistic, and an early
    stop (``h >= alpha m`` reached, ``p >= h / (m - 1) > alpha``) means it cannot, so the
    simulated power of the fixed rule is the power of this one. A correct sampler's
    p-value then costs about ``h (1 + ln(m / h))`` draws instead of ``m - 1``.
    """
    inv_exp = 1.0 / (p * num)
    t_obs = float(_adk_counts(obs, inv_exp, num))
    resamples = check_resolution(alpha, max_resamples, "Monte Carlo test")
    m = resamples + 1
    h = max(SEQUENTIAL_EXCEEDANCES, math.ceil(alpha * m))
    level = t_obs - 1e-9 * max(1.0, abs(t_obs))
    parts: list[np.ndarray] = []
    drawn = reached = 0
    chunk = 4 * h
    while drawn < resamples:
        c = min(chunk, resamples - drawn)
        part = _onesample_stats(p, inv_exp, num, c, gen, deadline)
        hits = np.cumsum(part >= level)
        if reached + int(hits[-1]) >= h:  # stop at the draw that makes h
            stop = int(np.searchsorted(hits, h - reached)) + 1
            parts.append(part[:stop])
            return t_obs, h / (drawn + stop), resamples, np.concatenate(parts)
        parts.append(part)
        drawn, reached, chunk = drawn + c, reached + int(hits[-1]), 2 * chunk
    return t_obs, (1.0 + reached) / m, resamples, np.concatenate(parts)


# ------------------------------------------------- simulated power (Monte Carlo tests)
_SPLITS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
                              0.95, 0.98)


def _split_points(p: np.ndarray, order: np.ndarray) -> list[tuple[int, float]]:
    """(last index in ``order`` of the rare block, its mass) for each split."""
    cum = np.cumsum(p[order])
    out: dict[int, float] = {}
    for frac in _SPLITS:
        j = min(int(np.searchsorted(cum, frac)), p.size - 2)
        if j >= 0:
            out[j] = float(cum[j])
    return sorted(out.items())


def _family_max_tv(p: np.ndarray) -> float:
    """Largest TV reached by :func:`two_block_alternatives` around ``p``."""
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    pts = _split_points(p, np.argsort(p, kind="stable"))
    return max((max(a, 1.0 - a) for _, a in pts), default=0.0)


#: What a simulated (sparse-regime) ``detectable_tv`` is stated for: the family of
#: :func:`two_block_alternatives`, not every law at that TV.
TWO_BLOCK_AGAINST: str = ("two-block deviations of the joint law (mass moved proportionally "
                          "between the least likely cells and the rest; simulated power of "
                          "the test as run)")


def two_block_alternatives(p: np.ndarray, tv: float) -> list[tuple[str, np.ndarray]]:
    """Alternatives at TV exactly ``tv`` from ``p`` moving mass between a set ``A`` of
    the least likely cells (mass ``a`` close to each split of :data:`_SPLITS`) and the
    rest, proportionally within each block: ``s = p (1 + tv / a)`` on ``A`` and
    ``p (1 - tv / (1 - a))`` elsewhere ("rare-up"), or the reverse ("rare-down").

    ``a = 1/2`` gives the alternatives of least chi-square divergence (``4 tv**2``);
    "rare-up" with small ``a`` raises the variance of the statistic most (many
    cells, each a little more likely), the hardest deviations to see in the sparse
    regime. Labels read ``"rare-up a=0.500"``.
    """
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum()
    order = np.argsort(p, kind="stable")
    out: list[tuple[str, np.ndarray]] = []
    for j, a in _split_points(p, order):
        cells = order[:j + 1]
        for up in (True, False):
            fa, fb = (1 + tv / a, 1 - tv / (1 - a)) if up else (1 - tv / a, 1 + tv / (1 - a))
            if min(fa, fb) < 0:
                continue
            s = p * fb
            s[cells] = p[cells] * fa
            out.append((f"{'rare-up' if up else 'rare-down'} a={a:.3f}", s))
    return out


def _score(p: np.ndarray, s: np.ndarray, num: int, crit: float) -> float:
    """Normal-approximation z of the power (Poissonised moments of the statistic);
    used only to rank alternatives, the power itself is simulated."""
    d = s - p
    mean = num * float(np.sum(d * d / p))
    var = 2.0 * float(np.sum((s / p) ** 2)) + 4.0 * num * float(np.sum(s * d * d / p**2))
    return (mean - crit) / math.sqrt(var)


def _simulated_detectable_tv(
    p: np.ndarray,
    num: int,
    crit: float,
    power: float,
    stats_of: Callable[[np.ndarray, int, np.random.Generator], np.ndarray],
    seed: int,
    *,
    cost: int,
    iterations: int = 8,
    guess: float | None = None,
    at: float | None = None,
) -> tuple[float, float, str]:
    """Smallest TV at which the simulated power of "reject iff statistic > crit"
    against every tried two-block alternative is at least ``power`` (plus one
    binomial standard error of the simulation); ``(1.0, power_seen, label)`` if none.

    The bisection simulates the three alternatives that the normal approximation
    ranks hardest at each TV, with common random numbers (seed ``seed``) across TVs;
    the TV it finds is then verified against *every* alternative of the family and
    raised until all of them reach the target.

    ``at`` (a plan's requested TV): every alternative of the family is simulated at
    that TV first; when all of them reach the target, ``at`` is returned with the
    smallest power seen (the figure a plan needs, at half the simulations of the
    bisection), else the bisection runs as above.
    """
    if not math.isfinite(crit):
        return 1.0, 0.0, "cannot reject"
    reps = int(min(_POWER_REPS, max(200, _POWER_WORK / (3 * (iterations + 1) * cost))))
    target = min(1.0, power + math.sqrt(power * (1 - power) / reps))

    def worst(tv: float, top: int | None = 3) -> tuple[float, str]:
        cands = two_block_alternatives(p, tv)
        if not cands:
            return 0.0, "none"
        cands.sort(key=lambda c: _score(p, c[1], num, crit))
        res = []
        for label, s in cands[:top]:
            sims = stats_of(s, reps, np.random.default_rng(seed))
            res.append((float(np.mean(sims > crit)), label))
        return min(res)

    hi = _family_max_tv(p) * (1 - 1e-6)
    if at is not None and 0.0 < at < hi:
        pw, lab = worst(at, None)
        if pw >= target:
            return at, pw, lab
    best: tuple[float, float, str] | None = None
    if guess is not None and 0.0 < 2.0 * guess < hi:
        pw, lab = worst(2.0 * guess)
        if pw >= target:
            best = (2.0 * guess, pw, lab)
    if best is None:
        pw_hi, lab_hi = worst(hi)
        if pw_hi < target:
            return 1.0, pw_hi, lab_hi
        best = (hi, pw_hi, lab_hi)
    lo = 0.25 * best[0] if guess is None else min(0.5 * guess, 0.5 * best[0])
    for _ in range(iterations):  # bisection in log scale: relative precision
        mid = math.sqrt(lo * best[0])
        pw, lab = worst(mid)
        if pw >= target:
            best = (mid, pw, lab)
        else:
            lo = mid
    for _ in range(20):  # verification against the whole family
        pw, lab = worst(best[0], None)
        if pw >= target:
            return best[0], pw, lab
        if best[0] >= hi:
            return 1.0, pw, lab
        best = (min(hi, best[0] + 0.05 * (hi - best[0]) + 1e-3), pw, lab)
    return 1.0, best[1], best[2]


#: The planner's screen aims its approximate detectable TV this far below the
#: requested TV, so that the simulated figure at the screened size usually holds at once.
SCREEN_MARGIN: float = 0.95


def _approx_detectable_tv(p: np.ndarray, num: int, alpha: float, power: float) -> float:
    """Normal-approximation detectable TV of the Monte Carlo test (bias-corrected
    chi-square) on ``num`` samples, for planning only: the stated figure is simulated.

    Under multinomial(``num``, ``p``) with ``k`` cells the statistic has mean -1 and
    variance ``2 (k - 1) (1 - 1 / num)`` exactly (factorial moments), whatever ``p``;
    the critical value is that of the chi-square with this variance, shifted to this
    mean. Each two-block alternative's power is its normal z (:func:`_score`); the
    result is the smallest TV at which every alternative's z reaches the power's
    (bisection in log TV), ``inf`` if none does.
    """
    k = p.size
    nu = (k - 1) * (1.0 - 1.0 / num)
    crit = -1.0 - nu + float(stats.chi2.isf(alpha, nu))
    z_target = float(stats.norm.ppf(power))

    def ok(tv: float) -> bool:
        cands = two_block_alternatives(p, tv)
        return bool(cands) and min(_score(p, s, num, crit) for _, s in cands) >= z_target

    hi = _family_max_tv(p) * (1 - 1e-6)
    if hi <= 0.0 or not ok(hi):
        return math.inf
    lo = hi * 1e-6
    for _ in range(30):  # relative precision (hi / lo) ** 2**-30: far below 1e-3
        mid = math.sqrt(lo * hi)
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def screened_size(p: np.ndarray, num: int, alpha: float, power: float, tv: float) -> int:
    """Where the planner starts its simulations, so that it usually simulates once:
    ``num`` itself if :func:`_approx_detectable_tv` finds it enough (at most ``tv``)
    or finds no power there, else a larger size at which the approximation is at most
    ``SCREEN_MARGIN * tv``, found by at most 4 ``det ~ num**-1/2`` steps and 20 1%
    increments (it may stop short of the goal after them; ``num >= 1``)."""
    goal = SCREEN_MARGIN * tv
    det = _approx_detectable_tv(p, num, alpha, power)
    if not math.isfinite(det) or det <= tv:
        return num
    size = num
    for step in range(24):
        if not math.isfinite(det) or det <= goal:
            break
        size = max(size, math.ceil(size * (det / goal) ** 2)) if step < 4 \
            else math.ceil(size * 1.01)
        det = _approx_detectable_tv(p, size, alpha, power)
    return size


_DETECTABLE_CACHE: dict[tuple[Any, ...], tuple[float, float]] = {}


def _sparse_detectable_tv(p: np.ndarray, num: int, alpha: float, power: float, kind: str,
                          resamples: int, deadline: Deadline | None,
                          at: float | None = None) -> tuple[float, float]:
    """Detectable TV (and the simulated power at it) of the one-sample test ``kind`` as
    run on ``num`` samples from a law with support probabilities ``p``: the Monte Carlo
    test with ``resamples`` null draws (its rejection rule on one null simulation of
    that size), or the G / Pearson test with its chi-square critical value.

    ``at``: a plan's requested TV, returned when every alternative reaches the power
    there (:func:`_simulated_detectable_tv`); the smallest such TV otherwise.
    Deterministic in its arguments (seeded from them, ``at`` aside: the same null and
    power draws with or without it) and memoised, so repeated checks of one target at
    one size pay for it once.
    """
    base = (hashlib.sha256(p.tobytes()).hexdigest(), num, alpha, power, kind, resamples)
    key = (*base, at)
    if key in _DETECTABLE_CACHE:
        return _DETECTABLE_CACHE[key]
    seeds = np.random.SeedSequence(
        int.from_bytes(hashlib.sha256(repr(base).encode()).digest()[:8], "little")
    ).spawn(2)
    k = p.size
    inv_exp = 1.0 / (p * num)
    wq = 1.0
    if kind == "montecarlo":
        null = _onesample_stats(p, inv_exp, num, resamples, np.random.default_rng(seeds[0]),
                                deadline)
        crit = _mc_crit(null, alpha)
    else:
        if kind == "gtest":
            wq = 1.0 + (float(np.sum(1.0 / p)) - 1.0) / (6.0 * num * (k - 1))
        crit = float(stats.chi2.isf(alpha, k - 1))
    det, pw, _ = _simulated_detectable_tv(
        p, num, crit, power,
        lambda s, r, g: _onesample_stats(s, inv_exp, num, r, g, deadline, kind, wq),
        int(seeds[1].generate_state(1)[0]), cost=min(num, k),
        guess=detectable_tv(k, num, alpha=alpha, power=power), at=at,
    )
    if len(_DETECTABLE_CACHE) >= 64:
        _DETECTABLE_CACHE.clear()
    _DETECTABLE_CACHE[key] = (det, pw)
    return det, pw
