"""Products and mixtures of products (exact conditionals, no table)."""

from __future__ import annotations

from typing import Any

import numpy as np

from distributions._numerics import (
    exp_neg,
    logsumexp,
)
from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.scalable._common import (
    _CHUNK_ELEMS,
    _categorical_rows,
    _exclusive_cumsum,
    _ScalableOracle,
    _softmax_rows,
)
from distributions.validation import check_int, check_probability_array


# ======================================================================= mixtures
class MixtureOfProducts(_ScalableOracle):
    """Mixture of product laws: ``mu(x) = sum_k w_k prod_i p_k(i, x_i)``.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative mixture weights with a positive sum (normalised).
    probs : array_like, shape (K, n, q)
        Non-negative; every row ``probs[k, i]`` has a positive sum (normalised).
        ``q >= 2``, ``n >= 1``.

    Notes
    -----
    The conditional at a masked position is ``sum_k post_k(x) p_k(i, .)`` with the
    posterior ``post_k ∝ w_k prod_{j unmasked} p_k(j, x_j)`` computed in log space:
    ``O(n K)`` per context. Along a chain the log-likelihoods of the revealed values
    are accumulated with a cumulative sum: ``O(n K + L K q)`` per context. Zero
    entries of ``probs`` make zero-probability contexts (all-zero rows).
    """

    def __init__(self, weights: Any, probs: Any) -> None:
        w = check_probability_array("weights", weights, ndim=1)
        p = check_probability_array("probs", probs, ndim=3)
        self._setup(w, p)

    def _setup(self, w: np.ndarray, p: np.ndarray) -> None:
        K, n, q = p.shape
        if w.shape[0] != K:
            raise ParameterError(
                f"`weights` must have shape ({K},) to match `probs` of shape {p.shape}; "
                f"got shape {w.shape}."
            )
        if q < 2:
            raise ParameterError(f"`probs` must have q = shape[-1] >= 2; got shape {p.shape}.")
        if not (w > 0).any():
            raise ParameterError(f"`weights` must have a positive sum; got {float(w.sum())!r}.")
        alive = (p > 0).any(axis=-1)
        if not alive.all():
            where = tuple(int(i) for i in np.argwhere(~alive)[0])
            raise ParameterError(
                f"`probs` rows must have a positive sum; got row {where} summing to 0."
            )
        self.n: int = n
        self.q: int = q
        self.K: int = K
        # normalised in log space: weights of any finite magnitude (1e308 or
        # subnormal) neither overflow the sums nor lose their ratios
        with np.errstate(divide="ignore"):
            logw, logp = np.log(w), np.log(p)
        self._logw = logw - logsumexp(logw)
        self._logp = logp - logsumexp(logp, axis=-1, keepdims=True)
        self.weights = exp_neg(self._logw)
        self.component_probs = exp_neg(self._logp)
        self._full_support = bool((self.component_probs > 0).all())
        self._logp_cells = self._logp.reshape(K, n * q)
        self._logp_ext = np.concatenate([self._logp, np.zeros((K, n, 1))], axis=-1).reshape(K, -1)
        cdf = np.cumsum(self.component_probs, axis=-1)
        self._cdf = cdf
        self._last = (q - 1) - np.argmax(self.component_probs[..., ::-1] > 0, axis=-1)
        self._wcdf = np.cumsum(self.weights)
        self._wlast = (K - 1) - int(np.argmax(self.weights[::-1] > 0))

    # ---------------------------------------------------------------- internals
    def _base_loglik(self, ctx: np.ndarray) -> np.ndarray:
        """``log w_k + sum_{j unmasked} log p_k(j, x_j)``, shape (B, K).

        For one component without zero entries (a full-support product) every
        context has the same posterior, so only a finite placeholder is returned.
        """
        B = ctx.shape[0]
        if self.K == 1 and self._full_support:
            return np.zeros((B, 1))
        flat = ctx.reshape(-1)
        pinned = flat != MASK
        out = np.empty((B, self.K))
        if 4 * int(np.count_nonzero(pinned)) < flat.size:
            # sparse contexts: gather only the pinned entries and add them up per row
            nz = np.flatnonzero(pinned)
            row = nz // self.n
            cell = (nz - row * self.n) * self.q + flat[nz]
            for k in range(self.K):
                w = np.take(self._logp_cells[k], cell)
                out[:, k] = np.bincount(row, weights=w, minlength=B)
        else:
            # dense contexts: one gather per component from (n, q + 1) tables whose last
            # column (log 1 = 0) stands for MASK
            idx = np.where(ctx == MASK, self.q, ctx) + np.arange(self.n) * (self.q + 1)
            for k in range(self.K):
                out[:, k] = np.take(self._logp_ext[k], idx).sum(axis=1)
        return out + self._logw

    def _masked_conditionals(self, ctx: np.ndarray) -> np.ndarray:
        post = _softmax_rows(self._base_loglik(ctx))
        with np.errstate(under="ignore"):  # products below 1e-308: correctly rounded
            return np.einsum("bk,kiv->biv", post, self.component_probs)

    def _positional(
        self, ctx: np.ndarray, pos: np.ndarray, vals: np.ndarray | None
    ) -> np.ndarray:
        base = self._base_loglik(ctx)  # (B, K)
        if vals is None:
            post = _softmax_rows(base)[:, None, :]  # (B, 1, K)
        else:
            step = np.stack([self._logp[k][pos, vals] for k in range(self.K)], axis=-1)
            post = _softmax_rows(base[:, None, :] + _exclusive_cumsum(step, axis=1))
        out = np.zeros(pos.shape + (self.q,))
        with np.errstate(under="ignore"):  # products below 1e-308: correctly rounded
            for k in range(self.K):
                out += post[..., k, None] * self.component_probs[k][pos]
        return out

    def _log_pmf(self, x: np.ndarray) -> np.ndarray:
        cols = np.arange(self.n)
        ll = np.stack([self._logp[k][cols, x].sum(axis=1) for k in range(self.K)], axis=1)
        return logsumexp(ll + self._logw, axis=1)

    def _log_pmf_table(self) -> np.ndarray:
        """Per component, ``sum_i log p_k(i, x_i)`` by outer sums digit by digit;
        then a log-sum-exp over the components (running, so memory ``O(q**n)``)."""
        total: np.ndarray | None = None
        for k in range(self.K):
            lk = np.zeros(1)
            for i in range(self.n):
                lk = (lk[:, None] + self._logp[k, i][None, :]).reshape(-1)
            lk = lk + self._logw[k]
            with np.errstate(under="ignore"):  # log1p(exp(-large)): negligible, rounded
                total = lk if total is None else np.logaddexp(total, lk)
        assert total is not None
        return total

    # ---------------------------------------------------------------- sampling
    def sample(self, num: int, *, rng: Any = None) -> np.ndarray:
        """Exact iid samples, shape (num, n)."""
        num = check_int("num", num, low=0)
        gen = np.random.default_rng(rng)
        comp = _categorical_rows(self._wcdf, np.asarray(self._wlast), gen.random(num))
        out = np.empty((num, self.n), dtype=np.int64)
        chunk = max(1, _CHUNK_ELEMS // (self.n * self.q))
        for s in range(0, num, chunk):
            c = comp[s : s + chunk]
            u = gen.random((c.shape[0], self.n))
            out[s : s + chunk] = _categorical_rows(self._cdf[c], self._last[c], u)
        return out

    def __repr__(self) -> str:
        return f"MixtureOfProducts(K={self.K}, n={self.n}, q={self.q})"


class Product(MixtureOfProducts):
    """Product law ``mu(x) = prod_i p(i, x_i)``.

    Parameters
    ----------
    probs : array_like, shape (n, q)
        Non-negative; every row has a positive sum (normalised). ``q >= 2``.

    Notes
    -----
    Conditionals equal ``probs`` at masked positions, unless the context pins a
    value of probability zero: then the context is impossible and its masked rows
    are all zero.
    """

    def __init__(self, probs: Any) -> None:
        p = check_probability_array("probs", probs, ndim=2)
        self._setup(np.ones(1), p[None])

    @property
    def probs(self) -> np.ndarray:
        """The normalised ``(n, q)`` table of marginals."""
        return self.component_probs[0]

    def __repr__(self) -> str:
        return f"Product(n={self.n}, q={self.q})"
