"""Item 4: the closed-form oracles derived from their definition, Tweedie's identity,
and the lambdified formulas against denoise/score/log_density to 1e-12 relative."""

import numpy as np
import pytest

from distributions.diffusion import FiniteSet, GaussianMixture
from verify.errors import ParameterError
from verify.symbolic import oracle_certificate


class _WrongSign(FiniteSet):
    """A finite-set oracle whose posterior logits have the quadratic term's sign
    flipped (a wrong sign)."""

    def _logits(self, t, x):
        return self._logw[None, :] + x @ self.points.T + 0.5 * t[:, None] * self._sq[None, :]


POINTS, WEIGHTS = [[0.0, 1.0], [1.0, -1.0], [-0.5, 0.5]], [0.5, 0.25, 0.25]


def test_finite_set_is_proved_and_a_wrong_sign_is_caught():
    c = oracle_certificate(FiniteSet(POINTS, WEIGHTS), name="fs", num_points=10)
    assert c.outcome == "proved", c.detail
    bad = oracle_certificate(_WrongSign(POINTS, WEIGHTS), name="fs-bad", num_points=10)
    assert bad.outcome == "not proved" and "numeric cross-check failed" in bad.residual


@pytest.mark.slow
def test_gaussian_mixtures_1d_2d_are_proved_and_a_perturbed_denoiser_is_caught():
    gm1 = GaussianMixture([0.25, 0.75], [[-1.0], [2.0]], [0.5, 1.5])
    gm2 = GaussianMixture([0.5, 0.5], [[-1.0, 0.5], [1.0, -0.5]],
                          [[[1.0, 0.25], [0.25, 0.5]], [[0.5, 0.0], [0.0, 1.0]]])
    for gm in (gm1, gm2):
        c = oracle_certificate(gm, name="gm", num_points=10)
        assert c.outcome == "proved", c.detail

    class Perturbed(GaussianMixture):
        def denoise(self, t, x):
            return super().denoise(t, x) * (1 + 1e-10)

    bad = oracle_certificate(Perturbed([0.25, 0.75], [[-1.0], [2.0]], [0.5, 1.5]),
                             name="gm-bad", num_points=10)
    assert bad.outcome == "not proved" and "denoise 1.00e-10" in bad.detail


def test_bad_arguments():
    with pytest.raises(ParameterError, match="model"):
        oracle_certificate(np.zeros(3), name="x")
    with pytest.raises(ParameterError, match="dim"):
        oracle_certificate(FiniteSet([[0.0, 0.0, 1.0]]), name="x")
    with pytest.raises(ParameterError, match="num_points"):
        oracle_certificate(FiniteSet(POINTS), name="x", num_points=0)
