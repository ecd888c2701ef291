""":func:`check_speculative_acceptance`: per-step acceptance of the speculative diffusion
sampler against ``2 Phi(-|D| / 2)`` (martingale tests)."""

from __future__ import annotations

import math
from concurrent.futures import Executor

import numpy as np
from scipy import stats

from distributions.errors import ParameterError
from distributions.validation import check_int, short_repr
from samplers.base import Sampler
from verify.continuous.common import (
    _check_alpha,
    _family_notes,
    _holm,
    _status,
)
from verify.continuous.results import (
    AcceptanceResult,
)
from verify.continuous.sharded import draw_aux_sharded
from verify.execution import OnWorker, check_executor, ship_sampler
from verify.planning import MAX_SAMPLES
from verify.sampling import SeedLike, check_size, int_seed


def check_speculative_acceptance(
    sampler: Sampler,
    *,
    num_samples: int,
    alpha: float = 0.01,
    rng: SeedLike = None,
    beta: float = 0.1,
    num_bins: int = 8,
    executor: Executor | None = None,
    max_samples: int | None = MAX_SAMPLES,
) -> AcceptanceResult:
    """Per-step acceptance of a speculative diffusion sampler against ``2 Phi(-|D|/2)``.

    The sampler must return ``aux["step_dnorm"]`` (``|D_k|``) and
    ``aux["step_accepted"]`` for every evaluated step (up to and including each
    window's first rejection). Given the past, step ``k`` is accepted with
    probability ``p_k = 2 Phi(-|D_k| / 2)`` exactly, so ``sum (A_k - p_k)`` is a
    martingale: tested with its z-score (both sides) and a binned chi-square over
    quantile bins of ``p_k`` (each bin's sum is a martingale too); Holm.

    Parameters
    ----------
    sampler : Sampler or verify.execution.OnWorker
        An object with ``sample(num, *, rng)`` returning a
        :class:`~samplers.base.SampleResult` with those ``aux`` keys (or a factory of
        one). Unlike the other continuous checks, a plain callable
        ``(num, rng) -> array`` is refused before any work: an array carries no
        acceptance record.
    max_samples : int >= 1 or None, default :data:`verify.planning.MAX_SAMPLES`
        Cap on ``num_samples``, checked before any work.
    executor : concurrent.futures.Executor, optional
        Where the samples are drawn, in shards of
        :data:`verify.continuous.sharded.REAL_SHARD` (:mod:`verify.execution`);
        ``None``: in process. The result is the same for every executor and number
        of workers. The shards return every step's ``|D_k|`` and acceptance (the
        quantile bins need all of them), not the samples.
    """
    num = check_int("num_samples", num_samples, low=1)
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=1)
    check_size(num, max_samples, "the cap of check_speculative_acceptance")
    alpha = _check_alpha(alpha)
    beta = _check_alpha(beta, "beta")
    num_bins = check_int("num_bins", num_bins, low=1)
    if not (isinstance(sampler, OnWorker) or callable(getattr(sampler, "sample", None))):
        raise ParameterError(
            "`sampler` must be a sampler object with `sample(num, *, rng)` returning a "
            "SampleResult with aux['step_dnorm'] and aux['step_accepted'] (e.g. "
            "SpeculativeDiffusionSampler), or an OnWorker factory of one; a callable "
            "(num, rng) -> array returns no acceptance record; got "
            f"{short_repr(sampler)}.")
    executor = check_executor(executor)
    shipped = ship_sampler(sampler, executor)
    aux = draw_aux_sharded(shipped, num, np.random.default_rng(rng), "sampler",
                           executor=executor, aux=("step_dnorm", "step_accepted"))
    if "step_dnorm" not in aux or "step_accepted" not in aux:
        raise ParameterError(
            "`sampler` must expose aux['step_dnorm'] and aux['step_accepted'] "
            "(SpeculativeDiffusionSampler does)."
        )
    dn = np.asarray(aux["step_dnorm"], dtype=np.float64)
    acc = np.asarray(aux["step_accepted"], dtype=bool)
    if dn.size < 2:
        raise ParameterError(f"too few non-trivial steps to test; got {dn.size}.")
    p = 2.0 * stats.norm.sf(dn / 2.0)
    var = p * (1.0 - p)
    resid = acc.astype(np.float64) - p
    z = float(resid.sum() / math.sqrt(max(var.sum(), 1e-300)))
    names = ["martingale z-score of accepts"]
    st = [z]
    pv = [float(2.0 * stats.norm.sf(abs(z)))]
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, num_bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(edges.size - 2, 0))
    nb = int(which.max()) + 1
    o = np.bincount(which, weights=acc.astype(np.float64), minlength=nb)
    e = np.bincount(which, weights=p, minlength=nb)
    v = np.bincount(which, weights=var, minlength=nb)
    keep = v > 0
    chi = float((((o - e) ** 2)[keep] / v[keep]).sum())
    names.append(f"binned chi-square ({int(keep.sum())} bins of p)")
    st.append(chi)
    pv.append(float(stats.chi2.sf(chi, max(int(keep.sum()), 1))))
    tests, fam_p, passed = _holm(names, st, pv, alpha)
    zc = stats.norm.isf(alpha / (2.0 * len(tests))) + stats.norm.isf(beta)
    shift = float(zc * math.sqrt(var.sum()) / dn.size)
    no_power = shift >= 1.0
    return AcceptanceResult(
        method="acceptance-martingale-holm", detectable_tv=shift, seed=int_seed(rng),
        num_samples=int(dn.size),
        effect="shift of the mean acceptance rate, detected with probability 1 - beta",
        statistic=z, pvalue=fam_p, passed=passed and not no_power, alpha=alpha, beta=beta,
        num_steps=int(dn.size), observed_rate=float(acc.mean()),
        predicted_rate=float(p.mean()), tests=tests, detectable_rate_shift=shift,
        bins={"observed": o, "expected": e, "variance": v},
        status=_status(passed, no_power), pvalue_resolution=0.0,
        notes=tuple(_family_notes(tests, fam_p, alpha)),
    )
