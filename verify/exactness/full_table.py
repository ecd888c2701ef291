"""Full-table tests of counts against an enumerable target's pmf.

G-test with Williams' correction and Pearson's test in the dense regime, the Monte
Carlo test of :mod:`verify.exactness.montecarlo` in the sparse regime
(``method="auto"`` chooses by :data:`MIN_EXPECTED`), impossible cells, the worst
cells, and the growth of a plan landing in the sparse regime.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from distributions.errors import ParameterError
from verify.exactness.montecarlo import _mc_pvalue, _sparse_detectable_tv, screened_size
from verify.planning import (
    MAX_RESAMPLES,
    check_plan,
    resamples_for,
)
from verify.results import WorstCell
from verify.sampling import (
    DEFAULT_BATCH_SIZE,
    Deadline,
    SeedLike,
)

#: Smallest expected count for which ``method="auto"`` uses the asymptotic G-test.
MIN_EXPECTED: float = 5.0


def _count_cells(draws: Iterator[np.ndarray], n: int, q: int) -> np.ndarray:
    """Counts of every configuration (C order) over the draws, memory O(q**n)."""
    cells = q**n
    counts = np.zeros(cells, dtype=np.float64)
    buf: list[np.ndarray] = []
    rows = 0

    def flush() -> None:
        x = np.concatenate(buf, axis=0)
        counts[:] += np.bincount(np.ravel_multi_index(x.T, (q,) * n), minlength=cells)
        buf.clear()

    for arr in draws:
        buf.append(arr)
        rows += arr.shape[0]
        if rows >= DEFAULT_BATCH_SIZE:
            flush()
            rows = 0
    if buf:
        flush()
    return counts


def _g_williams(obs: np.ndarray, exp: np.ndarray, p: np.ndarray, num: int) -> tuple[float, int]:
    k = obs.size
    nz = obs > 0
    g = 2.0 * float(np.sum(obs[nz] * np.log(obs[nz] / exp[nz])))
    dof = k - 1
    # Williams (1976): E[G] ~ dof * q with q = 1 + (sum 1/p_i - 1) / (6 N dof)
    wq = 1.0 + (float(np.sum(1.0 / p)) - 1.0) / (6.0 * num * dof)
    return g / wq, dof


@dataclass(frozen=True)
class _TableTest:
    statistic: float
    pvalue: float
    method: str
    dof: float
    impossible_hits: int
    tv_plugin: float
    tv_null: float
    worst: tuple[WorstCell, ...]
    resamples: int
    null: np.ndarray | None = None
    p: np.ndarray | None = None


def full_table_test(
    samples: np.ndarray,
    pmf: np.ndarray,
    q: int,
    *,
    method: str = "auto",
    alpha: float = 1e-3,
    rng: SeedLike = None,
    num_worst: int = 5,
    max_resamples: int = MAX_RESAMPLES,
) -> _TableTest:
    """Full-table test of ``samples`` (num, n) against the flat C-order ``pmf``."""
    samples = np.asarray(samples)
    num, n = samples.shape
    idx = np.ravel_multi_index(samples.T, (q,) * n) if num else np.zeros(0, np.int64)
    counts = np.bincount(idx, minlength=q**n).astype(np.float64)
    return _table_test(counts, np.asarray(pmf, dtype=np.float64), q, n, method=method,
                       alpha=alpha, gen=np.random.default_rng(rng), num_worst=num_worst,
                       max_resamples=max_resamples)


def _resolve_method(method: str, exp_min: float) -> str:
    if method == "auto":
        return "gtest" if exp_min >= MIN_EXPECTED else "montecarlo"
    return method


def _table_test(
    counts: np.ndarray,
    pmf: np.ndarray,
    q: int,
    n: int,
    *,
    method: str,
    alpha: float,
    gen: np.random.Generator,
    num_worst: int = 5,
    max_resamples: int = MAX_RESAMPLES,
    deadline: Deadline | None = None,
) -> _TableTest:
    num = int(round(counts.sum()))
    support = pmf > 0
    impossible = int(counts[~support].sum())
    expected_all = pmf * num
    tv_plugin = 0.5 * float(np.abs(counts / max(num, 1) - pmf).sum())
    # E|Bin(N,p) - Np| ~ sqrt(2 N p (1-p) / pi) (normal approximation)
    tv_null = 0.5 * float(np.sum(np.sqrt(2.0 * pmf * (1.0 - pmf) / (math.pi * max(num, 1)))))
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = np.where(
            support, (counts - expected_all) / np.sqrt(np.where(support, expected_all, 1.0)),
            np.where(counts > 0, np.inf, 0.0),
        )
    order = np.argsort(-np.abs(resid), kind="stable")[:num_worst]
    worst = tuple(
        WorstCell(
            label="x=" + str(tuple(int(v) for v in np.unravel_index(i, (q,) * n))),
            config=tuple(int(v) for v in np.unravel_index(i, (q,) * n)),
            observed=float(counts[i]),
            expected=float(expected_all[i]),
            residual=float(resid[i]),
            impossible=bool(not support[i]),
        )
        for i in order
        if counts[i] > 0 or support[i]
    )
    k = int(support.sum())
    if impossible:
        return _TableTest(math.inf, 0.0, "impossible", float(k - 1), impossible,
                          tv_plugin, tv_null, worst, 0)
    if k == 1 or num == 0:
        return _TableTest(0.0, 1.0, "trivial", 0.0, 0, tv_plugin, tv_null, worst, 0)
    obs, p = counts[support], pmf[support] / pmf[support].sum()
    exp = p * num
    method = _resolve_method(method, float(exp.min()))
    if method == "gtest":
        g, dof = _g_williams(obs, exp, p, num)
        return _TableTest(g, float(stats.chi2.sf(g, dof)), "gtest", float(dof), 0,
                          tv_plugin, tv_null, worst, 0)
    if method == "pearson":
        x2 = float(np.sum((obs - exp) ** 2 / exp))
        return _TableTest(x2, float(stats.chi2.sf(x2, k - 1)), "pearson", float(k - 1), 0,
                          tv_plugin, tv_null, worst, 0)
    if method == "montecarlo":
        t, pv, r, null = _mc_pvalue(obs, p, num, alpha, gen, max_resamples, deadline)
        return _TableTest(t, pv, "montecarlo", math.nan, 0, tv_plugin, tv_null, worst, r,
                          null, p)
    raise ParameterError(
        f"`method` must be one of 'auto', 'gtest', 'pearson', 'montecarlo' for an "
        f"enumerable target; got {method!r}."
    )


def _target_pmf(target: Any, n: int, q: int) -> np.ndarray:
    try:
        pmf = np.asarray(target.pmf(), dtype=np.float64)
    except ParameterError as exc:
        raise ParameterError(
            f"`target.pmf()` failed ({exc}); use method='chain' for this target."
        ) from exc
    if pmf.shape != (q**n,):
        raise ParameterError(
            f"`target.pmf()` must have shape ({q**n},); got shape {pmf.shape}."
        )
    return pmf


def _plan_sparse(p: np.ndarray, num: int, method: str, tv: float, alpha: float,
                 power: float, max_samples: int | None, max_resamples: int,
                 deadline: Deadline, *, screen: bool = True) -> tuple[int, str]:
    """Grow a noncentral chi-square plan that lands in the sparse regime until the test
    as run there has simulated detectable TV <= ``tv`` (or the regime turns dense,
    where the noncentral chi-square figure holds). Returns the size and the method;
    raises :class:`ParameterError` when 12 growth steps do not reach ``tv``.

    For the Monte Carlo test, when a normal approximation says ``num`` falls short,
    the size it screens (:func:`~verify.exactness.montecarlo.screened_size`, no
    simulation; at most the dense regime's threshold) is simulated first, and taken
    when it holds: one simulation then settles the plan. Otherwise (the approximation
    finds ``num`` enough, or the screened size does not hold: in very sparse tables
    the simulated figure is not even monotone in the size, a rare cell hit twice sets
    the critical value) the plan grows from ``num`` step by step, each step simulated
    (``screen=False``: the growth alone, for the benchmarks).
    """
    pmin = float(p.min())
    if (screen and num * pmin < MIN_EXPECTED
            and _resolve_method(method, num * pmin) == "montecarlo"):
        screened = screened_size(p, num, alpha, power, tv)
        # the dense regime's own size suffices there (the loop stops at it too)
        screened = min(screened, max(num, math.ceil(MIN_EXPECTED / pmin) + 1))
        if max_samples is not None:
            screened = max(num, min(screened, max_samples))
        if screened > num:
            resolved, det = _sparse_det(p, screened, method, tv, alpha, power,
                                        max_resamples, deadline)
            if det <= tv:
                return screened, resolved
    for step in range(13):  # the first size and 12 growth steps
        resolved, det = _sparse_det(p, num, method, tv, alpha, power, max_resamples, deadline)
        if det <= tv:
            return num, resolved
        if step == 12:
            break
        grow = min(4.0, max(1.1, (det / tv) ** 2)) if det < 1.0 else 4.0
        num = math.ceil(num * grow)
        check_plan(num, max_samples, f"support of {p.size:,} cells, sparse regime", tv,
                    alpha, power)
    raise ParameterError(
        f"the sparse-regime plan did not reach `tv` = {tv:g} in 12 growth steps (last "
        f"size {num:,}, support of {p.size:,} cells, alpha={alpha:g}, power={power:g}); "
        "pass `num_samples` to test at a size of your choice (its detectable TV is "
        "stated), or use a larger `tv`."
    )


def _sparse_det(p: np.ndarray, num: int, method: str, tv: float, alpha: float, power: float,
                max_resamples: int, deadline: Deadline) -> tuple[str, float]:
    """The method at ``num`` and the detectable TV the plan is judged by: 0 in the
    dense regime (the noncentral chi-square plan holds there), else the simulated one,
    ``tv`` itself when every alternative reaches the power there (memoised, so asking
    twice costs nothing)."""
    exp_min = num * float(p.min())
    resolved = _resolve_method(method, exp_min)
    if exp_min >= MIN_EXPECTED:
        return resolved, 0.0
    resamples = resamples_for(alpha, max_resamples) if resolved == "montecarlo" else 0
    det, _ = _sparse_detectable_tv(p, num, alpha, power, resolved, resamples, deadline, at=tv)
    return resolved, det
