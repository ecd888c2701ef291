""":func:`order_conditional_test`: samples against the oracle's chain rule along their own orders.

Why this lives in :mod:`verify.exactness` and not :mod:`verify.chain_tests`: it plans
with :mod:`verify.planning`, which imports :mod:`verify.chain_tests` (the sibling
modules of :mod:`verify` must not import each other in a cycle).

The null, and why it is exactly calibrated for any oracle
---------------------------------------------------------
A sampler run along the order ``sigma`` (the autospeculative, AGR24 and sequential
samplers, for every fixed ``sigma``) must output the **sequential chain-rule law along
sigma built from the same oracle**, ``p_sigma(x) = prod_t mu(x_sigma(t) | x_sigma(<t))``,
whether or not the oracle's conditionals come from one joint law (a trained network's
do not). Each sample ``b`` comes with the order ``sigma_b`` it was revealed along
(``SampleResult.orders``). Revealing its coordinates along ``sigma_b``, step ``t``
has, under the null, the law ``p_t = mu(. | x_sigma_b(<t))`` of the oracle given the
revealed prefix; the randomised probability-integral transform ``U_t = F_t(v - 1) + V
p_t(v)`` (``V`` uniform, rows normalised in float64 as the samplers' categorical draw
normalises them) makes ``(U_1, ..., U_n)`` **exactly iid Uniform(0, 1)**, for every
oracle and every order. (The map is a bijection onto boxes of volume ``p_sigma(x)``:
under a sampler law ``s`` the density of ``U`` is ``s(x | sigma) / p_sigma(x)`` on the
box of ``x``, so the TV between the law of ``U`` and the uniform law is exactly
``E_sigma TV(s(. | sigma), p_sigma)``.) Nothing here assumes consistency; the test
compares with the oracle's conditionals, not with any joint law.

Sub-tests (family of ``n + 2``, Holm; family p-value = smallest adjusted p-value)
--------------------------------------------------------------------------------
``step[t]`` (t = 1..n)
    The ``N`` PITs of reveal step ``t`` (iid over samples), binned into ``bins``
    equiprobable bins, Pearson's chi-square with ``bins - 1`` dof.
``pooled``
    All ``N n`` PITs (iid under the null), same binning.
``score``
    ``sum_t [log p_t(v_t) + H(p_t)] / sqrt(sum_t Var_{p_t} log p_t)``, asymptotically
    N(0, 1) (martingale CLT); tempered or sharpened samplers. Omitted with a note
    when the variance is zero.
A revealed value of conditional probability 0 is an immediate failure.

Stated power (:func:`plan_order_conditional_size`)
--------------------------------------------------
With probability ``>= power`` at family-wise level ``alpha``: a sampler whose law of
the binned PIT at some single reveal step differs from the uniform law by TV ``>=
tv`` (the noncentral chi-square worst case of :mod:`verify.planning` with ``k =
bins`` cells at the Bonferroni level ``alpha / (n + 2)``). The binned PIT of step
``t`` is the sampler's value at that step seen through the oracle's conditional; a
joint deviation that leaves every step's PIT law unchanged (a dependence between
steps) is not covered by the stated power (the pooled and score sub-tests add power
without a statement). The full-table alternative with stated power on the joint law
is :func:`~verify.exactness.closeness_test`.

Sequential mode
---------------
``check_exact(..., sequential=True)`` on an oracle without a joint law runs
:func:`verify.exactness.sequential.sequential_order_conditional`: the same PITs
(:class:`PitStats`, one oracle pass) feed an anytime-valid e-process
(:mod:`verify.sequential.pit`: the average of the ``step[t]``, ``pooled`` and a
bounded ``score`` test martingale) looked at after every sample, and the fixed-size
test above (:func:`_from_pits`) decides at level ``alpha / 2`` at the planned maximum.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from distributions.base import MASK, DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_discrete_oracle, check_int
from samplers.oracle import CountingOracle
from verify.exactness.results import OrderConditionalResult
from verify.execution import check_executor, run_shards, ship_sampler
from verify.multiplicity import holm
from verify.planning import check_levels, detectable_tv, plan_support_size
from verify.results import WorstCell, status_of
from verify.sampling import Deadline, SeedLike, check_orders, check_rng, int_seed

__all__ = [
    "DEFAULT_BINS",
    "order_conditional_test",
    "plan_order_conditional_size",
    "order_conditional_detectable_tv",
]

#: Equiprobable PIT bins of every step test.
DEFAULT_BINS: int = 10
#: Elements of one oracle answer chunk (``B * n`` contexts of ``n x q`` rows).
_CHUNK_ELEMS: int = 2**22


def _family(n: int) -> int:
    return n + 2


def plan_order_conditional_size(n: int, *, tv: float, alpha: float, power: float,
                                bins: int = DEFAULT_BINS) -> int:
    """Samples at which a binned-PIT deviation of TV ``tv`` at any reveal step is detected.

    Examples
    --------
    >>> plan_order_conditional_size(8, tv=0.05, alpha=1e-3, power=0.99)
    5666
    """
    n = check_int("n", n, low=1)
    bins = check_int("bins", bins, low=2)
    tv, alpha, power = check_levels(tv, alpha, power)
    return plan_support_size(bins, tv, alpha / _family(n), power)


def order_conditional_detectable_tv(n: int, num_samples: int, *, alpha: float, power: float,
                                    bins: int = DEFAULT_BINS) -> float:
    """Binned-PIT TV at one reveal step detected with probability ``power`` (1.0: none)."""
    return detectable_tv(bins, num_samples, alpha=alpha / _family(n), power=power)


def _iv(samples: Any, orders: Any, oracle: Any, alpha: Any, power: Any,
        bins: Any) -> tuple[np.ndarray, np.ndarray, float, float, int]:
    check_discrete_oracle("oracle", oracle)
    _, alpha, power = check_levels(0.5, alpha, power)
    bins = check_int("bins", bins, low=2)
    n, q = int(oracle.n), int(oracle.q)
    x = np.asarray(samples)
    if x.ndim != 2 or x.shape[1] != n or x.shape[0] < 1 or x.dtype.kind not in "iu":
        raise ParameterError(
            f"`samples` must be an integer array of shape (N, {n}) with N >= 1; got "
            f"shape {x.shape} (dtype {x.dtype}).")
    if x.min() < 0 or x.max() >= q:
        raise ParameterError(
            f"`samples` values must be in [0, {q - 1}]; got values in "
            f"[{int(x.min())}, {int(x.max())}].")
    o = check_orders(orders, x.shape[0], n)
    return x.astype(np.int64), o, alpha, power, bins


class PitStats(NamedTuple):
    """Per-step statistics of a batch of samples, (N, n) arrays by reveal step."""

    pits: np.ndarray
    score: np.ndarray
    var: np.ndarray
    impossible: str
    #: ``p(v) - sum p**2`` of the revealed value (the sequential score process)
    sharp: np.ndarray
    #: (N,) samples with a revealed value of conditional probability 0
    bad: np.ndarray


def _chunk(n: int, q: int) -> int:
    return max(1, _CHUNK_ELEMS // (n * n * q))


def _pits(x: np.ndarray, orders: np.ndarray, co: CountingOracle, gen: np.random.Generator,
          first: int = 0) -> PitStats:
    """PITs, score increments and variances (N, n) by reveal step; impossible note.

    One oracle call per chunk of samples: ``conditionals_at`` with the samples' own
    orders and values as the chain (``B * n`` prefix contexts in that one call).
    ``first``: the index of ``x[0]`` among all samples (for the note).
    """
    N, n = x.shape
    q = co.q
    pits, score, var = np.empty((N, n)), np.empty((N, n)), np.empty((N, n))
    sharp, bad = np.empty((N, n)), np.zeros(N, dtype=bool)
    chunk = _chunk(n, q)
    impossible = ""
    for s in range(0, N, chunk):
        o = orders[s:s + chunk]
        B = o.shape[0]
        vals = np.take_along_axis(x[s:s + chunk], o, axis=1)
        ctx = np.full((B, n), MASK, dtype=np.int64)
        p = np.asarray(co.conditionals_at(ctx, o, vals), dtype=np.float64)  # (B, n, q)
        tot = p.sum(axis=2, keepdims=True)
        p = np.divide(p, tot, out=np.zeros_like(p), where=tot > 0)
        pv = np.take_along_axis(p, vals[..., None], axis=2)[..., 0]
        below = np.take_along_axis(np.cumsum(p, axis=2) - p, vals[..., None], axis=2)[..., 0]
        pits[s:s + B] = np.clip(below + gen.random((B, n)) * pv, 0.0, 1.0)
        logp = np.log(np.where(p > 0, p, 1.0))
        ent = -(p * logp).sum(axis=2)
        score[s:s + B] = np.log(np.where(pv > 0, pv, 1.0)) + ent
        var[s:s + B] = np.maximum((p * logp**2).sum(axis=2) - ent**2, 0.0)
        sharp[s:s + B] = pv - (p * p).sum(axis=2)
        bad[s:s + B] = (pv <= 0).any(axis=1)
        if not impossible and (pv <= 0).any():
            b, t = (int(i) for i in np.argwhere(pv <= 0)[0])
            impossible = (f"sample {first + s + b}: value {int(vals[b, t])} at position "
                          f"{int(o[b, t])} (reveal step {t + 1} of its own order) has "
                          "conditional probability 0 given the revealed prefix")
    return PitStats(pits, score, var, impossible, sharp, bad)


class _Drawn:
    """Uniforms drawn in advance, handed out in order as ``Generator.random`` would."""

    def __init__(self, u: np.ndarray) -> None:
        self.u, self.at = u, 0

    def random(self, size: tuple[int, int]) -> np.ndarray:
        out = self.u[self.at:self.at + size[0]]
        self.at += size[0]
        return out


@dataclass(frozen=True)
class _PitShard:
    """Whole chunks of samples: a shard of :mod:`verify.execution`, the oracle its
    sampler. Its PIT uniforms are those of the test's one stream in sample order: the
    stream's PCG64 state at the first sample advanced by ``first * n`` draws (one
    64-bit draw per uniform), or ``u`` drawn in the caller for a bit generator
    without that jump. Returns the PIT counts by reveal step and bin (all the
    Pearson tests read), the score increments and variances (summed by the caller
    exactly as before the seam), the note, and the oracle's rows and calls."""

    index: int
    first: int
    x: np.ndarray
    o: np.ndarray
    bins: int
    state: dict[str, Any] | None
    u: np.ndarray | None

    def where(self, num_shards: int) -> str:
        return f"shard {self.index + 1} of {num_shards} (samples from {self.first})"

    def run(self, oracle: DiscreteOracle, deadline: Deadline | None) -> tuple[Any, ...]:
        n = self.x.shape[1]
        gen: np.random.Generator | _Drawn
        if self.u is not None or self.state is None:
            gen = _Drawn(np.empty((0, n)) if self.u is None else self.u)
        else:
            bg = getattr(np.random, self.state["bit_generator"])()
            bg.state = self.state
            gen = np.random.Generator(bg.advance(self.first * n))
        co = CountingOracle(oracle, validate=False)
        st = _pits(self.x.astype(np.int64), self.o.astype(np.int64), co, gen,  # type: ignore[arg-type]
                   self.first)
        return (_binned(st.pits, self.bins), st.score, st.var, st.impossible, int(co.rows),
                int(co.calls))


def _sharded_pits(x: np.ndarray, o: np.ndarray, oracle: DiscreteOracle,
                  gen: np.random.Generator, bins: int, executor: Executor | None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, int, int]:
    """The PIT counts (n, bins), score and variance (N, n), note, rows and calls of all
    samples, in shards of whole chunks of about ``2**17`` samples (any executor)."""
    N, n = x.shape
    chunk = _chunk(n, int(oracle.q))
    per = chunk * max(1, 2**17 // chunk)
    bg = gen.bit_generator
    state = bg.state if isinstance(bg, np.random.PCG64 | np.random.PCG64DXSM) else None
    u = gen.random((N, n)) if state is None else None
    small = np.min_scalar_type(max(int(oracle.q), n) - 1)
    shards = [_PitShard(index=k, first=a, x=x[a:a + per].astype(small),
                        o=o[a:a + per].astype(small), bins=bins, state=state,
                        u=None if u is None else u[a:a + per])
              for k, a in enumerate(range(0, N, per))]
    got: list[tuple[Any, ...]] = []
    run_shards(ship_sampler(oracle, executor), shards, executor=executor,
               merged=lambda shard, r: got.append(r))
    note = next((r[3] for r in got if r[3]), "")
    return (sum(r[0] for r in got), np.concatenate([r[1] for r in got]),
            np.concatenate([r[2] for r in got]), note, sum(r[4] for r in got),
            sum(r[5] for r in got))


def _pearson(obs: np.ndarray, bins: int) -> tuple[float, float, float]:
    """Pearson statistic, p-value and bias-corrected plug-in TV of uniforms binned into
    the counts ``obs``."""
    cnt = int(obs.sum())
    exp = cnt / bins
    x2 = float(((obs - exp) ** 2).sum() / exp)
    p0 = 1.0 / bins
    tv = 0.5 * float(np.abs(obs / cnt - p0).sum()) - 0.5 * bins * math.sqrt(
        2 * p0 * (1 - p0) / (math.pi * cnt))
    return x2, float(stats.chi2.sf(x2, bins - 1)), max(0.0, tv)


def order_conditional_test(
    samples: np.ndarray,
    orders: np.ndarray,
    oracle: DiscreteOracle,
    *,
    alpha: float = 1e-3,
    power: float = 0.99,
    bins: int = DEFAULT_BINS,
    rng: SeedLike = None,
    executor: Executor | None = None,
) -> OrderConditionalResult:
    """Test samples against the oracle's chain rule along each sample's own order.

    Exactly calibrated for any oracle, consistent or not (module docstring).

    Parameters
    ----------
    samples : ndarray of int, shape (N, n)
    orders : ndarray of int, shape (N, n)
        Row ``b`` is the order sample ``b`` was revealed along (a permutation of
        ``range(n)``: ``SampleResult.orders``); anything else is a ParameterError.
    oracle : DiscreteOracle
        The oracle the sampler used.
    alpha : float in [1e-12, 1), default 1e-3
        Family-wise level.
    power : float in (alpha, 1), default 0.99
        Power of the stated ``detectable_tv``.
    bins : int >= 2, default :data:`DEFAULT_BINS`
        Equiprobable PIT bins (fewer, down to 2, when ``N < 5 bins``).
    rng : seed, Generator or SeedSequence
        The PIT randomisation.
    executor : concurrent.futures.Executor, optional
        Where the oracle is asked, in shards of whole chunks of samples
        (:mod:`verify.execution`; the oracle crosses once per worker, an unpicklable
        one is a ParameterError); ``None``: in process. Shards return PIT counts and
        the per-sample score terms; the result is the same for every executor.

    Returns
    -------
    OrderConditionalResult

    Examples
    --------
    >>> from distributions import random_table
    >>> from samplers import SequentialSampler
    >>> d = random_table(4, 2, rng=0)
    >>> res = SequentialSampler(d).sample(3000, rng=1)
    >>> r = order_conditional_test(res.samples, res.orders, d, rng=2)
    >>> r.status, r.family_size
    ('pass', 6)
    """
    x, o, alpha, power, bins = _iv(samples, orders, oracle, alpha, power, bins)
    gen = np.random.default_rng(check_rng(rng))
    executor = check_executor(executor)
    N, n = x.shape
    bins = int(max(2, min(bins, N // 5)))
    counts, score, var, impossible, rows, calls = _sharded_pits(x, o, oracle, gen, bins,
                                                                executor)
    return _from_counts(counts, score, var, impossible, alpha=alpha, power=power, bins=bins,
                        seed=int_seed(rng), rows=rows, calls=calls)


def _binned(pits: np.ndarray, bins: int) -> np.ndarray:
    """PIT counts (n, bins) by reveal step of PITs (N, n)."""
    obs = np.minimum((pits * bins).astype(np.int64), bins - 1)
    return np.stack([np.bincount(obs[:, t], minlength=bins) for t in range(pits.shape[1])])


def _from_pits(pits: np.ndarray, score: np.ndarray, var: np.ndarray, impossible: str, *,
               alpha: float, power: float, bins: int, seed: int | None, rows: int,
               calls: int) -> OrderConditionalResult:
    """The fixed-size test on computed PITs (the final test of the sequential mode,
    :func:`verify.exactness.sequential.sequential_order_conditional`)."""
    return _from_counts(_binned(pits, bins), score, var, impossible, alpha=alpha,
                        power=power, bins=bins, seed=seed, rows=rows, calls=calls)


def _from_counts(counts: np.ndarray, score: np.ndarray, var: np.ndarray, impossible: str, *,
                 alpha: float, power: float, bins: int, seed: int | None, rows: int,
                 calls: int) -> OrderConditionalResult:
    """The fixed-size test on the PIT counts (n, bins) by reveal step, the score
    increments and variances (N, n), the impossibility note, oracle rows and calls."""
    N, n = score.shape
    pvals: dict[str, float] = {}
    tvs = []
    for t in range(n):
        _, pv, tv_t = _pearson(counts[t], bins)
        pvals[f"step[{t + 1}]"] = pv
        tvs.append(tv_t)
    pvals["pooled"] = _pearson(counts.sum(axis=0), bins)[1]
    notes: list[str] = []
    tot_var = float(var.sum())
    if tot_var > 0:
        z = float(score.sum()) / math.sqrt(tot_var)
        pvals["score"] = float(2.0 * stats.norm.sf(abs(z)))
    else:
        notes.append("score omitted: every revealed conditional is deterministic or uniform "
                     "(zero variance)")
    labels = list(pvals)
    raw = np.array([pvals[k] for k in labels])
    if impossible:
        pvalue, rejected = 0.0, ()
    else:
        adj = holm(raw)
        pvalue = float(adj.min())
        rejected = tuple(labels[k] for k in np.flatnonzero(adj <= alpha))
    worst = [WorstCell(impossible, None, 1.0, 0.0, math.inf, True)] if impossible else []
    for k in np.argsort(raw, kind="stable")[:5]:
        worst.append(WorstCell(labels[int(k)], None, math.nan, math.nan,
                               float(-math.log10(max(raw[k], 1e-300)))))
    det = order_conditional_detectable_tv(n, N, alpha=alpha, power=power, bins=bins)
    status = status_of(bool(impossible) or pvalue <= alpha, det)
    against = (
        f"With probability >= {power:g} at family-wise level {alpha:g}: a deviation of TV >= "
        f"{det:.3g} in the law of the PIT ({bins} equiprobable bins) of any single reveal "
        "step, relative to the oracle's conditional given the sample's own revealed prefix "
        "(exactly calibrated for any oracle, consistent or not). A joint deviation that "
        "leaves every step's PIT law unchanged is not covered by the stated power.")
    return OrderConditionalResult(
        passed=status == "pass", status=status,
        statistic=float(-math.log10(max(pvalue, 1e-300))), pvalue=pvalue, alpha=alpha,
        num_samples=N, detectable_tv=det, seed=seed, method="order-conditional",
        power=power, bins=bins, family_size=len(labels), pvalues=pvals,
        tv_estimate=float(max(tvs)), worst_cells=tuple(worst), impossible=impossible,
        rejected=rejected, power_against=against, notes=tuple(notes),
        oracle_rows=rows, oracle_calls=calls)
