"""Pinning quantities along sampled random orders, exact over ``x`` from the table."""

from __future__ import annotations

import numpy as np

from verify.pinning.exact import _pair_tv_kl


def _random_orders(R: int, n: int, gen: np.random.Generator) -> np.ndarray:
    return np.argsort(gen.random((R, n)), axis=1).astype(np.int64)


def _prefix_marginals(table: np.ndarray, sigma: np.ndarray) -> list[np.ndarray]:
    """``M_k`` for ``k = 0..n``: the marginal of ``sigma(1..k)`` (axes in sigma order)."""
    cur = np.transpose(table, sigma)
    out = [cur]
    for k in range(table.ndim - 1, -1, -1):
        cur = cur.sum(axis=k)
        out.append(cur)
    return out[::-1]


def _order_block(M_b: np.ndarray, a: int, b: int, q: int) -> tuple[float, float]:
    return _pair_tv_kl(M_b.reshape((q**a,) + (q,) * (b - a)), b - a)


def _sampled_method(R: int) -> str:
    return f"{R} random orders, exact expectation over x (table); 95% t-interval"


