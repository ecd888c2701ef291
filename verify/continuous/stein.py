""":func:`check_stein_discrepancy`: kernel Stein discrepancy against a closed-form score
(wild bootstrap)."""

from __future__ import annotations

import math
import numbers
from concurrent.futures import Executor
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from distributions.errors import ParameterError
from distributions.validation import check_float, check_int
from verify.continuous.common import (
    MEMORY_ADVICE,
    _check_alpha,
    _status,
    _tie_notes,
    check_continuous_size,
    sample_array,
)
from verify.continuous.results import (
    SteinResult,
)
from verify.continuous.sharded import draw_real_sharded
from verify.execution import check_executor, ship_sampler
from verify.planning import MAX_SAMPLES
from verify.sampling import SamplerLike, SeedLike, check_memory, int_seed


def check_stein_discrepancy(
    sampler: SamplerLike | np.ndarray,
    target: Any,
    *,
    num_samples: int,
    alpha: float = 0.01,
    rng: SeedLike = None,
    num_bootstrap: int = 999,
    bandwidth: float | None = None,
    executor: Executor | None = None,
    max_samples: int | None = MAX_SAMPLES,
) -> SteinResult:
    """Kernel Stein discrepancy test of samples against ``target``'s closed-form score.

    Gaussian kernel ``k(x, y) = exp(-|x - y|^2 / (2 l^2))``; the Stein kernel is
    ``u = k [s_x.s_y + (s_x - s_y).(x - y) / l^2 + d / l^2 - |x - y|^2 / l^4]`` with
    ``s = target.grad_logpdf``. Statistic: the U-statistic ``KSD^2``; null: the wild
    (Rademacher) bootstrap ``w^T U w / (n (n - 1))``. The bandwidth defaults to the
    median pairwise distance of an independent sample of the target (so it does not
    depend on the data tested).

    Like every score-based test, it is nearly blind to wrong mixing weights of
    well-separated components (the score barely depends on them away from the
    valleys); use :func:`check_same_law` against an exact sampler for those.

    Parameters
    ----------
    sampler : sampler, callable ``(num, rng) -> array`` or array (num, dim) of samples
        An array is used as given (``num_samples`` and ``max_samples`` are then not
        read): it must be finite, of shape ``(n, dim)`` (or ``(n,)`` for ``dim = 1``)
        with ``n >= 10``.
    target : object with ``grad_logpdf(y)``, ``sample(num, *, rng)`` (needed only when
        ``bandwidth`` is None) and optionally ``dim`` (then the samples' dimension is
        checked against it before the score is evaluated). Both are checked before any
        sample is drawn.
    executor : concurrent.futures.Executor, optional
        Where the samples are drawn, in shards of
        :data:`verify.continuous.sharded.REAL_SHARD` (:mod:`verify.execution`);
        ``None``: in process (an array of samples is used as given). The result is
        the same for every executor and number of workers. The shards return the
        raw samples: the discrepancy is a double sum over every pair of them.
    max_samples : int >= 10 or None, default :data:`verify.planning.MAX_SAMPLES`
        Cap on ``num_samples``, checked before any work, as is the memory cap
        :data:`verify.sampling.MAX_SAMPLE_ENTRIES` on the pairwise arrays,
        ``num_samples**2 x dim`` entries (``dim`` from ``target.dim``, else 1 before
        the draw).
    """
    alpha = _check_alpha(alpha)
    num_bootstrap = check_int("num_bootstrap", num_bootstrap, low=19)
    if not callable(getattr(target, "grad_logpdf", None)):
        raise ParameterError(
            f"`target` must have a closed-form score `grad_logpdf`; got {type(target).__name__}."
        )
    if bandwidth is None and not callable(getattr(target, "sample", None)):
        raise ParameterError(
            "`target` must have `sample(num, *, rng)` when `bandwidth` is None (the default "
            "bandwidth is the median distance of a sample of the target); pass `bandwidth` "
            f"or a target with `sample`; got {type(target).__name__}."
        )
    if bandwidth is not None:
        bandwidth = check_float("bandwidth", bandwidth, low=0.0, low_open=True)
    dim = getattr(target, "dim", None)
    dim = int(dim) if isinstance(dim, numbers.Integral) and dim >= 1 else None
    executor = check_executor(executor)
    gen = np.random.default_rng(rng)
    s_x, s_bw, s_boot = gen.spawn(3)
    if isinstance(sampler, np.ndarray):
        x = sample_array(sampler, "`sampler` (an array of samples)", min_rows=10, dim=dim)
        num = x.shape[0]
        check_memory(num * num, x.shape[1], "check_stein_discrepancy (n x n pairs)",
                     rows="pairs", width="dim", advice=MEMORY_ADVICE)
    else:
        num = check_continuous_size(num_samples, max_samples, "check_stein_discrepancy")
        check_memory(num * num, dim or 1, "check_stein_discrepancy (n x n pairs)",
                     rows="pairs", width="dim", advice=MEMORY_ADVICE)
        x, _ = draw_real_sharded(ship_sampler(sampler, executor), num, s_x, "sampler",
                                 executor=executor)
        if dim is not None and x.shape[1] != dim:
            raise ParameterError(
                f"`sampler` must return samples of the target's dimension {dim}; "
                f"got {x.shape[1]}.")
        check_memory(num * num, x.shape[1], "check_stein_discrepancy (n x n pairs)",
                     rows="pairs", width="dim", advice=MEMORY_ADVICE)
    n, d = x.shape
    if bandwidth is None:
        ref = target.sample(min(n, 500), rng=s_bw)
        dd = cdist(ref, ref)
        bandwidth = float(np.median(dd[np.triu_indices_from(dd, 1)]))
    bw = check_float("bandwidth", bandwidth, low=0.0, low_open=True)
    sc = target.grad_logpdf(x)
    diff = x[:, None, :] - x[None, :, :]
    r2 = (diff * diff).sum(axis=2)
    k = np.exp(-r2 / (2.0 * bw**2))
    t1 = sc @ sc.T
    t2 = (np.einsum("id,ijd->ij", sc, diff) - np.einsum("jd,ijd->ij", sc, diff)) / bw**2
    u = k * (t1 + t2 + d / bw**2 - r2 / bw**4)
    np.fill_diagonal(u, 0.0)
    norm = n * (n - 1)
    stat = float(u.sum() / norm)
    w = s_boot.choice([-1.0, 1.0], size=(num_bootstrap, n))
    boot = np.einsum("bi,ij,bj->b", w, u, w) / norm
    pval = float((1.0 + np.sum(boot >= stat)) / (num_bootstrap + 1.0))
    crit = float(np.quantile(boot, 1.0 - alpha))
    resolution = 1.0 / (num_bootstrap + 1.0)
    no_power = resolution > alpha  # the smallest attainable p-value cannot reject
    notes = []
    if no_power:
        notes.append(f"p-value resolution 1/(num_bootstrap + 1) = {resolution:.3g} > alpha = "
                     f"{alpha:.3g}: the test cannot reject; use num_bootstrap >= "
                     f"{math.ceil(1.0 / alpha)}")
    notes += _tie_notes("samples", x)
    return SteinResult(
        method="ksd-wild-bootstrap", detectable_tv=math.nan, seed=int_seed(rng),
        effect="none stated (no power statement for the KSD test)",
        statistic=stat, pvalue=pval, passed=pval > alpha and not no_power, alpha=alpha,
        num_samples=n, bandwidth=bw, critical_value=crit,
        status=_status(pval > alpha, no_power), pvalue_resolution=resolution,
        num_bootstrap=num_bootstrap, notes=tuple(notes),
    )
