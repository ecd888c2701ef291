"""Closed-form diffusion oracles (DESIGN 3.2): tower property, Tweedie, stability, errors."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Context, Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from distributions.diffusion import FiniteSet, GaussianMixture
from distributions.errors import ParameterError
from tests.helpers import assert_family

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


# --------------------------------------------------------------- extreme inputs (issue 18.18)
@contextmanager
def _strict() -> Iterator[None]:
    """No warning and no floating-point exception (underflow included) may escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: GaussianMixture([0.5, 0.5], [[-1e200], [1e200]], [1.0, 1.0]),
         r"`means` entries must be at most 1e\+50 in absolute value.*got np.float64\(-1e\+200\) "
         r"at \(0, 0\)"),
        (lambda: GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [1e308, 1.0]),
         r"`covs` eigenvalues must be in \[1e-50, 1e\+50\].*component 0 has 1e\+308"),
        (lambda: GaussianMixture([1.0], [[0.0]], [1e-308]), r"component 0 has 1e-308"),
        (lambda: FiniteSet([[-1e200], [1e200]]), r"`points` entries must be at most 1e\+50"),
        (lambda: FiniteSet([[-1.0], [1.0]]).denoise(1.0, np.array([[1e308]])),
         r"`x` entries must be at most 1e\+100 in absolute value.*got np.float64\(1e\+308\) "
         r"at row 0, coordinate 0"),
        (lambda: GaussianMixture([1.0], [[0.0]], [1.0]).denoise(1e300, np.array([[1.0]])),
         r"`t` must be 0 or in \[1e-50, 1e\+50\].*got np.float64\(1e\+300\) at index 0"),
        (lambda: FiniteSet([[-1.0], [1.0]]).log_density(1e-300, np.array([[1.0]])),
         r"`t` must be in \[1e-50, 1e\+50\].*got np.float64\(1e-300\)"),
        (lambda: GaussianMixture([1.0], [[0.0]], [1.0]).logpdf(np.array([[1e300]])),
         r"`y` entries must be at most 1e\+100"),
    ],
)
def test_out_of_domain_parameters_and_queries_are_refused(call: object, match: str) -> None:
    """Before: RuntimeWarning overflow and inf/NaN or silently wrong answers."""
    with _strict(), pytest.raises(ParameterError, match=match):
        call()  # type: ignore[operator]


_PARAM_LADDER = [0.0, 5e-324, 1e-300, 1e-50, 1e-8, 0.5, 1.0, 3.0, 1e3, 1e8, 1e20, 1e50]
_COV_LADDER = [1e-50, 1e-20, 1e-8, 0.01, 1.0, 7.0, 1e8, 1e20, 1e50]
_T_LADDER = [0.0, 1e-50, 1e-20, 1e-8, 0.3, 1.0, 50.0, 1e8, 1e20, 1e50]
_X_LADDER = [0.0, 5e-324, 1e-300, 1e-20, 0.7, 2.0, 1e6, 1e20, 1e50, 1e100]


def _signed(ladder: list[float]) -> st.SearchStrategy[float]:
    return st.tuples(st.sampled_from(ladder), st.sampled_from([1.0, -1.0])).map(
        lambda v: v[0] * v[1])


def _exact_finite_set_mean(points: np.ndarray, w: np.ndarray, t: float, x: float) -> float:
    """1-d posterior mean from exact decimal logits ``log w + x y - t y^2 / 2``
    (at ``t = 0``, ``x_0 = 0`` almost surely: the prior mean, whatever ``x``)."""
    if t == 0.0:
        x = 0.0
    with localcontext(Context(prec=2000, Emax=10**7, Emin=-(10**7))):
        short = Context(prec=60, Emax=10**7, Emin=-(10**7))
        logits = [(Decimal(float(wk)).ln(short) if wk > 0 else None) for wk in w]
        logits = [None if lg is None else lg + Decimal(x) * Decimal(float(y))
                  - Decimal(t) * Decimal(float(y)) ** 2 / 2
                  for lg, y in zip(logits, points, strict=True)]
        top = max(v for v in logits if v is not None)
        with localcontext(Context(prec=60, Emax=10**7, Emin=-(10**7))):
            e = [Decimal(0) if v is None or v - top < -(10**5) else (v - top).exp()
                 for v in logits]
            num = sum(ek * Decimal(float(y)) for ek, y in zip(e, points, strict=True))
            return float(num / sum(e))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_in_domain_extremes_are_finite_and_exact(data: st.DataObject) -> None:
    """Inside the stated domain every answer is finite, warning-free, in the hull of
    the support (finite sets) and equal to the exact decimal posterior mean up to
    the float64 resolution of the log responsibilities."""
    k = data.draw(st.integers(1, 3))
    dim = data.draw(st.integers(1, 2))
    pts = np.array(data.draw(st.lists(_signed(_PARAM_LADDER), min_size=k * dim,
                                      max_size=k * dim))).reshape(k, dim)
    raw = np.array(data.draw(st.lists(st.sampled_from([5e-324, 1e-300, 1e-8, 0.3, 1.0]),
                                      min_size=k, max_size=k)))
    w = raw / raw.sum()
    w[-1] = max(0.0, 1.0 - w[:-1].sum())
    covs = np.array(data.draw(st.lists(st.sampled_from(_COV_LADDER), min_size=k * dim,
                                       max_size=k * dim))).reshape(k, dim)
    t = np.array(data.draw(st.lists(st.sampled_from(_T_LADDER), min_size=3, max_size=3)))
    x = np.array(data.draw(st.lists(_signed(_X_LADDER), min_size=3 * dim,
                                    max_size=3 * dim))).reshape(3, dim)
    with _strict():
        fs = FiniteSet(pts, w)
        gm = GaussianMixture(w, pts, covs)
        f_fs, f_gm = fs.denoise(t, x), gm.denoise(t, x)
        pos = t > 0
        outs = [f_fs, f_gm, gm.logpdf(x), gm.grad_logpdf(x)]
        if pos.any():
            outs += [fs.score(t[pos], x[pos]), fs.log_density(t[pos], x[pos]),
                     gm.score(t[pos], x[pos]), gm.log_density(t[pos], x[pos])]
    for o in outs:
        assert np.isfinite(o).all(), (pts, w, covs, t, x, o)
    scale = np.abs(pts).max()
    slack = 8 * 2.0**-53 * scale
    assert (f_fs >= pts.min(axis=0) - slack).all() and (f_fs <= pts.max(axis=0) + slack).all()
    if dim == 1:
        for b in range(3):
            y = pts[:, 0]
            ref = _exact_finite_set_mean(y, fs.weights, float(t[b]), float(x[b, 0]))
            live = fs.weights > 0
            mag = float(np.max(np.abs(np.log(fs.weights[live])) + np.abs(x[b, 0] * y[live])
                               + t[b] * y[live] ** 2 / 2))
            tol = 16 * 2.0**-53 * (mag * k * scale + scale) + 1e-300
            assert abs(f_fs[b, 0] - ref) <= tol, (y, fs.weights, t[b], x[b], f_fs[b], ref, tol)
