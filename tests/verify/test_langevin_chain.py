"""verify.continuous.langevin_chain: exact ULA moments and the closed-form check."""

from __future__ import annotations

import warnings

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


def _never_called(num: int, rng: np.random.Generator) -> np.ndarray:
    raise AssertionError("the sampler was called before the arguments were checked")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"x0": [1.0, 2.0, 3.0]},
     r"`x0` must be a finite array of shape \(2,\); got \[1.0, 2.0, 3.0\]"),
    ({"x0": [float("nan"), 0.0]}, r"`x0` must be a finite array of shape \(2,\); got \[nan, 0.0\]"),
    ({"x0": "ab"}, r"`x0` must be"),
    ({"step_size": float("inf")}, r"`step_size` must be a finite number > 0; got inf"),
    ({"step_size": 1e300}, r"`step_size` must keep the exact ULA moments finite in float64; "
     r"got 1e\+300, whose moments overflow at step 2 of 3 \(the chain is unstable for "
     r"step_size > 2 lambda_min\(cov\) = 2\)"),
    ({"max_samples": 50}, r"`num_samples` must be <= max_samples = 50"),
])
def test_bad_input_is_refused_before_any_draw(kwargs: dict, match: str) -> None:
    """Review rev9 item 1: wrong-shape or non-finite ``x0`` and an overflowing
    ``step_size`` are ParameterErrors raised before the sampler is called (they were
    an untyped reshape ValueError, a silent run, and overflow warnings with a fail)."""
    args = {"step_size": 0.1, "num_steps": 3, "num_samples": 100, "rng": 0} | kwargs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParameterError, match=match):
            check_gaussian_ula(_never_called, np.zeros(2), np.eye(2), **args)


def test_unstable_but_finite_step_is_still_exact() -> None:
    """Beyond 2 lambda_min(cov) the chain diverges, but while float64 holds its moments
    they are exact: gamma = 3, cov = 1 gives A = -2, C_k = 6 (4^k - 1) / 3."""
    means, covs = ula_gaussian_moments([0.0], [[1.0]], step_size=3.0, num_steps=5, x0=[1.0])
    k = np.arange(6)
    np.testing.assert_allclose(means[:, 0], (-2.0) ** k)
    np.testing.assert_allclose(covs[:, 0, 0], 6.0 * (4.0**k - 1.0) / 3.0)
