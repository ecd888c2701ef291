"""Chain-rule and low-order marginal tests for targets without a table (large ``n``).

Modules: :mod:`~verify.chain_tests.check` (:func:`chain_test`),
:mod:`~verify.chain_tests.layout` (the family and its planner),
:mod:`~verify.chain_tests.kernels` (PITs, binomial tables, moments) and
:mod:`~verify.chain_tests.results`; the public names are re-exported here.

A target that is only a :class:`~distributions.base.DiscreteOracle` (e.g.
``MixtureOfProducts`` at ``n = 1000``) cannot be tabulated. :func:`chain_test` tests
samples ``x^(1..N)`` against it with a family of sub-tests, each calibrated under
the null "the samples are iid from the oracle's law", combined by a weighted
**Cauchy combination** of uniform (randomised where discrete) sub-test p-values
(:mod:`verify.chain_tests.combine`): a third of the weight each to the chain block
(PIT groups, score, moments), the one-site block and the two-site block. It is valid
in the tail under the sub-tests' dependence (Liu and Xie 2020; checked by
simulation) and, unlike the Bonferroni / Holm p-value ``min(1, m p_min)`` over the
whole family that it replaces (still reported in ``pvalues["bonferroni"]``, and used
for the ``rejected`` list), it is not pinned at 1 under the null. Measured
(200 seeds each, ``tests/verify/test_chain_calibration.py`` and
``benchmarks/chain_calibration.py``): Ising chain n = 16, N = 300: mean p-value 0.52,
KS p = 0.12, rejection rates 0.010 / 0.080 / 0.180 at 0.01 / 0.05 / 0.1 (Bonferroni:
mean 0.79, KS p = 1e-84); n = 40, N = 1,000: mean 0.53 (mixture of products) and
0.57 (Ising chain), against 0.78 and 0.81; n = 200, N = 1,000: 0.57 and 0.58
(rates 0.020 / 0.070 / 0.135 and 0.015 / 0.045 / 0.070), against 0.79 and 0.84
(rates 0.005 / 0.025 / 0.065 and 0 / 0.02 / 0.04). It is a tail approximation: liberal at the
moderate level 0.1 (0.18 above), calibrated at the levels it is meant for
(``alpha <= 0.05``; default 1e-3).

What the family can and cannot see
----------------------------------
The stated power (``detectable_tv``, :func:`plan_chain_sample_size`) covers exactly
the **one-site marginals of all n sites and the two-site marginals of every tested
pair** (interaction orders 1 and 2, :data:`INTERACTION_ORDERS`): all ``n (n - 1) / 2``
pairs when ``n (q - 1) <= MAX_PAIR_FEATURES``, otherwise every pair among a random
subset of ``MAX_PAIR_FEATURES // (q - 1)`` sites (listed in the result's
``pair_sites``; deviations confined to the other pairs are not covered). A joint
deviation that leaves every one- and two-site marginal unchanged is **invisible** to
the stated power: ``x2 = x0 XOR x1`` on a uniform product (joint TV 0.5) passes with
p = 1 at any size, because its one- and two-site marginals are those of the target
and, with uniform conditionals, so are its PITs and scores. The chain-rule PIT,
score and moment sub-tests add power against other deviations (tempered or
sharpened samplers, wrong mixture weights) but no stated power. Every result states
this in its ``power_against`` and ``interaction_orders`` fields.

Sub-tests
---------
``chain-pit[g]`` (exact calibration)
    Every sample's coordinates are revealed in an independent uniform random order.
    Step ``t`` reveals position ``sigma(t)``; under the null its value has law
    ``p_t = mu(X_sigma(t) | revealed values)`` (the oracle's chain rule, one
    ``conditionals_at(..., chain_values=...)`` call per chunk). The randomised
    probability-integral transform ``U = F_t(v - 1) + V p_t(v)`` (``V`` uniform) is
    then exactly iid Uniform(0, 1) over all steps and samples. Steps are grouped
    geometrically (``t = 1``, ``2``, ``3-4``, ``5-8``, ...) so that early steps, where
    most of a global deviation shows, are not diluted; each group's PITs are binned
    into equiprobable bins and tested with Pearson's chi-square. A revealed value
    with conditional probability 0 is an immediate failure.
``chain-score`` (martingale CLT)
    ``sum_t [log p_t(v_t) + H(p_t)] / sqrt(sum_t Var_{p_t} log p_t)`` is asymptotically
    N(0, 1); detects tempered / sharpened samplers. Omitted, with a note, when the
    variance is zero (every conditional deterministic or uniform).
``site[i]`` (exact binomial)
    Counts of ``X_i = v`` against the exact one-site marginal (one oracle call).
``pair[i,j]`` (exact binomial)
    Counts of each cell of ``(X_i, X_j)`` for every pair of the pair sites against
    the exact two-site marginal ``mu(X_i = a) mu(X_j = b | X_i = a)`` (Bonferroni
    over the ``q**2`` cells). All pair counts come from one Gram matrix of one-hot
    features.
``moment-top`` / ``moment-all`` (CLT, Hotelling with known covariance)
    The one-hot features ``f(x) = (1[x_i = v])`` of the pair sites (``v`` over the
    values other than the site's most probable one, so that near-deterministic
    sites keep an accurate covariance) have exact mean and covariance from the one-
    and two-site marginals; ``N (u_k . (f_bar - m))**2 / lambda_k`` summed over the
    top :data:`TOP_PCS` principal directions (and over all directions of positive
    variance) is asymptotically chi-square. Mixture-type deviations (wrong component
    weights) live in the top directions. Omitted when the covariance is zero (a
    deterministic target), with a note.

Status
------
``"fail"`` when the family rejects at ``alpha`` (or a sample has probability 0);
``"no-power"`` when it does not and the size has no stated power (``detectable_tv >=
1``: no one- or two-site deviation is guaranteed to be detected); ``"pass"``
otherwise. ``passed`` is True only for ``"pass"``.

Planning
--------
:func:`plan_chain_sample_size` gives the size at which a deviation of TV ``tv`` in
any one-site marginal or any tested two-site marginal is detected with probability
``power`` at family-wise level ``alpha`` (the worst cell of a ``q**2`` table deviates
by at least ``2 tv / q**2``; binomial test at the level the Cauchy combination needs
from a sub-test of the smallest weight ``w``, ``w / (pi (t_alpha + t_slack))``, with a
slack of ``(1 - power) / 10`` for the rest of the combination,
:func:`verify.chain_tests.combine.cauchy_cell_level`; normal approximation with the
worst variance 1/4). The family size is
the one :func:`chain_test` runs (every pair of the pair sites), so the stated power
is the power against a deviation in any single tested pair; it is checked by
simulation in ``tests/verify/test_chain_tests.py`` (one coupled pair of a ``Product(n=40)``
at exactly the stated TV). A joint deviation at TV ``tv`` need not show in a
low-order marginal; ``tests/verify/test_chain_tests.py`` also checks that samplers at joint
TV >= 0.05 from a ``MixtureOfProducts(n=1000)`` fail at this size. Figure:
``n = 1000, q = 2, tv = 0.05, alpha = 1e-3, power = 0.99 -> N = 30,869`` (family of
500,514 sub-tests, all 499,500 pairs).
"""

from __future__ import annotations

from verify.chain_tests.check import chain_test
from verify.chain_tests.layout import (
    INTERACTION_ORDERS,
    MAX_PAIR_FEATURES,
    TOP_PCS,
    ChainLayout,
    chain_detectable_tv,
    chain_layout,
    plan_chain_sample_size,
)
from verify.chain_tests.results import ChainTestResult

__all__ = [
    "ChainTestResult",
    "chain_test",
    "plan_chain_sample_size",
    "chain_detectable_tv",
    "chain_layout",
    "ChainLayout",
    "MAX_PAIR_FEATURES",
    "TOP_PCS",
    "INTERACTION_ORDERS",
]
