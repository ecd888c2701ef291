"""Item 4: the closed-form diffusion oracles derived symbolically and cross-checked.

For a prior ``p`` (a Gaussian mixture in 1-D or 2-D, or a finite set), with
``x_t = t Y + B_t``:

* the density ``p_t(x) = int p(y) N(x; t y, t I) dy`` and the conditional mean
  ``f(t, x) = int y p(y) N(x; t y, t I) dy / p_t(x)`` are derived from the definition
  (for a mixture, one coordinate of ``y`` at a time by the Gaussian integrals of
  :func:`gaussian_lemma`, themselves proved by ``sympy.integrate``; for a finite set,
  the sum), with the
  prior's parameters as exact rationals (those of the model, recovered exactly from
  its floats) and ``t``, ``x`` symbolic;
* Tweedie's identity ``f(t, x) = x / t + grad log p_t(x)`` is proved symbolically
  (the residual simplifies to 0); this is the score the code uses,
  ``score = f - x / t``, i.e. ``f = (x + t grad log p_t(x)) / t``;
* ``f``, the score ``grad log p_t`` and ``log p_t`` are ``lambdify``-ed (mpmath, 30
  digits) and compared with the model's ``denoise``, ``score`` and ``log_density`` at
  random points (``t`` in [0.1, 4], ``x`` in the bulk): the relative error of each
  must be at most ``1e-12``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from distributions.diffusion import FiniteSet, GaussianMixture
from distributions.errors import ParameterError
from verify.symbolic.certificate import Certificate, Finding, certify

__all__ = ["oracle_certificate", "gaussian_lemma", "RELATIVE_TOL"]

#: Relative agreement required between the lambdified formulas and the model.
RELATIVE_TOL: float = 1e-12

_T = sp.Symbol("t", positive=True)


def _exact(v: float) -> sp.Rational:
    """The float ``v`` as the rational it is exactly (no rounding)."""
    f = Fraction(float(v))
    return sp.Rational(f.numerator, f.denominator)


_A = sp.Symbol("A", positive=True)
_B = sp.Symbol("B", real=True)
_U = sp.Symbol("u", real=True)


def gaussian_lemma() -> list[sp.Expr]:
    """Residuals of the Gaussian integrals the derivation uses, by ``sympy.integrate``:
    ``int exp(-A u^2/2 + B u) du = sqrt(2 pi / A) exp(B^2 / (2A))`` and
    ``int u exp(-A u^2/2 + B u) du = (B / A) sqrt(2 pi / A) exp(B^2 / (2A))``."""
    g = sp.sqrt(2 * sp.pi / _A) * sp.exp(_B**2 / (2 * _A))
    e = sp.exp(-_A * _U**2 / 2 + _B * _U)
    return [sp.simplify(sp.integrate(e, (_U, -sp.oo, sp.oo), conds="none") - g),
            sp.simplify(sp.integrate(_U * e, (_U, -sp.oo, sp.oo), conds="none") - _B / _A * g)]


def _integrate(prefactor: sp.Expr, exponent: sp.Expr, v: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """``int prefactor * exp(exponent) dv`` over the line by the lemma, for ``exponent``
    quadratic in ``v`` with a negative leading coefficient and ``prefactor`` of degree
    <= 1 in ``v``: ``(new prefactor, new exponent)``."""
    q = sp.Poly(sp.expand(exponent), v)
    pf = sp.Poly(sp.expand(prefactor), v)
    if q.degree() != 2 or pf.degree() > 1:
        raise RuntimeError(f"not a Gaussian integral in {v}: {exponent}")
    a = sp.factor(-2 * q.coeff_monomial(v**2))
    if a.is_positive is not True:
        raise RuntimeError(f"the quadratic coefficient {-a / 2} is not proved negative")
    b, c = q.coeff_monomial(v), q.coeff_monomial(1)
    p0, p1 = pf.coeff_monomial(1), pf.coeff_monomial(v)
    return (sp.expand((p0 + p1 * b / a) * sp.sqrt(2 * sp.pi / a)),
            sp.expand(b**2 / (2 * a) + c))


def _derive(model: Any, dim: int) -> tuple[list[sp.Symbol], sp.Expr, list[sp.Expr]]:
    """``x`` symbols, ``p_t(x)`` and the numerators ``int y_i p(y) N(x; ty, t) dy``."""
    x = sp.symbols(f"x0:{dim}", real=True)
    y = sp.symbols(f"y0:{dim}", real=True)
    X, Y = sp.Matrix(x), sp.Matrix(y)
    lik_c = 1 / sp.sqrt((2 * sp.pi * _T) ** dim)
    lik_e = -((X - _T * Y).T * (X - _T * Y))[0, 0] / (2 * _T)
    dens, nums = sp.Integer(0), [sp.Integer(0)] * dim
    if isinstance(model, FiniteSet):
        for w, pt in zip(model.weights, model.points, strict=True):
            at = {y[i]: _exact(pt[i]) for i in range(dim)}
            term = _exact(w) * lik_c * sp.exp(lik_e.subs(at))
            dens += term
            nums = [nums[i] + at[y[i]] * term for i in range(dim)]
        return list(x), dens, nums
    covs = np.asarray(model.covs)
    for k, w in enumerate(model.weights):
        if model.kind == "full":
            cov = sp.Matrix(dim, dim, [_exact(v) for v in covs[k].ravel()])
        elif model.kind == "diagonal":
            cov = sp.diag(*[_exact(v) for v in covs[k]])
        else:
            cov = _exact(covs[k]) * sp.eye(dim)
        r = Y - sp.Matrix([_exact(v) for v in model.means[k]])
        coef = _exact(w) * lik_c / sp.sqrt((2 * sp.pi) ** dim * cov.det())
        expo = lik_e - (r.T * cov.inv() * r)[0, 0] / 2
        for pre, target in [(sp.Integer(1), -1)] + [(y[i], i) for i in range(dim)]:
            pf, ex = pre, expo
            for v in y:
                pf, ex = _integrate(pf, ex, v)
            val = coef * pf * sp.exp(ex)
            if target < 0:
                dens += val
            else:
                nums[target] += val
    return list(x), dens, nums


def _reduce(e: sp.Expr) -> sp.Expr:
    r = sp.cancel(sp.expand(sp.together(e)))
    return r if r == 0 else sp.simplify(r)


def _oracle_finding(model: Any, num_points: int, seed: int) -> Finding:
    dim = int(model.dim)
    x, dens, nums = _derive(model, dim)
    f = [n / dens for n in nums]
    log_p = sp.log(dens)
    score = [sp.diff(log_p, v) for v in x]
    tweedie = [_reduce(f[i] - x[i] / _T - score[i]) for i in range(dim)]
    tweedie += gaussian_lemma() if isinstance(model, GaussianMixture) else []
    fn_f = sp.lambdify([_T, *x], f, "mpmath")
    fn_s = sp.lambdify([_T, *x], score, "mpmath")
    fn_l = sp.lambdify([_T, *x], log_p, "mpmath")
    gen = np.random.default_rng(seed)
    t = gen.uniform(0.1, 4.0, num_points)
    pts = gen.normal(0.0, 1.0, (num_points, dim)) * (1.0 + t[:, None]) + t[:, None] * np.asarray(
        model.prior_mean)
    got_f = model.denoise(t, pts)
    got_s = model.score(t, pts)
    got_l = model.log_density(t, pts)
    worst = {"denoise": 0.0, "score": 0.0, "log_density": 0.0}
    for i in range(num_points):
        with mpmath.workdps(30):
            args = [mpmath.mpf(float(t[i]))] + [mpmath.mpf(float(v)) for v in pts[i]]
            refs = (fn_f(*args), fn_s(*args), [fn_l(*args)])
        for key, ref, got in zip(("denoise", "score", "log_density"), refs,
                                 (got_f[i], got_s[i], [got_l[i]]), strict=True):
            ref_v = np.array([float(v) for v in ref])
            gap = np.linalg.norm(np.asarray(got) - ref_v)
            err = float(gap / max(np.linalg.norm(ref_v), 1e-300))
            worst[key] = max(worst[key], err)
    ok = all(v <= RELATIVE_TOL for v in worst.values())
    detail = (f"Tweedie residual {tweedie}; largest relative error over {num_points} random "
              f"points (seed {seed}): " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
              + f" (tolerance {RELATIVE_TOL:g})")
    return Finding(tweedie, numeric_ok=ok, detail=detail)


def oracle_certificate(model: GaussianMixture | FiniteSet, *, name: str, num_points: int = 20,
                       seed: int = 0) -> Certificate:
    """Certificate: ``f``, the score and ``log p_t`` of ``model`` derived from their
    definitions, Tweedie's identity proved, and the model's oracle equal to them to
    :data:`RELATIVE_TOL` at ``num_points`` random points.

    Parameters
    ----------
    model : GaussianMixture or FiniteSet
        In 1-D or 2-D; its float parameters are used as the exact rationals they are.
    name : str
    num_points : int, default 20
    seed : int, default 0
        Seed of the random points.

    Examples
    --------
    >>> gm = GaussianMixture([0.25, 0.75], [[-1.0], [2.0]], [0.5, 1.5])
    >>> oracle_certificate(gm, name="gm-1d", num_points=5).outcome  # doctest: +SKIP
    'proved'
    """
    if not isinstance(model, GaussianMixture | FiniteSet):
        raise ParameterError(
            f"`model` must be a GaussianMixture or a FiniteSet; got {type(model).__name__}."
        )
    if int(model.dim) not in (1, 2):
        raise ParameterError(f"`model.dim` must be 1 or 2; got {model.dim}.")
    if not isinstance(num_points, int) or num_points < 1:
        raise ParameterError(f"`num_points` must be an integer >= 1; got {num_points!r}.")
    return certify(
        name,
        f"f(t, x) = E[Y | tY + B_t = x] and Tweedie's identity f = x/t + grad log p_t for "
        f"{type(model).__name__} in {model.dim}-D, derived from the definition; denoise, "
        f"score and log_density agree with them to {RELATIVE_TOL:g} relative",
        lambda: _oracle_finding(model, num_points, seed),
    )
