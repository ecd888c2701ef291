"""Adapters between VP / flow-matching networks and the localization oracle (issue 12 item 6).

The networks here are closed forms of a Gaussian mixture computed independently of
``GaussianMixture.denoise``: for ``x = alpha Y + sigma eps``,
``x | k ~ N(alpha m_k, alpha^2 S_k + sigma^2 I)`` and
``E[Y | x, k] = m_k + alpha S_k C_k^{-1} (x - alpha m_k)`` (full covariances, linear
solves, no eigen-decomposition), evaluated in the dtype of the network's input.
"""

from __future__ import annotations

import numpy as np
import pytest

from distributions.adapters import (
    FlowMatchingOracle,
    VPNetworkOracle,
    flow_time,
    flow_velocity,
    vp_prediction,
    vp_time,
)
from distributions.diffusion import GaussianMixture
from distributions.errors import OracleError, ParameterError
from samplers.diffusion import (
    AutospeculativeDiffusionSampler,
    EulerLocalizationSampler,
    LocalizationGrid,
    SpeculativeDiffusionSampler,
)
from verify import audit_oracle

W = np.array([0.3, 0.5, 0.2])
M = np.array([[-2.0, 0.0, 1.0], [2.0, 1.0, -0.5], [0.0, -1.5, 0.5]])
S = np.array([
    [[0.5, 0.1, 0.0], [0.1, 0.3, 0.05], [0.0, 0.05, 0.2]],
    np.diag([0.2, 0.4, 0.1]),
    [[1.0, -0.3, 0.2], [-0.3, 0.6, 0.0], [0.2, 0.0, 0.5]],
])
GM = GaussianMixture(W, M, S)
DIM = 3
#: float64 agreement: |f_adapter - f_gm| <= TOL64 (1 + |f_gm|).
TOL64 = 1e-10
#: float32 network: |f_adapter - f_gm| <= TOL32 (1 + |x_t| + |f_gm|) / sqrt(min(t, 1)),
#: 16 float32 ulps (the 1 / sqrt(t) factor is the epsilon-prediction amplification; the
#: measured maximum is about one ulp).
TOL32 = 16 * float(np.finfo(np.float32).eps)


def _posterior_mean(alpha: np.ndarray, sigma: np.ndarray, x: np.ndarray) -> np.ndarray:
    """E[Y | alpha Y + sigma eps = x] of the mixture, in x's dtype (batched solves)."""
    dt = x.dtype
    w, m, s = W.astype(dt), M.astype(dt), S.astype(dt)
    a, sg = alpha.astype(dt)[:, None, None, None], sigma.astype(dt)[:, None, None, None]
    c = a * a * s[None] + sg * sg * np.eye(DIM, dtype=dt)  # (B, K, d, d)
    r = x[:, None, :] - a[..., 0] * m[None]  # (B, K, d)
    sol = np.linalg.solve(c, r[..., None])[..., 0]
    _, logdet = np.linalg.slogdet(c)
    lg = np.log(w)[None] - 0.5 * np.einsum("bki,bki->bk", r, sol) - 0.5 * logdet
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    cond = m[None] + a[..., 0] * np.einsum("kij,bkj->bki", s, sol)
    return np.einsum("bk,bki->bi", p / p.sum(axis=1, keepdims=True), cond).astype(dt)


def vp_net(prediction: str, abar_of=lambda tm: tm):
    """A closed-form VP network of the mixture; ``abar_of`` maps its time to abar."""

    def net(x_s: np.ndarray, time: np.ndarray) -> np.ndarray:
        dt = x_s.dtype
        a = np.asarray(abar_of(time), dtype=dt)
        sa, sn = np.sqrt(a)[:, None], np.sqrt(1 - a)[:, None]
        y = _posterior_mean(np.sqrt(a), np.sqrt(1 - a), x_s)
        eps = (x_s - sa * y) / sn
        return {"x0": y, "epsilon": eps, "v": sa * eps - sn * y}[prediction]

    return net


def flow_net(x_tau: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """A closed-form velocity network ``E[Y - eps | tau Y + (1 - tau) eps = x_tau]``."""
    tau = tau.astype(x_tau.dtype)
    y = _posterior_mean(tau, 1 - tau, x_tau)
    return (y - x_tau) / (1 - tau)[:, None]


def _inputs(seed: int, batch: int = 40):
    gen = np.random.default_rng(seed)
    t = np.exp(gen.uniform(np.log(1e-4), np.log(1e4), batch))
    y = GM.sample(batch, rng=gen)
    x = t[:, None] * y + np.sqrt(t)[:, None] * gen.standard_normal((batch, DIM))
    return t, x


def _assert_close(got, want, tol, t):
    err = np.abs(got - want).max(axis=1) / (1 + np.abs(want).max(axis=1))
    b = int(np.argmax(err))
    assert err[b] <= tol, f"max relative error {err[b]:.3g} > {tol:g} at t={t[b]:.4g}"


def test_time_maps_match_localization():
    a = np.array([0.0, 0.1, 0.5, 0.99])
    np.testing.assert_allclose(vp_time(a), a / (1 - a))
    s = np.array([0.0, 0.2, 0.5, 0.9])
    np.testing.assert_allclose(flow_time(s), (s / (1 - s)) ** 2)
    # the localization state has the law of t Y + sqrt(t) eps: its mean/covariance scale
    t = vp_time(a[1:])
    np.testing.assert_allclose(np.sqrt(a[1:]) / (1 - a[1:]) * np.sqrt(a[1:]), t)  # signal
    np.testing.assert_allclose((np.sqrt(a[1:]) / (1 - a[1:])) ** 2 * (1 - a[1:]), t)  # noise
    with pytest.raises(ParameterError, match="alpha_bar"):
        vp_time([0.5, 1.0])
    with pytest.raises(ParameterError, match="tau"):
        flow_time([-0.1])


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_vp_network_equals_gaussian_mixture_float64(prediction):
    oracle = VPNetworkOracle(vp_net(prediction), DIM, prediction=prediction,
                             prior_mean=GM.prior_mean)
    t, x = _inputs(1)
    t[:2] = 0.0
    _assert_close(oracle.denoise(t, x), GM.denoise(t, x), TOL64, t)


def test_vp_network_continuous_cosine_schedule():
    def abar_of(s):  # cosine schedule without offset, s in [0, 1)
        return np.cos(0.5 * np.pi * s) ** 2

    def time_of(a):
        return np.arccos(np.sqrt(a)) / (0.5 * np.pi)

    oracle = VPNetworkOracle(vp_net("v", abar_of), DIM, prediction="v",
                             time_of_alpha_bar=time_of, prior_mean=GM.prior_mean)
    t, x = _inputs(2)
    _assert_close(oracle.denoise(t, x), GM.denoise(t, x), 1e-9, t)


def test_vp_network_discrete_alphas_cumprod():
    abar = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))  # DDPM linear schedule

    def abar_of(step):
        return np.interp(step, np.arange(abar.size), abar)

    oracle = VPNetworkOracle(vp_net("epsilon", abar_of), DIM, alphas_cumprod=abar,
                             prior_mean=GM.prior_mean)
    gen = np.random.default_rng(3)
    steps = np.array([0, 1, 10, 100, 500, 900, 999])
    t = vp_time(abar[steps])
    x = t[:, None] * GM.sample(steps.size, rng=gen) + np.sqrt(t)[:, None] * gen.standard_normal(
        (steps.size, DIM))
    _assert_close(oracle.denoise(t, x), GM.denoise(t, x), TOL64, t)
    lo, hi = vp_time(abar[-1]), vp_time(abar[0])
    with pytest.raises(ParameterError, match=r"`t` must be 0 or within the schedule's SNR"):
        oracle.denoise([lo / 2], np.zeros((1, DIM)))
    with pytest.raises(ParameterError, match="SNR range"):
        oracle.denoise([hi * 2], np.zeros((1, DIM)))


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_vp_network_float32(prediction):
    oracle = VPNetworkOracle(vp_net(prediction), DIM, prediction=prediction,
                             prior_mean=GM.prior_mean, dtype=np.float32)
    t, x = _inputs(4)
    got = oracle.denoise(t.astype(np.float32), x.astype(np.float32))
    t32, x32 = t.astype(np.float32).astype(np.float64), x.astype(np.float32).astype(np.float64)
    want = GM.denoise(t32, x32)
    scale = (1 + np.abs(x32).max(axis=1) + np.abs(want).max(axis=1)) / np.sqrt(np.minimum(t32, 1))
    err = np.abs(got - want).max(axis=1) / scale
    assert got.dtype == np.float64
    assert err.max() <= TOL32, f"float32 error {err.max():.3g} > {TOL32:g} ({prediction})"


def test_flow_network_equals_gaussian_mixture():
    oracle = FlowMatchingOracle(flow_net, DIM)
    t, x = _inputs(5)
    t[:2] = 0.0  # the prior mean from the network itself
    _assert_close(oracle.denoise(t, x), GM.denoise(t, x), TOL64, t)
    big = np.array([1e12, 1e15])  # float64 network: tau within 1e-6 of 1, still exact
    xb = big[:, None] * GM.means[:2] + np.sqrt(big)[:, None]
    _assert_close(oracle.denoise(big, xb), GM.denoise(big, xb), TOL64, big)
    o32 = FlowMatchingOracle(flow_net, DIM, dtype=np.float32)
    t32 = t.astype(np.float32).astype(np.float64)
    x32 = x.astype(np.float32).astype(np.float64)
    want = GM.denoise(t32, x32)
    scale = (1 + np.abs(x32).max(axis=1) + np.abs(want).max(axis=1)) / np.sqrt(
        np.minimum(np.maximum(t32, 1e-300), 1))
    err = np.abs(o32.denoise(t32, x32) - want).max(axis=1) / scale
    assert err.max() <= TOL32, f"float32 flow error {err.max():.3g} > {TOL32:g}"


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_back_to_vp_predictions(prediction):
    gen = np.random.default_rng(6)
    a = np.concatenate([[0.0], gen.uniform(1e-4, 1 - 1e-4, 29)])
    x_s = gen.standard_normal((30, DIM))
    got = vp_prediction(GM, x_s, a, prediction=prediction)
    want = vp_net(prediction)(x_s, a)
    _assert_close(got, want, TOL64, a)
    # and round trip: the oracle of the oracle's network is the oracle
    net = lambda xs, ab: vp_prediction(GM, xs, ab, prediction=prediction)  # noqa: E731
    t, x = _inputs(7)
    _assert_close(VPNetworkOracle(net, DIM, prediction=prediction).denoise(t, x),
                  GM.denoise(t, x), TOL64, t)


def test_back_to_flow_velocity():
    gen = np.random.default_rng(8)
    tau = np.concatenate([[0.0], gen.uniform(0.0, 0.999, 29)])
    x = gen.standard_normal((30, DIM))
    _assert_close(flow_velocity(GM, x, tau), flow_net(x, tau), TOL64, tau)
    t, xt = _inputs(9)
    back = FlowMatchingOracle(lambda xx, ss: flow_velocity(GM, xx, ss), DIM)
    _assert_close(back.denoise(t, xt), GM.denoise(t, xt), TOL64, t)


def _wrapped():
    return VPNetworkOracle(vp_net("epsilon"), DIM, prior_mean=GM.prior_mean)


@pytest.mark.parametrize("kind", ["vp-epsilon", "flow"])
def test_samplers_run_unchanged_on_wrapped_network(kind):
    """Same seed, same draws: the wrapped network's chains equal the mixture's to 1e-8
    (the oracles agree to ~1e-15), with the same rounds and queries."""
    wrapped = _wrapped() if kind == "vp-epsilon" else FlowMatchingOracle(flow_net, DIM)
    grid = LocalizationGrid.geometric(20.0, 8, first=0.05)
    for make in (lambda o: EulerLocalizationSampler(o, grid),
                 lambda o: AutospeculativeDiffusionSampler(o, grid),
                 lambda o: SpeculativeDiffusionSampler(o, grid, window=4)):
        ref = make(GM).sample(20, rng=np.random.default_rng(10))
        got = make(wrapped).sample(20, rng=np.random.default_rng(10))
        name = type(make(GM)).__name__
        np.testing.assert_allclose(got.samples, ref.samples, rtol=0, atol=1e-8, err_msg=name)
        np.testing.assert_array_equal(got.rounds, ref.rounds, err_msg=name)
        np.testing.assert_array_equal(got.queries, ref.queries, err_msg=name)


@pytest.mark.slow
def test_audit_passes_on_wrapped_network_and_fails_on_wrong_prediction():
    ok = audit_oracle(_wrapped(), reference=GM, num_contexts=12, rng=11)
    assert ok.passed, str(ok)
    wrong = VPNetworkOracle(vp_net("v"), DIM, prediction="epsilon", prior_mean=GM.prior_mean)
    bad = audit_oracle(wrong, reference=GM, num_contexts=12, rng=11, run_samplers=False)
    assert not bad.passed


def test_bad_input_raises_before_work():
    calls = []

    def net(x, tm):
        calls.append(1)
        return x

    with pytest.raises(ParameterError, match="`prediction` must be"):
        VPNetworkOracle(net, DIM, prediction="score")
    with pytest.raises(ParameterError, match="strictly decreasing"):
        VPNetworkOracle(net, DIM, alphas_cumprod=[0.5, 0.9])
    with pytest.raises(ParameterError, match="exclusive"):
        VPNetworkOracle(net, DIM, alphas_cumprod=[0.9, 0.5], time_of_alpha_bar=np.sqrt)
    with pytest.raises(ParameterError, match="prior_mean"):
        VPNetworkOracle(net, DIM).denoise([0.0, 1.0], np.zeros((2, DIM)))
    with pytest.raises(ParameterError, match="`t` must be finite"):
        FlowMatchingOracle(net, DIM).denoise([-1.0], np.zeros((1, DIM)))
    with pytest.raises(ParameterError, match="alpha_bar"):
        vp_prediction(GM, np.zeros((1, DIM)), 1.0)
    with pytest.raises(ParameterError, match="dtype"):
        FlowMatchingOracle(net, DIM, dtype=np.int32)
    with pytest.raises(ParameterError, match="`alpha_bar` stays below 1 in float32"):
        VPNetworkOracle(net, DIM, dtype=np.float32, prior_mean=GM.prior_mean).denoise(
            [1.0, 1e9], np.zeros((2, DIM)))
    with pytest.raises(ParameterError, match="`tau` stays below 1 in float64"):
        FlowMatchingOracle(net, DIM).denoise([1e40], np.zeros((1, DIM)))
    with pytest.raises(ParameterError, match=r"`tau` must be in \[0, 1\); got 1.5 at index 1"):
        flow_velocity(GM, np.zeros((2, DIM)), [0.5, 1.5])
    assert not calls
    with pytest.raises(OracleError, match="must return shape"):
        VPNetworkOracle(lambda x, tm: x[:, :1], DIM).denoise([1.0], np.zeros((1, DIM)))
