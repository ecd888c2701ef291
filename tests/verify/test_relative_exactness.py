"""Exactness relative to an oracle without a joint law (issue 12, items 3-4).

Per-sample orders, the order-conditional test, the closeness test, ``exact_law`` with a
reference, ``check_exact`` on an oracle without ``pmf``/``log_pmf``, and the precision
floor. The oracles are *inconsistent* on purpose (their chain-rule laws differ between
orders), so a test that assumed one joint law would be miscalibrated here.
Levels: alpha 1e-3 for single checks, 0.05 for the calibration meta-test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.families import random_table
from distributions.trained import train_masked_mlp
from samplers import AGR24Sampler, AutospeculativeSampler, SequentialSampler
from verify import exact_law
from verify.exactness import (
    check_exact,
    closeness_test,
    order_conditional_test,
    plan_closeness_size,
    plan_order_conditional_size,
)
from verify.mutants import MUTANTS
from verify.precision import PrecisionWarning, precision_floor
from verify.sampling import check_orders, draw_with_orders

ALPHA = 1e-3


class Inconsistent:
    """Arbitrary logistic conditionals (no joint law): ``P(x_i = 1 | c) = sigmoid(a_i +
    b * (#revealed ones) - c * [x_{i-1} revealed and 1])``. Cheap for any ``n``."""

    q = 2

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n = n
        self.a = np.random.default_rng(seed).normal(0.0, 0.7, n)

    def conditionals(self, x):
        x = np.asarray(x)
        ones = (x == 1).sum(axis=1, keepdims=True)
        left = np.roll(x, 1, axis=1) == 1
        p1 = 1.0 / (1.0 + np.exp(-(self.a + 0.4 * ones - 1.1 * left)))
        out = np.stack([1.0 - p1, p1], axis=-1)
        rev = x != MASK
        onehot = np.eye(2)[np.where(rev, x, 0)]
        return np.where(rev[..., None], onehot, out)


@pytest.fixture(scope="module")
def mlp():
    """A tiny trained masked MLP (n = 4), inconsistent like every learned model."""
    return train_masked_mlp(random_table(4, 2, rng=0), num_samples=2000, steps=300, rng=1)


# ---------------------------------------------------------------- per-sample orders
def test_callable_sampler_may_return_orders_and_bad_orders_are_refused():
    d = random_table(3, 2, rng=0)

    def good(k, rng):
        return d.sample(k, rng=rng), np.tile([2, 0, 1], (k, 1))

    x, o = draw_with_orders(good, 10, 3, 2, np.random.SeedSequence(0), 4)
    assert x.shape == (10, 3) and (o == [2, 0, 1]).all()
    with pytest.raises(ParameterError, match=r"permutations of range\(3\).*row 0 is \[0, 0, 1\]"):
        draw_with_orders(lambda k, rng: (d.sample(k, rng=rng), np.tile([0, 0, 1], (k, 1))),
                         5, 3, 2, np.random.SeedSequence(0), 5)
    with pytest.raises(ParameterError, match=r"shape \(num, n\) = \(5, 3\); got shape \(5, 2\)"):
        draw_with_orders(lambda k, rng: (d.sample(k, rng=rng), np.zeros((k, 2), int)),
                         5, 3, 2, np.random.SeedSequence(0), 5)
    with pytest.raises(ParameterError, match="orders"):
        check_orders(np.zeros((2, 3)), 2, 3)  # float orders


# ---------------------------------------------------------------- order-conditional test
def test_order_conditional_both_sides_on_an_inconsistent_oracle():
    """Correct samplers pass along their own orders; the same samples tested along
    the wrong orders fail (the oracle is inconsistent: the order matters), and so does
    a mutant."""
    o = Inconsistent(6)
    num = plan_order_conditional_size(6, tv=0.1, alpha=ALPHA, power=0.99)
    for cls in (SequentialSampler, AutospeculativeSampler, AGR24Sampler):
        r = cls(o).sample(num, rng=11)
        t = order_conditional_test(r.samples, r.orders, o, alpha=ALPHA, rng=12)
        assert t.status == "pass", (cls.__name__, t.pvalue, t.rejected)
        assert t.oracle_calls == 1 and t.family_size == 8
    r = SequentialSampler(o, order="identity").sample(4 * num, rng=13)
    wrong = order_conditional_test(r.samples, r.orders[:, ::-1], o, alpha=ALPHA, rng=14)
    assert wrong.status == "fail", wrong.pvalue
    bad = MUTANTS["residual-skipped"](o).sample(num, rng=15)
    t = order_conditional_test(bad.samples, bad.orders, o, alpha=ALPHA, rng=16)
    assert t.status == "fail", t.pvalue


def test_order_conditional_is_calibrated_for_an_inconsistent_oracle():
    """Rejection rate of a correct sampler at alpha = 0.05 over 60 seeds within the
    two-sided binomial 99.9% interval (random orders, inconsistent oracle). The sampler
    is the sequential one, whose law is the null exactly, so this calibrates the test."""
    o = Inconsistent(5, seed=3)
    s = SequentialSampler(o)  # exactly the chain-rule law along its own random orders
    alpha, runs = 0.05, 60
    seeds = np.random.SeedSequence(20261202).spawn(runs)
    fails = 0
    for sq in seeds:
        a, b = sq.spawn(2)
        r = s.sample(300, rng=np.random.default_rng(a))
        fails += order_conditional_test(r.samples, r.orders, o, alpha=alpha,
                                        rng=np.random.default_rng(b)).pvalue <= alpha
    lo, hi = stats.binom.ppf([5e-4, 1 - 5e-4], runs, alpha)
    assert lo <= fails <= hi, (fails, runs, alpha, "seed 20261202")


def test_order_conditional_refuses_bad_input():
    o = Inconsistent(3)
    x = np.zeros((4, 3), dtype=np.int64)
    with pytest.raises(ParameterError, match=r"row 1 is \[0, 1, 1\]"):
        order_conditional_test(x, [[0, 1, 2], [0, 1, 1], [0, 1, 2], [0, 1, 2]], o)
    with pytest.raises(ParameterError, match="shape"):
        order_conditional_test(x, np.zeros((4, 2), int), o)
    with pytest.raises(ParameterError, match="`bins`"):
        order_conditional_test(x, np.tile(np.arange(3), (4, 1)), o, bins=1)


# ---------------------------------------------------------------- closeness test
def test_closeness_both_sides_and_reference(mlp):
    num = plan_closeness_size(4, 2, tv=0.1, alpha=ALPHA, power=0.99)
    good = closeness_test(AutospeculativeSampler(mlp, order="identity"), mlp, tv=0.1, rng=1)
    assert good.status == "pass" and good.num_samples == num, (good.pvalue, good.method)
    assert good.reference == "SequentialSampler(order='identity') on the same oracle"
    assert good.method == "chi2" and good.power_against.startswith("every deviation")
    bad = closeness_test(MUTANTS["swapped-residual-ratio"](mlp, order="identity"), mlp,
                         tv=0.1, rng=2)
    assert bad.status == "fail", bad.pvalue
    with pytest.raises(ParameterError, match="`reference` must be None or a sampler factory"):
        closeness_test(SequentialSampler(mlp), mlp, reference=SequentialSampler(mlp))
    with pytest.raises(ParameterError, match="returned 3"):
        closeness_test(SequentialSampler(mlp), mlp, reference=lambda o: 3)


def test_closeness_states_what_its_power_is_for():
    """Chi-square regime: every deviation of the joint law; permutation (sparse) regime:
    the simulated two-block family around the pooled observed law, not every law."""
    from distributions import random_table

    d = random_table(10, 2, rng=1, concentration=0.3)
    sparse = closeness_test(AutospeculativeSampler(d), d, tv=0.3, alpha=0.01, rng=2)
    assert sparse.method == "permutation"
    assert sparse.power_against.startswith("two-block deviations"), sparse.power_against
    assert "pooled observed law" in sparse.power_against


def test_closeness_on_chain_statistics_above_the_table():
    o = Inconsistent(20)
    good = closeness_test(AutospeculativeSampler(o), o, tv=0.2, rng=3)
    assert good.method == "chain-two-sample" and good.status == "pass", good.pvalue
    bad = closeness_test(MUTANTS["residual-skipped"](o), o, tv=0.2, rng=4)
    assert bad.status == "fail", bad.pvalue


# ---------------------------------------------------------------- check_exact chooses
def test_check_exact_without_joint_law_is_relative_and_names_the_reference(mlp):
    small = check_exact(AGR24Sampler(mlp), mlp, tv=0.2, rng=5)
    assert small.method.startswith("closeness-") and small.passed, small.pvalue
    assert "SequentialSampler(order='random')" in small.reference
    o = Inconsistent(20)
    large = check_exact(AutospeculativeSampler(o), o, tv=0.2, rng=6)
    assert large.method == "order-conditional" and large.passed, large.pvalue
    assert "own reported order" in large.reference
    d = random_table(4, 2, rng=0)
    assert check_exact(SequentialSampler(d), d, tv=0.2, rng=7).reference.startswith(
        "the target's table")


# ---------------------------------------------------------------- exact_law reference
def test_exact_law_on_a_non_enumerable_oracle(mlp):
    r = exact_law(lambda o: AutospeculativeSampler(o, order="identity"), mlp)
    assert r.status == "pass" and r.tv < 1e-12, r.tv
    assert r.reference.startswith("SequentialSampler(order='identity')")
    bad = exact_law(lambda o: MUTANTS["residual-unnormalised"](o, order="identity"), mlp)
    assert bad.status == "fail" and bad.tv > 1e-3
    # inconsistency of the oracle, as an exact law: forward against backward
    inc = exact_law(lambda o: SequentialSampler(o, order="identity"), mlp,
                    reference=lambda o: SequentialSampler(o, order=[3, 2, 1, 0]))
    assert inc.tv > 1e-3 and inc.status == "fail"
    with pytest.raises(ParameterError, match="`reference` must be None or a sampler factory"):
        exact_law(lambda o: SequentialSampler(o), mlp, reference="sequential")
    with pytest.raises(ParameterError, match="`rational` must be False"):
        exact_law(lambda o: SequentialSampler(o), mlp, rational=True)


# ---------------------------------------------------------------- precision floor
def test_precision_floor_float32_and_the_warning(mlp):
    raw = mlp.with_renormalize(False)
    f = precision_floor(raw)
    assert f.dtype == "float32" and 0 < f.measured <= f.bound < 1e-5, f
    assert precision_floor(mlp).floor < 1e-14
    with pytest.warns(PrecisionWarning, match="below the oracle's precision floor"):
        r = check_exact(SequentialSampler(raw), raw, tv=f.floor / 2, num_samples=50, rng=0)
    assert r.precision_floor == f.floor and "precision floor" in r.notes[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        r = check_exact(SequentialSampler(raw), raw, tv=0.2, num_samples=50, rng=0)
    assert r.notes == ()


def test_planner_warns_below_the_precision_floor(mlp):
    from verify import plan_sample_size

    raw = mlp.with_renormalize(False)
    with pytest.warns(PrecisionWarning, match="precision floor"):
        plan_sample_size(raw, tv=1e-8, alpha=ALPHA, power=0.99, max_samples=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        plan_sample_size(raw, tv=0.1, alpha=ALPHA, power=0.99)


@pytest.mark.slow
def test_order_conditional_stated_power_at_the_detectable_tv():
    """Meta-test of the stated power: a sampler whose first revealed value deviates from
    the oracle's conditional by exactly the stated ``detectable_tv`` (the conditional is
    1/2, so the 10 PIT bins lose none of it), the rest exact, is rejected at the planned
    size in at least 95 of 100 runs (stated power 0.99; 95 is below the 99.9% binomial
    lower bound of Bin(100, 0.99), 95). Seeds from SeedSequence(31)."""
    o = Inconsistent(6)
    o.a[0] = 0.0  # P(x_0 = 1 | nothing revealed) = 1/2 exactly
    num = plan_order_conditional_size(6, tv=0.1, alpha=ALPHA, power=0.99)
    from verify.exactness import order_conditional_detectable_tv

    delta = order_conditional_detectable_tv(6, num, alpha=ALPHA, power=0.99)
    assert delta <= 0.1

    def perturbed(k, gen):
        x = np.full((k, 6), MASK, dtype=np.int64)
        x[:, 0] = gen.random(k) < 0.5 + delta
        for i in range(1, 6):
            p1 = o.conditionals(x)[:, i, 1]
            x[:, i] = gen.random(k) < p1
        return x, np.tile(np.arange(6), (k, 1))

    seeds = np.random.SeedSequence(31).spawn(100)
    caught = 0
    for sq in seeds:
        a, b = sq.spawn(2)
        x, orders = perturbed(num, np.random.default_rng(a))
        caught += order_conditional_test(x, orders, o, alpha=ALPHA,
                                         rng=np.random.default_rng(b)).status == "fail"
    assert caught >= 95, (caught, num, delta, "SeedSequence(31)")
