"""Tests of the continuous checks (verify.continuous): both sides, calibration, power.

Alpha 0.01 throughout. Each tester is shown to pass on exact input and to fail on a
subtly wrong input at the stated sample size.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from distributions.diffusion import GaussianMixture
from distributions.errors import ParameterError
from samplers.diffusion import EulerLocalizationSampler, LocalizationGrid
from verify.continuous import (
    check_gaussian_chain,
    check_same_law,
    check_speculative_acceptance,
    check_stein_discrepancy,
    energy_distance_test,
    gaussian_chain_moments,
)

ALPHA = 0.01


def _normal(shift: float = 0.0, scale: float = 1.0, d: int = 2):
    def draw(num: int, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((num, d)) * scale
        z[:, 0] += shift
        return z

    return draw


# ----------------------------------------------------------------------------- same law
@pytest.mark.slow
def test_same_law_calibration_over_seeds() -> None:
    """Under H0 the family rejects at rate <= alpha: 30 seeds at alpha = 0.05, allow <= 4.

    P(Binomial(30, 0.05) >= 5) ~ 0.06 for an exactly calibrated family and far more for
    a liberal one (at true size 0.15 the test fails with probability ~0.8).
    """
    rejections = sum(
        not check_same_law(_normal(), _normal(), num_samples=200, alpha=0.05, rng=s,
                           num_permutations=199).passed
        for s in range(30)
    )
    assert rejections <= 4, f"{rejections}/30 false rejections at alpha=0.05; seeds 0..29"


def test_same_law_detects_its_stated_mean_shift() -> None:
    seed, n = 11, 2000
    ok = check_same_law(_normal(), _normal(), num_samples=n, alpha=ALPHA, rng=seed)
    assert ok.passed, f"H0 rejected: p={ok.pvalue:.3g}, n={n}, seed={seed}"
    shift = ok.detectable_mean_shift
    assert 0 < shift < 0.5, shift
    # the stated power holds with probability >= 0.9 per run; run 3 seeds, require all
    for s in (12, 13, 14):
        res = check_same_law(_normal(shift=shift), _normal(), num_samples=n, alpha=ALPHA, rng=s)
        assert not res.passed, (
            f"stated shift {shift:.3f} not detected: p={res.pvalue:.3g}, n={n}, seed={s}"
        )


def test_same_law_detects_scale_change() -> None:
    res = check_same_law(_normal(scale=1.2), _normal(), num_samples=2000, alpha=ALPHA, rng=15)
    assert not res.passed, f"scale 1.2 not detected: p={res.pvalue:.3g}, n=2000, seed=15"


def test_energy_permutation_pvalue_is_uniform_ish() -> None:
    gen = np.random.default_rng(16)
    ps = [energy_distance_test(gen.standard_normal((40, 2)), gen.standard_normal((40, 2)),
                               num_permutations=99, rng=gen)[1] for _ in range(100)]
    res = stats.kstest(ps, "uniform")
    assert res.pvalue > ALPHA, f"permutation p-values not uniform: KS p={res.pvalue:.3g}, seed=16"


# ----------------------------------------------------------------------------- gaussian chain
M = np.array([0.5, -1.0])
S = np.array([[0.6, 0.25], [0.25, 0.4]])
GRID = LocalizationGrid.geometric(10.0, 12, first=0.05)


def test_gaussian_chain_moments_match_brute_force_recursion() -> None:
    target = GaussianMixture([1.0], [M], [S])
    em, ec, om, oc = gaussian_chain_moments(M, S, GRID)
    # propagate mean/cov with the affine drift obtained from the oracle itself
    mu, cov = np.zeros(2), np.zeros((2, 2))
    for k in range(GRID.num_steps):
        t, h = GRID.times[k], GRID.steps[k]
        b = target.denoise(t, np.zeros((1, 2)))[0]
        a = target.denoise(t, np.eye(2)) - b  # rows: A e_j
        lin = np.eye(2) + h * a.T
        mu = lin @ mu + h * b
        cov = lin @ cov @ lin.T + h * np.eye(2)
    np.testing.assert_allclose(em, mu, rtol=1e-10)
    np.testing.assert_allclose(ec, cov, rtol=1e-10)
    b = target.denoise(GRID.T, np.zeros((1, 2)))[0]
    a = (target.denoise(GRID.T, np.eye(2)) - b).T
    np.testing.assert_allclose(om, a @ mu + b, rtol=1e-10)
    np.testing.assert_allclose(oc, a @ cov @ a.T, rtol=1e-10)


class _LateDriftEuler(EulerLocalizationSampler):
    """Mutant chain: drift evaluated at t_{k+1} instead of t_k."""

    def __init__(self, oracle, grid):
        super().__init__(oracle, grid)
        inner = self.oracle.inner
        times = self._t

        class Shifted:
            dim = inner.dim

            def denoise(self, t, x):
                idx = np.minimum(np.searchsorted(times, t) + 1, times.size - 1)
                return inner.denoise(times[idx], x)

        self.oracle.inner = Shifted()


def test_gaussian_chain_check_both_sides() -> None:
    target = GaussianMixture([1.0], [M], [S])
    seed, n = 21, 4000
    ok = check_gaussian_chain(EulerLocalizationSampler(target, GRID), M, S, GRID,
                              num_samples=n, alpha=ALPHA, rng=seed)
    assert ok.passed, f"exact Euler chain rejected: p={ok.pvalue:.3g}, n={n}, seed={seed}"
    assert any("path end" in t.name for t in ok.tests)
    assert 0 < ok.detectable_mahalanobis_shift < 0.1
    bad = check_gaussian_chain(_LateDriftEuler(target, GRID), M, S, GRID,
                               num_samples=n, alpha=ALPHA, rng=seed)
    assert not bad.passed, f"late-drift mutant not caught: p={bad.pvalue:.3g}, n={n}"
    # a callable drawing from the exact output law passes; a 10% wider one fails
    _, _, om, oc = gaussian_chain_moments(M, S, GRID)
    exact = lambda num, rng: rng.multivariate_normal(om, oc, size=num)  # noqa: E731
    wide = lambda num, rng: rng.multivariate_normal(om, 1.1 * oc, size=num)  # noqa: E731
    assert check_gaussian_chain(exact, M, S, GRID, num_samples=n, rng=22).passed
    assert not check_gaussian_chain(wide, M, S, GRID, num_samples=n, rng=22).passed


# ----------------------------------------------------------------------------- Stein
MIX = GaussianMixture([0.4, 0.6], [[-1.5, 0.0], [1.5, 0.5]], [0.3, 0.5])


def test_stein_discrepancy_both_sides() -> None:
    seed, n = 31, 600
    exact = lambda num, rng: MIX.sample(num, rng=rng)  # noqa: E731
    ok = check_stein_discrepancy(exact, MIX, num_samples=n, alpha=ALPHA, rng=seed)
    assert ok.passed, f"KSD rejects exact samples: p={ok.pvalue:.3g}, n={n}, seed={seed}"
    # one component shifted by 0.3 (about half its standard deviation)
    wrong = GaussianMixture(MIX.weights, MIX.means + np.array([[0.3, 0.0], [0.0, 0.0]]),
                            MIX.covs)
    bad = check_stein_discrepancy(lambda num, rng: wrong.sample(num, rng=rng), MIX,
                                  num_samples=n, alpha=ALPHA, rng=seed)
    assert not bad.passed, f"KSD misses a shifted mode: p={bad.pvalue:.3g}, n={n}, seed={seed}"


def test_stein_wild_bootstrap_calibration() -> None:
    """Exact samples: <= 3 rejections in 25 seeds (P(Bin(25, .05) >= 4) ~ 0.03 at alpha .05)."""
    rej = sum(
        not check_stein_discrepancy(MIX.sample(150, rng=s), MIX, num_samples=150, alpha=0.05,
                                    rng=s + 1000, num_bootstrap=199).passed
        for s in range(25)
    )
    assert rej <= 4, f"{rej}/25 false KSD rejections at alpha=0.05; seeds 0..24"


# ----------------------------------------------------------------------------- errors
def test_check_bad_input() -> None:
    with pytest.raises(ParameterError, match="sampler"):
        check_same_law(42, _normal(), num_samples=100)
    with pytest.raises(ParameterError, match="alpha"):
        check_same_law(_normal(), _normal(), num_samples=100, alpha=1.5)
    with pytest.raises(ParameterError, match="same dimension"):
        check_same_law(_normal(d=2), _normal(d=3), num_samples=100, rng=0)
    with pytest.raises(ParameterError, match="shape"):
        check_same_law(lambda num, rng: np.zeros((num + 1, 2)), _normal(), num_samples=100)
    with pytest.raises(ParameterError, match="positive definite"):
        gaussian_chain_moments([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]], GRID)
    with pytest.raises(ParameterError, match="dimension"):
        check_gaussian_chain(_normal(d=3), M, S, GRID, num_samples=100, rng=0)
    with pytest.raises(ParameterError, match="grad_logpdf"):
        check_stein_discrepancy(_normal(), object(), num_samples=100)
    with pytest.raises(ParameterError, match="step_dnorm"):
        check_speculative_acceptance(EulerLocalizationSampler(MIX, GRID), num_samples=10)


# ------------------------------------------- issue 18.16: degenerate statistics, resolution
def test_gaussian_chain_drops_path_end_tests_that_repeat_the_output_tests() -> None:
    """For a Gaussian target the output f(T, x_N) is an affine image of the path end, so
    the affine-invariant path-end tests (Mahalanobis mean, squared radius) equal the
    output's: kept once (before: 8 sub-tests, two pairs identical, m doubled)."""
    target = GaussianMixture([1.0], [M], [S])
    seed, n = 161, 400
    res = check_gaussian_chain(EulerLocalizationSampler(target, GRID), M, S, GRID,
                               num_samples=n, alpha=ALPHA, rng=seed)
    assert len(res.tests) == 6, [t.name for t in res.tests]
    stats_ = [round(t.statistic, 12) for t in res.tests]
    assert len(set(stats_)) == len(stats_), (stats_, seed)
    assert sum("dropped" in note for note in res.notes) == 2, res.notes
    assert res.status == "pass" and res.passed, (res.pvalue, n, seed)
    assert res.pvalue_resolution == 0.0 and all(t.resolution == 0.0 for t in res.tests)


def test_sliced_ks_subtest_is_not_degenerate() -> None:
    """The sliced KS p-value was the DKW union bound 4 K exp(-2 c D^2), equal to 1 unless
    D > 0.156 at n = 400 (p in [0.004, 0.28] for a diagonal shift 0.45); it is now the
    Bonferroni of exact KS p-values and detects that shift (p <= 1e-3, 5 seeds)."""
    def shifted(num: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((num, 2)) + 0.45 / np.sqrt(2)

    for s in range(300, 305):
        res = check_same_law(shifted, _normal(), num_samples=400, alpha=ALPHA, rng=s,
                             num_permutations=199, max_energy_samples=100)
        sliced = res.tests[1]
        assert sliced.name.startswith("sliced KS"), sliced.name
        assert sliced.pvalue <= 1e-3, (
            f"sliced KS misses a diagonal shift 0.45: p={sliced.pvalue:.3g}, n=400, seed={s}")
        assert res.status == "fail" and not res.passed


@pytest.mark.slow  # > 4 s in the fast lane
def test_same_law_reports_resolution_and_explains_a_pvalue_of_one() -> None:
    """pvalue_resolution = 1/(B + 1) of the energy permutations; a family p-value of 1
    (Holm's min(1, m p_min)) is explained in the notes; with B = 199 at alpha = 0.01 the
    energy test alone cannot reject (resolution 0.005 > alpha/m) and the notes say so.
    Null samples, 10 seeds: P(no p == 1 in 10) is about 1e-3 (rate ~0.5 measured)."""
    ones = 0
    for s in range(10):
        res = check_same_law(_normal(), _normal(), num_samples=100, alpha=ALPHA, rng=170 + s,
                             num_permutations=199)
        assert res.num_permutations == 199
        assert res.pvalue_resolution == pytest.approx(1 / 200)
        assert res.tests[0].resolution == pytest.approx(1 / 200)
        assert all(t.resolution == 0.0 for t in res.tests[1:])
        assert any("cannot reject" in note for note in res.notes), res.notes
        holm = any("Holm" in note for note in res.notes)
        assert holm == (res.pvalue >= 1.0), (res.pvalue, res.notes, 170 + s)
        ones += res.pvalue >= 1.0
        assert res.status == "pass", (res.pvalue, 170 + s)
    assert ones >= 1, "no family p-value of 1 in 10 null runs (seeds 170..179)"


def test_ties_are_reported() -> None:
    rounded = lambda num, rng: np.round(rng.standard_normal((num, 2)), 1)  # noqa: E731
    res = check_same_law(rounded, _normal(), num_samples=200, alpha=ALPHA, rng=180)
    assert any("sampler_a coordinate 0" in note and "tied" in note for note in res.notes)
    assert not any("sampler_b" in note for note in res.notes), res.notes


def test_stein_too_few_bootstraps_is_no_power() -> None:
    """1/(B + 1) > alpha: the smallest attainable p-value cannot reject; "no-power"
    (not a pass) even for samples far from the target."""
    far = lambda num, rng: rng.standard_normal((num, 2)) + 5.0  # noqa: E731
    res = check_stein_discrepancy(far, MIX, num_samples=150, alpha=ALPHA, rng=181,
                                  num_bootstrap=19)
    assert res.pvalue_resolution == pytest.approx(0.05) and res.num_bootstrap == 19
    assert res.status == "no-power" and not res.passed, (res.status, res.pvalue)
    ok = check_stein_discrepancy(MIX.sample(150, rng=182), MIX, num_samples=150,
                                 alpha=ALPHA, rng=183, num_bootstrap=199)
    assert ok.status == "pass" and ok.passed and ok.pvalue_resolution == pytest.approx(1 / 200)


def test_acceptance_status_and_resolution() -> None:
    from samplers.diffusion import SpeculativeDiffusionSampler

    res = check_speculative_acceptance(SpeculativeDiffusionSampler(MIX, GRID, window=4),
                                       num_samples=300, alpha=ALPHA, rng=184)
    assert res.status == "pass" and res.passed, (res.pvalue, res.num_steps)
    assert res.pvalue_resolution == 0.0 and res.detectable_rate_shift < 1.0


def test_same_law_without_power_is_not_a_pass() -> None:
    """num_samples = 10: the detectable KS distance is 1 (no alternative is guaranteed
    to be detected); a non-rejection is "no-power", not a pass."""
    res = check_same_law(_normal(), _normal(), num_samples=10, alpha=ALPHA, rng=185)
    assert res.detectable_ks_distance >= 1.0
    assert res.status == "no-power" and not res.passed, (res.status, res.pvalue)


# ------------------------------------------- review rev9: bad input refused before any work
class _Counting:
    """A callable sampler ``(num, rng) -> (num, dim)`` that counts its calls."""

    def __init__(self, dim: int = 2) -> None:
        self.dim, self.calls = dim, 0

    def __call__(self, num: int, rng: np.random.Generator) -> np.ndarray:
        self.calls += 1
        return rng.standard_normal((num, self.dim))


class _ScoreOnly:
    """A ScoreTarget (dim, grad_logpdf) without ``sample``."""

    dim = 2

    def grad_logpdf(self, y: np.ndarray) -> np.ndarray:
        return MIX.grad_logpdf(y)


@pytest.mark.parametrize(("samples", "target", "kwargs", "match"), [
    (np.zeros((5, 2, 2)), MIX, {},
     r"`sampler` \(an array of samples\) must have shape \(n, 2\) with n >= 10; got \(5, 2, 2\)"),
    (np.zeros((0, 2)), MIX, {},
     r"`sampler` \(an array of samples\) must have shape \(n, 2\) with n >= 10; got \(0, 2\)"),
    (np.zeros((50, 3)), MIX, {}, r"must have shape \(n, 2\) with n >= 10; got \(50, 3\)"),
    (np.full((50, 2), np.inf), MIX, {}, r"must be finite; got inf at row 0, coordinate 0"),
    (np.array([["a", "b"]] * 20), MIX, {}, r"must hold numbers"),
    ("callable", _ScoreOnly(), {},
     r"`target` must have `sample\(num, \*, rng\)` when `bandwidth` is None"),
    ("callable", MIX, {"bandwidth": float("nan")}, r"`bandwidth` must be a finite number > 0"),
    ("callable", MIX, {"num_samples": 10**5},
     r"check_stein_discrepancy \(n x n pairs\) keeps every sample: 10,000,000,000 pairs x "
     r"dim=2 = 20,000,000,000 entries exceed the memory cap of 1,073,741,824"),
    ("callable", MIX, {"num_samples": 10**9}, r"`num_samples` must be <= max_samples = "
     r"100,000,000 \(the cap of check_stein_discrepancy\); got 1,000,000,000"),
])
def test_stein_bad_input_is_refused_before_any_draw(samples, target, kwargs, match) -> None:
    """Review rev9 item 2: a 3-d or empty array, a target without ``sample`` (needed
    for the default bandwidth) and impossible sizes are ParameterErrors naming the
    culprit, raised before the sampler is called (they were an unpack ValueError, an
    error naming `bandwidth`, and an AttributeError after 100 draws)."""
    smp = _Counting() if isinstance(samples, str) else samples
    args = {"num_samples": 100, "rng": 0} | kwargs
    with pytest.raises(ParameterError, match=match):
        check_stein_discrepancy(smp, target, **args)
    if isinstance(smp, _Counting):
        assert smp.calls == 0


def test_stein_score_only_target_runs_with_a_bandwidth() -> None:
    """The other side: a target without ``sample`` is fine when ``bandwidth`` is given,
    and a 1-d array is one coordinate (here of a 1-d target)."""
    r = check_stein_discrepancy(_Counting(), _ScoreOnly(), num_samples=50, bandwidth=1.0,
                                rng=0, num_bootstrap=99)
    assert r.num_samples == 50 and r.bandwidth == 1.0
    one = GaussianMixture([1.0], [[0.0]], [1.0])
    x = np.random.default_rng(3).standard_normal(60)
    assert check_stein_discrepancy(x, one, num_samples=10, rng=0).num_samples == 60


def test_acceptance_refuses_a_plain_callable_before_any_draw() -> None:
    """Review rev9 item 3: a callable returns an array, which has no acceptance record;
    refused with a ParameterError saying what is needed (it was an AttributeError)."""
    smp = _Counting()
    with pytest.raises(ParameterError, match=r"`sampler` must be a sampler object with "
                       r"`sample\(num, \*, rng\)` returning a SampleResult with "
                       r"aux\['step_dnorm'\]"):
        check_speculative_acceptance(smp, num_samples=10, rng=0)
    assert smp.calls == 0
    with pytest.raises(ParameterError, match=r"`num_samples` must be <= max_samples = 10 "):
        check_speculative_acceptance(smp, num_samples=11, max_samples=10, rng=0)


@pytest.mark.parametrize(("kwargs", "dim", "calls", "match"), [
    ({"num_samples": 10**13}, 2, 0, r"`num_samples` must be <= max_samples = 100,000,000 "
     r"\(the cap of check_same_law\); got 10,000,000,000,000"),
    ({"num_samples": 10**9, "max_samples": None}, 2, 0,
     r"check_same_law \(both samples and their 32 projections\) keeps every sample: "
     r"2,000,000,000 samples x \(dim \+ num_projections\)=33"),
    ({"num_samples": 10**7}, 40, 1, r"20,000,000 samples x \(dim \+ num_projections\)=72"),
    ({"num_samples": 100, "max_samples": 9}, 2, 0, r"`max_samples` must be an integer >= 10"),
])
def test_same_law_impossible_size_is_refused_up_front(kwargs, dim, calls, match) -> None:
    """Review rev9 item 5: 10**13 samples was an OverflowError in spawn, 10**9 a
    MemoryError after 23 s; now the size cap (max_samples) and the memory cap
    (verify.sampling.MAX_SAMPLE_ENTRIES) refuse them before any draw, or, when only
    the dimension makes the size impossible, at the first shard (one call)."""
    a, b = _Counting(dim), _Counting(dim)
    with pytest.raises(ParameterError, match=match):
        check_same_law(a, b, rng=0, **kwargs)
    assert (a.calls, b.calls) == (calls, 0)


def test_gaussian_chain_size_caps_before_any_draw() -> None:
    smp = _Counting()
    with pytest.raises(ParameterError, match=r"max_samples = 100 \(the cap of "
                       r"check_gaussian_chain\); got 101"):
        check_gaussian_chain(smp, M, S, GRID, num_samples=101, max_samples=100, rng=0)
    with pytest.raises(ParameterError, match=r"check_gaussian_chain \(outputs and path ends\)"):
        check_gaussian_chain(smp, M, S, GRID, num_samples=10**9, max_samples=None, rng=0)
    assert smp.calls == 0


_X = np.random.default_rng(5).standard_normal((20, 2))


@pytest.mark.parametrize(("x", "y", "kwargs", "match"), [
    (np.zeros((5, 2, 2)), _X, {}, r"`x` must have shape \(n, dim\) with n >= 2; "
     r"got \(5, 2, 2\)"),
    (_X, np.zeros((20, 3)), {}, r"`x` and `y` must have the same dimension; got 2 and 3"),
    (np.full((20, 2), np.nan), _X, {}, r"`x` must be finite"),
    (_X, _X[:1], {}, r"`y` must have shape \(n, dim\) with n >= 2; got \(1, 2\)"),
    (_X, _X, {"num_permutations": 0}, r"`num_permutations` must be an integer >= 1; got 0"),
    (_X, _X, {"num_permutations": 10**9}, r"energy_distance_test keeps every sample: 40 "
     r"samples x \(n \+ m \+ num_permutations \+ 1\)=1,000,000,041"),
])
def test_energy_distance_test_checks_its_input(x, y, kwargs, match) -> None:
    """Found by the rev9 sweep of verify.continuous: the public kernel raised untyped
    ValueErrors (shapes) or ran on NaN; ``rng`` was not normalised."""
    args = {"num_permutations": 19, "rng": 0} | kwargs
    with pytest.raises(ParameterError, match=match):
        energy_distance_test(x, y, **args)


def test_energy_distance_test_normalises_rng() -> None:
    a = energy_distance_test(_X, _X[::-1] + 0.1, num_permutations=19, rng=3)
    b = energy_distance_test(_X, _X[::-1] + 0.1, num_permutations=19,
                             rng=np.random.default_rng(3))
    assert a == b


def test_same_law_bad_num_permutations_and_energy_size_refused_before_any_draw() -> None:
    a, b = _Counting(), _Counting()
    with pytest.raises(ParameterError, match=r"`num_permutations` must be an integer >= 19"):
        check_same_law(a, b, num_samples=100, num_permutations=5, rng=0)
    with pytest.raises(ParameterError, match=r"check_same_law's energy test"):
        check_same_law(a, b, num_samples=10**5, max_energy_samples=10**5, rng=0)
    assert (a.calls, b.calls) == (0, 0)


def test_gaussian_chain_moments_overflow_is_refused() -> None:
    """The sweep's other gap: an enormous grid end overflowed with RuntimeWarnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParameterError, match=r"`grid` must keep the exact chain "
                           r"moments finite in float64; got end time T = 1e\+300"):
            gaussian_chain_moments(M, S, [0.0, 1e300])
