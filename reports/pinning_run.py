"""The pinning-lemma run on one target family: the checks of :mod:`verify.pinning`.

:func:`compute` is shared by the ``autospeculation pinning`` subcommand
(:mod:`reports.cli.pinning`, which prints its tables and draws its figures) and by the
pinning stage of the validation run. The families are the catalogue's
(:data:`samplers.catalogue.PINNING_FAMILIES`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from samplers.autospec import AutospeculativeSampler
from samplers.catalogue import make_family
from verify import pinning as P

__all__ = ["compute", "grid_sizes"]


def grid_sizes(n: int) -> list[int]:
    """Block sizes of the block-TV grid: about ``f sqrt(n)`` for ``f`` from 1/8 to 8,
    at least 2 and at most ``n``."""
    sizes = sorted({max(2, int(round(f * math.sqrt(n)))) for f in (0.125, 0.25, 0.5, 1, 2, 4, 8)})
    return [s for s in sizes if s <= n] or [n]


def compute(name: str, n: int, *, seed: int, orders: int | None, samples: int) -> dict[str, Any]:
    """All results of one pinning run on family ``name`` at length ``n``.

    Parameters
    ----------
    name : str
        A family of :data:`samplers.catalogue.PINNING_FAMILIES`.
    n : int
        Sequence length (the family's range; checked by
        :func:`samplers.catalogue.make_family`).
    seed : int
        Root seed of the sampled orders and of the sampler runs.
    orders : int or None
        Random orders / Monte Carlo draws; None: exact over all orders when the target
        has a table and ``n <= 8``, else :data:`verify.pinning.DEFAULT_ORDERS`.
    samples : int
        Sampler runs for the round bound; 0 skips it.

    Returns
    -------
    dict
        ``target``, ``profile`` (entropy profile), ``tree`` (tree TV), ``grid`` (block
        TV grid), ``checks`` (the four identity and bound checks) and ``round_bound``
        (None when ``samples == 0``).
    """
    target = make_family(name, n)
    gen = np.random.default_rng(seed)
    # exact over all orders is quick up to n = 8; beyond, sample orders
    table_ok = P.exact_available(target) and target.n <= 8
    use = orders if orders is not None else (None if table_ok else P.DEFAULT_ORDERS)
    prof = P.entropy_profile(target, orders=use, rng=gen)
    tree = P.tree_tv(target, orders=use, rng=gen)
    prefixes = sorted({0, n // 4, n // 2})
    grid = P.block_tv_grid(target, prefix_lengths=prefixes, sizes=grid_sizes(n),
                           orders=use if use is None else max(16, use // 2), rng=gen)
    checks = [P.check_entropy_monotone(prof), P.check_entropy_sum(prof),
              P.check_level_bounds(tree), P.check_tree_bound(tree)]
    rb = None
    if samples:
        rb = P.check_round_bound(AutospeculativeSampler(target, trace=True), target,
                                 num_samples=samples, rng=gen)
    return {"target": target, "profile": prof, "tree": tree, "grid": grid,
            "checks": checks, "round_bound": rb}
