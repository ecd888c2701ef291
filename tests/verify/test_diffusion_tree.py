"""verify.pinning.diffusion_tree: the diffusion analogue of the sum-TV round bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distributions.diffusion import FiniteSet, GaussianMixture
from distributions.errors import ParameterError
from samplers.diffusion import AutospeculativeDiffusionSampler, LocalizationGrid
from verify.pinning.diffusion_tree import diffusion_tree_budget, tree_nodes

MIX = GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.1, 0.2])
GRID = LocalizationGrid.geometric(20.0, 16, first=0.05)


def test_tree_matches_the_sampler_split() -> None:
    a, b, dep = tree_nodes(16)
    assert a.size == 31 and (b - a == 1).sum() == 16 and dep.max() == 4
    for i in np.flatnonzero(b - a > 1):
        mid = a[i] + (b[i] - a[i]) // 2
        assert ((a == a[i]) & (b == mid)).any() and ((a == mid) & (b == b[i])).any()


def test_point_mass_has_no_budget() -> None:
    res = diffusion_tree_budget(FiniteSet([[0.5, -1.0]]), GRID, num_paths=20, rng=0)
    assert res.sum_tv == res.sum_kl == res.sum_pinsker == 0.0


def test_root_tv_agrees_with_an_estimate_from_the_proposal() -> None:
    """TV from the chain's own paths (E_mu (1 - nu/mu)_+) against 1 - E_nu min(1, mu/nu)
    from frozen-drift proposals: two unbiased estimators, 4 standard errors."""
    res = diffusion_tree_budget(MIX, GRID, num_paths=3000, rng=5)
    gen = np.random.default_rng(6)
    m = 20_000
    x = np.zeros((m, 2))
    m0 = MIX.denoise(np.zeros(m), x)
    lr = np.zeros(m)
    for k in range(GRID.num_steps):
        h = GRID.steps[k]
        f = MIX.denoise(np.full(m, GRID.times[k]), x)
        dx = h * m0 + math.sqrt(h) * gen.standard_normal(x.shape)
        lr += ((f - m0) * dx).sum(1) - 0.5 * h * ((f * f).sum(1) - (m0 * m0).sum(1))
        x = x + dx
    acc = np.minimum(1.0, np.exp(lr))
    tv_nu, se_nu = 1.0 - acc.mean(), acc.std(ddof=1) / math.sqrt(m)
    gap = abs(res.tv[0] - tv_nu)
    assert gap < 4.0 * math.hypot(res.tv_se[0], se_nu), (res.tv[0], tv_nu, res.tv_se[0], se_nu)
    # Pinsker holds node by node (up to the estimate's error)
    assert (res.tv <= res.pinsker + 4.0 * res.tv_se + 1e-12).all()
    lo, hi = res.sum_tv_interval
    assert lo <= res.sum_tv <= hi and res.level_tv.sum() == pytest.approx(res.sum_tv)


def test_rounds_follow_the_budget() -> None:
    """Finer grids: the sum of TV and the measured rounds grow together."""
    tvs, rounds = [], []
    for n_steps in (8, 32):
        grid = LocalizationGrid.geometric(20.0, n_steps, first=0.05)
        tvs.append(diffusion_tree_budget(MIX, grid, num_paths=100, rng=1).sum_tv)
        rounds.append(AutospeculativeDiffusionSampler(MIX, grid).sample(100, rng=2).rounds.mean())
    assert tvs[1] > tvs[0] and rounds[1] > rounds[0]


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="`num_paths`"):
        diffusion_tree_budget(MIX, GRID, num_paths=1)
    with pytest.raises(ParameterError, match="denoise"):
        diffusion_tree_budget(object(), GRID, num_paths=5)
