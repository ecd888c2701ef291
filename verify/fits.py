"""The one power-law fit of the suite: ``y ~ c x**gamma`` by least squares in log-log.

Used by :func:`verify.rounds.rounds_scaling` (mean rounds against ``n``) and by the
scaling benchmarks. The slope's standard error is the ordinary least-squares one
(residual variance on ``k - 2`` degrees of freedom) and its interval the Student-t
interval at the stated ``level``; with two points the fit is exact and the error
and interval are undefined (``nan``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from distributions.errors import ParameterError
from distributions.validation import check_float

__all__ = ["PowerLawFit", "fit_power_law"]


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted power law ``y ~ c x**gamma``.

    Attributes
    ----------
    c, gamma : float
        Prefactor and exponent.
    se_gamma : float
        Standard error of ``gamma`` (``nan`` with fewer than three points).
    gamma_low, gamma_high : float
        Student-t interval of ``gamma`` at ``level`` (``nan`` with fewer than three points).
    level : float
        Confidence level of the interval.
    num_points : int
        Points fitted.
    """

    c: float
    gamma: float
    se_gamma: float
    gamma_low: float
    gamma_high: float
    level: float
    num_points: int


def fit_power_law(x: Sequence[float], y: Sequence[float], *, level: float = 0.95) -> PowerLawFit:
    """Least-squares fit of ``log y = log c + gamma log x``.

    Parameters
    ----------
    x, y : sequence of float > 0
        The points (same length, at least two).
    level : float in (0, 1), default 0.95
        Confidence level of the interval of ``gamma``.

    Returns
    -------
    PowerLawFit

    Raises
    ------
    ParameterError
        Fewer than two points, lengths that differ, or a value that is not positive
        and finite.

    Examples
    --------
    >>> f = fit_power_law([1, 2, 4, 8], [3, 6, 12, 24])
    >>> round(f.c, 6), round(f.gamma, 6), round(f.se_gamma, 6)
    (3.0, 1.0, 0.0)
    """
    level = check_float("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.ndim != 1 or xs.shape != ys.shape or xs.size < 2:
        raise ParameterError(
            "`x` and `y` must be sequences of the same length >= 2; got lengths "
            f"{xs.size} and {ys.size}."
        )
    for name, v in (("x", xs), ("y", ys)):
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            raise ParameterError(
                f"`{name}` must be positive and finite; got {float(v[bad][0])!r} at "
                f"index {int(np.flatnonzero(bad)[0])}."
            )
    lx, ly = np.log(xs), np.log(ys)
    a = np.stack([np.ones_like(lx), lx], axis=1)
    coef, *_ = np.linalg.lstsq(a, ly, rcond=None)
    k = lx.size
    if k < 3:
        se = low = high = math.nan
    else:
        resid = ly - a @ coef
        s2 = float(resid @ resid) / (k - 2)
        cov = s2 * np.linalg.inv(a.T @ a)
        se = float(np.sqrt(max(cov[1, 1], 0.0)))
        half = float(stats.t.isf((1.0 - level) / 2.0, k - 2)) * se
        low, high = float(coef[1]) - half, float(coef[1]) + half
    return PowerLawFit(c=float(np.exp(coef[0])), gamma=float(coef[1]), se_gamma=se,
                       gamma_low=low, gamma_high=high, level=level, num_points=int(k))
