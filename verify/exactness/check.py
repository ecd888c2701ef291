""":func:`check_exact`: a sampler against its target, full-table or chain-rule tests."""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from distributions.base import DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_choice, check_float, check_int
from verify.checkpoint import check_checkpoint_path
from verify.exactness.full_table import (
    MIN_EXPECTED,
    _plan_sparse,
    _resolve_method,
    _table_test,
    _target_pmf,
)
from verify.exactness.identity import checkpoint_of
from verify.exactness.montecarlo import TWO_BLOCK_AGAINST, _sparse_detectable_tv
from verify.exactness.order_conditional import plan_order_conditional_size
from verify.exactness.relative import ORDER_REFERENCE, check_relative, has_joint_law
from verify.exactness.results import ExactnessResult
from verify.exactness.sequential import (
    plan_sequential_table,
    sequential_chain,
    sequential_order_conditional,
    sequential_table,
)
from verify.execution import (
    OnWorker,
    ShardProgress,
    check_executor,
    draw_sharded,
    plan_shards,
    ship_sampler,
)
from verify.planning import (
    MAX_RESAMPLES,
    MAX_SAMPLES,
    MIN_ALPHA,
    check_levels,
    check_plan,
    check_resolution,
    detectable_tv,
    is_enumerable,
    plan_support_size,
)
from verify.precision import warn_below_floor
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
from verify.sequential.certificate import plan_certificate_size, tv_upper_bound

#: Largest table that ``method="auto"`` tests in full; between this and
#: :data:`MAX_TABLE` cells ``"auto"`` falls back to the chain tests (a full-table
#: test there needs a sparse-regime Monte Carlo null over up to a million cells, whose
#: cost the caller should choose explicitly with ``method=``).
AUTO_TABLE: int = 2**16
_METHODS = ("auto", "gtest", "pearson", "montecarlo", "chain", "order-conditional", "closeness")
#: Methods that test a sampler relative to the oracle's own chain rule (any oracle).
_RELATIVE = ("order-conditional", "closeness")
_TABLE = "the target's table (pmf)"
_JOINT_LAW = "the oracle's joint law (chain rule along random reveal orders)"


def _iv(sampler: Any, target: Any, num_samples: Any, tv: Any, alpha: Any, power: Any,
        method: Any) -> tuple[int | None, float, float, float, str, bool]:
    if not (isinstance(sampler, OnWorker) or callable(getattr(sampler, "sample", None))
            or callable(sampler)):
        raise ParameterError(
            "`sampler` must be a Sampler (with .sample(num, rng=...)) or a callable "
            f"(num, rng) -> (num, n) int array; got {type(sampler).__name__}."
        )
    for attr in ("n", "q", "conditionals"):
        if not hasattr(target, attr):
            raise ParameterError(
                f"`target` must be an Enumerable or a DiscreteOracle (n, q, conditionals); "
                f"it has no `{attr}`: got {type(target).__name__}."
            )
    if num_samples is not None:
        num_samples = check_int("num_samples", num_samples, low=1)
    tv, alpha, power = check_levels(tv, alpha, power)
    method = check_choice("method", method, _METHODS)
    enumerable = is_enumerable(target)
    if enumerable and method == "auto" and int(target.q) ** int(target.n) > AUTO_TABLE:
        enumerable = False  # documented fall-back: chain tests above AUTO_TABLE cells
    if enumerable and method == "chain":
        enumerable = False
    if method in _RELATIVE:
        enumerable = False
    if not enumerable and method not in ("auto", "chain", *_RELATIVE):
        raise ParameterError(
            "`method` must be 'auto', 'chain', 'order-conditional' or 'closeness' for a "
            f"target without a pmf; got {method!r}."
        )
    return num_samples, tv, alpha, power, method, enumerable


def check_exact(
    sampler: SamplerLike,
    target: DiscreteOracle,
    *,
    num_samples: int | None = None,
    tv: float = 0.02,
    alpha: float = 1e-3,
    power: float = 0.99,
    method: str = "auto",
    rng: SeedLike = None,
    batch_size: int | None = None,
    timeout: float | None = None,
    max_samples: int | None = MAX_SAMPLES,
    max_resamples: int = MAX_RESAMPLES,
    sequential: bool = False,
    certify: float | None = None,
    executor: Executor | None = None,
    checkpoint: str | Path | None = None,
    progress: ShardProgress | None = None,
    chain_family: str = "marginal",
    null_draws: int = 0,
) -> ExactnessResult:
    """Test whether ``sampler`` draws exactly from ``target``, with stated power.

    Every argument is checked (and the sample size planned) before any sample is
    drawn; a bad one raises :class:`~verify.errors.ParameterError` naming it.

    Parameters
    ----------
    sampler : Sampler or callable
        ``sampler.sample(num, rng=...)`` or ``sampler(num, rng) -> (num, n)`` ints.
        An answer of the wrong shape, a non-integer dtype or a value outside
        ``0..q-1`` raises :class:`ParameterError` quoting the value seen.
    target : Enumerable or DiscreteOracle
        With ``pmf`` (and ``q**n <= 2**20``): full-table test. A non-enumerable oracle
        with a joint law (``log_pmf``): chain-rule tests (:mod:`verify.chain_tests`).
        An oracle without one (a trained model, whose conditionals need not be
        consistent), under ``method="auto"``: exactness relative to the oracle
        (:mod:`verify.exactness.relative`: the closeness test against the sequential
        sampler on the same oracle when ``q**n <= 2**16``, else the order-conditional
        test); the result's ``reference`` names the law used.
    num_samples : int >= 1, optional
        Default: :func:`plan_sample_size` for ``(tv, alpha, power)``; when that size
        is in the sparse regime (an expected count below 5), it is grown until the
        simulated detectable TV of the test run there is at most ``tv``.
    tv : float in (0, 1), default 0.02
        TV distance that must be detected with probability ``power``.
    alpha : float in [1e-12, 1), default 1e-3
        Level: a correct sampler fails with probability at most ``alpha``
        (asymptotically for the G-test and chain tests, exactly up to Monte Carlo
        resolution for ``"montecarlo"``). The Monte Carlo test also needs
        ``alpha >= 1 / (max_resamples + 1)``.
    power : float in (alpha, 1), default 0.99
    method : {"auto", "gtest", "pearson", "montecarlo", "chain", "order-conditional", \
"closeness"}
        ``"auto"``: G-test when every expected count is >= 5, else Monte Carlo;
        ``"chain"`` for a target without a table; ``"order-conditional"`` and
        ``"closeness"`` test exactness relative to the oracle's own chain rule, for
        any oracle (:mod:`verify.exactness.relative`).
    rng : None, int >= 0, SeedSequence, Generator or BitGenerator, optional
        A seed is drawn from it (``SeedSequence``); the result's ``seed`` replays.
    batch_size : int >= 1, optional
        Rows per sampler call (the last call asks for the remainder). Default: the
        sampler's own ``batch_size`` attribute if it has one, else ``2**17``. The
        size used is stated in the result; a sampler whose law depends on the batch
        size is caught by :func:`check_batch_invariance`.
        The samples are drawn in shards of the calls covering up to ``2**17`` rows,
        each with its own spawned stream (:mod:`verify.execution`).
    timeout : float > 0, optional
        Wall-time budget of the whole check in seconds, checked between sampler
        calls and between Monte Carlo chunks: :class:`BudgetExceededError` beyond it.
    max_samples : int >= 1 or None, default :data:`MAX_SAMPLES` (``10**8``)
        Largest sample size drawn; a larger plan or ``num_samples`` is refused
        before any work with the size in the message. ``None``: no cap.
    max_resamples : int >= 1, default :data:`MAX_RESAMPLES` (``10**5``)
        Cap on the Monte Carlo resamples (``20 / alpha`` are used up to it; the
        p-value resolution ``1 / (resamples + 1)`` is in ``details``).
    sequential : bool, default False
        Anytime-valid mode (:mod:`verify.exactness.sequential`): draw in batches,
        monitor an e-process after every sample and stop as soon as it reaches
        ``2 / alpha`` (reject), else run the fixed-size test at ``alpha / 2`` at the
        planned maximum (the plan at ``alpha / 2``, or ``num_samples``). Returns a
        :class:`SequentialResult` (samples used, e-value, stopping reason). The level
        ``alpha`` holds at any stopping time. For an oracle without a joint law it
        is the sequential order-conditional test, whatever ``q**n`` (the sampler must
        report its orders; ``method="closeness"`` has no sequential mode).
    certify : float in (0, 1), optional
        Also certify ``TV(sampler, target) <= certify`` at confidence ``1 - alpha``
        (full-table targets): the planned size is the larger of the test's and the
        certificate's (:func:`verify.sequential.certificate.plan_certificate_size`,
        about ``sqrt(k)`` times the test's); the result's ``certified`` says whether
        ``tv_upper <= certify`` (``tv_upper`` is a confidence sequence when
        ``sequential``).
    executor : concurrent.futures.Executor, optional
        Where the shards run: ``None`` in process, else any Executor
        (``dask.distributed.Client(...).get_executor()``, a ``ProcessPoolExecutor``).
        The result is bit-identical for every executor and number of workers. The
        sampler is pickled once (a :class:`ParameterError` if it cannot be: pass
        :class:`verify.execution.OnWorker` with a factory). The target stays here,
        except in the relative tests (oracles without a joint law), whose PITs and
        reference sampler need the oracle on the workers. Not with ``sequential``.
    checkpoint : path, optional
        File of the merged shard statistics, rewritten atomically after each shard
        (:mod:`verify.checkpoint`). A run started again with the same arguments and
        seed resumes from it and returns the result of an uninterrupted run; a file
        of another check, or a corrupted one, is refused before any work. Needs a
        fixed ``rng`` (not ``None``).
    progress : callable, optional
        ``progress(shards_done, num_shards, samples_done)`` after each shard.
    chain_family : {"marginal", "martingale"}, default "marginal"
        ``null_draws`` : int >= 0, default 0. The chain tests' family and, for
        ``"marginal"``, its Monte Carlo null (:func:`verify.chain_tests.chain_test`);
        the sequential mode uses the default family. ``"martingale"`` is exactly
        calibrated but states power for product targets only.

    Returns
    -------
    ExactnessResult
        ``status`` is "pass", "fail" or "no-power" (not rejected, but the test at
        this size detects no TV below 1; not a pass). For an oracle answering below
        float64 the result carries its ``precision_floor``; a ``tv`` below it is
        stated in ``notes`` and warned (:class:`verify.precision.PrecisionWarning`).

    Examples
    --------
    >>> import numpy as np
    >>> from distributions.table import TableDistribution
    >>> from samplers.sequential import SequentialSampler
    >>> d = TableDistribution(np.arange(1.0, 9.0).reshape(2, 2, 2))
    >>> res = check_exact(SequentialSampler(d), d, tv=0.05, rng=1)
    >>> res.passed, res.status, res.method
    (True, 'pass', 'gtest')
    """
    num_samples, tv, alpha, power, method, enumerable = _iv(
        sampler, target, num_samples, tv, alpha, power, method
    )
    if not isinstance(sequential, bool | np.bool_):
        raise ParameterError(f"`sequential` must be True or False; got {sequential!r}.")
    if certify is not None:
        certify = check_float("certify", certify, low=0.0, high=1.0, low_open=True,
                              high_open=True)
        if not enumerable:
            raise ParameterError(
                "`certify` needs a target with a table (full-table test): a TV bound "
                f"over {target.q}**{target.n} cells is not available from chain tests; "
                f"got certify={certify!r} with method {method!r}.")
    rng = check_rng(rng)
    executor = check_executor(executor)
    ckpt_path = check_checkpoint_path(checkpoint)
    if ckpt_path is not None and rng is None:
        raise ParameterError("`rng` must be a fixed seed when `checkpoint` is given (a "
                             "resumed run draws the same streams); got None.")
    if progress is not None and not callable(progress):
        raise ParameterError(f"`progress` must be callable or None; got {progress!r}.")
    bsize = resolve_batch_size(sampler, batch_size)
    timeout = check_timeout(timeout)
    shipped = ship_sampler(sampler, executor)  # refuses an unpicklable sampler now
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=1)
    max_resamples = check_int("max_resamples", max_resamples, low=1)
    n, q = int(target.n), int(target.q)
    if num_samples is not None:
        check_size(num_samples, max_samples, "the cap of this check")
    floor, note = warn_below_floor(target, tv)  # oracles answering below float64 only

    def noted(res: ExactnessResult, reference: str = "") -> ExactnessResult:
        return replace(res, precision_floor=floor, notes=(note,) if note else (),
                       reference=res.reference or reference)

    relative = method in _RELATIVE or (not enumerable and method == "auto"
                                       and not has_joint_law(target))
    if sequential and (executor is not None or ckpt_path is not None):
        raise ParameterError(
            "`executor` and `checkpoint` apply to the fixed-size tests; the sequential "
            f"mode runs in process only; got executor={executor!r}, "
            f"checkpoint={checkpoint!r}.")
    if (chain_family, null_draws) != ("marginal", 0) and (
            enumerable or sequential or relative):
        raise ParameterError(
            "`chain_family` and `null_draws` apply to the fixed-size chain tests only; "
            f"got chain_family={chain_family!r}, null_draws={null_draws!r} with method "
            f"{method!r}{' and sequential=True' if sequential else ''}.")
    if relative and ckpt_path is not None:
        raise ParameterError(
            "`checkpoint` applies to the full-table and chain tests; the relative test "
            f"({method!r}) keeps its samples in memory and cannot resume; got "
            f"checkpoint={checkpoint!r}.")
    if relative:
        if sequential:
            return noted(_sequential_relative(sampler, target, method, num_samples, tv,
                                              alpha, power, rng, bsize, timeout,
                                              max_samples), ORDER_REFERENCE)
        return noted(check_relative(sampler, target, kind=method, num_samples=num_samples,
                                    tv=tv, alpha=alpha, power=power, rng=rng,
                                    batch_size=bsize, timeout=timeout,
                                    max_samples=max_samples, max_resamples=max_resamples,
                                    executor=executor, shipped=shipped))
    if not enumerable:
        from verify.chain_tests import chain_test, plan_chain_sample_size
        from verify.chain_tests.check import _iv as chain_iv
        from verify.chain_tests.layout import FAMILIES

        chain_iv(np.zeros((1, n), dtype=np.int64), target, alpha, power, null_draws,
                 check_choice("chain_family", chain_family, FAMILIES))  # before any work
        if num_samples is None:
            a_plan = max(alpha / 2.0, MIN_ALPHA) if sequential else alpha
            num_samples = plan_chain_sample_size(target, tv=tv, alpha=a_plan, power=power,
                                                 family=chain_family)
            check_plan(num_samples, max_samples, f"chain tests on n={n}", tv, a_plan, power)
        if sequential:
            return noted(sequential_chain(sampler, target, max_size=num_samples,
                                          alpha=alpha, power=power, seed=seed_of(rng),
                                          bsize=bsize,
                                          deadline=Deadline(timeout, "check_exact")),
                         _JOINT_LAW)
        check_memory(num_samples, n, "the chain test")
        seed = seed_of(rng)
        ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
        shards = plan_shards(num_samples, n, q, ss_samples, bsize, "rows")
        ckpt = checkpoint_of(ckpt_path, sampler, target, len(shards), seed=seed,
                           local=shipped.local,
                           num_samples=num_samples, method="chain", tv=tv, alpha=alpha,
                           power=power, batch_size=bsize, max_resamples=max_resamples)
        deadline = Deadline(timeout, "check_exact")
        samples = draw_sharded(shipped, shards, executor=executor, deadline=deadline,
                               checkpoint=ckpt, progress=progress)
        ct = chain_test(samples, target, alpha=alpha, power=power, rng=ss_test,
                        family=chain_family, null_draws=null_draws)
        deadline.check("after the chain tests")
        det = ct.detectable_tv
        rejected = bool(ct.pvalue <= alpha or getattr(ct, "impossible", ""))
        status = status_of(rejected, det)
        if getattr(ct, "status", None) in ("fail", "no-power") and status != "fail":
            status = ct.status  # the chain family's own verdict (e.g. degenerate sub-tests)
        return noted(ExactnessResult(
            passed=status == "pass",
            statistic=ct.statistic,
            pvalue=ct.pvalue,
            method="chain",
            num_samples=num_samples,
            alpha=alpha,
            detectable_tv=det,
            tv_estimate=ct.tv_estimate,
            tv_upper=math.nan,
            worst_cells=ct.worst_cells,
            seed=seed,
            dof=math.nan,
            power=power,
            impossible_hits=0,
            details=dict(ct.pvalues),
            status=status,
            batch_size=bsize,
            power_against=str(getattr(ct, "power_against", "")),
            interaction_orders=tuple(int(o) for o in getattr(ct, "interaction_orders", ())),
            reference=_JOINT_LAW,
        ))
    pmf = _target_pmf(target, n, q)
    if sequential:
        deadline = Deadline(timeout, "check_exact")
        max_size, resolved = plan_sequential_table(
            pmf, n, q, num_samples, tv, alpha, power, method, certify, max_samples,
            max_resamples, deadline)
        return noted(sequential_table(sampler, pmf, n, q, max_size=max_size,
                                      method=resolved, tv=tv, alpha=alpha, power=power,
                                      certify=certify, seed=seed_of(rng), bsize=bsize,
                                      deadline=deadline, max_resamples=max_resamples,
                                      planned=num_samples is None),
                         _TABLE)
    support = pmf > 0
    k = int(np.count_nonzero(support))
    planned = num_samples is None
    if num_samples is None:
        num_samples = plan_support_size(k, tv, alpha, power)
        check_plan(num_samples, max_samples, f"support of {k:,} cells", tv, alpha, power)
    p_support = pmf[support] / pmf[support].sum()
    resolved = _resolve_method(method, num_samples * float(p_support.min())) if k > 1 else method
    if resolved == "montecarlo":
        check_resolution(alpha, max_resamples, "Monte Carlo test")
    deadline = Deadline(timeout, "check_exact")
    if planned and k > 1:
        num_samples, resolved = _plan_sparse(p_support, num_samples, method, tv, alpha, power,
                                             max_samples, max_resamples, deadline)
    if planned and certify is not None:
        cert = plan_certificate_size(pmf, certify, alpha, power, num_cells=q**n)
        if cert > num_samples:
            check_plan(cert, max_samples, f"TV certificate at eps={certify:g}", tv, alpha,
                       power)
            num_samples = cert
            resolved = _resolve_method(method, num_samples * float(p_support.min()))
    seed = seed_of(rng)
    ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
    shards = plan_shards(num_samples, n, q, ss_samples, bsize, "counts")
    ckpt = checkpoint_of(ckpt_path, sampler, target, len(shards), seed=seed,
                           local=shipped.local,
                       num_samples=num_samples, method=resolved, tv=tv, alpha=alpha,
                       power=power, batch_size=bsize, max_resamples=max_resamples,
                       target_pmf=hashlib.sha256(pmf.tobytes()).hexdigest())
    counts = draw_sharded(shipped, shards, executor=executor, deadline=deadline,
                          checkpoint=ckpt, progress=progress).astype(np.float64)
    res = _table_test(counts, pmf, q, n, method=resolved, alpha=alpha,
                      gen=np.random.default_rng(ss_test), max_resamples=max_resamples,
                      deadline=deadline)
    details: dict[str, float] = {"tv_plugin": res.tv_plugin, "support_size": float(k)}
    det = detectable_tv(k, num_samples, alpha=alpha, power=power)
    exp_min = num_samples * float(p_support.min())
    if res.method == "montecarlo":
        details["resamples"] = float(res.resamples)
        details["resamples_drawn"] = float(res.null.size if res.null is not None else 0)
        details["pvalue_resolution"] = 1.0 / (res.resamples + 1.0)
    if res.method == "montecarlo" or (res.method in ("gtest", "pearson")
                                      and exp_min < MIN_EXPECTED):
        # the Monte Carlo test, or an asymptotic test forced into the sparse regime:
        # the power of the test as run is simulated (the noncentral chi-square figure
        # does not hold there)
        det, pw = _sparse_detectable_tv(p_support, num_samples, alpha, power, res.method,
                                        res.resamples, deadline, at=tv if planned else None)
        details["simulated_power"] = pw
        against = TWO_BLOCK_AGAINST
    else:
        against = (f"every deviation of the joint law at TV >= detectable_tv (full table "
                   f"of {k:,} support cells)")
    cells = q**n
    tv_upper = tv_upper_bound(res.tv_plugin, cells, num_samples, alpha)
    rejected = bool(res.impossible_hits > 0 or res.pvalue <= alpha)
    status = status_of(rejected, det)
    return noted(ExactnessResult(
        passed=status == "pass",
        statistic=res.statistic,
        pvalue=res.pvalue,
        method=res.method,
        num_samples=num_samples,
        alpha=alpha,
        detectable_tv=det,
        tv_estimate=max(0.0, res.tv_plugin - res.tv_null),
        tv_upper=tv_upper,
        worst_cells=res.worst,
        seed=seed,
        dof=res.dof,
        power=power,
        impossible_hits=res.impossible_hits,
        details=details,
        status=status,
        batch_size=bsize,
        power_against=against,
        interaction_orders=tuple(range(1, n + 1)),
        reference=_TABLE,
        certify=math.nan if certify is None else certify,
        certified=certify is not None and tv_upper <= certify,
    ))


def _sequential_relative(sampler: SamplerLike, target: DiscreteOracle, method: str,
                         num_samples: int | None, tv: float, alpha: float, power: float,
                         rng: SeedLike, bsize: int, timeout: float | None,
                         max_samples: int | None) -> ExactnessResult:
    """``sequential=True`` for an oracle without a joint law: the sequential
    order-conditional test (the closeness test has no sequential mode)."""
    n = int(target.n)
    if method == "closeness":
        raise ParameterError(
            "`sequential` is not available for the closeness test (a two-sample test "
            "against a reference sampler); use method='order-conditional' (or 'auto'), "
            "whose sequential mode tests each sample along its own order; got "
            "method='closeness' with sequential=True.")
    if num_samples is None:
        half = max(alpha / 2.0, MIN_ALPHA)
        num_samples = plan_order_conditional_size(n, tv=tv, alpha=half, power=power)
        check_plan(num_samples, max_samples, f"order-conditional test on n={n}", tv, half,
                   power)
    return sequential_order_conditional(sampler, target, max_size=num_samples, alpha=alpha,
                                        power=power, seed=seed_of(rng), bsize=bsize,
                                        deadline=Deadline(timeout, "check_exact"))
