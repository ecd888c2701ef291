"""The one noncentral-chi-square planner of the full-table tests (and the level checks).

For a law ``s`` at total variation ``eps`` from ``p`` (on the support of ``p``), the
chi-square divergence obeys ``chi2(s || p) >= 4 eps**2``; the G and Pearson
statistics at sample size ``N`` are asymptotically noncentral chi-square with
``dof = k - 1`` and noncentrality ``lambda >= 4 N eps**2``, so the worst-case power
at TV ``eps`` is ``ncx2.sf(chi2.isf(alpha, k-1), k-1, 4 N eps**2)`` (the full
statement and the figures are in :mod:`verify.exactness`).

:func:`plan_sample_size` returns the smallest ``N`` reaching ``power``,
:func:`detectable_tv` the TV detected at a given ``N``, :func:`lambda_needed` the
noncentrality both rest on. :func:`plan_certificate_size` (from
:mod:`verify.sequential.certificate`) is the size at which a correct sampler's TV
upper bound is at most ``eps`` (``check_exact(..., certify=eps)``); next to the
test's size (``alpha = 1e-3``, ``power = 0.99``, ``k`` cells)::

    k      eps     test        certificate
    64     0.05      8,700          51,195
    64     0.01    217,496       1,279,872
    1024   0.05     27,230         500,140
    1024   0.01    680,726      12,503,480

The planner is within 2x of the simulated optimum of the G-test against the hardest
two-block alternatives (``tests/verify/test_planning.py``: ratios 0.99, 1.005 and
1.005 at ``k`` = 16, 64, 256, ``eps`` = 0.05).

The level, resolution and plan-cap checks shared by the checks of :mod:`verify` live
here too, so every check refuses bad levels alike.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from scipy import optimize, stats

from distributions.base import DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_float, check_int
from verify.chain_tests import plan_chain_sample_size
from verify.precision import warn_below_floor
from verify.sequential.certificate import plan_certificate_size

__all__ = [
    "MAX_RESAMPLES",
    "MAX_SAMPLES",
    "MAX_TABLE",
    "MIN_ALPHA",
    "check_levels",
    "check_plan",
    "check_resolution",
    "detectable_tv",
    "is_enumerable",
    "lambda_needed",
    "plan_certificate_size",
    "plan_sample_size",
    "plan_support_size",
    "resamples_for",
]

#: Largest table (``q**n``) for full-table tests; larger targets get chain tests.
MAX_TABLE: int = 2**20
#: Default cap on the number of samples a check draws (``max_samples``): a plan
#: above it is refused before any work, with the planned size in the message.
MAX_SAMPLES: int = 10**8
#: Default cap on Monte Carlo / permutation resamples (``max_resamples``); the
#: p-value resolution ``1 / (resamples + 1)`` is reported in ``details``.
MAX_RESAMPLES: int = 100_000
#: Smallest supported level ``alpha``.
MIN_ALPHA: float = 1e-12


@functools.lru_cache(maxsize=256)
def lambda_needed(dof: int, alpha: float, power: float) -> float:
    """Noncentrality at which the level-``alpha`` chi-square test with ``dof`` degrees
    of freedom has power ``power`` (root of ``ncx2.sf(chi2.isf(alpha, dof), dof, lam)
    = power``)."""
    crit = stats.chi2.isf(alpha, dof)

    def f(lam: float) -> float:
        return float(stats.ncx2.sf(crit, dof, lam)) - power

    hi = 1.0
    while f(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(f, 1e-12, hi, xtol=1e-10, rtol=1e-12))


def _support_size(target_or_k: Any) -> int:
    if isinstance(target_or_k, int | np.integer) and not isinstance(target_or_k, bool):
        return check_int("target_or_k", int(target_or_k), low=1)
    pmf_fn = getattr(target_or_k, "pmf", None)
    if callable(pmf_fn):
        return int(np.count_nonzero(np.asarray(pmf_fn()) > 0))
    if isinstance(target_or_k, np.ndarray):
        return int(np.count_nonzero(target_or_k > 0))
    raise ParameterError(
        "`target_or_k` must be a support size (int >= 1), a pmf array or an Enumerable; "
        f"got {type(target_or_k).__name__}."
    )


def plan_sample_size(
    target_or_k: int | np.ndarray | DiscreteOracle,
    *,
    tv: float,
    alpha: float,
    power: float,
    max_samples: int | None = MAX_SAMPLES,
) -> int:
    """Smallest sample size at which a TV-``tv`` sampler fails with probability ``power``.

    Parameters
    ----------
    target_or_k : int, ndarray, Enumerable or DiscreteOracle
        Support size ``k``, a pmf, an enumerable target (``k`` = its support size),
        or a non-enumerable oracle (plan of the chain-rule tests, see
        :func:`verify.chain_tests.plan_chain_sample_size`: against one- and
        two-site marginal TV, which is the joint TV of a law whose deviation is
        confined to one site or pair; against every law at a joint TV no such plan
        exists for large ``n``).
    tv : float in (0, 1)
    alpha : float in [1e-12, 1)
        Level of the test (:data:`MIN_ALPHA` is the smallest supported).
    power : float in (alpha, 1)
    max_samples : int or None, default :data:`MAX_SAMPLES` (``10**8``)
        A plan above it is infeasible: :class:`ParameterError` stating the size.
        ``None``: no cap.

    Warns
    -----
    PrecisionWarning
        For an oracle answering below float64 when ``tv`` is below its precision
        floor (:func:`verify.precision.precision_floor`).

    Returns
    -------
    int
        Worst case over alternatives at TV ``tv`` (module docstring): the
        noncentral chi-square power with ``lambda = 4 N tv**2`` and ``k - 1`` dof.
        For ``k = 1`` (a point mass), the size at which ``tv`` mass off the support
        is hit at least once with probability ``power``. This is the power of the
        G-test and Pearson's test; where the plan lands in the sparse regime (an
        expected count below 5), :func:`check_exact` runs the Monte Carlo test and
        reports the detectable TV that test actually has.

    Examples
    --------
    >>> plan_sample_size(64, tv=0.01, alpha=1e-3, power=0.99)
    217496
    """
    tv, alpha, power = check_levels(tv, alpha, power)
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=1)
    if not isinstance(target_or_k, int | np.integer | np.ndarray) and not is_enumerable(
        target_or_k
    ):
        if hasattr(target_or_k, "conditionals"):
            warn_below_floor(target_or_k, tv)
            num = plan_chain_sample_size(target_or_k, tv=tv, alpha=alpha, power=power)
            check_plan(num, max_samples, f"chain tests on n={target_or_k.n}", tv, alpha,
                        power)
            return num
    k = _support_size(target_or_k)
    num = plan_support_size(k, tv, alpha, power)
    check_plan(num, max_samples, f"support of {k:,} cells", tv, alpha, power)
    return num


def check_plan(num: float, max_samples: int | None, what: str, tv: float, alpha: float,
                power: float) -> None:
    if max_samples is not None and num > max_samples:
        raise ParameterError(
            f"the planned sample size {num:,.0f} ({what}, tv={tv:g}, alpha={alpha:g}, "
            f"power={power:g}) exceeds `max_samples` = {max_samples:,}: the plan is "
            "infeasible; use a larger `tv` or raise `max_samples`."
        )


def plan_support_size(k: int, tv: float, alpha: float, power: float) -> int:
    if k == 1:
        return max(1, math.ceil(math.log1p(-power) / math.log1p(-tv)))
    lam = lambda_needed(k - 1, alpha, power)
    return max(1, math.ceil(lam / (4.0 * tv * tv)))


def detectable_tv(k: int, num_samples: int, *, alpha: float, power: float) -> float:
    """TV detected with probability ``power`` at ``num_samples`` (worst case, ``k`` cells).

    The noncentral chi-square figure of the G-test and Pearson's test (module
    docstring); ``1.0`` when no TV below 1 is detected.
    """
    k = check_int("k", k, low=1)
    num_samples = check_int("num_samples", num_samples, low=1)
    _, alpha, power = check_levels(0.5, alpha, power)
    if k <= 1:
        return float(-math.expm1(math.log1p(-power) / num_samples))
    lam = lambda_needed(k - 1, alpha, power)
    return float(min(1.0, math.sqrt(lam / (4.0 * num_samples))))


def check_levels(tv: Any, alpha: Any, power: Any) -> tuple[float, float, float]:
    tv = check_float("tv", tv, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha = check_float("alpha", alpha, low=MIN_ALPHA, high=1.0, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    if power <= alpha:
        raise ParameterError(
            "`power` must be > `alpha` (a level-alpha test already rejects with "
            f"probability alpha when nothing deviates); got power={power!r} with "
            f"alpha={alpha!r}."
        )
    return tv, alpha, power


def resamples_for(alpha: float, max_resamples: int) -> int:
    """Resamples of a Monte Carlo p-value: ``20 / alpha`` (resolution alpha / 20),
    at least 999, at most ``max_resamples``."""
    return int(min(max(999, math.ceil(20.0 / alpha) - 1), max_resamples))


def check_resolution(alpha: float, max_resamples: int, what: str) -> int:
    resamples = resamples_for(alpha, max_resamples)
    if alpha * (resamples + 1) < 1.0:
        raise ParameterError(
            f"`alpha` must be >= {1.0 / (resamples + 1):.3g} (the p-value resolution "
            f"1/(max_resamples + 1) of the {what}, which could never reject below it); "
            f"got {alpha!r} with max_resamples={max_resamples:,}. Use a larger alpha, a "
            "larger `max_resamples`, or more samples (G-test regime)."
        )
    return resamples


def is_enumerable(target: Any) -> bool:
    """``pmf`` present and ``q**n <= 2**20`` (the table is tabulated, never guessed)."""
    if not callable(getattr(target, "pmf", None)):
        return False
    try:
        return int(target.q) ** int(target.n) <= MAX_TABLE
    except (TypeError, ValueError):
        return False
