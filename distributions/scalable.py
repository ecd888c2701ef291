"""Scalable exact targets: exact conditionals without a table (DESIGN 3.1).

Four families, each a full :class:`~distributions.base.PositionalOracle` with exact
``conditionals``, ``conditionals_at`` (with and without ``chain_values``),
``log_pmf``, exact iid ``sample`` and, when ``q**n <= 2**20`` (the table cap of the
checks), ``pmf`` (tabulated in ``O(q**n)``):

* :class:`Product` -- independent coordinates.
* :class:`MixtureOfProducts` -- ``sum_k w_k prod_i p_k(x_i)``.
* :class:`CurieWeiss` -- mean-field Ising model, critical at ``beta = 1``.
* :class:`IsingChain` -- 1-D nearest-neighbour Ising chain (transfer matrices).

Everything is computed in log space and vectorised over the batch; nothing
underflows at ``n = 10**5`` (an ``exp`` of a log weight below ``-708`` is the
correctly rounded 0 and silent, see :mod:`distributions._numerics`). Parameters
whose log weights float64 cannot resolve to ``1e-8`` (e.g. ``IsingChain(coupling=
1e308)``, ``CurieWeiss(beta=1e308)``) are refused with :class:`ParameterError`
(bounds in each class's ``_check_resolvable``); products and mixtures normalise
in log space and accept any finite weights.

Costs per context row (``L`` = number of requested positions):

========================  ==============  ==============================
family                    ``conditionals``  ``conditionals_at`` (chain)
========================  ==============  ==============================
Product                   O(n q)          O(n + L q)
MixtureOfProducts         O(n K q)        O(n K + L K q)
CurieWeiss                O(n)            O(n + L c) [#]_
IsingChain                O(n)            O(n + L log L)
========================  ==============  ==============================

.. [#] Curie-Weiss chains read a table of ``log sum_u C(m, u) g(p + u)`` stored at
   every ``c``-th level ``m`` with ``c = ceil((n+1)**2 / 2**22)`` (at most 2**22
   entries; ``c = 1`` up to ``n = 2047``, ``c = 4`` at 4096, ``c = 64`` at 16384), built
   once, lazily (when the direct ``O(n)``-per-step work done so far would have paid
   for it), by an ``O(n**2)`` log-space Pascal recursion: 0.5 s at ``n = 4096`` and
   7 s at ``n = 16384`` on a loaded 2-core machine.
   Beyond ``n = 2**15`` the table is not built and each chain step costs ``O(n)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import expit, gammaln

from distributions._numerics import (
    LOG_WEIGHT_TOL,
    UNIT_ROUNDOFF,
    exp_neg,
    fmt_log,
    log_abs_sum,
    logsumexp,
    sigmoid_pair,
    softmax,
)
from distributions._oracle_utils import check_chain_values, check_contexts, check_positions
from distributions._validation import check_float, check_int, check_probability_array
from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.table import MAX_TABLE_SIZE

__all__ = ["Product", "MixtureOfProducts", "CurieWeiss", "IsingChain", "MAX_PMF_SIZE"]

#: Largest ``q**n`` for which :meth:`pmf` tabulates the law (the table cap of
#: :class:`~distributions.table.TableDistribution` and of the checks, 2**20).
MAX_PMF_SIZE: int = MAX_TABLE_SIZE
#: Rows of configurations per block when :meth:`pmf` tabulates.
_PMF_BLOCK: int = 2**16
#: Largest ``n`` for which :class:`CurieWeiss` builds its chain table.
_CW_TABLE_MAX_N: int = 2**15
#: Entries of the Curie-Weiss chain table (levels are spaced to stay below this).
_CW_TABLE_ELEMS: int = 2**22
#: Elements per temporary block in chunked computations.
_CHUNK_ELEMS: int = 2**23


# =========================================================================== base
class _ScalableOracle:
    """Shared validation, one-hot completion and ``pmf`` of the scalable families."""

    n: int
    q: int

    # ------------------------------------------------------------- subclass API
    def _masked_conditionals(self, ctx: np.ndarray) -> np.ndarray:
        """(B, n, q) conditionals, correct at masked positions (zero if impossible)."""
        raise NotImplementedError

    def _positional(
        self, ctx: np.ndarray, pos: np.ndarray, vals: np.ndarray | None
    ) -> np.ndarray:
        """(B, L, q) conditionals at ``pos`` (validated), chain rule along ``vals``."""
        raise NotImplementedError

    def _log_pmf(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------- public API
    def conditionals(self, x: np.ndarray) -> np.ndarray:
        """Exact conditional marginals, shape (B, n, q) (see ``DiscreteOracle``).

        A context of probability zero gets all-zero rows at its masked positions.
        """
        ctx = check_contexts(x, self.n, self.q)
        masked = ctx == MASK
        out = self._masked_conditionals(ctx)
        onehot = np.eye(self.q)[np.where(masked, 0, ctx)]
        return np.where(masked[..., None], out, onehot)

    def conditionals_at(
        self, x: np.ndarray, positions: np.ndarray, chain_values: np.ndarray | None = None
    ) -> np.ndarray:
        """Conditionals at ``positions`` (see ``PositionalOracle``), shape (B, L, q).

        Never materialises the ``(B, n, q)`` answer nor the ``B * L`` chain contexts.
        """
        ctx = check_contexts(x, self.n, self.q)
        pos = check_positions(positions, ctx)
        vals = None
        if chain_values is not None:
            vals = check_chain_values(chain_values, pos.shape, self.q)
        return self._positional(ctx, pos, vals)

    def log_pmf(self, x: np.ndarray) -> np.ndarray:
        """Natural-log probabilities of full configurations, shape (B,)."""
        arr = check_contexts(x, self.n, self.q)
        if (arr == MASK).any():
            raise ParameterError("`x` must be full configurations (no MASK entries).")
        return self._log_pmf(arr)

    def _log_pmf_table(self) -> np.ndarray:
        """``log_pmf`` of every configuration, flat C order (blocks of ``2**16`` rows).

        The families override this with an ``O(q**n)`` recursion over the digits.
        """
        n, q = self.n, self.q
        size = q**n
        out = np.empty(size)
        powers = q ** np.arange(n - 1, -1, -1, dtype=np.int64)
        for s in range(0, size, _PMF_BLOCK):
            idx = np.arange(s, min(size, s + _PMF_BLOCK), dtype=np.int64)
            out[s : s + idx.size] = self._log_pmf((idx[:, None] // powers) % q)
        return out

    def pmf(self) -> np.ndarray:
        """Exact law, flat, C order over ``(q,)*n``; when ``q**n <= 2**20``.

        ``exp(log_pmf)`` of every configuration (renormalised in log space, so it
        sums to 1 to float precision), tabulated in ``O(q**n)`` vectorised work and
        memory (a few arrays of ``q**n`` floats).

        Raises
        ------
        ParameterError
            When ``q**n > 2**20`` (use the chain-rule checks instead).
        """
        n, q = self.n, self.q
        if n * math.log2(q) > math.log2(MAX_PMF_SIZE) + 1e-9:
            size = q**n if n * math.log2(q) < 64 else None
            got = f"{q}**{n}" + (f" = {size}" if size is not None else "")
            raise ParameterError(
                f"pmf() tabulates at most {MAX_PMF_SIZE} (2**20) cells, q**n; got {got}."
            )
        # renormalised on the table itself: log Z carries the rounding of log
        # weights of large magnitude, the table's own log-sum-exp does not
        return softmax(self._log_pmf_table(), axis=0)


def _lse_rows(a: np.ndarray) -> np.ndarray:
    """``log(sum(exp(a), axis=1))`` for a 2-d array (rows of all ``-inf`` give ``-inf``)."""
    return logsumexp(a, axis=1)


def _exclusive_cumsum(a: np.ndarray, axis: int) -> np.ndarray:
    """``out[j] = sum_{i<j} a[i]`` along ``axis`` (safe with -inf entries)."""
    out = np.cumsum(a, axis=axis)
    if a.shape[axis] == 0:
        return out
    out = np.roll(out, 1, axis=axis)
    idx = [slice(None)] * a.ndim
    idx[axis] = 0
    out[tuple(idx)] = 0
    return out


def _softmax_rows(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax; an all ``-inf`` slice gives all zeros (a zero-probability context)."""
    return softmax(logits, axis=axis)


def _categorical_rows(cdf: np.ndarray, last: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw per row: ``cdf`` (..., q), ``last`` index of the last positive cell."""
    idx = (cdf <= (u * cdf[..., -1])[..., None]).sum(axis=-1)
    return np.minimum(idx, last).astype(np.int64)


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


# ==================================================================== Curie-Weiss
class CurieWeiss(_ScalableOracle):
    """Curie-Weiss (mean-field Ising) law on ``{0, 1}^n``.

    ``mu(x) ∝ exp(beta / (2 n) * S**2 + h * S)`` with ``S = sum_i s_i`` and spins
    ``s = 2x - 1``; critical at ``beta = 1``.

    Parameters
    ----------
    n : int
        ``n >= 1``.
    beta : float
        Finite inverse temperature (``beta < 0`` is antiferromagnetic).
    h : float, default 0.0
        Finite external field.

    Notes
    -----
    The law is exchangeable, so a context enters only through ``p`` (pinned +1
    spins) and ``f`` (free spins). With ``g(k) = exp(beta/(2n) (2k - n)**2 + h (2k - n))``
    and ``Z(p, m) = log sum_u C(m, u) g(p + u)``, a free spin is +1 with probability
    ``sigmoid(Z(p + 1, f - 1) - Z(p, f - 1))``. ``Z`` is an ``O(n)`` log-sum-exp;
    chains read a sqrt-decomposed table of ``Z`` (see the module notes).
    """

    def __init__(self, n: int, beta: float, h: float = 0.0) -> None:
        self.n: int = check_int("n", n, low=1)
        self.q: int = 2
        self.beta: float = check_float("beta", beta)
        self.h: float = check_float("h", h)
        self._check_resolvable()
        k = np.arange(self.n + 1, dtype=np.float64)
        mag = 2.0 * k - self.n
        with np.errstate(under="ignore"):  # a log-weight term below 1e-308 is negligible
            self._phi = self.beta / (2.0 * self.n) * mag**2 + self.h * mag
        self._logfact = gammaln(np.arange(self.n + 2, dtype=np.float64) + 1.0)
        self._log_count_law = self._logC(self.n, np.arange(self.n + 1)) + self._phi
        self._logZ = float(logsumexp(self._log_count_law))
        self._table: np.ndarray | None = None
        self._direct_work = 0
        self._step = max(1, -(-((self.n + 1) ** 2) // _CW_TABLE_ELEMS))

    def _check_resolvable(self) -> None:
        """Refuse ``(beta, h, n)`` whose log weights float64 cannot resolve.

        ``phi(k)`` has magnitude up to ``S = |beta| n / 2 + |h| n`` and the binomial
        terms up to ``G = log Gamma(n + 2)``; the log weights are then off by at most
        ``2**-53 (8 S + 4 G)`` (first order), which must be ``<= 1e-8``.
        """
        n = self.n
        log_s = log_abs_sum(np.array([self.beta / 2.0, self.h])) + math.log(n)
        log_g = math.log(4.0 * float(gammaln(n + 2.0)))
        a, b = math.log(8.0) + log_s, log_g  # log(e**a + e**b), b finite
        log_bound = math.log(UNIT_ROUNDOFF) + max(a, b) + math.log1p(math.exp(-abs(a - b)))
        if log_bound > math.log(LOG_WEIGHT_TOL):
            raise ParameterError(
                "`beta` and `h` must keep the log weights resolvable in float64: 2**-53 * "
                "(8 (|beta| n / 2 + |h| n) + 4 log Gamma(n + 2)) must be <= "
                f"{LOG_WEIGHT_TOL:g}; got beta = {self.beta!r}, h = {self.h!r}, n = {n} "
                f"(bound {fmt_log(log_bound)})."
            )

    def _logC(self, m: Any, u: Any) -> np.ndarray:
        lf = self._logfact
        return lf[m] - lf[u] - lf[np.asarray(m) - np.asarray(u)]

    # ------------------------------------------------------------- Z(p, m)
    def _z_direct(self, p: np.ndarray, m: np.ndarray) -> np.ndarray:
        """``Z(p, m)`` by an ``O(max m)`` log-sum-exp per entry (chunked)."""
        p = p.reshape(-1)
        m = m.reshape(-1)
        out = np.empty(p.shape[0])
        if out.size == 0:
            return out
        width = int(m.max()) + 1
        chunk = max(1, _CHUNK_ELEMS // width)
        u = np.arange(width)
        for s in range(0, p.shape[0], chunk):
            pp, mm = p[s : s + chunk, None], m[s : s + chunk, None]
            ok = u <= mm
            uu = np.where(ok, u, 0)
            terms = self._logC(mm, uu) + self._phi[np.minimum(pp + uu, self.n)]
            out[s : s + chunk] = _lse_rows(np.where(ok, terms, -np.inf))
        return out

    def _build_table(self) -> np.ndarray:
        n, c = self.n, self._step
        levels = n // c + 1
        table = np.full((levels, n + 1), -np.inf)
        bufs = [self._phi - self._phi.max(), np.empty(n + 1)]
        table[0] = bufs[0]
        for m in range(1, (levels - 1) * c + 1):
            src, dst = bufs[(m - 1) % 2], bufs[m % 2]
            size = n + 1 - m
            with np.errstate(under="ignore"):  # log1p(exp(-large)): negligible, rounded
                cur = np.logaddexp(src[:size], src[1 : size + 1], out=dst[:size])
            # the max grows by at most log 2 a level; subtracting it (a per-level
            # constant, which cancels in every query) keeps the values small
            if m % 64 == 0 or m % c == 0:
                cur -= cur.max()
            if m % c == 0:
                table[m // c, :size] = cur
        return table

    def _z(self, p: np.ndarray, m: np.ndarray) -> np.ndarray:
        """``Z(p, m)`` up to a constant depending on ``m // c`` only, from the table.

        Arrays of equal shape; requires ``0 <= p`` and ``p + m <= n``.
        """
        assert self._table is not None
        shape = p.shape
        p = p.reshape(-1).astype(np.int64)
        m = m.reshape(-1).astype(np.int64)
        c = self._step
        if c == 1:
            return self._table[m, p].reshape(shape)
        r, d = np.divmod(m, c)
        t = np.arange(c)
        out = np.empty(p.shape[0])
        chunk = max(1, _CHUNK_ELEMS // c)
        for s in range(0, p.shape[0], chunk):
            pp, rr, dd = p[s : s + chunk, None], r[s : s + chunk, None], d[s : s + chunk, None]
            ok = t <= dd
            tt = np.where(ok, t, 0)
            terms = self._logC(dd, tt) + self._table[rr, pp + tt]
            out[s : s + chunk] = _lse_rows(np.where(ok, terms, -np.inf))
        return out.reshape(shape)

    def _p_plus(self, p: np.ndarray, f: np.ndarray) -> np.ndarray:
        """``[P(0), P(1)]`` (last axis) of one of ``f >= 1`` free spins given ``p``
        pinned +1s."""
        f = np.maximum(f, 1)
        p = np.minimum(p, self.n - f)
        m = f - 1
        if self._table is None and self.n <= _CW_TABLE_MAX_N:
            # ski rental: build the O(n**2) table once the direct O(n)-per-entry
            # work done so far would have paid for it
            self._direct_work += p.size
            if self._direct_work > self.n:
                self._table = self._build_table()
        if self._table is None:
            z1 = self._z_direct(p + 1, m).reshape(p.shape)
            z0 = self._z_direct(p, m).reshape(p.shape)
        else:
            z1, z0 = self._z(p + 1, m), self._z(p, m)
        return sigmoid_pair(z1 - z0)

    def _counts(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.count_nonzero(ctx == 1, axis=1), np.count_nonzero(ctx == MASK, axis=1)

    def _masked_conditionals(self, ctx: np.ndarray) -> np.ndarray:
        p, f = self._counts(ctx)
        row = self._p_plus(p, f)  # (B, 2)
        return np.broadcast_to(row[:, None, :], (ctx.shape[0], self.n, 2))

    def _positional(
        self, ctx: np.ndarray, pos: np.ndarray, vals: np.ndarray | None
    ) -> np.ndarray:
        p, f = self._counts(ctx)
        B, L = pos.shape
        if vals is None:
            return np.broadcast_to(self._p_plus(p, f)[:, None, :], (B, L, 2))
        pj = p[:, None] + _exclusive_cumsum(vals, axis=1)
        fj = f[:, None] - np.arange(L)[None, :]
        return self._p_plus(pj, fj)

    def _log_pmf(self, x: np.ndarray) -> np.ndarray:
        return self._phi[x.sum(axis=1)] - self._logZ

    def _log_pmf_table(self) -> np.ndarray:
        """``phi(#ones) - log Z``; the count of ones built digit by digit."""
        ones = np.zeros(1, dtype=np.int64)
        for _ in range(self.n):
            ones = (ones[:, None] + np.arange(2)[None, :]).reshape(-1)
        return self._phi[ones] - self._logZ

    def sample(self, num: int, *, rng: Any = None) -> np.ndarray:
        """Exact iid samples, shape (num, n): total count first, then a uniform subset."""
        num = check_int("num", num, low=0)
        gen = np.random.default_rng(rng)
        law = exp_neg(self._log_count_law - self._logZ)
        cdf = np.cumsum(law)
        last = np.asarray(self.n - int(np.argmax(law[::-1] > 0)))
        k = _categorical_rows(cdf, last, gen.random(num))
        out = np.empty((num, self.n), dtype=np.int64)
        chunk = max(1, _CHUNK_ELEMS // self.n)
        for s in range(0, num, chunk):
            u = gen.random((min(chunk, num - s), self.n))
            kk = k[s : s + chunk]
            srt = np.sort(u, axis=1)
            thr = np.where(kk > 0, srt[np.arange(kk.shape[0]), np.maximum(kk - 1, 0)], -1.0)
            out[s : s + chunk] = u <= thr[:, None]
        return out

    def __repr__(self) -> str:
        return f"CurieWeiss(n={self.n}, beta={self.beta!r}, h={self.h!r})"


# ==================================================================== Ising chain
def _log_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Log-space product of stacks of 2x2 matrices (broadcast over leading axes)."""
    with np.errstate(under="ignore"):  # log1p(exp(-large)): negligible, rounded
        return np.logaddexp(
            a[..., :, 0, None] + b[..., None, 0, :], a[..., :, 1, None] + b[..., None, 1, :]
        )


def _prev_smaller(t: np.ndarray) -> np.ndarray:
    """For each ``k`` the largest ``k' < k`` with ``t[k'] < t[k]`` (-1 if none), per row.

    Sparse table of window minima plus binary lifting: ``O(L log L)`` numpy work,
    ``O(log L)`` Python iterations.
    """
    B, L = t.shape
    if L == 0:
        return np.zeros((B, 0), dtype=np.int64)
    big = np.iinfo(np.int64).max
    tables = [t]  # tables[l][:, k] = min t[max(0, k - 2**l + 1) .. k]
    while (1 << len(tables)) <= L:
        prev = tables[-1]
        half = 1 << (len(tables) - 1)
        nxt = prev.copy()
        nxt[:, half:] = np.minimum(prev[:, half:], prev[:, :-half])
        tables.append(nxt)
    rows = np.arange(B)[:, None]
    cur = np.broadcast_to(np.arange(L, dtype=np.int64) - 1, (B, L)).copy()
    for lvl in range(len(tables) - 1, -1, -1):
        valid = cur >= 0
        win = np.where(valid, tables[lvl][rows, np.maximum(cur, 0)], big)
        skip = valid & (win > t)
        cur = np.where(skip, cur - (1 << lvl), cur)
    return np.maximum(cur, -1)


#: Up to this chain length the O(L**2) direct search is used (less overhead).
_SMALL_CHAIN: int = 48


def _chain_neighbours(
    pos: np.ndarray, vals: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest earlier chain position left and right of each step, with its value.

    Entry ``[b, j]`` of ``cl`` is ``max{pos[b, i] : i < j, pos[b, i] < pos[b, j]}`` (-1 if
    none) and ``vl`` the chain value there; ``cr``/``vr`` likewise on the right (``n``
    if none). ``O(L**2)`` broadcast for short chains, else sort + previous-smaller
    search over step indices (``O(L log L)``).
    """
    B, L = pos.shape
    rows = np.arange(B)[:, None]
    if L <= _SMALL_CHAIN:
        earlier = np.tri(L, L, -1, dtype=bool)  # [j, i] = i < j
        pi, pj = pos[:, None, :], pos[:, :, None]
        il = np.where(earlier & (pi < pj), pi, -1).argmax(axis=2)  # (B, L) step index
        ir = np.where(earlier & (pi > pj), -pi, -n).argmax(axis=2)
        cl, cr = pos[rows, il], pos[rows, ir]
        ok_l = (il < np.arange(L)) & (cl < pos)
        ok_r = (ir < np.arange(L)) & (cr > pos)
        return (np.where(ok_l, cl, -1), vals[rows, il], np.where(ok_r, cr, n), vals[rows, ir])
    order = np.argsort(pos, axis=1, kind="stable")  # sorted index -> step
    sp, sv = pos[rows, order], vals[rows, order]
    kl = _prev_smaller(order)
    kr = (L - 1) - _prev_smaller(order[:, ::-1])[:, ::-1]  # L means none
    cl = np.where(kl >= 0, sp[rows, np.maximum(kl, 0)], -1)
    cr = np.where(kr < L, sp[rows, np.minimum(kr, L - 1)], n)
    vl = sv[rows, np.maximum(kl, 0)]
    vr = sv[rows, np.minimum(kr, L - 1)]
    inv = np.empty_like(order)  # step -> sorted index
    inv[rows, order] = np.arange(L)
    return cl[rows, inv], vl[rows, inv], cr[rows, inv], vr[rows, inv]


class IsingChain(_ScalableOracle):
    """Nearest-neighbour Ising chain on ``{0, 1}^n`` (free boundary).

    ``mu(x) ∝ exp(coupling * sum_i s_i s_{i+1} + field * sum_i s_i)``, ``s = 2x - 1``.

    Parameters
    ----------
    n : int
        ``n >= 1``.
    coupling : float
        Finite ``J``.
    field : float, default 0.0
        Finite ``h``.

    Notes
    -----
    With the symmetric transfer matrix ``T[a, b] = exp(h s_a/2 + J s_a s_b + h s_b/2)``
    and boundary vector ``e[a] = exp(h s_a / 2)``, the conditional of a free site
    ``i`` depends only on its nearest pinned neighbours ``l < i < r``:
    ``P(v) ∝ T^(i-l)[x_l, v] T^(r-i)[v, x_r]`` (``e^T T^i`` / ``T^(n-1-i) e`` when
    a side has none). The powers ``T^k``, ``k = 0..n``, are tabulated in log space
    by binary decomposition, each normalised by its largest entry, so nothing
    overflows or cancels for any ``n`` or ``J``. Chains find the nearest pinned
    neighbour among the base context and the earlier chain positions with a
    vectorised previous-smaller-element search (:func:`_prev_smaller`).
    """

    def __init__(self, n: int, coupling: float, field: float = 0.0) -> None:
        self.n: int = check_int("n", n, low=1)
        self.q: int = 2
        self.coupling: float = check_float("coupling", coupling)
        self.field: float = check_float("field", field)
        self._check_resolvable()
        J, h = self.coupling, self.field
        s = np.array([-1.0, 1.0])
        with np.errstate(under="ignore"):  # a log-weight term below 1e-308 is negligible
            self._log_t = h * s[:, None] / 2 + J * np.outer(s, s) + h * s[None, :] / 2
            self._log_e = h * s / 2
            self._log_pow, self._pow_off = self._powers(self.n)
        # boundary messages: (e^T T^k)[v] = (T^k e)[v], normalised per k
        with np.errstate(under="ignore"):
            lb = np.logaddexp(self._log_e[0] + self._log_pow[:, 0, :],
                              self._log_e[1] + self._log_pow[:, 1, :])
        self._log_bound = lb  # (n+1, 2), offset self._pow_off[k]
        self._flat_messages = np.concatenate([self._log_pow.reshape(-1), lb.reshape(-1)])
        last = self.n - 1
        self._logZ = float(logsumexp(lb[last] + self._log_e)) + float(self._pow_off[last])

    def _check_resolvable(self) -> None:
        """Refuse ``(coupling, field)`` whose log weights float64 cannot resolve.

        The normalised log powers ``log T^k`` have entries of magnitude up to
        ``2 (|J| + |h|)`` and go through ``2 bit_length(n) + 4`` rounded log-space
        products, so the conditionals' log odds are off by at most
        ``(2 bit_length(n) + 4) * 2**-53 * 4 (|J| + |h|)`` (first order), which must
        be ``<= 1e-8`` (``|J| + |h| <= ~6e5`` at ``n = 10**5``). Beyond, e.g. at
        ``coupling = 1e308``, the field and even the coupling are lost in rounding.
        """
        levels = 2 * self.n.bit_length() + 4
        log_s = log_abs_sum(np.array([self.coupling, self.field]))
        log_bound = math.log(levels * UNIT_ROUNDOFF * 4.0) + log_s
        if log_bound > math.log(LOG_WEIGHT_TOL):
            raise ParameterError(
                "`coupling` and `field` must keep the log weights resolvable in float64: "
                "(2 bit_length(n) + 4) * 2**-53 * 4 (|coupling| + |field|) must be <= "
                f"{LOG_WEIGHT_TOL:g}; got coupling = {self.coupling!r}, "
                f"field = {self.field!r}, n = {self.n} (bound {fmt_log(log_bound)})."
            )

    def _powers(self, kmax: int) -> tuple[np.ndarray, np.ndarray]:
        """``log T^k - off[k]`` for ``k = 0..kmax`` (max entry 0) and ``off``."""
        ks = np.arange(kmax + 1)
        log_eye = np.where(np.eye(2, dtype=bool), 0.0, -np.inf)
        res = np.broadcast_to(log_eye, (kmax + 1, 2, 2)).copy()
        off = np.zeros(kmax + 1)
        sq = self._log_t.copy()
        sq_off = 0.0
        bit = 0
        while (1 << bit) <= kmax:
            top = sq.max()
            sq, sq_off = sq - top, sq_off + top
            sel = ((ks >> bit) & 1).astype(bool)
            prod = _log_matmul(res[sel], sq)
            m = prod.max(axis=(1, 2))
            res[sel] = prod - m[:, None, None]
            off[sel] += m + sq_off
            sq = _log_matmul(sq, sq)
            sq_off *= 2
            bit += 1
        return res, off

    # ------------------------------------------------------------- conditionals
    def _cond(
        self, i: np.ndarray, l: np.ndarray, a: np.ndarray, r: np.ndarray, c: np.ndarray
    ) -> np.ndarray:
        """P(x_i = .) given nearest pinned ``l`` (value ``a``; -1 = none) and ``r``
        (value ``c``; ``n`` = none). Arrays of equal shape; result (..., 2)."""
        n = self.n
        # T^k is symmetric, so T^(r-i)[v, c] = T^(r-i)[c, v]: both sides read rows of
        # the flat table [log T^k (k, a, v) | boundary messages (k, v)]
        off = 4 * (n + 1)
        left = np.where(l >= 0, (i - l) * 4 + a * 2, off + i * 2)
        right = np.where(r < n, (r - i) * 4 + c * 2, off + (n - 1 - i) * 2)
        g = self._flat_messages
        return sigmoid_pair(g[left + 1] + g[right + 1] - g[left] - g[right])

    def _neighbours(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest pinned position strictly left / right of every site, (B, n) each."""
        n = self.n
        idx = np.arange(n)
        pinned = ctx != MASK
        left = np.maximum.accumulate(np.where(pinned, idx, -1), axis=1)
        right = np.minimum.accumulate(np.where(pinned, idx, n)[:, ::-1], axis=1)[:, ::-1]
        # strictly: shift by one so a pinned site does not count as its own neighbour
        left = np.concatenate([np.full((ctx.shape[0], 1), -1), left[:, :-1]], axis=1)
        right = np.concatenate([right[:, 1:], np.full((ctx.shape[0], 1), n)], axis=1)
        return left, right

    def _masked_conditionals(self, ctx: np.ndarray) -> np.ndarray:
        B, n = ctx.shape
        left, right = self._neighbours(ctx)
        rows = np.arange(B)[:, None]
        a = ctx[rows, np.maximum(left, 0)]
        c = ctx[rows, np.minimum(right, n - 1)]
        i = np.broadcast_to(np.arange(n), (B, n))
        return self._cond(i, left, a, right, c)

    def _positional(
        self, ctx: np.ndarray, pos: np.ndarray, vals: np.ndarray | None
    ) -> np.ndarray:
        B, n = ctx.shape
        L = pos.shape[1]
        rows = np.arange(B)[:, None]
        # nearest pinned sites by binary search among the flat indices of pinned sites:
        # O(B n) for one flatnonzero pass, then O(L log) per row
        flat = ctx.reshape(-1)
        pinned = np.flatnonzero(flat != MASK)
        start = rows * n
        query = start + pos
        k = np.searchsorted(pinned, query)
        left_flat = pinned[np.maximum(k - 1, 0)] if pinned.size else np.full_like(query, -1)
        right_flat = pinned[np.minimum(k, pinned.size - 1)] if pinned.size else query
        has_l = (k > 0) & (left_flat >= start)
        has_r = (k < pinned.size) & (right_flat > query) & (right_flat < start + n)
        l = np.where(has_l, left_flat - start, -1)
        r = np.where(has_r, right_flat - start, n)
        a = np.where(has_l, flat[np.maximum(left_flat, 0)], 0)
        c = np.where(has_r, flat[np.minimum(right_flat, flat.size - 1)], 0)
        if vals is not None and L > 1:
            cl, vl, cr, vr = _chain_neighbours(pos, vals, n)
            use_l = cl > l
            l, a = np.where(use_l, cl, l), np.where(use_l, vl, a)
            use_r = cr < r
            r, c = np.where(use_r, cr, r), np.where(use_r, vr, c)
        return self._cond(pos, l, a, r, c)

    def _log_pmf(self, x: np.ndarray) -> np.ndarray:
        lt = self._log_t[x[:, :-1], x[:, 1:]].sum(axis=1)
        return lt + self._log_e[x[:, 0]] + self._log_e[x[:, -1]] - self._logZ

    def _log_pmf_table(self) -> np.ndarray:
        """Transfer-matrix terms appended digit by digit (the last digit of a flat
        C-order index is its parity)."""
        lw = self._log_e.copy()
        for _ in range(self.n - 1):
            last = np.arange(lw.size) % 2
            lw = (lw[:, None] + self._log_t[last]).reshape(-1)
        return lw + self._log_e[np.arange(lw.size) % 2] - self._logZ

    # ------------------------------------------------------------- sampling
    def sample(self, num: int, *, rng: Any = None) -> np.ndarray:
        """Exact iid samples, shape (num, n): left to right with backward messages.

        Site ``i + 1`` is a random map of site ``i`` (one uniform per site); the
        prefix compositions of these maps on ``{0, 1}`` are formed by a parallel
        (Hillis-Steele) scan, so there are ``O(log n)`` numpy steps, not ``n``.
        """
        num = check_int("num", num, low=0)
        gen = np.random.default_rng(rng)
        n = self.n
        out = np.empty((num, n), dtype=np.int64)
        # site 0: P(v) ∝ e[v] (T^(n-1) e)[v]
        lp0 = self._log_e + self._log_bound[n - 1]
        # site i+1 given site i = a: P(v = 1) from T[a, v] (T^(n-2-i) e)[v], shape (n-1, 2)
        msg = self._log_bound[n - 2 :: -1] if n > 1 else np.zeros((0, 2))
        lg = self._log_t[None, :, :] + msg[:, None, :]
        p_next = expit(lg[:, :, 1] - lg[:, :, 0])
        chunk = max(1, _CHUNK_ELEMS // (4 * n))
        for s in range(0, num, chunk):
            m = min(chunk, num - s)
            u = gen.random((m, n))
            x0 = (u[:, 0] < expit(lp0[1] - lp0[0])).astype(np.int64)
            maps = (u[:, 1:, None] < p_next[None, :, :]).astype(np.int64)  # (m, n-1, 2)
            d = 1
            while d < n - 1:
                # maps[i] <- maps[i] o maps[i - d]
                maps[:, d:] = np.take_along_axis(maps[:, d:], maps[:, :-d], axis=-1)
                d *= 2
            out[s : s + m, 0] = x0
            out[s : s + m, 1:] = np.take_along_axis(
                maps, np.broadcast_to(x0[:, None, None], (m, n - 1, 1)), axis=-1
            )[..., 0]
        return out

    def __repr__(self) -> str:
        return f"IsingChain(n={self.n}, coupling={self.coupling!r}, field={self.field!r})"
