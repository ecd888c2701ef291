"""The Curie-Weiss (mean-field Ising) model: exact conditionals from the magnetisation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import gammaln

from distributions._numerics import (
    LOG_WEIGHT_TOL,
    UNIT_ROUNDOFF,
    exp_neg,
    fmt_log,
    log_abs_sum,
    logsumexp,
    sigmoid_pair,
)
from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.scalable._common import (
    _CHUNK_ELEMS,
    _CW_TABLE_ELEMS,
    _CW_TABLE_MAX_N,
    _categorical_rows,
    _exclusive_cumsum,
    _lse_rows,
    _ScalableOracle,
)
from distributions.validation import check_float, check_int


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
