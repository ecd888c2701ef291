"""Chain-rule and low-order marginal tests for targets without a table (large ``n``).

Modules: :mod:`~verify.chain_tests.check` (:func:`chain_test`),
:mod:`~verify.chain_tests.layout` (the families and their planner),
:mod:`~verify.chain_tests.scores` and :mod:`~verify.chain_tests.martingale` (the
martingale family), :mod:`~verify.chain_tests.kernels` and
:mod:`~verify.chain_tests.combine` (the marginal family) and
:mod:`~verify.chain_tests.results`; the public names are re-exported here.

A target that is only a :class:`~distributions.base.DiscreteOracle` (e.g.
``MixtureOfProducts`` at ``n = 1000``) cannot be tabulated. :func:`chain_test` tests
samples ``x^(1..N)`` against it under the null "the samples are iid from the
oracle's law" with one of two families (``family=``):

* **martingale** (``family="martingale"``; :mod:`verify.chain_tests.scores`,
  :mod:`verify.chain_tests.direction`, :mod:`verify.chain_tests.martingale`): one
  reveal order for all samples; at each step the randomised PITs of the revealed
  site's value (one per binary decision of the value) are exactly iid N(0, 1) given
  everything revealed before, and are projected on predictable orthonormal feature
  columns (intercept: the one-site test; one-hot of every earlier-revealed pair
  site: the two-site tests; a sharpness column: tempering). By the tower rule all
  the scores are jointly iid N(0, 1) under the null **whatever the dependence of the
  coordinates**, so the family p-value (a weighted Sidak over disjoint blocks: the
  early block, the largest one-site score, the largest two-site score, the summed
  sharpness scores) is **exactly Uniform(0, 1)** with no simulation. The early block
  of a target with a common factor (``q = 2``) is one **directed** score ``c^T W_E``
  over the first ``E`` steps' intercept scores, ``c`` fixed from the reveal order and
  the exact one- and two-site marginals (a one-factor model with the posterior
  shrinkage, :mod:`verify.chain_tests.direction`), the other ``E - 1`` directions
  going to the one-site maximum through a Householder reflection; a product target
  (no factor) keeps chi-squares of the first 16 steps in geometric groups. Measured
  at ``n = 1000``, ``N = 1000`` over 200 seeds (``benchmarks/chain_calibration.py``,
  same draws as the marginal family's figures below), with the directed block:
  MixtureOfProducts mean p-value 0.552, KS p 0.002, rates 0 / 0.055 / 0.10 at 0.01 /
  0.05 / 0.1 (the same seeds gave KS p 0.03 before it, with the pair and sharpness
  blocks unchanged; the directed and one-site blocks alone on 400 other seeds: KS p
  0.52 and 0.21); held-back CurieWeiss(1000, 0.8, 0.1) mean 0.495, KS p 0.97, rates
  0.01 / 0.055 / 0.09. Cost ``O(N d n (q - 1))`` in
  BLAS products, memory ``O(d n (q - 1) + d**2)`` floats (``d <= MAX_PAIR_FEATURES +
  1`` feature columns: 16 MB at ``n = 1000``, ``q = 2``) plus one chunk of samples.
  Its stated power is derived for **product targets** (independent sites) and
  deviations confined to one site or pair (:func:`plan_chain_sample_size`); on a
  target that is not a :class:`~distributions.scalable.Product` (or a one-component
  mixture) it is exactly calibrated but states no power (``detectable_tv = 1``, a
  note says why). Against mixture-weight deviations (MixtureOfProducts(1000),
  weights 0.52 / 0.48) it rejects at 1e-3 in 7 of 10 runs at N = 30,869 and 10 of
  10 at N = 66,408 (the early groups before the directed block: 2 of 10 at both),
  where the marginal family rejects 10 of 10. The narrower power claim (and that
  residual gap) is why it is **not the default**.
* **marginal** (default, ``family="marginal"``; described below): site,
  pair, PIT-group, score and moment sub-tests against the exact one- and two-site
  marginals, combined by a weighted Cauchy combination, with an optional exact
  Monte Carlo null (``null_draws``). Its analytic p-value is not calibrated at large
  ``n`` (mean p-value 0.576 and KS p 7e-8 on the mixture above, 0.595 and
  4e-9 on the Curie-Weiss model); its Monte Carlo null is, at ``B + 1`` family
  evaluations. Its stated power holds for any target (exact marginals).

The marginal family
-------------------
It combines the sub-tests below by a weighted **Cauchy combination** of uniform
(randomised where discrete) sub-test p-values
(:mod:`verify.chain_tests.combine`): a third of the weight each to the chain block
(PIT groups, score, moments), the one-site block and the two-site block. Two
p-values of that statistic:

* **exact Monte Carlo null** (``null_draws=B``): the statistic on ``B`` data sets
  drawn exactly from the oracle's own chain rule; the randomised Monte Carlo
  p-value is exactly Uniform(0, 1) under the null, hence valid at every ``alpha``
  and calibrated whatever the sub-tests' dependence (measured over 200 seeds on an
  Ising chain, n = 16, N = 300, B = 9: mean 0.51, KS p 0.81, rates 0.015 / 0.045 /
  0.08 at 0.01 / 0.05 / 0.1; the analytic p-value of the same runs: mean 0.57, KS p
  7e-6; ``tests/verify/test_chain_calibration.py``, ``benchmarks/chain_calibration.py``).
  Cost: ``B + 1`` evaluations of the family and ``B N n`` oracle conditionals, with
  ``B >= 1/alpha - 1`` (999 at the default 1e-3).
* **analytic** (``null_draws=0``): ``1/2 - arctan(T) / pi``, a tail
  approximation valid under the sub-tests' dependence (Liu and Xie 2020) but not
  calibrated in general: it is conservative in the centre when many sub-tests share
  sites (the pair block: mean p-value 0.60, KS p 1e-12 over 200 seeds on a mixture
  of products at n = 200) and liberal at 0.1 (0.18 on an Ising chain with n = 16), so
  it is used at ``alpha <= CAUCHY_MAX_ALPHA`` and Holm's adjustment above.

Why its calibrated version is costly at large ``n``: the pair block's null law
depends on the four-site marginals of every two pairs (about ``n**4 / 8`` of them)
or must be simulated, and one simulated data set costs a Gram matrix of ``N n**2``
operations (``3e10`` at ``n = 1000`` and the planned ``N = 30,869``), a thousand of
them at ``alpha = 1e-3``. The chain block needs no oracle for its null: the PITs are
exactly iid Uniform(0, 1) and each reveal-step group is tested exactly
(:func:`~verify.chain_tests.kernels._pit_group_test`), the groups independently
(``pvalues["chain-pit"]``: their Sidak combination, exactly uniform). The
Bonferroni / Holm p-value over the whole family that the Cauchy combination
replaced is still reported (``pvalues["bonferroni"]``, and used for the
``rejected`` list); it is pinned at 1 under the null (mean 0.79).

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
    into ``2**k <= 16`` equiprobable bins and tested exactly (the bin counts split
    along the dyadic tree into independent Binomial(c, 1/2) counts, randomised,
    normal scores squared and summed: exactly chi-square). A revealed value with
    conditional probability 0 is an immediate failure.
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
Martingale family: :func:`plan_chain_sample_size` (its docstring derives the worst
mean shift of a score per unit of TV and states the assumptions). Figure: ``n =
1000, q = 2, tv = 0.05, alpha = 1e-3, power = 0.99 -> N = 66,408`` (2.15 times the
marginal family's 30,869: the price of the PIT scores' 0.64 efficiency and of the
pair's worst split). Marginal family: :func:`plan_chain_sample_size` gives the size
at which a deviation of TV ``tv`` in any one-site marginal or any tested two-site
marginal is detected with probability ``power`` at family-wise level ``alpha`` (the
worst cell of a ``q**2`` table deviates by at least ``2 tv / q**2``; binomial test
at the level the Cauchy combination needs from a sub-test of the smallest weight
``w``, ``w / (pi (t_alpha + t_slack))``, with a slack of ``(1 - power) / 10`` for
the rest of the combination, :func:`verify.chain_tests.combine.cauchy_cell_level`;
normal approximation with the worst variance 1/4). The family size is the one
:func:`chain_test` runs (every pair of the pair sites), so the stated power is the
power against a deviation in any single tested pair; it is checked by simulation in
``tests/verify/test_chain_tests.py`` (one coupled pair of a ``Product(n=40)`` at
exactly the stated TV). A joint deviation at TV ``tv`` need not show in a low-order
marginal; ``tests/verify/test_chain_tests.py`` also checks that samplers at joint TV
>= 0.05 from a ``MixtureOfProducts(n=1000)`` fail (at the default family's size). A law whose
deviation is confined to one site or one tested pair (the other sites following the
target's conditional law given them) is at joint TV equal to that marginal TV, so
for that class the plan is a plan against joint TV; against all laws at a joint TV
it is impossible in general (:func:`plan_chain_sample_size`). With ``null_draws``
the stated power uses the Monte Carlo critical value of the statistic in place of
the analytic one (``critical`` in the result). Figure: ``n = 1000, q = 2, tv = 0.05,
alpha = 1e-3, power = 0.99 -> N = 30,869`` (family of 500,514 sub-tests, all 499,500
pairs).
"""

from __future__ import annotations

from verify.chain_tests.check import chain_test
from verify.chain_tests.layout import (
    FAMILIES,
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
    "FAMILIES",
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
