"""The audit of a diffusion oracle (a conditional-mean denoiser): contract (shape,
dtype, finiteness, unchanged input), determinism, batch invariance, the tower property
on simulated localization paths, and agreement with a reference denoiser.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from distributions.base import DiffusionOracle
from verify.audit.contract import (
    _batch_invariance,
    _batch_shapes,
    _call,
    _call_eps,
    _max_diff,
    agree_tol,
)
from verify.audit.result import _Auditor

#: Tolerance on ``|f - f_ref| / (1 + |f_ref|)`` against a reference denoiser.
REFERENCE_TOL: float = 1e-6


def _audit_diffusion(a: _Auditor, oracle: DiffusionOracle, reference: DiffusionOracle | None,
                     num_contexts: int, gen: np.random.Generator) -> dict[str, Any]:
    """Every diffusion rule but the sampler runs, on ``num_contexts`` inputs ``(t, x)``
    spread over six times; returns the tower and reference figures."""
    dim = int(oracle.dim)
    B = num_contexts
    ts = np.array([1e-3, 0.1, 0.5, 1.0, 4.0, 20.0])
    t = ts[np.arange(B) % ts.size]
    x = np.sqrt(t + t * t)[:, None] * gen.standard_normal((B, dim))

    def fmt_query(b: int, k: tuple[int, ...] | None = None) -> dict[str, Any]:
        return {"method": "denoise", "t": float(t[b]), "x": [float(v) for v in x[b]]}

    t_in, x_in = t.copy(), x.copy()
    out, err, eps = _call_eps(oracle.denoise, t_in, x_in)
    if err is not None:
        for b in range(B):
            _, e = _call(oracle.denoise, t[b:b + 1].copy(), x[b:b + 1].copy())
            if e is not None:
                a.add("contract.raises", False, f"denoise raised {e}", query=fmt_query(b))
                return {}
        a.add("contract.raises", False, f"denoise raised {err} on a batch of {B}")
        return {}
    a.ok("contract.raises")
    if not (np.array_equal(t_in, t) and np.array_equal(x_in, x)):
        a.add("contract.input", False, "denoise modified its input arrays", query=fmt_query(0))
    else:
        a.ok("contract.input")
    assert out is not None
    if out.shape != (B, dim):
        a.add("contract.shape", False, f"denoise answer to a batch of {B} has shape "
              f"{out.shape}; expected {(B, dim)}", query=fmt_query(0))
        return {}
    for size in _batch_shapes(B)[1:]:  # one input alone, half the batch
        got, _ = _call(oracle.denoise, t[:size].copy(), x[:size].copy())
        if got is None or got.shape == (size, dim):
            continue
        hint = (": the batch axis is dropped for a batch of one input (e.g. by np.squeeze); "
                "keep the leading axis of size 1") if size == 1 and got.shape == (dim,) else ""
        a.add("contract.shape", False, f"denoise answer to a batch of {size} has shape "
              f"{got.shape}; expected {(size, dim)}{hint}",
              query={**fmt_query(0), "batch_size": size})
        return {}
    a.ok("contract.shape", f"batches of {', '.join(map(str, _batch_shapes(B)))} inputs")
    if out.dtype.kind != "f":
        a.add("contract.dtype", False, f"denoise dtype is {out.dtype}, not floating",
              query=fmt_query(0))
    else:
        a.ok("contract.dtype")
    bad = ~np.isfinite(out.astype(np.float64))
    if bad.any():
        b = int(np.argmax(bad.any(axis=1)))
        a.add("contract.finite", False, f"denoise returned {out[b].tolist()} "
              f"({int(bad.any(axis=1).sum())} of {B} inputs non-finite)", query=fmt_query(b))
        return {}
    a.ok("contract.finite", f"all {B} inputs")

    def call(tt: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return oracle.denoise(tt, xx)

    # answers that must agree, to the rounding of their dtype relative to their size
    tol = agree_tol(eps, dim, float(np.max(np.abs(out.astype(np.float64)))))
    out2, err = _call(oracle.denoise, t.copy(), x.copy())
    d, k = _max_diff(out, out2) if err is None else (math.inf, None)
    if d > tol:
        a.add("determinism", False, f"the same call twice differs by up to {d:.3g} "
              f"(tolerance {tol:.3g})" if err is None else f"second call raised {err}",
              query=fmt_query(k[0] if k else 0), value=d)
    else:
        a.ok("determinism", value=d)
    _batch_invariance(a, lambda xx, tt: oracle.denoise(tt, xx), x, out, gen, fmt_query,
                      extra=(t,), tol=tol)
    if a.has_errors:
        return {}
    info = _tower(a, oracle, gen)
    if reference is not None:
        if getattr(reference, "dim", None) != dim:
            a.add("reference", False, f"reference has dim={getattr(reference, 'dim', None)}; "
                  f"the oracle has dim={dim}")
        else:
            ref = np.asarray(reference.denoise(t.copy(), x.copy()), dtype=np.float64)
            err_n = np.linalg.norm(out - ref, axis=1) / (1.0 + np.linalg.norm(ref, axis=1))
            b = int(np.argmax(err_n))
            mx, mean = float(err_n[b]), float(err_n.mean())
            info["reference"] = {"max_rel_err": mx, "mean_rel_err": mean}
            if mx > REFERENCE_TOL:
                a.add("reference", False, f"denoise differs from the reference: max "
                      f"|f - f_ref| / (1 + |f_ref|) = {mx:.4g} (mean {mean:.3g}) at t={t[b]:g}",
                      query=fmt_query(b), value=mx)
            else:
                a.ok("reference", f"max relative error {mx:.3g}", value=mx)
    else:
        a.skip("reference", "no reference oracle given")
    return info



def _tower(a: _Auditor, oracle: DiffusionOracle, gen: np.random.Generator) -> dict[str, Any]:
    """E[f(t, X_t) | X_s] = f(s, X_s) along localization paths dX = f(t, X) dt + dW."""
    dim = int(oracle.dim)
    s, t_end, starts, paths = 0.5, 1.5, 4, 1500
    steps_to_s, steps = 50, 100
    # starting points: Euler paths from 0 to s
    xs = np.zeros((starts, dim))
    h = s / steps_to_s
    for k in range(steps_to_s):
        tt = np.full(starts, max(k * h, 1e-9))
        xs = xs + np.asarray(oracle.denoise(tt, xs)) * h + math.sqrt(h) * gen.standard_normal(
            xs.shape)
    f_s = np.asarray(oracle.denoise(np.full(starts, s), xs))
    X = np.repeat(xs, paths, axis=0)
    h = (t_end - s) / steps
    for k in range(steps):
        tt = np.full(X.shape[0], s + k * h)
        X = X + np.asarray(oracle.denoise(tt, X)) * h + math.sqrt(h) * gen.standard_normal(
            X.shape)
    f_t = np.asarray(oracle.denoise(np.full(X.shape[0], t_end), X)).reshape(starts, paths, dim)
    mean = f_t.mean(axis=1)
    se = f_t.std(axis=1, ddof=1) / math.sqrt(paths)
    gap = np.abs(mean - f_s)
    # allowance: 5 standard errors plus the Euler scheme's O(h) bias
    allow = 5.0 * se + 0.05 * (1.0 + np.abs(f_s))
    ratio = gap / allow
    b, c = (int(v) for v in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
    info = {"tower": {"s": s, "t": t_end, "paths": paths, "starts": starts,
                      "max_gap": float(gap.max()), "max_ratio": float(ratio.max())}}
    if ratio[b, c] > 1.0:
        a.add("diffusion.tower", False,
              f"E[f({t_end:g}, X_{t_end:g}) | X_{s:g}] = {mean[b, c]:.4g} but f({s:g}, X_{s:g}) = "
              f"{f_s[b, c]:.4g} (coordinate {c}, s.e. {se[b, c]:.2g}, {paths} Euler paths of "
              f"{steps} steps): f(t, X_t) is not a martingale",
              query={"method": "denoise", "t": s, "x": [float(v) for v in xs[b]],
                     "then_t": t_end}, value=float(gap[b, c]))
    else:
        a.ok("diffusion.tower", f"max gap {gap.max():.3g} within allowance", value=gap.max())
    return info
