"""``check_exact(..., sequential=True)``: draw in batches, stop as soon as the evidence
suffices.

The level ``alpha`` is split in two halves (union bound):

* an **e-process** monitored after every sample (full table: the mixture
  likelihood-ratio martingale of :mod:`verify.sequential.eprocess`; chain tests: the
  product of the calibrated e-values :func:`verify.sequential.evalues.p_to_e` of
  independent batches, each batch's p-value from the **martingale** chain family,
  which is exactly Uniform(0, 1) under the null, so that each e-value has expectation
  exactly 1 (the default marginal family's analytic p-value is not uniform at every
  level, which a calibrator needs); the order-conditional test of an oracle
  without a joint law: the average of PIT e-processes of
  :mod:`verify.sequential.pit`) rejects as soon as it reaches ``2 /
  alpha``; by Ville's inequality a correct sampler makes it do so with probability
  at most ``alpha / 2``, at any stopping time;
* if the planned maximum size is reached without that, the **fixed-size test** of
  :func:`check_exact` at level ``alpha / 2`` runs on all the samples; the maximum is
  the fixed-size plan at ``alpha / 2`` (so ``detectable_tv`` is that test's, stated as
  for the fixed-size mode).

A correct sampler is therefore rejected with probability at most ``alpha`` however
the procedure stops, and a wrong one is usually rejected long before the maximum
(figures in :mod:`verify.sequential`). The reported p-value ``min(1, 2 min(1 /
sup E, p_final))`` is valid in the same sense.
"""

from __future__ import annotations

import math

import numpy as np

from distributions.base import DiscreteOracle
from distributions.errors import ParameterError
from samplers.oracle import CountingOracle
from verify.exactness.full_table import _plan_sparse, _resolve_method, _table_test
from verify.exactness.montecarlo import TWO_BLOCK_AGAINST, _sparse_detectable_tv
from verify.exactness.order_conditional import (
    DEFAULT_BINS,
    PitStats,
    _from_pits,
    _pits,
    order_conditional_detectable_tv,
)
from verify.exactness.results import SequentialResult
from verify.planning import (
    MIN_ALPHA,
    check_plan,
    check_resolution,
    detectable_tv,
    plan_support_size,
)
from verify.results import status_of
from verify.sampling import Deadline, SamplerLike, check_memory, iter_draws
from verify.sequential.certificate import cs_alpha, plan_certificate_size, tv_upper_bound
from verify.sequential.eprocess import TableEProcess
from verify.sequential.evalues import checkpoint_schedule, p_to_e
from verify.sequential.pit import PITEProcess

#: Batches of the sequential chain test, as fractions of the maximum size.
CHAIN_BATCHES: tuple[float, ...] = (1 / 16, 1 / 16, 1 / 8, 1 / 4, 1 / 2)


def plan_sequential_table(pmf: np.ndarray, n: int, q: int, num_samples: int | None,
                          tv: float, alpha: float, power: float, method: str,
                          certify: float | None, max_samples: int | None,
                          max_resamples: int, deadline: Deadline) -> tuple[int, str]:
    """Maximum size and final method of the sequential full-table test."""
    half = max(alpha / 2.0, MIN_ALPHA)
    support = pmf > 0
    p = pmf[support] / pmf[support].sum()
    k = int(support.sum())
    if num_samples is None:
        num = plan_support_size(k, tv, half, power)
        check_plan(num, max_samples, f"support of {k:,} cells", tv, half, power)
        resolved = _resolve_method(method, num * float(p.min())) if k > 1 else method
        if resolved == "montecarlo":
            check_resolution(half, max_resamples, "Monte Carlo test")
        if k > 1:
            num, resolved = _plan_sparse(p, num, method, tv, half, power, max_samples,
                                         max_resamples, deadline)
    else:
        num = num_samples
    if certify is not None:
        cert = plan_certificate_size(pmf, certify, alpha, power, num_cells=q**n)
        for _ in range(3):  # the last checkpoint's level depends on the size
            j = len(checkpoint_schedule(cert))
            cert = plan_certificate_size(pmf, certify, cs_alpha(alpha, j), power,
                                         num_cells=q**n)
        if num_samples is None and cert > num:
            check_plan(cert, max_samples, f"TV certificate at eps={certify:g}", tv,
                       alpha, power)
            num = cert
    resolved = _resolve_method(method, num * float(p.min())) if k > 1 else method
    if resolved == "montecarlo":
        check_resolution(half, max_resamples, "Monte Carlo test")
    return num, resolved


def sequential_table(sampler: SamplerLike, pmf: np.ndarray, n: int, q: int, *,
                     max_size: int, method: str, tv: float, alpha: float, power: float,
                     certify: float | None, seed: int, bsize: int, deadline: Deadline,
                     max_resamples: int, planned: bool = False) -> SequentialResult:
    """The sequential full-table test (module docstring), after planning (``planned``:
    ``max_size`` was planned for ``tv``, so a run to it states ``tv`` when every
    alternative reaches the power there, as the planner judged it)."""
    half = max(alpha / 2.0, MIN_ALPHA)
    ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
    ep = TableEProcess(pmf)
    threshold = math.log(2.0 / alpha)
    cells_total = q**n
    e_max, stop, used, drawn = 1.0, "max-size", 0, 0
    bound = 1.0
    for j, end in enumerate(checkpoint_schedule(max_size), start=1):
        for arr in iter_draws(sampler, end - drawn, n, q, ss_samples.spawn(1)[0], bsize,
                              deadline):
            log_e = ep.update(np.ravel_multi_index(arr.T, (q,) * n))
            top = float(log_e.max())
            e_max = max(e_max, math.inf if math.isinf(top) else math.exp(min(700.0, top)))
            hit = np.flatnonzero(log_e >= threshold)
            if hit.size:
                used = drawn + int(hit[0]) + 1
                stop = "impossible" if math.isinf(float(log_e[hit[0]])) else "evidence"
            drawn += arr.shape[0]
            if hit.size:
                break
        if stop != "max-size":
            break
        ep.checkpoint()
        tv_hat = 0.5 * float(np.abs(ep.counts / drawn - pmf).sum())
        bound = min(bound, tv_upper_bound(tv_hat, cells_total, drawn, cs_alpha(alpha, j)))
    counts = ep.counts
    support = pmf > 0
    k = int(support.sum())
    p_support = pmf[support] / pmf[support].sum()
    impossible = int(counts[~support].sum())
    details: dict[str, float] = {"support_size": float(k), "checkpoints": float(j)}
    against = (f"every deviation of the joint law at TV >= detectable_tv (final fixed-size "
               f"test at alpha/2 on {k:,} support cells)")
    if stop == "max-size":
        used = drawn
        res = _table_test(counts, pmf, q, n, method=method, alpha=half,
                          gen=np.random.default_rng(ss_test), max_resamples=max_resamples,
                          deadline=deadline)
        final_p, final_method = float(res.pvalue), res.method
        det = detectable_tv(k, drawn, alpha=half, power=power)
        if res.method == "montecarlo" or drawn * float(p_support.min()) < 5.0:
            det, pw = _sparse_detectable_tv(
                p_support, drawn, half, power, res.method, res.resamples, deadline,
                at=tv if planned and drawn == max_size else None)
            details["simulated_power"] = pw
            against = f"{TWO_BLOCK_AGAINST}; final fixed-size test at alpha/2"
        rejected = bool(res.impossible_hits > 0 or res.pvalue <= half)
        worst, tv_plugin, tv_null = res.worst, res.tv_plugin, res.tv_null
    else:
        res = _table_test(counts, pmf, q, n, method="pearson", alpha=half,
                          gen=np.random.default_rng(ss_test), max_resamples=max_resamples)
        final_p, final_method = math.nan, "eprocess"
        det = detectable_tv(k, max_size, alpha=half, power=power) if k > 1 else 1.0
        rejected = True
        worst, tv_plugin, tv_null = res.worst, res.tv_plugin, res.tv_null
    pvalue = min(1.0, 2.0 * min(1.0 / e_max, final_p if not math.isnan(final_p) else 1.0))
    status = status_of(rejected, det)
    certified = certify is not None and bound <= certify
    return SequentialResult(
        passed=status == "pass", status=status, statistic=e_max, pvalue=pvalue,
        method=f"sequential-{final_method}", num_samples=drawn, alpha=alpha,
        detectable_tv=det, tv_estimate=max(0.0, tv_plugin - tv_null), tv_upper=bound,
        worst_cells=worst, seed=seed, dof=float(k - 1), power=power,
        impossible_hits=impossible, details=details, batch_size=bsize,
        power_against=against,
        interaction_orders=tuple(range(1, n + 1)),
        certify=math.nan if certify is None else certify, certified=certified,
        e_value=e_max, threshold=2.0 / alpha, stop_reason=stop, samples_used=used,
        max_size=max_size, final_pvalue=final_p,
    )


def sequential_chain(sampler: SamplerLike, target: DiscreteOracle, *, max_size: int,
                     alpha: float, power: float, seed: int, bsize: int,
                     deadline: Deadline) -> SequentialResult:
    """The sequential chain-rule test: calibrated e-values of independent batches
    (:data:`CHAIN_BATCHES`; each from the exactly uniform p-value of the martingale
    family), then the default chain family at ``alpha / 2`` on all samples (its stated
    power is the one reported)."""
    from verify.chain_tests import chain_test

    n, q = int(target.n), int(target.q)
    check_memory(max_size, n, "the chain test")
    half = max(alpha / 2.0, MIN_ALPHA)
    ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
    ends = sorted({max(1, round(max_size * c)) for c in np.cumsum(CHAIN_BATCHES)}
                  | {max_size})
    log_e, e_max, stop, drawn = 0.0, 1.0, "max-size", 0
    chunks: list[np.ndarray] = []
    batch_p: dict[str, float] = {}
    for b, end in enumerate(ends):
        x = np.concatenate(list(iter_draws(sampler, end - drawn, n, q,
                                           ss_samples.spawn(1)[0], bsize, deadline)), axis=0)
        drawn = end
        chunks.append(x)
        ct = chain_test(x, target, alpha=half, power=power, family="martingale",
                        rng=ss_test.spawn(1)[0])
        pb = 0.0 if ct.impossible else float(ct.pvalue)
        batch_p[f"batch[{b}]"] = pb
        log_e += math.log(p_to_e(pb)) if pb > 0 else math.inf
        e_max = max(e_max, math.inf if math.isinf(log_e) else math.exp(min(700.0, log_e)))
        if log_e >= math.log(2.0 / alpha):
            stop = "impossible" if pb == 0.0 and ct.impossible else "evidence"
            break
        deadline.check("after a batch of the sequential chain test")
    samples = np.concatenate(chunks, axis=0)
    if stop == "max-size":
        final = chain_test(samples, target, alpha=half, power=power, rng=ss_test.spawn(1)[0])
        final_p = 0.0 if final.impossible else float(final.pvalue)
        rejected = final_p <= half
        det = final.detectable_tv
    else:
        final, final_p, rejected = ct, math.nan, True
        from verify.chain_tests import chain_detectable_tv

        det = chain_detectable_tv(n, q, max_size, alpha=half, power=power)
    pvalue = min(1.0, 2.0 * min(1.0 / e_max, final_p if not math.isnan(final_p) else 1.0))
    status = status_of(rejected, det)
    details: dict[str, float] = dict(batch_p)
    return SequentialResult(
        passed=status == "pass", status=status, statistic=e_max, pvalue=pvalue,
        method="sequential-chain", num_samples=drawn, alpha=alpha, detectable_tv=det,
        tv_estimate=final.tv_estimate, tv_upper=math.nan, worst_cells=final.worst_cells,
        seed=seed, power=power, details=details, batch_size=bsize,
        power_against=str(final.power_against),
        interaction_orders=tuple(int(o) for o in final.interaction_orders),
        e_value=e_max, threshold=2.0 / alpha, stop_reason=stop, samples_used=drawn,
        max_size=max_size, final_pvalue=final_p,
    )



def sequential_order_conditional(sampler: SamplerLike, oracle: DiscreteOracle, *,
                                 max_size: int, alpha: float, power: float, seed: int,
                                 bsize: int, deadline: Deadline,
                                 bins: int = DEFAULT_BINS) -> SequentialResult:
    """The sequential order-conditional test (exactness relative to the oracle's own
    chain rule along each sample's reported order, for any oracle).

    Samples are drawn in the batches of :func:`checkpoint_schedule`; the PITs of every
    batch (one oracle call per chunk) feed the average test martingale of
    :class:`~verify.sequential.pit.PITEProcess`, looked at after every sample, which
    rejects at ``2 / alpha``; at ``max_size`` the fixed-size
    :func:`~verify.exactness.order_conditional_test` at ``alpha / 2`` decides on the
    same PITs (no second oracle pass). A sampler that reports no orders is refused at
    its first answer (the PITs need them).
    """
    n, q = int(oracle.n), int(oracle.q)
    check_memory(2 * max_size, n, "the order-conditional test")
    half = max(alpha / 2.0, MIN_ALPHA)
    ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
    gen = np.random.default_rng(ss_test)
    co = CountingOracle(oracle, validate=False)
    ep = PITEProcess(n, bins)
    threshold = math.log(2.0 / alpha)
    e_max, stop, used, drawn = 1.0, "max-size", 0, 0
    stats: list[PitStats] = []
    for end in checkpoint_schedule(max_size):
        got: list[np.ndarray | None] = []
        chunks = list(iter_draws(sampler, end - drawn, n, q, ss_samples.spawn(1)[0], bsize,
                                 deadline, orders=got))
        if any(o is None for o in got):
            raise ParameterError(
                "`sampler` must report the order each sample was revealed along "
                "(SampleResult.orders, or a callable answering (samples, orders)) for the "
                "sequential order-conditional test; its answer had no orders (the "
                "fixed-size mode falls back to the closeness test; got sequential=True).")
        x = np.concatenate(chunks, axis=0)
        o = np.concatenate([g for g in got if g is not None], axis=0)
        st = _pits(x, o, co, gen)
        stats.append(st)
        cells = np.minimum((st.pits * bins).astype(np.int64), bins - 1)
        log_e = ep.update(cells, st.sharp, st.bad)
        top = float(log_e.max())
        e_max = max(e_max, math.inf if math.isinf(top) else math.exp(min(700.0, top)))
        hit = np.flatnonzero(log_e >= threshold)
        drawn = end
        if hit.size:
            used = drawn - x.shape[0] + int(hit[0]) + 1
            stop = "impossible" if math.isinf(float(log_e[hit[0]])) else "evidence"
            break
        ep.checkpoint()
        deadline.check("after a batch of the sequential order-conditional test")
    impossible = next((s.impossible for s in stats if s.impossible), "")
    final = _from_pits(*(np.concatenate([s[k] for s in stats], axis=0) for k in range(3)),
                       impossible, alpha=half, power=power,
                       bins=int(max(2, min(bins, drawn // 5))), seed=seed,
                       rows=int(co.rows), calls=int(co.calls))
    if stop == "max-size":
        used = drawn
        final_p = float(final.pvalue)
        rejected = final.status == "fail"
        det = final.detectable_tv
    else:
        final_p, rejected = math.nan, True
        det = order_conditional_detectable_tv(n, max_size, alpha=half, power=power, bins=bins)
    pvalue = min(1.0, 2.0 * min(1.0 / e_max, final_p if not math.isnan(final_p) else 1.0))
    status = status_of(rejected, det)
    details: dict[str, float] = {f"e[{k}]": math.exp(min(700.0, v))
                                 for k, v in ep.components().items()}
    details.update({"checkpoints": float(len(stats)), "oracle_rows": float(co.rows),
                    "oracle_calls": float(co.calls)})
    if stop == "max-size":
        details.update(final.pvalues)
    return SequentialResult(
        passed=status == "pass", status=status, statistic=e_max, pvalue=pvalue,
        method="sequential-order-conditional", num_samples=drawn, alpha=alpha,
        detectable_tv=det, tv_estimate=final.tv_estimate, tv_upper=math.nan,
        worst_cells=final.worst_cells, seed=seed, power=power, details=details,
        batch_size=bsize,
        power_against=(final.power_against if stop == "max-size" else
                       f"stopped by the e-process after {drawn:,} samples; at the maximum "
                       f"size {max_size:,} the final fixed-size test at level {half:g} "
                       f"detects a binned-PIT deviation of TV >= {det:.3g} at a single "
                       f"reveal step with probability >= {power:g}"),
        interaction_orders=(1,), impossible_hits=int(sum(int(s.bad.sum()) for s in stats)),
        e_value=e_max, threshold=2.0 / alpha, stop_reason=stop, samples_used=used,
        max_size=max_size, final_pvalue=final_p,
    )
