"""The martingale chain family (issue 15 item 3): exact calibration, both sides.

Under the null every score is exactly N(0, 1) and all are independent, whatever the
dependence of the target's coordinates, so the family p-value is exactly
Uniform(0, 1). Checked on a product, a strongly coupled Ising chain and a Curie-Weiss
model, with a sample size below the number of feature columns (dropped columns and
their dummies) on one of them; the directed early block and the reflected site
scores on their own (a mixture of products), and its direction against the closed
form. The other side: one coupled pair at the stated TV (stated power), a tempered
sampler, a wrong mixture weight (the directed block against the early groups it
replaced, on the same scores).

Meta-level 1e-3 per assertion unless stated; seeds are literals in each test.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts, Product
from samplers.oracle import CountingOracle
from verify.chain_tests import (
    chain_detectable_tv,
    chain_test,
    plan_chain_sample_size,
)
from verify.chain_tests.direction import SHRINK_STOP, early_direction, reflect
from verify.chain_tests.layout import EARLY_STEPS, early_groups, score_blocks, weighted_sidak
from verify.chain_tests.scores import martingale_scores

ALPHA, META = 1e-3, 1e-3


def _interval(rate: float, runs: int) -> tuple[float, float]:
    return stats.binom.ppf(META / 2, runs, rate), stats.binom.isf(META / 2, runs, rate)


def _null_pvalues(target, num: int, seeds: int, seed: int) -> np.ndarray:
    out = []
    for s in range(seeds):
        gen = np.random.default_rng([s, seed])
        res = chain_test(target.sample(num, rng=gen), target, alpha=ALPHA, rng=gen,
                         family="martingale")
        out.append(res.pvalue)
    return np.array(out)


@pytest.mark.slow
@pytest.mark.parametrize("name, target, num", [
    ("product", Product(np.random.default_rng(1501).dirichlet([1, 1], size=20)), 80),
    ("ising-strong", IsingChain(20, 1.5, 0.3), 80),
    ("curie-weiss", CurieWeiss(20, 0.8, 0.1), 80),
    ("ising-saturated", IsingChain(60, 0.8, 0.2), 40),  # N < d = 61: columns dropped
])
def test_family_pvalue_is_exactly_uniform_whatever_the_dependence(name, target, num):
    """200 seeds per target: KS p-value of uniformity and the rejection counts at
    0.01, 0.05 and 0.1 within two-sided binomial intervals (4 assertions per target,
    16 in all at 1e-3 each). The same law on a product and on strongly dependent
    coordinates: the invariance the martingale argument gives."""
    seeds, seed = 200, 15031
    p = _null_pvalues(target, num, seeds, seed)
    ks = stats.kstest(p, "uniform").pvalue
    rates = {r: int(np.sum(p <= r)) for r in (0.01, 0.05, 0.1)}
    assert ks > META, f"{name}: KS p={ks:.3g}, mean {p.mean():.3f}, counts {rates}, " \
        f"N={num}, seeds={seeds}, seed={seed}"
    for r, hits in rates.items():
        lo, hi = _interval(r, seeds)
        assert lo <= hits <= hi, f"{name}: {hits}/{seeds} at {r}, interval [{lo}, {hi}]"


def test_scores_are_standard_normal_on_a_dependent_target():
    """The kernel's scores (intercept, largest pair score's law, sharpness) on a
    Curie-Weiss model with n = 8, N = 40 over 150 seeds: the intercept of a fixed
    step and the sharpness score of the last step are N(0, 1) (KS), and the pair
    block's Sidak p-value is uniform (KS). 3 assertions at 1e-3."""
    target = CurieWeiss(8, 0.9, 0.2)
    co = CountingOracle(target, validate=False)
    inter, sharp, pair = [], [], []
    for s in range(150):
        gen = np.random.default_rng([s, 15032])
        sc = martingale_scores(target.sample(40, rng=gen), co, np.arange(8), gen)
        inter.append(sc.intercept[5])
        if sc.sharp_kept[-1]:
            sharp.append(sc.sharp[-1])
        w = abs(sc.pair_top[0][0]) if sc.pair_count == sc.pair_max else np.nan
        pair.append(-np.expm1(sc.pair_max * np.log1p(-2 * stats.norm.sf(w))))
    pair = np.array(pair)
    for label, v, law in (("intercept", inter, "norm"), ("sharp", sharp, "norm"),
                          ("pair-max", pair[~np.isnan(pair)], "uniform")):
        ks = stats.kstest(v, law).pvalue
        assert ks > META, f"{label}: KS p={ks:.3g} over {len(v)} runs, seed 15032"


def test_weighted_sidak_is_exact():
    """The block combination: exactly uniform for independent uniforms (KS over 4000
    draws), and its closed form at two blocks."""
    gen = np.random.default_rng(15033)
    w = [0.2, 0.3, 0.5]
    p = np.array([weighted_sidak(list(gen.random(3)), w) for _ in range(4000)])
    assert stats.kstest(p, "uniform").pvalue > META
    t = min(0.1 / 0.5, 0.4 / 0.5)
    assert weighted_sidak([0.1, 0.4], [0.5, 0.5]) == pytest.approx(1 - (1 - 0.5 * t) ** 2)
    blocks = score_blocks(1000, 2, 499500)
    assert sum(b[1] for b in blocks) == pytest.approx(1.0)
    assert [b[0] for b in blocks][-3:] == ["site-max", "pair-max", "sharp"]


def _single(co: CountingOracle) -> np.ndarray:
    n = co.n
    return co.conditionals_at(np.full((1, n), MASK), np.arange(n)[None, :])[0]


def _mixture(n: int, weight: float, seed: int) -> MixtureOfProducts:
    a = np.random.default_rng(seed).uniform(0.15, 0.85, (2, n))
    return MixtureOfProducts([weight, 1 - weight], np.stack([1 - a, a], axis=-1))


def test_reflection_is_orthogonal():
    """The directed block's Householder reflection: (directed score, other
    coordinates) is an orthogonal transform of the step scores whose first row is
    ``c``, so iid N(0, 1) scores give iid N(0, 1) outputs, exactly."""
    gen = np.random.default_rng(15045)
    for m in (2, 7, 50):
        c = gen.standard_normal(m)
        c /= np.linalg.norm(c)
        cols = [reflect(e, c) for e in np.eye(m)]
        mat = np.array([np.concatenate([[d], rest]) for d, rest in cols]).T
        assert np.allclose(mat @ mat.T, np.eye(m), atol=1e-12), m
        assert np.allclose(mat[0], c, atol=1e-15), m


def test_direction_from_the_exact_marginals():
    """No direction on a product or a one-component mixture (the product layout, planner
    and stated power stay as they were); on a two-component mixture, an exact
    one-factor model ``Sigma = l l^T + D`` with ``l = sqrt(w (1 - w)) (a0 - a1)``,
    the direction is the closed form ``c_j ~ h(p_j) l_j / (1 + S_{j-1})`` of the
    module docstring (fitted from the oracle's two-site marginals, compared with the
    one from the mixture's parameters); on an exchangeable Curie-Weiss model it has
    one sign and shrinks step by step."""
    prod = Product(np.random.default_rng(15046).dirichlet([1, 1], size=30))
    co = CountingOracle(prod, validate=False)
    assert early_direction(co, np.arange(30), _single(co)) is None
    one = CountingOracle(_mixture(30, 1.0, 15046), validate=False)  # weights 1 / 0
    assert early_direction(one, np.arange(30), _single(one)) is None
    n, w = 40, 0.3
    mix = _mixture(n, w, 15047)
    co = CountingOracle(mix, validate=False)
    order = np.random.default_rng(15048).permutation(n)
    got = early_direction(co, order, _single(co))
    a = np.random.default_rng(15047).uniform(0.15, 0.85, (2, n))[:, order]  # _mixture's
    p = w * a[0] + (1 - w) * a[1]
    var = p * (1 - p)
    load = np.sqrt(w * (1 - w)) * (a[0] - a[1])
    s_after = np.cumsum(load**2 / (var - load**2))
    s_before = np.concatenate([[0.0], s_after[:-1]])
    h = np.exp(-0.5 * special.ndtri(np.minimum(p, 1 - p)) ** 2) / np.sqrt(2 * np.pi) / var
    stop = np.flatnonzero(1 / (1 + s_after[EARLY_STEPS - 1 :]) <= SHRINK_STOP)
    steps = EARLY_STEPS + int(stop[0]) if stop.size else n
    want = (h * load / (1 + s_before))[:steps]
    want /= np.linalg.norm(want)
    assert got is not None and got.steps == steps, (got, steps)
    assert abs(got.c @ want) == pytest.approx(1.0, abs=1e-9), (got.c, want)
    cw = CurieWeiss(60, 0.7, 0.1)
    co = CountingOracle(cw, validate=False)
    got = early_direction(co, np.arange(60), _single(co))
    c = got.c * np.sign(got.c[0])
    assert (c > 0).all() and (np.diff(c) <= 1e-12).all(), c


@pytest.mark.slow
def test_directed_and_site_blocks_are_exactly_uniform():
    """The new blocks on their own under the null: MixtureOfProducts(n=30), N = 60,
    200 seeds. The directed score (two-sided normal p-value) and ``site-max`` (whose
    first steps' scores are the Householder complement of the directed one) are
    exactly uniform: KS p-value and the counts at 0.01 / 0.05 / 0.1 within
    two-sided binomial intervals (8 assertions at 1e-3)."""
    target, num, seeds, seed = _mixture(30, 0.5, 15049), 60, 200, 15050
    got: dict[str, list[float]] = {"directed": [], "site-max": []}
    for s in range(seeds):
        gen = np.random.default_rng([s, seed])
        res = chain_test(target.sample(num, rng=gen), target, alpha=ALPHA, rng=gen,
                         family="martingale")
        (name,) = (b for b in res.pvalues if b.startswith("early-directed"))
        got["directed"].append(res.pvalues[name])
        got["site-max"].append(res.pvalues["site-max"])
    for label, vals in got.items():
        p = np.array(vals)
        ks = stats.kstest(p, "uniform").pvalue
        rates = {r: int(np.sum(p <= r)) for r in (0.01, 0.05, 0.1)}
        assert ks > META, (f"{label}: KS p={ks:.3g}, mean {p.mean():.3f}, counts {rates}, "
                           f"N={num}, seeds={seeds}, seed={seed}")
        for r, hits in rates.items():
            lo, hi = _interval(r, seeds)
            assert lo <= hits <= hi, f"{label}: {hits}/{seeds} at {r}, interval [{lo}, {hi}]"


def test_same_rng_same_result():
    target = CurieWeiss(30, 0.8, 0.1)
    x = target.sample(200, rng=15034)
    a = chain_test(x, target, rng=15035, family="martingale")
    b = chain_test(x, target, rng=15035, family="martingale")
    assert a.pvalue == b.pvalue and dict(a.pvalues) == dict(b.pvalues)
    assert a.worst_cells == b.worst_cells and a.family == "martingale"


def test_family_and_null_draws_are_checked():
    target = Product(np.full((5, 2), 0.5))
    x = np.zeros((10, 5), dtype=np.int64)
    with pytest.raises(ParameterError, match="`family` must be one of"):
        chain_test(x, target, family="cauchy")
    with pytest.raises(ParameterError, match="`null_draws` applies to family='marginal'"):
        chain_test(x, target, null_draws=999, family="martingale")
    with pytest.raises(ParameterError, match="`family`"):
        plan_chain_sample_size(target, tv=0.1, alpha=ALPHA, power=0.99, family="x")


def test_plan_figures():
    """The planner's figures (the docstrings') and its inverse."""
    t = Product(np.full((1000, 2), 0.5))
    assert plan_chain_sample_size(t, tv=0.05, alpha=ALPHA, power=0.99, family="martingale") == 66408
    assert plan_chain_sample_size(t, tv=0.05, alpha=ALPHA, power=0.99,
                                  family="marginal") == 30869
    tv = chain_detectable_tv(1000, 2, 66408, alpha=ALPHA, power=0.99, family="martingale")
    assert 0.0499 < tv <= 0.05


# --------------------------------------------------------------- the other side
def _coupled_pair(n: int, num: int, tv: float, pair: tuple[int, int],
                  gen: np.random.Generator) -> np.ndarray:
    """Uniform bits except one pair drawn from (1/4 + e, 1/4 - e, 1/4 - e, 1/4 + e),
    e = tv / 2: pair-marginal (and joint) TV exactly ``tv``."""
    x = gen.integers(0, 2, (num, n))
    e = tv / 2
    cells = gen.choice(4, num, p=[0.25 + e, 0.25 - e, 0.25 - e, 0.25 + e])
    x[:, pair[0]], x[:, pair[1]] = cells // 2, cells % 2
    return x


@pytest.mark.slow
def test_stated_power_holds_for_one_coupled_pair():
    """One coupled pair of a uniform Product(n=40) at exactly the stated detectable TV
    is detected with at least the stated power 0.99: 100 runs, a random pair per run;
    fail below the 1e-3 quantile of Binomial(100, 0.99)."""
    n, power, runs, seed = 40, 0.99, 100, 15036
    target = Product(np.full((n, 2), 0.5))
    num = plan_chain_sample_size(target, tv=0.25, alpha=ALPHA, power=power, family="martingale")
    tv = chain_detectable_tv(n, 2, num, alpha=ALPHA, power=power, family="martingale")
    assert 0.249 < tv <= 0.25, tv
    gen = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        pair = tuple(int(v) for v in gen.choice(n, 2, replace=False))
        res = chain_test(_coupled_pair(n, num, tv, pair, gen), target, alpha=ALPHA,
                         power=power, rng=gen, family="martingale")
        hits += res.status == "fail"
    need = int(stats.binom.ppf(1e-3, runs, power))
    assert hits >= need, (f"simulated power {hits}/{runs} < stated {power} (need >= "
                          f"{need}); N = {num}, tv = {tv:.4f}, seed = {seed}")


def test_one_coupled_pair_fails_and_the_exact_sampler_passes():
    """Fast version of the stated-power check: one run each way at the planned size
    for TV 0.25 on Product(n=40)."""
    n = 40
    target = Product(np.full((n, 2), 0.5))
    num = plan_chain_sample_size(target, tv=0.25, alpha=ALPHA, power=0.99, family="martingale")
    gen = np.random.default_rng(15037)
    bad = chain_test(_coupled_pair(n, num, 0.25, (3, 29), gen), target, rng=gen,
                     family="martingale")
    assert bad.status == "fail", (bad.pvalue, bad.pvalues)
    assert any(c.label in ("pair[3,29]", "pair[29,3]") for c in bad.worst_cells), bad.worst_cells
    good = chain_test(target.sample(num, rng=gen), target, rng=gen, family="martingale")
    assert good.status == "pass", (good.pvalue, good.pvalues)


@pytest.mark.slow
def test_directed_block_sees_mixture_weights_the_early_groups_miss():
    """MixtureOfProducts(n=60) sampled with weights 0.6 / 0.4 instead of 0.5 / 0.5, N =
    1,500, 20 runs, block level 1e-3 on the same scores: the directed score rejects in
    >= 14 runs, and in at least 4 more runs than the early groups it replaced (their
    Sidak over the geometric chi-square groups of the first 16 steps). Rates over 100
    other seeds: directed 0.93, early groups 0.36 (P(fewer than 14 of 20 at 0.93) =
    3e-4; the paired margin fails with probability about 1e-3 for independent runs,
    less for these positively correlated ones). The null side of the same blocks:
    :func:`test_directed_and_site_blocks_are_exactly_uniform`."""
    n, num, runs, seed = 60, 1500, 20, 15052
    target, alt = _mixture(n, 0.5, 15050), _mixture(n, 0.6, 15050)
    co = CountingOracle(target, validate=False)
    single = _single(co)
    new = old = 0
    for s in range(runs):
        gen = np.random.default_rng([s, seed])
        x = alt.sample(num, rng=gen)
        order = gen.permutation(n)
        direction = early_direction(co, order, single)
        sc = martingale_scores(x, co, np.empty(0, dtype=np.int64), gen, order)
        w_dir, _ = reflect(sc.intercept[: direction.steps], direction.c)
        new += 2 * stats.norm.sf(abs(w_dir)) <= ALPHA
        groups = [stats.chi2.sf(sc.intercept[a:b] @ sc.intercept[a:b], b - a)
                  for a, b in early_groups(n)]
        old += -np.expm1(len(groups) * np.log1p(-min(groups))) <= ALPHA
    assert new >= 14 and new - old >= 4, (f"directed {new}/{runs}, early groups "
                                          f"{old}/{runs}; N = {num}, seed = {seed}")


def test_tempered_sampler_fails():
    """An Ising chain at temperature 1.4 (coupling and field divided by 1.4) against
    the chain at temperature 1, N = 3000: rejected by the family (the sharpness block)
    in 5 of 5 runs; the exact sampler is not rejected."""
    target, hot = IsingChain(30, 0.9, 0.4), IsingChain(30, 0.9 / 1.4, 0.4 / 1.4)
    for s in range(5):
        gen = np.random.default_rng([s, 15038])
        res = chain_test(hot.sample(3000, rng=gen), target, rng=gen, family="martingale")
        assert res.status == "fail", (s, res.pvalue, res.pvalues)
    ok = chain_test(target.sample(3000, rng=15039), target, rng=15040, family="martingale")
    assert ok.status != "fail", (ok.pvalue, ok.pvalues)


def test_mixture_weight_deviation_fails():
    """MixtureOfProducts(n=200) with weights 0.6 / 0.4 instead of 0.5 / 0.5 (joint TV
    about 0.1, not a confined deviation: no stated power) at N = 8000: rejected
    (the directed early block sees it)."""
    a = np.random.default_rng(15041).uniform(0.15, 0.85, (2, 200))
    probs = np.stack([1 - a, a], axis=-1)
    target, alt = MixtureOfProducts([0.5, 0.5], probs), MixtureOfProducts([0.6, 0.4], probs)
    res = chain_test(alt.sample(8000, rng=15042), target, rng=15043, family="martingale")
    assert res.status == "fail", (res.pvalue, res.pvalues)


def test_check_exact_passes_the_family_and_null_draws_through():
    """check_exact's chain route runs the marginal family by default (with its Monte
    Carlo null on request) and the martingale one on request; the options are refused
    before any work where they do not apply. On a target that is not a product the
    martingale family states no power (its plan assumes independent sites)."""
    from verify.exactness import check_exact

    t = IsingChain(12, 0.5, 0.2)

    def sampler(k, rng):
        return t.sample(k, rng=rng)

    new = check_exact(sampler, t, method="chain", num_samples=300, rng=15044,
                      chain_family="martingale")
    default = check_exact(sampler, t, method="chain", num_samples=300, rng=15044)
    assert "martingale" not in default.details and "cauchy" in default.details, default.details
    assert new.detectable_tv == 1.0 and new.status in ("no-power", "fail"), new
    old = check_exact(sampler, t, method="chain", num_samples=300, rng=15044, alpha=0.05,
                      chain_family="marginal", null_draws=19)
    assert old.pvalue == old.details["cauchy-mc"], old.details
    assert new.details["martingale"] == new.pvalue, new.details
    with pytest.raises(ParameterError, match="`chain_family` must be one of"):
        check_exact(sampler, t, method="chain", num_samples=300, chain_family="x")
    with pytest.raises(ParameterError, match="apply to the fixed-size chain tests only"):
        check_exact(sampler, t, num_samples=300, chain_family="martingale", sequential=True)
