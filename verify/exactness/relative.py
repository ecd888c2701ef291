"""Exactness relative to an oracle without a joint law (what :func:`check_exact` runs).

An oracle that is neither :class:`~distributions.base.Enumerable` nor declares a joint
law (no ``log_pmf``: a trained masked model) has no target table, and its
conditionals need not come from any one law. What a parallel sampler must then
output is the sequential chain-rule law built from the same oracle, along the orders
the sampler uses. :func:`check_relative` tests exactly that:

* ``q**n <= CLOSENESS_TABLE``: :func:`~verify.exactness.closeness_test` against the
  sequential sampler on the same oracle with the sampler's ``order`` (full table;
  stated power on the joint law);
* otherwise :func:`~verify.exactness.order_conditional_test` on the samples and the
  orders the sampler reports (exactly calibrated for any oracle); a sampler that
  reports no orders gets the closeness test on chain-rule statistics instead.

The result's ``reference`` field names the law used.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor

import numpy as np

from distributions.base import DiscreteOracle
from verify.exactness.closeness import _full_table, closeness_test
from verify.exactness.order_conditional import (
    order_conditional_test,
    plan_order_conditional_size,
)
from verify.exactness.results import ClosenessResult, ExactnessResult
from verify.execution import ShippedSampler, draw_ordered, plan_shards, ship_sampler
from verify.planning import check_plan
from verify.sampling import (
    Deadline,
    SamplerLike,
    SeedLike,
    check_memory,
    seed_of,
)

__all__ = ["ORDER_REFERENCE", "check_relative", "has_joint_law"]

#: ``reference`` of a result of the order-conditional test.
ORDER_REFERENCE: str = ("the oracle's sequential chain-rule law along each sample's own "
                        "reported order (exact for any oracle)")


def has_joint_law(target: object) -> bool:
    """Whether ``target`` declares a joint law (a callable ``log_pmf``)."""
    return callable(getattr(target, "log_pmf", None))


def check_relative(sampler: SamplerLike, oracle: DiscreteOracle, *, kind: str = "auto",
                   num_samples: int | None,
                   tv: float, alpha: float, power: float, rng: SeedLike, batch_size: int,
                   timeout: float | None, max_samples: int | None,
                   max_resamples: int, executor: Executor | None = None,
                   shipped: ShippedSampler | None = None) -> ExactnessResult:
    """:func:`check_exact` for an oracle without a joint law (arguments already checked).

    ``kind``: ``"auto"`` (module docstring), ``"closeness"`` or ``"order-conditional"``
    (the order-conditional test whatever ``q**n``; a sampler reporting no orders then
    gets the closeness test). The samples are drawn, and the PITs computed, on
    ``executor`` in shards (:mod:`verify.execution`; ``None``: in process, the same
    draws); ``shipped`` is the sampler already prepared for it.
    """
    if shipped is None:
        shipped = ship_sampler(sampler, executor)
    n, q = int(oracle.n), int(oracle.q)
    if kind == "closeness" or (kind == "auto" and _full_table(n, q)):
        c = closeness_test(sampler, oracle, num_samples=num_samples, tv=tv, alpha=alpha,
                           power=power, rng=rng, batch_size=batch_size, timeout=timeout,
                           max_samples=max_samples, max_resamples=max_resamples,
                           executor=executor, shipped=shipped)
        return _from_closeness(c, batch_size, n)
    if num_samples is None:
        num_samples = plan_order_conditional_size(n, tv=tv, alpha=alpha, power=power)
        check_plan(num_samples, max_samples, f"order-conditional test on n={n}", tv, alpha,
                   power)
    check_memory(2 * num_samples, n, "the order-conditional test")
    seed = seed_of(rng)
    ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
    deadline = Deadline(timeout, "check_exact")
    x, orders = draw_ordered(shipped, plan_shards(num_samples, n, q, ss_samples, batch_size,
                                                  "ordered"),
                             executor=executor, deadline=deadline)
    if orders is None:  # no orders reported: compare with the sequential sampler instead
        c = closeness_test(sampler, oracle, num_samples=num_samples, tv=tv, alpha=alpha,
                           power=power, rng=seed, batch_size=batch_size, timeout=timeout,
                           max_samples=max_samples, max_resamples=max_resamples,
                           executor=executor, shipped=shipped)
        return _from_closeness(c, batch_size, n)
    oc = order_conditional_test(x, orders, oracle, alpha=alpha, power=power, rng=ss_test,
                                executor=executor)
    deadline.check("after the order-conditional test")
    return ExactnessResult(
        passed=oc.passed, status=oc.status, statistic=oc.statistic, pvalue=oc.pvalue,
        method=oc.method, num_samples=num_samples, alpha=alpha,
        detectable_tv=oc.detectable_tv, tv_estimate=oc.tv_estimate, tv_upper=math.nan,
        worst_cells=oc.worst_cells, seed=seed, power=power,
        details=dict(oc.pvalues), batch_size=batch_size, power_against=oc.power_against,
        interaction_orders=(1,), reference=ORDER_REFERENCE)


def _from_closeness(c: ClosenessResult, batch_size: int, n: int) -> ExactnessResult:
    full = c.method != "chain-two-sample"
    return ExactnessResult(
        passed=c.passed, status=c.status, statistic=c.statistic,
        pvalue=c.pvalue, method=f"closeness-{c.method}",
        num_samples=c.num_samples, alpha=c.alpha,
        detectable_tv=c.detectable_tv, tv_estimate=c.tv_estimate,
        tv_upper=math.nan, worst_cells=(), seed=c.seed,
        dof=c.dof, power=c.power, details=dict(c.details),
        batch_size=batch_size, power_against=c.power_against,
        interaction_orders=tuple(range(1, n + 1)) if full else (1,),
        reference=f"the law of {c.reference}")
