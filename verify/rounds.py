"""A small rounds-scaling run: mean rounds per sample against ``n``, and a power-law fit.

:func:`rounds_scaling` runs each parallel sampler of :mod:`samplers.catalogue` on the
rounds target family (:data:`samplers.catalogue.ROUNDS_TARGET`, the 1-d Ising chain:
exact conditionals, no table) for growing ``n`` and returns a typed
:class:`RoundsScalingResult`: per sampler the measured points, the fit
``rounds ~ c n**gamma`` (:func:`verify.fits.fit_power_law`) and the check "mean rounds
below ``n`` at the largest ``n``" (a :class:`~verify.results.CheckResult`). The
report's records, tables and figure are built downstream (``reports``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from distributions.errors import ParameterError
from distributions.validation import check_int
from samplers.catalogue import ROUNDS_TARGET, make_sampler, parallel_samplers
from verify.fits import PowerLawFit, fit_power_law
from verify.results import ResultBase, to_plain

__all__ = ["RoundsPoint", "RoundsScalingResult", "SamplerScaling", "rounds_scaling"]


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
    """

    n: int
    num_samples: int
    mean_rounds: float
    se_rounds: float
    max_rounds: float
    mean_queries: float
    seconds: float


@dataclass(frozen=True, kw_only=True)
class SamplerScaling(ResultBase):
    """One sampler's scaling and the check "mean rounds below ``n`` at the largest ``n``".

    ``statistic`` is the mean rounds per sample at the largest ``n`` (``pvalue``,
    ``alpha`` and ``detectable_tv`` are ``nan``: a measurement, not a statistical
    test); ``passed`` when it is below that ``n``.

    Attributes
    ----------
    sampler : str
        Catalogue name.
    target : str
        Description of the target family.
    largest_n : int
    points : tuple of RoundsPoint
    fit : PowerLawFit
        ``mean rounds ~ c n**gamma``.
    """

    sampler: str
    target: str
    largest_n: int
    points: tuple[RoundsPoint, ...]
    fit: PowerLawFit


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


def rounds_scaling(
    samplers: Sequence[str],
    *,
    quick: bool = True,
    seed: int = 0,
    num: int | None = None,
    progress: Callable[[int, str], ProgressBar] | None = None,
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

    Returns
    -------
    RoundsScalingResult

    Raises
    ------
    ParameterError
        For a bad argument, before any work.
    """
    names, seed, num = _iv(samplers, seed, num)
    ns = ROUNDS_TARGET.ns(bool(quick))
    num = num if num is not None else (100 if quick else 400)
    bar = progress(len(ns) * len(names), "rounds") if progress is not None else None
    out: list[SamplerScaling] = []
    for k, name in enumerate(names):
        points: list[RoundsPoint] = []
        for j, n in enumerate(ns):
            if bar is not None:
                bar.set_postfix_str(f"{name} n={n}")
            target = ROUNDS_TARGET.build(n)
            t0 = time.perf_counter()
            res = make_sampler(name, target).sample(num, rng=np.random.SeedSequence([seed, k, j]))
            secs = time.perf_counter() - t0
            r = np.asarray(res.rounds, dtype=float)
            qv = np.asarray(res.queries, dtype=float)
            se = float(r.std(ddof=1) / np.sqrt(r.size)) if r.size > 1 else 0.0
            points.append(RoundsPoint(n=n, num_samples=num, mean_rounds=float(r.mean()),
                                      se_rounds=se, max_rounds=float(np.max(r)),
                                      mean_queries=float(qv.mean()), seconds=round(secs, 3)))
            if bar is not None:
                bar.update()
        fit = fit_power_law(ns, [p.mean_rounds for p in points])
        last = points[-1].mean_rounds
        out.append(SamplerScaling(
            passed=last < ns[-1], statistic=last, pvalue=math.nan, alpha=math.nan,
            num_samples=num, detectable_tv=math.nan, seed=seed, method="rounds-sublinear",
            sampler=name, target=ROUNDS_TARGET.label, largest_n=ns[-1],
            points=tuple(points), fit=fit))
    if bar is not None:
        bar.close()
    return RoundsScalingResult(target=ROUNDS_TARGET.label, ns=tuple(ns), num_samples=num,
                               seed=seed, samplers=tuple(out))
