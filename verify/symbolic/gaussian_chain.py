"""Item 5: the moments of the Euler stochastic-localization chain for a Gaussian
target, derived symbolically, and the leading order of its discretisation bias.

For ``Y ~ N(m, lam)`` (one eigen-direction of the covariance; the directions are
independent) the drift is ``f(t, x) = (m + lam x) / (1 + t lam)`` (derived here from
``E[Y | tY + B_t = x]`` by the Gaussian conditioning of the joint law) and the chain
is ``x_{k+1} = x_k + h_k f(t_k, x_k) + sqrt(h_k) xi_k``. Proved for a general grid of
three symbolic steps, with ``m``, ``lam`` symbolic:

* the chain's mean is exact: ``E x_k = t_k m`` at every grid time;
* the variance's one-step error: started from the exact ``Var x_t = t (1 + t lam)``,
  one Euler step gives the exact variance at ``t + h`` minus ``h^2 lam / (1 + t lam)``;
* summed over a uniform grid (each local error carried to ``T`` by the factor
  ``((1 + T lam) / (1 + t lam))^2``), the variance of ``x_N`` is the exact one plus
  ``c h + O(h^2)`` with ``c = -((1 + T lam)^2 - 1) / 2`` (``sympy.integrate``); the
  output ``f(T, x_N)`` has variance bias ``c (lam / (1 + T lam))^2 h``: the **bias
  floor** of the continuous tests, which compare a sampler with this chain, not
  with the continuous-time law.

Cross-checks (``numeric_ok``): :func:`verify.gaussian_chain_moments` against the
same recursion in exact rational arithmetic (2-D target, rational grid) to 1e-12
relative, and its variance bias against ``c h`` (the ratio ``bias / (c h)`` tends to
1 linearly in ``h``: its gap to 1 must shrink by a factor in [1.6, 2.4] when ``h``
halves).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from samplers.catalogue import GAUSSIAN_COV, GAUSSIAN_MEAN
from samplers.diffusion import LocalizationGrid
from verify.continuous.gaussian_chain import gaussian_chain_moments
from verify.symbolic.certificate import Certificate, Finding, certify

__all__ = ["chain_certificate", "bias_floor"]

_M = sp.Symbol("m", real=True)
_LAM = sp.Symbol("lam", positive=True)
_T, _H, _X, _S = sp.symbols("t h x s", positive=True)


def _drift() -> tuple[sp.Expr, sp.Expr]:
    """``f(t, x)`` from the joint Gaussian law of ``(Y, tY + B_t)``, and its residual
    against ``(m + lam x) / (1 + t lam)``."""
    cov_yx = _T * _LAM
    var_x = _T**2 * _LAM + _T
    f = _M + cov_yx / var_x * (_X - _T * _M)
    return f, sp.simplify(f - (_M + _LAM * _X) / (1 + _T * _LAM))


def bias_coefficient() -> tuple[sp.Expr, sp.Expr]:
    """``c(T, lam)`` of ``Var x_N - Var x_T = c h + O(h^2)`` and of the output's variance
    bias (``c (lam / (1 + T lam))^2``), by ``sympy.integrate``."""
    big_t = sp.Symbol("T", positive=True)
    carry = ((1 + big_t * _LAM) / (1 + _S * _LAM)) ** 2
    c = sp.simplify(sp.integrate(-_LAM / (1 + _S * _LAM) * carry, (_S, 0, big_t)))
    return c, sp.simplify(c * (_LAM / (1 + big_t * _LAM)) ** 2)


def bias_floor(cov: Any, grid: LocalizationGrid) -> np.ndarray:
    """Leading-order variance bias of the output ``f(T, x_N)`` in each eigen-direction
    of ``cov`` on a uniform ``grid``: ``c_out(T, lam) h`` (negative: the chain's output
    is narrower)."""
    lam = np.linalg.eigvalsh(np.asarray(cov, dtype=np.float64))
    _, c_out = bias_coefficient()
    fn = sp.lambdify([sp.Symbol("T", positive=True), _LAM], c_out, "numpy")
    return np.asarray(fn(grid.T, lam), dtype=np.float64) * float(grid.steps[0])


def _exact_moments(mean: list[Fraction], cov: list[list[Fraction]],
                   times: list[Fraction]) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix, sp.Matrix]:
    m = sp.Matrix([sp.Rational(v.numerator, v.denominator) for v in mean])
    s = sp.Matrix([[sp.Rational(v.numerator, v.denominator) for v in r] for r in cov])
    d = m.shape[0]
    s_inv = s.inv()
    mu, c = sp.zeros(d, 1), sp.zeros(d, d)

    def drift(t: sp.Rational) -> tuple[sp.Matrix, sp.Matrix]:
        a = (s_inv + t * sp.eye(d)).inv()
        return a, a * s_inv * m

    for k in range(len(times) - 1):
        t = sp.Rational(times[k].numerator, times[k].denominator)
        h = sp.Rational((times[k + 1] - times[k]).numerator, (times[k + 1] - times[k]).denominator)
        a, b = drift(t)
        step = sp.eye(d) + h * a
        mu, c = step * mu + h * b, step * c * step.T + h * sp.eye(d)
    a, b = drift(sp.Rational(times[-1].numerator, times[-1].denominator))
    return mu, c, a * mu + b, a * c * a.T


def _rel(got: np.ndarray, ref: sp.Matrix) -> float:
    r = np.array(ref.evalf(30).tolist(), dtype=np.float64).reshape(np.shape(got))
    return float(np.abs(np.asarray(got) - r).max() / max(np.abs(r).max(), 1e-300))


def _chain_finding(moments: Callable[..., Any]) -> Finding:
    _, drift_res = _drift()
    f = (_M + _LAM * _X) / (1 + _T * _LAM)  # proved for t > 0; at t = 0 it is E Y = m
    hs = sp.symbols("h0:3", positive=True)
    ts = [sp.Integer(0), hs[0], hs[0] + hs[1], hs[0] + hs[1] + hs[2]]
    mu, residuals = sp.Integer(0), [drift_res]
    for k in range(3):
        mu = mu + hs[k] * f.subs({_T: ts[k], _X: mu})
        residuals.append(sp.simplify(mu - ts[k + 1] * _M))
    exact_var = _T * (1 + _T * _LAM)
    a = _LAM / (1 + _T * _LAM)
    one_step = (1 + _H * a) ** 2 * exact_var + _H
    residuals.append(sp.simplify(one_step - exact_var.subs(_T, _T + _H)
                                 + _H**2 * _LAM / (1 + _T * _LAM)))
    c, c_out = bias_coefficient()
    big_t = sp.Symbol("T", positive=True)
    residuals.append(sp.simplify(c + ((1 + big_t * _LAM) ** 2 - 1) / 2))
    # cross-check 1: verify.gaussian_chain_moments against exact rational arithmetic
    mean = [Fraction(v) for v in GAUSSIAN_MEAN]
    cov = [[Fraction(v) for v in r] for r in GAUSSIAN_COV]
    times = [Fraction(k, 4) for k in range(9)]  # T = 2, eight steps of 1/4
    got = moments(np.array(GAUSSIAN_MEAN), np.array(GAUSSIAN_COV), [float(t) for t in times])
    ref = _exact_moments(mean, cov, times)
    rel = max(_rel(g, r) for g, r in zip(got, ref, strict=True))
    # cross-check 2: the variance bias of x_N is c h + O(h^2) (1-D, lam = 1/2, T = 2)
    lam, T = 0.5, 2.0
    gaps = []
    for n in (64, 128, 256):
        end_cov = moments(np.zeros(1), np.array([[lam]]), np.linspace(0.0, T, n + 1))[1]
        bias = float(end_cov[0, 0]) - T * (1 + T * lam)
        gaps.append(abs(bias / (float(c.subs({big_t: T, _LAM: lam})) * T / n) - 1.0))
    ratios = [gaps[0] / gaps[1], gaps[1] / gaps[2]]
    ok = rel <= 1e-12 and all(1.6 <= r <= 2.4 for r in ratios)
    floors = {n: bias_floor(GAUSSIAN_COV, LocalizationGrid.uniform(10.0, n)) for n in (32, 64)}
    detail = (f"mean exact on a 3-step symbolic grid; one-step variance error -h^2 lam/(1+t lam);"
              f" c = {sp.factor(c)}, output bias coefficient {sp.factor(c_out)}; "
              f"gaussian_chain_moments vs exact rationals: relative error {rel:.2e} (<= 1e-12); "
              f"|bias/(c h) - 1| for N = 64, 128, 256: {', '.join(f'{g:.3g}' for g in gaps)} "
              f"(halving ratios {ratios[0]:.2f}, {ratios[1]:.2f}, required in [1.6, 2.4]); "
              "bias floor of the continuous tests (catalogue Gaussian, T = 10), output "
              "variance per eigen-direction: " + "; ".join(
                  f"N = {n}: {', '.join(f'{v:.3g}' for v in f)}" for n, f in floors.items()))
    return Finding(residuals, numeric_ok=ok, detail=detail)


def chain_certificate(moments: Callable[..., Any] = gaussian_chain_moments) -> Certificate:
    """Certificate: the Euler chain's moments for a Gaussian target, derived
    symbolically, cross-check ``moments`` (default :func:`verify.gaussian_chain_moments`),
    and the leading order of the discretisation bias is ``c h``.

    Examples
    --------
    >>> chain_certificate().outcome  # doctest: +SKIP
    'proved'
    """
    return certify(
        "gaussian-chain-moments",
        "the Euler localization chain for a Gaussian target has exact mean t_k m, one-step "
        "variance error -h^2 lam/(1+t lam) and variance bias -((1+T lam)^2-1)/2 h + O(h^2); "
        "gaussian_chain_moments equals the exact recursion",
        lambda: _chain_finding(moments),
    )
