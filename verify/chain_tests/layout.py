"""What the chain-rule family tests on an ``(n, q)`` target, and its planner.

See :mod:`verify.chain_tests` for the family and the statement of its power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from distributions.base import DiscreteOracle
from distributions.errors import ParameterError
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
        Largest number of sub-tests of the marginal family (PIT groups, score,
        sites, pairs, moments).
    scores : int
        Number of scores of the martingale family: ``2 n (q - 1)`` intercept and
        sharpness scores and ``(q - 1)**2`` per (pair site revealed earlier, step);
        when not every site is a pair site, the largest over reveal orders.
    """

    n: int
    q: int
    pair_sites: int
    pairs_tested: int
    pairs_total: int
    family_size: int
    scores: int = 0


def chain_layout(n: int, q: int) -> ChainLayout:
    """The sub-test family of :func:`chain_test` for an ``(n, q)`` target."""
    ns = min(n, max(2, MAX_PAIR_FEATURES // (q - 1)))
    pairs = ns * (ns - 1) // 2
    per_site = 1 if q == 2 else q
    moments = 0 if ns < 2 else (2 if ns * (q - 1) > TOP_PCS else 1)
    fam = len(_groups(n)) + 1 + n * per_site + pairs + moments
    k = q - 1
    pair_scores = (pairs + ns * (n - ns)) * k * k if ns >= 2 else 0
    return ChainLayout(n, q, ns, pairs, n * (n - 1) // 2, fam, 2 * n * k + pair_scores)


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


def plan_chain_sample_size(
    oracle: DiscreteOracle, *, tv: float, alpha: float, power: float,
    family: str = "marginal",
) -> int:
    """Sample size of the chain-rule family (see the module docstring).

    **Martingale family** (``family="martingale"``): the size at which a deviation of TV ``tv`` in
    any one-site marginal or in the two-site marginal of any tested pair makes one
    score's mean large enough for its block to reject with probability ``power`` at
    family level ``alpha``, under these assumptions (stated in every result's
    ``power_against``): the **target is a product law** (independent sites) and the
    deviation is confined to that site or pair (the other sites independent of it),
    so that the conditional law revealed at the site's step is its marginal (given
    the pair partner). Derivation: a binary decision whose probability moves by
    ``delta`` moves its score's ``z`` mean by ``delta phi(ndtri(b)) / (b (1 - b)) >=
    H_MIN delta`` (``H_MIN = 4 phi(0) = 1.596``, at ``b = 1/2``; the randomised PIT
    keeps ``(H_MIN / 2)**2 = 0.64`` of the binomial score's information). By the
    chain rule over the ``q - 1`` decisions of a site, ``TV <= sum_v P(x >= v)
    |delta_v|``, so some intercept score has mean ``>= H_MIN tv sqrt(N) / (q - 1)``
    (one-site). For a pair ``(k, i)``, ``k`` revealed first: ``TV`` splits into ``k``'s
    decisions (intercept scores) and ``i``'s decisions given ``x_k``, whose ``q``
    scores (intercept and the ``q - 1`` one-hot columns of ``x_k``, an orthonormal
    rotation of the ``q`` per-value means) have one of mean ``>= ||m|| / sqrt(q)``;
    the adversary's best split gives ``H_MIN tv sqrt(N) / ((q - 1)(1 + sqrt(q)))``
    (0.661 for ``q = 2``). The score needs mean ``mu`` = the Sidak critical value of
    its block plus ``ndtri(power)`` (``max`` blocks) or the noncentral chi-square
    solution (early groups), in the hardest block it may fall in; ``d`` samples are
    added for the projection on the ``d`` feature columns (each removes about
    ``1 / N`` of the signal's squared norm when the sites are independent). Normal
    approximation with unit variance; checked by simulation
    (``tests/verify/test_chain_martingale.py``: one coupled pair of a
    ``Product(n=40)`` at the stated TV). For a dependent target the scores stay
    exactly calibrated but no power is derived (measured on a mixture of products:
    ``benchmarks/chain_calibration.py``). Figure: ``n = 1000, q = 2, tv = 0.05,
    alpha = 1e-3, power = 0.99 -> N = 66,408``.

    **Marginal family** (``family="marginal"``): the size at which a deviation of
    TV ``tv`` in any one-site marginal or in the two-site marginal of any tested
    pair (:func:`chain_layout`) is detected with probability ``power`` at
    family-wise level ``alpha``. It says nothing about deviations of higher
    interaction order (module docstring).

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
    >>> t = SimpleNamespace(n=1000, q=2)
    >>> plan_chain_sample_size(t, tv=0.05, alpha=1e-3, power=0.99)
    30869
    >>> plan_chain_sample_size(t, tv=0.05, alpha=1e-3, power=0.99, family="martingale")
    66408
    """
    tv, alpha, power = _levels(tv, alpha, power)
    check_family(family)
    if family == "martingale":
        a_site, a_pair, d = score_plan(int(oracle.n), int(oracle.q), alpha, power)
        return math.ceil((max(a_site, a_pair) / tv) ** 2) + d
    za, zb = _cell_z(int(oracle.n), int(oracle.q), alpha, power)
    delta = 2.0 * tv / (oracle.q * oracle.q)
    return max(1, math.ceil((0.5 * (za + zb) / delta) ** 2))


def chain_detectable_tv(
    n: int, q: int, num_samples: int, *, alpha: float, power: float,
    critical: float | None = None, family: str = "marginal",
) -> float:
    """One- or two-site-marginal TV detected with probability ``power`` at ``num_samples``.

    ``family="marginal"`` (default): the marginal family's; ``"martingale"``: under
    the product-target assumption of :func:`plan_chain_sample_size`.

    ``critical``: the Cauchy statistic above which the family rejects (the Monte
    Carlo null's, ``chain_test(..., null_draws=B)``); default: the analytic level.
    1.0 means no stated power (no such deviation is guaranteed to be detected).
    """
    check_family(family)
    if family == "martingale":
        a_site, a_pair, d = score_plan(n, q, alpha, power)
        if num_samples <= d:
            return 1.0
        return float(min(1.0, max(a_site, a_pair) / math.sqrt(num_samples - d)))
    if critical is not None and not math.isfinite(critical):
        return 1.0
    za, zb = _cell_z(n, q, alpha, power, critical)
    delta = 0.5 * (za + zb) / math.sqrt(num_samples)
    return float(min(1.0, delta * q * q / 2.0))


def check_family(family: str) -> None:
    """Refuse a ``family`` that is not one of :data:`FAMILIES`."""
    if family not in FAMILIES:
        raise ParameterError(f"`family` must be one of {FAMILIES}; got {family!r}.")


def _power_statement(
    lay: ChainLayout, num: int, alpha: float, power: float, family: str = "marginal"
) -> str:
    tv = chain_detectable_tv(lay.n, lay.q, num, alpha=alpha, power=power, family=family)
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
    if family == "martingale":
        return (
            f"If the target is a product law (independent sites): with probability >= "
            f"{power:g} at family level {alpha:g}, a deviation of TV >= {tv:.3g} in the "
            f"one-site marginal of any of the {lay.n} sites or in the two-site marginal "
            f"of {pairs}, confined to it (the other sites independent of it; then also "
            f"its joint TV). For a dependent target the family is exactly calibrated "
            "but no power is stated. " + blind.replace(
                "the chain-rule PIT, score and moment sub-tests have",
                "the early-step, sharpness and other chain-rule scores add power but")
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


# ------------------------------------------------------------ the martingale family
#: Families of :func:`~verify.chain_tests.chain_test` (the first is the default).
FAMILIES: tuple[str, ...] = ("marginal", "martingale")
#: Steps whose intercept scores are summed in squares, by geometric group (product
#: targets and ``q > 2``); the least length of the directed block otherwise.
EARLY_STEPS: int = 16
#: Share of the family's level of each block of scores (weighted Sidak, exact).
SCORE_SHARES: dict[str, float] = {"early": 0.2, "site": 0.25, "pair": 0.45, "sharp": 0.1}
#: Smallest mean shift of a binary decision's score per unit of probability shift:
#: ``phi(ndtri(b)) / (b (1 - b))`` at its minimum ``b = 1/2`` (``4 phi(0)``).
H_MIN: float = 4.0 / math.sqrt(2.0 * math.pi)


def early_groups(n: int) -> list[tuple[int, int]]:
    """Geometric groups of the first ``min(n, EARLY_STEPS)`` steps: 1, 2, 3-4, 5-8, ..."""
    return _groups(min(n, EARLY_STEPS))


def score_blocks(
    n: int, q: int, pair_scores: int, directed_steps: int = 0
) -> list[tuple[str, float, str, int]]:
    """Blocks of the martingale family: ``(name, weight, kind, size)``.

    ``kind``: ``"chi2"`` (sum of squares, ``size`` degrees of freedom), ``"max"``
    (Sidak on the largest ``|W|`` of ``size`` scores) or ``"sum"`` (``size`` scores
    summed). Weights from :data:`SCORE_SHARES` over the blocks present (fixed by ``n``,
    ``q``, the pair sites and the directed block), summing to 1.

    ``directed_steps = E > 0`` (a target with a common factor,
    :mod:`verify.chain_tests.direction`): the early share goes to one score, the
    directed block ``early-directed[steps 1-E]`` (a ``"max"`` of size 1: two-sided
    normal), and ``site-max`` takes the other ``n (q - 1) - 1`` intercept scores (those
    of the first ``E`` steps after the block's Householder reflection). ``0``: the
    early groups of :func:`early_groups` and ``site-max`` after them (the product
    layout, which the planner uses).
    """
    k = q - 1
    if directed_steps:
        out: list[tuple[str, float, str, int]] = [
            (f"early-directed[steps 1-{directed_steps}]", SCORE_SHARES["early"], "max", 1)]
        if n * k > 1:
            out.append(("site-max", SCORE_SHARES["site"], "max", n * k - 1))
    else:
        groups = early_groups(n)
        out = [(f"early[steps {s + 1}-{e}]", SCORE_SHARES["early"] / len(groups), "chi2",
                (e - s) * k) for s, e in groups]
        if n > EARLY_STEPS:
            out.append(("site-max", SCORE_SHARES["site"], "max", (n - EARLY_STEPS) * k))
    if pair_scores:
        out.append(("pair-max", SCORE_SHARES["pair"], "max", pair_scores))
    out.append(("sharp", SCORE_SHARES["sharp"], "sum", n * k))
    total = sum(b[1] for b in out)
    return [(name, w / total, kind, size) for name, w, kind, size in out]


def weighted_sidak(pvalues: list[float], weights: list[float]) -> float:
    """``1 - prod_b (1 - min(1, w_b T))`` at ``T = min_b p_b / w_b``: exactly Uniform(0,
    1) when the block p-values are independent and exactly uniform."""
    t = min(p / w for p, w in zip(pvalues, weights, strict=True))
    return float(-np.expm1(sum(math.log1p(-min(1.0, w * t)) if w * t < 1 else -math.inf
                               for w in weights)))


def _sidak_t(weights: list[float], alpha: float) -> float:
    """The ``T`` at which :func:`weighted_sidak` equals ``alpha``."""
    return float(optimize.brentq(
        lambda t: -np.expm1(sum(math.log1p(-w * t) for w in weights)) - alpha,
        0.0, 1.0 / max(weights) * (1 - 1e-12)))


def _needed_shift(kind: str, size: int, level: float, power: float) -> float:
    """Mean of one score (unit variance) that the block detects with ``power``."""
    if kind == "max":
        per = -math.expm1(math.log1p(-level) / size)  # Sidak per-score level
        return float(stats.norm.isf(per / 2.0) + stats.norm.ppf(power))
    crit = float(stats.chi2.isf(level, size))
    return float(optimize.brentq(lambda m: stats.ncx2.sf(crit, size, m * m) - power,
                                 1e-6, 100.0))


def score_plan(n: int, q: int, alpha: float, power: float) -> tuple[float, float, int]:
    """``(mu_site / c_site, mu_pair / c_pair, d)``: the size is ``(that / tv)**2 + d``.

    ``mu``: the mean a single score needs to be detected with ``power`` in the hardest
    block it may fall in (one-site deviation: an early group or ``site-max``;
    two-site: any block), in the product layout (no directed block: a product target
    has no common factor, :mod:`verify.chain_tests.direction`); ``c``: the worst
    mean per unit of TV (:func:`plan_chain_sample_size`); ``d``: the feature columns
    (the orthogonal projection on them costs about ``d`` samples of signal).
    """
    lay = chain_layout(n, q)
    k = q - 1
    s = lay.pair_sites if lay.pairs_tested else 0
    blocks = score_blocks(n, q, lay.scores - 2 * n * k)  # the most any order gives
    t = _sidak_t([b[1] for b in blocks], alpha)
    mu = {b[0]: _needed_shift(b[2], b[3], b[1] * t, power) for b in blocks
          if b[2] != "sum"}
    mu_site = max(v for name, v in mu.items() if name != "pair-max")
    mu_pair = max(mu.values())
    c_site = H_MIN / k
    c_pair = H_MIN / (k * (1.0 + math.sqrt(q)))
    return mu_site / c_site, (mu_pair / c_pair if s else 0.0), 1 + s * k
