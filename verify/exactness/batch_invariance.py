""":func:`check_batch_invariance`: the laws drawn at two batch sizes compared by a
two-sample test (chi-square of homogeneity, or a permutation test in the sparse regime)."""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Any

import numpy as np

from distributions.base import DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_int, short_repr
from verify.exactness.full_table import _target_pmf
from verify.exactness.homogeneity import two_sample_table
from verify.exactness.results import BatchInvarianceResult
from verify.execution import check_executor, draw_sharded, plan_shards, ship_sampler
from verify.planning import (
    MAX_RESAMPLES,
    MAX_SAMPLES,
    MAX_TABLE,
    check_levels,
    check_plan,
    check_resolution,
    is_enumerable,
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


def _shape_of(sampler: Any, target: Any) -> tuple[int, int]:
    src = target if target is not None else sampler
    try:
        n, q = src.n, src.q
    except AttributeError:
        raise ParameterError(
            "`target` must be given (an object with `n` and `q`) when the sampler has no "
            f"`n` and `q` attributes; got target={short_repr(target)} and a sampler of type "
            f"{type(sampler).__name__}."
        ) from None
    return check_int("n", n, low=1), check_int("q", q, low=2)


def check_batch_invariance(
    sampler: SamplerLike,
    *,
    batch_sizes: tuple[int, int] | None = None,
    target: DiscreteOracle | None = None,
    num_samples: int | None = None,
    tv: float = 0.05,
    alpha: float = 1e-3,
    power: float = 0.99,
    rng: SeedLike = None,
    timeout: float | None = None,
    max_samples: int | None = MAX_SAMPLES,
    max_resamples: int = MAX_RESAMPLES,
    executor: Executor | None = None,
) -> BatchInvarianceResult:
    """Test that the sampler's law does not depend on the batch size of its calls.

    ``num_samples`` rows are drawn at each of two batch sizes, every call asking for
    exactly that many rows (the surplus of the last call is discarded, so the law is
    the one of production-size calls), and the two empirical laws of the joint
    configurations are compared by a two-sample test of homogeneity: Pearson's
    ``X = sum (c1 - c2)**2 / (c1 + c2)`` over the observed configurations, with the
    chi-square reference (``method="chi2"``) when every pooled count is >= 10, else
    the exact conditional (permutation) null by Monte Carlo (``"permutation"``).

    Parameters
    ----------
    sampler : Sampler or callable
        As for :func:`check_exact`.
    batch_sizes : pair of distinct ints >= 1, optional
        Default ``(1, B)`` with ``B`` the sampler's ``batch_size`` attribute if it has
        one, else ``2**17`` (the production size of :func:`check_exact`).
    target : Enumerable or DiscreteOracle, optional
        Gives ``n`` and ``q`` (else the sampler's own ``n``, ``q``) and, with a
        table, the support size used for planning and the reference law of the
        simulated power. Without a table the planning assumes
        ``min(q**n, 2**20)`` cells.
    num_samples : int >= 1, optional
        Samples per batch size; default: smallest ``N`` with worst-case power
        ``power`` at TV ``tv`` between the two laws (noncentral chi-square with
        ``lambda = 2 N tv**2``, Cauchy-Schwarz as in the module docstring).
    tv : float in (0, 1), default 0.05
        At batch size 1 the check makes one sampler call per sample, so its cost
        is ``num_samples`` times the sampler's per-call overhead: a larger ``tv``
        (hence a smaller planned size) keeps it affordable.
    alpha : float in [1 / (max_resamples + 1), 1), default 1e-3
    power : float in (alpha, 1), default 0.99
    rng : None, int >= 0, SeedSequence, Generator or BitGenerator, optional
    timeout : float > 0, optional
        Wall-time budget in seconds (:class:`BudgetExceededError`), checked between
        sampler calls and Monte Carlo chunks.
    max_samples : int or None, default :data:`MAX_SAMPLES`
        Cap on the samples drawn in total (both batch sizes); the samples are kept
        in memory, ``2 N x n`` at most :data:`MAX_SAMPLE_ENTRIES`.
    max_resamples : int >= 1, default :data:`MAX_RESAMPLES`
    executor : concurrent.futures.Executor, optional
        Where the two samples are drawn, in shards (:mod:`verify.execution`);
        ``None``: in process. The result is the same for every executor.

    Returns
    -------
    BatchInvarianceResult
        ``detectable_tv`` is the TV between the two laws detected with probability
        ``power`` by the test actually run: the noncentral chi-square figure with
        the observed number of cells for ``"chi2"``; for ``"permutation"``, the
        simulated power of the test (critical value from the unconditional null)
        against the two-block alternatives of :func:`two_block_alternatives` around
        the reference law (the target's, else the pooled empirical law).

    Examples
    --------
    >>> from distributions.families import random_table
    >>> d = random_table(3, 2, rng=0)
    >>> r = check_batch_invariance(lambda k, g: d.sample(k, rng=g), target=d,
    ...                            batch_sizes=(1, 512), tv=0.1, rng=0)
    >>> r.status, r.batch_sizes
    ('pass', (1, 512))
    """
    if not (callable(getattr(sampler, "sample", None)) or callable(sampler)):
        raise ParameterError(
            "`sampler` must be a Sampler (with .sample(num, rng=...)) or a callable "
            f"(num, rng) -> (num, n) int array; got {type(sampler).__name__}."
        )
    n, q = _shape_of(sampler, target)
    if batch_sizes is None:
        batch_sizes = (1, resolve_batch_size(sampler, None))
    if (not isinstance(batch_sizes, tuple | list) or len(batch_sizes) != 2):
        raise ParameterError(
            "`batch_sizes` must be a pair of distinct integers >= 1; "
            f"got {short_repr(batch_sizes)}."
        )
    b1 = check_int("batch_sizes[0]", batch_sizes[0], low=1)
    b2 = check_int("batch_sizes[1]", batch_sizes[1], low=1)
    if b1 == b2:
        raise ParameterError(
            f"`batch_sizes` must be a pair of distinct integers >= 1; got ({b1}, {b2})."
        )
    if num_samples is not None:
        num_samples = check_int("num_samples", num_samples, low=1)
    tv, alpha, power = check_levels(tv, alpha, power)
    rng = check_rng(rng)
    timeout = check_timeout(timeout)
    executor = check_executor(executor)
    shipped = ship_sampler(sampler, executor)  # refuses an unpicklable sampler now
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=1)
    max_resamples = check_int("max_resamples", max_resamples, low=1)
    resamples = check_resolution(alpha, max_resamples, "permutation test")
    p_ref: np.ndarray | None = None
    if target is not None and is_enumerable(target):
        pmf = _target_pmf(target, n, q)
        p_ref = pmf[pmf > 0] / pmf[pmf > 0].sum()
        k_plan = int(p_ref.size)
    else:
        k_plan = min(q**n, MAX_TABLE) if n * math.log2(q) <= 20 else MAX_TABLE
    if num_samples is None:
        if k_plan <= 1:
            num_samples = max(1, math.ceil(math.log1p(-power) / math.log1p(-tv)))
        else:
            num_samples = max(1, math.ceil(lambda_needed(k_plan - 1, alpha, power)
                                           / (2.0 * tv * tv)))
        check_plan(2 * num_samples, max_samples, f"two samples of {num_samples:,} on "
                    f"{k_plan:,} cells", tv, alpha, power)
    else:
        check_size(2 * num_samples, max_samples, "both batch sizes together")
    check_memory(2 * num_samples, n, "check_batch_invariance")
    seed = seed_of(rng)
    ss1, ss2, ss_test, ss_power = np.random.SeedSequence(seed).spawn(4)
    deadline = Deadline(timeout, "check_batch_invariance")
    x1, x2 = (draw_sharded(shipped, plan_shards(num_samples, n, q, ss, b, "rows", full=True),
                           executor=executor, deadline=deadline)
              for ss, b in ((ss1, b1), (ss2, b2)))
    h = two_sample_table(x1, x2, q, alpha=alpha, power=power, resamples=resamples,
                         p_ref=p_ref, ss_test=ss_test, ss_power=ss_power, deadline=deadline)
    method, stat, pvalue, dof, det, tv_est, details = (
        h.method, h.statistic, h.pvalue, h.dof, h.detectable_tv, h.tv_estimate, h.details)
    details = {"cells_observed": details["cells_observed"], "cells_planned": float(k_plan),
               **details}
    status = status_of(pvalue <= alpha, det)
    return BatchInvarianceResult(
        passed=status == "pass",
        status=status,
        statistic=stat,
        pvalue=float(pvalue),
        alpha=alpha,
        num_samples=num_samples,
        detectable_tv=float(det),
        seed=seed,
        method=method,
        batch_sizes=(b1, b2),
        power=power,
        dof=dof,
        tv_estimate=tv_est,
        details=details,
    )
