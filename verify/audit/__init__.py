"""Audit of a user's oracle: contract, determinism, batch invariance, chain-rule
consistency across orders, agreement with a reference, and sampler runs
(docs/verification.md, "Oracle audit").

:func:`audit_oracle` never raises on a bad *answer*: every broken rule becomes a
:class:`Finding` with a severity, the rule and the exact query that shows it (the
context, the position, and for consistency the orders and configuration). It raises
:class:`~verify.errors.ParameterError` only for bad *arguments* (an object that is
neither a discrete nor a diffusion oracle, a reference of another kind).

The per-answer contract rules are those of :class:`samplers.oracle.CountingOracle`
(its checks are run row by row, so that every broken rule is found with the first
context that shows it, not only the first rule).

Every rule of the audit appears in :attr:`AuditResult.checks` with a ``status``:
``"pass"``, ``"fail"`` (an error), ``"warn"`` (a warning or a note) or ``"skipped"``
(not run; the finding's message gives the reason, e.g. that the contract is broken, so
that the consistency rules, which assume answers obeying it, were not evaluated).
``passed`` is True only for ``"pass"``.

The sampler runs are bounded: each ``sample()`` call of a sampler runs under the
budget ``sampler_timeout`` (seconds of wall time) and ``sampler_max_rounds``; a sampler
that exceeds it (typically one driven by a broken oracle into a residual loop that
does not end) becomes a finding naming the budget, the block and the seed instead of
a hang.

The package, one concept a module: :mod:`~verify.audit.result` (:class:`Finding`,
:class:`AuditResult`, the rule vocabulary), :mod:`~verify.audit.contract` (the
per-answer contract, determinism, batch invariance, the positional fast path),
:mod:`~verify.audit.consistency` (chain-rule joints across orders, exact and
estimated; agreement with a reference), :mod:`~verify.audit.diffusion` (the
diffusion-oracle audit) and :mod:`~verify.audit.runner` (sampler runs under budgets,
the failure recorder and zero-context witness). This module runs them in order:
:func:`audit_oracle`. Report documents of an audit are built downstream, by
:func:`reports.audit_report.audit_report`.
"""

from __future__ import annotations

import math
import pickle
import time
from concurrent.futures import Executor
from typing import Any

import numpy as np

from distributions.base import DiffusionOracle, DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_float, check_int
from verify.audit.consistency import (
    EXACT_JOINT_LIMIT,
    MAX_CHAIN_N,
    TV_TOL,
    _consistency_estimated,
    _consistency_exact,
    _exchange,
    _reference_discrete,
    row_error,
)
from verify.audit.contract import (
    AGREE_TOL,
    _batch_invariance,
    _contract_discrete,
    _determinism,
    _positional,
    _random_contexts,
    agree_tol,
)
from verify.audit.diffusion import REFERENCE_TOL, _audit_diffusion
from verify.audit.result import (
    DIFFUSION_RULES,
    DISCRETE_RULES,
    RULE_TITLES,
    STATUSES,
    AuditResult,
    Finding,
    _Auditor,
    _ctx_list,
    format_query,
)
from verify.audit.runner import (
    BATCH_TV,
    SAMPLER_ALPHA,
    SAMPLER_TARGET_CELLS,
    SAMPLER_TIMEOUT,
    SAMPLER_TV,
    WITNESS_ORDERS,
    _diffusion_sampler_runs,
    _sampler_runs,
)
from verify.execution import check_executor

__all__ = [
    "Finding", "AuditResult", "audit_oracle", "format_query", "oracle_kind",
    "STATUSES", "RULE_TITLES", "DISCRETE_RULES", "DIFFUSION_RULES",
    "EXACT_JOINT_LIMIT", "MAX_CHAIN_N", "AGREE_TOL", "TV_TOL", "REFERENCE_TOL",
    "SAMPLER_TV", "SAMPLER_ALPHA", "BATCH_TV", "SAMPLER_TIMEOUT", "SAMPLER_TARGET_CELLS",
    "WITNESS_ORDERS",
]


def _audit_discrete(a: _Auditor, oracle: DiscreteOracle, reference: DiscreteOracle | None,
                    num_contexts: int,
                    gen: np.random.Generator, seed: int, run_samplers: bool,
                    budget: dict[str, Any], timings: dict[str, float],
                    executor: Executor | None = None,
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    n, q = int(oracle.n), int(oracle.q)
    t0 = time.perf_counter()
    x = _random_contexts(n, q, num_contexts, gen)
    got = _contract_discrete(a, oracle, x)
    if got is None:
        timings["contract"] = time.perf_counter() - t0
        failed = [f.rule for f in a.checks if f.status == "fail"]
        a.skip_rest(DISCRETE_RULES, f"the oracle's answers cannot be checked further "
                    f"({', '.join(failed)} failed)")
        return {}, []
    out, eps = got
    tol = agree_tol(eps, q)  # answers that must agree, to the rounding of their dtype
    err = row_error(out, x, eps)  # what rounding alone moves a row by (L1)

    def fmt_query(b: int, k: tuple[int, ...] | None = None) -> dict[str, Any]:
        qd: dict[str, Any] = {"method": "conditionals", "x": _ctx_list(x[b])}
        if k is not None and len(k) > 1:
            qd["position"] = int(k[1])
        return qd

    _positional(a, oracle, x, out, gen, tol)
    _determinism(a, oracle.conditionals, x, out, fmt_query, tol)
    _batch_invariance(a, oracle.conditionals, x, out, gen, fmt_query, tol=tol)
    timings["contract"] = time.perf_counter() - t0
    if a.has_errors:
        a.skip_rest(DISCRETE_RULES, a.broken())
        return {}, []
    t0 = time.perf_counter()
    consistency = _exchange(a, oracle, x, out, gen, err)
    if q**n <= EXACT_JOINT_LIMIT:
        consistency.update(_consistency_exact(a, oracle, gen, err))
    else:
        if n > MAX_CHAIN_N:
            a.skip("consistency.orders", f"not estimated: n = {n} > {MAX_CHAIN_N} (the "
                   "two-position exchange rule still applies)")
        else:
            num = int(min(512, max(32, 4_000_000 // (n * max(n, 1)))))
            consistency.update(_consistency_estimated(a, oracle, gen, num, err))
        a.skip("consistency.pmf", f"q**n = {q**n} > {EXACT_JOINT_LIMIT}: the chain-rule "
               "joint is not tabulated")
    timings["consistency"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if reference is not None:
        consistency["reference"] = _reference_discrete(a, oracle, reference, gen, num_contexts,
                                                       eps)
    else:
        a.skip("reference", "no reference oracle given")
    timings["reference"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    runs: list[dict[str, Any]] = []
    if run_samplers:
        num = 2000 if n * q <= 64 else 200
        runs = _sampler_runs(a, oracle, reference, seed, num, budget, executor)
    else:
        a.skip_rest(("sampler.sequential", "sampler.autospeculative",
                     "sampler.batch-invariance"), "sampler runs not requested "
                    "(run_samplers=False)")
    timings["samplers"] = time.perf_counter() - t0
    return consistency, runs



def oracle_kind(obj: Any, name: str = "oracle") -> str:
    """``"discrete"`` or ``"diffusion"``: the kind of oracle ``obj`` is, by its attributes.

    Raises
    ------
    ParameterError
        Naming ``name`` when ``obj`` is neither a DiscreteOracle (``n``, ``q``,
        ``conditionals``) nor a DiffusionOracle (``dim``, ``denoise``).

    Examples
    --------
    >>> from distributions import random_table
    >>> oracle_kind(random_table(3, 2, rng=0))
    'discrete'
    """
    if hasattr(obj, "conditionals") and hasattr(obj, "n") and hasattr(obj, "q"):
        return "discrete"
    if hasattr(obj, "denoise") and hasattr(obj, "dim"):
        return "diffusion"
    raise ParameterError(
        f"`{name}` must be a DiscreteOracle (n, q, conditionals) or a DiffusionOracle "
        f"(dim, denoise); got {type(obj).__name__}."
    )


def audit_oracle(
    oracle: DiscreteOracle | DiffusionOracle,
    *,
    reference: DiscreteOracle | DiffusionOracle | None = None,
    num_contexts: int = 64,
    rng: int | np.integer | np.random.Generator | np.random.SeedSequence | None = None,
    run_samplers: bool = True,
    sampler_timeout: float | None = SAMPLER_TIMEOUT,
    sampler_max_rounds: int | None = None,
    executor: Executor | None = None,
) -> AuditResult:
    """Audit an oracle against its contract and for internal consistency.

    Parameters
    ----------
    oracle : DiscreteOracle or DiffusionOracle
        The oracle to audit.
    reference : oracle of the same kind, optional
        A trusted oracle of the same law: conditionals (or denoisers) are compared on
        sampled contexts, and its pmf (when it has one) is the target of the sampler
        runs.
    num_contexts : int, default 64
        Contexts (or (t, x) inputs) in the audit batch, ``>= 4``.
    rng : seed, Generator or SeedSequence, optional
    run_samplers : bool, default True
        Run the sequential and autospeculative samplers on a discrete oracle whose
        contract holds (cost, and exactness when a target pmf is known); for a
        diffusion oracle the Euler and autospeculative diffusion samplers (cost, and a
        two-sample test against the reference's Euler chain when a reference is given).
        For a discrete oracle also the batch-size invariance of the autospeculative
        sampler's law (:func:`verify.exactness.check_batch_invariance`, batch sizes 1
        and the cost run's batch: 2000 samples when ``n * q <= 64``, else 200).
    sampler_timeout : float or None, default :data:`SAMPLER_TIMEOUT` (60 s)
        Wall-time budget, in seconds (> 0), of each ``sample()`` call of the sampler
        runs (passed to the samplers as ``timeout``). None: no time budget.
    sampler_max_rounds : int or None, default None
        Round budget (>= 1) of each ``sample()`` call of the sampler runs (passed as
        ``max_rounds``). None: no round budget.
    executor : concurrent.futures.Executor, optional
        Where the sampler runs' tests draw (:mod:`verify.execution`): the exactness
        test against a pmf, the batch-invariance test and the diffusion same-law test;
        ``None``: in process. The cost runs (one ``sample()`` call each) and the
        order-conditional route stay in process. A test that raises on the executor
        is run again in process (same seed, same failure), where the failing query is
        traced; the findings are the same for every executor. An oracle that cannot
        be pickled is refused (:class:`ParameterError`) before any work.

    Returns
    -------
    AuditResult
        Every rule with its status (``passed`` is False when any rule failed); the
        sampler runs' costs and budgets; the wall time of the audit and of each phase.
        A sampler that exceeds its budget is a failed ``sampler.*`` rule naming the
        budget, the block and the seed; a sampler that raises is a failed rule naming
        the oracle query that caused it.

    Notes
    -----
    Discrete rules (:data:`DISCRETE_RULES`): the contract of
    :class:`samplers.oracle.CountingOracle` (shape for the batch, one context alone
    and half the batch; floating dtype; finite, [0, 1], rows summing to 1 or all
    zero, one-hot at unmasked positions, zero-context convention), not modifying the
    input, ``conditionals_at`` (when present) agreeing with ``conditionals`` without
    and with chain values, determinism, batch invariance (permuted batch, each row
    alone, half batch), the two-position exchange identity
    ``mu(i) mu(j|i) = mu(j) mu(i|j)``, chain-rule joints of several orders (exact TV
    when ``q**n <= 4096``, else a Monte Carlo estimate of the TV with its standard
    error), the declared ``pmf()`` when present, the reference, and the sampler runs
    (sequential and autospeculative: cost and exactness against the reference or the
    pmf at TV :data:`SAMPLER_TV`; the autospeculative sampler's batch-size invariance
    at TV :data:`BATCH_TV`; family-wise alpha :data:`SAMPLER_ALPHA` split equally).
    When a contract rule fails, the rules that assume the contract are skipped, each
    with that reason.

    Diffusion rules: shape, dtype, finiteness, determinism, batch invariance, the
    tower property ``E[f(t, X_t) | X_s] = f(s, X_s)`` on Euler-simulated localization
    paths, and agreement in norm with a reference.
    """
    t_start = time.perf_counter()
    kind = oracle_kind(oracle, "oracle")
    executor = check_executor(executor)
    if executor is not None:  # the sampler runs ship it: refuse now, not fall back later
        try:
            pickle.dumps(oracle, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise ParameterError(
                "`oracle` must be picklable for the sampler runs on `executor` (they ship "
                "it to the workers); pass executor=None to run them in process; pickling "
                f"{type(oracle).__name__} failed: {type(exc).__name__}: {exc}.") from exc
    num_contexts = check_int("num_contexts", num_contexts, low=4)
    if sampler_timeout is not None:
        sampler_timeout = check_float("sampler_timeout", sampler_timeout, low=0.0,
                                      low_open=True)
    if sampler_max_rounds is not None:
        sampler_max_rounds = check_int("sampler_max_rounds", sampler_max_rounds, low=1)
    if not isinstance(run_samplers, bool | np.bool_):
        raise ParameterError(f"`run_samplers` must be a bool; got {run_samplers!r}.")
    budget = {"sampler_timeout": sampler_timeout, "sampler_max_rounds": sampler_max_rounds}
    if reference is not None and oracle_kind(reference, "reference") != kind:
        raise ParameterError(f"`reference` must be an oracle of the same kind as `oracle` "
                             f"({kind}); got {type(reference).__name__}.")
    seed_seq = rng if isinstance(rng, np.random.SeedSequence) else None
    if isinstance(rng, int | np.integer):
        seed: int | None = int(rng)
    elif rng is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    else:
        seed = None
    gen = np.random.default_rng(seed if seed is not None else (seed_seq or rng))
    a = _Auditor()
    timings: dict[str, float] = {}
    consistency: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    if kind == "discrete":
        n, q = getattr(oracle, "n", None), getattr(oracle, "q", None)
        if (not isinstance(n, int | np.integer) or n < 1 or not isinstance(q, int | np.integer)
                or q < 2 or not callable(getattr(oracle, "conditionals", None))):
            a.add("contract.interface", False, f"oracle must have integer n >= 1, q >= 2 and a "
                  f"callable conditionals; got n={n!r}, q={q!r}")
            shape = {}
        else:
            a.ok("contract.interface")
            shape = {"n": int(n), "q": int(q)}
            consistency, runs = _audit_discrete(a, oracle, reference, num_contexts, gen,
                                                seed if seed is not None else 0, run_samplers,
                                                budget, timings, executor)
    else:
        dim = getattr(oracle, "dim", None)
        if not isinstance(dim, int | np.integer) or dim < 1:
            a.add("contract.interface", False, f"oracle.dim must be an integer >= 1; got {dim!r}")
            shape = {}
        else:
            a.ok("contract.interface")
            shape = {"dim": int(dim)}
            t0 = time.perf_counter()
            consistency = _audit_diffusion(a, oracle, reference, num_contexts, gen)
            timings["contract"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if not run_samplers:
                a.skip_rest(("sampler.euler", "sampler.autospeculative"),
                            "sampler runs not requested (run_samplers=False)")
            elif not a.has_errors:
                runs = _diffusion_sampler_runs(a, oracle, reference,
                                               seed if seed is not None else 0, budget,
                                               executor)
            timings["samplers"] = time.perf_counter() - t0
    rules = DISCRETE_RULES if kind == "discrete" else DIFFUSION_RULES
    if a.has_errors:
        a.skip_rest(rules, a.broken())
    a.skip_rest(rules, "not evaluated on this audit path")  # safety net; tests: never used
    checks = a.ordered(rules)
    failed = sum(f.status == "fail" for f in checks)
    return AuditResult(passed=failed == 0, statistic=float(failed), pvalue=math.nan,
                       alpha=SAMPLER_ALPHA if a.sampler_tests else math.nan,
                       num_samples=a.samples,
                       detectable_tv=max(a.detectable_tvs, default=math.nan),
                       method="audit", kind=kind, name=type(oracle).__name__, shape=shape,
                       checks=checks, consistency=consistency,
                       sampler_runs=tuple(runs), num_contexts=num_contexts, seed=seed,
                       seconds=time.perf_counter() - t_start, timings=timings, budget=budget)
