"""Shared machinery of the scalable families: constants, the oracle base class and
log-space row helpers (private to :mod:`distributions.scalable`)."""

from __future__ import annotations

import math

import numpy as np

from distributions._numerics import (
    logsumexp,
    softmax,
)
from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.oracle_utils import check_chain_values, check_contexts, check_positions
from distributions.table import MAX_TABLE_SIZE

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
