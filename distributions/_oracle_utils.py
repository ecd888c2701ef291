"""Helpers shared by every oracle implementation (one concept, one place)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from distributions.base import MASK
from distributions.errors import ParameterError

__all__ = ["check_contexts", "positional_conditionals", "build_chain_contexts"]


def check_contexts(x: object, n: int, q: int, *, name: str = "x") -> np.ndarray:
    """Validate a batch of contexts and return it as an int64 array of shape (B, n)."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ParameterError(f"`{name}` must have shape (B, {n}); got shape {arr.shape}.")
    if arr.dtype.kind not in "iu":
        raise ParameterError(f"`{name}` must be an integer array; got dtype {arr.dtype}.")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < MASK or hi > q - 1:
            bad = lo if lo < MASK else hi
            raise ParameterError(
                f"`{name}` entries must be in {{{MASK} (MASK), 0, ..., {q - 1}}}; got {bad}."
            )
    return arr.astype(np.int64, copy=False)


def build_chain_contexts(
    x: np.ndarray, positions: np.ndarray, chain_values: np.ndarray
) -> np.ndarray:
    """Contexts of a chain-rule query, shape (B * L, n).

    Context ``b * L + j`` is ``x[b]`` with ``positions[b, :j]`` set to
    ``chain_values[b, :j]``.
    """
    B, L = positions.shape
    ctx = np.repeat(x, L, axis=0).reshape(B, L, -1)
    # step j reveals the first j chain values: a strictly lower-triangular mask
    reveal = np.tril(np.ones((L, L), dtype=bool), k=-1)  # reveal[j, i] = i < j
    rows = np.broadcast_to(np.arange(B)[:, None, None], (B, L, L))
    steps = np.broadcast_to(np.arange(L)[None, :, None], (B, L, L))
    pos = np.broadcast_to(positions[:, None, :], (B, L, L))
    val = np.broadcast_to(chain_values[:, None, :], (B, L, L))
    sel = np.broadcast_to(reveal[None], (B, L, L))
    ctx[rows[sel], steps[sel], pos[sel]] = val[sel]
    return ctx.reshape(B * L, -1)


def positional_conditionals(
    conditionals: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    positions: np.ndarray,
    chain_values: np.ndarray | None = None,
) -> np.ndarray:
    """:meth:`PositionalOracle.conditionals_at` for any :class:`DiscreteOracle`.

    ``conditionals`` is the oracle's full method (``oracle.conditionals``). Builds
    the explicit contexts, calls it once and gathers the requested positions.
    Costs ``B`` queries (``B * L`` with ``chain_values``).
    """
    B, L = positions.shape
    if chain_values is None:
        full = np.asarray(conditionals(x))
        return full[np.arange(B)[:, None], positions]
    ctx = build_chain_contexts(x, positions, chain_values)
    full = np.asarray(conditionals(ctx))
    flat_pos = positions.reshape(-1)
    return full[np.arange(B * L), flat_pos].reshape(B, L, -1)
