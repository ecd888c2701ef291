""":func:`check_gaussian_ula`: a Langevin sampler against the exact law of the
unadjusted Langevin chain for a Gaussian target (:func:`ula_gaussian_moments`)."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

import numpy as np
from scipy import optimize, stats

from distributions.errors import ParameterError
from distributions.validation import check_finite_vector, check_float, check_int
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
from verify.continuous.gaussian_chain import _gauss_tests
from verify.continuous.results import GaussianChainResult
from verify.continuous.sharded import draw_real_sharded
from verify.execution import check_executor, ship_sampler
from verify.planning import MAX_SAMPLES
from verify.sampling import SamplerLike, SeedLike, check_memory, int_seed

__all__ = ["ula_gaussian_moments", "check_gaussian_ula"]


def ula_gaussian_moments(
    mean: Any, cov: Any, *, step_size: float, num_steps: int, x0: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and covariance of every step of ULA for ``pi = N(mean, cov)``.

    With ``P = cov^{-1}`` the chain ``x' = x + gamma P (mean - x) + sqrt(2 gamma) xi``
    is linear-Gaussian: ``mu' = A mu + gamma P mean``, ``C' = A C A^T + 2 gamma I``,
    ``A = I - gamma P``, from ``mu_0 = x0``, ``C_0 = 0``.

    The recursion is exact for every ``step_size > 0``; beyond
    ``2 lambda_min(cov)`` the chain is unstable (``|1 - step_size / lambda| > 1`` for an
    eigenvalue ``lambda`` of ``cov``) and its moments grow geometrically. Moments that
    overflow float64 are refused (:class:`ParameterError` naming ``step_size``, the
    step and that bound) before any sample is drawn.

    Returns
    -------
    means : ndarray, shape (num_steps + 1, dim)
    covs : ndarray, shape (num_steps + 1, dim, dim)
    """
    m, sym, lam, _ = _check_gaussian(mean, cov)
    gamma = check_float("step_size", step_size, low=0.0, low_open=True)
    n = check_int("num_steps", num_steps, low=0)
    d = m.shape[0]
    mu = np.zeros(d) if x0 is None else check_finite_vector("x0", x0, d)
    prec = np.linalg.inv(sym)
    a = np.eye(d) - gamma * prec
    b = gamma * prec @ m
    means = np.zeros((n + 1, d))
    covs = np.zeros((n + 1, d, d))
    means[0] = mu
    c = np.zeros((d, d))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n):
            mu = a @ mu + b
            c = a @ c @ a.T + 2.0 * gamma * np.eye(d)
            if not (np.isfinite(mu).all() and np.isfinite(c).all()):
                raise ParameterError(
                    f"`step_size` must keep the exact ULA moments finite in float64; got "
                    f"{gamma!r}, whose moments overflow at step {k + 1} of {n} (the chain is "
                    f"unstable for step_size > 2 lambda_min(cov) = {2.0 * float(lam[0]):.6g})."
                )
            means[k + 1] = mu
            covs[k + 1] = 0.5 * (c + c.T)
    return means, covs


def check_gaussian_ula(
    sampler: SamplerLike,
    mean: Any,
    cov: Any,
    *,
    step_size: float,
    num_steps: int,
    x0: Any = None,
    num_samples: int,
    alpha: float = 0.01,
    rng: SeedLike = None,
    beta: float = 0.1,
    executor: Executor | None = None,
    max_samples: int | None = MAX_SAMPLES,
) -> GaussianChainResult:
    """Test a Langevin sampler's ``x_N`` against the exact ULA law for ``N(mean, cov)``.

    The samples are whitened with the exact covariance of step ``num_steps`` and
    tested with the Mahalanobis mean test (``n |w_bar|^2 ~ chi2_d``), a KS test of
    ``|w|^2`` against ``chi2_d`` and per-coordinate KS tests against ``N(0, 1)``;
    Holm across the family. ``output_*`` and ``end_*`` of the result both hold the
    law of ``x_N``.

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
        :data:`verify.sampling.MAX_SAMPLE_ENTRIES` on ``num_samples x dim``.
    """
    num = check_continuous_size(num_samples, max_samples, "check_gaussian_ula")
    alpha = _check_alpha(alpha)
    beta = _check_alpha(beta, "beta")
    num_steps = check_int("num_steps", num_steps, low=1)
    means, covs = ula_gaussian_moments(mean, cov, step_size=step_size, num_steps=num_steps,
                                       x0=x0)
    end_mean, end_cov = means[-1], covs[-1]
    d = end_mean.shape[0]
    check_memory(num, d, "check_gaussian_ula", width="dim", advice=MEMORY_ADVICE)
    executor = check_executor(executor)
    x, _ = draw_real_sharded(ship_sampler(sampler, executor), num, np.random.default_rng(rng),
                             "sampler", executor=executor)
    if x.shape[1] != d:
        raise ParameterError(f"the sampler must return dimension {d}; got {x.shape[1]}.")
    names, st, pv = _gauss_tests(x, end_mean, end_cov, f"ULA step {num_steps}")
    tests, fam_p, passed = _holm(names, st, pv, alpha)
    crit = stats.chi2.isf(alpha / len(tests), d)

    def power_gap(delta: float) -> float:
        return float(stats.ncx2.sf(crit, d, num * delta**2)) - (1.0 - beta)

    shift = float(optimize.brentq(power_gap, 1e-9, 100.0))
    notes = _family_notes(tests, fam_p, alpha) + _tie_notes("sampler", x)
    return GaussianChainResult(
        method="gaussian-ula-holm", detectable_tv=shift, seed=int_seed(rng),
        effect="mean shift in Mahalanobis units, detected with probability 1 - beta",
        statistic=tests[0].statistic, pvalue=fam_p, passed=passed, alpha=alpha, beta=beta,
        num_samples=num, tests=tests, output_mean=end_mean, output_cov=end_cov,
        end_mean=end_mean, end_cov=end_cov, detectable_mahalanobis_shift=shift,
        status=_status(passed, False), pvalue_resolution=0.0, notes=tuple(notes),
    )
