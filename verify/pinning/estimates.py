"""Public estimates of the pinning quantities: the entropy profile and block TV / KL.

Each dispatches on ``orders`` and the target: exact over all orders
(:mod:`verify.pinning.exact`), sampled orders on a table
(:mod:`verify.pinning.sampled`) or Monte Carlo over ``(sigma, x)``
(:mod:`verify.pinning.montecarlo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.validation import check_int
from verify.pinning.exact import _EXACT, _exact_block, _exact_profile, _subsets_for
from verify.pinning.inputs import (
    SeedLike,
    _check_block,
    _check_target,
    _exact_error,
    _exact_ok,
    _resolve_orders,
    _table_of,
)
from verify.pinning.montecarlo import _mc_block, _mc_draws, _mc_method, _positional
from verify.pinning.numerics import _CHUNK_CELLS, _entropy_rows, _mean_ci, _xlogx_sum
from verify.pinning.results import BlockResult, BlockTVGrid, EntropyProfileResult
from verify.pinning.sampled import _order_block, _prefix_marginals, _random_orders, _sampled_method
from verify.sampling import check_memory

__all__ = ["entropy_profile", "expected_block_tv", "expected_block_kl", "block_tv_grid"]


def entropy_profile(
    target: DiscreteOracle, *, orders: int | None = None, rng: SeedLike = None
) -> EntropyProfileResult:
    """``h_t = E_sigma H(X_sigma(t+1) | X_sigma(1..t))`` for ``t = 0..n-1`` (nats).

    Parameters
    ----------
    target : DiscreteOracle
        ``Enumerable`` for the exact and sampled-order methods; otherwise needs
        ``sample`` and (preferably) ``conditionals_at``.
    orders : int, optional
        None: exact over all orders. An integer ``R >= 2``: ``R`` random orders
        (each exact over ``x`` for a table, otherwise one draw ``x ~ mu`` per order
        and the exact conditional entropies along it), with a 95% interval per ``t``.
    rng : seed or Generator, optional

    Returns
    -------
    EntropyProfileResult
    """
    n, q = _check_target(target)
    R = _resolve_orders(orders)
    if R is not None:  # the R x n per-position values (verify.sampling's memory cap)
        check_memory(R, n, "entropy_profile", rows="orders", advice="use fewer `orders`")
    table = _table_of(target)
    if R is None:
        if table is None or not _exact_ok(n, q):
            raise _exact_error(n, q, table)
        h = _exact_profile(_subsets_for(target, table))
        return EntropyProfileResult(h, (h.copy(), h.copy()), _EXACT, n, q, None)
    gen = np.random.default_rng(rng)
    if table is not None:
        vals = np.empty((R, n))
        for r, sigma in enumerate(_random_orders(R, n, gen)):
            ent = np.array([_xlogx_sum(M) for M in _prefix_marginals(table, sigma)])
            vals[r] = np.diff(ent)
        method = _sampled_method(R)
    else:
        order, x = _mc_draws(target, R, gen)
        vals = np.empty((R, n))
        step = max(1, _CHUNK_CELLS // (n * n))
        ctx0 = np.full((1, n), MASK, dtype=np.int64)
        for s in range(0, R, step):
            o = order[s : s + step]
            xs = np.take_along_axis(x[s : s + step], o, axis=1)
            rows = _positional(target, np.repeat(ctx0, o.shape[0], axis=0), o, xs)
            vals[s : s + step] = _entropy_rows(rows)
        method = (
            f"Monte Carlo over {R} draws of (sigma, x ~ mu), exact conditional entropies "
            "along the chain; 95% t-interval"
        )
    mean, lo, hi = _mean_ci(vals, nonneg=True)
    return EntropyProfileResult(mean, (lo, hi), method, n, q, R, vals)


def _block(
    target: DiscreteOracle, a: Any, b: Any, orders: Any, rng: SeedLike, which: int
) -> BlockResult:
    n, q = _check_target(target)
    a, b = _check_block(a, b, n)
    R = _resolve_orders(orders)
    name = ("tv", "kl")[which]
    table = _table_of(target)
    if R is None:
        if table is None or not _exact_ok(n, q):
            raise _exact_error(n, q, table)
        v = _exact_block(_subsets_for(target, table), a, b)[which]
        return BlockResult(v, (v, v), _EXACT, name, a, b, n, q, None)
    gen = np.random.default_rng(rng)
    if table is not None:
        vals = np.empty(R)
        for r, sigma in enumerate(_random_orders(R, n, gen)):
            M_b = _prefix_marginals(table, sigma)[b]
            vals[r] = _order_block(M_b, a, b, q)[which]
        method = _sampled_method(R)
    else:
        tv, kl, exact = _mc_block(target, a, b, R, gen)
        vals = (tv, kl)[which]
        method = _mc_method(exact, R)
        if which == 1 and not exact:
            method = method.replace(
                "importance sampling E_{x~mu_S}[(1 - nu_S/mu_S)_+]",
                "Rao-Blackwellised chain sum_j KL(mu(.|x_P,x_<j) || mu(.|x_P))",
            )
    mean, lo, hi = _mean_ci(vals, nonneg=True)
    return BlockResult(float(mean), (float(lo), float(hi)), method, name, a, b, n, q, R)


def expected_block_tv(
    target: DiscreteOracle, a: int, b: int, *, orders: int | None = None, rng: SeedLike = None
) -> BlockResult:
    """``E_{sigma, x ~ mu} TV(mu_S, nu_S)`` with ``S = sigma(a+1..b)``, prefix ``sigma(1..a)``.

    ``TV(mu_S, nu_S)`` is the probability that the sampler's speculation on the
    block is rejected given the prefix.

    Parameters
    ----------
    target : DiscreteOracle
    a, b : int
        ``0 <= a < b <= n``.
    orders : int, optional
        None: exact (Enumerable target); an integer: that many random orders (or
        ``(sigma, x)`` draws for a target without a table), 95% interval.
    rng : seed or Generator, optional

    Returns
    -------
    BlockResult
    """
    return _block(target, a, b, orders, rng, 0)


def expected_block_kl(
    target: DiscreteOracle, a: int, b: int, *, orders: int | None = None, rng: SeedLike = None
) -> BlockResult:
    """``E_{sigma, x ~ mu} KL(mu_S || nu_S)`` (nats).

    Parameters
    ----------
    target : DiscreteOracle
    a, b : int
        ``0 <= a < b <= n``.
    orders : int, optional
        As in :func:`expected_block_tv`; without a table the KL is the
        Rao-Blackwellised chain ``sum_j KL(mu(. | x_P, x_S<j) || mu(. | x_P))``.
    rng : seed or Generator, optional

    Returns
    -------
    BlockResult
        With ``quantity = "kl"``.

    Examples
    --------
    >>> from distributions.table import TableDistribution
    >>> import numpy as np
    >>> pair = TableDistribution(np.array([[0.5, 0.0], [0.0, 0.5]]))  # X1 = X2
    >>> round(expected_block_kl(pair, 0, 2).value, 6) == round(float(np.log(2)), 6)
    True
    """
    return _block(target, a, b, orders, rng, 1)


def block_tv_grid(
    target: DiscreteOracle,
    *,
    prefix_lengths: Sequence[int],
    sizes: Sequence[int],
    orders: int | None = None,
    rng: SeedLike = None,
) -> BlockTVGrid:
    """:func:`expected_block_tv` on every ``(a, a + s)`` of a grid (NaN past ``n``).

    Parameters
    ----------
    target : DiscreteOracle
    prefix_lengths : sequence of int
        Each in ``[0, n - 1]``.
    sizes : sequence of int
        Block sizes, each in ``[1, n]``.
    orders : int, optional
        As in :func:`expected_block_tv` (the same for every cell).
    rng : seed or Generator, optional
        One generator feeds the cells in row-major order.

    Returns
    -------
    BlockTVGrid
    """
    n, q = _check_target(target)
    A = np.array([check_int("prefix_lengths[i]", a, low=0, high=n - 1) for a in prefix_lengths])
    Ss = np.array([check_int("sizes[j]", s, low=1, high=n) for s in sizes])
    gen = np.random.default_rng(rng)
    val = np.full((A.size, Ss.size), np.nan)
    lo, hi = val.copy(), val.copy()
    method = ""
    for i, a in enumerate(A):
        for j, s in enumerate(Ss):
            if a + s <= n:
                r = expected_block_tv(target, int(a), int(a + s), orders=orders, rng=gen)
                val[i, j], (lo[i, j], hi[i, j]) = r.value, r.interval
                method = r.method
    return BlockTVGrid(val, (lo, hi), method, A, Ss, n, q)

