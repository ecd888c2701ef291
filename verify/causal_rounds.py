"""Fixed-order marginals cannot parallelise (issue 16 item 5).

:func:`causal_order_scaling` runs the autospeculative sampler in the causal mode
(``order="identity"`` on a :class:`~distributions.causal.CausalOracle`, which
answers prefix contexts only: the sampler provably used the fixed-order marginals
``mu(X_i | x_{<a})`` and nothing else) and in its default random-order mode, on the
Ising chain with coupling ``J`` for growing ``n``. For each it records the rounds
per sample (mean with its interval, median, 99th percentile, maximum) and
``sum TV(mu_S, nu_S)`` over the block calls the sampler made
(:func:`verify.pinning.trace_block_tv`), and fits both against ``n``.

The check: the identity order's rounds exponent is separated from the random
order's (the lower end of the identity order's 95% interval is above the upper end
of the random order's). It does not claim that the random order's rounds are
sublinear: a log-log slope below 1 over a short range does not show that (an affine
law ``a n + b`` has one), and the intercept-free test of
:func:`verify.fits.increment_growth` (``rounds_growth``, reported) is inconclusive at
the demonstration's sizes (40 samples per point, ``n`` up to 128). On a chain
with strong coupling the product of fixed-order marginals ``nu_S`` is far from the
chain law ``mu_S`` on every block longer than the correlation length, so the sum of
TV along the identity-order recursion grows linearly in ``n``, and so do the
rounds; a random order pins the chain everywhere and ``sum TV`` stays small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from distributions.causal import CausalOracle
from distributions.errors import ParameterError
from distributions.scalable import IsingChain
from distributions.validation import check_float, check_int
from samplers.autospec import AutospeculativeSampler
from verify.fits import IncrementGrowth, PowerLawFit, fit_power_law, increment_growth
from verify.pinning.numerics import _mean_ci
from verify.pinning.round_bound import trace_block_tv
from verify.results import ResultBase
from verify.rounds import RoundsPoint, rounds_point

__all__ = ["OrderPoint", "CausalOrderResult", "causal_order_scaling"]

ORDERS: tuple[str, ...] = ("identity (causal)", "random")


@dataclass(frozen=True)
class OrderPoint:
    """One order at one ``n``: rounds (with the tail) and ``sum TV`` per sample."""

    order: str
    rounds: RoundsPoint
    mean_sum_tv: float
    sum_tv_low: float
    sum_tv_high: float


@dataclass(frozen=True, kw_only=True)
class CausalOrderResult(ResultBase):
    """Result of :func:`causal_order_scaling`.

    ``statistic`` is the identity order's rounds exponent minus the random order's
    (``pvalue``, ``alpha``, ``detectable_tv`` are ``nan``: interval estimates);
    ``passed`` as stated in the module docstring.
    """

    target: str
    ns: tuple[int, ...]
    points: tuple[OrderPoint, ...]
    rounds_fits: dict[str, PowerLawFit]
    sum_tv_fits: dict[str, PowerLawFit]
    rounds_growth: dict[str, IncrementGrowth]


def causal_order_scaling(
    ns: Sequence[int] = (16, 32, 64, 128),
    *,
    num: int = 50,
    coupling: float = 2.0,
    seed: int = 0,
) -> CausalOrderResult:
    """Rounds and ``sum TV`` of the identity (causal) and random orders against ``n``.

    Parameters
    ----------
    ns : sequence of int
        At least three lengths, each ``>= 4``, increasing.
    num : int
        Samples per point, ``>= 2``.
    coupling : float
        ``J`` of the Ising chain (``IsingChain(n, J)``), ``> 0``.
    seed : int
        Point ``(k, j)`` (order ``k``, length index ``j``) draws from
        ``SeedSequence([seed, k, j])``.

    Returns
    -------
    CausalOrderResult
    """
    if isinstance(ns, str) or not isinstance(ns, Sequence) or len(ns) < 3:
        raise ParameterError(f"`ns` must be a sequence of at least 3 lengths; got {ns!r}.")
    lengths = [check_int("ns", n, low=4) for n in ns]
    if any(b <= a for a, b in zip(lengths, lengths[1:], strict=False)):
        raise ParameterError(f"`ns` must be increasing; got {list(ns)!r}.")
    num = check_int("num", num, low=2)
    coupling = check_float("coupling", coupling, low=0.0, low_open=True)
    seed = check_int("seed", seed, low=0)
    points: list[OrderPoint] = []
    for k, order in enumerate(ORDERS):
        for j, n in enumerate(lengths):
            target = IsingChain(n, coupling)
            oracle = CausalOracle(target) if k == 0 else target
            smp = AutospeculativeSampler(oracle, order="identity" if k == 0 else "random",
                                         trace=True)
            ss = np.random.SeedSequence([seed, k, j])
            run_ss, tv_ss = ss.spawn(2)
            res = smp.sample(num, rng=np.random.default_rng(run_ss))
            assert res.trace is not None
            tv, _ = trace_block_tv(target, res.trace, rng=np.random.default_rng(tv_ss))
            per = np.bincount(res.trace.block_sample, weights=tv, minlength=num)
            mean, low, high = _mean_ci(per)
            points.append(OrderPoint(
                order=order, rounds=rounds_point(n, res.rounds, res.queries, n, 0.0),
                mean_sum_tv=float(mean), sum_tv_low=float(low), sum_tv_high=float(high)))
    rounds_fits: dict[str, PowerLawFit] = {}
    tv_fits: dict[str, PowerLawFit] = {}
    growth: dict[str, IncrementGrowth] = {}
    for order in ORDERS:
        sel = [p for p in points if p.order == order]
        rounds_fits[order] = fit_power_law(lengths, [p.rounds.mean_rounds for p in sel])
        tv_fits[order] = fit_power_law(lengths, [max(p.mean_sum_tv, 1e-12) for p in sel])
        growth[order] = increment_growth(lengths, [p.rounds.mean_rounds for p in sel],
                                         [p.rounds.se_rounds for p in sel])
    ident, rand = rounds_fits[ORDERS[0]], rounds_fits[ORDERS[1]]
    passed = bool(ident.gamma_low > rand.gamma_high)
    return CausalOrderResult(
        passed=passed, statistic=ident.gamma - rand.gamma, pvalue=math.nan, alpha=math.nan,
        num_samples=num, detectable_tv=math.nan, seed=seed, method="causal-order-exponents",
        target=f"Ising chain, coupling {coupling:g}", ns=tuple(lengths), points=tuple(points),
        rounds_fits=rounds_fits, sum_tv_fits=tv_fits, rounds_growth=growth,
    )
