"""The one two-sample test of homogeneity of two samples of joint configurations.

Used by :func:`~verify.exactness.check_batch_invariance` (a sampler at two batch sizes)
and :func:`~verify.exactness.closeness_test` (a sampler against the sequential sampler on
the same oracle). Pearson's ``X = sum (c1 - c2)**2 / (c1 + c2)`` over the observed
configurations, with the chi-square reference (``"chi2"``) when every pooled count is
>= 10, else the exact conditional (permutation) null by Monte Carlo
(``"permutation"``). Stated power: the noncentral chi-square worst case with
``lambda = 2 N tv**2`` (``N`` samples in each arm; ``sum (s - p)**2 / ((s + p) / 2) >=
4 tv**2`` by Cauchy-Schwarz) in the dense regime, the simulated power against two-block
alternatives in the sparse one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from verify.exactness.full_table import MIN_EXPECTED
from verify.exactness.montecarlo import _mc_crit, _simulated_detectable_tv, _twosample_stats
from verify.planning import lambda_needed
from verify.sampling import Deadline

__all__ = ["TwoSampleTable", "two_sample_table"]


@dataclass(frozen=True, kw_only=True)
class TwoSampleTable:
    """Outcome of :func:`two_sample_table` (an internal record, not a check result)."""

    method: str
    statistic: float
    pvalue: float
    dof: float
    detectable_tv: float
    tv_estimate: float
    details: Mapping[str, float]


def two_sample_table(
    x1: np.ndarray,
    x2: np.ndarray,
    q: int,
    *,
    alpha: float,
    power: float,
    resamples: int,
    p_ref: np.ndarray | None,
    ss_test: np.random.SeedSequence,
    ss_power: np.random.SeedSequence,
    deadline: Deadline,
) -> TwoSampleTable:
    """Homogeneity of two equal-size samples ``x1``, ``x2`` (int, shape (N, n)).

    ``p_ref`` (the support law, if known) is the reference of the simulated power in
    the sparse regime; else the pooled empirical law is.
    """
    num_samples, n = x1.shape
    x = np.concatenate([x1, x2], axis=0)
    if n * math.log2(q) <= 62:
        keys = np.ravel_multi_index(x.T, (q,) * n)
    else:
        _, keys = np.unique(x, axis=0, return_inverse=True)
    _, inv = np.unique(keys, return_inverse=True)
    inv = inv.ravel()
    m = int(inv.max()) + 1
    c1 = np.bincount(inv[:num_samples], minlength=m).astype(np.float64)
    c2 = np.bincount(inv[num_samples:], minlength=m).astype(np.float64)
    t = c1 + c2
    stat = float(np.sum((c1 - c2) ** 2 / t))
    tv_est = 0.5 * float(np.abs(c1 - c2).sum()) / num_samples
    details: dict[str, float] = {"cells_observed": float(m)}
    if m == 1:
        method, pvalue, dof = "trivial", 1.0, 0.0
        det = float(-math.expm1(math.log1p(-power) / num_samples))
    elif t.min() >= 2 * MIN_EXPECTED:
        method, dof = "chi2", float(m - 1)
        pvalue = float(stats.chi2.sf(stat, m - 1))
        det = float(min(1.0, math.sqrt(lambda_needed(m - 1, alpha, power)
                                       / (2.0 * num_samples))))
    else:
        method, dof = "permutation", math.nan
        gen = np.random.default_rng(ss_test)
        ti = t.astype(np.int64)
        null = np.empty(resamples)
        chunk = max(1, int(4e6 // m))
        for start in range(0, resamples, chunk):
            r = min(chunk, resamples - start)
            s1 = gen.multivariate_hypergeometric(ti, num_samples, size=r).astype(np.float64)
            null[start:start + r] = np.sum((2.0 * s1 - t) ** 2 / t, axis=1)
            deadline.check(f"after {start + r:,} of {resamples:,} permutation draws")
        ge = int(np.count_nonzero(null >= stat - 1e-9 * max(1.0, stat)))
        pvalue = (1.0 + ge) / (resamples + 1.0)
        details["resamples"] = float(resamples)
        details["pvalue_resolution"] = 1.0 / (resamples + 1.0)
        ref = p_ref if p_ref is not None else t / t.sum()
        pgen = np.random.default_rng(ss_power)
        null_u = _twosample_stats(ref, ref, num_samples, resamples, pgen, deadline)
        pseed = int(ss_power.generate_state(1)[0])
        det, pw, _ = _simulated_detectable_tv(
            ref, num_samples, _mc_crit(null_u, alpha), power,
            lambda s, r, g: _twosample_stats(ref, s, num_samples, r, g, deadline),
            pseed, cost=min(2 * num_samples, ref.size),
            guess=float(min(1.0, math.sqrt(lambda_needed(ref.size - 1, alpha, power)
                                           / (2.0 * num_samples)))) if ref.size > 1 else None,
        )
        details["simulated_power"] = pw
    return TwoSampleTable(method=method, statistic=stat, pvalue=float(pvalue), dof=dof,
                          detectable_tv=float(det), tv_estimate=tv_est, details=details)
