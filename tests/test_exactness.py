"""check_exact, full-table tests and the TV planner (issue 3, items 1-2)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distributions.errors import ParameterError
from distributions.families import random_table
from distributions.table import TableDistribution
from samplers.sequential import SequentialSampler
from verify.exactness import (
    _g_williams,
    check_exact,
    detectable_tv,
    full_table_test,
    plan_sample_size,
)

ALPHA = 1e-3


def table_sampler(d: TableDistribution):
    return lambda num, rng: d.sample(num, rng=rng)


def perturbed(d: TableDistribution, tv: float) -> TableDistribution:
    """Near-worst alternative at TV ``tv``: mass ``tv`` moved proportionally from one
    half of the mass to the other (chi2 = tv^2/a + tv^2/(1-a) ~ 4 tv^2)."""
    p = d.pmf()
    order = np.argsort(p)
    plus = order[np.cumsum(p[order]) <= 0.5]
    a = p[plus].sum()
    s = p * (1 - tv / (1 - a))
    s[plus] = p[plus] * (1 + tv / a)
    return TableDistribution(s.reshape((d.q,) * d.n))


def test_planner_figures():
    assert plan_sample_size(64, tv=0.01, alpha=1e-3, power=0.99) == 217496
    assert plan_sample_size(1024, tv=0.01, alpha=1e-3, power=0.99) == 680726
    d = random_table(4, 2, rng=0)
    assert plan_sample_size(d, tv=0.05, alpha=ALPHA, power=0.99) == plan_sample_size(
        16, tv=0.05, alpha=ALPHA, power=0.99)
    n = plan_sample_size(16, tv=0.05, alpha=ALPHA, power=0.99)
    assert abs(detectable_tv(16, n, alpha=ALPHA, power=0.99) - 0.05) < 1e-4
    # monotone in every argument
    assert plan_sample_size(16, tv=0.1, alpha=ALPHA, power=0.99) < n
    assert plan_sample_size(16, tv=0.05, alpha=1e-2, power=0.99) < n
    assert plan_sample_size(16, tv=0.05, alpha=ALPHA, power=0.9) < n
    assert plan_sample_size(1, tv=0.05, alpha=ALPHA, power=0.99) == 90


@pytest.mark.parametrize("bad", [0.0, 1.0, 2.0, float("nan")])
def test_planner_rejects_bad_tv(bad):
    with pytest.raises(ParameterError, match="`tv` must be a finite number > 0 and < 1"):
        plan_sample_size(16, tv=bad, alpha=ALPHA, power=0.99)


def test_planner_matches_simulation():
    """Worst-case alternative at the planned size: rejection rate >= power (binomial)."""
    seed = 20261122
    gen = np.random.default_rng(seed)
    d = random_table(4, 2, rng=3)
    tv, power, reps = 0.1, 0.9, 400
    num = plan_sample_size(d, tv=tv, alpha=ALPHA, power=power)
    s = perturbed(d, tv)
    p = d.pmf()
    assert abs(0.5 * np.abs(s.pmf() - p).sum() - tv) < 1e-12
    counts = gen.multinomial(num, s.pmf(), size=reps).astype(float)
    rej = 0
    for c in counts:
        g, dof = _g_williams(c, p * num, p, num)
        rej += stats.chi2.sf(g, dof) <= ALPHA
    lo = stats.binom.ppf(1e-3, reps, power)
    hi = stats.binom.isf(1e-3, reps, 0.999)
    assert lo <= rej, f"power at planned N={num}: {rej}/{reps} < {lo} (seed {seed})"
    # and the planner is not grossly conservative: at N/3 the power is clearly lower
    counts = gen.multinomial(num // 3, s.pmf(), size=reps).astype(float)
    rej3 = sum(stats.chi2.sf(_g_williams(c, p * (num // 3), p, num // 3)[0], 15) <= ALPHA
               for c in counts)
    assert rej3 < hi and rej3 < rej, f"N/3: {rej3}/{reps} (seed {seed})"


def test_correct_passes_mutant_fails():
    d = random_table(4, 2, rng=5)
    good = check_exact(SequentialSampler(d, validate=False), d, tv=0.05, rng=11)
    assert good.passed, good
    assert good.method == "gtest" and good.dof == 15
    assert good.num_samples == plan_sample_size(d, tv=0.05, alpha=ALPHA, power=0.99)
    assert good.tv_upper >= good.tv_estimate >= 0
    bad = check_exact(table_sampler(perturbed(d, 0.05)), d, tv=0.05, rng=12)
    assert not bad.passed and bad.pvalue <= ALPHA, bad
    assert bad.tv_upper >= 0.05
    assert len(bad.worst_cells) == 5 and abs(bad.worst_cells[0].residual) > 3


def test_impossible_cell_is_immediate_failure():
    w = np.arange(8.0).reshape(2, 2, 2)  # cell (0,0,0) has probability 0
    d = TableDistribution(w)
    uniform = TableDistribution(np.ones((2, 2, 2)))
    res = check_exact(table_sampler(uniform), d, num_samples=2000, rng=1)
    assert not res.passed and res.pvalue == 0.0 and res.impossible_hits > 0
    assert res.worst_cells[0].impossible and res.worst_cells[0].config == (0, 0, 0)
    assert res.method == "impossible"


def test_sparse_regime_uses_monte_carlo_and_keeps_rare_cells():
    d = random_table(6, 2, rng=2)
    res = check_exact(table_sampler(d), d, num_samples=100, rng=3)
    assert res.method == "montecarlo" and res.passed
    assert res.details["resamples"] >= 19999
    # a rare-cell deviation is seen: all mass on one low-probability cell
    p = d.pmf()
    rare = int(np.argmin(p))
    x = np.array(np.unravel_index(np.full(100, rare), (2,) * 6)).T
    t = full_table_test(x, p, 2, alpha=ALPHA, rng=0)
    assert t.method == "montecarlo" and t.pvalue <= ALPHA


def test_seed_replays_and_to_dict():
    d = random_table(3, 2, rng=0)
    s = SequentialSampler(d, validate=False)
    a = check_exact(s, d, tv=0.1, rng=None)
    b = check_exact(s, d, tv=0.1, rng=a.seed)
    assert a.statistic == b.statistic and a.seed == b.seed
    g = np.random.default_rng(4)
    c = check_exact(s, d, tv=0.1, rng=g)
    assert check_exact(s, d, tv=0.1, rng=c.seed).statistic == c.statistic
    dd = a.to_dict()
    assert dd["method"] == "gtest" and isinstance(dd["worst_cells"], list)


def test_tv_upper_covers_true_tv():
    d = random_table(4, 2, rng=7)
    s = perturbed(d, 0.03)
    res = check_exact(table_sampler(s), d, num_samples=20000, rng=8)
    assert res.tv_upper >= 0.03 and res.tv_estimate <= res.tv_upper


def test_bad_arguments():
    d = random_table(3, 2, rng=0)
    with pytest.raises(ParameterError, match="`sampler` must be a Sampler"):
        check_exact(42, d)
    with pytest.raises(ParameterError, match="`method` must be one of"):
        check_exact(SequentialSampler(d), d, method="nope")
    with pytest.raises(ParameterError, match="shape"):
        check_exact(lambda num, rng: np.zeros((num, 2), int), d, num_samples=10)
    with pytest.raises(ParameterError, match="values in 0..1"):
        check_exact(lambda num, rng: np.full((num, 3), 2), d, num_samples=10)
