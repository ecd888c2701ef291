"""Item 5: the Euler chain's moments for a Gaussian target and its bias floor; a
moments function with a missing term fails the cross-check."""

import numpy as np

from samplers.catalogue import GAUSSIAN_COV
from samplers.diffusion import LocalizationGrid
from verify.continuous.gaussian_chain import gaussian_chain_moments
from verify.symbolic import bias_floor, chain_certificate


def test_moments_are_proved_and_cross_checked():
    c = chain_certificate()
    assert c.outcome == "proved", c.detail
    assert "c = -T*lam*(T*lam + 2)/2" in c.detail


def test_a_missing_term_fails_the_cross_check():
    def missing_noise(mean, cov, grid):
        # the noise term h of the covariance recursion left out
        g = LocalizationGrid(grid) if not isinstance(grid, LocalizationGrid) else grid
        e_m, e_c, o_m, o_c = gaussian_chain_moments(mean, cov, g)
        return e_m, e_c - g.steps[-1] * np.eye(len(mean)), o_m, o_c

    c = chain_certificate(missing_noise)
    assert c.outcome == "not proved" and "numeric cross-check failed" in c.residual


def test_bias_floor_is_first_order_in_h():
    b32 = bias_floor(GAUSSIAN_COV, LocalizationGrid.uniform(10.0, 32))
    b64 = bias_floor(GAUSSIAN_COV, LocalizationGrid.uniform(10.0, 64))
    assert (b32 < 0).all() and np.allclose(b32, 2 * b64)
