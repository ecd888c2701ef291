""":func:`check_gaussian_chain`: a diffusion sampler against the exact law of the Euler
chain for a Gaussian target (:func:`gaussian_chain_moments`)."""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Any

import numpy as np
from scipy import optimize, stats

from distributions.errors import ParameterError
from samplers.diffusion import LocalizationGrid
from verify.continuous.common import (
    MEMORY_ADVICE,
    _check_alpha,
    _check_gaussian,
    _family_notes,
    _holm,
    _status,
    _tie_notes,
    check_continuous_size,
)
from verify.continuous.results import (
    GaussianChainResult,
)
from verify.continuous.sharded import draw_real_sharded
from verify.execution import check_executor, ship_sampler
from verify.planning import MAX_SAMPLES
from verify.sampling import SamplerLike, SeedLike, check_memory, int_seed


def gaussian_chain_moments(
    mean: Any, cov: Any, grid: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact law of the Euler localization chain for ``Y ~ N(mean, cov)``.

    The drift ``f(t, x) = (S^{-1} + t I)^{-1} (S^{-1} m + x)`` is affine, so every
    ``x_k`` is Gaussian. In the eigenbasis of ``S`` the coordinates are
    independent scalar recursions
    ``mu' = (1 + h a_k) mu + h b_k``, ``v' = (1 + h a_k)^2 v + h`` with
    ``a_k = lam / (1 + t_k lam)``, ``b_k = m_rot / (1 + t_k lam)``.

    Parameters
    ----------
    mean : array_like, shape (dim,)
    cov : array_like, shape (dim, dim), symmetric positive definite
    grid : LocalizationGrid or array_like of times

    Returns
    -------
    end_mean, end_cov, out_mean, out_cov : ndarrays
        Mean and covariance of ``x_N`` and of the output ``f(T, x_N)``; moments that
        overflow float64 (an enormous ``T``) are a :class:`ParameterError`.
    """
    g = grid if isinstance(grid, LocalizationGrid) else LocalizationGrid(grid)
    m, _, lam, u = _check_gaussian(mean, cov)
    mrot = u.T @ m
    mu = np.zeros_like(m)
    v = np.zeros_like(m)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(g.num_steps):
            t, h = g.times[k], g.steps[k]
            a = lam / (1.0 + t * lam)
            b = mrot / (1.0 + t * lam)
            mu = (1.0 + h * a) * mu + h * b
            v = (1.0 + h * a) ** 2 * v + h
        a_t = lam / (1.0 + g.T * lam)
        b_t = mrot / (1.0 + g.T * lam)
        end_mean, end_cov = u @ mu, (u * v) @ u.T
        out_mean, out_cov = u @ (a_t * mu + b_t), (u * (a_t**2 * v)) @ u.T
    if not all(np.isfinite(z).all() for z in (end_mean, end_cov, out_mean, out_cov)):
        raise ParameterError(
            f"`grid` must keep the exact chain moments finite in float64; got end time "
            f"T = {g.T!r} with {g.num_steps} steps, whose moments overflow.")
    return end_mean, 0.5 * (end_cov + end_cov.T), out_mean, 0.5 * (out_cov + out_cov.T)


def _gauss_tests(z: np.ndarray, mean: np.ndarray, cov: np.ndarray, label: str
                 ) -> tuple[list[str], list[float], list[float]]:
    n, d = z.shape
    chol = np.linalg.cholesky(cov)
    w = np.linalg.solve(chol, (z - mean).T).T
    names, st, pv = [], [], []
    t_mean = float(n * (w.mean(axis=0) ** 2).sum())
    names.append(f"{label}: Mahalanobis mean (chi2_{d})")
    st.append(t_mean)
    pv.append(float(stats.chi2.sf(t_mean, d)))
    r2 = (w * w).sum(axis=1)
    r = stats.kstest(r2, stats.chi2(d).cdf)
    names.append(f"{label}: KS of squared Mahalanobis radius vs chi2_{d}")
    st.append(float(r.statistic))
    pv.append(float(r.pvalue))
    for j in range(d):
        r = stats.kstest(w[:, j], stats.norm.cdf)
        names.append(f"{label}: whitened KS coordinate {j}")
        st.append(float(r.statistic))
        pv.append(float(r.pvalue))
    return names, st, pv


def check_gaussian_chain(
    sampler: SamplerLike,
    mean: Any,
    cov: Any,
    grid: Any,
    *,
    num_samples: int,
    alpha: float = 0.01,
    rng: SeedLike = None,
    beta: float = 0.1,
    executor: Executor | None = None,
    max_samples: int | None = MAX_SAMPLES,
) -> GaussianChainResult:
    """Test a diffusion sampler against the exact Euler-chain law for ``N(mean, cov)``.

    The output samples (and ``aux["path_end"]`` when the sampler returns a
    :class:`~samplers.base.SampleResult`) are whitened with the exact covariance and
    tested with the Mahalanobis mean test (``n |w_bar|^2 ~ chi2_d``), a KS test of
    ``|w|^2`` against ``chi2_d`` and per-coordinate KS tests against ``N(0, 1)``;
    Holm across the family.

    Parameters
    ----------
    executor : concurrent.futures.Executor, optional
        Where the samples are drawn, in shards of
        :data:`verify.continuous.sharded.REAL_SHARD` (:mod:`verify.execution`);
        ``None``: in process. The result is the same for every executor and number
        of workers. The shards return the raw samples: the KS tests are functions
        of every sample, not of sums.
    max_samples : int >= 10 or None, default :data:`verify.planning.MAX_SAMPLES`
        Cap on ``num_samples``, checked before any work, as is the memory cap
        :data:`verify.sampling.MAX_SAMPLE_ENTRIES` on ``2 num_samples x dim``
        (outputs and path ends).
    """
    num = check_continuous_size(num_samples, max_samples, "check_gaussian_chain")
    alpha = _check_alpha(alpha)
    beta = _check_alpha(beta, "beta")
    end_mean, end_cov, out_mean, out_cov = gaussian_chain_moments(mean, cov, grid)
    check_memory(2 * num, out_mean.shape[0], "check_gaussian_chain (outputs and path ends)",
                 width="dim", advice=MEMORY_ADVICE)
    executor = check_executor(executor)
    shipped = ship_sampler(sampler, executor)
    gen = np.random.default_rng(rng)
    x, aux = draw_real_sharded(shipped, num, gen, "sampler", executor=executor,
                               aux=("path_end",))
    d = out_mean.shape[0]
    if x.shape[1] != d:
        raise ParameterError(f"the sampler must return dimension {d}; got {x.shape[1]}.")
    names, st, pv = _gauss_tests(x, out_mean, out_cov, "output f(T, x_N)")
    notes = _tie_notes("output", x)
    if "path_end" in aux:
        end = np.asarray(aux["path_end"], dtype=np.float64)
        n2, s2, p2 = _gauss_tests(end, end_mean, end_cov, "path end x_N")
        for name, s_, p_ in zip(n2, s2, p2, strict=True):
            twin = name.replace("path end x_N", "output f(T, x_N)")
            if "whitened" not in name and twin in names and math.isclose(
                    s_, st[names.index(twin)], rel_tol=1e-9, abs_tol=1e-12):
                # affine-invariant statistic of an output that is the affine image of
                # the path end: the same hypothesis twice, kept once
                notes.append(f"'{name}' dropped: it equals '{twin}' (the output is the "
                             "affine image f(T, x_N) of the path end)")
                continue
            names.append(name)
            st.append(s_)
            pv.append(p_)
    tests, fam_p, passed = _holm(names, st, pv, alpha)
    crit = stats.chi2.isf(alpha / len(tests), d)

    def power_gap(delta: float) -> float:
        return float(stats.ncx2.sf(crit, d, num * delta**2)) - (1.0 - beta)

    shift = float(optimize.brentq(power_gap, 1e-9, 100.0))
    notes = _family_notes(tests, fam_p, alpha) + notes
    return GaussianChainResult(
        method="gaussian-chain-holm", detectable_tv=shift, seed=int_seed(rng),
        effect="mean shift in Mahalanobis units, detected with probability 1 - beta",
        statistic=tests[0].statistic, pvalue=fam_p, passed=passed, alpha=alpha, beta=beta,
        num_samples=num, tests=tests, output_mean=out_mean, output_cov=out_cov,
        end_mean=end_mean, end_cov=end_cov, detectable_mahalanobis_shift=shift,
        status=_status(passed, False), pvalue_resolution=0.0, notes=tuple(notes),
    )
