"""Sampler runs on an audited oracle: the samplers run under a budget, their exactness
(or same-law) tests, the autospeculative sampler's batch-size invariance, and the
tracing of a sampler failure back to the oracle query that caused it (the failure
recorder and the zero-context witness).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import numpy as np

from distributions.base import MASK, DiffusionOracle, DiscreteOracle, Enumerable
from distributions.errors import BudgetExceededError, OracleError
from samplers.autospec import AutospeculativeSampler
from samplers.diffusion import (
    AutospeculativeDiffusionSampler,
    EulerLocalizationSampler,
    LocalizationGrid,
)
from samplers.sequential import SequentialSampler
from verify.audit.contract import _call
from verify.audit.result import _Auditor, _ctx_list, _format_value
from verify.continuous import check_same_law
from verify.exactness import ExactnessResult, check_batch_invariance, check_exact

#: TV the audit's sampler exactness tests detect (power 0.99) and their total alpha.
SAMPLER_TV: float = 0.1
SAMPLER_ALPHA: float = 0.01
#: TV between the sampler's laws at batch size 1 and at the cost run's batch size that
#: the audit's batch-invariance test detects (power 0.99); drawing at batch size 1 costs
#: one ``sample()`` call per sample, hence a coarser figure than :data:`SAMPLER_TV`.
BATCH_TV: float = 0.2
#: Default wall-time budget (seconds) of each ``sample()`` call in the sampler runs.
SAMPLER_TIMEOUT: float = 60.0
#: Largest ``q**n`` for which a pmf (of the reference, else of the oracle) is the target
#: of the sampler exactness tests.
SAMPLER_TARGET_CELLS: int = 2**12
#: Orders of the revealed positions tried when looking for a chain of positive
#: probability to a context the oracle answers as impossible.
WITNESS_ORDERS: int = 24

_R = TypeVar("_R")


def _traced(run: Callable[[Executor | None], _R], executor: Executor | None) -> _R:
    """``run(executor)``; if it raises on an executor, ``run(None)`` in process: the same
    seed fails the same way here, where the :class:`_Recorder` sees the queries that
    trace the failure (on a worker they stay there). (An oracle that cannot be
    pickled never gets here: :func:`verify.audit.audit_oracle` refuses it first.)"""
    if executor is None:
        return run(None)
    try:
        return run(executor)
    except Exception:
        return run(None)


class _Recorder:
    """Delegates to an oracle and notes, from every call, the rows it answers as a
    zero-probability context (all-zero row at a masked position) and the last call's
    first context, so that a sampler failure can be traced to the query that caused
    it. Keeps at most :attr:`KEEP` such rows (contexts, not whole answers)."""

    KEEP = 64
    PER_CALL = 16

    def __init__(self, oracle: DiscreteOracle) -> None:
        self._oracle = oracle
        self.n, self.q = int(oracle.n), int(oracle.q)
        self.zeros: list[tuple[np.ndarray, int, list[float]]] = []
        self.last: tuple[list[int], int] | None = None
        if callable(getattr(oracle, "conditionals_at", None)):
            self.conditionals_at = self._conditionals_at

    def __getattr__(self, name: str) -> Any:
        if name == "_oracle":
            raise AttributeError(name)
        return getattr(self._oracle, name)

    def _note(self, x: np.ndarray, positions: np.ndarray | None,
              chain_values: np.ndarray | None, out: Any) -> None:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] == 0:
            return
        self.last = (_ctx_list(x[0]), int(x.shape[0]))
        out = np.asarray(out)
        if out.ndim != 3 or out.shape[0] != x.shape[0] or out.dtype.kind not in "fiub":
            return
        if positions is None:
            if out.shape[1] != x.shape[1]:
                return
            masked = x == MASK
        else:
            positions = np.asarray(positions)
            if out.shape[1] != positions.shape[1]:
                return
            masked = np.take_along_axis(x, positions, axis=1) == MASK
        zero = masked & (out.sum(axis=-1) == 0)
        if not zero.any():
            return
        for b, j in np.argwhere(zero)[:self.PER_CALL]:
            ctx = np.array(x[b], copy=True)
            pos = int(j)
            if positions is not None:
                pos = int(positions[b, j])
                if chain_values is not None:  # row (b, j): positions[b, :j] revealed
                    ctx[positions[b, :j]] = np.asarray(chain_values)[b, :j]
            self.zeros.append((ctx, pos, [float(v) for v in out[b, j]]))
        del self.zeros[:-self.KEEP]

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        out = self._oracle.conditionals(x)
        self._note(x, None, None, out)
        return out

    def _conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                         chain_values: np.ndarray | None = None) -> np.ndarray:
        out = self._oracle.conditionals_at(x, positions, chain_values)
        self._note(x, positions, chain_values, out)
        return out


def _zero_context_witness(rec: _Recorder) -> dict[str, Any] | None:
    """A context the oracle answers as impossible (all-zero rows) although the chain rule
    of its own answers, in some order of the revealed positions (increasing, decreasing
    and up to :data:`WITNESS_ORDERS` in all, seeded), gives its revealed values positive
    probability, among the rows ``rec`` noted (newest first): the query that shows an
    inconsistency, or None."""
    n = rec.n
    gen = np.random.default_rng(0)
    for ctx, i, row in reversed(rec.zeros):
        revealed = np.flatnonzero(ctx != MASK)
        m = revealed.size
        if m == 0:
            continue
        orders = [revealed, revealed[::-1]]
        if m > 2:
            orders += [gen.permutation(revealed) for _ in range(WITNESS_ORDERS - 2)]
        orders = orders[:math.factorial(m)]
        prefixes = np.full((len(orders), m, n), MASK, dtype=np.int64)
        for k, order in enumerate(orders):
            for j in range(1, m):
                prefixes[k, j:, order[j - 1]] = ctx[order[j - 1]]
        got, err = _call(rec._oracle.conditionals, prefixes.reshape(-1, n))
        if err is not None or got is None or got.shape != (len(orders) * m, n, rec.q):
            continue
        got = got.reshape(len(orders), m, n, rec.q)
        for k, order in enumerate(orders):
            steps = got[k, np.arange(m), order, ctx[order]].astype(np.float64)
            if np.all(steps > 0):
                return {"method": "conditionals", "x": _ctx_list(ctx), "position": i,
                        "answer_row": row, "chain_order": [int(v) for v in order],
                        "chain_probabilities": [float(v) for v in steps]}
    return None


def _budget_failure(name: str, exc: BudgetExceededError, during: dict[str, Any],
                    budget: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Message and query of a sampler run stopped by its budget."""
    query: dict[str, Any] = {**during, "budget": {k: budget[k] for k in
                                                  ("sampler_timeout", "sampler_max_rounds")}}
    for attr in ("block", "trials", "acceptance_rate", "rounds", "seconds"):
        v = getattr(exc, attr, None)
        if isinstance(v, tuple | list | np.ndarray):
            query[attr] = [int(u) for u in v]
        elif isinstance(v, int | float | np.integer | np.floating):
            query[attr] = v.item() if isinstance(v, np.generic) else v
    if "block" not in query:  # the block named in the sampler's diagnosis
        m = re.search(r"residual loop of block \((\d+), (\d+)\)", str(exc)) or re.search(
            r"block entered: \((\d+), (\d+)\)", str(exc))
        if m:
            query["block"] = [int(m.group(1)), int(m.group(2))]
    return (f"the {name} sampler ran past its budget on this oracle (sampler_timeout="
            f"{budget['sampler_timeout']} s, sampler_max_rounds="
            f"{budget['sampler_max_rounds']}) and was stopped: {exc}"), query


def _failure(name: str, exc: Exception, rec: _Recorder, during: dict[str, Any],
             budget: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Message and query of a sampler run that raised ``exc``."""
    if isinstance(exc, BudgetExceededError):
        return _budget_failure(name, exc, during, budget)
    rule = getattr(exc, "rule", None)
    if isinstance(exc, OracleError) and rule is not None:
        query = {"method": "conditionals", "x": getattr(exc, "context", None),
                 "position": getattr(exc, "position", None), "rule": rule, "during": during}
        return (f"the {name} sampler met an oracle answer that breaks {rule} at a context the "
                f"audit batch did not contain: {exc}"), {k: v for k, v in query.items()
                                                         if v is not None}
    witness = _zero_context_witness(rec)
    inside = f"{type(exc).__name__}: {exc}"
    if witness is not None:
        ctx = _format_value("x", witness["x"])
        return (f"the {name} sampler reached context {ctx}, which the oracle answers as a "
                f"zero-probability context (all-zero row at position {witness['position']}), "
                f"although the chain rule of its own answers gives the revealed values "
                f"probabilities {', '.join(f'{p:.3g}' for p in witness['chain_probabilities'])} "
                f"(order {witness['chain_order']}): the answers contradict each other (the "
                f"sampler then raised {inside})"), {**witness, "during": during}
    if rec.last is not None:
        ctx0, size = rec.last
        return (f"the {name} sampler raised {inside} after the oracle query below (its last; "
                f"first context of a batch of {size})"), {
                    "method": "conditionals", "x": ctx0, "batch_size": size, "during": during}
    return f"the {name} sampler raised {inside} before any oracle query", during


def _budget_kwargs(budget: dict[str, Any]) -> dict[str, Any]:
    """The budget keywords every sampler takes (``timeout``, ``max_rounds``)."""
    return {"timeout": budget["sampler_timeout"], "max_rounds": budget["sampler_max_rounds"]}


def _exactness_summary(r: ExactnessResult, seed: int) -> dict[str, Any]:
    """The figures of a sampler's exactness test kept in its run (plain values): status,
    the test's protocol fields, its largest deviations (at most 5 cells) and the TV
    upper bound."""
    cells = [{"cell": c.label if c.label is not None else c.config,
              "observed": c.observed, "expected": c.expected} for c in r.worst_cells[:5]]
    return {"status": r.status, "extra": {"batch_size": int(r.batch_size)},
            "passed": bool(r.passed), "method": str(r.method), "statistic": r.statistic,
            "pvalue": r.pvalue, "alpha": r.alpha, "num_samples": int(r.num_samples),
            "detectable_tv": r.detectable_tv, "tv_estimate": r.tv_estimate,
            "worst_cells": cells, "seed": seed, "detail": f"TV upper bound {r.tv_upper:.3g}"}


def _sampler_runs(a: _Auditor, oracle: DiscreteOracle, reference: DiscreteOracle | None,
                  seed: int, num: int, budget: dict[str, Any],
                  executor: Executor | None = None) -> list[dict[str, Any]]:
    """The sequential and autospeculative samplers on the oracle (through a
    :class:`_Recorder`): cost, exactness against the reference's (else the oracle's own)
    pmf when one is known and small, then the batch-size invariance. The exactness and
    batch-invariance tests draw on ``executor`` (the test against a pmf and the
    batch-invariance test; the order-conditional route runs in process)."""
    n, q = int(oracle.n), int(oracle.q)
    target = None
    for cand in (reference, oracle):
        if (cand is not None and callable(getattr(cand, "pmf", None))
                and q**n <= SAMPLER_TARGET_CELLS):
            target = cand
            break
    classes = {"sequential": SequentialSampler, "autospeculative": AutospeculativeSampler}
    tests = len(classes) + 1  # + batch invariance
    runs = []
    for k, (name, cls) in enumerate(classes.items()):
        run: dict[str, Any] = {"sampler": name, "budget": dict(budget)}
        kw = _budget_kwargs(budget)
        run["budget"]["enforced"] = sorted(kw)
        rec = _Recorder(oracle)
        t0 = time.perf_counter()
        during: dict[str, Any] = {"method": "sample", "sampler": name,
                                  "seed": [seed, k], "num": num}
        try:
            res = cls(rec, **kw).sample(num, rng=np.random.SeedSequence([seed, k]))
            run.update(sample_seconds=time.perf_counter() - t0, num=num,
                       mean_rounds=float(np.mean(res.rounds)),
                       mean_queries=float(np.mean(res.queries)))
            a.samples += num
            # against the pmf when known and small, else relative to the oracle itself
            during = {"method": "check_exact", "sampler": name, "seed": seed + 101 + k,
                      "tv": SAMPLER_TV, "alpha": SAMPLER_ALPHA / tests}
            how = "auto" if target is not None else "order-conditional"
            ex = _traced(lambda on, cls=cls, k=k, how=how, rec=rec, kw=kw: check_exact(
                cls(rec, **kw), target if target is not None else oracle, tv=SAMPLER_TV,
                alpha=SAMPLER_ALPHA / tests, power=0.99, rng=seed + 101 + k, method=how,
                executor=on if target is not None else None), executor)
            chk = _exactness_summary(ex, seed + 101 + k)
            run["exactness"] = chk
            a.samples += int(ex.num_samples)
            a.sampler_tests += 1
            a.detectable_tvs.append(float(ex.detectable_tv))
            label = ("the reference" if target is reference and target is not None
                     else "the oracle's own pmf()" if target is not None
                     else "the oracle's own sequential chain-rule law along each "
                          "sample's order (order-conditional test: exactness relative "
                          "to the oracle, whether or not it is consistent)")
            status = chk["status"]
            if status == "pass":
                a.ok(f"sampler.{name}", f"output law matches {label}: p={chk['pvalue']:.3g}"
                     f", detectable TV {chk['detectable_tv']:.3g}, "
                     f"{chk['num_samples']} samples", value=chk["pvalue"])
            elif status != "fail":  # e.g. no-power: not a pass, not an error
                a.add(f"sampler.{name}", False, f"{status}: the exactness test of the {name} "
                      f"sampler against {label} is inconclusive: p={chk['pvalue']:.3g}, "
                      f"detectable TV {chk['detectable_tv']:.3g}, {chk['num_samples']} "
                      f"samples, seed {chk['seed']}", severity="warning",
                      query={"method": "check_exact", "sampler": name, "seed": chk["seed"],
                             "num": chk["num_samples"], "tv": SAMPLER_TV,
                             "alpha": chk["alpha"]}, value=chk["pvalue"])
            else:
                a.add(f"sampler.{name}", False,
                      f"{name} sampler on this oracle does not match {label}: "
                      f"{chk['method']} p={chk['pvalue']:.3g} < alpha={chk['alpha']:.3g}, "
                      f"{chk['num_samples']} samples, seed {chk['seed']}",
                      query={"method": "check_exact", "sampler": name, "seed": chk["seed"],
                             "num": chk["num_samples"], "tv": SAMPLER_TV,
                             "alpha": chk["alpha"]}, value=chk["pvalue"])
        except Exception as exc:  # the sampler's failure on this oracle is a finding
            msg, query = _failure(name, exc, rec, during, budget)
            a.add(f"sampler.{name}", False, msg, query=query)
            run["error"] = f"{type(exc).__name__}: {exc}"
        run["seconds"] = time.perf_counter() - t0
        runs.append(run)
    _sampler_batch_invariance(a, oracle, target, seed, num, budget, SAMPLER_ALPHA / tests,
                              failed=any("error" in r for r in runs), executor=executor)
    return runs


def _sampler_batch_invariance(a: _Auditor, oracle: DiscreteOracle, target: Enumerable | None,
                              seed: int, num: int,
                              budget: dict[str, Any], alpha: float, *, failed: bool,
                              executor: Executor | None = None) -> None:
    """The autospeculative sampler's law at batch size 1 and at batch size ``num`` (the
    batch of its cost run: all ``num`` samples in one ``sample()`` call), compared by
    :func:`verify.exactness.check_batch_invariance`."""
    rule = "sampler.batch-invariance"
    if failed:
        a.skip(rule, "a sampler run failed on this oracle (see the sampler rules)")
        return
    kw = _budget_kwargs(budget)
    rec = _Recorder(oracle)
    sampler = AutospeculativeSampler(rec, **kw)
    sizes = (1, int(num))
    during = {"method": "check_batch_invariance", "sampler": "autospeculative",
              "batch_sizes": list(sizes), "seed": seed + 201, "tv": BATCH_TV, "alpha": alpha}
    try:
        r = _traced(lambda on: check_batch_invariance(
            sampler, batch_sizes=sizes, target=target, tv=BATCH_TV, alpha=alpha,
            rng=seed + 201, executor=on), executor)
    except Exception as exc:
        msg, query = _failure("autospeculative", exc, rec, during, budget)
        a.add(rule, False, msg, query=query)
        return
    a.samples += int(r.num_samples)
    a.sampler_tests += 1
    status = r.status
    text = (f"autospeculative sampler at batch sizes {sizes[0]} and {sizes[1]}: "
            f"{r.method} p={r.pvalue:.3g}, alpha={r.alpha:.3g}, detectable TV "
            f"{r.detectable_tv:.3g}, {r.num_samples} samples, seed {seed + 201}")
    if status == "pass":
        a.ok(rule, text, value=r.pvalue)
    elif status == "fail":
        a.add(rule, False, f"the output law depends on the batch size: {text}", query=during,
              value=r.pvalue)
    else:  # no-power / warn: not a pass, not an error
        a.add(rule, False, f"{status}: {text}", severity="warning", query=during,
              value=r.pvalue)



def _diffusion_sampler_runs(a: _Auditor, oracle: DiffusionOracle,
                            reference: DiffusionOracle | None, seed: int,
                            budget: dict[str, Any],
                            executor: Executor | None = None) -> list[dict[str, Any]]:
    """Euler and autospeculative diffusion samplers on the oracle: cost, and the same law
    as the Euler chain of the reference when one is given."""
    grid = LocalizationGrid.uniform(10.0, 32)
    makers = {"euler": EulerLocalizationSampler, "autospeculative":
              AutospeculativeDiffusionSampler}
    runs = []
    for k, (name, cls) in enumerate(makers.items()):
        run: dict[str, Any] = {"sampler": name}
        t0 = time.perf_counter()
        try:
            kw = _budget_kwargs(budget)
            run["budget"] = {**budget, "enforced": sorted(kw)}
            res = cls(oracle, grid, **kw).sample(200, rng=np.random.SeedSequence([seed, k]))
            run.update(sample_seconds=time.perf_counter() - t0, num=200,
                       mean_rounds=float(np.mean(res.rounds)),
                       mean_queries=float(np.mean(res.queries)))
            a.samples += 200
            if reference is not None:
                r = _traced(lambda on, cls=cls, k=k, kw=kw: check_same_law(
                    cls(oracle, grid, **kw), EulerLocalizationSampler(reference, grid),
                    num_samples=400, alpha=SAMPLER_ALPHA / len(makers), rng=seed + 101 + k,
                    max_energy_samples=100, executor=on), executor)
                a.samples += int(r.num_samples)
                a.sampler_tests += 1
                run["exactness"] = {"passed": bool(r.passed), "status": r.status,
                                    "pvalue": r.pvalue,
                                    "alpha": r.alpha, "num_samples": r.num_samples,
                                    "method": "same law as the reference's Euler chain",
                                    "detectable_tv": None, "seed": seed + 101 + k}
                if r.status == "no-power":
                    a.add(f"sampler.{name}", False, f"{name} diffusion sampler against the "
                          f"reference's Euler chain: the same-law test has no power at 400 "
                          f"samples (p={r.pvalue:.3g}); not a pass", severity="warning",
                          query={"method": "sample", "sampler": name, "seed": seed + 101 + k,
                                 "num": 400}, value=r.pvalue)
                elif r.passed:
                    a.ok(f"sampler.{name}", f"same law as the reference's Euler chain: "
                         f"p={r.pvalue:.3g}, 400 samples", value=r.pvalue)
                else:
                    a.add(f"sampler.{name}", False, f"{name} diffusion sampler on this oracle "
                          f"differs from the reference's Euler chain: p={r.pvalue:.3g} < "
                          f"alpha={r.alpha:.3g}, 400 samples, seed {seed + 101 + k}",
                          query={"method": "sample", "sampler": name, "seed": seed + 101 + k,
                                 "num": 400}, value=r.pvalue)
            else:
                a.ok(f"sampler.{name}", "ran 200 samples (no reference: cost only)")
        except Exception as exc:  # the sampler's failure on this oracle is a finding
            during = {"method": "sample", "sampler": name, "seed": [seed, k], "num": 200}
            if isinstance(exc, BudgetExceededError):
                msg, query = _budget_failure(name, exc, during, budget)
            else:
                msg = f"{name} diffusion sampler failed on this oracle: {type(exc).__name__}: {exc}"
                query = during
            a.add(f"sampler.{name}", False, msg, query=query)
            run["error"] = f"{type(exc).__name__}: {exc}"
        run["seconds"] = time.perf_counter() - t0
        runs.append(run)
    return runs
