""":func:`closeness_test`: a sampler against a reference sampler on the same oracle.

For an oracle without a joint law (a trained network), the law a parallel sampler
must output is the **sequential chain-rule law built from the same oracle**, mixed
over orders as the sampler mixes them. :func:`closeness_test` draws ``N`` samples from
the sampler and ``N`` from the reference (default: :class:`~samplers.SequentialSampler`
on the same oracle with the sampler's own ``order``) and tests that the two laws are
equal, whatever the oracle:

* ``q**n <= CLOSENESS_TABLE`` (``2**16``): the full table, by the one two-sample test
  of homogeneity (:mod:`verify.exactness.homogeneity`: Pearson's chi-square, or the
  exact permutation null in the sparse regime). Stated power: with the chi-square
  test, every deviation of the joint law at TV ``>= detectable_tv`` (noncentral
  chi-square, ``lambda = 2 N tv**2``, ``q**n - 1`` dof, planned by
  :func:`plan_closeness_size`); with the permutation test, the simulated power against
  two-block deviations of the pooled observed law (an estimate of the reference law,
  so the figure varies from run to run), as ``power_against`` says.
* larger: chain-rule statistics (``method="chain-two-sample"``): for each site, the
  two-sample chi-square of its one-site marginal (``q - 1`` dof), and the two-sample
  Kolmogorov-Smirnov test of ``log p_id(x)``, the oracle's chain-rule log-probability
  of each sample along the identity order (a fixed function of the sample, so the
  two-sample null holds exactly for iid samples); Holm over the ``n + 1`` sub-tests.
  Stated power: a deviation of TV ``>= detectable_tv`` in any one-site marginal; the
  KS sub-test adds power without a statement.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Any

import numpy as np
from scipy import stats

from distributions.base import MASK, DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_discrete_oracle, check_int, short_repr
from samplers.oracle import CountingOracle
from samplers.sequential import SequentialSampler
from verify.exactness.homogeneity import two_sample_table
from verify.exactness.results import ClosenessResult
from verify.execution import (
    ShippedSampler,
    check_executor,
    draw_sharded,
    plan_shards,
    ship_sampler,
)
from verify.multiplicity import holm
from verify.planning import (
    MAX_RESAMPLES,
    MAX_SAMPLES,
    check_levels,
    check_plan,
    check_resolution,
    lambda_needed,
)
from verify.results import status_of
from verify.sampling import (
    Deadline,
    SamplerLike,
    SeedLike,
    check_memory,
    check_rng,
    check_size,
    check_timeout,
    resolve_batch_size,
    seed_of,
)

__all__ = ["CLOSENESS_TABLE", "closeness_test", "plan_closeness_size", "reference_sampler"]

#: Largest ``q**n`` compared on the full table.
CLOSENESS_TABLE: int = 2**16
_CHUNK_ELEMS: int = 2**22


def _full_table(n: int, q: int) -> bool:
    return n * math.log2(q) <= math.log2(CLOSENESS_TABLE) + 1e-12


def plan_closeness_size(n: int, q: int, *, tv: float, alpha: float, power: float) -> int:
    """Samples per arm at which :func:`closeness_test` has power ``power`` at TV ``tv``.

    Examples
    --------
    >>> plan_closeness_size(8, 2, tv=0.05, alpha=1e-3, power=0.99)
    29829
    """
    n, q = check_int("n", n, low=1), check_int("q", q, low=2)
    tv, alpha, power = check_levels(tv, alpha, power)
    if _full_table(n, q):
        lam = lambda_needed(q**n - 1, alpha, power)
    else:
        lam = lambda_needed(q - 1, alpha / (n + 1), power)
    return max(1, math.ceil(lam / (2.0 * tv * tv)))


def reference_sampler(reference: Any, sampler: Any, oracle: Any) -> tuple[Any, str]:
    """The reference sampler built on ``oracle`` and its description.

    ``reference`` is ``None`` (the sequential sampler with the sampler's ``order``
    attribute, else ``"random"``) or a factory ``oracle -> sampler``; anything else,
    or a factory whose product has no ``sample``, is a ParameterError.
    """
    if reference is None:
        order = getattr(sampler, "order", "random")
        ref = SequentialSampler(oracle, order=order)
        shown = order if isinstance(order, str) else "fixed"
        return ref, f"SequentialSampler(order={shown!r}) on the same oracle"
    if not callable(reference) or hasattr(reference, "sample"):
        raise ParameterError(
            "`reference` must be None or a sampler factory (a callable oracle -> sampler); "
            f"got {short_repr(reference)}.")
    ref = reference(oracle)
    if not callable(getattr(ref, "sample", None)):
        raise ParameterError(
            "`reference` must be a sampler factory (oracle -> sampler with .sample); it "
            f"returned {short_repr(ref)}.")
    return ref, f"{type(ref).__name__} built by `reference` on the same oracle"


def _chain_logp(x: np.ndarray, co: CountingOracle) -> np.ndarray:
    """``log p_id(x)``: the oracle's chain-rule log-probability along the identity order."""
    N, n = x.shape
    out = np.empty(N)
    chunk = max(1, _CHUNK_ELEMS // (n * n * co.q))
    for s in range(0, N, chunk):
        xb = x[s:s + chunk]
        B = xb.shape[0]
        order = np.broadcast_to(np.arange(n), (B, n))
        p = np.asarray(co.conditionals_at(np.full((B, n), MASK, np.int64), order, xb),
                       dtype=np.float64)
        p = p / p.sum(axis=2, keepdims=True)
        pv = np.take_along_axis(p, xb[..., None], axis=2)[..., 0]
        with np.errstate(divide="ignore"):
            out[s:s + B] = np.log(pv).sum(axis=1)
    return out


def _chain_two_sample(x1: np.ndarray, x2: np.ndarray, oracle: Any, q: int, alpha: float,
                      power: float) -> tuple[float, float, float, float, dict[str, float]]:
    N, n = x1.shape
    raw, details = [], {}
    tvs = []
    for i in range(n):
        c1 = np.bincount(x1[:, i], minlength=q).astype(np.float64)
        c2 = np.bincount(x2[:, i], minlength=q).astype(np.float64)
        t = c1 + c2
        live = t > 0
        stat = float(((c1 - c2)[live] ** 2 / t[live]).sum())
        dof = int(live.sum()) - 1
        raw.append(float(stats.chi2.sf(stat, dof)) if dof > 0 else 1.0)
        tvs.append(0.5 * float(np.abs(c1 - c2).sum()) / N)
    co = CountingOracle(oracle, validate=False)
    l1, l2 = _chain_logp(x1, co), _chain_logp(x2, co)
    finite = np.isfinite(l1).all() and np.isfinite(l2).all()
    ks = stats.ks_2samp(l1, l2) if finite else None
    raw.append(float(ks.pvalue) if ks is not None else 0.0)
    details["ks_chain_logp"] = raw[-1]
    details["site_min"] = float(min(raw[:-1]))
    pvalue = float(holm(np.array(raw)).min())
    lam = lambda_needed(q - 1, alpha / (n + 1), power)
    det = float(min(1.0, math.sqrt(lam / (2.0 * N))))
    stat = float(-math.log10(max(pvalue, 1e-300)))
    return stat, pvalue, det, float(max(tvs)), details


def closeness_test(
    sampler: SamplerLike,
    oracle: DiscreteOracle,
    *,
    reference: Any = None,
    num_samples: int | None = None,
    tv: float = 0.05,
    alpha: float = 1e-3,
    power: float = 0.99,
    rng: SeedLike = None,
    batch_size: int | None = None,
    timeout: float | None = None,
    max_samples: int | None = MAX_SAMPLES,
    max_resamples: int = MAX_RESAMPLES,
    executor: Executor | None = None,
    shipped: ShippedSampler | None = None,
) -> ClosenessResult:
    """Two-sample test: the sampler's law equals the reference sampler's on ``oracle``.

    Every argument is checked, and the size planned, before any sample is drawn.

    Parameters
    ----------
    sampler : Sampler or callable
        As for :func:`~verify.exactness.check_exact`.
    oracle : DiscreteOracle
        Any oracle, with or without a joint law (``q**n`` decides the method, see the
        module docstring).
    reference : callable oracle -> sampler, optional
        Default: :class:`~samplers.SequentialSampler` on the same oracle with the
        sampler's ``order`` attribute (``"random"`` when it has none): the sequential
        chain-rule law mixed over orders as the sampler mixes them.
    num_samples : int >= 1, optional
        Samples per arm; default :func:`plan_closeness_size`.
    tv, alpha, power : float
        Detectable TV, level and power (as for ``check_exact``).
    rng, batch_size, timeout, max_samples, max_resamples
        As for :func:`~verify.exactness.check_batch_invariance`; ``max_samples`` caps
        both arms together.
    executor : concurrent.futures.Executor, optional
        Where both arms are drawn, in shards (:mod:`verify.execution`); ``None``: in
        process. The result is the same for every executor. ``shipped``: the sampler
        already prepared for it (by :func:`~verify.execution.ship_sampler`).

    Returns
    -------
    ClosenessResult
        ``reference`` names the reference law.

    Examples
    --------
    >>> from distributions import random_table
    >>> from samplers import AutospeculativeSampler
    >>> d = random_table(3, 2, rng=0)
    >>> r = closeness_test(AutospeculativeSampler(d), d, tv=0.1, rng=0)
    >>> r.status, r.method, r.reference
    ('pass', 'chi2', "SequentialSampler(order='random') on the same oracle")
    """
    if not (callable(getattr(sampler, "sample", None)) or callable(sampler)):
        raise ParameterError(
            "`sampler` must be a Sampler (with .sample(num, rng=...)) or a callable "
            f"(num, rng) -> (num, n) int array; got {type(sampler).__name__}.")
    check_discrete_oracle("oracle", oracle)
    n, q = int(oracle.n), int(oracle.q)
    ref, ref_name = reference_sampler(reference, sampler, oracle)
    if num_samples is not None:
        num_samples = check_int("num_samples", num_samples, low=1)
    tv, alpha, power = check_levels(tv, alpha, power)
    rng = check_rng(rng)
    timeout = check_timeout(timeout)
    bsize = resolve_batch_size(sampler, batch_size)
    executor = check_executor(executor)
    if shipped is None:
        shipped = ship_sampler(sampler, executor)  # refuses an unpicklable sampler now
    ref_shipped = ship_sampler(ref, executor)
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=1)
    max_resamples = check_int("max_resamples", max_resamples, low=1)
    full = _full_table(n, q)
    resamples = check_resolution(alpha, max_resamples, "permutation test") if full else 0
    if num_samples is None:
        num_samples = plan_closeness_size(n, q, tv=tv, alpha=alpha, power=power)
        check_plan(2 * num_samples, max_samples, f"two samples of {num_samples:,}", tv,
                   alpha, power)
    else:
        check_size(2 * num_samples, max_samples, "both samples together")
    check_memory(2 * num_samples, n, "closeness_test")
    seed = seed_of(rng)
    ss1, ss2, ss_test, ss_power = np.random.SeedSequence(seed).spawn(4)
    deadline = Deadline(timeout, "closeness_test")
    x1, x2 = (draw_sharded(shp, plan_shards(num_samples, n, q, ss, b, "rows"),
                           executor=executor, deadline=deadline)
              for shp, ss, b in ((shipped, ss1, bsize),
                                 (ref_shipped, ss2, resolve_batch_size(ref, None))))
    if full:
        h = two_sample_table(x1, x2, q, alpha=alpha, power=power, resamples=resamples,
                             p_ref=None, ss_test=ss_test, ss_power=ss_power, deadline=deadline)
        method, stat, pvalue, dof, tv_est = h.method, h.statistic, h.pvalue, h.dof, h.tv_estimate
        det = h.detectable_tv
        details = dict(h.details)
        if method == "chi2":  # stated for every joint law on q**n cells, not the observed ones
            det = float(min(1.0, math.sqrt(lambda_needed(q**n - 1, alpha, power)
                                           / (2.0 * num_samples))))
            details["cells_planned"] = float(q**n)
        against = (f"every deviation of the joint law at TV >= detectable_tv between the "
                   f"sampler and {ref_name} (full table of {q**n:,} cells)")
        if method == "permutation":  # simulated, around an estimate of the law
            against = (f"two-block deviations (mass moved proportionally between the least "
                       f"likely cells and the rest) of the pooled observed law of the sampler "
                       f"and {ref_name}, an estimate of the reference law; simulated power of "
                       f"the permutation test as run ({q**n:,} cells)")
    else:
        method, dof = "chain-two-sample", math.nan
        stat, pvalue, det, tv_est, details = _chain_two_sample(x1, x2, oracle, q, alpha,
                                                               power)
        against = (f"a deviation of TV >= detectable_tv in any one-site marginal between the "
                   f"sampler and {ref_name}; the chain-rule log-probability KS sub-test has "
                   "no stated power")
    deadline.check("after the closeness test")
    status = status_of(pvalue <= alpha, det)
    return ClosenessResult(
        passed=status == "pass", status=status, statistic=float(stat), pvalue=float(pvalue),
        alpha=alpha, num_samples=num_samples, detectable_tv=float(det), seed=seed,
        method=method, reference=ref_name, power=power, dof=float(dof),
        tv_estimate=float(tv_est), power_against=against, details=details)
