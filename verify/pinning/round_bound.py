"""The round-bound test: a sampler's rounds against ``sum TV`` over the blocks it visited.

:func:`check_round_bound` runs a sampler that records a
:class:`~samplers.base.SamplerTrace`, computes ``TV(mu_S, nu_S)`` of every block
call given its recorded context (:func:`trace_block_tv`) and tests whether the
rounds spent are explained by that sum (issue 4 item 3).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from distributions.base import DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_float, check_int
from samplers.base import RandomSource, Sampler, SamplerTrace
from verify.pinning.inputs import MAX_EXACT_N, SeedLike, _check_target, _seed_of, _table_of
from verify.pinning.montecarlo import _block_given_context, enum_limit
from verify.pinning.numerics import CONFIDENCE, _mean_ci
from verify.pinning.results import RoundBoundResult
from verify.sampling import check_memory

__all__ = ["trace_block_tv", "check_round_bound"]


def _spawn_pair(rng: SeedLike | RandomSource) -> tuple[Any, np.random.Generator]:
    """(source for the sampler, independent generator for the estimators)."""
    seeds = int | np.integer | np.random.Generator | np.random.SeedSequence
    if rng is None or isinstance(rng, seeds):
        gen = np.random.default_rng(rng)
        a, b = gen.spawn(2)
        return a, b
    return rng, np.random.default_rng()


def trace_block_tv(
    target: DiscreteOracle, trace: SamplerTrace, *, rng: SeedLike = None
) -> tuple[np.ndarray, bool]:
    """``TV(mu_S, nu_S)`` of every block call of a :class:`~samplers.base.SamplerTrace`.

    Given the recorded context; exact when ``q**|S|`` is small enough to
    enumerate, otherwise the unbiased estimate ``(1 - mu_S(x)/nu_S(x))_+`` at one
    fresh ``x ~ nu_S``.

    Parameters
    ----------
    target : DiscreteOracle
        The traced sampler's target.
    trace : SamplerTrace
        ``K`` block calls.
    rng : seed or Generator, optional
        For the fresh draws ``x ~ nu_S`` of the estimated blocks.

    Returns
    -------
    tv : ndarray, shape (K,)
        0 for blocks of size 1.
    all_exact : bool
        Every block was enumerated (no estimate).
    """
    n, q = _check_target(target)
    gen = np.random.default_rng(rng)
    a = np.asarray(trace.block_a, dtype=np.int64)
    b = np.asarray(trace.block_b, dtype=np.int64)
    smp = np.asarray(trace.block_sample, dtype=np.int64)
    ctx_all = np.asarray(trace.block_context, dtype=np.int64)
    orders = np.asarray(trace.orders, dtype=np.int64)
    limit = min(enum_limit(n), 64)
    if _table_of(target) is not None and n <= MAX_EXACT_N:
        limit = max(limit, min(q**n, 4096))
    tv = np.zeros(a.shape[0])
    exact = True
    L_all = b - a
    for L in np.unique(L_all):
        if L < 2:
            continue
        idx = np.flatnonzero(L_all == L)
        pos = np.take_along_axis(orders[smp[idx]], a[idx, None] + np.arange(L)[None, :], axis=1)
        t, _, ex = _block_given_context(
            target, ctx_all[idx], pos, None, limit=limit, proposal="nu", gen=gen
        )
        tv[idx] = t
        exact &= ex
    return tv, exact


def check_round_bound(
    sampler: Sampler,
    target: DiscreteOracle,
    *,
    num_samples: int,
    rng: SeedLike | RandomSource = None,
    alpha: float = 0.01,
    reference: RoundBoundResult | None = None,
    max_constant: float | None = None,
) -> RoundBoundResult:
    """Rounds of ``sampler`` against ``sum TV(mu_S, nu_S)`` over the blocks it visited.

    Runs ``sampler.sample(num_samples, rng=...)`` (it must record a trace, e.g.
    ``AutospeculativeSampler(..., trace=True)``), computes for every sample the
    sum over its block calls of ``TV(mu_S, nu_S)`` given the recorded context
    (:func:`trace_block_tv`), and fits ``E[rounds] = c (1 + E[sum TV]) log2 n``.

    Flagging (a sampler that spends rounds ``sum TV`` does not explain):

    - every block call's speculation is rejected with probability exactly
      ``TV(mu_S, nu_S)`` given its context, so for a correct sampler
      ``E[#rejections - sum TV] = 0`` (optional stopping); the excess is tested
      one-sided at ``alpha`` (t-test over samples);
    - with ``reference`` (the result of a trusted sampler on the same target),
      the mean rounds must not exceed the reference fit
      ``intercept + slope * E[sum TV]`` by more than the combined
      ``1 - alpha`` interval;
    - with ``max_constant``, the lower end of the constant's interval must not
      exceed it.

    Parameters
    ----------
    sampler : Sampler
        ``sample(num, *, rng) -> SampleResult`` recording a trace.
    target : DiscreteOracle
        The sampler's target (exact oracle).
    num_samples : int
        ``>= 2``.
    rng : seed, Generator, SeedSequence or RandomSource, optional
        A seed, Generator or SeedSequence is split into independent streams for
        the sampler and the estimators (the integer seed is recorded in the
        result); any other source goes to the sampler as is, and the estimators
        use a fresh generator.
    alpha : float, default 0.01
    reference : RoundBoundResult, optional
    max_constant : float, optional

    Returns
    -------
    RoundBoundResult
    """
    n, q = _check_target(target)
    num = check_int("num_samples", num_samples, low=2)
    check_memory(num, n, "check_round_bound", advice="use fewer `num_samples`")
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    if max_constant is not None:
        max_constant = check_float("max_constant", max_constant, low=0.0, low_open=True)
    if getattr(sampler, "n", n) != n:
        raise ParameterError(f"`sampler.n` must equal `target.n` = {n}; got {sampler.n}.")
    src, gen = _spawn_pair(rng)
    res = sampler.sample(num, rng=src)
    trace = getattr(res, "trace", None)
    if trace is None:
        raise ParameterError(
            "`sampler` must record a trace (SampleResult.trace); build it with trace=True."
        )
    # the trace holds the block calls the algorithm ran (look-ahead trials that
    # the sampler discarded are not recorded; see SamplerTrace)
    tv_all, exact = trace_block_tv(target, trace, rng=gen)
    smp = np.asarray(trace.block_sample, dtype=np.int64)
    rounds = np.asarray(res.rounds, dtype=np.float64)
    sum_tv = np.bincount(smp, weights=tv_all, minlength=num).astype(np.float64)
    rejected = ~np.asarray(trace.block_first_accepted, bool)
    rej = np.bincount(smp, weights=rejected.astype(float), minlength=num)
    log_n = max(math.log2(n), 1.0)
    # constant c = mean(rounds) / ((1 + mean(sumTV)) log2 n), delta-method interval
    r_bar, s_bar = float(rounds.mean()), float(sum_tv.mean())
    ratio = r_bar / (1 + s_bar)
    z = rounds - ratio * (1 + sum_tv)
    se_ratio = float(z.std(ddof=1)) / math.sqrt(num) / (1 + s_bar)
    tq = float(stats.t.ppf(0.5 + CONFIDENCE / 2, num - 1))
    c = ratio / log_n
    c_int = ((ratio - tq * se_ratio) / log_n, (ratio + tq * se_ratio) / log_n)
    # least squares rounds_i = alpha0 + slope * sumTV_i with HC0 covariance
    X = np.stack([np.ones(num), sum_tv], axis=1)
    XtX_inv = np.linalg.pinv(X.T @ X)
    beta = XtX_inv @ X.T @ rounds
    resid = rounds - X @ beta
    cov = XtX_inv @ (X.T * resid**2) @ X @ XtX_inv
    se_slope = math.sqrt(max(float(cov[1, 1]), 0.0))
    # rejection excess
    d = rej - sum_tv
    d_mean, d_lo, d_hi = _mean_ci(d)
    d_se = float(d.std(ddof=1)) / math.sqrt(num)
    if d_se > 0:
        p_excess = float(stats.t.sf(float(d_mean) / d_se, num - 1))
    else:
        p_excess = 0.0 if d_mean > 0 else 1.0
    reasons: list[str] = []
    if p_excess < alpha:
        reasons.append(
            f"first-stage rejections exceed sum TV: mean excess {float(d_mean):.4g} per sample "
            f"(95% CI [{float(d_lo):.4g}, {float(d_hi):.4g}]), one-sided p = {p_excess:.3g} "
            f"< alpha = {alpha:g}"
        )
    ref_excess = ref_p = None
    if reference is not None:
        pred = reference.intercept + reference.slope * s_bar
        g = np.array([1.0, s_bar])
        cov_ref = np.asarray(reference.fit_covariance)
        se_pred = math.sqrt(max(float(g @ cov_ref @ g), 0.0))
        se_r = float(rounds.std(ddof=1)) / math.sqrt(num)
        zq = float(stats.norm.ppf(1 - alpha))
        ref_excess = r_bar - pred
        se_all = math.hypot(se_pred, se_r)
        if se_all > 0:
            ref_p = float(stats.norm.sf(ref_excess / se_all))
        else:
            ref_p = 0.0 if ref_excess > 0 else 1.0
        if ref_excess > zq * se_all:
            reasons.append(
                f"mean rounds {r_bar:.4g} exceed the reference relation {pred:.4g} by "
                f"{ref_excess:.4g} > {zq * math.hypot(se_pred, se_r):.4g} (its 1 - alpha interval)"
            )
    if max_constant is not None and c_int[0] > max_constant:
        reasons.append(f"constant {c:.4g} (low end {c_int[0]:.4g}) > max_constant {max_constant:g}")
    r_m, r_lo, r_hi = _mean_ci(rounds)
    s_m, s_lo, s_hi = _mean_ci(sum_tv, nonneg=True)
    how = (
        "exact given the recorded context"
        if exact
        else "exact given the recorded context when q**|S| <= enumeration limit, else "
        "importance sampling (1 - mu_S/nu_S)_+ at x ~ nu_S"
    )
    method = (
        f"sampler trace over {num} samples; block TV {how}; c from "
        "E[rounds] = c (1 + E[sum TV]) log2 n (delta method); rejection excess t-test"
    )
    return RoundBoundResult(
        passed=not reasons,
        statistic=float(c),
        pvalue=p_excess,
        seed=_seed_of(rng),
        value=float(c),
        interval=(float(c_int[0]), float(c_int[1])),
        method=method,
        n=n,
        num_samples=num,
        mean_rounds=float(r_m),
        rounds_interval=(float(r_lo), float(r_hi)),
        mean_sum_tv=float(s_m),
        sum_tv_interval=(float(s_lo), float(s_hi)),
        mean_rejections=float(rej.mean()),
        slope=float(beta[1]),
        intercept=float(beta[0]),
        slope_interval=(float(beta[1] - tq * se_slope), float(beta[1] + tq * se_slope)),
        excess_rejections=float(d_mean),
        excess_interval=(float(d_lo), float(d_hi)),
        excess_pvalue=p_excess,
        flagged=bool(reasons),
        reasons=tuple(reasons),
        alpha=alpha,
        rounds=rounds,
        sum_tv=sum_tv,
        rejections=rej,
        reference_excess=ref_excess,
        reference_pvalue=ref_p,
        fit_covariance=cov,
    )
