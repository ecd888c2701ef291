"""Result records of :func:`~verify.exactness.check_exact` and
:func:`~verify.exactness.check_batch_invariance` (the :class:`~verify.results.CheckResult`
protocol plus their extras)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from verify.results import ResultBase, WorstCell

__all__ = [
    "BatchInvarianceResult",
    "ClosenessResult",
    "ExactnessResult",
    "OrderConditionalResult",
    "SequentialResult",
    "WorstCell",
]


@dataclass(frozen=True, kw_only=True)
class ExactnessResult(ResultBase):
    """Outcome of :func:`check_exact`.

    Attributes
    ----------
    passed : bool
        ``status == "pass"``.
    statistic : float
        Test statistic (G with Williams' correction, Pearson, bias-corrected
        chi-square, or ``-log10`` of the chain family's p-value for chain tests).
    pvalue : float
        p-value of the exactness null (0 after an impossible-cell hit).
    method : str
        ``"gtest"``, ``"pearson"``, ``"montecarlo"``, ``"chain"``, ``"impossible"``
        or ``"trivial"``; ``"sequential-<that>"`` or ``"sequential-eprocess"`` (stopped
        by the e-process) in the sequential mode.
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
        Sub-test p-values (chain tests) or auxiliary figures (``resamples``, the
        most null draws, ``resamples_drawn``, those drawn before the sequential p-value
        stopped, and ``pvalue_resolution`` of a Monte Carlo test).
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
    reference : str
        The law the samples were tested against: the target's table, the oracle's
        joint law (chain tests), or, for an oracle without a joint law, the
        sequential chain-rule law of the same oracle (:mod:`verify.exactness.relative`).
    precision_floor : float
        TV that rounding of the oracle's conditionals alone can cause (a bound from
        the rows seen, :func:`verify.precision_floor`), when it was estimated (``nan``
        otherwise); ``notes`` says when the requested ``tv`` is below it.
    certify : float
        The TV ``eps`` asked to be certified (``check_exact(..., certify=eps)``;
        ``nan`` when not asked).
    certified : bool
        ``tv_upper <= certify``: the sampler's TV from the target is at most
        ``certify`` with confidence ``1 - alpha``.
    notes : tuple of str
        Remarks on the result (e.g. a requested ``tv`` below the precision floor).
    """

    tv_estimate: float
    tv_upper: float
    worst_cells: tuple[WorstCell, ...]
    dof: float = math.nan
    power: float = math.nan
    impossible_hits: int = 0
    details: Mapping[str, float] = field(default_factory=dict)
    batch_size: int = 0
    power_against: str = ""
    interaction_orders: tuple[int, ...] = ()
    reference: str = ""
    precision_floor: float = math.nan
    notes: tuple[str, ...] = ()
    certify: float = math.nan
    certified: bool = False


@dataclass(frozen=True, kw_only=True)
class SequentialResult(ExactnessResult):
    """Outcome of ``check_exact(..., sequential=True)`` (an :class:`ExactnessResult`).

    ``method`` is ``"sequential-<final test>"`` (e.g. ``"sequential-gtest"``,
    ``"sequential-chain"``, ``"sequential-order-conditional"``; the latter's
    ``details`` hold every component e-value, ``e[step[t]]``, ``e[pooled]``,
    ``e[score]``); ``num_samples`` is the number of samples drawn,
    ``pvalue`` the anytime-valid p-value ``min(1, 2 min(1 / e_value, final_pvalue))``
    of the whole procedure, ``statistic`` the e-value, ``tv_upper`` the confidence
    sequence's bound at the stopping time (``nan`` for chain and order-conditional
    tests).

    Attributes
    ----------
    e_value : float
        Largest value of the test martingale (e-process) over the samples seen
        (``inf`` after a sample on a zero-probability cell).
    threshold : float
        ``2 / alpha``: the evidence that rejects (Ville's inequality at ``alpha / 2``).
    stop_reason : str
        ``"evidence"`` (the e-process crossed ``threshold``), ``"impossible"`` (a
        sample on a zero-probability cell) or ``"max-size"`` (the planned maximum
        was reached; the final fixed-size test at ``alpha / 2`` then decided).
    samples_used : int
        Index of the sample at which the evidence crossed (full-table and
        order-conditional tests: every sample is monitored; chain tests: the end of
        the batch), or the number drawn.
    max_size : int
        The planned maximum size (the fixed-size plan at ``alpha / 2``, or the
        certificate's size when larger).
    final_pvalue : float
        p-value of the final fixed-size test (``nan`` when stopped before it).
    """

    e_value: float = 1.0
    threshold: float = math.nan
    stop_reason: str = ""
    samples_used: int = 0
    max_size: int = 0
    final_pvalue: float = math.nan


@dataclass(frozen=True, kw_only=True)
class BatchInvarianceResult(ResultBase):
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

    batch_sizes: tuple[int, int]
    power: float = math.nan
    dof: float = math.nan
    tv_estimate: float = math.nan
    details: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class OrderConditionalResult(ResultBase):
    """Outcome of :func:`~verify.exactness.order_conditional_test`.

    Attributes
    ----------
    passed, status, statistic, pvalue, alpha, num_samples, detectable_tv, seed, method
        As in :class:`~verify.results.CheckResult`; ``statistic`` is ``-log10`` of the
        family p-value (the smallest Holm-adjusted p-value), ``method`` is
        ``"order-conditional"``, ``detectable_tv`` the binned-PIT TV at one reveal step
        detected with probability ``power`` (1.0: no stated power).
    power : float
    bins : int
        Equiprobable PIT bins used.
    family_size : int
        Sub-tests combined (``n`` steps, pooled, score).
    pvalues : mapping of str to float
        Raw p-value of every sub-test (``step[t]``, ``pooled``, ``score``).
    tv_estimate : float
        Largest bias-corrected plug-in TV of a step's binned PIT law.
    worst_cells : tuple of WorstCell
        The smallest sub-test p-values (an impossible value first).
    impossible : str
        A revealed value of conditional probability 0, if any ("" otherwise).
    rejected : tuple of str
        Sub-tests rejected by Holm at ``alpha``.
    power_against : str
        What ``detectable_tv`` is stated for.
    notes : tuple of str
    oracle_rows, oracle_calls : int
        Oracle rows (prefix contexts) and calls the test made.
    """

    power: float = math.nan
    bins: int = 0
    family_size: int = 0
    pvalues: Mapping[str, float] = field(default_factory=dict)
    tv_estimate: float = math.nan
    worst_cells: tuple[WorstCell, ...] = ()
    impossible: str = ""
    rejected: tuple[str, ...] = ()
    power_against: str = ""
    notes: tuple[str, ...] = ()
    oracle_rows: int = 0
    oracle_calls: int = 0


@dataclass(frozen=True, kw_only=True)
class ClosenessResult(ResultBase):
    """Outcome of :func:`~verify.exactness.closeness_test`.

    Attributes
    ----------
    passed, status, statistic, pvalue, alpha, num_samples, detectable_tv, seed, method
        As in :class:`~verify.results.CheckResult`; ``num_samples`` is the size of
        *each* of the two samples; ``method`` is ``"chi2"`` or ``"permutation"``
        (full table) or ``"chain-two-sample"``.
    reference : str
        The law the sampler was compared with (the reference sampler on the same
        oracle).
    power : float
    dof : float
    tv_estimate : float
        Plug-in TV between the two empirical laws (full table), or the largest
        bias-corrected one-site TV (chain statistics).
    power_against : str
        What ``detectable_tv`` is stated for.
    details : mapping of str to float
    """

    reference: str = ""
    power: float = math.nan
    dof: float = math.nan
    tv_estimate: float = math.nan
    power_against: str = ""
    details: Mapping[str, float] = field(default_factory=dict)
