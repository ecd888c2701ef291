"""Tests of verify.pinning (issue 4): hand-computed values, identities, bounds,
Monte Carlo interval coverage, and the round-bound check on a wasteful sampler."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from scipy import stats

from distributions.errors import ParameterError
from distributions.families import hardcore, ising, potts, random_table
from distributions.scalable import CurieWeiss, IsingChain, Product
from distributions.strategies import enumerable_distributions
from distributions.table import TableDistribution
from samplers.autospec import AutospeculativeSampler, SpeculativeSteps
from tests.helpers import assert_family
from verify import pinning as P
from verify.pinning import checks as PC
from verify.pinning import montecarlo as MC
from verify.results import CheckResult as CheckProtocol

LOG2 = math.log(2.0)


class Hidden:
    """The same law without ``pmf``: forces the Monte Carlo (oracle) estimators."""

    def __init__(self, dist: object) -> None:
        self.d = dist
        self.n = dist.n
        self.q = dist.q

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        return self.d.conditionals(x)

    def conditionals_at(self, x, positions, chain_values=None):  # noqa: ANN001
        return self.d.conditionals_at(x, positions, chain_values)

    def sample(self, num: int, *, rng: object = None) -> np.ndarray:
        return self.d.sample(num, rng=rng)


class WastefulSteps(SpeculativeSteps):
    """Exact but wasteful: the speculation is never accepted, and the residual
    loop accepts its first trial (an exact draw from mu_S built by the children),
    so every block of size >= 2 runs the residual loop exactly once."""

    def first_log_accept(self, log_mu: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        return np.full(np.shape(log_mu), -np.inf)

    def residual_log_accept(self, log_mu: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        return np.where(np.isneginf(log_mu), -np.inf, 0.0)


def wasteful_sampler(target: object) -> AutospeculativeSampler:
    """The autospeculative sampler with :class:`WastefulSteps`, recording a trace."""
    return AutospeculativeSampler(target, trace=True, steps=WastefulSteps())


def _table(p: np.ndarray) -> TableDistribution:
    return TableDistribution(np.asarray(p, dtype=float))


# --------------------------------------------------------------------- hand values
def test_product_all_tv_zero_and_h_constant() -> None:
    # independent coordinates: mu_S = nu_S for every prefix, and
    # h_t = E_sigma H(X_sigma(t+1)) = mean_i H(X_i) for every t.
    probs = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    joint = probs[0]
    for row in probs[1:]:
        joint = np.multiply.outer(joint, row)
    d = _table(joint)
    mean_h = float(np.mean([-(r * np.log(r)).sum() for r in probs]))
    prof = P.entropy_profile(d)
    np.testing.assert_allclose(prof.value, mean_h, atol=1e-12)
    for a in range(5):
        for b in range(a + 1, 6):
            assert abs(P.expected_block_tv(d, a, b).value) < 1e-12
            assert abs(P.expected_block_kl(d, a, b).value) < 1e-12
    tree = P.tree_tv(d)
    assert abs(tree.value) < 1e-12 and tree.interval == (tree.value, tree.value)
    # the scalable Product through the Monte Carlo path: still exactly zero
    prod = Product(np.tile([0.3, 0.7], (200, 1)))
    assert P.expected_block_tv(prod, 10, 150, orders=8, rng=0).value < 1e-12
    assert P.tree_tv(prod, orders=4, rng=0).value < 1e-12


def test_two_perfectly_correlated_bits() -> None:
    # X1 = X2 uniform. h_0 = H(X_i) = log 2, h_1 = H(X_j | X_i) = 0.
    # Block (0, 2): mu_S = 1/2 on {00, 11}, nu_S = 1/4 everywhere:
    # TV = (4 * 1/4) / 2 = 1/2, KL = sum 1/2 log(2) = log 2 = (h_0 - h_0) + (h_0 - h_1).
    d = _table([[0.5, 0.0], [0.0, 0.5]])
    prof = P.entropy_profile(d)
    np.testing.assert_allclose(prof.value, [LOG2, 0.0], atol=1e-12)
    assert P.expected_block_tv(d, 0, 2).value == pytest.approx(0.5, abs=1e-12)
    assert P.expected_block_kl(d, 0, 2).value == pytest.approx(LOG2, abs=1e-12)
    assert P.expected_block_tv(d, 1, 2).value == 0.0  # |S| = 1: mu_S = nu_S
    tree = P.tree_tv(d)
    np.testing.assert_allclose(tree.level_sums, [0.5])
    assert tree.level_bound == pytest.approx(math.sqrt(2 * LOG2 / 2))


def test_correlated_pair_with_spectator_averages_over_orders() -> None:
    # X1 = X2 uniform, X3 an independent fair bit.
    # h_0 = log 2. h_1: 6 ordered pairs (i, j), H(X_j|X_i) = 0 for (1,2), (2,1), else
    # log 2 -> 4/6 log 2. h_2: H(X_3|X_1,X_2) = log 2, H(X_1|X_2,X_3) = H(X_2|..) = 0
    # -> 1/3 log 2.
    # E TV(0, 2): S = {1,2} w.p. 1/3 with TV 1/2, else 0 -> 1/6.
    # E TV(0, 3): joint 1/4 on (a, a, c) vs uniform 1/8 -> TV = 1/2.
    # E TV(1, 3): P = {3} (w.p. 1/3) leaves S = {1, 2} correlated -> 1/2; P = {1} or {2}
    # pins the pair -> 0. So 1/6.
    # Tree (n = 3): root (0, 3); mid = 1: (0, 1), (1, 3). Level sums [1/2, 1/6].
    p = np.zeros((2, 2, 2))
    p[0, 0, :] = 0.25
    p[1, 1, :] = 0.25
    d = _table(p)
    np.testing.assert_allclose(P.entropy_profile(d).value, [LOG2, 2 / 3 * LOG2, LOG2 / 3])
    assert P.expected_block_tv(d, 0, 2).value == pytest.approx(1 / 6)
    assert P.expected_block_tv(d, 0, 3).value == pytest.approx(1 / 2)
    assert P.expected_block_tv(d, 1, 3).value == pytest.approx(1 / 6)
    tree = P.tree_tv(d)
    np.testing.assert_allclose(tree.level_sums, [1 / 2, 1 / 6])
    assert tree.value == pytest.approx(2 / 3)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_parity_code(n: int) -> None:
    # Uniform on even-weight words of length n. Any n - 1 coordinates are iid fair
    # bits and the last is determined: H(X_K) = |K| log 2 for |K| < n, (n-1) log 2 for
    # K = [n]. So Hbar_k = k log 2 (k < n), Hbar_n = (n-1) log 2 and
    # h_t = Hbar_{t+1} - Hbar_t = log 2 for t <= n-2, h_{n-1} = 0.
    # Block (a, b): if b < n the block is iid uniform given x_P -> TV = KL = 0. If
    # b = n and |S| >= 2: mu_S uniform on the 2^(|S|-1) words of the right parity,
    # nu_S uniform on 2^|S| -> TV = 1/2, KL = log 2 = h_a - h_(n-1).
    w = np.indices((2,) * n).sum(axis=0) % 2 == 0
    d = _table(w.astype(float))
    h = np.full(n, LOG2)
    h[-1] = 0.0
    np.testing.assert_allclose(P.entropy_profile(d).value, h, atol=1e-12)
    for a in range(n):
        for b in range(a + 1, n + 1):
            tv = 0.5 if (b == n and b - a >= 2) else 0.0
            kl = LOG2 if tv else 0.0
            assert P.expected_block_tv(d, a, b).value == pytest.approx(tv, abs=1e-12)
            assert P.expected_block_kl(d, a, b).value == pytest.approx(kl, abs=1e-12)
    # only the pair (n-2 pinned, last two free) has conditional mutual information
    cmi = P.check_mutual_information_identity(d)
    assert cmi.passed
    expected = np.zeros(n - 1)
    expected[-1] = LOG2
    np.testing.assert_allclose(cmi.rhs, expected, atol=1e-12)
    # the recursion tree: exactly one block per level ends at n with size >= 2
    tree = P.tree_tv(d)
    np.testing.assert_allclose(tree.level_sums, 0.5)


def test_recursion_levels_count_and_split_rule() -> None:
    for n in range(1, 130):
        levels = P.recursion_levels(n)
        assert len(levels) == (math.ceil(math.log2(n)) if n > 1 else 0)
    assert P.recursion_levels(5) == [[(0, 5)], [(0, 2), (2, 5)], [(3, 5)]]


# --------------------------------------------------------------------- identities
FAMS = ("random_table", "ising", "potts", "hardcore", "mixture", "curie_weiss", "ising_chain")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(enumerable_distributions(min_n=2, max_n=6, max_q=3, families=FAMS))
def test_identities_and_inequalities_hypothesis(d: TableDistribution) -> None:
    checks = P.pinning_checks(d, tol=1e-9)
    bad = [(c.name, c.lhs, c.rhs, c.detail) for c in checks if not c.passed]
    assert not bad, bad


@pytest.mark.parametrize(
    "make",
    [
        lambda g: random_table(7, 2, concentration=0.3, rng=g),
        lambda g: ising(_sym(g, 7), g.uniform(-1, 1, 7), beta=1.5),
        lambda g: potts(_sym(g, 5), 3, beta=1.2),
        lambda g: hardcore(_adj(g, 7), 2.0),
    ],
    ids=["random_table", "ising", "potts", "hardcore"],
)
def test_identities_on_named_families(make) -> None:  # noqa: ANN001
    d = make(np.random.default_rng(11))
    checks = P.pinning_checks(d, tol=1e-9)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    names = {c.name.split(",")[0] for c in checks}
    assert {"h_t non-increasing", "h_t - h_{t+1} = mean pairwise CMI"} <= names
    # the KL identity holds to 1e-9 (both sides printed on failure)
    for c in checks:
        if c.relation == "==":
            assert np.max(np.abs(np.asarray(c.lhs) - np.asarray(c.rhs))) <= 1e-9, c


def _sym(g: np.random.Generator, n: int) -> np.ndarray:
    J = np.triu(g.uniform(-1.5, 1.5, (n, n)), 1)
    return J + J.T


def _adj(g: np.random.Generator, n: int) -> np.ndarray:
    A = np.triu(g.random((n, n)) < 0.4, 1)
    return (A | A.T).astype(int)


def test_checks_fail_on_wrong_inputs() -> None:
    # tests of the checkers: a violated inequality is reported with both sides
    bad_prof = P.EntropyProfileResult(
        np.array([0.5, 0.6, 0.1]), (np.array([0.5, 0.6, 0.1]),) * 2, "made up", 3, 2
    )
    res = P.check_entropy_monotone(bad_prof)
    assert not res.passed and res.lhs[0] == 0.6 and res.rhs[0] == 0.5
    too_much = P.EntropyProfileResult(
        np.array([1.0, 0.0]), (np.array([1.0, 0.0]),) * 2, "made up", 2, 2
    )
    assert not P.check_entropy_sum(too_much).passed  # h_0 = 1 > log 2
    d = random_table(4, 2, rng=3)
    tree = P.tree_tv(d)
    inflated = P.TreeTVResult(
        10.0, (10.0, 10.0), "made up", 4, 2, tree.level_sums + 5,
        np.stack([tree.level_sums + 5] * 2, axis=1), tree.level_blocks,
        tree.level_bound, tree.tree_bound,
    )
    assert not P.check_level_bounds(inflated).passed
    assert not P.check_tree_bound(inflated).passed
    assert P.check_level_bounds(tree).passed and P.check_tree_bound(tree).passed
    # estimated profiles: paired tests over the draws; a rising profile is caught,
    # a real Monte Carlo profile is not
    g = np.random.default_rng(0)
    draws = 0.3 + 0.05 * np.arange(4)[None, :] + 0.01 * g.standard_normal((50, 4))
    rising = P.EntropyProfileResult(draws.mean(0), (draws.min(0), draws.max(0)), "made up",
                                    4, 2, 50, draws)
    res = P.check_entropy_monotone(rising)
    assert not res.passed and "Holm" in res.detail
    mc = P.entropy_profile(Hidden(random_table(6, 2, rng=2)), orders=200, rng=5)
    assert mc.draws is not None and mc.draws.shape == (200, 6)
    assert P.check_entropy_monotone(mc).passed


def test_mi_identity_fails_for_a_wrong_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    # mutant: an entropy profile computed with one order only (no averaging)
    d = random_table(5, 2, concentration=0.5, rng=4)
    assert P.check_mutual_information_identity(d).passed
    assert P.check_kl_identity(d, 1, 4).passed

    def one_order(sub):  # noqa: ANN001, ANN202
        ent = [sub.entropy((1 << k) - 1) for k in range(sub.n + 1)]
        return np.diff(ent)

    monkeypatch.setattr(PC, "_exact_profile", one_order)
    assert not P.check_mutual_information_identity(d).passed
    assert not P.check_kl_identity(d, 1, 4).passed


# --------------------------------------------------------------------- Monte Carlo
def _coverage_pvalue(hits: int, total: int) -> float:
    """One-sided p-value of 'coverage >= CONFIDENCE' given ``hits`` of ``total``."""
    return float(stats.binom.cdf(hits, total, P.CONFIDENCE))


@pytest.mark.slow  # > 4 s in the fast lane
def test_monte_carlo_intervals_cover_at_stated_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each estimator is run on 150 seeds; its 95% interval must cover the exact value
    # at a rate not significantly below 95% (binomial, Holm over the family,
    # alpha = 0.001). A mutant interval of half the width must be caught.
    alpha, seeds, R = 0.001, 150, 120
    d = random_table(5, 2, concentration=0.4, rng=7)
    cw = CurieWeiss(6, 1.3, 0.2)  # scalable family small enough for an exact pmf
    hid, hid_cw = Hidden(d), Hidden(cw)
    exact = {
        "tv_enum": P.expected_block_tv(d, 1, 4).value,
        "tv_is": P.expected_block_tv(d, 0, 5).value,
        "kl_rb": P.expected_block_kl(d, 1, 5).value,
        "h_2": P.entropy_profile(d).value[2],
        "tv_sampled_orders": P.expected_block_tv(d, 1, 4).value,
        "tree_level1_cw": P.tree_tv(cw).level_sums[1],
        "tv_is_cw": P.expected_block_tv(cw, 1, 6).value,
        "tree_level1_subsampled": P.tree_tv(d).level_sums[1],
    }

    def run(name: str, seed: int) -> tuple[float, float, float]:
        if name == "tv_enum":
            r = P.expected_block_tv(hid, 1, 4, orders=R, rng=seed)
        elif name == "tv_is":
            r = P.expected_block_tv(hid, 0, 5, orders=R, rng=seed)
        elif name == "kl_rb":
            r = P.expected_block_kl(hid, 1, 5, orders=R, rng=seed)
        elif name == "h_2":
            p = P.entropy_profile(hid, orders=R, rng=seed)
            return p.value[2], p.interval[0][2], p.interval[1][2]
        elif name == "tv_sampled_orders":
            r = P.expected_block_tv(d, 1, 4, orders=R, rng=seed)
        elif name == "tree_level1_cw":
            t = P.tree_tv(hid_cw, orders=R, rng=seed)
            return t.level_sums[1], t.level_intervals[1, 0], t.level_intervals[1, 1]
        elif name == "tree_level1_subsampled":
            # level 1 of n = 5 is (0, 2), (2, 5): one block drawn per replicate, x 2
            t = P.tree_tv(hid, orders=R, rng=seed)
            return t.level_sums[1], t.level_intervals[1, 0], t.level_intervals[1, 1]
        else:
            r = P.expected_block_tv(hid_cw, 1, 6, orders=R, rng=seed)
        return r.value, r.interval[0], r.interval[1]

    is_names = {"tv_is", "kl_rb", "tv_is_cw"}
    default_blocks = P.MAX_BLOCKS_PER_LEVEL
    pvals, mutant_pvals, methods = {}, {}, {}
    for name, truth in exact.items():
        # force importance sampling (no enumeration) for the IS estimators
        monkeypatch.setattr(MC, "enum_limit", (lambda n: 1) if name in is_names else
                            (lambda n: 1024))
        monkeypatch.setattr(MC, "MAX_BLOCKS_PER_LEVEL",
                            1 if name == "tree_level1_subsampled" else default_blocks)
        hits = half_hits = 0
        for seed in range(seeds):
            v, lo, hi = run(name, 1000 + seed)
            hits += lo <= truth <= hi
            half_hits += v - (v - lo) / 2 <= truth <= v + (hi - v) / 2
        pvals[name] = _coverage_pvalue(hits, seeds)
        mutant_pvals[name] = _coverage_pvalue(half_hits, seeds)
        methods[name] = hits
    assert_family(pvals, alpha=alpha, seed=1000, sizes=f"{seeds} seeds x {R} draws; hits={methods}")
    # the test can fail: half-width intervals under-cover, detected for every estimator
    assert all(p < alpha for p in mutant_pvals.values()), mutant_pvals


def test_importance_sampling_is_used_and_stated(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Hidden(random_table(6, 2, rng=1))
    monkeypatch.setattr(MC, "enum_limit", lambda n: 1)
    r = P.expected_block_tv(d, 0, 6, orders=20, rng=0)
    assert "importance sampling" in r.method and r.num_orders == 20
    monkeypatch.setattr(MC, "enum_limit", lambda n: 1024)
    r = P.expected_block_tv(d, 0, 6, orders=20, rng=0)
    assert "exact block TV given the context" in r.method


def test_scalable_families_at_large_n_bounds_hold() -> None:
    # Monte Carlo at n = 1024: the bounds hold (pass unless the interval is wholly above)
    for target in (CurieWeiss(1024, 1.0), IsingChain(1024, 2.0)):
        tree = P.tree_tv(target, orders=8, rng=3)
        assert len(tree.level_sums) == 10
        assert P.check_level_bounds(tree).passed and P.check_tree_bound(tree).passed
        assert np.all(tree.level_intervals[:, 0] <= tree.level_sums)
        prof = P.entropy_profile(target, orders=8, rng=3)
        assert prof.value[0] == pytest.approx(LOG2)  # symmetric single-site marginals
    json.dumps(tree.to_dict())
    json.dumps(prof.to_dict())


# --------------------------------------------------------------------- round bound
def test_round_bound_correct_sampler_not_flagged_wasteful_flagged() -> None:
    alpha = 0.01
    targets = {
        "random_table6": random_table(6, 2, concentration=0.5, rng=21),
        "hardcore6": hardcore(_adj(np.random.default_rng(22), 6), 1.5),
        "ising_chain16": IsingChain(16, 1.0),
    }
    pvals = {}
    for i, (name, t) in enumerate(targets.items()):
        good = P.check_round_bound(
            AutospeculativeSampler(t, trace=True), t, num_samples=400, rng=100 + i, alpha=alpha
        )
        pvals[name] = good.excess_pvalue
        assert good.value > 0 and good.interval[0] <= good.value <= good.interval[1]
        waste = P.check_round_bound(
            wasteful_sampler(t), t, num_samples=200, rng=200 + i, alpha=alpha,
            reference=good,
        )
        assert waste.flagged, (name, waste)
        assert waste.mean_rejections > waste.mean_sum_tv + 1
        assert any("reference relation" in r for r in waste.reasons), waste.reasons
        # a correct sampler is not flagged against its own kind either
        again = P.check_round_bound(
            AutospeculativeSampler(t, trace=True), t, num_samples=400, rng=300 + i,
            alpha=alpha, reference=good,
        )
        pvals[name + "_again"] = again.excess_pvalue
        pvals[name + "_ref"] = again.reference_pvalue
        json.dumps(good.to_dict())
    assert_family(pvals, alpha=alpha, seed=100, sizes="400 samples per run")


def test_round_bound_on_a_product_is_exactly_two_rounds() -> None:
    # nu = mu: every speculation is accepted, sum TV = 0, 2 rounds per sample
    t = Product(np.tile([0.2, 0.8], (64, 1)))
    res = P.check_round_bound(AutospeculativeSampler(t, trace=True), t, num_samples=50, rng=0)
    assert not res.flagged
    assert np.all(res.rounds == 2) and np.all(res.sum_tv < 1e-12) and res.mean_rejections == 0
    waste = P.check_round_bound(wasteful_sampler(t), t, num_samples=20, rng=0)
    assert waste.flagged and waste.mean_rounds > 2


def test_round_bound_requires_a_trace() -> None:
    t = random_table(4, 2, rng=0)
    with pytest.raises(ParameterError, match="trace=True"):
        P.check_round_bound(AutospeculativeSampler(t), t, num_samples=10, rng=0)


# --------------------------------------------------------------------- validation
def test_bad_input_messages() -> None:
    d = random_table(4, 2, rng=0)
    with pytest.raises(ParameterError, match="`b` must be an integer in"):
        P.expected_block_tv(d, 2, 2)
    with pytest.raises(ParameterError, match="`orders` must be an integer >= 2"):
        P.expected_block_tv(d, 0, 2, orders=1)
    with pytest.raises(ParameterError, match="exact computation"):
        P.entropy_profile(CurieWeiss(100, 0.5))
    with pytest.raises(ParameterError, match="`target` must be a DiscreteOracle"):
        P.entropy_profile(object())


def test_sampled_orders_on_table_and_exact_agree_roughly() -> None:
    d = random_table(9, 2, concentration=0.5, rng=5)
    ex = P.tree_tv(d)
    sm = P.tree_tv(d, orders=30, rng=1)
    assert ex.num_orders is None and sm.num_orders == 30
    assert sm.level_sums[0] == pytest.approx(ex.level_sums[0])  # root: order-free
    assert len(sm.blocks) == sum(sm.level_blocks)


def test_sampled_order_checks_tolerate_rounding() -> None:
    # regression: with sampled orders, h_0 = log 2 up to one ulp (Curie-Weiss at h = 0)
    # and a product's equal h_t differ by ~1e-16 with a tiny standard error; neither
    # is a violation
    from distributions.scalable import CurieWeiss, Product

    prof = P.entropy_profile(CurieWeiss(12, 1.0), orders=64, rng=1)
    assert not prof.exact
    res = P.check_entropy_sum(prof)
    assert res.passed, res
    prof = P.entropy_profile(Product(np.tile([0.3, 0.7], (16, 1))), orders=64, rng=1)
    res = P.check_entropy_monotone(prof)
    assert res.passed, res


# --------------------------------------------------------------------- result protocol
def test_check_results_implement_the_shared_protocol() -> None:
    # the pinning checks are identities and inequalities, not tests: statistic is the
    # worst deviation of the reported sides, pvalue nan, alpha 0, detectable_tv the
    # tolerance; a violated one has status "fail"
    d = random_table(5, 2, concentration=0.5, rng=4)
    checks = P.pinning_checks(d, tol=1e-9)
    for c in checks:
        assert isinstance(c, CheckProtocol) and isinstance(c, P.PinningCheckResult), c
        assert c.status == ("pass" if c.passed else "fail") and c.passed
        assert math.isnan(c.pvalue) and c.alpha == 0.0 and c.num_samples == 0
        assert c.detectable_tv == c.tolerance and c.seed is None
        dev = np.asarray(c.lhs, float) - np.asarray(c.rhs, float)
        expected = np.max(np.abs(dev)) if c.relation == "==" else np.max(dev)
        assert c.statistic == pytest.approx(float(expected), abs=1e-15)
        json.dumps(c.to_dict())
    assert P.CheckResult is P.PinningCheckResult  # the former name still works
    bad = P.EntropyProfileResult(np.array([0.5, 0.6]), (np.array([0.5, 0.6]),) * 2, "made up",
                                 2, 2)
    res = P.check_entropy_monotone(bad, tol=0.0)
    assert res.status == "fail" and not res.passed
    assert res.statistic == pytest.approx(0.1) and res.to_dict()["status"] == "fail"
    # sampled orders: the number of orders and the integer seed are recorded
    kb = P.check_kl_bound(d, 0, 3, orders=8, rng=7)
    assert kb.num_samples == 8 and kb.seed == 7
    # the Holm-tested profile reports its level and its smallest adjusted p-value
    mc = P.entropy_profile(Hidden(d), orders=40, rng=5)
    res = P.check_entropy_monotone(mc, alpha=0.05)
    assert res.alpha == 0.05 and 0.0 <= res.pvalue <= 1.0 and res.num_samples == 40
    assert res.passed == (res.pvalue > 0.05)


def test_round_bound_result_implements_the_shared_protocol() -> None:
    t = random_table(5, 2, concentration=0.5, rng=3)
    res = P.check_round_bound(AutospeculativeSampler(t, trace=True), t, num_samples=20, rng=4)
    assert isinstance(res, CheckProtocol)
    assert res.passed == (not res.flagged) and res.status == ("pass" if res.passed else "fail")
    assert res.statistic == res.value and res.pvalue == res.excess_pvalue
    assert res.num_samples == 20 and res.seed == 4 and res.alpha == 0.01
    json.dumps(res.to_dict())


def test_estimates_to_dict_leave_out_the_draws() -> None:
    mc = P.entropy_profile(Hidden(random_table(4, 2, rng=1)), orders=10, rng=0)
    out = mc.to_dict()
    assert "draws" not in out and out["num_orders"] == 10 and len(out["value"]) == 4
    json.dumps(out)


def test_exact_available() -> None:
    assert P.exact_available(random_table(4, 2, rng=0))
    assert not P.exact_available(CurieWeiss(100, 0.5))  # no table
    assert not P.exact_available(Hidden(random_table(4, 2, rng=0)))
    assert not P.exact_available(random_table(13, 2, rng=0))  # n > MAX_EXACT_N
    with pytest.raises(ParameterError, match="`target` must be a DiscreteOracle"):
        P.exact_available(object())


class _HugeTarget:
    """A DiscreteOracle of length 2**25 whose oracle must never be called."""

    n, q = 2**25, 2

    def conditionals(self, x):
        raise AssertionError("the oracle was called before the size was checked")


class _NeverSampler:
    n = 2**25

    def sample(self, num, *, rng=None):
        raise AssertionError("the sampler was called before the size was checked")


def test_impossible_sizes_are_refused_before_any_work():
    """Review rev9 item 6, the library side of the CLI's rule: the R x n values of a
    sampled entropy profile and the num_samples x n samples of the round bound are
    held to verify.sampling's memory cap (2**30 entries) before any oracle call."""
    with pytest.raises(ParameterError, match=r"entropy_profile keeps every sample: 64 "
                       r"orders x n=33,554,432 = 2,147,483,648 entries exceed the memory "
                       r"cap of 1,073,741,824 \(8 GiB\); use fewer `orders`"):
        P.entropy_profile(_HugeTarget(), orders=64, rng=0)
    with pytest.raises(ParameterError, match=r"check_round_bound keeps every sample: 40 "
                       r"samples x n=33,554,432 .* use fewer `num_samples`"):
        P.check_round_bound(_NeverSampler(), _HugeTarget(), num_samples=40, rng=0)
