"""What the chain-rule family tests on an ``(n, q)`` target, and its planner.

See :mod:`verify.chain_tests` for the family and the statement of its power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy import stats

from distributions.base import DiscreteOracle
from distributions.validation import check_float
from verify.chain_tests.combine import BLOCK_WEIGHTS, CAUCHY_MAX_ALPHA, cauchy_cell_level

#: Largest ``S (q - 1)`` for the ``S`` sites whose pairs are all tested (one-hot
#: Gram matrix and feature covariance of this order).
MAX_PAIR_FEATURES: int = 1024
#: Principal directions of the ``moment-top`` sub-test.
TOP_PCS: int = 10
#: Interaction orders whose marginals carry the stated power.
INTERACTION_ORDERS: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class ChainLayout:
    """What :func:`chain_test` tests on an ``(n, q)`` target (and the planner counts).

    Attributes
    ----------
    n, q : int
    pair_sites : int
        Number ``S`` of sites whose pairs are all tested (``n`` when
        ``n (q - 1) <= MAX_PAIR_FEATURES``).
    pairs_tested, pairs_total : int
        ``S (S - 1) / 2`` and ``n (n - 1) / 2``.
    family_size : int
        Largest number of sub-tests (PIT groups, score, sites, pairs, moments).
    """

    n: int
    q: int
    pair_sites: int
    pairs_tested: int
    pairs_total: int
    family_size: int


def chain_layout(n: int, q: int) -> ChainLayout:
    """The sub-test family of :func:`chain_test` for an ``(n, q)`` target."""
    ns = min(n, max(2, MAX_PAIR_FEATURES // (q - 1)))
    pairs = ns * (ns - 1) // 2
    per_site = 1 if q == 2 else q
    moments = 0 if ns < 2 else (2 if ns * (q - 1) > TOP_PCS else 1)
    fam = len(_groups(n)) + 1 + n * per_site + pairs + moments
    return ChainLayout(n, q, ns, pairs, n * (n - 1) // 2, fam)


def cell_weights(lay: ChainLayout) -> tuple[float, float]:
    """Weights of one site test and of one pair cell in the Cauchy combination
    (:mod:`verify.chain_tests.combine`; blocks without a sub-test are dropped)."""
    blocks = {"chain": 1, "site": 1, "pair": 1 if lay.pairs_tested else 0}
    total = sum(BLOCK_WEIGHTS[b] for b, on in blocks.items() if on)
    per_site = 1 if lay.q == 2 else lay.q
    w_site = BLOCK_WEIGHTS["site"] / total / (lay.n * per_site)
    w_pair = (BLOCK_WEIGHTS["pair"] / total / (lay.pairs_tested * lay.q * lay.q)
              if lay.pairs_tested else 0.0)
    return w_site, w_pair


def _cell_z(
    n: int, q: int, alpha: float, power: float, critical: float | None = None
) -> tuple[float, float]:
    # the weakest cell's level in the Cauchy combination, with a slack of (1 - power)
    # / 10 for the rest of the combination (its lower tail) taken from the power;
    # ``critical``: a Cauchy statistic above it rejects (the Monte Carlo null's)
    if critical is None and alpha > CAUCHY_MAX_ALPHA:  # Holm (a pair: Bonferroni q*q)
        m = chain_layout(n, q).family_size * q * q
        return float(stats.norm.isf(alpha / (2.0 * m))), float(stats.norm.isf(1.0 - power))
    w_site, w_pair = cell_weights(chain_layout(n, q))
    w = min(w for w in (w_site, w_pair) if w > 0)
    slack = (1.0 - power) / 10.0
    level = cauchy_cell_level(w, alpha, slack, critical)
    return float(stats.norm.isf(level / 2.0)), float(stats.norm.isf(1.0 - power + slack))


def _levels(tv: Any, alpha: Any, power: Any) -> tuple[float, float, float]:
    tv = check_float("tv", tv, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    return tv, alpha, power


def plan_chain_sample_size(oracle: DiscreteOracle, *, tv: float, alpha: float, power: float) -> int:
    """Sample size of the chain-rule family (see the module docstring).

    The size at which a deviation of TV ``tv`` in any one-site marginal or in the
    two-site marginal of any tested pair (:func:`chain_layout`) is detected with
    probability ``power`` at family-wise level ``alpha``. It says nothing about
    deviations of higher interaction order (module docstring).

    **Joint TV.** A law ``nu`` whose deviation from the target ``mu`` is confined to a
    set ``A`` of sites, ``nu(x) = nu_A(x_A) mu(x_rest | x_A)``, is at joint TV exactly
    ``TV(nu_A, mu_A)`` from ``mu`` (sum out ``x_rest``). So for ``|A| <= 2`` (a site or
    a tested pair) this is a plan against **joint** TV: every such law at joint TV
    ``>= tv`` is detected with probability ``power``. Against all laws at joint TV
    ``tv`` no plan of this size exists: identity testing on ``[q]**n`` needs of order
    ``q**(n/2) / tv**2`` samples (Paninski 2008; at ``n = 1000``, ``q = 2``, more than
    ``2**500``), and the ``x2 = x0 XOR x1`` law (joint TV 0.5) leaves every one- and
    two-site marginal, PIT and score of a uniform product unchanged. Figure: at
    ``n = 1000``, ``q = 2``, ``alpha = 1e-3``, ``power = 0.99``, ``N = 30,869`` detects
    every law at joint TV ``>= 0.05`` confined to one site or pair; the same size
    rejected a mixture-weight deviation at joint TV about 0.02 (weights 0.52 / 0.48, not
    a confined deviation) in 10 of 10 runs (``benchmarks/chain_calibration.py``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> plan_chain_sample_size(SimpleNamespace(n=1000, q=2), tv=0.05, alpha=1e-3, power=0.99)
    30869
    """
    tv, alpha, power = _levels(tv, alpha, power)
    za, zb = _cell_z(int(oracle.n), int(oracle.q), alpha, power)
    delta = 2.0 * tv / (oracle.q * oracle.q)
    return max(1, math.ceil((0.5 * (za + zb) / delta) ** 2))


def chain_detectable_tv(
    n: int, q: int, num_samples: int, *, alpha: float, power: float,
    critical: float | None = None,
) -> float:
    """One- or two-site-marginal TV detected with probability ``power`` at ``num_samples``.

    ``critical``: the Cauchy statistic above which the family rejects (the Monte
    Carlo null's, ``chain_test(..., null_draws=B)``); default: the analytic level.
    1.0 means no stated power (no such deviation is guaranteed to be detected).
    """
    if critical is not None and not math.isfinite(critical):
        return 1.0
    za, zb = _cell_z(n, q, alpha, power, critical)
    delta = 0.5 * (za + zb) / math.sqrt(num_samples)
    return float(min(1.0, delta * q * q / 2.0))


def _power_statement(lay: ChainLayout, num: int, alpha: float, power: float) -> str:
    tv = chain_detectable_tv(lay.n, lay.q, num, alpha=alpha, power=power)
    blind = (
        "Deviations of interaction order >= 3 that leave every tested one- and two-site "
        "marginal unchanged (e.g. x2 = x0 XOR x1 on a uniform product, joint TV 0.5) are "
        "not covered; the chain-rule PIT, score and moment sub-tests have no stated power."
    )
    if tv >= 1.0:
        return (
            f"No stated power: at N = {num} no deviation of a one- or two-site marginal "
            f"is detected with probability >= {power:g} at family-wise level {alpha:g}. "
            + blind
        )
    if lay.pairs_tested == lay.pairs_total:
        pairs = f"any of the {lay.pairs_total} pairs (all pairs)"
    else:
        pairs = (
            f"any of the {lay.pairs_tested} pairs among the {lay.pair_sites} sites listed "
            f"in `pair_sites` (the other {lay.pairs_total - lay.pairs_tested} of the "
            f"{lay.pairs_total} pairs are not tested)"
        )
    return (
        f"With probability >= {power:g} at family-wise level {alpha:g}: a deviation of "
        f"TV >= {tv:.3g} in the one-site marginal of any of the {lay.n} sites or in the "
        f"two-site marginal of {pairs}; in joint TV: any law at joint TV >= {tv:.3g} "
        "whose deviation is confined to one such site or pair (the other sites "
        "following the target's conditional law given it). " + blind
    )


def _groups(n: int) -> list[tuple[int, int]]:
    out, s = [], 0
    while s < n:
        e = min(n, 1 if s == 0 else 2 * s)
        out.append((s, e))
        s = e
    return out
