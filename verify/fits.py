"""The suite's growth fits: the power law ``y ~ c x**gamma`` and the increment test.

:func:`fit_power_law` is least squares in log-log, used by
:func:`verify.rounds.rounds_scaling` (mean rounds against ``n``) for the fitted curve
and by the scaling benchmarks. The slope's standard error is the ordinary
least-squares one (residual variance on ``k - 2`` degrees of freedom) and its interval
the Student-t interval at the stated ``level``; with two points the fit is exact and
the error and interval are undefined (``nan``). Its slope is **not** a test of
sublinear growth over a short range: an affine law ``a n + b`` with ``b > 0`` has a
log-log slope below 1 on any finite range (``0.8 n + 4`` over ``n = 8..64``: slope 0.80,
interval [0.66, 0.95]).

:func:`increment_growth` is that test, intercept-free: the secant slopes ``s_k =
(y_{k+1} - y_k) / (x_{k+1} - x_k)`` of ``y = a + c x**gamma`` (``c > 0``) are constant
for linear growth, decrease when ``gamma < 1`` and increase when ``gamma > 1``,
whatever ``a``; the contrast ``T = sum_k (x_{k+1} - x_k) (s_{k+1} - s_k)`` is therefore
0, negative or positive. On a geometric grid ``x_{k+1} = r x_k`` it is ``sum_k
(D_{k+1} - r D_k) / r`` with the increments ``D_k = y_{k+1} - y_k``, which grow by the
factor ``r**gamma`` per step. Its standard error comes from the points' own standard
errors (independent points); "sublinear" is the upper end of its interval below 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from distributions.errors import ParameterError
from distributions.validation import check_float

__all__ = ["IncrementGrowth", "PowerLawFit", "fit_power_law", "increment_growth"]


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


@dataclass(frozen=True)
class IncrementGrowth:
    """The increment test of :func:`increment_growth`.

    Attributes
    ----------
    ratio : float
        The grid's ratio ``r`` (``x_{k+1} / x_k``) when it is geometric, else ``nan``.
    contrast, se : float
        ``T = sum_k (x_{k+1} - x_k) (s_{k+1} - s_k)`` and its standard error.
    low, high : float
        Normal interval of ``T`` at ``level``; ``high < 0``: the secant slopes
        decrease (sublinear growth of ``y``).
    growth : float
        On a geometric grid, ``sum_k D_{k+1} / sum_k D_k`` (``r**gamma`` for ``y = a
        + c x**gamma``); ``nan`` on another grid or when a sum is not positive.
    exponent : float
        ``log_r(growth)``, the exponent ``gamma`` it implies (``nan`` with ``growth``).
    level : float
    num_points : int
    """

    ratio: float
    contrast: float
    se: float
    low: float
    high: float
    growth: float
    exponent: float
    level: float
    num_points: int


def increment_growth(x: Sequence[float], y: Sequence[float], se: Sequence[float], *,
                     level: float = 0.95) -> IncrementGrowth:
    """Whether ``y`` grows sublinearly in ``x``: the secant slopes' contrast (intercept-free).

    Parameters
    ----------
    x : sequence of float > 0
        An increasing grid, at least three points (geometric, ``x_{k+1} = r x_k``, for
        ``growth`` and ``exponent``).
    y, se : sequence of float
        The measured values (e.g. mean rounds) and their standard errors
        (independent points).
    level : float in (0, 1), default 0.95
        Confidence level of the interval of the contrast.

    Returns
    -------
    IncrementGrowth

    Raises
    ------
    ParameterError
        Fewer than three points, lengths that differ, a grid that is not positive and
        increasing, a value that is not finite or a negative standard error.

    Examples
    --------
    >>> g = increment_growth([8, 16, 32, 64], [0.8 * n + 4 for n in (8, 16, 32, 64)],
    ...                      [0.0] * 4)
    >>> round(g.contrast, 9), round(g.exponent, 9)
    (0.0, 1.0)
    >>> g = increment_growth([8, 12, 16, 24], [0.8 * n + 4 for n in (8, 12, 16, 24)],
    ...                      [0.0] * 4)
    >>> round(g.contrast, 9), g.exponent != g.exponent
    (0.0, True)
    >>> g = increment_growth([8, 16, 32, 64], [3 + 2 * n**0.5 for n in (8, 16, 32, 64)],
    ...                      [0.1] * 4)
    >>> g.high < 0, round(g.exponent, 6)
    (True, 0.5)
    """
    level = check_float("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    xs, ys, ss = (np.asarray(v, dtype=float) for v in (x, y, se))
    if xs.ndim != 1 or xs.size < 3 or ys.shape != xs.shape or ss.shape != xs.shape:
        raise ParameterError(
            "`x`, `y` and `se` must be sequences of the same length >= 3; got lengths "
            f"{xs.size}, {ys.size} and {ss.size}.")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all() and np.isfinite(ss).all()):
        raise ParameterError("`x`, `y` and `se` must be finite.")
    if (ss < 0).any():
        raise ParameterError(f"`se` must be >= 0; got {float(ss[ss < 0][0])!r}.")
    if not (xs > 0).all() or not (np.diff(xs) > 0).all():
        raise ParameterError(f"`x` must be positive and increasing; got {xs.tolist()!r}.")
    steps = xs[1:] / xs[:-1]
    r = float(steps[0]) if np.allclose(steps, steps[0], rtol=1e-9, atol=0.0) else math.nan
    m = xs.size
    # T = sum_k dx_k (s_{k+1} - s_k), s_k = (y_{k+1} - y_k) / dx_k, as weights on y
    dx = np.diff(xs)
    w = np.zeros(m)
    for k in range(m - 2):
        f = dx[k] / dx[k + 1]
        w[k + 2] += f
        w[k + 1] -= f + 1.0
        w[k] += 1.0
    t = float(w @ ys)
    sd = float(np.sqrt(np.sum((w * ss) ** 2)))
    half = float(stats.norm.isf((1.0 - level) / 2.0)) * sd
    d = np.diff(ys)
    later, earlier = float(d[1:].sum()), float(d[:-1].sum())
    growth = later / earlier if later > 0 and earlier > 0 and r == r else math.nan
    return IncrementGrowth(ratio=r, contrast=t, se=sd, low=t - half, high=t + half,
                           growth=growth,
                           exponent=math.log(growth) / math.log(r) if growth == growth
                           else math.nan, level=level, num_points=int(m))
