"""verify.continuous.langevin_chain: exact ULA moments and the closed-form check."""

from __future__ import annotations

import numpy as np
import pytest

from distributions.errors import ParameterError
from verify.continuous import check_gaussian_ula, ula_gaussian_moments


def test_moments_scalar_closed_form() -> None:
    # 1-d, precision p: mu_k = m + (1 - g p)^k (x0 - m), v_k = 2g (1 - a^(2k)) / (1 - a^2)
    g, p, m, x0, n = 0.1, 2.0, 0.7, -1.0, 30
    means, covs = ula_gaussian_moments([m], [[1.0 / p]], step_size=g, num_steps=n, x0=[x0])
    a = 1.0 - g * p
    k = np.arange(n + 1)
    np.testing.assert_allclose(means[:, 0], m + a**k * (x0 - m), rtol=1e-12)
    np.testing.assert_allclose(covs[:, 0, 0], 2 * g * (1 - a ** (2 * k)) / (1 - a**2),
                               rtol=1e-12, atol=1e-15)


def test_moments_match_simulation_in_2d() -> None:
    rng = np.random.default_rng(11)
    mean, cov = np.array([1.0, -0.5]), np.array([[0.5, 0.2], [0.2, 0.3]])
    g, n = 0.05, 12
    prec = np.linalg.inv(cov)
    x = np.zeros((200_000, 2))
    for _ in range(n):
        x = x + g * (mean - x) @ prec + np.sqrt(2 * g) * rng.standard_normal(x.shape)
    means, covs = ula_gaussian_moments(mean, cov, step_size=g, num_steps=n)
    np.testing.assert_allclose(x.mean(0), means[-1], atol=0.005)
    np.testing.assert_allclose(np.cov(x.T), covs[-1], atol=0.005)


def test_check_both_sides() -> None:
    mean, cov = np.array([0.0, 1.0]), np.diag([0.4, 0.2])
    g, n = 0.05, 6
    means, covs = ula_gaussian_moments(mean, cov, step_size=g, num_steps=n)
    chol = np.linalg.cholesky(covs[-1])

    def exact(num, rng):
        return means[-1] + np.random.default_rng(rng).standard_normal((num, 2)) @ chol.T

    def shifted(num, rng):
        return exact(num, rng) + 0.1 * np.sqrt(covs[-1][0, 0]) * np.array([1.0, 0.0])

    ok = check_gaussian_ula(exact, mean, cov, step_size=g, num_steps=n, num_samples=3000,
                            alpha=0.01, rng=1)
    assert ok.passed, ok.pvalue
    bad = check_gaussian_ula(shifted, mean, cov, step_size=g, num_steps=n, num_samples=3000,
                             alpha=0.01, rng=1)
    assert not bad.passed and bad.detectable_mahalanobis_shift < 0.1, bad.pvalue


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="`step_size`"):
        ula_gaussian_moments([0.0], [[1.0]], step_size=-1.0, num_steps=3)
    with pytest.raises(ParameterError, match="positive definite"):
        ula_gaussian_moments([0.0], [[-1.0]], step_size=0.1, num_steps=3)
