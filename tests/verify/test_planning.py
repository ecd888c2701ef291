"""The full-table planner against the simulated optimum (issue 15 item 4).

For ``k`` in {16, 64, 256} cells, the optimum is the smallest sample size at which
the G-test (Williams' correction, as :func:`check_exact` runs it) reaches the
stated power against the hardest alternatives at TV ``eps`` (the three two-block
alternatives of least chi-square divergence, :func:`two_block_alternatives`),
found by bisection on simulated rejection rates (``REPS`` multinomial samples per
alternative and size). The planner's size must be within 2x of it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from verify.exactness import plan_sample_size, two_block_alternatives

ALPHA, POWER, EPS, REPS = 1e-3, 0.99, 0.05, 2000


def g_power(p: np.ndarray, s: np.ndarray, num: int, gen: np.random.Generator) -> float:
    """Simulated power of the Williams-corrected G-test at size ``num`` against ``s``."""
    k = p.size
    obs = gen.multinomial(num, s, size=REPS).astype(np.float64)
    exp = num * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(obs > 0, obs * np.log(obs / exp), 0.0)
    q = 1.0 + (float(np.sum(1.0 / p)) - 1.0) / (6.0 * num * (k - 1))
    g = 2.0 * terms.sum(axis=1) / q
    return float(np.mean(g >= stats.chi2.isf(ALPHA, k - 1)))


def simulated_optimum(p: np.ndarray, plan: int, gen: np.random.Generator) -> int:
    chi2 = [(float(np.sum((s - p) ** 2 / p)), s) for _, s in two_block_alternatives(p, EPS)]
    hardest = [s for _, s in sorted(chi2, key=lambda t: t[0])[:3]]

    def enough(num: int) -> bool:
        return min(g_power(p, s, num, gen) for s in hardest) >= POWER

    lo, hi = max(2, plan // 8), 4 * plan
    assert not enough(lo) and enough(hi), (lo, hi)
    while hi - lo > max(1, lo // 100):
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


@pytest.mark.slow
@pytest.mark.parametrize("k", [16, 64, 256])
def test_planner_within_2x_of_the_simulated_optimum(k):
    gen = np.random.default_rng(20261202 + k)
    p = gen.dirichlet(np.full(k, 20.0))
    plan = plan_sample_size(p, tv=EPS, alpha=ALPHA, power=POWER)
    assert plan * p.min() >= 5.0  # the dense regime, where the G-test runs
    opt = simulated_optimum(p, plan, gen)
    ratio = plan / opt
    print(f"k={k}: plan {plan}, simulated optimum {opt}, ratio {ratio:.3f}")
    assert 0.5 <= ratio <= 2.0 and math.isfinite(ratio), (plan, opt)
