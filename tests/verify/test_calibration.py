"""Calibration meta-tests (issue 3, item 6): p-values of a correct sampler are
uniform, and check_exact fails a correct sampler at rate alpha."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distributions.families import random_table
from samplers.autospec import AutospeculativeSampler
from verify.chain_tests import chain_test
from verify.exactness import check_exact

SEED = 20261122
KS_ALPHA = 1e-3


def _ks(pvals, label):
    res = stats.kstest(pvals, "uniform")
    assert res.pvalue >= KS_ALPHA, (
        f"{label}: p-values not uniform: KS D={res.statistic:.3f}, p={res.pvalue:.3g} < "
        f"{KS_ALPHA}; {len(pvals)} runs, seed {SEED}"
    )


@pytest.mark.slow
def test_gtest_pvalues_uniform_autospec():
    """200 seeds, autospeculative sampler on random_table(3, 2), N = 400 (G-test)."""
    d = random_table(3, 2, rng=0)
    s = AutospeculativeSampler(d, validate=False)
    seeds = np.random.SeedSequence(SEED).spawn(200)
    res = [check_exact(s, d, num_samples=400, method="gtest", rng=sq) for sq in seeds]
    _ks([r.pvalue for r in res], "G-test (Williams), autospec")


def test_montecarlo_pvalues_uniform_sparse():
    """200 seeds in the sparse regime (N = 30 on 32 cells): exact Monte Carlo test.

    Its p-values are discrete (the statistic takes few values), so the check is
    the exact property P(p <= u) <= u at a grid of u, within a binomial interval.
    """
    d = random_table(5, 2, rng=1)
    seeds = np.random.SeedSequence(SEED + 1).spawn(200)
    pv = np.array([check_exact(lambda k, rng: d.sample(k, rng=rng), d, num_samples=30,
                               alpha=0.05, rng=sq).pvalue for sq in seeds])
    for u in (0.05, 0.1, 0.25, 0.5):
        hi = stats.binom.isf(1e-4, pv.size, u)
        assert (pv <= u).sum() <= hi, (u, int((pv <= u).sum()), hi, SEED + 1)


def test_false_failure_rate_within_binomial_interval():
    """check_exact at alpha = 0.05 fails a correct sampler 400 times at rate alpha."""
    d = random_table(4, 2, rng=2)
    alpha, runs = 0.05, 400
    seeds = np.random.SeedSequence(SEED + 2).spawn(runs)
    fails = sum(not check_exact(lambda k, rng: d.sample(k, rng=rng), d, num_samples=2000,
                                alpha=alpha, rng=sq).passed for sq in seeds)
    lo, hi = stats.binom.ppf(1e-4, runs, alpha), stats.binom.isf(1e-4, runs, alpha)
    assert lo <= fails <= hi, f"{fails}/{runs} failures, interval [{lo}, {hi}], seed {SEED + 2}"


@pytest.mark.slow
def test_chain_pit_pvalues_uniform_and_family_level():
    """Chain-rule PIT sub-tests are exactly calibrated (uniform p-values); the Holm
    family fails a correct sampler at most at rate alpha."""
    d = random_table(4, 2, rng=3)
    seeds = np.random.SeedSequence(SEED + 3).spawn(200)
    pit, fam = [], []
    for sq in seeds:
        g = np.random.default_rng(sq)
        x = d.sample(200, rng=g)
        r = chain_test(x, d, alpha=0.05, rng=g)
        pit.append(r.pvalues["chain-pit[steps 1-1]"])
        fam.append(r.pvalue)
    _ks(pit, "chain PIT step 1")
    fails = int((np.array(fam) <= 0.05).sum())
    assert fails <= stats.binom.isf(1e-4, 200, 0.05), (fails, SEED + 3)
