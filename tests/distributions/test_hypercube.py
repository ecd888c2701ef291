"""distributions.hypercube.HypercubeMixture: exact denoiser against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from distributions.diffusion import FiniteSet
from distributions.errors import ParameterError
from distributions.hypercube import HypercubeMixture


def _brute(w: np.ndarray, p: np.ndarray) -> FiniteSet:
    pts = np.array(list(itertools.product([-1.0, 1.0], repeat=p.shape[1])))
    mass = np.array([sum(w[c] * np.prod(np.where(y > 0, p[c], 1 - p[c]))
                         for c in range(w.size)) for y in pts])
    return FiniteSet(pts, mass / mass.sum())


def test_denoiser_matches_the_enumerated_finite_set() -> None:
    rng = np.random.default_rng(0)
    w = np.array([0.2, 0.5, 0.3])
    p = rng.uniform(0.05, 0.95, (3, 5))
    cube, brute = HypercubeMixture(w, p), _brute(w, p)
    x = rng.standard_normal((50, 5)) * 3.0
    t = np.concatenate([[0.0], rng.uniform(0.0, 8.0, 49)])
    np.testing.assert_allclose(cube.denoise(t, x), brute.denoise(t, x), atol=1e-13)
    np.testing.assert_allclose(cube.prior_mean, brute.prior_mean, atol=1e-14)


def test_sample_and_extremes() -> None:
    cube = HypercubeMixture([0.5, 0.5], [[0.9] * 3, [0.1] * 3])
    y = cube.sample(20_000, rng=1)
    assert set(np.unique(y)) == {-1.0, 1.0}
    assert np.abs(y.mean(axis=0) - cube.prior_mean).max() < 0.03
    big = cube.denoise(np.full(2, 1e50), np.array([[1e100, -1e100, 0.0], [1e3, 1e3, 1e3]]))
    assert np.isfinite(big).all() and np.abs(big).max() <= 1.0


@pytest.mark.parametrize(
    ("weights", "probs", "match"),
    [([1.0], [[0.0, 0.5]], r"`probs` entries must lie in \[1e-12, 1 - 1e-12\]"),
     ([1.0], [[0.5, np.nan]], r"`probs` entries must lie in"),
     ([0.5, 0.5], [[0.5, 0.5]], r"`probs` must have shape \(K, dim\) with K = 2"),
     ([0.5, 0.6], [[0.5], [0.5]], r"`weights`")],
)
def test_bad_parameters(weights, probs, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        HypercubeMixture(weights, probs)
