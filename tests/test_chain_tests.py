"""Chain-rule tests for targets without a table (issue 3, item 3)."""

from __future__ import annotations

import numpy as np

from distributions.families import random_table
from distributions.scalable import MixtureOfProducts
from verify.chain_tests import chain_test, plan_chain_sample_size
from verify.exactness import check_exact

ALPHA = 1e-3


class _NoTable:
    """A DiscreteOracle view of a target without pmf (forces chain tests)."""

    def __init__(self, inner):
        self.inner, self.n, self.q = inner, inner.n, inner.q

    def conditionals(self, x):
        return self.inner.conditionals(x)

    def conditionals_at(self, x, positions, chain_values=None):
        return self.inner.conditionals_at(x, positions, chain_values)


def _mixture(n: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    a = g.uniform(0.15, 0.85, (2, n))
    return np.stack([1 - a, a], axis=-1)


def test_mixture_n1000_alternative_fails_at_planned_size():
    """Component weights 0.55/0.45 instead of 0.5/0.5: joint TV ~ 0.05 (the two
    components are essentially disjoint at n = 1000) must fail at the planned size;
    the exact sampler at the same size passes."""
    probs = _mixture(1000, 0)
    target = MixtureOfProducts([0.5, 0.5], probs)
    alt = MixtureOfProducts([0.55, 0.45], probs)
    num = plan_chain_sample_size(target, tv=0.05, alpha=ALPHA, power=0.99)
    assert num == 29212
    bad = check_exact(lambda k, rng: alt.sample(k, rng=rng), target, tv=0.05, rng=1)
    assert bad.method == "chain" and bad.num_samples == num
    assert not bad.passed and bad.pvalue <= ALPHA, (bad.pvalue, bad.details)
    assert bad.tv_estimate > 0.005


def test_mixture_exact_sampler_passes():
    target = MixtureOfProducts([0.5, 0.5], _mixture(1000, 0))
    res = check_exact(lambda k, rng: target.sample(k, rng=rng), target,
                      num_samples=2000, rng=2)
    assert res.passed, (res.pvalue, res.details, res.worst_cells)
    assert np.isnan(res.tv_upper) and res.detectable_tv > 0


def test_small_table_chain_tests_both_sides():
    d = random_table(5, 2, rng=3)
    no = _NoTable(d)
    good = check_exact(lambda k, rng: d.sample(k, rng=rng), no, num_samples=4000, rng=4)
    assert good.passed, (good.pvalue, good.details)
    # tempered law (T = 1.5): fails
    p = d.pmf() ** (1 / 1.5)
    hot = type(d)((p / p.sum()).reshape((2,) * 5))
    bad = check_exact(lambda k, rng: hot.sample(k, rng=rng), no, num_samples=4000, rng=5)
    assert not bad.passed, (bad.pvalue, bad.details)


def test_impossible_value_is_reported():
    w = np.ones((2, 2, 2))
    w[1, 1, 1] = 0.0
    d = type(random_table(3, 2, rng=0))(w)
    x = np.ones((50, 3), dtype=np.int64)
    res = chain_test(x, d, alpha=ALPHA, rng=0)
    assert res.pvalue == 0.0 and res.impossible
    assert res.worst_cells[0].impossible
