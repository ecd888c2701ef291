"""Exact law given as a full probability table (DESIGN 3.1, ``Enumerable``)."""

from __future__ import annotations

import numpy as np

from distributions._oracle_utils import (
    check_chain_values,
    check_contexts,
    check_positions,
    positional_conditionals,
)
from distributions._validation import check_int, check_probability_array
from distributions.base import MASK
from distributions.errors import ParameterError

__all__ = ["TableDistribution", "MAX_TABLE_SIZE"]

#: Largest table (``q**n``) accepted.
MAX_TABLE_SIZE: int = 2**20
#: Largest "extended" table ``(q+1)**n`` precomputed for O(n q) conditionals.
_MAX_EXTENDED: int = 2**23


class TableDistribution:
    """A law on ``[q]^n`` given by its full table; an exact :class:`Enumerable` oracle.

    Parameters
    ----------
    probs : array_like, shape (q,)*n
        Non-negative weights, normalised on construction. ``q >= 2``, ``n >= 1``
        and ``q**n <= 2**20``.

    Notes
    -----
    When ``(q+1)**n <= 2**23`` the constructor tabulates the marginal of every
    partial assignment (the "extended table", digit 0 = masked), so that one
    context row is answered with ``O(n q)`` look-ups. Larger tables fall back to a
    chunked masked sum over the table.

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
        n = arr.ndim
        if n < 1:
            raise ParameterError(f"`probs` must have at least 1 axis; got shape {arr.shape}.")
        q = arr.shape[0]
        if q < 2 or any(s != q for s in arr.shape):
            raise ParameterError(
                f"`probs` must have shape (q,)*n with q >= 2; got shape {arr.shape}."
            )
        if arr.size > MAX_TABLE_SIZE:
            raise ParameterError(
                f"`probs` must have at most {MAX_TABLE_SIZE} entries (q**n); got {arr.size}."
            )
        total = float(arr.sum())
        if not total > 0:
            raise ParameterError(f"`probs` must have a positive sum; got {total!r}.")
        self.n: int = n
        self.q: int = q
        self._table = arr / total
        self._flat = self._table.reshape(-1)
        with np.errstate(divide="ignore"):
            self._log_flat = np.log(self._flat)
        self._ext: np.ndarray | None = None
        self._ext_weights: np.ndarray | None = None
        if (q + 1) ** n <= _MAX_EXTENDED:
            self._ext = self._extended_table()
            self._ext_weights = (q + 1) ** np.arange(n - 1, -1, -1, dtype=np.int64)

    # ------------------------------------------------------------------ tables
    def _extended_table(self) -> np.ndarray:
        ext = self._table
        for axis in range(self.n):
            ext = np.concatenate([ext.sum(axis=axis, keepdims=True), ext], axis=axis)
        return np.ascontiguousarray(ext).reshape(-1)

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
        if self._ext is not None:
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
        if self._ext is None:
            return positional_conditionals(self.conditionals, ctx, pos, vals)
        return self._ext_conditionals(ctx, pos, vals)

    def _ext_conditionals(
        self, ctx: np.ndarray, positions: np.ndarray, chain_values: np.ndarray | None = None
    ) -> np.ndarray:
        assert self._ext is not None and self._ext_weights is not None
        w = self._ext_weights
        codes = (ctx + 1) @ w  # (B,)
        pos_w = w[positions]  # (B, L)
        # the queried position's own digit is cleared (it is masked in valid queries)
        own = (np.take_along_axis(ctx, positions, axis=1) + 1) * pos_w
        base = codes[:, None] - own
        if chain_values is not None:
            steps = (chain_values + 1) * pos_w
            base = base + np.cumsum(steps, axis=1) - steps  # exclusive cumsum
        vals = np.arange(1, self.q + 1, dtype=np.int64)
        num = self._ext[base[..., None] + vals * pos_w[..., None]]  # (B, L, q)
        tot = num.sum(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, num / np.where(tot > 0, tot, 1.0), 0.0)

    def _brute_conditionals(self, ctx: np.ndarray) -> np.ndarray:
        n, q = self.n, self.q
        configs = np.stack(np.unravel_index(np.arange(q**n), (q,) * n), axis=1)
        onehot = (configs[:, :, None] == np.arange(q)).reshape(q**n, n * q).astype(np.float64)
        out = np.empty((ctx.shape[0], n, q))
        chunk = max(1, int(2e7 // (q**n * n)))
        for s in range(0, ctx.shape[0], chunk):
            c = ctx[s : s + chunk]
            ok = ((c[:, None, :] == MASK) | (c[:, None, :] == configs[None])).all(axis=2)
            mass = (ok * self._flat) @ onehot
            mass = mass.reshape(-1, n, q)
            tot = mass.sum(axis=-1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[s : s + chunk] = np.where(tot > 0, mass / np.where(tot > 0, tot, 1.0), 0.0)
        return out

    def __repr__(self) -> str:
        return f"TableDistribution(n={self.n}, q={self.q})"
