"""Result records of the continuous checks (the :class:`~verify.results.CheckResult`
protocol plus their extras): each states its detectable effect in ``detectable_tv``
and names it in ``effect``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from verify.results import ResultBase

__all__ = ["AcceptanceResult", "GaussianChainResult", "SameLawResult", "SteinResult", "SubTest"]


@dataclass(frozen=True)
class SubTest:
    """One hypothesis of a family: raw and Holm-adjusted p-values.

    ``resolution`` is the grid step of the raw p-value (``1 / (B + 1)`` for a Monte
    Carlo null with ``B`` draws, 0.0 for a continuous null distribution).
    """

    name: str
    statistic: float
    pvalue: float
    adjusted_pvalue: float
    rejected: bool
    resolution: float = 0.0


@dataclass(frozen=True, kw_only=True)
class SameLawResult(ResultBase):
    """Result of :func:`check_same_law`.

    Attributes
    ----------
    statistic : float
        Energy distance between the two samples.
    pvalue : float
        Family p-value: the smallest Holm-adjusted p-value.
    passed : bool
        No hypothesis of the family rejected at ``alpha`` (FWER, Holm).
    tests : tuple of SubTest
    detectable_ks_distance : float
        A KS distance between one coordinate's marginals that the family detects
        with probability at least ``1 - beta`` (DKW bound, Bonferroni level).
    detectable_mean_shift : float
        The same in units of the marginal standard deviation for a mean shift of a
        Gaussian-shaped marginal: ``2 Phi(delta / 2) - 1 = detectable_ks_distance``.
    status : {"pass", "fail", "no-power"}
        ``"no-power"``: no rejection and ``detectable_ks_distance >= 1``.
    pvalue_resolution : float
        ``1 / (num_permutations + 1)``, the grid of the energy test's p-value.
    num_permutations : int
    notes : tuple of str
        Ties, a p-value of 1 explained, a sub-test that cannot reject.
    detectable_tv : float
        The stated effect: ``detectable_ks_distance`` (named in ``effect``).
    effect : str
        What ``detectable_tv`` measures.
    """

    beta: float
    tests: tuple[SubTest, ...]
    detectable_ks_distance: float
    detectable_mean_shift: float
    pvalue_resolution: float = 0.0
    num_permutations: int = 0
    notes: tuple[str, ...] = ()
    effect: str = ""


@dataclass(frozen=True, kw_only=True)
class GaussianChainResult(ResultBase):
    """Result of :func:`check_gaussian_chain`.

    ``detectable_mahalanobis_shift`` is the mean shift (in Mahalanobis units of the
    exact covariance) that the mean test detects with probability ``1 - beta`` at
    the Bonferroni level of the family. ``pvalue_resolution`` is 0.0 (every sub-test
    has a continuous null); ``notes`` lists dropped duplicate sub-tests, ties and a
    p-value of 1 explained. The stated effect ``detectable_tv`` is
    ``detectable_mahalanobis_shift`` (named in ``effect``).
    """

    beta: float
    tests: tuple[SubTest, ...]
    output_mean: np.ndarray
    output_cov: np.ndarray
    end_mean: np.ndarray
    end_cov: np.ndarray
    detectable_mahalanobis_shift: float
    pvalue_resolution: float = 0.0
    notes: tuple[str, ...] = ()
    effect: str = ""


@dataclass(frozen=True, kw_only=True)
class SteinResult(ResultBase):
    """Result of :func:`check_stein_discrepancy` (U-statistic KSD^2, wild bootstrap).

    ``pvalue_resolution`` is ``1 / (num_bootstrap + 1)``; when it exceeds ``alpha``
    the test cannot reject and ``status`` is ``"no-power"``. The test states no
    detectable effect: ``detectable_tv`` is ``nan`` and ``effect`` says so.
    """

    bandwidth: float
    critical_value: float
    pvalue_resolution: float = 0.0
    num_bootstrap: int = 0
    notes: tuple[str, ...] = ()
    effect: str = ""


@dataclass(frozen=True, kw_only=True)
class AcceptanceResult(ResultBase):
    """Result of :func:`check_speculative_acceptance`.

    ``statistic`` is the martingale z-score ``sum(A_k - p_k) / sqrt(sum p_k (1 - p_k))``
    of the accept indicators ``A_k`` against ``p_k = 2 Phi(-|D_k| / 2)``.
    ``detectable_rate_shift`` is the shift of the mean acceptance rate detected with
    probability ``1 - beta`` (``"no-power"`` status when it is 1 or more and the family
    does not reject). ``pvalue_resolution`` is 0.0 (continuous nulls). The stated
    effect ``detectable_tv`` is ``detectable_rate_shift`` (named in ``effect``);
    ``num_samples`` is the number of steps tested (``num_steps``, the observations of
    the test), as the report records it.
    """

    beta: float
    num_steps: int
    observed_rate: float
    predicted_rate: float
    tests: tuple[SubTest, ...]
    detectable_rate_shift: float
    bins: dict[str, np.ndarray] = field(default_factory=dict)
    pvalue_resolution: float = 0.0
    notes: tuple[str, ...] = ()
    effect: str = ""
