"""The combination of the marginal chain-rule family (``family="marginal"``; the
default family, :mod:`verify.chain_tests.martingale`, needs none of this): a weighted
Cauchy combination of exactly (or asymptotically) uniform sub-test p-values.

**Why not Bonferroni.** Holm / Bonferroni over the ~500,000 sub-tests of an
``n = 1000`` target is valid under any dependence but far from calibrated: under
the null its p-value ``min(1, m p_min)`` is 1 most of the time (measured mean
p-value 0.71-0.79 over 100-200 seeds on three targets, KS p < 1e-40), and every
sub-test pays the whole multiplicity ``m``.

**The combination.** Every sub-test's p-value is made uniform under the null (the
binomial site and pair-cell tests are *randomised*: ``u = F(c - 1) + V P(c)`` with
``V`` uniform, ``p = 2 min(u, 1 - u)``, exactly Uniform(0, 1); the PIT, score and
moment tests are asymptotically uniform), and combined by the Cauchy combination
test (Liu and Xie 2020)::

    T = sum_i w_i tan((1/2 - p_i) pi),     p = 1/2 - arctan(T) / pi,

with weights ``w_i >= 0`` summing to 1. Each term is standard Cauchy under the null;
for independent or perfectly dependent terms ``T`` is exactly standard Cauchy, and
for dependent terms whose z-scores are pairwise normal the tail ``P(T > t) / P(C > t)
-> 1`` as ``t -> infinity`` (Liu and Xie 2020, Theorem 1) whatever the correlations.
The validity conditions were checked by simulation (uniformity of the family p-value
under the null, ``tests/verify/test_chain_calibration.py`` and
``benchmarks/chain_calibration.py``): calibrated at 0.01 and 0.05, but liberal at
the moderate level 0.1 under strongly correlated sites (0.18 on an Ising chain with
n = 16), as a tail approximation can be, and at the edge of its binomial interval at
0.05 (0.08 on that chain). The family therefore uses the combination only at
``alpha <= CAUCHY_MAX_ALPHA`` (0.01; the tail approximation improves as ``alpha ->
0``, and the suite's levels are 1e-3 and below) and Holm's adjustment, valid under
any dependence, above it; the planner plans for whichever the level uses.

**The exact alternative** (``chain_test(..., null_draws=B)``): the same statistic
``T`` with its null law simulated from ``B`` data sets drawn from the oracle's own
chain rule, and the randomised Monte Carlo p-value :func:`mc_pvalue`, which is
exactly Uniform(0, 1) under the null (the observed and simulated statistics are
exchangeable), so valid at every level and calibrated under any dependence; the
switch above does not apply to it. The PIT groups, exactly independent and uniform,
are also summarised by :func:`sidak` (exactly uniform).

**Weights** (:data:`BLOCK_WEIGHTS`): a third each for the chain block (PIT groups,
score, moments: the sub-tests that see joint deviations), the one-site block and the
two-site block, split equally within a block (a pair's weight split over its ``q**2``
cells). A strong signal in one sub-test of weight ``w`` gives ``p ~ p_i / w``: the
joint-deviation tests pay a multiplicity of about 40 instead of ~500,000, the
marginal tests about 3 times their block size instead of the family size.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from verify.multiplicity import holm

__all__ = [
    "BLOCK_WEIGHTS",
    "CAUCHY_MAX_ALPHA",
    "cauchy_cell_level",
    "cauchy_combine",
    "holm_reject",
    "mc_pvalue",
    "randomized_binom",
    "sidak",
]

#: Largest family level at which the Cauchy combination is used (Holm above it).
CAUCHY_MAX_ALPHA = 0.01

#: Share of the combination's weight of each block of sub-tests.
BLOCK_WEIGHTS: dict[str, float] = {"chain": 1 / 3, "site": 1 / 3, "pair": 1 / 3}
_P_MIN, _P_MAX = 1e-300, 1.0 - 1e-15


def randomized_binom(c: np.ndarray, num: int, p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Randomised two-sided binomial p-values, exactly Uniform(0, 1) under the null.

    ``u = F(c - 1) + v P(X = c)`` for ``X ~ Bin(num, p)`` and ``v`` uniform, then
    ``2 min(u, 1 - u)``. A count on a value of probability 0 gives 0.
    """
    c = np.asarray(c, dtype=np.float64)
    pc = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    u = stats.binom.cdf(c - 1, num, pc) + v * stats.binom.pmf(c, num, pc)
    out = np.clip(2.0 * np.minimum(u, 1.0 - u), 0.0, 1.0)
    out = np.where((pc <= 0.0) & (c > 0), 0.0, out)
    return np.where((pc >= 1.0) & (c < num), 0.0, out)


def cauchy_combine(pvalues: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """The Cauchy combination ``(T, p)`` of ``pvalues`` with ``weights`` (summing to 1).

    Examples
    --------
    >>> t, p = cauchy_combine(np.array([0.5, 0.5]), np.array([0.5, 0.5]))
    >>> round(t, 12), round(p, 12)
    (0.0, 0.5)
    """
    p = np.asarray(pvalues, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if np.any(p <= 0.0):
        return math.inf, 0.0
    p = np.clip(p, _P_MIN, _P_MAX)
    # tan((1/2 - p) pi) = 1 / tan(p pi), accurate for small p
    t = float(np.sum(w / np.tan(p * np.pi)))
    if t > 1e15:
        return t, float(1.0 / (math.pi * t))
    return t, float(0.5 - math.atan(t) / math.pi)


def cauchy_cell_level(
    weight: float, alpha: float, slack: float, critical: float | None = None
) -> float:
    """Level a sub-test of weight ``weight`` must reach for the family to reject at
    ``alpha`` when the rest of the combination is not below its ``slack`` quantile
    (the rest taken as Cauchy with scale ``1 - weight``): ``w / (pi (t_alpha + (1 - w)
    t_slack))`` with ``t_x = tan((1/2 - x) pi)``; ``critical`` replaces ``t_alpha``
    (a Monte Carlo null's critical value)."""
    t_a = 1.0 / math.tan(alpha * math.pi) if critical is None else max(0.0, critical)
    t_s = 1.0 / math.tan(slack * math.pi)
    return float(math.atan(weight / (t_a + (1.0 - weight) * t_s)) / math.pi)


def sidak(pvalues: np.ndarray) -> float:
    """Sidak's combination ``1 - (1 - min p)**m`` of ``m`` p-values: exactly Uniform(0, 1)
    when they are independent and exactly uniform (the PIT groups).

    Examples
    --------
    >>> round(sidak(np.array([0.5, 0.5])), 12)
    0.75
    """
    p_min = min(1.0, float(np.min(np.asarray(pvalues, dtype=np.float64))))
    if p_min >= 1.0:
        return 1.0
    return float(-np.expm1(np.size(pvalues) * np.log1p(-p_min)))


def mc_pvalue(t_obs: float, t_null: np.ndarray, gen: np.random.Generator) -> float:
    """Randomised Monte Carlo p-value ``(#{T_b > t} + V (1 + #{T_b = t})) / (B + 1)``.

    When ``t_obs`` and the ``B`` null statistics are exchangeable (the null draws
    come from the null law), this is exactly Uniform(0, 1): valid at every level and
    calibrated, whatever the dependence inside the statistic.
    """
    t_null = np.asarray(t_null, dtype=np.float64)
    above = int(np.count_nonzero(t_null > t_obs))
    ties = int(np.count_nonzero(t_null == t_obs))
    return float((above + gen.random() * (1 + ties)) / (t_null.size + 1))


def holm_reject(pvalues: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down test at ``alpha``: ``(reject, adjusted)`` in the input order
    (:func:`verify.multiplicity.holm`).

    Examples
    --------
    >>> holm_reject(np.array([0.01, 0.04, 0.03]), 0.05)[1].round(6).tolist()
    [0.03, 0.06, 0.06]
    """
    adj = holm(pvalues)
    return adj <= alpha, adj
