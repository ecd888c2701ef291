"""Closed-form diffusion oracles (DESIGN 3.2): tower property, Tweedie, stability, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distributions.diffusion import FiniteSet, GaussianMixture
from distributions.errors import ParameterError
from tests._stats import assert_family

ALPHA = 0.01


def _targets() -> dict[str, object]:
    full = np.array([[[0.5, 0.2], [0.2, 0.3]], [[0.2, -0.05], [-0.05, 0.4]]])
    return {
        "full": GaussianMixture([0.3, 0.7], [[-1.5, 0.5], [1.0, -0.5]], full),
        "diag": GaussianMixture([0.5, 0.25, 0.25], [[0, 0, 1], [2, 0, 0], [0, -2, 0]],
                                [[0.3, 0.1, 0.2], [0.1, 0.1, 0.1], [0.5, 0.2, 0.1]]),
        "iso": GaussianMixture([0.6, 0.4], [[-1.0], [2.0]], [0.2, 0.05]),
        "finite": FiniteSet([[0.0, 1.0], [1.0, -1.0], [-1.0, 0.5]], [0.2, 0.5, 0.3]),
    }


class _WrongTime:
    """Mutant oracle: the posterior mean at a slightly wrong time (1.2 t)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.dim = inner.dim

    def denoise(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self.inner.denoise(1.2 * np.asarray(t), x)

    def sample(self, num: int, *, rng: object) -> np.ndarray:
        return self.inner.sample(num, rng=rng)


def _tower_pvalues(oracle: object, seed: int, n: int, label: str) -> dict[str, float]:
    """E[(Y - f(t, x_t)) h(x_t)] = 0 for h in {1, x_j, sin(x_0), x_0^2}: z-tests."""
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for t in (0.3, 1.0, 5.0):
        y = oracle.sample(n, rng=rng)
        x = t * y + np.sqrt(t) * rng.standard_normal(y.shape)
        r = y - oracle.denoise(np.full(n, t), x)
        hs = {"1": np.ones(n), "x_last": x[:, -1], "sin x0": np.sin(x[:, 0]), "x0^2": x[:, 0] ** 2}
        for hn, h in hs.items():
            prod = r * h[:, None]
            z = np.sqrt(n) * prod.mean(axis=0) / prod.std(axis=0, ddof=1)
            for j, zj in enumerate(z):
                out[f"{label} t={t} h={hn} coord {j}"] = float(2 * stats.norm.sf(abs(zj)))
    return out


@pytest.mark.parametrize("name", ["full", "diag", "iso", "finite"])
def test_tower_property(name: str) -> None:
    seed, n = 101, 20_000
    pv = _tower_pvalues(_targets()[name], seed, n, name)
    assert_family(pv, alpha=ALPHA, seed=seed, sizes=f"n={n} per time")


def test_tower_property_catches_wrong_time() -> None:
    seed, n = 102, 20_000
    pv = _tower_pvalues(_WrongTime(_targets()["full"]), seed, n, "mutant")
    with pytest.raises(AssertionError, match="rejects"):
        assert_family(pv, alpha=ALPHA, seed=seed, sizes=f"n={n}")


@pytest.mark.parametrize("name", ["full", "diag", "iso", "finite"])
@pytest.mark.parametrize("t", [0.05, 1.0, 30.0])
def test_tweedie_matches_finite_differences(name: str, t: float) -> None:
    target = _targets()[name]
    rng = np.random.default_rng(7)
    d = target.dim
    x = t * target.sample(5, rng=rng) + np.sqrt(t) * rng.standard_normal((5, d))
    eps = 1e-5 * max(1.0, np.sqrt(t))
    fd = np.empty_like(x)
    for j in range(d):
        e = np.zeros(d)
        e[j] = eps
        fd[:, j] = (target.log_density(t, x + e) - target.log_density(t, x - e)) / (2 * eps)
    sc = target.score(t, x)
    np.testing.assert_allclose(sc, fd, rtol=1e-5, atol=1e-5 * (1 + np.abs(sc).max()))
    np.testing.assert_allclose(sc, target.denoise(t, x) - x / t, rtol=1e-12, atol=1e-12)


def test_log_density_matches_scipy_for_one_gaussian() -> None:
    m = np.array([0.5, -1.0])
    s = np.array([[0.4, 0.1], [0.1, 0.2]])
    g = GaussianMixture([1.0], [m], [s])
    x = np.random.default_rng(3).standard_normal((6, 2))
    for t in (0.1, 2.0):
        ref = stats.multivariate_normal(t * m, t * t * s + t * np.eye(2)).logpdf(x)
        np.testing.assert_allclose(g.log_density(t, x), ref, rtol=1e-12)
    np.testing.assert_allclose(g.logpdf(x), stats.multivariate_normal(m, s).logpdf(x), rtol=1e-12)
    # posterior mean of a single Gaussian: (S^-1 + t I)^-1 (S^-1 m + x)
    t = 0.7
    si = np.linalg.inv(s)
    ref = np.linalg.solve(si + t * np.eye(2), (si @ m)[:, None] + x.T).T
    np.testing.assert_allclose(g.denoise(t, x), ref, rtol=1e-12)


def test_grad_logpdf_matches_finite_differences() -> None:
    g = _targets()["full"]
    y = np.random.default_rng(4).standard_normal((5, 2))
    eps = 1e-6
    fd = np.stack([(g.logpdf(y + e) - g.logpdf(y - e)) / (2 * eps) for e in np.eye(2) * eps], 1)
    np.testing.assert_allclose(g.grad_logpdf(y), fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["full", "diag", "iso", "finite"])
def test_t_zero_gives_prior_mean_and_extremes_are_stable(name: str) -> None:
    target = _targets()[name]
    d = target.dim
    x = np.random.default_rng(5).standard_normal((3, d))
    np.testing.assert_allclose(target.denoise(0.0, x), np.tile(target.prior_mean, (3, 1)))
    big = np.array([[1e6] * d, [-1e6] * d, [1e6 if j % 2 else -1e6 for j in range(d)]])
    for t in (1e-12, 1.0, 1e6):
        f = target.denoise(t, big)
        assert np.isfinite(f).all(), (name, t, f)
        assert np.isfinite(target.log_density(t, big)).all()
        assert np.isfinite(target.score(t, big)).all()
    # at huge t the posterior concentrates on the point/component nearest x/t
    y0 = target.sample(1, rng=np.random.default_rng(6))
    f = target.denoise(1e6, 1e6 * y0)
    np.testing.assert_allclose(f, y0, atol=1e-4)


def test_finite_set_logpdf_and_sampling() -> None:
    fs = _targets()["finite"]
    np.testing.assert_allclose(fs.logpdf(fs.points), np.log(fs.weights))
    assert fs.logpdf(np.array([[0.3, 0.3]]))[0] == -np.inf
    ys = fs.sample(30_000, rng=np.random.default_rng(8))
    counts = np.array([(ys == p).all(axis=1).sum() for p in fs.points])
    res = stats.chisquare(counts, 30_000 * fs.weights)
    assert res.pvalue > ALPHA, f"finite-set sampling: p={res.pvalue:.3g}, seed=8"


def test_mixture_sample_moments() -> None:
    g = _targets()["full"]
    n = 40_000
    y = g.sample(n, rng=np.random.default_rng(9))
    comp_cov = g.covs + np.einsum("ki,kj->kij", g.means, g.means)
    cov = np.einsum("k,kij->ij", g.weights, comp_cov) - np.outer(g.prior_mean, g.prior_mean)
    w = np.linalg.solve(np.linalg.cholesky(cov), (y - g.prior_mean).T).T
    stat = n * (w.mean(axis=0) ** 2).sum()
    p = float(stats.chi2.sf(stat, 2))
    assert p > ALPHA, f"mixture sample mean: chi2={stat:.2f}, p={p:.3g}, n={n}, seed=9"


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.5, 0.5], [[0.0], [1.0]], [[[1.0]], [[-0.1]]]), "positive definite"),
        (([0.5, 0.5], [[0.0, 0], [1.0, 0]], [[[1.0, 2.0], [2.0, 1.0]]] * 2), "positive definite"),
        (([0.5, 0.5], [[0.0, 0], [1.0, 0]], [[[1.0, 0.5], [0.0, 1.0]]] * 2), "symmetric"),
        (([0.5, 0.6], [[0.0], [1.0]], [1.0, 1.0]), "sum to 1"),
        (([1.2, -0.2], [[0.0], [1.0]], [1.0, 1.0]), "non-negative"),
        (([0.5, 0.5], [[0.0], [1.0]], [1.0, 0.0]), "positive definite"),
        (([0.5, 0.5], [[0.0], [1.0], [2.0]], [1.0, 1.0]), "one row per weight"),
        (([0.5, 0.5], [[0.0], [1.0]], [[1.0, 1.0, 1.0]]), "must have shape"),
    ],
)
def test_mixture_bad_input(args: tuple, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        GaussianMixture(*args)


def test_bad_oracle_arguments() -> None:
    g = _targets()["full"]
    fs = _targets()["finite"]
    for target in (g, fs):
        with pytest.raises(ParameterError, match="NaN"):
            target.denoise(1.0, np.array([[np.nan, 0.0]]))
        with pytest.raises(ParameterError, match="shape"):
            target.denoise(1.0, np.zeros((2, 3)))
        with pytest.raises(ParameterError, match="`t`"):
            target.denoise(-1.0, np.zeros((1, 2)))
        with pytest.raises(ParameterError, match="`t`"):
            target.score(0.0, np.zeros((1, 2)))
        with pytest.raises(ParameterError, match="`t`"):
            target.log_density(np.array([1.0, 2.0]), np.zeros((3, 2)))
    with pytest.raises(ParameterError, match="sum to 1"):
        FiniteSet([[0.0], [1.0]], [0.3, 0.3])
    with pytest.raises(ParameterError, match="one entry per point"):
        FiniteSet([[0.0], [1.0]], [1.0])
