"""The one power-law fit (verify/fits.py): exact on a power law, the interval's
coverage at its stated level, refusals before any work."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from distributions.errors import ParameterError
from verify.fits import fit_power_law, increment_growth


def test_exact_power_law_and_the_old_least_squares_figures() -> None:
    f = fit_power_law([8, 16, 32, 64], [3.0 * n**0.7 for n in (8, 16, 32, 64)])
    assert f.c == pytest.approx(3.0) and f.gamma == pytest.approx(0.7)
    assert f.se_gamma == pytest.approx(0.0, abs=1e-12)
    assert f.gamma_low == pytest.approx(0.7) and f.gamma_high == pytest.approx(0.7)
    # the slope and its standard error are those of ordinary least squares in log-log
    x, y = np.log([8, 16, 32, 64]), np.log([20.0, 31.0, 47.0, 61.0])
    ols = stats.linregress(x, y)
    g = fit_power_law([8, 16, 32, 64], [20.0, 31.0, 47.0, 61.0])
    assert g.gamma == pytest.approx(ols.slope) and g.se_gamma == pytest.approx(ols.stderr)
    assert g.c == pytest.approx(math.exp(ols.intercept)) and g.num_points == 4
    two = fit_power_law([2, 4], [1.0, 2.0])
    assert two.gamma == pytest.approx(1.0) and math.isnan(two.se_gamma)


def test_interval_covers_the_true_exponent_at_its_level() -> None:
    """Coverage of the 90 % interval over 400 fits with lognormal noise: the count of
    misses is Binomial(400, 0.1) under a correct interval; two-sided test at
    alpha = 1e-3."""
    seed, reps, level, alpha = 20261202, 400, 0.9, 1e-3
    gen = np.random.default_rng(seed)
    ns = np.array([8, 16, 32, 64, 128])
    misses = 0
    for _ in range(reps):
        y = 2.0 * ns**0.6 * np.exp(0.2 * gen.standard_normal(ns.size))
        f = fit_power_law(ns, y, level=level)
        misses += not (f.gamma_low <= 0.6 <= f.gamma_high)
    p = stats.binomtest(misses, reps, 1 - level).pvalue
    assert p > alpha, (f"interval misses {misses} of {reps} (expected {reps * (1 - level):.0f}); "
                       f"binomial p={p:.3g} <= alpha={alpha}; seed={seed}")


@pytest.mark.parametrize("x, y, level, message", [
    ([1], [1], 0.95, "same length >= 2; got lengths 1 and 1"),
    ([1, 2], [1, 2, 3], 0.95, "same length >= 2; got lengths 2 and 3"),
    ([1, 0], [1, 2], 0.95, "`x` must be positive and finite; got 0.0 at index 1"),
    ([1, 2], [1, float("nan")], 0.95, "`y` must be positive and finite; got nan at index 1"),
    ([1, 2], [1, 2], 1.0, "`level`"),
])
def test_refusals(x, y, level, message) -> None:
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        fit_power_law(x, y, level=level)


def test_loglog_slope_passes_an_affine_law_the_increment_test_does_not() -> None:
    """The defect the increment test fixes: ``0.8 n + 4`` over ``n = 8..64`` has a
    log-log slope interval below 1; its secant slopes are constant (contrast 0), so
    with any noise it cannot pass, while ``3 + 2 sqrt(n)`` (mean rounds' standard error
    0.1) passes and ``0.02 n**1.5`` is significantly superlinear."""
    ns = [8, 16, 32, 64]
    affine = [0.8 * n + 4 for n in ns]
    assert fit_power_law(ns, affine).gamma_high < 1.0
    g = increment_growth(ns, affine, [0.1] * 4)
    assert g.contrast == pytest.approx(0.0, abs=1e-12) and g.low < 0.0 < g.high
    assert g.exponent == pytest.approx(1.0) and g.growth == pytest.approx(2.0)
    root = increment_growth(ns, [3 + 2 * n**0.5 for n in ns], [0.1] * 4)
    assert root.high < 0.0 and root.exponent == pytest.approx(0.5)
    sup = increment_growth(ns, [0.02 * n**1.5 for n in ns], [0.01] * 4)
    assert sup.low > 0.0 and sup.exponent == pytest.approx(1.5)


def test_increment_interval_covers_the_linear_null_at_its_level() -> None:
    """Under exactly linear growth (contrast 0) with normal noise of the stated standard
    errors, the 90% interval misses 0 in Binomial(400, 0.1) runs; two-sided test at
    alpha = 1e-3, on a geometric and on an irregular grid."""
    seed, reps, level, alpha = 20261203, 400, 0.9, 1e-3
    gen = np.random.default_rng(seed)
    for ns in ([8, 16, 32, 64, 128], [16, 24, 32, 48, 64, 96]):
        x = np.asarray(ns, dtype=float)
        se = 0.05 * x + 1.0
        misses = 0
        for _ in range(reps):
            y = 3.0 + 0.7 * x + se * gen.standard_normal(x.size)
            g = increment_growth(x, y, se, level=level)
            misses += not (g.low <= 0.0 <= g.high)
        p = stats.binomtest(misses, reps, 1 - level).pvalue
        assert p > alpha, (f"grid {ns}: interval misses 0 in {misses} of {reps} (expected "
                           f"{reps * (1 - level):.0f}); binomial p={p:.3g} <= alpha={alpha}; "
                           f"seed={seed}")


@pytest.mark.parametrize("x, y, se, message", [
    ([1, 2], [1, 2], [0, 0], "same length >= 3; got lengths 2, 2 and 2"),
    ([1, 2, 2], [1, 2, 3], [0, 0, 0], "`x` must be positive and increasing"),
    ([1, 2, 4], [1, 2, 3], [0, -1, 0], "`se` must be >= 0; got -1.0"),
    ([1, 2, 4], [1, float("inf"), 3], [0, 0, 0], "must be finite"),
])
def test_increment_refusals(x, y, se, message) -> None:
    with pytest.raises(ParameterError, match=message):
        increment_growth(x, y, se)
