"""A small rounds-scaling run: mean rounds per sample against ``n``, and a power-law fit.

:func:`rounds_scaling` runs each parallel sampler of :mod:`samplers.catalogue` on the
rounds target family (:data:`samplers.catalogue.ROUNDS_TARGET`, the 1-d Ising chain:
exact conditionals, no table) for growing ``n`` and returns a typed
:class:`RoundsScalingResult`: per sampler the measured points (mean rounds with its
95% interval, median, 99th percentile and maximum, against the sequential sampler's
``n`` rounds), the fit ``rounds ~ c n**gamma`` (:func:`verify.fits.fit_power_law`,
the curve drawn) and the check "sublinear" (a :class:`~verify.results.CheckResult`):
the increments of mean rounds between successive ``n`` of the doubling grid grow by
less than the factor 2 that linear growth gives, the upper end of the 95% interval of
the contrast ``sum_k (D_{k+1} - 2 D_k)`` below 0 (:func:`verify.fits.increment_growth`:
intercept-free, so an affine law ``a n + b`` does not pass, as it did with the
log-log slope). A point whose maximum rounds exceed
``n`` (the sequential sampler's rounds) is flagged: a parallel sampler's tail can be
worse than the sequential chain even when its mean is far below it. The report's
records, tables and figure are built downstream (``reports``).

Each point is one shard of the execution seam (:mod:`verify.execution`,
``executor=``): the worker builds the target and the sampler from the catalogue (they
never cross) and returns the per-sample rounds and queries (the median, 99th
percentile and maximum need every one of them; they are counts, not samples).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import stats

from distributions.errors import ParameterError
from distributions.validation import check_int
from samplers.catalogue import ROUNDS_TARGET, make_sampler, parallel_samplers
from verify.execution import check_executor, run_shards
from verify.fits import IncrementGrowth, PowerLawFit, fit_power_law, increment_growth
from verify.results import ResultBase, to_plain
from verify.sampling import Deadline

__all__ = [
    "RoundsPoint", "RoundsScalingResult", "SamplerScaling", "rounds_point", "rounds_scaling",
]


class ProgressBar(Protocol):
    """What a ``progress`` factory returns (a tqdm-like bar)."""

    def update(self, n: int = 1) -> Any: ...

    def set_postfix_str(self, s: str) -> Any: ...

    def close(self) -> Any: ...


@dataclass(frozen=True)
class RoundsPoint:
    """One measured point: a sampler at one ``n``.

    Attributes
    ----------
    n : int
    num_samples : int
    mean_rounds, se_rounds, max_rounds : float
        Mean, standard error of the mean and maximum of the rounds per sample.
    mean_queries : float
        Mean oracle queries per sample.
    seconds : float
        Wall time of the sampler call (rounded to milliseconds).
    mean_low, mean_high : float
        95% Student-t interval of the mean rounds (``mean +- t se``).
    median_rounds, p99_rounds : float
        Median and 99th percentile (linear interpolation) of the rounds per sample.
    sequential_rounds : int
        Rounds of the sequential sampler on the same target (``n``).
    exceeds_sequential : bool
        ``max_rounds > sequential_rounds``: some sample took more rounds than the
        sequential sampler takes for every sample.
    """

    n: int
    num_samples: int
    mean_rounds: float
    se_rounds: float
    max_rounds: float
    mean_queries: float
    seconds: float
    mean_low: float
    mean_high: float
    median_rounds: float
    p99_rounds: float
    sequential_rounds: int
    exceeds_sequential: bool


@dataclass(frozen=True, kw_only=True)
class SamplerScaling(ResultBase):
    """One sampler's scaling and the check "sublinear": the increments of mean rounds
    grow by less than linear growth's factor per doubling of ``n``.

    ``statistic`` is the exponent the increments imply (``growth.exponent``: ``gamma``
    for ``rounds = a + c n**gamma``; ``nan`` when they do not grow); ``pvalue``,
    ``alpha`` and ``detectable_tv`` are ``nan`` (an interval estimate, not a test of a
    stated size); ``passed`` when ``growth.high < 0``. With fewer than three lengths
    the check is undefined and the status is ``no-power``.

    Attributes
    ----------
    sampler : str
        Catalogue name.
    target : str
        Description of the target family.
    largest_n : int
    points : tuple of RoundsPoint
    fit : PowerLawFit
        ``mean rounds ~ c n**gamma`` with the 95% interval of ``gamma`` (the curve; its
        slope is not the check).
    growth : IncrementGrowth or None
        The increment test (``None`` with fewer than three lengths).
    exceeds_sequential_at : tuple of int
        The lengths ``n`` at which the maximum rounds exceeded ``n``.
    """

    sampler: str
    target: str
    largest_n: int
    points: tuple[RoundsPoint, ...]
    fit: PowerLawFit
    growth: IncrementGrowth | None = None
    exceeds_sequential_at: tuple[int, ...] = ()


@dataclass(frozen=True)
class RoundsScalingResult:
    """Outcome of :func:`rounds_scaling`.

    Attributes
    ----------
    target : str
        Description of the target family.
    ns : tuple of int
        The lengths measured.
    num_samples : int
        Samples per point.
    seed : int
        Root seed (point ``(k, j)`` used ``SeedSequence([seed, k, j])``).
    samplers : tuple of SamplerScaling
        One per sampler, in the order asked.
    """

    target: str
    ns: tuple[int, ...]
    num_samples: int
    seed: int
    samplers: tuple[SamplerScaling, ...]

    @property
    def passed(self) -> bool:
        """Every sampler's check passed."""
        return all(s.passed for s in self.samplers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field."""
        return to_plain(self)


def rounds_point(n: int, rounds: Any, queries: Any, sequential: int,
                 seconds: float) -> RoundsPoint:
    """The summary of one sampler's rounds (and queries) per sample at one ``n``.

    Parameters
    ----------
    n : int
    rounds, queries : array_like, shape (num,)
        Per-sample rounds and queries (at least one sample).
    sequential : int
        The sequential sampler's rounds on the same target.
    seconds : float

    Examples
    --------
    >>> p = rounds_point(4, [1, 2, 3, 10], [4, 4, 4, 4], 4, 0.0)
    >>> p.median_rounds, p.max_rounds, p.exceeds_sequential
    (2.5, 10.0, True)
    """
    r = np.asarray(rounds, dtype=float)
    qv = np.asarray(queries, dtype=float)
    if r.ndim != 1 or r.size < 1 or qv.shape != r.shape:
        raise ParameterError(f"`rounds` and `queries` must be 1-d of the same positive length; "
                             f"got shapes {r.shape} and {qv.shape}.")
    mean = float(r.mean())
    se = float(r.std(ddof=1) / np.sqrt(r.size)) if r.size > 1 else 0.0
    half = float(stats.t.ppf(0.975, r.size - 1)) * se if r.size > 1 else math.nan
    top = float(r.max())
    return RoundsPoint(
        n=int(n), num_samples=int(r.size), mean_rounds=mean, se_rounds=se, max_rounds=top,
        mean_queries=float(qv.mean()), seconds=float(seconds), mean_low=mean - half,
        mean_high=mean + half, median_rounds=float(np.median(r)),
        p99_rounds=float(np.percentile(r, 99)), sequential_rounds=int(sequential),
        exceeds_sequential=top > sequential)


def _iv(samplers: Any, seed: Any, num: Any) -> tuple[list[str], int, int | None]:
    parallel = parallel_samplers()
    if isinstance(samplers, str) or not isinstance(samplers, Sequence) or not samplers:
        raise ParameterError("`samplers` must be a non-empty sequence of parallel sampler "
                             f"names ({', '.join(parallel)}); got {samplers!r}.")
    for name in samplers:
        if name not in parallel:
            raise ParameterError(f"`samplers` must be among {', '.join(parallel)}; "
                                 f"got {name!r}.")
    seed = check_int("seed", seed, low=0)
    if num is not None:
        num = check_int("num", num, low=2)
    return list(samplers), seed, num


@dataclass(frozen=True)
class _PointShard:
    """One point of the measurement: sampler ``k`` (catalogue ``name``) at ``n``."""

    index: int
    name: str
    k: int
    j: int
    n: int
    num: int
    seed: int

    def where(self, num_shards: int) -> str:
        return (f"point {self.index + 1} of {num_shards} ({self.name} at n={self.n}; "
                f"stream: SeedSequence([{self.seed}, {self.k}, {self.j}]))")

    def run(self, sampler: Any, deadline: Deadline | None
            ) -> tuple[np.ndarray, np.ndarray, float]:
        """Per-sample rounds and queries of ``num`` samples, and the seconds taken."""
        target = ROUNDS_TARGET.build(self.n)
        t0 = time.perf_counter()
        res = make_sampler(self.name, target).sample(
            self.num, rng=np.random.SeedSequence([self.seed, self.k, self.j]))
        secs = time.perf_counter() - t0
        return np.asarray(res.rounds), np.asarray(res.queries), secs


def rounds_scaling(
    samplers: Sequence[str],
    *,
    quick: bool = True,
    seed: int = 0,
    num: int | None = None,
    progress: Callable[[int, str], ProgressBar] | None = None,
    executor: Executor | None = None,
) -> RoundsScalingResult:
    """Mean rounds and queries per sample of each sampler for growing ``n``.

    Parameters
    ----------
    samplers : sequence of str
        Catalogue names of parallel samplers
        (:func:`samplers.catalogue.parallel_samplers`); at least one.
    quick : bool, default True
        The quick grid of :data:`samplers.catalogue.ROUNDS_TARGET` (``n`` up to 64),
        else the full one (up to 256).
    seed : int >= 0, default 0
        Root seed; point ``(k, j)`` (sampler ``k``, ``n`` index ``j``) draws from
        ``SeedSequence([seed, k, j])``.
    num : int >= 2, optional
        Samples per point (default 100 with ``quick``, else 400).
    progress : callable, optional
        ``progress(total, desc)`` returning a bar with ``update``,
        ``set_postfix_str`` and ``close``.
    executor : concurrent.futures.Executor, optional
        Where the points are measured, one shard each (module docstring); ``None``:
        in process. Every field but the measured ``seconds`` is the same for every
        executor and number of workers.

    Returns
    -------
    RoundsScalingResult

    Raises
    ------
    ParameterError
        For a bad argument, before any work.
    """
    names, seed, num = _iv(samplers, seed, num)
    executor = check_executor(executor)
    ns = ROUNDS_TARGET.ns(bool(quick))
    num = num if num is not None else (100 if quick else 400)
    bar = progress(len(ns) * len(names), "rounds") if progress is not None else None
    shards = [_PointShard(index=k * len(ns) + j, name=name, k=k, j=j, n=n, num=num, seed=seed)
              for k, name in enumerate(names) for j, n in enumerate(ns)]
    measured: list[RoundsPoint] = []

    def merged(shard: _PointShard, got: tuple[np.ndarray, np.ndarray, float]) -> None:
        r, qv, secs = got
        measured.append(rounds_point(shard.n, r.astype(float), qv.astype(float), shard.n,
                                     round(secs, 3)))
        if bar is not None:
            bar.set_postfix_str(f"{shard.name} n={shard.n}")
            bar.update()

    run_shards(None, shards, executor=executor, merged=merged)
    out: list[SamplerScaling] = []
    for k, name in enumerate(names):
        points = measured[k * len(ns):(k + 1) * len(ns)]
        means = [p.mean_rounds for p in points]
        fit = fit_power_law(ns, means)
        growth = (increment_growth(ns, means, [p.se_rounds for p in points])
                  if len(ns) >= 3 else None)
        defined = growth is not None
        passed = growth is not None and growth.high < 0.0
        out.append(SamplerScaling(
            passed=passed, statistic=growth.exponent if growth is not None else math.nan,
            pvalue=math.nan, alpha=math.nan,
            num_samples=num, detectable_tv=math.nan, seed=seed, method="rounds-increments",
            status="pass" if passed else ("fail" if defined else "no-power"),
            sampler=name, target=ROUNDS_TARGET.label, largest_n=ns[-1],
            points=tuple(points), fit=fit, growth=growth,
            exceeds_sequential_at=tuple(p.n for p in points if p.exceeds_sequential)))
    if bar is not None:
        bar.close()
    return RoundsScalingResult(target=ROUNDS_TARGET.label, ns=tuple(ns), num_samples=num,
                               seed=seed, samplers=tuple(out))
