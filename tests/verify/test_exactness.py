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
    check_exact,
    detectable_tv,
    full_table_test,
    plan_sample_size,
)
from verify.exactness.full_table import _g_williams

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


# ------------------------------------------------- issue 18 item 19, issue 19 item 3
class _Spy:
    """Sampler that records its calls (so a test can assert no work was done)."""

    def __init__(self, d: TableDistribution, out=None, delay: float = 0.0) -> None:
        self.d, self.out, self.delay, self.calls = d, out, delay, 0

    def __call__(self, num, rng):
        self.calls += 1
        if self.delay:
            import time

            time.sleep(self.delay)
        return self.d.sample(num, rng=rng) if self.out is None else self.out(num)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rng": -1}, r"`rng` must be None, a non-negative integer seed.*got -1\."),
        ({"rng": "abc"}, r"`rng` must be None.*got 'abc'\."),
        ({"rng": 1.5}, r"`rng` must be None.*got 1\.5\."),
        ({"power": 5e-4}, r"`power` must be > `alpha`.*got power=0\.0005 with alpha=0\.001"),
        ({"alpha": 1e-300}, r"`alpha` must be a finite number >= 1e-12 and < 1; got 1e-300"),
        ({"alpha": 0.0}, r"`alpha` must be a finite number >= 1e-12"),
        ({"tv": 1e-6}, r"planned sample size [\d,]+ .* exceeds `max_samples` = 100,000,000"),
        ({"num_samples": 10**9}, r"`num_samples` must be <= max_samples = 100,000,000"),
        ({"batch_size": 0}, r"`batch_size` must be an integer >= 1; got 0"),
        ({"timeout": -1.0}, r"`timeout` must be a finite number > 0; got -1\.0"),
        ({"max_resamples": 0}, r"`max_resamples` must be an integer >= 1; got 0"),
        # the sparse regime needs a Monte Carlo test whose resolution cannot reach 1e-6
        ({"alpha": 1e-6, "num_samples": 50}, r"`alpha` must be >= 1e-05 .*got 1e-06"),
    ],
)
def test_bad_arguments_are_typed_and_refused_before_any_work(kwargs, match):
    """Regression (issue 18 item 19, issue 19 item 3): untyped numpy/scipy errors, a
    root-finding error, a silent 2.4e13-sample plan and a never-ending Monte Carlo
    test became ParameterErrors raised before the sampler is called."""
    d = random_table(6, 2, rng=0)
    spy = _Spy(d)
    with pytest.raises(ParameterError, match=match):
        check_exact(spy, d, **kwargs)
    assert spy.calls == 0


def test_planner_refuses_infeasible_plans():
    with pytest.raises(ParameterError, match=r"planned sample size .* exceeds `max_samples`"):
        plan_sample_size(64, tv=1e-9, alpha=ALPHA, power=0.99)
    # the cap is a documented parameter; None lifts it
    assert plan_sample_size(64, tv=1e-9, alpha=ALPHA, power=0.99, max_samples=None) > 10**18
    with pytest.raises(ParameterError, match="`power` must be > `alpha`"):
        plan_sample_size(64, tv=0.1, alpha=0.01, power=0.005)
    with pytest.raises(ParameterError, match="`power` must be > `alpha`"):
        detectable_tv(64, 100, alpha=0.01, power=0.005)


@pytest.mark.parametrize(
    ("out", "match"),
    [
        (lambda num: np.full((num, 3), "1"), r"`sampler` output must be an integer array; "
                                             r"got dtype <U1 \(first value '1'\)"),
        (lambda num: np.full((num, 3), 0.5), r"must be integers; got 0\.5 at row 0"),
        (lambda num: np.full((num, 3), np.nan), r"must be integers; got nan at row 0"),
        (lambda num: np.zeros((num, 3), complex), r"got dtype complex128"),
        (lambda num: np.zeros((num + 1, 3), int), r"shape \(num, n\) = \(20, 3\).*got shape "
                                                  r"\(21, 3\)"),
        (lambda num: [[0, 1], [1]], r"`sampler` output must be an integer array of shape"),
        (lambda num: np.full((num, 3), -1), r"values in 0\.\.1; got -1 at row 0, position 0"),
    ],
)
def test_bad_sampler_output_blames_the_output(out, match):
    """Regression: a sampler returning strings raised a numpy ufunc TypeError."""
    d = random_table(3, 2, rng=0)
    with pytest.raises(ParameterError, match=match):
        check_exact(_Spy(d, out), d, num_samples=20, rng=0)


def test_float_integer_output_accepted():
    d = random_table(3, 2, rng=0)
    res = check_exact(lambda k, g: d.sample(k, rng=g).astype(float), d, num_samples=500, rng=0)
    assert res.status in ("pass", "fail")


def test_check_timeout_between_draws():
    """A check-level wall-time budget stops between sampler calls with a clear error."""
    from distributions.errors import BudgetExceededError

    d = random_table(3, 2, rng=0)
    spy = _Spy(d, delay=0.5)
    with pytest.raises(BudgetExceededError, match=r"check_exact exceeded its `timeout` budget "
                                                  r"of 0\.75 s: .* after drawing \d of 100 "
                                                  r"samples in calls of 1 rows") as err:
        check_exact(spy, d, num_samples=100, batch_size=1, timeout=0.75, rng=0)
    assert f"after drawing {spy.calls} of 100" in str(err.value) and spy.calls <= 3


def test_montecarlo_resamples_capped_with_resolution_reported():
    """Regression (issue 19 item 3): 20/alpha resamples without a cap. The cap holds,
    the resolution is reported, and alpha below it is refused, not run forever."""
    d = random_table(6, 2, rng=2)
    f = lambda k, g: d.sample(k, rng=g)  # noqa: E731
    res = check_exact(f, d, num_samples=100, alpha=0.01, max_resamples=4999, rng=3)
    assert res.method == "montecarlo" and res.details["resamples"] == 1999
    res = check_exact(f, d, num_samples=100, alpha=5e-4, max_resamples=4999, rng=3)
    assert res.details["resamples"] == 4999 and res.details["pvalue_resolution"] == 2e-4
    with pytest.raises(ParameterError, match=r"`alpha` must be >= 0\.0002"):
        check_exact(f, d, num_samples=100, alpha=1e-4, max_resamples=4999, rng=3)
    # the dense regime (G-test) supports small alpha: no resamples at all
    d2 = random_table(2, 2, rng=0)
    res = check_exact(lambda k, g: d2.sample(k, rng=g), d2, num_samples=2000, alpha=1e-10,
                      rng=0)
    assert res.method == "gtest" and "resamples" not in res.details


@pytest.mark.parametrize(
    ("k", "num"),
    [(16, 400), (729, 400), (40_000, 300)],  # multinomial, alias + bincount, alias-free sort
)
def test_monte_carlo_draw_paths_have_the_exact_mean(k, num):
    """The three draw paths of the Monte Carlo statistic give its exact mean:
    ``E Z = (N - 1) sum s**2 / p - N`` for samples from ``s`` (``-1`` under the null);
    the alias table and the collision form of the statistic are checked with it."""
    from verify.exactness import two_block_alternatives
    from verify.exactness.montecarlo import _onesample_stats

    seed = 20261202
    gen = np.random.default_rng(seed)
    p = gen.dirichlet(np.full(k, 0.5))
    p = np.maximum(p, 1e-12)
    p /= p.sum()
    inv = 1.0 / (p * num)
    reps = 4000
    for label, s in [("null", p), *two_block_alternatives(p, 0.1)[:2]]:
        z = _onesample_stats(s, inv, num, reps, gen, None)
        mean = (num - 1) * float(np.sum(s * s / p)) - num
        se = z.std(ddof=1) / np.sqrt(reps)
        assert abs(z.mean() - mean) <= 4.5 * se, (
            f"k={k}, N={num}, {label}: mean {z.mean():.4g} vs exact {mean:.4g} "
            f"(4.5 SE = {4.5 * se:.3g}), {reps} draws, seed {seed}")


def test_result_says_what_it_has_power_against():
    """Full table: every joint deviation, all interaction orders; sparse regime: the
    two-block family; chain tests: their stated class (orders 1 and 2)."""
    d = random_table(4, 2, concentration=20.0, rng=0)
    f = lambda k, g: d.sample(k, rng=g)  # noqa: E731
    dense = check_exact(f, d, tv=0.1, rng=0)
    assert dense.method == "gtest" and dense.interaction_orders == (1, 2, 3, 4)
    assert dense.power_against.startswith("every deviation of the joint law")
    sparse = check_exact(f, d, num_samples=20, alpha=0.01, rng=0)
    assert sparse.method == "montecarlo" and sparse.power_against.startswith("two-block")
    chain = check_exact(f, d, method="chain", num_samples=2000, rng=0)
    assert chain.method == "chain" and chain.interaction_orders == (1, 2)
    assert chain.power_against and chain.to_dict()["interaction_orders"] == [1, 2]


def test_chain_memory_cap_refused_before_work():
    """Chain tests hold every sample: N x n above MAX_SAMPLE_ENTRIES is refused with the
    size, before the sampler is called (issue 19 item 3: memory grew without a guard)."""
    from distributions.scalable import Product

    d = Product(np.full((2000, 2), 0.5))
    spy = _Spy(d)
    with pytest.raises(ParameterError, match=r"1,000,000 samples x n=2,000 = 2,000,000,000 "
                                             r"entries exceed the memory cap"):
        check_exact(spy, d, num_samples=10**6, rng=0)
    assert spy.calls == 0


def test_planned_size_in_sparse_regime_reaches_the_requested_tv():
    """Issue 19 item 1: a plan landing in the sparse regime is grown until the Monte
    Carlo test run there detects ``tv`` with the requested power (simulated); the
    noncentral chi-square size alone stated TV ~0.055 there."""
    d = random_table(6, 2, rng=2)
    ncx2_plan = plan_sample_size(d, tv=0.05, alpha=ALPHA, power=0.99)
    res = check_exact(lambda k, g: d.sample(k, rng=g), d, tv=0.05, rng=0)
    assert res.method == "montecarlo" and res.num_samples > ncx2_plan
    assert res.detectable_tv <= 0.05 and res.details["simulated_power"] >= 0.99
    from verify.exactness.montecarlo import _sparse_detectable_tv
    from verify.planning import resamples_for

    p = d.pmf()
    det_old, _ = _sparse_detectable_tv(p / p.sum(), ncx2_plan, ALPHA, 0.99, "montecarlo",
                                       resamples_for(ALPHA, 10**5), None)
    assert det_old > 0.05


def test_bias_corrected_null_moments_exact_by_enumeration():
    """The screen's null moments (``verify.exactness.montecarlo._approx_detectable_tv``):
    the bias-corrected chi-square has mean -1 and variance ``2 (k - 1) (1 - 1/N)`` under
    multinomial(N, p), whatever ``p``: checked on every table of N = 7 draws over 4
    cells, for two laws, to rounding."""
    from itertools import product

    num, k = 7, 4
    tables = np.array([c for c in product(range(num + 1), repeat=k) if sum(c) == num],
                      dtype=np.float64)
    for p in (np.full(k, 0.25), np.array([0.05, 0.15, 0.3, 0.5])):
        w = np.exp(stats.multinomial.logpmf(tables, num, p))
        t = (tables * (tables - 1)) @ (1.0 / (num * p)) - num
        mean = float(w @ t)
        var = float(w @ (t - mean) ** 2)
        assert abs(w.sum() - 1) < 1e-12
        assert abs(mean + 1) < 1e-12, mean
        assert abs(var - 2 * (k - 1) * (1 - 1 / num)) < 1e-10, var


def test_sparse_plan_screened_size_is_simulated_once():
    """Issue 14: the sparse planner simulates the screened size first (a normal
    approximation picks it), and one simulation settles the plan when it holds there;
    the plan is still the simulated figure's (detectable TV <= tv)."""
    from verify.exactness import montecarlo
    from verify.exactness.full_table import _plan_sparse
    from verify.planning import resamples_for
    from verify.sampling import Deadline

    d = random_table(6, 2, rng=2)
    p = d.pmf() / d.pmf().sum()
    ncx2_plan = plan_sample_size(d, tv=0.05, alpha=ALPHA, power=0.99)
    montecarlo._DETECTABLE_CACHE.clear()
    num, method = _plan_sparse(p, ncx2_plan, "auto", 0.05, ALPHA, 0.99, None, 10**5,
                               Deadline(None, "test"))
    assert method == "montecarlo" and num > ncx2_plan
    assert [key[1] for key in montecarlo._DETECTABLE_CACHE] == [num]  # one simulation
    det, pw = montecarlo._sparse_detectable_tv(p, num, ALPHA, 0.99, "montecarlo",
                                               resamples_for(ALPHA, 10**5), None)
    assert det <= 0.05 and pw >= 0.99
    approx = montecarlo._approx_detectable_tv(p, num, ALPHA, 0.99)
    assert approx <= montecarlo.SCREEN_MARGIN * 0.05 < det  # the screen aims below


def test_sparse_detectable_tv_at_a_requested_tv():
    """A plan's requested TV (``at``) is returned when every two-block alternative
    reaches the power there -- re-checked here on independent null and alternative
    draws -- and the bisection's smallest TV is returned when it does not."""
    from verify.exactness import montecarlo
    from verify.planning import resamples_for

    d = random_table(5, 2, rng=1)
    p = d.pmf() / d.pmf().sum()
    num, reps = 300, resamples_for(ALPHA, 10**5)
    montecarlo._DETECTABLE_CACHE.clear()
    det, pw = montecarlo._sparse_detectable_tv(p, num, ALPHA, 0.99, "montecarlo", reps, None)
    at = 1.2 * det
    assert det < at < montecarlo._family_max_tv(p)
    got, pw_at = montecarlo._sparse_detectable_tv(p, num, ALPHA, 0.99, "montecarlo", reps,
                                                  None, at=at)
    assert got == at and pw_at >= 0.99
    gen = np.random.default_rng(20261203)
    inv_exp = 1.0 / (p * num)
    crit = montecarlo._mc_crit(
        montecarlo._onesample_stats(p, inv_exp, num, reps, gen, None), ALPHA)
    m = 2000
    for label, s in montecarlo.two_block_alternatives(p, at):
        power = float(np.mean(montecarlo._onesample_stats(s, inv_exp, num, m, gen, None)
                              > crit))
        # 3.5 binomial standard errors below 0.99 (16 alternatives: family-wise < 1e-2)
        assert power >= 0.99 - 3.5 * (0.99 * 0.01 / m) ** 0.5, (label, power, m, 20261203)
    assert montecarlo._sparse_detectable_tv(p, num, ALPHA, 0.99, "montecarlo", reps, None,
                                            at=0.25 * det) == (det, pw)


def test_sparse_plan_forced_montecarlo_in_dense_regime_is_not_grown():
    """A plan already in the dense regime is neither screened nor simulated, whatever
    the method (a forced Monte Carlo test was screened and grown by about 10%)."""
    from verify.exactness import montecarlo
    from verify.exactness.full_table import _plan_sparse
    from verify.sampling import Deadline

    p = np.full(50, 1 / 50)
    num = plan_sample_size(50, tv=0.05, alpha=ALPHA, power=0.99)
    assert num * p.min() >= 5
    montecarlo._DETECTABLE_CACHE.clear()
    for method in ("auto", "montecarlo"):
        got = _plan_sparse(p, num, method, 0.05, ALPHA, 0.99, None, 10**5,
                           Deadline(None, "test"))
        assert got == (num, "gtest" if method == "auto" else "montecarlo")
    assert not montecarlo._DETECTABLE_CACHE


def test_sequential_montecarlo_pvalue_stops_early_only_where_it_cannot_reject():
    """The Monte Carlo p-value draws its null sequentially (Besag-Clifford): it stops
    at the h-th null statistic reaching the observed one, h >= alpha (resamples + 1),
    with p = h / draws > alpha (the fixed-size test could not reject on any
    continuation); else it draws all resamples and p is the fixed-size p-value."""
    from verify.exactness.montecarlo import _adk_counts, _mc_pvalue

    d = random_table(5, 2, rng=4)
    p = d.pmf() / d.pmf().sum()
    wrong = perturbed(d, 0.3).pmf()
    early = full = 0
    for seed in range(40):
        gen = np.random.default_rng(seed)
        law = p if seed % 2 else wrong
        obs = np.bincount(np.searchsorted(np.cumsum(law), gen.random(60) * law.sum(),
                                          side="right"), minlength=p.size).astype(float)
        for alpha in (0.05, 1e-3):
            t, pv, r, null = _mc_pvalue(obs, p, 60, alpha, np.random.default_rng(seed))
            assert t == float(_adk_counts(obs, 1.0 / (p * 60), 60))
            reached = int(np.count_nonzero(null >= t - 1e-9 * max(1.0, abs(t))))
            h = max(10, int(np.ceil(alpha * (r + 1))))
            if null.size < r:
                early += 1
                assert reached == h and null[-1] >= t - 1e-9 * max(1.0, abs(t))
                assert pv == h / null.size > alpha and h >= alpha * (r + 1)
            else:
                full += 1
                assert null.size == r and reached < h and pv == (1 + reached) / (r + 1)
    assert early and full, (early, full)


@pytest.mark.slow
def test_sequential_montecarlo_pvalue_is_calibrated():
    """Under the null P(p <= u) is u within a binomial interval at a grid of u (2,000
    tables of N = 200 on 32 cells, alpha = 0.05: 999 resamples at most; two-sided
    interval at 1e-4 per point, seed 20261203)."""
    from verify.exactness.montecarlo import _mc_pvalue

    d = random_table(5, 2, rng=1)
    p = d.pmf() / d.pmf().sum()
    gen = np.random.default_rng(20261203)
    tables = gen.multinomial(200, p, size=2000).astype(float)
    pv = np.array([_mc_pvalue(obs, p, 200, 0.05, gen)[1] for obs in tables])
    for u in (0.01, 0.05, 0.1, 0.25, 0.5, 0.75):
        lo, hi = stats.binom.ppf(1e-4, pv.size, u), stats.binom.isf(1e-4, pv.size, u)
        got = int((pv <= u).sum())
        assert lo <= got <= hi, f"P(p <= {u}): {got}/{pv.size}, interval [{lo}, {hi}]"


@pytest.mark.slow
def test_auto_falls_back_to_chain_above_auto_table_and_full_table_on_request():
    """Issue 19.2: ``Product(n=17)`` has a 2**17-cell table (pmf works up to 2**20):
    ``method="auto"`` tests it with the chain family at once instead of a Monte Carlo
    null over 131,072 cells, and a named full-table method still tabulates it."""
    from distributions import Product
    from samplers import SequentialSampler
    from verify.exactness import AUTO_TABLE, MAX_TABLE

    target = Product(np.full((17, 2), 0.5))
    assert AUTO_TABLE < 2**17 <= MAX_TABLE and target.pmf().shape == (2**17,)
    res = check_exact(SequentialSampler(target), target, tv=0.2, rng=np.random.default_rng(7))
    assert res.method == "chain", res.method
    full = check_exact(SequentialSampler(target), target, method="gtest",
                       num_samples=2_000_000, rng=np.random.default_rng(8))
    assert full.method == "gtest" and full.details["support_size"] == 2**17
