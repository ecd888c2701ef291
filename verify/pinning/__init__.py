"""Pinning lemma and the sum-TV round bound (DESIGN 6.3, issue 4).

Notation (DESIGN 4): a uniformly random order ``sigma`` of ``[n]``, the prefix
``P = sigma(1..a)`` and the block ``S = sigma(a+1..b)``;

- ``mu_S`` is the law of ``X_S`` given ``x_P`` (the chain rule along ``S``),
- ``nu_S`` is the product of the single-site conditionals ``mu(X_i | x_P)``, i in S,
- ``h_t = E_sigma H(X_sigma(t+1) | X_sigma(1..t))``, ``t = 0..n-1`` (nats).

Symmetry
--------
``TV(mu_S, nu_S)`` and ``KL(mu_S || nu_S)`` depend on the order only through the
*sets* ``P`` and ``S`` (not the order inside them), and ``(P, S)`` is a uniformly
random pair of disjoint sets of sizes ``a`` and ``b - a``. The average over all
``n!`` orders is therefore an average over those pairs, computed exactly from the
marginals of the table on subsets of coordinates; every subset marginal is computed
once (from a marginal one coordinate larger) and cached. In the same way
``h_t = Hbar_{t+1} - Hbar_t`` with ``Hbar_k`` the mean joint entropy of the
``k``-subsets.

Methods
-------
``orders=None``
    Exact: every pair of sets, exact expectation over ``x_P`` (``Enumerable``
    target, ``n <= 12`` and ``(q+1)**n <= 2**22``). Zero-width interval.
``orders=R`` (int) on an ``Enumerable`` target
    ``R`` uniform random orders; for each, the quantity is exact over ``x``
    (from the table). 95% Student-t interval over the orders.
``orders=R`` on any other oracle (the scalable families)
    ``R`` independent pairs ``(sigma, x)`` with ``x ~ mu`` drawn by the target's
    ``sample``. Given the context ``x_P`` the block TV is exact when ``q**|S|`` is
    small enough to enumerate (chain-rule conditionals of every ``x_S``), and
    otherwise the unbiased importance-sampling estimate
    ``E_{x_S ~ mu_S}[(1 - nu_S(x_S) / mu_S(x_S))_+] = TV`` with ``x_S`` the block of
    the exact sample ``x``; the KL is the Rao-Blackwellised chain
    ``sum_j KL(mu(. | x_P, x_S<j) || mu(. | x_P))``. 95% Student-t interval.

Every estimate is a frozen dataclass with ``value``, ``interval`` and ``method``
(and ``to_dict()``); every check returns a :class:`PinningCheckResult` carrying both
sides (or a :class:`RoundBoundResult`), both implementing the shared protocol
:class:`verify.results.CheckResult`.

Modules
-------
``results``      the result records
``inputs``       argument validation, the limits of exact computation
``numerics``     intervals and entropies
``exact``        all orders via subset marginals
``sampled``      sampled orders on a table
``montecarlo``   ``(sigma, x)`` draws on any oracle
``estimates``    :func:`entropy_profile`, :func:`expected_block_tv` / ``_kl``, grids
``tree``         :func:`recursion_levels`, :func:`tree_tv`
``checks``       the identity and bound checks, :func:`pinning_checks`
``round_bound``  :func:`check_round_bound`, :func:`trace_block_tv`
``diffusion_tree`` :func:`diffusion_tree_budget`: the diffusion analogue (KL and TV
                 of the frozen-drift speculation on every node of the time tree)
"""

from __future__ import annotations

from verify.pinning.checks import (
    check_entropy_monotone,
    check_entropy_sum,
    check_kl_bound,
    check_kl_identity,
    check_level_bounds,
    check_mutual_information_identity,
    check_tree_bound,
    pinning_checks,
)
from verify.pinning.diffusion_tree import (
    DiffusionTreeBudget,
    diffusion_tree_budget,
    tree_nodes,
)
from verify.pinning.estimates import (
    block_tv_grid,
    entropy_profile,
    expected_block_kl,
    expected_block_tv,
)
from verify.pinning.inputs import MAX_EXACT_N, SeedLike, exact_available
from verify.pinning.montecarlo import MAX_BLOCKS_PER_LEVEL, enum_limit
from verify.pinning.numerics import CONFIDENCE
from verify.pinning.results import (
    BlockResult,
    BlockTVGrid,
    CheckResult,
    EntropyProfileResult,
    PinningCheckResult,
    RoundBoundResult,
    TreeTVResult,
)
from verify.pinning.round_bound import check_round_bound, trace_block_tv
from verify.pinning.tree import DEFAULT_ORDERS, recursion_levels, tree_tv

__all__ = [
    "DiffusionTreeBudget",
    "diffusion_tree_budget",
    "tree_nodes",
    "CONFIDENCE",
    "DEFAULT_ORDERS",
    "MAX_BLOCKS_PER_LEVEL",
    "MAX_EXACT_N",
    "SeedLike",
    "EntropyProfileResult",
    "BlockResult",
    "BlockTVGrid",
    "TreeTVResult",
    "RoundBoundResult",
    "PinningCheckResult",
    "CheckResult",
    "entropy_profile",
    "expected_block_tv",
    "expected_block_kl",
    "block_tv_grid",
    "tree_tv",
    "recursion_levels",
    "check_round_bound",
    "trace_block_tv",
    "enum_limit",
    "exact_available",
    "check_entropy_monotone",
    "check_entropy_sum",
    "check_mutual_information_identity",
    "check_kl_identity",
    "check_kl_bound",
    "check_level_bounds",
    "check_tree_bound",
    "pinning_checks",
]
