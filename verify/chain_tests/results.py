"""The result record of :func:`~verify.chain_tests.chain_test`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from verify.chain_tests.layout import INTERACTION_ORDERS, chain_detectable_tv
from verify.results import ResultBase, WorstCell


@dataclass(frozen=True, kw_only=True)
class ChainTestResult(ResultBase):
    """Outcome of :func:`chain_test`.

    Attributes
    ----------
    statistic : float
        ``-log10(pvalue)``.
    pvalue : float
        The family p-value (0 after an impossible value): martingale family, the
        weighted Sidak combination of its blocks (:mod:`verify.chain_tests.martingale`;
        exactly uniform under the null); marginal family, the Cauchy combination
        (:mod:`verify.chain_tests.combine`).
    pvalues : mapping of str to float
        Martingale family: every block's p-value (``early[steps a-b]``,
        ``site-max``, ``pair-max``, ``sharp``), ``"martingale"`` (the family's) and
        ``"bonferroni"`` (Holm over all single scores). Marginal family: raw p-value
        of every sub-test, ``"bonferroni"`` (the smallest Holm-adjusted
        p-value, the family p-value before issue 15), ``"cauchy-chain"``,
        ``"cauchy-site"``, ``"cauchy-pair"`` (each block's own Cauchy combination; sites
        and pairs summarised by their minimum:
        ``site-min``, ``pair-min``; every one is in the Holm family).
    num_samples, n, q : int
    family_size : int
    alpha : float
    tv_estimate : float
        Largest bias-corrected one- or two-site marginal TV (a lower-bound proxy).
    worst_cells : tuple of WorstCell
        The sub-tests with the smallest p-values.
    impossible : str
        Description of the first zero-probability observation, or ``""``.
    rejected : tuple of str
        Sub-tests rejected by Holm at ``alpha``.
    status : {"pass", "fail", "no-power"}
        See the module docstring; ``passed`` is True only for ``"pass"``.
    passed : bool
    detectable_tv : float
        One- or two-site-marginal TV detected with probability ``power`` (1.0: no
        stated power); :meth:`detectable_tv_at` gives it at another power.
    seed : int or None
        The integer ``rng`` given (``None`` for a Generator or SeedSequence).
    method : str
        ``"chain"``.
    power : float
        Power of the stated detectable TV (:meth:`detectable_tv`).
    interaction_orders : tuple of int
        Orders of the marginals that carry the stated power: ``(1, 2)``.
    power_against : str
        The class of deviations detected with probability ``power`` (and the ones
        not covered), in words, for reports.
    pair_sites : tuple of int
        Sites whose pairs are all tested.
    pairs_tested, pairs_total : int
        Pairs tested and ``n (n - 1) / 2``.
    null_draws : int
        Data sets drawn from the oracle for the Monte Carlo null (0: analytic).
    critical : float
        With ``null_draws``: the Cauchy statistic above which the family rejects
        (the ``floor(alpha (B + 1))``-th largest null statistic); else nan.
    family : {"martingale", "marginal"}
        The family run (:func:`~verify.chain_tests.chain_test`).
    notes : tuple of str
        Sub-tests omitted as degenerate (zero variance) and why, (nearly)
        deterministic sites, a family p-value of 1 explained (Holm's cap).
    """

    pvalues: Mapping[str, float]
    n: int
    q: int
    family_size: int
    tv_estimate: float
    worst_cells: tuple[WorstCell, ...]
    impossible: str = ""
    rejected: tuple[str, ...] = field(default_factory=tuple)
    power: float = 0.99
    interaction_orders: tuple[int, ...] = INTERACTION_ORDERS
    power_against: str = ""
    pair_sites: tuple[int, ...] = field(default_factory=tuple)
    pairs_tested: int = 0
    pairs_total: int = 0
    null_draws: int = 0
    critical: float = float("nan")
    notes: tuple[str, ...] = field(default_factory=tuple)
    family: str = "marginal"

    def detectable_tv_at(self, power: float) -> float:
        """One- or two-site-marginal TV detected with probability ``power`` at this
        size and level (``detectable_tv`` is the figure at the result's own
        ``power``); 1.0 means no stated power."""
        crit = self.critical if self.null_draws else None
        return chain_detectable_tv(self.n, self.q, self.num_samples, alpha=self.alpha,
                                   power=power, critical=crit, family=self.family)
