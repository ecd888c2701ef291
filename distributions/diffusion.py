"""Diffusion targets with closed-form conditional-mean oracles (DESIGN 3.2).

Stochastic localization observes ``x_t = t Y + B_t`` (``B`` a standard Brownian
motion independent of ``Y``). The oracle is the posterior mean
``f(t, x) = E[Y | x_t = x]``; the localized law of ``x_t`` has score
``grad log p_t(x) = f(t, x) - x / t`` (Tweedie).

Two exact families:

- :class:`GaussianMixture` ``sum_k w_k N(m_k, S_k)``: ``x_t | k ~ N(t m_k, t^2 S_k + t I)``,
  ``E[Y | x, k] = (S_k^{-1} + t I)^{-1} (S_k^{-1} m_k + x)``.
- :class:`FiniteSet` ``sum_k w_k delta_{y_k}``: responsibilities
  ``softmax_k(log w_k + <y_k, x> - t |y_k|^2 / 2)``.

All computations diagonalise each covariance once (``S_k = U diag(lam) U^T``) and work
in log space with log-sum-exp responsibilities. At ``t = 0`` the oracle returns the
prior mean.

Domain (issue 18 item 18: never a silent overflow). Parameters and queries are
checked before any work against bounds under which no intermediate quantity
overflows (``t^2 lam``, ``|x - t m|^2 / var``, ``<x, y>``, ``t |y|^2`` stay below
``1e300``): ``|means|``, ``|points| <= 1e50``; covariance eigenvalues in
``[1e-50, 1e50]``; times ``t = 0`` or ``1e-50 <= t <= 1e50``; observations
``|x| <= 1e100``. Outside, :class:`ParameterError` names the argument, the bound
and the value. Inside, every answer is finite; an underflow (a term below
``1e-308``) is the correctly rounded value and silent. Responsibilities are
resolved to the float64 rounding of their log terms (``~2**-52`` times their
magnitude), which at the edges of the domain can exceed the gaps between them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from distributions._numerics import logsumexp as _logsumexp
from distributions._numerics import softmax
from distributions.errors import ParameterError
from distributions.validation import check_int

__all__ = ["GaussianMixture", "FiniteSet", "MAX_ABS_PARAM", "COV_RANGE", "T_RANGE", "MAX_ABS_X"]

_LOG2PI = float(np.log(2.0 * np.pi))
#: Tolerance on ``|sum(weights) - 1|``.
WEIGHT_SUM_TOL: float = 1e-9
#: Largest ``|entry|`` of ``means`` / ``points``.
MAX_ABS_PARAM: float = 1e50
#: Range of the covariance eigenvalues.
COV_RANGE: tuple[float, float] = (1e-50, 1e50)
#: Range of positive times (``t = 0`` is also accepted where stated).
T_RANGE: tuple[float, float] = (1e-50, 1e50)
#: Largest ``|entry|`` of an observation ``x`` or a point ``y``.
MAX_ABS_X: float = 1e100

_F = TypeVar("_F", bound=Callable[..., Any])


def _quiet_underflow(fn: _F) -> _F:
    """Run an oracle method with underflow silent: inside the domain an underflow
    is a term below 1e-308, correctly rounded to 0 or a subnormal."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(under="ignore"):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def logsumexp(a: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(a)))`` along ``axis``, stable; ``-inf`` when every entry is ``-inf``."""
    return _logsumexp(a, axis=axis, keepdims=keepdims)


# ----------------------------------------------------------------------------- validation
def _check_weights(weights: Any) -> np.ndarray:
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"`weights` must be a 1-d array of numbers; got {weights!r}.") from exc
    if w.ndim != 1 or w.size == 0:
        raise ParameterError(f"`weights` must be a non-empty 1-d array; got shape {w.shape}.")
    if not np.isfinite(w).all() or (w < 0).any():
        i = int(np.argmax(~np.isfinite(w) | (w < 0)))
        raise ParameterError(
            f"`weights` must be finite and non-negative; got {w[i]!r} at index {i}."
        )
    if abs(float(w.sum()) - 1.0) > WEIGHT_SUM_TOL:
        raise ParameterError(
            f"`weights` must sum to 1 within {WEIGHT_SUM_TOL:g}; got sum {float(w.sum())!r}."
        )
    return w


def _check_points(name: str, value: Any, k: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"`{name}` must be a 2-d array of numbers; got {value!r}.") from exc
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ParameterError(f"`{name}` must have shape (K, dim) with dim >= 1; got {arr.shape}.")
    if k is not None and arr.shape[0] != k:
        raise ParameterError(
            f"`{name}` must have one row per weight ({k}); got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise ParameterError(f"`{name}` must be finite; got a non-finite entry.")
    big = np.abs(arr) > MAX_ABS_PARAM
    if big.any():
        k, j = (int(v) for v in np.argwhere(big)[0])
        raise ParameterError(
            f"`{name}` entries must be at most {MAX_ABS_PARAM:g} in absolute value (beyond, "
            f"the oracle's log terms overflow); got {arr[k, j]!r} at ({k}, {j})."
        )
    return arr


def _check_t(t: Any, batch: int, *, positive: bool = False) -> np.ndarray:
    try:
        tt = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"`t` must be an array of times; got {t!r}.") from exc
    if tt.ndim == 0:
        tt = np.full(batch, float(tt))
    if tt.shape != (batch,):
        raise ParameterError(f"`t` must be a scalar or have shape ({batch},); got {tt.shape}.")
    bad = ~np.isfinite(tt) | ((tt <= 0) if positive else (tt < 0))
    if bad.any():
        i = int(np.argmax(bad))
        rule = "> 0" if positive else ">= 0"
        raise ParameterError(f"`t` must be finite and {rule}; got {tt[i]!r} at index {i}.")
    lo, hi = T_RANGE
    out = (tt != 0) & ((tt < lo) | (tt > hi))
    if out.any():
        i = int(np.argmax(out))
        zero = "" if positive else "0 or "
        raise ParameterError(
            f"`t` must be {zero}in [{lo:g}, {hi:g}] (beyond, the oracle's log terms overflow); "
            f"got {tt[i]!r} at index {i}."
        )
    return tt


def _check_x(x: Any, dim: int, name: str = "x") -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"`{name}` must be a float array (B, {dim}); got {x!r}.") from exc
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ParameterError(f"`{name}` must have shape (B, {dim}); got {arr.shape}.")
    if not np.isfinite(arr).all():
        b, j = (int(v) for v in np.argwhere(~np.isfinite(arr))[0])
        raise ParameterError(
            f"`{name}` must be finite (no NaN/inf); got {arr[b, j]!r} at row {b}, coordinate {j}."
        )
    big = np.abs(arr) > MAX_ABS_X
    if big.any():
        b, j = (int(v) for v in np.argwhere(big)[0])
        raise ParameterError(
            f"`{name}` entries must be at most {MAX_ABS_X:g} in absolute value (beyond, the "
            f"oracle's log terms overflow); got {arr[b, j]!r} at row {b}, coordinate {j}."
        )
    return arr


# ----------------------------------------------------------------------------- families
class GaussianMixture:
    """Mixture of Gaussians ``sum_k w_k N(m_k, S_k)`` with an exact diffusion oracle.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative, summing to 1 within 1e-9.
    means : array_like, shape (K, dim)
    covs : array_like, shape (K, dim, dim), (K, dim) or (K,)
        Full (symmetric positive definite), diagonal (positive variances) or
        isotropic (one positive variance per component) covariances.

    Examples
    --------
    >>> gm = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.1, 0.1])
    >>> gm.denoise(0.0, np.zeros((1, 1)))
    array([[0.]])
    """

    @_quiet_underflow
    def __init__(self, weights: Any, means: Any, covs: Any) -> None:
        w = _check_weights(weights)
        k = w.shape[0]
        m = _check_points("means", means, k)
        d = m.shape[1]
        try:
            c = np.asarray(covs, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"`covs` must be an array of numbers; got {covs!r}.") from exc
        if not np.isfinite(c).all():
            raise ParameterError("`covs` must be finite; got a non-finite entry.")
        if c.shape == (k,):
            kind = "isotropic"
            lam = np.repeat(c[:, None], d, axis=1)
            vecs = None
        elif c.shape == (k, d):
            kind = "diagonal"
            lam = c.copy()
            vecs = None
        elif c.shape == (k, d, d):
            kind = "full"
            asym = np.abs(c - np.swapaxes(c, 1, 2)).max(axis=(1, 2))
            scale = np.abs(c).max(axis=(1, 2))
            if (asym > 1e-10 * np.maximum(scale, 1.0)).any():
                i = int(np.argmax(asym))
                raise ParameterError(
                    f"`covs` must be symmetric; component {i} has asymmetry {asym[i]:.3g}."
                )
            c = 0.5 * (c + np.swapaxes(c, 1, 2))
            lam, vecs = np.linalg.eigh(c)
        else:
            raise ParameterError(
                f"`covs` must have shape ({k}, {d}, {d}), ({k}, {d}) or ({k},); got {c.shape}."
            )
        if not (lam > 0).all():
            i = int(np.argmin(lam.min(axis=1)))
            raise ParameterError(
                f"`covs` must be positive definite; component {i} has smallest eigenvalue "
                f"{float(lam[i].min())!r}."
            )
        lo, hi = COV_RANGE
        out = (lam < lo) | (lam > hi)
        if out.any():
            i, j = (int(v) for v in np.argwhere(out)[0])
            raise ParameterError(
                f"`covs` eigenvalues must be in [{lo:g}, {hi:g}] (beyond, the oracle's log "
                f"terms overflow); component {i} has {float(lam[i, j])!r}."
            )
        self.weights = w
        self.means = m
        self.dim: int = int(d)
        self.kind = kind
        self._lam = lam  # (K, d) eigenvalues
        self._vecs = vecs  # (K, d, d) eigenvectors (columns) or None
        self._logw = np.log(np.where(w > 0, w, 1.0)) + np.where(w > 0, 0.0, -np.inf)
        self._mrot = m.copy() if vecs is None else np.einsum("kij,ki->kj", vecs, m)
        if kind == "full":
            self.covs = c
        elif kind == "diagonal":
            self.covs = lam.copy()
        else:
            self.covs = c.copy()

    # -- eigen-coordinates ------------------------------------------------------------
    def _rotate_x(self, x: np.ndarray) -> np.ndarray:
        """``U_k^T x`` for every row and component: (B, K, d)."""
        if self._vecs is None:
            return np.broadcast_to(x[:, None, :], (x.shape[0], self._lam.shape[0], self.dim))
        return np.einsum("bi,kij->bkj", x, self._vecs)

    def _from_eig(self, z: np.ndarray) -> np.ndarray:
        """``U_k z_k`` for (B, K, d) eigen-coordinates."""
        if self._vecs is None:
            return z
        return np.einsum("kij,bkj->bki", self._vecs, z)

    def _log_resp_terms(self, t: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``log w_k + log N(x; t m_k, t^2 S_k + t I)`` for t > 0: (B, K)."""
        tt = t[:, None, None]
        var = tt * (tt * self._lam[None] + 1.0)  # (B, K, d)
        r = z - tt * self._mrot[None]
        lp = -0.5 * (np.log(var) + _LOG2PI + r * r / var).sum(axis=2)
        return self._logw[None, :] + lp

    # -- oracle -----------------------------------------------------------------------
    @property
    def prior_mean(self) -> np.ndarray:
        """``E[Y]``, shape (dim,)."""
        return self.weights @ self.means

    @_quiet_underflow
    def denoise(self, t: Any, x: Any) -> np.ndarray:
        """Posterior mean ``E[Y | t Y + B_t = x]``.

        Parameters
        ----------
        t : float or array_like, shape (B,)
            Times ``>= 0``; at ``t = 0`` the answer is the prior mean.
        x : array_like, shape (B, dim)
            Finite observations.

        Returns
        -------
        ndarray, shape (B, dim)
        """
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0])
        out = np.empty_like(x)
        zero = t == 0
        out[zero] = self.prior_mean
        pos = ~zero
        if pos.any():
            tp, xp = t[pos], x[pos]
            z = self._rotate_x(xp)
            logr = self._log_resp_terms(tp, z)
            resp = softmax(logr, axis=1)  # (B, K)
            tt = tp[:, None, None]
            lam = self._lam[None]
            cond = (self._mrot[None] + lam * z) / (1.0 + tt * lam)  # eigen coords (B, K, d)
            cond = self._from_eig(cond)
            out[pos] = np.einsum("bk,bki->bi", resp, cond)
        return out

    @_quiet_underflow
    def score(self, t: Any, x: Any) -> np.ndarray:
        """Score of the localized law, ``f(t, x) - x / t`` (Tweedie); ``t > 0``."""
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0], positive=True)
        return self.denoise(t, x) - x / t[:, None]

    @_quiet_underflow
    def log_density(self, t: Any, x: Any) -> np.ndarray:
        """Log density of ``x_t = t Y + B_t`` at ``x``; ``t > 0``. Shape (B,)."""
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0], positive=True)
        return logsumexp(self._log_resp_terms(t, self._rotate_x(x)), axis=1)

    # -- the law of Y -----------------------------------------------------------------
    def sample(self, num: int, *, rng: Any = None) -> np.ndarray:
        """``num`` independent draws of ``Y``, shape (num, dim)."""
        num = check_int("num", num, low=0)
        gen = np.random.default_rng(rng)
        comp = gen.choice(self.weights.shape[0], size=num, p=self.weights)
        z = gen.standard_normal((num, self.dim)) * np.sqrt(self._lam[comp])
        if self._vecs is not None:
            z = np.einsum("bij,bj->bi", self._vecs[comp], z)
        return self.means[comp] + z

    def _log_comp(self, y: np.ndarray) -> np.ndarray:
        z = self._rotate_x(y)
        r = z - self._mrot[None]
        lp = -0.5 * (np.log(self._lam)[None] + _LOG2PI + r * r / self._lam[None]).sum(axis=2)
        return self._logw[None, :] + lp

    @_quiet_underflow
    def logpdf(self, y: Any) -> np.ndarray:
        """Log density of ``Y`` at the rows of ``y`` (B, dim); shape (B,)."""
        y = _check_x(y, self.dim, "y")
        return logsumexp(self._log_comp(y), axis=1)

    @_quiet_underflow
    def grad_logpdf(self, y: Any) -> np.ndarray:
        """Score of the law of ``Y``: ``sum_k pi_k(y) S_k^{-1} (m_k - y)``; shape (B, dim)."""
        y = _check_x(y, self.dim, "y")
        lc = self._log_comp(y)
        resp = softmax(lc, axis=1)
        z = self._rotate_x(y)
        g = self._from_eig((self._mrot[None] - z) / self._lam[None])
        return np.einsum("bk,bki->bi", resp, g)


class FiniteSet:
    """Law on finitely many points ``sum_k w_k delta_{y_k}`` with an exact oracle.

    Parameters
    ----------
    points : array_like, shape (K, dim)
    weights : array_like, shape (K,), optional
        Non-negative, summing to 1 within 1e-9; uniform by default.
    """

    @_quiet_underflow
    def __init__(self, points: Any, weights: Any = None) -> None:
        p = _check_points("points", points)
        if weights is None:
            weights = np.full(p.shape[0], 1.0 / p.shape[0])
        w = _check_weights(weights)
        if w.shape[0] != p.shape[0]:
            raise ParameterError(
                f"`weights` must have one entry per point ({p.shape[0]}); got shape {w.shape}."
            )
        self.points = p
        self.weights = w
        self.dim: int = int(p.shape[1])
        self._logw = np.log(np.where(w > 0, w, 1.0)) + np.where(w > 0, 0.0, -np.inf)
        self._sq = (p * p).sum(axis=1)

    @property
    def prior_mean(self) -> np.ndarray:
        """``E[Y]``, shape (dim,)."""
        return self.weights @ self.points

    def _logits(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self._logw[None, :] + x @ self.points.T - 0.5 * t[:, None] * self._sq[None, :]

    @_quiet_underflow
    def denoise(self, t: Any, x: Any) -> np.ndarray:
        """Posterior mean ``E[Y | t Y + B_t = x]`` (B, dim); ``t = 0`` gives the prior mean."""
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0])
        lg = self._logits(t, x)
        lg[t == 0] = self._logw  # x_0 = 0 almost surely: the prior
        resp = softmax(lg, axis=1)
        return resp @ self.points

    @_quiet_underflow
    def score(self, t: Any, x: Any) -> np.ndarray:
        """Score of the localized law, ``f(t, x) - x / t``; ``t > 0``."""
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0], positive=True)
        return self.denoise(t, x) - x / t[:, None]

    @_quiet_underflow
    def log_density(self, t: Any, x: Any) -> np.ndarray:
        """Log density of ``x_t = t Y + B_t``: ``logsumexp_k(log w_k - |x - t y_k|^2/(2t))
        - dim/2 log(2 pi t)``; ``t > 0``. Shape (B,)."""
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0], positive=True)
        tt = t[:, None]
        # -|x - t y|^2 / (2t) = <x, y> - t|y|^2/2 - |x|^2/(2t)
        lg = self._logits(t, x) - (x * x).sum(axis=1, keepdims=True) / (2.0 * tt)
        return logsumexp(lg, axis=1) - 0.5 * self.dim * (_LOG2PI + np.log(t))

    def sample(self, num: int, *, rng: Any = None) -> np.ndarray:
        """``num`` independent draws of ``Y``, shape (num, dim)."""
        num = check_int("num", num, low=0)
        gen = np.random.default_rng(rng)
        return self.points[gen.choice(self.points.shape[0], size=num, p=self.weights)].copy()

    @_quiet_underflow
    def logpdf(self, y: Any) -> np.ndarray:
        """Log probability mass of ``y`` (exact match with a point; ``-inf`` elsewhere)."""
        y = _check_x(y, self.dim, "y")
        eq = (y[:, None, :] == self.points[None, :, :]).all(axis=2)  # (B, K)
        lw = np.where(eq, self._logw[None, :], -np.inf)
        return logsumexp(lw, axis=1)
