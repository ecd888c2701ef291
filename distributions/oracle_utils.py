"""Helpers shared by every oracle implementation (one concept, one place)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from distributions.base import MASK
from distributions.errors import ParameterError

__all__ = [
    "check_contexts",
    "check_positions",
    "check_chain_values",
    "positional_conditionals",
    "build_chain_contexts",
]


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


def check_positions(positions: Any, ctx: np.ndarray) -> np.ndarray:
    """Validate the ``positions`` of a ``conditionals_at`` query: shape (B, L), in
    range, distinct within a row and masked in the context ``ctx``."""
    B, n = ctx.shape
    pos = np.asarray(positions)
    if pos.ndim != 2 or pos.shape[0] != B:
        raise ParameterError(f"`positions` must have shape ({B}, L); got shape {pos.shape}.")
    if pos.dtype.kind not in "iu":
        raise ParameterError(f"`positions` must be an integer array; got dtype {pos.dtype}.")
    pos = pos.astype(np.int64, copy=False)
    if pos.size == 0:
        return pos
    lo, hi = int(pos.min()), int(pos.max())
    if lo < 0 or hi > n - 1:
        raise ParameterError(
            f"`positions` entries must be in [0, {n - 1}]; got {lo if lo < 0 else hi}."
        )
    srt = np.sort(pos, axis=1)
    dup = srt[:, 1:] == srt[:, :-1]
    if dup.any():
        b, j = (int(k) for k in np.argwhere(dup)[0])
        raise ParameterError(
            f"`positions` must be distinct within a row; got {int(srt[b, j])} twice in row {b}."
        )
    seen = ctx[np.arange(B)[:, None], pos]
    if (seen != MASK).any():
        b, j = (int(k) for k in np.argwhere(seen != MASK)[0])
        raise ParameterError(
            f"`positions` must be masked in `x`; got position {int(pos[b, j])} of row {b} "
            f"holding value {int(seen[b, j])}."
        )
    return pos


def check_chain_values(values: Any, shape: tuple[int, int], q: int) -> np.ndarray:
    """Validate the ``chain_values`` of a ``conditionals_at`` query."""
    vals = np.asarray(values)
    if vals.shape != shape:
        raise ParameterError(f"`chain_values` must have shape {shape}; got shape {vals.shape}.")
    if vals.dtype.kind not in "iu":
        raise ParameterError(f"`chain_values` must be an integer array; got dtype {vals.dtype}.")
    vals = vals.astype(np.int64, copy=False)
    if vals.size and (vals.min() < 0 or vals.max() > q - 1):
        bad = int(vals.min()) if vals.min() < 0 else int(vals.max())
        raise ParameterError(f"`chain_values` entries must be in [0, {q - 1}]; got {bad}.")
    return vals


def build_chain_contexts(
    x: np.ndarray, positions: np.ndarray, chain_values: np.ndarray
) -> np.ndarray:
    """Contexts of a chain-rule query, shape (B * L, n).

    Context ``b * L + j`` is ``x[b]`` with ``positions[b, :j]`` set to
    ``chain_values[b, :j]``.
    """
    B, L = positions.shape
    ctx = np.repeat(x, L, axis=0).reshape(B, L, x.shape[1])
    rows = np.arange(B)[:, None]
    # chain value i is revealed in steps i + 1, ..., L - 1 (one scatter per i, not a
    # (B, L, L) mask)
    for i in range(L - 1):
        ctx[rows, np.arange(i + 1, L), positions[:, i, None]] = chain_values[:, i, None]
    return ctx.reshape(B * L, x.shape[1])


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
    return full[np.arange(B * L), flat_pos].reshape(B, L, full.shape[-1])
