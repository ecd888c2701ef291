"""Exact law given as a full probability table (DESIGN 3.1, ``Enumerable``)."""

from __future__ import annotations

import numpy as np

from distributions._numerics import exp_neg, logsumexp, softmax
from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.oracle_utils import (
    check_chain_values,
    check_contexts,
    check_positions,
    positional_conditionals,
)
from distributions.validation import check_int, check_probability_array, short_repr

__all__ = ["TableDistribution", "MAX_TABLE_SIZE"]

#: Largest table (``q**n``) accepted.
MAX_TABLE_SIZE: int = 2**20
#: Largest "extended" table ``(q+1)**n`` precomputed for O(n q) conditionals.
_MAX_EXTENDED: int = 2**23
#: Above this smallest log probability the extended table is summed in linear space.
_LOG_LINEAR_SAFE: float = -600.0


class TableDistribution:
    """A law on ``[q]^n`` given by its full table; an exact :class:`Enumerable` oracle.

    Parameters
    ----------
    probs : array_like, shape (q,)*n
        Non-negative weights, normalised on construction. ``q >= 2``, ``n >= 1``
        and ``q**n <= 2**20``.

    Notes
    -----
    The table is normalised in log space (``log mu = log w - logsumexp(log w)``), so
    weights of any finite magnitude, from subnormal to ``1.8e308``, give the exact
    law; :meth:`from_log_weights` takes log weights directly. When
    ``(q+1)**n <= 2**23`` the constructor tabulates the log marginal of every
    partial assignment (the "extended table", digit 0 = masked), so that one
    context row is answered with ``O(n q)`` look-ups and a softmax over ``q`` log
    masses: a context of tiny but positive probability still gets its exact
    conditionals, a context of probability zero gets zero rows. Larger tables fall
    back to a chunked masked sum over the table, scaled per context by its most
    likely consistent cell. :meth:`pmf` is the normalised table in float64
    (probabilities below ``1e-308`` round to 0 or a subnormal, silently).

    Examples
    --------
    >>> import numpy as np
    >>> from distributions import TableDistribution, MASK
    >>> d = TableDistribution(np.array([[0.5, 0.0], [0.25, 0.25]]))
    >>> d.conditionals(np.array([[0, MASK]]))[0, 1]
    array([1., 0.])
    """

    def __init__(self, probs: object) -> None:
        arr = check_probability_array("probs", probs)
        self._check_shape("probs", arr.shape)
        if not (arr > 0).any():
            raise ParameterError(f"`probs` must have a positive sum; got {float(arr.sum())!r}.")
        with np.errstate(divide="ignore"):
            log_arr = np.log(arr)  # zero weights: -inf
        self._setup(log_arr)
        if np.isfinite(arr).all() and (arr == np.floor(arr)).all():
            self._rational_weights = np.vectorize(int, otypes=[object])(arr)

    @classmethod
    def from_log_weights(cls, log_weights: object) -> TableDistribution:
        """The law ``mu(x) ∝ exp(log_weights[x])``, normalised in log space.

        Parameters
        ----------
        log_weights : array_like, shape (q,)*n
            Finite numbers or ``-inf`` (weight 0), at least one finite; ``q >= 2``,
            ``q**n <= 2**20``. Log weights of any finite magnitude are accepted: only
            their differences enter the law, so ``[1e308, 1e308 - 1e292]`` is fine.

        Returns
        -------
        TableDistribution
        """
        try:
            lw = np.asarray(log_weights, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"`log_weights` must be an array of numbers; got {short_repr(log_weights)}."
            ) from exc
        cls._check_shape("log_weights", lw.shape)
        bad = np.isnan(lw) | (lw == np.inf)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ParameterError(
                f"`log_weights` must be finite or -inf; got {float(lw[where])!r} at index {where}."
            )
        if not np.isfinite(lw).any():
            raise ParameterError("`log_weights` must have a finite entry; got all -inf.")
        obj = cls.__new__(cls)
        obj._setup(lw)
        finite = np.isfinite(lw)
        if (lw[finite] == lw[finite][0]).all():  # weight 1 on the support, 0 elsewhere
            obj._rational_weights = finite.astype(np.int64).astype(object)
        return obj

    @staticmethod
    def _check_shape(name: str, shape: tuple[int, ...]) -> None:
        if len(shape) < 1:
            raise ParameterError(f"`{name}` must have at least 1 axis; got shape {shape}.")
        q = shape[0]
        if q < 2 or any(s != q for s in shape):
            raise ParameterError(
                f"`{name}` must have shape (q,)*n with q >= 2; got shape {shape}."
            )
        size = int(np.prod(shape))
        if size > MAX_TABLE_SIZE:
            raise ParameterError(
                f"`{name}` must have at most {MAX_TABLE_SIZE} entries (q**n); got {size}."
            )

    def _setup(self, log_weights: np.ndarray) -> None:
        """Normalise in log space: ``log mu = lw - logsumexp(lw)`` (no overflow at any
        magnitude: the largest weight is scaled to 1 before anything is summed)."""
        n = log_weights.ndim
        q = log_weights.shape[0]
        self.n: int = n
        self.q: int = q
        top = float(np.max(log_weights))
        with np.errstate(over="ignore"):  # -1e308 - 1e308 = -inf is weight 0 after exp
            shifted = log_weights - top
        self._log_table = shifted - float(logsumexp(shifted))
        self._log_flat = self._log_table.reshape(-1)
        self._flat = exp_neg(self._log_flat)
        self._table = self._flat.reshape((q,) * n)
        self._log_ext: np.ndarray | None = None
        self._rational_weights: np.ndarray | None = None
        self._lin_ext: np.ndarray | None = None
        self._ext_weights: np.ndarray | None = None
        if (q + 1) ** n <= _MAX_EXTENDED:
            self._log_ext = self._extended_log_table()
            self._ext_weights = (q + 1) ** np.arange(n - 1, -1, -1, dtype=np.int64)

    # ------------------------------------------------------------------ tables
    def _extended_log_table(self) -> np.ndarray:
        """Log marginal of every partial assignment (digit 0 = masked), flat."""
        lt = self._log_table
        if float(np.min(np.where(np.isfinite(lt), lt, 0.0))) > _LOG_LINEAR_SAFE:
            # every positive cell is a normal float far from underflow: plain sums
            # (a partial sum is at least its largest cell) are as exact and faster
            ext = self._table
            for axis in range(self.n):
                ext = np.concatenate([ext.sum(axis=axis, keepdims=True), ext], axis=axis)
            # kept for the fast linear ratio in _ext_conditionals (no entry underflows)
            self._lin_ext = np.ascontiguousarray(ext).reshape(-1)
            with np.errstate(divide="ignore"):
                return np.log(self._lin_ext)
        ext = lt
        for axis in range(self.n):
            ext = np.concatenate([logsumexp(ext, axis=axis, keepdims=True), ext], axis=axis)
        return np.ascontiguousarray(ext).reshape(-1)

    @property
    def rational_weights(self) -> np.ndarray | None:
        """The table's exact weights as Python ints, shape (q,)*n, when they are known
        exactly: built from integer-valued weights, or by :meth:`from_log_weights`
        from log weights all equal where finite (weight 1 on the support). ``None``
        otherwise (the law is then known only in floating point). The exact law is
        ``rational_weights / rational_weights.sum()``; :func:`verify.exact_law` uses
        it for its rational mode."""
        return None if self._rational_weights is None else self._rational_weights.copy()

    def pmf(self) -> np.ndarray:
        """Exact law, flat, C order over ``(q,)*n`` (a copy)."""
        return self._flat.copy()

    def log_pmf(self, x: np.ndarray) -> np.ndarray:
        """Log-probabilities of full configurations, shape (B,)."""
        arr = check_contexts(x, self.n, self.q)
        if (arr == MASK).any():
            raise ParameterError("`x` must be full configurations (no MASK entries).")
        return self._log_flat[np.ravel_multi_index(arr.T, (self.q,) * self.n)]

    def marginal(self, indices: object) -> np.ndarray:
        """Exact marginal law of the coordinates ``indices`` (in that order).

        Returns an array of shape ``(q,)*len(indices)``.
        """
        idx = [check_int("indices[k]", i, low=0, high=self.n - 1) for i in np.atleast_1d(indices)]
        if len(set(idx)) != len(idx):
            raise ParameterError(f"`indices` must be distinct; got {idx}.")
        other = tuple(j for j in range(self.n) if j not in idx)
        marg = self._table.sum(axis=other) if other else self._table
        kept = sorted(idx)
        return np.transpose(marg, [kept.index(i) for i in idx])

    def sample(self, num: int, *, rng: object = None) -> np.ndarray:
        """Exact iid samples, shape (num, n)."""
        num = check_int("num", num, low=0)
        gen = np.random.default_rng(rng)
        cdf = np.cumsum(self._flat)
        flat = np.searchsorted(cdf, gen.random(num) * cdf[-1], side="right")
        flat = np.minimum(flat, self._flat.size - 1)
        return np.stack(np.unravel_index(flat, (self.q,) * self.n), axis=1).astype(np.int64)

    # ------------------------------------------------------------------ oracle
    def conditionals(self, x: np.ndarray) -> np.ndarray:
        """Exact conditional marginals, shape (B, n, q) (see :class:`DiscreteOracle`)."""
        ctx = check_contexts(x, self.n, self.q)
        B = ctx.shape[0]
        positions = np.broadcast_to(np.arange(self.n), (B, self.n))
        if self._log_ext is not None:
            out = self._ext_conditionals(ctx, positions)
        else:
            out = self._brute_conditionals(ctx)
        masked = ctx == MASK
        onehot = np.eye(self.q)[np.where(masked, 0, ctx)]
        return np.where(masked[..., None], out, onehot)

    def conditionals_at(
        self, x: np.ndarray, positions: np.ndarray, chain_values: np.ndarray | None = None
    ) -> np.ndarray:
        """Conditionals at requested positions (see :class:`PositionalOracle`)."""
        ctx = check_contexts(x, self.n, self.q)
        pos = check_positions(positions, ctx)
        vals = None if chain_values is None else check_chain_values(chain_values, pos.shape, self.q)
        if self._log_ext is None:
            return positional_conditionals(self.conditionals, ctx, pos, vals)
        return self._ext_conditionals(ctx, pos, vals, masked=True)

    def _ext_conditionals(
        self, ctx: np.ndarray, positions: np.ndarray, chain_values: np.ndarray | None = None,
        *, masked: bool = False,
    ) -> np.ndarray:
        """Rows at ``positions`` from the extended table (``masked``: the positions are
        known to be masked in ``ctx``, as :func:`check_positions` ensures)."""
        assert self._log_ext is not None and self._ext_weights is not None
        w = self._ext_weights
        codes = ctx @ w + int(w.sum())  # (ctx + 1) @ w, without a (B, n) temporary
        pos_w = w[positions]  # (B, L)
        if masked:  # a masked digit is 0 already
            base = np.broadcast_to(codes[:, None], pos_w.shape)
        else:  # the queried position's own digit is cleared
            base = codes[:, None] - (np.take_along_axis(ctx, positions, axis=1) + 1) * pos_w
        if chain_values is not None:
            steps = (chain_values + 1) * pos_w
            base = base + np.cumsum(steps, axis=1) - steps  # exclusive cumsum
        if self._lin_ext is not None and self.q == 2:
            # the general branch below for q = 2, without the (B, L, q) index array
            lin = self._lin_ext
            first = base + pos_w
            a, b = lin[first], lin[first + pos_w]
            tot = a + b
            out = np.empty((*a.shape, 2))
            with np.errstate(invalid="ignore"):
                np.divide(a, tot, out=out[..., 0])
                np.divide(b, tot, out=out[..., 1])
            impossible = tot == 0
            if impossible.any():
                out[impossible] = 0.0
            return out
        vals = np.arange(1, self.q + 1, dtype=np.int64)
        idx = base[..., None] + vals * pos_w[..., None]  # (B, L, q)
        if self._lin_ext is not None:
            # every positive mass is >= e**-600: the linear ratio is exact and faster
            num = self._lin_ext[idx]
            tot = num.sum(axis=-1, keepdims=True)
            return num / np.where(tot > 0, tot, 1.0)  # impossible context: zeros
        return softmax(self._log_ext[idx], axis=-1)  # all -inf (impossible): zeros

    def _brute_conditionals(self, ctx: np.ndarray) -> np.ndarray:
        """Masked sums over the table, per context scaled by its most likely
        consistent cell (so no context's mass underflows, however small)."""
        n, q = self.n, self.q
        configs = np.stack(np.unravel_index(np.arange(q**n), (q,) * n), axis=1)
        onehot = (configs[:, :, None] == np.arange(q)).reshape(q**n, n * q).astype(np.float64)
        out = np.empty((ctx.shape[0], n, q))
        chunk = max(1, int(2e7 // (q**n * n)))
        for s in range(0, ctx.shape[0], chunk):
            c = ctx[s : s + chunk]
            ok = ((c[:, None, :] == MASK) | (c[:, None, :] == configs[None])).all(axis=2)
            lw = np.where(ok, self._log_flat, -np.inf)
            top = lw.max(axis=1, keepdims=True)
            rel = exp_neg(lw - np.where(np.isfinite(top), top, 0.0))
            mass = (rel @ onehot).reshape(-1, n, q)  # the top cell counts 1: no underflow
            with np.errstate(divide="ignore"):
                out[s : s + chunk] = softmax(np.log(mass), axis=-1)
        return out

    def __repr__(self) -> str:
        return f"TableDistribution(n={self.n}, q={self.q})"
