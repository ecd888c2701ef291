"""The 1-D nearest-neighbour Ising chain: exact conditionals by transfer matrices."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import expit

from distributions._numerics import (
    LOG_WEIGHT_TOL,
    UNIT_ROUNDOFF,
    fmt_log,
    log_abs_sum,
    logsumexp,
    sigmoid_pair,
)
from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.scalable._common import (
    _CHUNK_ELEMS,
    _ScalableOracle,
)
from distributions.validation import check_float, check_int


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
