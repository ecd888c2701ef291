"""Item 3: the reflection maximal coupling and the discrete Girsanov ratio, symbolically.

* :func:`acceptance_certificate`: the per-step acceptance of the speculative
  diffusion sampler, derived from its real ``log_accept`` step (traced on a symbolic
  noise ``z`` in 2-D with ``D = (d, 0)``, ``d > 0``: the Gaussian is rotation
  invariant), integrated against the standard normal, equals ``2 Phi(-|D| / 2)`` (the
  formula :func:`verify.check_speculative_acceptance` assumes), and so does the
  overlap ``int min(phi(z), phi(z - D)) dz`` of the two Gaussians (the acceptance of
  the maximal coupling).
* :func:`reflection_certificate`: the real ``reflect`` step, in 3-D with a symbolic
  unit vector ``e``, is linear with determinant -1, an involution, and preserves
  ``|z|^2`` (so the standard Gaussian).
* :func:`girsanov_certificate`: the difference of the real ``path_loglik`` of the
  target drifts and of the frozen drift equals the log ratio of the Gaussian
  transition densities ``N(x_j + h_j F_j, h_j I)`` and ``N(x_j + h_j m_a, h_j I)`` of a
  two-step path in 2-D, for all drifts, increments and steps.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from distributions.errors import ParameterError
from samplers.diffusion import AutospecDiffusionSteps, SpeculativeDiffusionSteps
from verify.symbolic.certificate import Certificate, Finding, certify
from verify.symbolic.traced import Guards, Traced, prove_guards, subs_guard

__all__ = ["acceptance_certificate", "reflection_certificate", "girsanov_certificate",
           "normal_cdf"]

_Z1, _Z2 = sp.symbols("z1 z2", real=True)
_D = sp.Symbol("d", positive=True)
_S = sp.Symbol("s", positive=True)


def normal_cdf(x: sp.Expr) -> sp.Expr:
    """``Phi(x) = (1 + erf(x / sqrt 2)) / 2``."""
    return (1 + sp.erf(x / sp.sqrt(2))) / 2


def _phi(z: sp.Expr) -> sp.Expr:
    return sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)


def _check(steps: object, kind: type) -> object:
    steps = kind() if steps is None else steps
    if not isinstance(steps, kind):
        raise ParameterError(f"`steps` must be a {kind.__name__} instance; got "
                             f"{type(steps).__name__}.")
    return steps


def _traced_accept(steps: SpeculativeDiffusionSteps, z1: float) -> tuple[sp.Expr, Guards]:
    guards = Guards()
    wit = {_D: 1.0, _Z1: z1, _Z2: 0.3}

    def w(e: sp.Expr) -> float:
        return float(sp.sympify(e).subs(wit).evalf())

    z = Traced.of([[_Z1, _Z2]], w, guards)
    dvec = Traced.of([[_D, 0]], w, guards)
    return sp.sympify(steps.log_accept(z, dvec).exprs()[0]), guards


def _acceptance_finding(steps: SpeculativeDiffusionSteps) -> Finding:
    left, gl = _traced_accept(steps, -50.0)
    right, gr = _traced_accept(steps, 50.0)
    if sp.simplify(left - right) == 0:
        accept = sp.integrate(sp.exp(left) * _phi(_Z1), (_Z1, -sp.oo, sp.oo))
        pieces = [(left, gl)]
        blockers = prove_guards(gl.items)
    else:
        roots = sp.solve(sp.Eq(left, right), _Z1)
        if len(roots) != 1:
            return Finding([left - right], blocker=f"branch switch points {roots}")
        z0 = roots[0]
        # the branch taken at each witness, proved on its whole side of the switch
        blockers = prove_guards([subs_guard(g, _Z1, z0 - _S) for g in gl.items]
                                + [subs_guard(g, _Z1, z0 + _S) for g in gr.items])
        pieces = [(left, gl), (right, gr)]
        accept = (sp.integrate(sp.exp(left) * _phi(_Z1), (_Z1, -sp.oo, z0))
                  + sp.integrate(sp.exp(right) * _phi(_Z1), (_Z1, z0, sp.oo)))
    accept = sp.integrate(accept * _phi(_Z2), (_Z2, -sp.oo, sp.oo))
    target = 2 * normal_cdf(-_D / 2)
    overlap = (sp.integrate(_phi(_Z1 - _D), (_Z1, -sp.oo, _D / 2))
               + sp.integrate(_phi(_Z1), (_Z1, _D / 2, sp.oo)))
    res = [sp.simplify((accept - target).rewrite(sp.erf)),
           sp.simplify((overlap - target).rewrite(sp.erf))]
    return Finding(res, detail=f"{len(pieces)} branch(es) of log_accept; acceptance "
                               f"{sp.simplify(accept)}",
                   blocker=f"branch condition {blockers[0]}" if blockers else "")


def acceptance_certificate(steps: SpeculativeDiffusionSteps | None = None) -> Certificate:
    """Certificate: the speculative diffusion sampler's per-step acceptance, from its
    ``log_accept`` step, is ``2 Phi(-|D| / 2)``, the overlap of the two Gaussians.

    Examples
    --------
    >>> acceptance_certificate().outcome  # doctest: +SKIP
    'proved'
    """
    steps = _check(steps, SpeculativeDiffusionSteps)
    return certify(
        "reflection-coupling-acceptance",
        "E_z min(1, exp(log_accept(z, D))) = int min(phi(z), phi(z - D)) dz = 2 Phi(-|D|/2) "
        f"for all D (log_accept of {type(steps).__name__})",
        lambda: _acceptance_finding(steps),
    )


def _reflection_finding(steps: SpeculativeDiffusionSteps) -> Finding:
    a = sp.symbols("a1:4", real=True)
    norm = sp.sqrt(sum(v**2 for v in a))
    e = np.array([[v / norm for v in a]], dtype=object)
    z = np.array([sp.symbols("z1:4", real=True)], dtype=object)
    out = [sp.nsimplify(sp.expand(v), rational=True) for v in np.asarray(steps.reflect(z, e))[0]]
    zs = list(z[0])
    jac = sp.Matrix([[sp.diff(o, v) for v in zs] for o in out])
    linear = [sp.simplify(o - sum(jac[i, j] * zs[j] for j in range(3)))
              for i, o in enumerate(out)]
    twice = [sp.nsimplify(v, rational=True)
             for v in np.asarray(steps.reflect(np.array([out], dtype=object), e))[0]]
    res = linear + [
        sp.simplify(jac.det() + 1),
        sp.simplify(sum(o**2 for o in out) - sum(v**2 for v in zs)),
        *[sp.simplify(sp.expand(t - v)) for t, v in zip(twice, zs, strict=True)],
    ]
    return Finding(res, detail="3-D, e = a / |a| for a symbolic real a != 0 (every "
                               "direction)")


def reflection_certificate(steps: SpeculativeDiffusionSteps | None = None) -> Certificate:
    """Certificate: the ``reflect`` step is a linear involution of determinant -1 that
    preserves ``|z|^2`` (hence the standard Gaussian).

    Examples
    --------
    >>> reflection_certificate().outcome  # doctest: +SKIP
    'proved'
    """
    steps = _check(steps, SpeculativeDiffusionSteps)
    return certify(
        "reflection-determinant",
        f"reflect(z, e) of {type(steps).__name__} is linear, an involution, has "
        "determinant -1 and preserves |z|^2 for every unit e (3-D)",
        lambda: _reflection_finding(steps),
    )


def _girsanov_finding(steps: AutospecDiffusionSteps) -> Finding:
    L, d = 2, 2
    F = np.array([[[sp.Symbol(f"F{j}{i}", real=True) for i in range(d)] for j in range(L)]],
                 dtype=object)
    m = np.array([sp.Symbol(f"m{i}", real=True) for i in range(d)], dtype=object)
    M = np.array([[list(m) for _ in range(L)]], dtype=object)
    dx = np.array([[[sp.Symbol(f"dx{j}{i}", real=True) for i in range(d)] for j in range(L)]],
                  dtype=object)
    h = np.array([sp.Symbol(f"h{j}", positive=True) for j in range(L)], dtype=object)
    code = np.asarray(steps.path_loglik(F, dx, h))[0] - np.asarray(steps.path_loglik(M, dx, h))[0]

    def log_gauss(x: sp.Expr, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
        return -(x - mean) ** 2 / (2 * var) - sp.log(2 * sp.pi * var) / 2

    exact = sum(log_gauss(dx[0, j, i], h[j] * F[0, j, i], h[j])
                - log_gauss(dx[0, j, i], h[j] * m[i], h[j])
                for j in range(L) for i in range(d))
    return Finding([sp.simplify(sp.expand(code - exact))],
                   detail=f"path of {L} steps in {d}-D, symbolic drifts, increments, steps")


def girsanov_certificate(steps: AutospecDiffusionSteps | None = None) -> Certificate:
    """Certificate: ``path_loglik(F) - path_loglik(m_a)`` is the log ratio of the
    Gaussian transition densities of the target and the frozen-drift proposal.

    Examples
    --------
    >>> girsanov_certificate().outcome
    'proved'
    """
    steps = _check(steps, AutospecDiffusionSteps)
    return certify(
        "discrete-girsanov",
        "path_loglik(target drifts) - path_loglik(frozen drift) = log of the ratio of the "
        f"Gaussian transition densities, for all paths ({type(steps).__name__})",
        lambda: _girsanov_finding(steps),
    )
