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
  tests** of :mod:`verify.chain_tests` (no table needed; large ``n``). So does an
  ``Enumerable`` target of more than ``AUTO_TABLE = 2**16`` cells under
  ``method="auto"``: its full-table test (up to ``MAX_TABLE = 2**20`` cells) runs
  only when asked for by name (``method="gtest"``, ``"pearson"`` or
  ``"montecarlo"``), because in the sparse regime its Monte Carlo null over up to a
  million cells costs minutes.

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

The planner is cross-checked by simulation in ``tests/verify/test_exactness.py`` (the
rejection rate of the G-test against a worst-case alternative at the planned size is
at least ``power`` within a binomial interval). This statement is asymptotic: it is
the power of the G-test and Pearson's test in the **dense regime** (every expected
count >= 5), checked against every two-block alternative in
``tests/verify/test_power_meta.py``.

Power in the sparse regime (what is actually tested)
----------------------------------------------------
With an expected count below 5 the noncentral chi-square figure overstates the
power (the variance of the statistic under a finite deviation is larger than the
local approximation says): on a Potts table of 729 cells at ``N = 400`` it stated TV
0.382 at power 0.99 while the Monte Carlo test had power 0.95 there. There, the
result's ``detectable_tv`` is computed for the test as run: the smallest TV at which
the simulated power of its rejection rule (Monte Carlo: its ``resamples``; a
G-test or Pearson test forced into this regime: its chi-square critical value)
against every alternative of :func:`two_block_alternatives` (mass moved
proportionally between the least likely cells, of mass 2 % ... 98 %, and the rest,
both ways; it contains the least-chi-square split in halves and the hardest
deviations of the sparse regime, a little more mass on many rare cells) is at least
``power`` plus one binomial standard error of the simulation. The alternatives the
normal approximation ranks hardest are simulated in a bisection (up to 1,000 draws
each, common random numbers), and the result is verified on every alternative. It is
the worst case over that family, not over every law at that TV; it is ``1.0``
(status ``"no-power"`` unless the test rejects) when no TV below 1 is detected, e.g.
with a single sample. The Potts case now states TV 0.435 (simulated worst power
0.996 there; ``tests/verify/test_power_meta.py`` re-checks every alternative with
independent draws). When :func:`check_exact` plans the size itself and the plan lands
in this regime, the size is grown (about 10-30 % on Dirichlet tables) until the
stated TV is at most the requested ``tv``.

Bounded cost
------------
Every argument is checked before any work. A plan or ``num_samples`` above
``max_samples`` (default :data:`MAX_SAMPLES` = ``10**8``) is refused with the size.
Monte Carlo tests use ``20 / alpha`` resamples, at least 999 and at most
``max_resamples`` (default :data:`MAX_RESAMPLES` = ``10**5``; the p-value
resolution ``1 / (resamples + 1)`` is in ``details``); a level below the resolution
is refused. Chain tests and :func:`check_batch_invariance` keep every sample and
refuse ``N x n`` above :data:`MAX_SAMPLE_ENTRIES` (``2**30``, 8 GiB).
``alpha`` is at least :data:`MIN_ALPHA` = ``1e-12`` and ``power``
exceeds ``alpha``. ``timeout`` bounds the wall time (checked between sampler calls
and Monte Carlo chunks). Counts are accumulated per call, so memory is ``O(q**n)``
for full-table tests whatever ``N``.

Batch size
----------
Samples are drawn in calls of ``batch_size`` rows (default: the sampler's own
``batch_size`` attribute, else ``2**17``), stated in the result.
:func:`check_batch_invariance` compares the laws drawn at two batch sizes (default 1
and the production size) with a two-sample test, so a sampler that is exact only in
small calls is caught.

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

import functools
import hashlib
import math
import numbers
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from distributions._validation import _short, check_choice, check_float, check_int
from distributions.errors import BudgetExceededError, ParameterError

__all__ = [
    "ExactnessResult",
    "BatchInvarianceResult",
    "WorstCell",
    "check_exact",
    "check_batch_invariance",
    "plan_sample_size",
    "detectable_tv",
    "draw_samples",
    "full_table_test",
    "MIN_EXPECTED",
    "MAX_SAMPLES",
    "MAX_RESAMPLES",
    "MIN_ALPHA",
    "MAX_SAMPLE_ENTRIES",
    "STATUSES",
    "two_block_alternatives",
]

#: Smallest expected count for which ``method="auto"`` uses the asymptotic G-test.
MIN_EXPECTED: float = 5.0
#: Largest table (``q**n``) for full-table tests; larger targets get chain tests.
MAX_TABLE: int = 2**20
#: Largest table that ``method="auto"`` tests in full; between this and
#: :data:`MAX_TABLE` cells ``"auto"`` falls back to the chain tests (a full-table
#: test there needs a sparse-regime Monte Carlo null over up to a million cells, whose
#: cost the caller should choose explicitly with ``method=``).
AUTO_TABLE: int = 2**16
#: Default cap on the number of samples a check draws (``max_samples``): a plan
#: above it is refused before any work, with the planned size in the message.
MAX_SAMPLES: int = 10**8
#: Default cap on Monte Carlo / permutation resamples (``max_resamples``); the
#: p-value resolution ``1 / (resamples + 1)`` is reported in ``details``.
MAX_RESAMPLES: int = 100_000
#: Largest ``samples x n`` held in memory (chain tests and the batch-invariance
#: check keep every sample: 8 bytes an entry, 8 GiB at the cap).
MAX_SAMPLE_ENTRIES: int = 2**30
#: Smallest supported level ``alpha``.
MIN_ALPHA: float = 1e-12
#: Status vocabulary of check results (the shared contract).
STATUSES: tuple[str, ...] = ("pass", "fail", "warn", "skipped", "no-power")
#: Samples drawn per sampler call by default (memory bound); the seed stream is fixed by it.
_CHUNK: int = 1 << 17
#: Alternative draws per TV value in the simulated power of the Monte Carlo tests.
_POWER_REPS: int = 1000
#: Tables up to this size are counted densely in the Monte Carlo draws.
_DENSE_CELLS: int = 1 << 14
#: Element budget (draws x sample size) of one simulated-power computation.
_POWER_WORK: float = 1.5e7
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


def _status_of(rejected: bool, detectable: float) -> str:
    """``"fail"`` on a rejection (valid at level alpha whatever the power), else
    ``"no-power"`` when no alternative is detectable at the size used, else ``"pass"``."""
    if rejected:
        return "fail"
    if not detectable < 1.0:
        return "no-power"
    return "pass"


def _settle_status(obj: Any) -> None:
    status = obj.status or ("pass" if obj.passed else "fail")
    if status not in STATUSES:
        raise ParameterError(f"`status` must be one of {', '.join(STATUSES)}; got {status!r}.")
    if bool(obj.passed) != (status == "pass"):
        raise ParameterError(
            f"`passed` must be True exactly for status 'pass'; got passed={obj.passed!r} "
            f"with status {status!r}."
        )
    object.__setattr__(obj, "status", status)


@dataclass(frozen=True)
class ExactnessResult:
    """Outcome of :func:`check_exact`.

    Attributes
    ----------
    passed : bool
        ``status == "pass"``.
    statistic : float
        Test statistic (G with Williams' correction, Pearson, bias-corrected
        chi-square, or the smallest Holm-adjusted p-value's ``-log10`` for chain tests).
    pvalue : float
        p-value of the exactness null (0 after an impossible-cell hit).
    method : str
        ``"gtest"``, ``"pearson"``, ``"montecarlo"``, ``"chain"``, ``"impossible"``
        or ``"trivial"``.
    num_samples : int
    alpha : float
    detectable_tv : float
        TV distance detected with probability at least ``power`` at this sample size,
        computed for the test actually run: G-test and Pearson, the noncentral
        chi-square worst case of the module docstring; Monte Carlo, simulated power
        of the test as run (its resamples) against the two-block alternatives of
        the module docstring; chain tests, TV of a one- or two-site marginal.
        ``1.0`` when no TV below 1 reaches ``power``.
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
        Sub-test p-values (chain tests) or auxiliary figures (``resamples`` and
        ``pvalue_resolution`` of a Monte Carlo test).
    status : str
        ``"pass"``, ``"fail"`` (p-value <= alpha or an impossible hit) or
        ``"no-power"`` (not rejected, but ``detectable_tv >= 1``: the test at this
        size cannot detect any alternative; not a pass). Derived from ``passed``
        when not given.
    batch_size : int
        Rows per sampler call used to draw the samples (0 when not recorded).
    power_against : str
        The deviations ``detectable_tv`` is stated for (full table: every deviation
        of the joint law; sparse regime: the two-block family; chain tests: their
        one- and two-site marginals, from :mod:`verify.chain_tests`).
    interaction_orders : tuple of int
        Orders of interaction the test has its stated power against (all ``1..n``
        for full-table tests).
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
    status: str = ""
    batch_size: int = 0
    power_against: str = ""
    interaction_orders: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _settle_status(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        d = asdict(self)
        d["worst_cells"] = [asdict(c) for c in self.worst_cells]
        d["details"] = dict(self.details)
        d["interaction_orders"] = list(self.interaction_orders)
        return d


@dataclass(frozen=True)
class BatchInvarianceResult:
    """Outcome of :func:`check_batch_invariance` (same protocol as :class:`ExactnessResult`).

    Attributes
    ----------
    passed : bool
        ``status == "pass"``.
    status : str
        ``"pass"``, ``"fail"`` (p-value <= alpha) or ``"no-power"``.
    statistic : float
        Pearson chi-square statistic of homogeneity of the two laws,
        ``sum_x (c1(x) - c2(x))**2 / (c1(x) + c2(x))`` over the observed cells.
    pvalue : float
    alpha : float
    num_samples : int
        Samples drawn at *each* batch size.
    detectable_tv : float
        TV between the two laws detected with probability at least ``power``
        (``"chi2"``: noncentral chi-square worst case with ``lambda = 2 N tv**2``;
        ``"permutation"``: simulated power against two-block alternatives).
    seed : int
        Replays the run with ``rng=seed``.
    method : str
        ``"chi2"`` (every expected count >= 5) or ``"permutation"`` (exact
        conditional test, Monte Carlo).
    batch_sizes : tuple of int
        The two batch sizes compared.
    power : float
    dof : float
    tv_estimate : float
        Plug-in TV between the two empirical laws.
    details : mapping of str to float
    """

    passed: bool
    status: str
    statistic: float
    pvalue: float
    alpha: float
    num_samples: int
    detectable_tv: float
    seed: int
    method: str
    batch_sizes: tuple[int, int]
    power: float = math.nan
    dof: float = math.nan
    tv_estimate: float = math.nan
    details: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _settle_status(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        d = asdict(self)
        d["batch_sizes"] = list(self.batch_sizes)
        d["details"] = dict(self.details)
        return d


# ---------------------------------------------------------------------- planning
@functools.lru_cache(maxsize=256)
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


def plan_sample_size(
    target_or_k: Any,
    *,
    tv: float,
    alpha: float,
    power: float,
    max_samples: int | None = MAX_SAMPLES,
) -> int:
    """Smallest sample size at which a TV-``tv`` sampler fails with probability ``power``.

    Parameters
    ----------
    target_or_k : int, ndarray, Enumerable or DiscreteOracle
        Support size ``k``, a pmf, an enumerable target (``k`` = its support size),
        or a non-enumerable oracle (plan of the chain-rule tests, see
        :func:`verify.chain_tests.plan_chain_sample_size`).
    tv : float in (0, 1)
    alpha : float in [1e-12, 1)
        Level of the test (:data:`MIN_ALPHA` is the smallest supported).
    power : float in (alpha, 1)
    max_samples : int or None, default :data:`MAX_SAMPLES` (``10**8``)
        A plan above it is infeasible: :class:`ParameterError` stating the size.
        ``None``: no cap.

    Returns
    -------
    int
        Worst case over alternatives at TV ``tv`` (module docstring): the
        noncentral chi-square power with ``lambda = 4 N tv**2`` and ``k - 1`` dof.
        For ``k = 1`` (a point mass), the size at which ``tv`` mass off the support
        is hit at least once with probability ``power``. This is the power of the
        G-test and Pearson's test; where the plan lands in the sparse regime (an
        expected count below 5), :func:`check_exact` runs the Monte Carlo test and
        reports the detectable TV that test actually has.

    Examples
    --------
    >>> plan_sample_size(64, tv=0.01, alpha=1e-3, power=0.99)
    217496
    """
    tv, alpha, power = _check_levels(tv, alpha, power)
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=1)
    if not isinstance(target_or_k, int | np.integer | np.ndarray) and not _is_enumerable(
        target_or_k
    ):
        if hasattr(target_or_k, "conditionals"):
            from verify.chain_tests import plan_chain_sample_size

            num = plan_chain_sample_size(target_or_k, tv=tv, alpha=alpha, power=power)
            _check_plan(num, max_samples, f"chain tests on n={target_or_k.n}", tv, alpha,
                        power)
            return num
    k = _support_size(target_or_k)
    num = _plan_k(k, tv, alpha, power)
    _check_plan(num, max_samples, f"support of {k:,} cells", tv, alpha, power)
    return num


def _check_plan(num: float, max_samples: int | None, what: str, tv: float, alpha: float,
                power: float) -> None:
    if max_samples is not None and num > max_samples:
        raise ParameterError(
            f"the planned sample size {num:,.0f} ({what}, tv={tv:g}, alpha={alpha:g}, "
            f"power={power:g}) exceeds `max_samples` = {max_samples:,}: the plan is "
            "infeasible; use a larger `tv` or raise `max_samples`."
        )


def _plan_k(k: int, tv: float, alpha: float, power: float) -> int:
    if k == 1:
        return max(1, math.ceil(math.log1p(-power) / math.log1p(-tv)))
    lam = _lambda_needed(k - 1, alpha, power)
    return max(1, math.ceil(lam / (4.0 * tv * tv)))


def detectable_tv(k: int, num_samples: int, *, alpha: float, power: float) -> float:
    """TV detected with probability ``power`` at ``num_samples`` (worst case, ``k`` cells).

    The noncentral chi-square figure of the G-test and Pearson's test (module
    docstring); ``1.0`` when no TV below 1 is detected.
    """
    k = check_int("k", k, low=1)
    num_samples = check_int("num_samples", num_samples, low=1)
    _, alpha, power = _check_levels(0.5, alpha, power)
    if k <= 1:
        return float(-math.expm1(math.log1p(-power) / num_samples))
    lam = _lambda_needed(k - 1, alpha, power)
    return float(min(1.0, math.sqrt(lam / (4.0 * num_samples))))


def _check_levels(tv: Any, alpha: Any, power: Any) -> tuple[float, float, float]:
    tv = check_float("tv", tv, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha = check_float("alpha", alpha, low=MIN_ALPHA, high=1.0, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    if power <= alpha:
        raise ParameterError(
            "`power` must be > `alpha` (a level-alpha test already rejects with "
            f"probability alpha when nothing deviates); got power={power!r} with "
            f"alpha={alpha!r}."
        )
    return tv, alpha, power


def _check_rng(rng: Any) -> Any:
    ok = rng is None or isinstance(
        rng, np.random.Generator | np.random.SeedSequence | np.random.BitGenerator
    )
    if not ok and isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        ok = int(rng) >= 0
    if not ok:
        raise ParameterError(
            "`rng` must be None, a non-negative integer seed, a numpy SeedSequence, "
            f"Generator or BitGenerator; got {_short(rng)}."
        )
    return rng


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    return check_float("timeout", timeout, low=0.0, low_open=True)


def _resamples_for(alpha: float, max_resamples: int) -> int:
    """Resamples of a Monte Carlo p-value: ``20 / alpha`` (resolution alpha / 20),
    at least 999, at most ``max_resamples``."""
    return int(min(max(999, math.ceil(20.0 / alpha) - 1), max_resamples))


def _check_resolution(alpha: float, max_resamples: int, what: str) -> int:
    resamples = _resamples_for(alpha, max_resamples)
    if alpha * (resamples + 1) < 1.0:
        raise ParameterError(
            f"`alpha` must be >= {1.0 / (resamples + 1):.3g} (the p-value resolution "
            f"1/(max_resamples + 1) of the {what}, which could never reject below it); "
            f"got {alpha!r} with max_resamples={max_resamples:,}. Use a larger alpha, a "
            "larger `max_resamples`, or more samples (G-test regime)."
        )
    return resamples


# ---------------------------------------------------------------------- sampling
def _seed_of(rng: Any) -> int:
    """Entropy of the SeedSequence of this run (replayable with ``rng=seed``)."""
    rng = _check_rng(rng)
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return int(rng)
    if rng is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(rng, np.random.SeedSequence) and not rng.spawn_key and isinstance(
        rng.entropy, int
    ):
        return int(rng.entropy)
    gen = np.random.default_rng(rng)
    return int(gen.integers(0, 2**63 - 1))


@dataclass
class _Deadline:
    """Wall-time budget of a check (``timeout`` seconds), checked between draws."""

    timeout: float | None
    what: str
    start: float = field(default_factory=time.monotonic)

    def check(self, where: str) -> None:
        if self.timeout is None:
            return
        elapsed = time.monotonic() - self.start
        if elapsed > self.timeout:
            raise BudgetExceededError(
                f"{self.what} exceeded its `timeout` budget of {self.timeout:g} s: "
                f"{elapsed:.3g} s elapsed {where}."
            )


def _resolve_batch_size(sampler: Any, batch_size: Any) -> int:
    if batch_size is None:
        own = getattr(sampler, "batch_size", None)
        if own is None:
            return _CHUNK
        return check_int("sampler.batch_size", own, low=1)
    return check_int("batch_size", batch_size, low=1)


def _check_output(out: Any, size: int, n: int, q: int) -> np.ndarray:
    """The sampler's answer to one call, as an int64 (size, n) array, or a ParameterError
    that blames the sampler's output and shows the value seen."""
    raw = getattr(out, "samples", out)
    try:
        arr = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"`sampler` output must be an integer array of shape ({size}, {n}); got "
            f"{_short(raw)}."
        ) from exc
    if arr.shape != (size, n):
        raise ParameterError(
            f"`sampler` output must have shape (num, n) = ({size}, {n}) for num={size}; "
            f"got shape {arr.shape} (dtype {arr.dtype})."
        )
    kind = arr.dtype.kind
    if kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if bad.any():
            r, c = (int(i) for i in np.argwhere(bad)[0])
            raise ParameterError(
                f"`sampler` output must be integers; got {float(arr[r, c])!r} at row {r}, "
                f"position {c} (dtype {arr.dtype})."
            )
    elif kind not in "iub":
        first = arr.flat[0].item() if arr.size else None
        raise ParameterError(
            f"`sampler` output must be an integer array; got dtype {arr.dtype} "
            f"(first value {first!r})."
        )
    arr = arr.astype(np.int64)
    if arr.size:
        bad = (arr < 0) | (arr > q - 1)
        if bad.any():
            r, c = (int(i) for i in np.argwhere(bad)[0])
            raise ParameterError(
                f"`sampler` output must have values in 0..{q - 1}; got {int(arr[r, c])} "
                f"at row {r}, position {c}."
            )
    return arr


def _call_sizes(num: int, batch_size: int, full: bool) -> list[int]:
    """Rows asked per call: ``batch_size`` each; the last call asks for the remainder
    (``full=False``) or for a whole batch whose surplus is discarded (``full=True``)."""
    sizes = [batch_size] * (num // batch_size)
    rest = num - batch_size * len(sizes)
    if rest:
        sizes.append(batch_size if full else rest)
    return sizes


def _iter_draws(
    sampler: Any,
    num: int,
    n: int,
    q: int,
    seedseq: np.random.SeedSequence,
    batch_size: int,
    deadline: _Deadline | None = None,
    full: bool = False,
) -> Iterator[np.ndarray]:
    """Validated sampler answers, ``num`` rows in total, in calls of ``batch_size`` rows.

    One spawned stream per group of calls covering up to ``2**17`` rows (one stream
    per call when ``batch_size >= 2**17``), so the default draws are unchanged.
    """
    sizes = _call_sizes(num, batch_size, full)
    per_stream = max(1, _CHUNK // batch_size)
    groups = [sizes[i:i + per_stream] for i in range(0, len(sizes), per_stream)]
    use_sample = hasattr(sampler, "sample") and callable(sampler.sample)
    done = 0
    for group, child in zip(groups, seedseq.spawn(len(groups)), strict=True):
        gen = np.random.default_rng(child)
        for size in group:
            out = sampler.sample(size, rng=gen) if use_sample else sampler(size, gen)
            arr = _check_output(out, size, n, q)
            keep = min(size, num - done)
            done += keep
            yield arr if keep == size else arr[:keep]
            if deadline is not None:
                deadline.check(f"after drawing {done:,} of {num:,} samples in calls of "
                               f"{batch_size:,} rows")


def draw_samples(
    sampler: Any,
    num: int,
    n: int,
    q: int,
    seedseq: np.random.SeedSequence,
    *,
    batch_size: int = _CHUNK,
    timeout: float | None = None,
) -> np.ndarray:
    """Draw ``num`` samples in calls of ``batch_size`` rows (default ``2**17``).

    ``sampler`` is a :class:`~samplers.base.Sampler` (``.sample(num, rng=...)``
    returning a :class:`~samplers.base.SampleResult` or an array) or a callable
    ``(num, rng) -> (num, n)`` int array. Each call asks for ``batch_size`` rows
    (the last for the remainder); calls covering up to ``2**17`` rows share one
    spawned stream. A ``timeout`` (seconds) raises :class:`BudgetExceededError`
    between calls.
    """
    num = check_int("num", num, low=0)
    batch_size = check_int("batch_size", batch_size, low=1)
    deadline = _Deadline(_check_timeout(timeout), "draw_samples")
    chunks = list(_iter_draws(sampler, num, n, q, seedseq, batch_size, deadline))
    return np.concatenate(chunks, axis=0) if chunks else np.zeros((0, n), dtype=np.int64)


def _count_cells(draws: Iterator[np.ndarray], n: int, q: int) -> np.ndarray:
    """Counts of every configuration (C order) over the draws, memory O(q**n)."""
    cells = q**n
    counts = np.zeros(cells, dtype=np.float64)
    buf: list[np.ndarray] = []
    rows = 0

    def flush() -> None:
        x = np.concatenate(buf, axis=0)
        counts[:] += np.bincount(np.ravel_multi_index(x.T, (q,) * n), minlength=cells)
        buf.clear()

    for arr in draws:
        buf.append(arr)
        rows += arr.shape[0]
        if rows >= _CHUNK:
            flush()
            rows = 0
    if buf:
        flush()
    return counts


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


def _adk_counts(counts: np.ndarray, inv_exp: np.ndarray, num: int) -> np.ndarray:
    """The same statistic as ``sum N_i (N_i - 1) / E_i - N`` (``sum E_i = N``): only
    the occupied cells contribute, so a sparse sample costs O(N), not O(k)."""
    return (counts * (counts - 1.0)) @ inv_exp - num


def _alias(law: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker-Vose alias table of ``law`` (O(1) draws)."""
    k = law.size
    scaled = law / law.sum() * k
    prob = np.ones(k)
    alias = np.arange(k)
    small = [i for i in range(k) if scaled[i] < 1.0]
    large = [i for i in range(k) if scaled[i] >= 1.0]
    while small and large:
        s_, l_ = small.pop(), large.pop()
        prob[s_], alias[s_] = scaled[s_], l_
        scaled[l_] -= 1.0 - scaled[s_]
        (small if scaled[l_] < 1.0 else large).append(l_)
    return prob, alias


def _sparse_draws(cdf: np.ndarray, num: int, m: int, gen: np.random.Generator,
                  table: tuple[np.ndarray, np.ndarray] | None = None,
                  ) -> tuple[np.ndarray, np.int64]:
    """``m`` samples of size ``num``: (row * k + cell) keys, and k. By the alias
    ``table`` when given, else by inversion of ``cdf``."""
    k = cdf.size
    if table is not None:
        prob, alias = table
        idx = gen.integers(0, k, size=(m, num))
        idx = np.where(gen.random((m, num)) < prob[idx], idx, alias[idx])
    else:
        idx = np.searchsorted(cdf, gen.random((m, num)), side="right")
        np.minimum(idx, k - 1, out=idx)
    return (np.arange(m, dtype=np.int64)[:, None] * k + idx).ravel(), np.int64(k)


def _cdf(law: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(law)
    return cdf / cdf[-1]


def _stat_weights(kind: str, inv_exp: np.ndarray, num: int,
                  wq: float = 1.0) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], float]:
    """Per-cell weight ``w(count, cell)`` (zero at count 0) and offset: the statistic is
    ``sum_cells w - offset`` ("montecarlo": bias-corrected chi-square; "pearson";
    "gtest": G with Williams' factor ``wq``)."""
    if kind == "montecarlo":
        return (lambda c, i: c * (c - 1.0) * inv_exp[i]), float(num)
    if kind == "pearson":
        return (lambda c, i: c * c * inv_exp[i]), float(num)

    def g(c: np.ndarray, i: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(c > 0, 2.0 * c * np.log(c * inv_exp[i]) / wq, 0.0)

    return g, 0.0


def _onesample_stats(law: np.ndarray, inv_exp: np.ndarray, num: int, reps: int,
                     gen: np.random.Generator, deadline: _Deadline | None,
                     kind: str = "montecarlo", wq: float = 1.0) -> np.ndarray:
    """Statistic ``kind`` (default: bias-corrected chi-square) of ``reps``
    multinomial(num, law) samples."""
    k = law.size
    weight, offset = _stat_weights(kind, inv_exp, num, wq)
    out = np.empty(reps)
    # three draw paths by cost: multinomial O(k) per sample when num >= k; inversion
    # with a dense bincount O(num + k); inversion with a sort O(num log num) for huge k
    mode = "multinomial" if num >= 8 * k else ("dense" if k <= _DENSE_CELLS else "sort")
    chunk = max(1, int(4e6 // (k if mode == "multinomial" else max(k, num))))
    cdf = _cdf(law)
    table = _alias(law) if mode == "dense" else None
    law = law / law.sum()
    cells = np.arange(k)
    for start in range(0, reps, chunk):
        m = min(chunk, reps - start)
        if mode == "multinomial":
            sims = gen.multinomial(num, law, size=m).astype(np.float64)
            out[start:start + m] = weight(sims, cells[None, :]).sum(axis=1) - offset
        else:
            key, kk = _sparse_draws(cdf, num, m, gen, table)
            if mode == "dense":
                sims = np.bincount(key, minlength=m * k).reshape(m, k).astype(np.float64)
                out[start:start + m] = weight(sims, cells[None, :]).sum(axis=1) - offset
            else:
                u, c = np.unique(key, return_counts=True)
                out[start:start + m] = np.bincount(
                    u // kk, weights=weight(c.astype(np.float64), u % kk), minlength=m
                ) - offset
        if deadline is not None:
            deadline.check(f"after {start + m:,} of {reps:,} Monte Carlo draws")
    return out


def _twosample_stats(ref: np.ndarray, law: np.ndarray, num: int, reps: int,
                     gen: np.random.Generator, deadline: _Deadline | None) -> np.ndarray:
    """Pearson homogeneity statistic of ``reps`` pairs of samples of size ``num``
    (first from ``ref``, second from ``law``)."""
    k = ref.size
    out = np.empty(reps)
    sparse = 2 * num < k
    chunk = max(1, int(4e6 // (2 * num if sparse else k)))
    cdf_ref, cdf_law = _cdf(ref), _cdf(law)
    t_ref = _alias(ref) if k <= _DENSE_CELLS else None
    t_law = _alias(law) if k <= _DENSE_CELLS else None
    ref, law = ref / ref.sum(), law / law.sum()
    for start in range(0, reps, chunk):
        m = min(chunk, reps - start)
        if sparse:
            k1, kk = _sparse_draws(cdf_ref, num, m, gen, t_ref)
            k2, _ = _sparse_draws(cdf_law, num, m, gen, t_law)
            u, inv = np.unique(np.concatenate([k1, k2]), return_inverse=True)
            c1 = np.bincount(inv[:k1.size], minlength=u.size).astype(np.float64)
            c2 = np.bincount(inv[k1.size:], minlength=u.size).astype(np.float64)
            out[start:start + m] = np.bincount(u // kk, weights=(c1 - c2) ** 2 / (c1 + c2),
                                               minlength=m)
        else:
            c1 = gen.multinomial(num, ref, size=m).astype(np.float64)
            c2 = gen.multinomial(num, law, size=m).astype(np.float64)
            t = c1 + c2
            out[start:start + m] = np.sum((c1 - c2) ** 2 / np.where(t > 0, t, 1.0), axis=1)
        if deadline is not None:
            deadline.check(f"after {start + m:,} of {reps:,} Monte Carlo draws")
    return out


def _mc_crit(null: np.ndarray, alpha: float) -> float:
    """The test rejects iff ``(1 + #{null >= t}) / (R + 1) <= alpha``, i.e. iff ``t``
    exceeds the returned order statistic (``inf``: it can never reject)."""
    r = null.size
    m0 = math.floor(alpha * (r + 1) * (1 + 1e-12)) - 1
    if m0 < 0:
        return math.inf
    return float(np.sort(null)[r - 1 - m0])


def _mc_pvalue(
    obs: np.ndarray, p: np.ndarray, num: int, alpha: float, gen: np.random.Generator,
    max_resamples: int = MAX_RESAMPLES, deadline: _Deadline | None = None,
) -> tuple[float, float, int, np.ndarray]:
    """Monte Carlo p-value of the bias-corrected chi-square under multinomial(num, p)."""
    inv_exp = 1.0 / (p * num)
    t_obs = float(_adk_counts(obs, inv_exp, num))
    resamples = _check_resolution(alpha, max_resamples, "Monte Carlo test")
    null = _onesample_stats(p, inv_exp, num, resamples, gen, deadline)
    ge = int(np.count_nonzero(null >= t_obs - 1e-9 * max(1.0, abs(t_obs))))
    return t_obs, (1.0 + ge) / (resamples + 1.0), resamples, null


# ------------------------------------------------- simulated power (Monte Carlo tests)
_SPLITS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
                              0.95, 0.98)


def _split_points(p: np.ndarray, order: np.ndarray) -> list[tuple[int, float]]:
    """(last index in ``order`` of the rare block, its mass) for each split."""
    cum = np.cumsum(p[order])
    out: dict[int, float] = {}
    for frac in _SPLITS:
        j = min(int(np.searchsorted(cum, frac)), p.size - 2)
        if j >= 0:
            out[j] = float(cum[j])
    return sorted(out.items())


def _family_max_tv(p: np.ndarray) -> float:
    """Largest TV reached by :func:`two_block_alternatives` around ``p``."""
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    pts = _split_points(p, np.argsort(p, kind="stable"))
    return max((max(a, 1.0 - a) for _, a in pts), default=0.0)


def two_block_alternatives(p: np.ndarray, tv: float) -> list[tuple[str, np.ndarray]]:
    """Alternatives at TV exactly ``tv`` from ``p`` moving mass between a set ``A`` of
    the least likely cells (mass ``a`` close to each split of :data:`_SPLITS`) and the
    rest, proportionally within each block: ``s = p (1 + tv / a)`` on ``A`` and
    ``p (1 - tv / (1 - a))`` elsewhere ("rare-up"), or the reverse ("rare-down").

    ``a = 1/2`` gives the alternatives of least chi-square divergence (``4 tv**2``);
    "rare-up" with small ``a`` raises the variance of the statistic most (many
    cells, each a little more likely), the hardest deviations to see in the sparse
    regime. Labels read ``"rare-up a=0.500"``.
    """
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum()
    order = np.argsort(p, kind="stable")
    out: list[tuple[str, np.ndarray]] = []
    for j, a in _split_points(p, order):
        cells = order[:j + 1]
        for up in (True, False):
            fa, fb = (1 + tv / a, 1 - tv / (1 - a)) if up else (1 - tv / a, 1 + tv / (1 - a))
            if min(fa, fb) < 0:
                continue
            s = p * fb
            s[cells] = p[cells] * fa
            out.append((f"{'rare-up' if up else 'rare-down'} a={a:.3f}", s))
    return out


def _score(p: np.ndarray, s: np.ndarray, num: int, crit: float) -> float:
    """Normal-approximation z of the power (Poissonised moments of the statistic);
    used only to rank alternatives, the power itself is simulated."""
    d = s - p
    mean = num * float(np.sum(d * d / p))
    var = 2.0 * float(np.sum((s / p) ** 2)) + 4.0 * num * float(np.sum(s * d * d / p**2))
    return (mean - crit) / math.sqrt(var)


def _simulated_detectable_tv(
    p: np.ndarray,
    num: int,
    crit: float,
    power: float,
    stats_of: Callable[[np.ndarray, int, np.random.Generator], np.ndarray],
    seed: int,
    *,
    cost: int,
    iterations: int = 8,
    guess: float | None = None,
) -> tuple[float, float, str]:
    """Smallest TV at which the simulated power of "reject iff statistic > crit"
    against every tried two-block alternative is at least ``power`` (plus one
    binomial standard error of the simulation); ``(1.0, power_seen, label)`` if none.

    The bisection simulates the three alternatives that the normal approximation
    ranks hardest at each TV, with common random numbers (seed ``seed``) across TVs;
    the TV it finds is then verified against *every* alternative of the family and
    raised until all of them reach the target.
    """
    if not math.isfinite(crit):
        return 1.0, 0.0, "cannot reject"
    reps = int(min(_POWER_REPS, max(200, _POWER_WORK / (3 * (iterations + 1) * cost))))
    target = min(1.0, power + math.sqrt(power * (1 - power) / reps))

    def worst(tv: float, top: int | None = 3) -> tuple[float, str]:
        cands = two_block_alternatives(p, tv)
        if not cands:
            return 0.0, "none"
        cands.sort(key=lambda c: _score(p, c[1], num, crit))
        res = []
        for label, s in cands[:top]:
            sims = stats_of(s, reps, np.random.default_rng(seed))
            res.append((float(np.mean(sims > crit)), label))
        return min(res)

    hi = _family_max_tv(p) * (1 - 1e-6)
    best: tuple[float, float, str] | None = None
    if guess is not None and 0.0 < 2.0 * guess < hi:
        pw, lab = worst(2.0 * guess)
        if pw >= target:
            best = (2.0 * guess, pw, lab)
    if best is None:
        pw_hi, lab_hi = worst(hi)
        if pw_hi < target:
            return 1.0, pw_hi, lab_hi
        best = (hi, pw_hi, lab_hi)
    lo = 0.25 * best[0] if guess is None else min(0.5 * guess, 0.5 * best[0])
    for _ in range(iterations):  # bisection in log scale: relative precision
        mid = math.sqrt(lo * best[0])
        pw, lab = worst(mid)
        if pw >= target:
            best = (mid, pw, lab)
        else:
            lo = mid
    for _ in range(20):  # verification against the whole family
        pw, lab = worst(best[0], None)
        if pw >= target:
            return best[0], pw, lab
        if best[0] >= hi:
            return 1.0, pw, lab
        best = (min(hi, best[0] + 0.05 * (hi - best[0]) + 1e-3), pw, lab)
    return 1.0, best[1], best[2]


_DETECTABLE_CACHE: dict[tuple[Any, ...], tuple[float, float]] = {}


def _sparse_detectable_tv(p: np.ndarray, num: int, alpha: float, power: float, kind: str,
                          resamples: int, deadline: _Deadline | None) -> tuple[float, float]:
    """Detectable TV (and the simulated power at it) of the one-sample test ``kind`` as
    run on ``num`` samples from a law with support probabilities ``p``: the Monte Carlo
    test with ``resamples`` null draws (its rejection rule on one null simulation of
    that size), or the G / Pearson test with its chi-square critical value.

    Deterministic in its arguments (seeded from them) and memoised, so repeated checks
    of one target at one size pay for it once.
    """
    key = (hashlib.sha256(p.tobytes()).hexdigest(), num, alpha, power, kind, resamples)
    if key in _DETECTABLE_CACHE:
        return _DETECTABLE_CACHE[key]
    seeds = np.random.SeedSequence(
        int.from_bytes(hashlib.sha256(repr(key).encode()).digest()[:8], "little")
    ).spawn(2)
    k = p.size
    inv_exp = 1.0 / (p * num)
    wq = 1.0
    if kind == "montecarlo":
        null = _onesample_stats(p, inv_exp, num, resamples, np.random.default_rng(seeds[0]),
                                deadline)
        crit = _mc_crit(null, alpha)
    else:
        if kind == "gtest":
            wq = 1.0 + (float(np.sum(1.0 / p)) - 1.0) / (6.0 * num * (k - 1))
        crit = float(stats.chi2.isf(alpha, k - 1))
    det, pw, _ = _simulated_detectable_tv(
        p, num, crit, power,
        lambda s, r, g: _onesample_stats(s, inv_exp, num, r, g, deadline, kind, wq),
        int(seeds[1].generate_state(1)[0]), cost=min(num, k),
        guess=detectable_tv(k, num, alpha=alpha, power=power),
    )
    if len(_DETECTABLE_CACHE) >= 64:
        _DETECTABLE_CACHE.clear()
    _DETECTABLE_CACHE[key] = (det, pw)
    return det, pw


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
    null: np.ndarray | None = None
    p: np.ndarray | None = None


def full_table_test(
    samples: np.ndarray,
    pmf: np.ndarray,
    q: int,
    *,
    method: str = "auto",
    alpha: float = 1e-3,
    rng: Any = None,
    num_worst: int = 5,
    max_resamples: int = MAX_RESAMPLES,
) -> _TableTest:
    """Full-table test of ``samples`` (num, n) against the flat C-order ``pmf``."""
    samples = np.asarray(samples)
    num, n = samples.shape
    idx = np.ravel_multi_index(samples.T, (q,) * n) if num else np.zeros(0, np.int64)
    counts = np.bincount(idx, minlength=q**n).astype(np.float64)
    return _table_test(counts, np.asarray(pmf, dtype=np.float64), q, n, method=method,
                       alpha=alpha, gen=np.random.default_rng(rng), num_worst=num_worst,
                       max_resamples=max_resamples)


def _resolve_method(method: str, exp_min: float) -> str:
    if method == "auto":
        return "gtest" if exp_min >= MIN_EXPECTED else "montecarlo"
    return method


def _table_test(
    counts: np.ndarray,
    pmf: np.ndarray,
    q: int,
    n: int,
    *,
    method: str,
    alpha: float,
    gen: np.random.Generator,
    num_worst: int = 5,
    max_resamples: int = MAX_RESAMPLES,
    deadline: _Deadline | None = None,
) -> _TableTest:
    num = int(round(counts.sum()))
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
    method = _resolve_method(method, float(exp.min()))
    if method == "gtest":
        g, dof = _g_williams(obs, exp, p, num)
        return _TableTest(g, float(stats.chi2.sf(g, dof)), "gtest", float(dof), 0,
                          tv_plugin, tv_null, worst, 0)
    if method == "pearson":
        x2 = float(np.sum((obs - exp) ** 2 / exp))
        return _TableTest(x2, float(stats.chi2.sf(x2, k - 1)), "pearson", float(k - 1), 0,
                          tv_plugin, tv_null, worst, 0)
    if method == "montecarlo":
        t, pv, r, null = _mc_pvalue(obs, p, num, alpha, gen, max_resamples, deadline)
        return _TableTest(t, pv, "montecarlo", math.nan, 0, tv_plugin, tv_null, worst, r,
                          null, p)
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
    if enumerable and method == "auto" and int(target.q) ** int(target.n) > AUTO_TABLE:
        enumerable = False  # documented fall-back: chain tests above AUTO_TABLE cells
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


def _target_pmf(target: Any, n: int, q: int) -> np.ndarray:
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
    return pmf


def _check_size(num: int, max_samples: int | None, what: str) -> None:
    if max_samples is not None and num > max_samples:
        raise ParameterError(
            f"`num_samples` must be <= max_samples = {max_samples:,} ({what}); got {num:,}."
        )


def _check_memory(num: int, n: int, what: str) -> None:
    if num * n > MAX_SAMPLE_ENTRIES:
        raise ParameterError(
            f"{what} keeps every sample: {num:,} samples x n={n:,} = {num * n:,} entries "
            f"exceed the memory cap of {MAX_SAMPLE_ENTRIES:,} (8 GiB); use fewer samples "
            "(a larger `tv`)."
        )


def _plan_sparse(p: np.ndarray, num: int, method: str, tv: float, alpha: float,
                 power: float, max_samples: int | None, max_resamples: int,
                 deadline: _Deadline) -> tuple[int, str]:
    """Grow a noncentral chi-square plan that lands in the sparse regime until the test
    as run there has simulated detectable TV <= ``tv`` (or the regime turns dense,
    where the noncentral chi-square figure holds). Returns the size and the method."""
    resolved = _resolve_method(method, num * float(p.min()))
    for _ in range(12):
        exp_min = num * float(p.min())
        resolved = _resolve_method(method, exp_min)
        if exp_min >= MIN_EXPECTED:
            break
        resamples = _resamples_for(alpha, max_resamples) if resolved == "montecarlo" else 0
        det, _ = _sparse_detectable_tv(p, num, alpha, power, resolved, resamples, deadline)
        if det <= tv:
            break
        grow = min(4.0, max(1.1, (det / tv) ** 2)) if det < 1.0 else 4.0
        num = math.ceil(num * grow)
        _check_plan(num, max_samples, f"support of {p.size:,} cells, sparse regime", tv,
                    alpha, power)
    return num, resolved


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
    batch_size: int | None = None,
    timeout: float | None = None,
    max_samples: int | None = MAX_SAMPLES,
    max_resamples: int = MAX_RESAMPLES,
) -> ExactnessResult:
    """Test whether ``sampler`` draws exactly from ``target``, with stated power.

    Every argument is checked (and the sample size planned) before any sample is
    drawn; a bad one raises :class:`~verify.errors.ParameterError` naming it.

    Parameters
    ----------
    sampler : Sampler or callable
        ``sampler.sample(num, rng=...)`` or ``sampler(num, rng) -> (num, n)`` ints.
        An answer of the wrong shape, a non-integer dtype or a value outside
        ``0..q-1`` raises :class:`ParameterError` quoting the value seen.
    target : Enumerable or DiscreteOracle
        With ``pmf`` (and ``q**n <= 2**20``): full-table test. Otherwise chain-rule
        tests (:mod:`verify.chain_tests`).
    num_samples : int >= 1, optional
        Default: :func:`plan_sample_size` for ``(tv, alpha, power)``; when that size
        is in the sparse regime (an expected count below 5), it is grown until the
        simulated detectable TV of the test run there is at most ``tv``.
    tv : float in (0, 1), default 0.02
        TV distance that must be detected with probability ``power``.
    alpha : float in [1e-12, 1), default 1e-3
        Level: a correct sampler fails with probability at most ``alpha``
        (asymptotically for the G-test and chain tests, exactly up to Monte Carlo
        resolution for ``"montecarlo"``). The Monte Carlo test also needs
        ``alpha >= 1 / (max_resamples + 1)``.
    power : float in (alpha, 1), default 0.99
    method : {"auto", "gtest", "pearson", "montecarlo", "chain"}
        ``"auto"``: G-test when every expected count is >= 5, else Monte Carlo;
        ``"chain"`` for a target without a table.
    rng : None, int >= 0, SeedSequence, Generator or BitGenerator, optional
        A seed is drawn from it (``SeedSequence``); the result's ``seed`` replays.
    batch_size : int >= 1, optional
        Rows per sampler call (the last call asks for the remainder). Default: the
        sampler's own ``batch_size`` attribute if it has one, else ``2**17``. The
        size used is stated in the result; a sampler whose law depends on the batch
        size is caught by :func:`check_batch_invariance`.
    timeout : float > 0, optional
        Wall-time budget of the whole check in seconds, checked between sampler
        calls and between Monte Carlo chunks: :class:`BudgetExceededError` beyond it.
    max_samples : int >= 1 or None, default :data:`MAX_SAMPLES` (``10**8``)
        Largest sample size drawn; a larger plan or ``num_samples`` is refused
        before any work with the size in the message. ``None``: no cap.
    max_resamples : int >= 1, default :data:`MAX_RESAMPLES` (``10**5``)
        Cap on the Monte Carlo resamples (``20 / alpha`` are used up to it; the
        p-value resolution ``1 / (resamples + 1)`` is in ``details``).

    Returns
    -------
    ExactnessResult
        ``status`` is "pass", "fail" or "no-power" (not rejected, but the test at
        this size detects no TV below 1; not a pass).

    Examples
    --------
    >>> import numpy as np
    >>> from distributions.table import TableDistribution
    >>> from samplers.sequential import SequentialSampler
    >>> d = TableDistribution(np.arange(1.0, 9.0).reshape(2, 2, 2))
    >>> res = check_exact(SequentialSampler(d), d, tv=0.05, rng=1)
    >>> res.passed, res.status, res.method
    (True, 'pass', 'gtest')
    """
    num_samples, tv, alpha, power, method, enumerable = _iv(
        sampler, target, num_samples, tv, alpha, power, method
    )
    rng = _check_rng(rng)
    bsize = _resolve_batch_size(sampler, batch_size)
    timeout = _check_timeout(timeout)
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=1)
    max_resamples = check_int("max_resamples", max_resamples, low=1)
    n, q = int(target.n), int(target.q)
    if num_samples is not None:
        _check_size(num_samples, max_samples, "the cap of this check")
    if not enumerable:
        from verify.chain_tests import chain_test, plan_chain_sample_size

        if num_samples is None:
            num_samples = plan_chain_sample_size(target, tv=tv, alpha=alpha, power=power)
            _check_plan(num_samples, max_samples, f"chain tests on n={n}", tv, alpha, power)
        _check_memory(num_samples, n, "the chain test")
        seed = _seed_of(rng)
        ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
        deadline = _Deadline(timeout, "check_exact")
        samples = np.concatenate(list(_iter_draws(sampler, num_samples, n, q, ss_samples,
                                                  bsize, deadline)), axis=0)
        ct = chain_test(samples, target, alpha=alpha, power=power, rng=ss_test)
        deadline.check("after the chain tests")
        det = ct.detectable_tv(power)
        rejected = bool(ct.pvalue <= alpha or getattr(ct, "impossible", ""))
        status = _status_of(rejected, det)
        if getattr(ct, "status", None) in ("fail", "no-power") and status != "fail":
            status = ct.status  # the chain family's own verdict (e.g. degenerate sub-tests)
        return ExactnessResult(
            passed=status == "pass",
            statistic=ct.statistic,
            pvalue=ct.pvalue,
            method="chain",
            num_samples=num_samples,
            alpha=alpha,
            detectable_tv=det,
            tv_estimate=ct.tv_estimate,
            tv_upper=math.nan,
            worst_cells=ct.worst_cells,
            seed=seed,
            dof=math.nan,
            power=power,
            impossible_hits=0,
            details=dict(ct.pvalues),
            status=status,
            batch_size=bsize,
            power_against=str(getattr(ct, "power_against", "")),
            interaction_orders=tuple(int(o) for o in getattr(ct, "interaction_orders", ())),
        )
    pmf = _target_pmf(target, n, q)
    support = pmf > 0
    k = int(np.count_nonzero(support))
    planned = num_samples is None
    if num_samples is None:
        num_samples = _plan_k(k, tv, alpha, power)
        _check_plan(num_samples, max_samples, f"support of {k:,} cells", tv, alpha, power)
    p_support = pmf[support] / pmf[support].sum()
    resolved = _resolve_method(method, num_samples * float(p_support.min())) if k > 1 else method
    if resolved == "montecarlo":
        _check_resolution(alpha, max_resamples, "Monte Carlo test")
    deadline = _Deadline(timeout, "check_exact")
    if planned and k > 1:
        num_samples, resolved = _plan_sparse(p_support, num_samples, method, tv, alpha, power,
                                             max_samples, max_resamples, deadline)
    seed = _seed_of(rng)
    ss_samples, ss_test = np.random.SeedSequence(seed).spawn(2)
    counts = _count_cells(_iter_draws(sampler, num_samples, n, q, ss_samples, bsize,
                                      deadline), n, q)
    res = _table_test(counts, pmf, q, n, method=resolved, alpha=alpha,
                      gen=np.random.default_rng(ss_test), max_resamples=max_resamples,
                      deadline=deadline)
    details: dict[str, float] = {"tv_plugin": res.tv_plugin, "support_size": float(k)}
    det = detectable_tv(k, num_samples, alpha=alpha, power=power)
    exp_min = num_samples * float(p_support.min())
    if res.method == "montecarlo":
        details["resamples"] = float(res.resamples)
        details["pvalue_resolution"] = 1.0 / (res.resamples + 1.0)
    if res.method == "montecarlo" or (res.method in ("gtest", "pearson")
                                      and exp_min < MIN_EXPECTED):
        # the Monte Carlo test, or an asymptotic test forced into the sparse regime:
        # the power of the test as run is simulated (the noncentral chi-square figure
        # does not hold there)
        det, pw = _sparse_detectable_tv(p_support, num_samples, alpha, power, res.method,
                                        res.resamples, deadline)
        details["simulated_power"] = pw
        against = ("two-block deviations of the joint law (mass moved proportionally "
                   "between the least likely cells and the rest; simulated power of the "
                   "test as run)")
    else:
        against = (f"every deviation of the joint law at TV >= detectable_tv (full table "
                   f"of {k:,} support cells)")
    cells = q**n
    tv_upper = min(
        1.0,
        res.tv_plugin
        + 0.5 * math.sqrt((cells - 1) / num_samples)
        + math.sqrt(math.log(1.0 / alpha) / (2.0 * num_samples)),
    )
    rejected = bool(res.impossible_hits > 0 or res.pvalue <= alpha)
    status = _status_of(rejected, det)
    return ExactnessResult(
        passed=status == "pass",
        statistic=res.statistic,
        pvalue=res.pvalue,
        method=res.method,
        num_samples=num_samples,
        alpha=alpha,
        detectable_tv=det,
        tv_estimate=max(0.0, res.tv_plugin - res.tv_null),
        tv_upper=tv_upper,
        worst_cells=res.worst,
        seed=seed,
        dof=res.dof,
        power=power,
        impossible_hits=res.impossible_hits,
        details=details,
        status=status,
        batch_size=bsize,
        power_against=against,
        interaction_orders=tuple(range(1, n + 1)),
    )


def _shape_of(sampler: Any, target: Any) -> tuple[int, int]:
    src = target if target is not None else sampler
    try:
        n, q = src.n, src.q
    except AttributeError:
        raise ParameterError(
            "`target` must be given (an object with `n` and `q`) when the sampler has no "
            f"`n` and `q` attributes; got target={_short(target)} and a sampler of type "
            f"{type(sampler).__name__}."
        ) from None
    return check_int("n", n, low=1), check_int("q", q, low=2)


def check_batch_invariance(
    sampler: Any,
    *,
    batch_sizes: tuple[int, int] | None = None,
    target: Any = None,
    num_samples: int | None = None,
    tv: float = 0.05,
    alpha: float = 1e-3,
    power: float = 0.99,
    rng: Any = None,
    timeout: float | None = None,
    max_samples: int | None = MAX_SAMPLES,
    max_resamples: int = MAX_RESAMPLES,
) -> BatchInvarianceResult:
    """Test that the sampler's law does not depend on the batch size of its calls.

    ``num_samples`` rows are drawn at each of two batch sizes, every call asking for
    exactly that many rows (the surplus of the last call is discarded, so the law is
    the one of production-size calls), and the two empirical laws of the joint
    configurations are compared by a two-sample test of homogeneity: Pearson's
    ``X = sum (c1 - c2)**2 / (c1 + c2)`` over the observed configurations, with the
    chi-square reference (``method="chi2"``) when every pooled count is >= 10, else
    the exact conditional (permutation) null by Monte Carlo (``"permutation"``).

    Parameters
    ----------
    sampler : Sampler or callable
        As for :func:`check_exact`.
    batch_sizes : pair of distinct ints >= 1, optional
        Default ``(1, B)`` with ``B`` the sampler's ``batch_size`` attribute if it has
        one, else ``2**17`` (the production size of :func:`check_exact`).
    target : Enumerable or DiscreteOracle, optional
        Gives ``n`` and ``q`` (else the sampler's own ``n``, ``q``) and, with a
        table, the support size used for planning and the reference law of the
        simulated power. Without a table the planning assumes
        ``min(q**n, 2**20)`` cells.
    num_samples : int >= 1, optional
        Samples per batch size; default: smallest ``N`` with worst-case power
        ``power`` at TV ``tv`` between the two laws (noncentral chi-square with
        ``lambda = 2 N tv**2``, Cauchy-Schwarz as in the module docstring).
    tv : float in (0, 1), default 0.05
        At batch size 1 the check makes one sampler call per sample, so its cost
        is ``num_samples`` times the sampler's per-call overhead: a larger ``tv``
        (hence a smaller planned size) keeps it affordable.
    alpha : float in [1 / (max_resamples + 1), 1), default 1e-3
    power : float in (alpha, 1), default 0.99
    rng : None, int >= 0, SeedSequence, Generator or BitGenerator, optional
    timeout : float > 0, optional
        Wall-time budget in seconds (:class:`BudgetExceededError`), checked between
        sampler calls and Monte Carlo chunks.
    max_samples : int or None, default :data:`MAX_SAMPLES`
        Cap on the samples drawn in total (both batch sizes); the samples are kept
        in memory, ``2 N x n`` at most :data:`MAX_SAMPLE_ENTRIES`.
    max_resamples : int >= 1, default :data:`MAX_RESAMPLES`

    Returns
    -------
    BatchInvarianceResult
        ``detectable_tv`` is the TV between the two laws detected with probability
        ``power`` by the test actually run: the noncentral chi-square figure with
        the observed number of cells for ``"chi2"``; for ``"permutation"``, the
        simulated power of the test (critical value from the unconditional null)
        against the two-block alternatives of :func:`two_block_alternatives` around
        the reference law (the target's, else the pooled empirical law).

    Examples
    --------
    >>> from distributions.families import random_table
    >>> d = random_table(3, 2, rng=0)
    >>> r = check_batch_invariance(lambda k, g: d.sample(k, rng=g), target=d,
    ...                            batch_sizes=(1, 512), tv=0.1, rng=0)
    >>> r.status, r.batch_sizes
    ('pass', (1, 512))
    """
    if not (callable(getattr(sampler, "sample", None)) or callable(sampler)):
        raise ParameterError(
            "`sampler` must be a Sampler (with .sample(num, rng=...)) or a callable "
            f"(num, rng) -> (num, n) int array; got {type(sampler).__name__}."
        )
    n, q = _shape_of(sampler, target)
    if batch_sizes is None:
        batch_sizes = (1, _resolve_batch_size(sampler, None))
    if (not isinstance(batch_sizes, tuple | list) or len(batch_sizes) != 2):
        raise ParameterError(
            f"`batch_sizes` must be a pair of distinct integers >= 1; got {_short(batch_sizes)}."
        )
    b1 = check_int("batch_sizes[0]", batch_sizes[0], low=1)
    b2 = check_int("batch_sizes[1]", batch_sizes[1], low=1)
    if b1 == b2:
        raise ParameterError(
            f"`batch_sizes` must be a pair of distinct integers >= 1; got ({b1}, {b2})."
        )
    if num_samples is not None:
        num_samples = check_int("num_samples", num_samples, low=1)
    tv, alpha, power = _check_levels(tv, alpha, power)
    rng = _check_rng(rng)
    timeout = _check_timeout(timeout)
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=1)
    max_resamples = check_int("max_resamples", max_resamples, low=1)
    resamples = _check_resolution(alpha, max_resamples, "permutation test")
    p_ref: np.ndarray | None = None
    if target is not None and _is_enumerable(target):
        pmf = _target_pmf(target, n, q)
        p_ref = pmf[pmf > 0] / pmf[pmf > 0].sum()
        k_plan = int(p_ref.size)
    else:
        k_plan = min(q**n, MAX_TABLE) if n * math.log2(q) <= 20 else MAX_TABLE
    if num_samples is None:
        if k_plan <= 1:
            num_samples = max(1, math.ceil(math.log1p(-power) / math.log1p(-tv)))
        else:
            num_samples = max(1, math.ceil(_lambda_needed(k_plan - 1, alpha, power)
                                           / (2.0 * tv * tv)))
        _check_plan(2 * num_samples, max_samples, f"two samples of {num_samples:,} on "
                    f"{k_plan:,} cells", tv, alpha, power)
    else:
        _check_size(2 * num_samples, max_samples, "both batch sizes together")
    _check_memory(2 * num_samples, n, "check_batch_invariance")
    seed = _seed_of(rng)
    ss1, ss2, ss_test, ss_power = np.random.SeedSequence(seed).spawn(4)
    deadline = _Deadline(timeout, "check_batch_invariance")
    x1 = np.concatenate(list(_iter_draws(sampler, num_samples, n, q, ss1, b1, deadline,
                                         full=True)), axis=0)
    x2 = np.concatenate(list(_iter_draws(sampler, num_samples, n, q, ss2, b2, deadline,
                                         full=True)), axis=0)
    x = np.concatenate([x1, x2], axis=0)
    if n * math.log2(q) <= 62:
        keys = np.ravel_multi_index(x.T, (q,) * n)
    else:
        _, keys = np.unique(x, axis=0, return_inverse=True)
    _, inv = np.unique(keys, return_inverse=True)
    inv = inv.ravel()
    m = int(inv.max()) + 1
    c1 = np.bincount(inv[:num_samples], minlength=m).astype(np.float64)
    c2 = np.bincount(inv[num_samples:], minlength=m).astype(np.float64)
    t = c1 + c2
    stat = float(np.sum((c1 - c2) ** 2 / t))
    tv_est = 0.5 * float(np.abs(c1 - c2).sum()) / num_samples
    details: dict[str, float] = {"cells_observed": float(m), "cells_planned": float(k_plan)}
    if m == 1:
        method, pvalue, dof = "trivial", 1.0, 0.0
        det = float(-math.expm1(math.log1p(-power) / num_samples))
    elif t.min() >= 2 * MIN_EXPECTED:
        method, dof = "chi2", float(m - 1)
        pvalue = float(stats.chi2.sf(stat, m - 1))
        det = float(min(1.0, math.sqrt(_lambda_needed(m - 1, alpha, power)
                                       / (2.0 * num_samples))))
    else:
        method, dof = "permutation", math.nan
        gen = np.random.default_rng(ss_test)
        ti = t.astype(np.int64)
        null = np.empty(resamples)
        chunk = max(1, int(4e6 // m))
        for start in range(0, resamples, chunk):
            r = min(chunk, resamples - start)
            s1 = gen.multivariate_hypergeometric(ti, num_samples, size=r).astype(np.float64)
            null[start:start + r] = np.sum((2.0 * s1 - t) ** 2 / t, axis=1)
            deadline.check(f"after {start + r:,} of {resamples:,} permutation draws")
        ge = int(np.count_nonzero(null >= stat - 1e-9 * max(1.0, stat)))
        pvalue = (1.0 + ge) / (resamples + 1.0)
        details["resamples"] = float(resamples)
        details["pvalue_resolution"] = 1.0 / (resamples + 1.0)
        ref = p_ref if p_ref is not None else t / t.sum()
        pgen = np.random.default_rng(ss_power)
        null_u = _twosample_stats(ref, ref, num_samples, resamples, pgen, deadline)
        pseed = int(ss_power.generate_state(1)[0])
        det, pw, _ = _simulated_detectable_tv(
            ref, num_samples, _mc_crit(null_u, alpha), power,
            lambda s, r, g: _twosample_stats(ref, s, num_samples, r, g, deadline),
            pseed, cost=min(2 * num_samples, ref.size),
            guess=float(min(1.0, math.sqrt(_lambda_needed(ref.size - 1, alpha, power)
                                           / (2.0 * num_samples)))) if ref.size > 1 else None,
        )
        details["simulated_power"] = pw
    status = _status_of(pvalue <= alpha, det)
    return BatchInvarianceResult(
        passed=status == "pass",
        status=status,
        statistic=stat,
        pvalue=float(pvalue),
        alpha=alpha,
        num_samples=num_samples,
        detectable_tv=float(det),
        seed=seed,
        method=method,
        batch_sizes=(b1, b2),
        power=power,
        dof=dof,
        tv_estimate=tv_est,
        details=details,
    )


SamplerLike = Callable[[int, np.random.Generator], np.ndarray]
