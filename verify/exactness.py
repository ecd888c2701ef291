"""Calibrated goodness-of-fit tests of a sampler against its target, with stated power.

:func:`check_exact` draws samples from a sampler and tests them against the exact
law of the target (DESIGN 6.2):

* an :class:`~distributions.base.Enumerable` target (has ``pmf``) gets a
  **full-table test** over all ``q**n`` configurations: a G-test with Williams'
  correction and ``dof = |support| - 1`` in the dense regime, or an exact
  multinomial **Monte Carlo test** of the bias-corrected chi-square statistic of
  Acharya-Daskalakis-Kamath form (``sum ((N_i - N p_i)**2 - N_i) / (N p_i)``) when
  some expected count is below 5 (``method="auto"`` chooses). No cell is ever
  dropped; a sample that lands on a zero-probability cell is an immediate failure,
  reported in ``worst_cells``.
* any other :class:`~distributions.base.DiscreteOracle` gets the **chain-rule
  tests** of :mod:`verify.chain_tests` (no table needed; large ``n``).

Power and planning (worst case over alternatives at TV ``eps``)
----------------------------------------------------------------
For a law ``s`` at total variation ``eps`` from ``p`` (on the support of ``p``), the
chi-square divergence obeys ``chi2(s || p) >= 4 eps**2`` (Cauchy-Schwarz; equality
for ``s - p = +-2 eps p`` on two halves of the mass). The G and Pearson statistics
at sample size ``N`` are asymptotically noncentral chi-square with ``dof = k - 1``
and noncentrality ``lambda = N chi2(s || p) >= 4 N eps**2``, and the power is
increasing in ``lambda``; hence the worst-case power at TV ``eps`` is
``ncx2.sf(chi2.isf(alpha, k-1), k-1, 4 N eps**2)``. :func:`plan_sample_size` returns
the smallest ``N`` whose worst-case power is at least ``power``. Mass moved off the
support is easier to detect (one hit fails the test), so it never is the worst case.
Figures (``alpha = 1e-3``, ``power = 0.99``, support size ``k``)::

    k        tv = 0.01    tv = 0.02    tv = 0.05
    2            78,874       19,719        3,155
    16          137,904       34,476        5,517
    64          217,496       54,374        8,700
    256         372,851       93,213       14,915
    1024        680,726      170,182       27,230
    4096      1,294,450      323,613       51,778

The planner is cross-checked by simulation in ``tests/test_exactness.py`` (the
rejection rate of the G-test against a worst-case alternative at the planned size is
at least ``power`` within a binomial interval).

Confidence bound on TV
----------------------
``tv_upper`` is a rigorous one-sided upper confidence bound at level ``1 - alpha``
on ``TV(sampler law, target)``: with ``K = q**n`` cells and empirical law ``p_hat``,
``TV(s, p) <= TV(p_hat, p) + TV(p_hat, s)``, ``E TV(p_hat, s) <= sqrt((K-1)/N) / 2``
(Cauchy-Schwarz) and McDiarmid's inequality (``TV(p_hat, s)`` moves by at most
``1/N`` per sample) gives ``TV(p_hat, s) <= E + sqrt(log(1/alpha) / (2N))`` with
probability ``>= 1 - alpha``. ``tv_estimate`` is the plug-in ``TV(p_hat, p)`` minus
its expectation under the null (normal approximation), clipped at 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from distributions._validation import check_choice, check_float, check_int
from distributions.errors import ParameterError

__all__ = [
    "ExactnessResult",
    "WorstCell",
    "check_exact",
    "plan_sample_size",
    "detectable_tv",
    "draw_samples",
    "full_table_test",
    "MIN_EXPECTED",
]

#: Smallest expected count for which ``method="auto"`` uses the asymptotic G-test.
MIN_EXPECTED: float = 5.0
#: Largest table (``q**n``) for full-table tests; larger targets get chain tests.
MAX_TABLE: int = 2**20
#: Samples drawn per sampler call (memory bound); the seed stream is fixed by it.
_CHUNK: int = 1 << 17
_METHODS = ("auto", "gtest", "pearson", "montecarlo", "chain")


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class WorstCell:
    """One deviating cell (a configuration, or a conditional / marginal test).

    Attributes
    ----------
    label : str
        Human-readable name (``"x=(0, 1, 1)"``, ``"site 17"``, ``"chain step 1"``).
    config : tuple of int or None
        The configuration for full-table tests.
    observed, expected : float
        Observed and expected counts (under the target).
    residual : float
        Pearson residual ``(obs - exp) / sqrt(exp)`` (``inf`` for an impossible cell);
        for chain tests, the sub-test's ``-log10 p``.
    impossible : bool
        The target gives the cell probability zero.
    """

    label: str
    config: tuple[int, ...] | None
    observed: float
    expected: float
    residual: float
    impossible: bool = False


@dataclass(frozen=True)
class ExactnessResult:
    """Outcome of :func:`check_exact`.

    Attributes
    ----------
    passed : bool
        ``pvalue > alpha`` (and no sample on a zero-probability cell).
    statistic : float
        Test statistic (G with Williams' correction, Pearson, bias-corrected
        chi-square, or the smallest Holm-adjusted p-value's ``-log10`` for chain tests).
    pvalue : float
        p-value of the exactness null (0 after an impossible-cell hit).
    method : str
        ``"gtest"``, ``"pearson"``, ``"montecarlo"`` or ``"chain"``.
    num_samples : int
    alpha : float
    detectable_tv : float
        TV distance detected with probability ``power`` at this sample size (worst
        case over alternatives; for chain tests, TV of a one- or two-site marginal).
    tv_estimate : float
        Bias-corrected plug-in TV (chain tests: largest bias-corrected marginal TV,
        a lower-bound proxy of the joint TV).
    tv_upper : float
        One-sided upper confidence bound at level ``1 - alpha`` on the TV distance
        (``nan`` for chain tests: no rigorous bound without a table).
    worst_cells : tuple of WorstCell
        The most deviating cells, impossible hits first.
    seed : int
        Entropy of the :class:`numpy.random.SeedSequence` all randomness came from:
        ``check_exact(..., rng=seed)`` replays the run.
    dof : float
        Degrees of freedom of the reference distribution (``nan`` if none).
    power : float
        Requested power (used for ``detectable_tv`` and planning).
    impossible_hits : int
        Samples on zero-probability cells.
    details : mapping of str to float
        Sub-test p-values (chain tests) or auxiliary figures.
    """

    passed: bool
    statistic: float
    pvalue: float
    method: str
    num_samples: int
    alpha: float
    detectable_tv: float
    tv_estimate: float
    tv_upper: float
    worst_cells: tuple[WorstCell, ...]
    seed: int
    dof: float = math.nan
    power: float = math.nan
    impossible_hits: int = 0
    details: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        d = asdict(self)
        d["worst_cells"] = [asdict(c) for c in self.worst_cells]
        d["details"] = dict(self.details)
        return d


# ---------------------------------------------------------------------- planning
def _lambda_needed(dof: int, alpha: float, power: float) -> float:
    crit = stats.chi2.isf(alpha, dof)

    def f(lam: float) -> float:
        return float(stats.ncx2.sf(crit, dof, lam)) - power

    hi = 1.0
    while f(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(f, 1e-12, hi, xtol=1e-10, rtol=1e-12))


def _support_size(target_or_k: Any) -> int:
    if isinstance(target_or_k, int | np.integer) and not isinstance(target_or_k, bool):
        return check_int("target_or_k", int(target_or_k), low=1)
    pmf_fn = getattr(target_or_k, "pmf", None)
    if callable(pmf_fn):
        return int(np.count_nonzero(np.asarray(pmf_fn()) > 0))
    if isinstance(target_or_k, np.ndarray):
        return int(np.count_nonzero(target_or_k > 0))
    raise ParameterError(
        "`target_or_k` must be a support size (int >= 1), a pmf array or an Enumerable; "
        f"got {type(target_or_k).__name__}."
    )


def plan_sample_size(target_or_k: Any, *, tv: float, alpha: float, power: float) -> int:
    """Smallest sample size at which a TV-``tv`` sampler fails with probability ``power``.

    Parameters
    ----------
    target_or_k : int, ndarray, Enumerable or DiscreteOracle
        Support size ``k``, a pmf, an enumerable target (``k`` = its support size),
        or a non-enumerable oracle (plan of the chain-rule tests, see
        :func:`verify.chain_tests.plan_chain_sample_size`).
    tv : float in (0, 1)
    alpha : float in (0, 1)
        Level of the test.
    power : float in (0, 1)

    Returns
    -------
    int
        Worst case over alternatives at TV ``tv`` (module docstring): the
        noncentral chi-square power with ``lambda = 4 N tv**2`` and ``k - 1`` dof.
        For ``k = 1`` (a point mass), the size at which ``tv`` mass off the support
        is hit at least once with probability ``power``.

    Examples
    --------
    >>> plan_sample_size(64, tv=0.01, alpha=1e-3, power=0.99)
    217496
    """
    tv, alpha, power = _check_levels(tv, alpha, power)
    if not isinstance(target_or_k, int | np.integer | np.ndarray) and not _is_enumerable(
        target_or_k
    ):
        if hasattr(target_or_k, "conditionals"):
            from verify.chain_tests import plan_chain_sample_size

            return plan_chain_sample_size(target_or_k, tv=tv, alpha=alpha, power=power)
    k = _support_size(target_or_k)
    return _plan_k(k, tv, alpha, power)


def _plan_k(k: int, tv: float, alpha: float, power: float) -> int:
    if k == 1:
        return max(1, math.ceil(math.log1p(-power) / math.log1p(-tv)))
    lam = _lambda_needed(k - 1, alpha, power)
    return max(1, math.ceil(lam / (4.0 * tv * tv)))


def detectable_tv(k: int, num_samples: int, *, alpha: float, power: float) -> float:
    """TV detected with probability ``power`` at ``num_samples`` (worst case, ``k`` cells)."""
    if k <= 1:
        return float(-math.expm1(math.log1p(-power) / num_samples))
    lam = _lambda_needed(k - 1, alpha, power)
    return float(min(1.0, math.sqrt(lam / (4.0 * num_samples))))


def _check_levels(tv: Any, alpha: Any, power: Any) -> tuple[float, float, float]:
    tv = check_float("tv", tv, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    return tv, alpha, power


# ---------------------------------------------------------------------- sampling
def _seed_of(rng: Any) -> int:
    """Entropy of the SeedSequence of this run (replayable with ``rng=seed``)."""
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and int(rng) >= 0:
        return int(rng)
    if rng is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(rng, np.random.SeedSequence) and not rng.spawn_key and isinstance(
        rng.entropy, int
    ):
        return int(rng.entropy)
    gen = np.random.default_rng(rng)
    return int(gen.integers(0, 2**63 - 1))


def draw_samples(
    sampler: Any, num: int, n: int, q: int, seedseq: np.random.SeedSequence
) -> np.ndarray:
    """Draw ``num`` samples, in chunks of ``2**17`` each from its own spawned stream.

    ``sampler`` is a :class:`~samplers.base.Sampler` (``.sample(num, rng=...)``
    returning a :class:`~samplers.base.SampleResult` or an array) or a callable
    ``(num, rng) -> (num, n)`` int array.
    """
    chunks = []
    sizes = [min(_CHUNK, num - s) for s in range(0, num, _CHUNK)]
    for size, child in zip(sizes, seedseq.spawn(len(sizes)), strict=True):
        gen = np.random.default_rng(child)
        if hasattr(sampler, "sample") and callable(sampler.sample):
            out = sampler.sample(size, rng=gen)
        else:
            out = sampler(size, gen)
        arr = np.asarray(getattr(out, "samples", out))
        if arr.shape != (size, n):
            raise ParameterError(
                f"`sampler` must return samples of shape (num, {n}); got shape {arr.shape} "
                f"for num={size}."
            )
        if arr.dtype.kind not in "iu":
            if not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ParameterError(
                    f"`sampler` must return integer samples; got dtype {arr.dtype}."
                )
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() > q - 1):
            bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
            raise ParameterError(
                f"`sampler` must return values in 0..{q - 1}; got {bad}."
            )
        chunks.append(arr)
    return np.concatenate(chunks, axis=0) if chunks else np.zeros((0, n), dtype=np.int64)


# ---------------------------------------------------------------------- statistics
def _g_williams(obs: np.ndarray, exp: np.ndarray, p: np.ndarray, num: int) -> tuple[float, int]:
    k = obs.size
    nz = obs > 0
    g = 2.0 * float(np.sum(obs[nz] * np.log(obs[nz] / exp[nz])))
    dof = k - 1
    # Williams (1976): E[G] ~ dof * q with q = 1 + (sum 1/p_i - 1) / (6 N dof)
    wq = 1.0 + (float(np.sum(1.0 / p)) - 1.0) / (6.0 * num * dof)
    return g / wq, dof


def _adk(counts: np.ndarray, exp: np.ndarray) -> np.ndarray:
    """Bias-corrected chi-square ``sum ((N_i - E_i)^2 - N_i) / E_i`` along the last axis."""
    return np.sum(((counts - exp) ** 2 - counts) / exp, axis=-1)


def _mc_pvalue(
    obs: np.ndarray, p: np.ndarray, num: int, alpha: float, gen: np.random.Generator
) -> tuple[float, float, int]:
    exp = p * num
    t_obs = float(_adk(obs, exp))
    resamples = max(999, math.ceil(20.0 / alpha) - 1)
    chunk = max(1, int(4e6 // max(1, p.size)))
    ge = 0
    done = 0
    while done < resamples:
        m = min(chunk, resamples - done)
        sims = gen.multinomial(num, p, size=m).astype(np.float64)
        ge += int(np.count_nonzero(_adk(sims, exp) >= t_obs - 1e-9 * max(1.0, abs(t_obs))))
        done += m
    return t_obs, (1.0 + ge) / (resamples + 1.0), resamples


@dataclass(frozen=True)
class _TableTest:
    statistic: float
    pvalue: float
    method: str
    dof: float
    impossible_hits: int
    tv_plugin: float
    tv_null: float
    worst: tuple[WorstCell, ...]
    resamples: int


def full_table_test(
    samples: np.ndarray,
    pmf: np.ndarray,
    q: int,
    *,
    method: str = "auto",
    alpha: float = 1e-3,
    rng: Any = None,
    num_worst: int = 5,
) -> _TableTest:
    """Full-table test of ``samples`` (num, n) against the flat C-order ``pmf``."""
    samples = np.asarray(samples)
    num, n = samples.shape
    pmf = np.asarray(pmf, dtype=np.float64)
    idx = np.ravel_multi_index(samples.T, (q,) * n) if num else np.zeros(0, np.int64)
    counts = np.bincount(idx, minlength=q**n).astype(np.float64)
    support = pmf > 0
    impossible = int(counts[~support].sum())
    expected_all = pmf * num
    tv_plugin = 0.5 * float(np.abs(counts / max(num, 1) - pmf).sum())
    # E|Bin(N,p) - Np| ~ sqrt(2 N p (1-p) / pi) (normal approximation)
    tv_null = 0.5 * float(np.sum(np.sqrt(2.0 * pmf * (1.0 - pmf) / (math.pi * max(num, 1)))))
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = np.where(
            support, (counts - expected_all) / np.sqrt(np.where(support, expected_all, 1.0)),
            np.where(counts > 0, np.inf, 0.0),
        )
    order = np.argsort(-np.abs(resid), kind="stable")[:num_worst]
    worst = tuple(
        WorstCell(
            label="x=" + str(tuple(int(v) for v in np.unravel_index(i, (q,) * n))),
            config=tuple(int(v) for v in np.unravel_index(i, (q,) * n)),
            observed=float(counts[i]),
            expected=float(expected_all[i]),
            residual=float(resid[i]),
            impossible=bool(not support[i]),
        )
        for i in order
        if counts[i] > 0 or support[i]
    )
    k = int(support.sum())
    if impossible:
        return _TableTest(math.inf, 0.0, "impossible", float(k - 1), impossible,
                          tv_plugin, tv_null, worst, 0)
    if k == 1 or num == 0:
        return _TableTest(0.0, 1.0, "trivial", 0.0, 0, tv_plugin, tv_null, worst, 0)
    obs, p = counts[support], pmf[support] / pmf[support].sum()
    exp = p * num
    if method == "auto":
        method = "gtest" if exp.min() >= MIN_EXPECTED else "montecarlo"
    if method == "gtest":
        g, dof = _g_williams(obs, exp, p, num)
        return _TableTest(g, float(stats.chi2.sf(g, dof)), "gtest", float(dof), 0,
                          tv_plugin, tv_null, worst, 0)
    if method == "pearson":
        x2 = float(np.sum((obs - exp) ** 2 / exp))
        return _TableTest(x2, float(stats.chi2.sf(x2, k - 1)), "pearson", float(k - 1), 0,
                          tv_plugin, tv_null, worst, 0)
    if method == "montecarlo":
        t, pv, r = _mc_pvalue(obs, p, num, alpha, np.random.default_rng(rng))
        return _TableTest(t, pv, "montecarlo", math.nan, 0, tv_plugin, tv_null, worst, r)
    raise ParameterError(
        f"`method` must be one of 'auto', 'gtest', 'pearson', 'montecarlo' for an "
        f"enumerable target; got {method!r}."
    )


# ---------------------------------------------------------------------- public
def _iv(sampler: Any, target: Any, num_samples: Any, tv: Any, alpha: Any, power: Any,
        method: Any) -> tuple[int | None, float, float, float, str, bool]:
    if not (callable(getattr(sampler, "sample", None)) or callable(sampler)):
        raise ParameterError(
            "`sampler` must be a Sampler (with .sample(num, rng=...)) or a callable "
            f"(num, rng) -> (num, n) int array; got {type(sampler).__name__}."
        )
    for attr in ("n", "q", "conditionals"):
        if not hasattr(target, attr):
            raise ParameterError(
                f"`target` must be an Enumerable or a DiscreteOracle (n, q, conditionals); "
                f"it has no `{attr}`: got {type(target).__name__}."
            )
    if num_samples is not None:
        num_samples = check_int("num_samples", num_samples, low=1)
    tv, alpha, power = _check_levels(tv, alpha, power)
    method = check_choice("method", method, _METHODS)
    enumerable = _is_enumerable(target)
    if enumerable and method == "chain":
        enumerable = False
    if not enumerable and method not in ("auto", "chain"):
        raise ParameterError(
            f"`method` must be 'auto' or 'chain' for a target without a pmf; got {method!r}."
        )
    return num_samples, tv, alpha, power, method, enumerable


def _is_enumerable(target: Any) -> bool:
    """``pmf`` present and ``q**n <= 2**20`` (the table is tabulated, never guessed)."""
    if not callable(getattr(target, "pmf", None)):
        return False
    try:
        return int(target.q) ** int(target.n) <= MAX_TABLE
    except (TypeError, ValueError):
        return False


def check_exact(
    sampler: Any,
    target: Any,
    *,
    num_samples: int | None = None,
    tv: float = 0.02,
    alpha: float = 1e-3,
    power: float = 0.99,
    method: str = "auto",
    rng: Any = None,
) -> ExactnessResult:
    """Test whether ``sampler`` draws exactly from ``target``, with stated power.

    Parameters
    ----------
    sampler : Sampler or callable
        ``sampler.sample(num, rng=...)`` or ``sampler(num, rng) -> (num, n)`` ints.
    target : Enumerable or DiscreteOracle
        With ``pmf``: full-table test. Otherwise chain-rule tests
        (:mod:`verify.chain_tests`).
    num_samples : int, optional
        Default: :func:`plan_sample_size` for ``(tv, alpha, power)``.
    tv : float in (0, 1), default 0.02
        TV distance that must be detected with probability ``power``.
    alpha : float in (0, 1), default 1e-3
        Level: a correct sampler fails with probability at most ``alpha``
        (asymptotically for the G-test and chain tests, exactly up to Monte Carlo
        resolution for ``"montecarlo"``).
    power : float in (0, 1), default 0.99
    method : {"auto", "gtest", "pearson", "montecarlo", "chain"}
        ``"auto"``: G-test when every expected count is >= 5, else Monte Carlo;
        ``"chain"`` for a target without a table.
    rng : seed, Generator or SeedSequence, optional
        A seed is drawn from it (``SeedSequence``); the result's ``seed`` replays.

    Returns
    -------
    ExactnessResult

    Examples
    --------
    >>> import numpy as np
    >>> from distributions.table import TableDistribution
    >>> from samplers.sequential import SequentialSampler
    >>> d = TableDistribution(np.arange(1.0, 9.0).reshape(2, 2, 2))
    >>> res = check_exact(SequentialSampler(d), d, tv=0.05, rng=1)
    >>> res.passed, res.method
    (True, 'gtest')
    """
    num_samples, tv, alpha, power, method, enumerable = _iv(
        sampler, target, num_samples, tv, alpha, power, method
    )
    n, q = int(target.n), int(target.q)
    seed = _seed_of(rng)
    ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
    if not enumerable:
        from verify.chain_tests import chain_test, plan_chain_sample_size

        if num_samples is None:
            num_samples = plan_chain_sample_size(target, tv=tv, alpha=alpha, power=power)
        samples = draw_samples(sampler, num_samples, n, q, ss_samples)
        ct = chain_test(samples, target, alpha=alpha, rng=ss_test)
        return ExactnessResult(
            passed=bool(ct.pvalue > alpha),
            statistic=ct.statistic,
            pvalue=ct.pvalue,
            method="chain",
            num_samples=num_samples,
            alpha=alpha,
            detectable_tv=ct.detectable_tv(power),
            tv_estimate=ct.tv_estimate,
            tv_upper=math.nan,
            worst_cells=ct.worst_cells,
            seed=seed,
            dof=math.nan,
            power=power,
            impossible_hits=0,
            details=dict(ct.pvalues),
        )
    try:
        pmf = np.asarray(target.pmf(), dtype=np.float64)
    except ParameterError as exc:
        raise ParameterError(
            f"`target.pmf()` failed ({exc}); use method='chain' for this target."
        ) from exc
    if pmf.shape != (q**n,):
        raise ParameterError(
            f"`target.pmf()` must have shape ({q**n},); got shape {pmf.shape}."
        )
    k = int(np.count_nonzero(pmf > 0))
    if num_samples is None:
        num_samples = _plan_k(k, tv, alpha, power)
    samples = draw_samples(sampler, num_samples, n, q, ss_samples)
    res = full_table_test(samples, pmf, q, method=method, alpha=alpha, rng=ss_test)
    cells = q**n
    tv_upper = min(
        1.0,
        res.tv_plugin
        + 0.5 * math.sqrt((cells - 1) / num_samples)
        + math.sqrt(math.log(1.0 / alpha) / (2.0 * num_samples)),
    )
    passed = bool(res.impossible_hits == 0 and res.pvalue > alpha)
    details: dict[str, float] = {"tv_plugin": res.tv_plugin, "support_size": float(k)}
    if res.resamples:
        details["resamples"] = float(res.resamples)
    return ExactnessResult(
        passed=passed,
        statistic=res.statistic,
        pvalue=res.pvalue,
        method=res.method,
        num_samples=num_samples,
        alpha=alpha,
        detectable_tv=detectable_tv(k, num_samples, alpha=alpha, power=power),
        tv_estimate=max(0.0, res.tv_plugin - res.tv_null),
        tv_upper=tv_upper,
        worst_cells=res.worst,
        seed=seed,
        dof=res.dof,
        power=power,
        impossible_hits=res.impossible_hits,
        details=details,
    )


SamplerLike = Callable[[int, np.random.Generator], np.ndarray]
