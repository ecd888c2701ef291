"""Meta-tests of stated power (issue 19 item 1, full-table part).

For each full-table method, the power stated by ``check_exact`` (its reported
``detectable_tv`` at ``power``) is checked by simulation against every two-block
alternative at exactly that TV (:func:`verify.exactness.two_block_alternatives`:
mass moved proportionally between the least likely cells and the rest, splits from
2 % to 98 % of the mass, both directions; it contains the least-chi-square split in
halves and, for the sparse regime, the deviation hardest to see: a little more mass
on many rare cells). Each alternative's rejection count over ``REPS`` simulated
samples must reach the lower binomial quantile of the stated power at level
``META_ALPHA`` Bonferroni-corrected over the family. Samples are drawn here by
``Generator.multinomial`` and tested by the real test (G-test, Pearson), or for the
Monte Carlo test by its decision rule with an independent null simulation, so that
the check does not reuse the simulation code behind the statement.

The other side: in the sparse regime the noncentral chi-square figure that was
stated before (Potts, 729 cells, N = 400: TV 0.382) is shown to overstate the power.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distributions.families import potts, random_table
from verify.exactness import (
    check_batch_invariance,
    check_exact,
    detectable_tv,
    two_block_alternatives,
)
from verify.exactness.full_table import _table_test
from verify.exactness.montecarlo import _adk

META_ALPHA = 1e-3
POWER = 0.99
SEED = 20261202


def _cycle(n: int) -> np.ndarray:
    j = np.zeros((n, n))
    for i in range(n):
        j[i, (i + 1) % n] = j[(i + 1) % n, i] = 1
    return j


def _floor(reps: int, family: int) -> float:
    return float(stats.binom.ppf(META_ALPHA / family, reps, POWER))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gtest", "pearson"])
def test_stated_power_holds_dense(method):
    """G-test and Pearson in the dense regime (every expected count >= 5): the
    noncentral chi-square statement holds against every two-block alternative."""
    d = random_table(5, 2, concentration=20.0, rng=3)
    pmf = d.pmf()
    res = check_exact(lambda k, g: d.sample(k, rng=g), d, tv=0.05, alpha=1e-3,
                      power=POWER, method=method, rng=1)
    assert res.method == method and res.num_samples * pmf.min() >= 5
    num, tv, reps = res.num_samples, res.detectable_tv, 400
    fam = two_block_alternatives(pmf, tv)
    gen = np.random.default_rng(SEED)
    lo = _floor(reps, len(fam))
    for label, s in fam:
        assert abs(0.5 * np.abs(s - pmf).sum() - tv) < 1e-9
        counts = gen.multinomial(num, s, size=reps).astype(np.float64)
        rej = sum(_table_test(c, pmf, 2, 5, method=method, alpha=1e-3, gen=gen).pvalue <= 1e-3
                  for c in counts)
        assert rej >= lo, (
            f"{method}: stated power {POWER} at detectable_tv={tv:.4f}, N={num}, but "
            f"{rej}/{reps} rejections against {label} (floor {lo:.0f}, meta-alpha "
            f"{META_ALPHA} over {len(fam)} alternatives), seed {SEED}")


def _mc_rejections(p: np.ndarray, num: int, alpha: float, s_list, reps: int,
                   gen: np.random.Generator) -> tuple[list[int], int]:
    """Rejections of the Monte Carlo test's rule (p-value from R = 20/alpha - 1 null
    resamples <= alpha) with one independent null simulation of that size."""
    r = int(np.ceil(20 / alpha)) - 1
    exp = p * num
    null = np.concatenate([_adk(gen.multinomial(num, p, size=2000).astype(float), exp)
                           for _ in range(r // 2000 + 1)])[:r]
    null.sort()
    m0 = int(np.floor(alpha * (r + 1))) - 1
    crit = null[r - 1 - m0]
    out = []
    for s in s_list:
        t = _adk(gen.multinomial(num, s, size=reps).astype(float), exp)
        out.append(int(np.count_nonzero(t > crit)))
    return out, r


@pytest.mark.slow
def test_stated_power_holds_sparse_montecarlo_and_old_figure_did_not():
    """Monte Carlo test with fewer samples than cells (Potts, 729 cells, N = 400, the
    issue's case): the stated detectable TV holds against every two-block
    alternative; the old noncentral chi-square figure (0.382) did not."""
    d = potts(_cycle(6), 3, beta=0.8)
    pmf = d.pmf()
    p = pmf[pmf > 0] / pmf[pmf > 0].sum()
    num, alpha, reps = 400, 1e-3, 600
    res = check_exact(lambda k, g: d.sample(k, rng=g), d, num_samples=num, alpha=alpha,
                      power=POWER, rng=2)
    assert res.method == "montecarlo" and res.status == "pass", res
    old = detectable_tv(p.size, num, alpha=alpha, power=POWER)
    assert abs(old - 0.3823) < 1e-3 and res.detectable_tv > old
    gen = np.random.default_rng(SEED + 1)
    fam = two_block_alternatives(p, res.detectable_tv)
    rej, _ = _mc_rejections(p, num, alpha, [s for _, s in fam], reps, gen)
    lo = _floor(reps, len(fam))
    for (label, _), r in zip(fam, rej, strict=True):
        assert r >= lo, (
            f"montecarlo: stated power {POWER} at detectable_tv={res.detectable_tv:.4f}, "
            f"N={num}, but {r}/{reps} rejections against {label} (floor {lo:.0f}), "
            f"seed {SEED + 1}")
    # the other side: at the old figure the hardest alternatives are missed too often
    fam_old = two_block_alternatives(p, old)
    rej_old, _ = _mc_rejections(p, num, alpha, [s for _, s in fam_old], reps, gen)
    worst = min(rej_old)
    assert worst < _floor(reps, 1), (
        f"old figure {old:.4f}: worst {worst}/{reps} rejections, expected below the "
        f"{POWER} floor {_floor(reps, 1):.0f} (seed {SEED + 1})")


def test_sparse_result_states_simulated_power_and_no_power():
    """The Monte Carlo result reports the power it has; a size too small to detect
    anything is "no-power", not a pass."""
    d = random_table(8, 2, rng=4)
    f = lambda k, g: d.sample(k, rng=g)  # noqa: E731
    res = check_exact(f, d, num_samples=200, alpha=0.01, rng=3)
    assert res.method == "montecarlo" and res.status == "pass"
    assert res.details["simulated_power"] >= POWER
    assert res.detectable_tv > detectable_tv(256, 200, alpha=0.01, power=POWER)
    # one sample: the bias-corrected statistic is -1 whatever the sample (degenerate)
    tiny = check_exact(f, d, num_samples=1, alpha=0.01, rng=3)
    assert tiny.detectable_tv == 1.0 and tiny.status == "no-power" and not tiny.passed
    assert tiny.to_dict()["status"] == "no-power"


def _pearson(counts: np.ndarray, exp: np.ndarray) -> np.ndarray:
    return np.sum((counts - exp) ** 2 / exp, axis=-1)


def _g_williams_rows(counts: np.ndarray, p: np.ndarray, num: int) -> np.ndarray:
    exp = p * num
    with np.errstate(divide="ignore", invalid="ignore"):
        g = 2.0 * np.sum(np.where(counts > 0, counts * np.log(counts / exp), 0.0), axis=-1)
    k = p.size
    return g / (1.0 + (np.sum(1.0 / p) - 1.0) / (6.0 * num * (k - 1)))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pearson", "gtest"])
def test_stated_power_holds_forced_asymptotic_tests_in_sparse_regime(method):
    """G-test / Pearson forced into the sparse regime (N = 400 < 729 cells): the
    stated detectable TV is the simulated one of the test as run (its chi-square
    critical value) and holds against every two-block alternative."""
    d = potts(_cycle(6), 3, beta=0.8)
    pmf = d.pmf()
    p = pmf[pmf > 0] / pmf[pmf > 0].sum()
    num, alpha, reps = 400, 1e-3, 600
    res = check_exact(lambda k, g: d.sample(k, rng=g), d, num_samples=num, alpha=alpha,
                      power=POWER, method=method, rng=3)
    assert res.method == method and "simulated_power" in res.details
    crit = stats.chi2.isf(alpha, p.size - 1)
    gen = np.random.default_rng(SEED + 2)
    fam = two_block_alternatives(p, res.detectable_tv) if res.detectable_tv < 1 else []
    lo = _floor(reps, max(1, len(fam)))
    for label, s in fam:
        c = gen.multinomial(num, s, size=reps).astype(np.float64)
        t = _pearson(c, p * num) if method == "pearson" else _g_williams_rows(c, p, num)
        rej = int(np.count_nonzero(t > crit))
        assert rej >= lo, (
            f"{method} (sparse): stated power {POWER} at detectable_tv="
            f"{res.detectable_tv:.4f}, N={num}, but {rej}/{reps} rejections against "
            f"{label} (floor {lo:.0f}), seed {SEED + 2}")


@pytest.mark.slow
def test_stated_power_holds_batch_invariance_chi2():
    """check_batch_invariance (dense, chi-square): the stated TV between the two laws
    is detected with the stated power against every two-block alternative."""
    d = random_table(4, 2, concentration=20.0, rng=6)
    pmf = d.pmf()
    res = check_batch_invariance(lambda k, g: d.sample(k, rng=g), target=d,
                                 batch_sizes=(1, 64), tv=0.1, alpha=1e-3, power=POWER, rng=5)
    assert res.method == "chi2" and res.status == "pass", res
    num, reps = res.num_samples, 600
    fam = two_block_alternatives(pmf, res.detectable_tv)
    lo = _floor(reps, len(fam))
    gen = np.random.default_rng(SEED + 3)
    for label, s in fam:
        c1 = gen.multinomial(num, pmf, size=reps).astype(np.float64)
        c2 = gen.multinomial(num, s, size=reps).astype(np.float64)
        t = c1 + c2
        x = np.sum(np.where(t > 0, (c1 - c2) ** 2 / np.where(t > 0, t, 1.0), 0.0), axis=1)
        dof = np.count_nonzero(t > 0, axis=1) - 1
        rej = int(np.count_nonzero(stats.chi2.sf(x, dof) <= 1e-3))
        assert rej >= lo, (
            f"batch invariance: stated power {POWER} at detectable_tv="
            f"{res.detectable_tv:.4f}, N={num} per size, but {rej}/{reps} rejections "
            f"against {label} (floor {lo:.0f}), seed {SEED + 3}")
