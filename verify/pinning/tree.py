"""The sampler's recursion tree and the expected sum of block TVs over it."""

from __future__ import annotations

import math

import numpy as np

from distributions.base import DiscreteOracle
from distributions.validation import check_int
from verify.pinning.exact import _EXACT, _exact_block, _subsets_for
from verify.pinning.inputs import SeedLike, _check_target, _exact_ok, _resolve_orders, _table_of
from verify.pinning.montecarlo import MAX_BLOCKS_PER_LEVEL, _mc_tree, enum_limit
from verify.pinning.numerics import _mean_ci
from verify.pinning.results import TreeTVResult
from verify.pinning.sampled import _order_block, _prefix_marginals, _random_orders, _sampled_method

__all__ = ["DEFAULT_ORDERS", "recursion_levels", "tree_tv"]

#: Default number of random orders when exact computation is impossible (tree_tv).
DEFAULT_ORDERS: int = 64


def recursion_levels(n: int) -> list[list[tuple[int, int]]]:
    """Blocks ``(a, b)`` of size >= 2 of the sampler's recursion tree, by depth.

    Root ``(0, n)``; ``mid = a + (b - a) // 2``; left ``(a, mid)``, right ``(mid, b)``.
    There are ``ceil(log2 n)`` such levels.

    Parameters
    ----------
    n : int
        ``>= 1``.

    Returns
    -------
    list of list of (int, int)
        ``levels[d]`` holds the blocks of depth ``d``.

    Examples
    --------
    >>> recursion_levels(5)
    [[(0, 5)], [(0, 2), (2, 5)], [(3, 5)]]
    """
    n = check_int("n", n, low=1)
    levels: list[list[tuple[int, int]]] = []
    cur = [(0, n)]
    while True:
        cur = [(a, b) for a, b in cur if b - a >= 2]
        if not cur:
            return levels
        levels.append(cur)
        nxt = []
        for a, b in cur:
            mid = a + (b - a) // 2
            nxt += [(a, mid), (mid, b)]
        cur = nxt


def tree_tv(
    target: DiscreteOracle, *, orders: int | None = None, rng: SeedLike = None
) -> TreeTVResult:
    """Per-level and whole-tree ``E sum_S TV(mu_S, nu_S)`` over the recursion tree.

    The expectation of a block's TV depends only on ``(a, b)``, so a level's sum is
    the sum of :func:`expected_block_tv` over its blocks.

    Parameters
    ----------
    target : DiscreteOracle
    orders : int, optional
        None: exact when the target is Enumerable and small (see the module
        docstring), otherwise :data:`DEFAULT_ORDERS` random orders. An integer:
        that many random orders / ``(sigma, x)`` replicates. For a target without
        a table each replicate evaluates all blocks of a level when there are at
        most :data:`MAX_BLOCKS_PER_LEVEL`, else a uniform sample of that many
        (scaled to the level size; unbiased).
    rng : seed or Generator, optional

    Returns
    -------
    TreeTVResult
    """
    n, q = _check_target(target)
    R = _resolve_orders(orders)
    table = _table_of(target)
    levels = recursion_levels(n)
    D = len(levels)
    level_bound = math.sqrt(n * math.log(q) / 2)
    tree_bound = math.ceil(math.log2(n)) * level_bound if n > 1 else 0.0
    nblocks = np.array([len(lv) for lv in levels], dtype=np.int64)
    if R is None and table is not None and _exact_ok(n, q):
        sub = _subsets_for(target, table)
        cache: dict[tuple[int, int], float] = {}
        blocks = []
        sums = np.zeros(D)
        for d, lv in enumerate(levels):
            for a, b in lv:
                if (a, b) not in cache:
                    cache[(a, b)] = _exact_block(sub, a, b)[0]
                blocks.append((d, a, b, cache[(a, b)]))
                sums[d] += cache[(a, b)]
        total = float(sums.sum())
        return TreeTVResult(
            total, (total, total), _EXACT, n, q, sums, np.stack([sums, sums], axis=1),
            nblocks, level_bound, tree_bound, tuple(blocks), None,
        )
    R = DEFAULT_ORDERS if R is None else R
    gen = np.random.default_rng(rng)
    blocks_out: tuple[tuple[int, int, int, float], ...] = ()
    if table is not None:
        flat = [(d, a, b) for d, lv in enumerate(levels) for a, b in lv]
        per = np.zeros((R, len(flat)))
        for r, sigma in enumerate(_random_orders(R, n, gen)):
            M = _prefix_marginals(table, sigma)
            for k, (_, a, b) in enumerate(flat):
                per[r, k] = _order_block(M[b], a, b, q)[0]
        depth = np.array([d for d, _, _ in flat])
        vals = np.stack([per[:, depth == d].sum(axis=1) for d in range(D)], axis=1)
        bmean = per.mean(axis=0)
        blocks_out = tuple((d, a, b, float(v)) for (d, a, b), v in zip(flat, bmean, strict=True))
        method = _sampled_method(R)
    else:
        vals, any_is = _mc_tree(target, levels, R, gen)
        method = (
            f"Monte Carlo over {R} draws of (sigma, x ~ mu); at most {MAX_BLOCKS_PER_LEVEL} "
            "uniformly sampled blocks per level and draw (scaled, unbiased); block TV exact "
            f"given the context when q**|S| <= {min(enum_limit(n), 16)}"
            + (", else importance sampling E_{x~mu_S}[(1 - nu_S/mu_S)_+]" if any_is else "")
            + "; 95% t-interval"
        )
    mean, lo, hi = _mean_ci(vals, nonneg=True)
    tmean, tlo, thi = _mean_ci(vals.sum(axis=1), nonneg=True)
    return TreeTVResult(
        float(tmean), (float(tlo), float(thi)), method, n, q, mean, np.stack([lo, hi], axis=1),
        nblocks, level_bound, tree_bound, blocks_out, R,
    )

