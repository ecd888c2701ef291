"""Result records of the pinning-lemma estimates and checks.

The estimates (:class:`EntropyProfileResult`, :class:`BlockResult`,
:class:`BlockTVGrid`, :class:`TreeTVResult`) carry a value, its interval and the
method; they are not tests and have no status. The checks return
:class:`PinningCheckResult` (an inequality or identity with both sides) or
:class:`RoundBoundResult`; both implement the shared protocol
:class:`verify.results.CheckResult`. Every ``to_dict()`` goes through the shared
converter :func:`verify.results.to_plain`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from verify.results import ResultBase, to_plain

__all__ = [
    "EntropyProfileResult",
    "BlockResult",
    "BlockTVGrid",
    "TreeTVResult",
    "PinningCheckResult",
    "RoundBoundResult",
]


class _Estimate:
    """``to_dict()`` of an estimate: every field marked for JSON, as plain Python."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (see :func:`verify.results.to_plain`); per-draw data left out."""
        return {
            f.name: to_plain(getattr(self, f.name))
            for f in fields(self)  # type: ignore[arg-type]
            if f.metadata.get("json", True)
        }


@dataclass(frozen=True)
class EntropyProfileResult(_Estimate):
    """``h_t``, ``t = 0..n-1`` (nats).

    Attributes
    ----------
    value : ndarray, shape (n,)
    interval : tuple of ndarray
        ``(low, high)``, each shape (n,); equal to ``value`` when exact.
    method : str
    n, q : int
    num_orders : int or None
        Random orders (or ``(sigma, x)`` replicates) used; None when exact.
    draws : ndarray, shape (num_orders, n), optional
        The per-order (per-draw) values behind an estimate (not in ``to_dict``);
        :func:`~verify.pinning.check_entropy_monotone` tests their paired differences.
    """

    value: np.ndarray
    interval: tuple[np.ndarray, np.ndarray]
    method: str
    n: int
    q: int
    num_orders: int | None = None
    draws: np.ndarray | None = field(default=None, repr=False, metadata={"json": False})

    @property
    def exact(self) -> bool:
        """Computed over all orders (no interval width)."""
        return self.num_orders is None


@dataclass(frozen=True)
class BlockResult(_Estimate):
    """``E TV(mu_S, nu_S)`` or ``E KL(mu_S || nu_S)`` for the block ``(a, b)``.

    Attributes
    ----------
    value : float
    interval : tuple of float
        95% interval ``(low, high)``; zero width when exact.
    method : str
    quantity : {"tv", "kl"}
    a, b, n, q : int
    num_orders : int or None
    """

    value: float
    interval: tuple[float, float]
    method: str
    quantity: str
    a: int
    b: int
    n: int
    q: int
    num_orders: int | None = None

    @property
    def exact(self) -> bool:
        """Computed over all orders (no interval width)."""
        return self.num_orders is None


@dataclass(frozen=True)
class BlockTVGrid(_Estimate):
    """``E TV`` on a grid of prefix lengths and block sizes (for the figure).

    ``value[i, j]`` is the block ``(a_i, a_i + s_j)`` (NaN where ``a_i + s_j > n``).
    """

    value: np.ndarray
    interval: tuple[np.ndarray, np.ndarray]
    method: str
    prefix_lengths: np.ndarray
    sizes: np.ndarray
    n: int
    q: int


@dataclass(frozen=True)
class TreeTVResult(_Estimate):
    """``E sum_S TV(mu_S, nu_S)`` over the sampler's recursion tree, level by level.

    Attributes
    ----------
    value : float
        Whole-tree sum.
    interval : tuple of float
    method : str
    n, q : int
    level_sums : ndarray, shape (D,)
        Per-level sums (levels ``0..D-1``, ``D = ceil(log2 n)``: the levels with a
        block of size >= 2).
    level_intervals : ndarray, shape (D, 2)
    level_blocks : ndarray of int, shape (D,)
        Number of blocks of size >= 2 at each level.
    level_bound : float
        ``sqrt(n log q / 2)``.
    tree_bound : float
        ``ceil(log2 n) * sqrt(n log q / 2)``.
    blocks : tuple of (depth, a, b, E TV)
        Per-block values (exact and sampled-order methods; empty for Monte Carlo
        over ``(sigma, x)``).
    num_orders : int or None
    """

    value: float
    interval: tuple[float, float]
    method: str
    n: int
    q: int
    level_sums: np.ndarray
    level_intervals: np.ndarray
    level_blocks: np.ndarray
    level_bound: float
    tree_bound: float
    blocks: tuple[tuple[int, int, int, float], ...] = ()
    num_orders: int | None = None

    @property
    def level_passed(self) -> np.ndarray:
        """Per level: the bound holds (the interval's low end is <= the bound)."""
        return self.level_intervals[:, 0] <= self.level_bound * (1 + 1e-12)

    @property
    def passed(self) -> bool:
        """Every level bound and the whole-tree bound hold."""
        return bool(self.level_passed.all()) and self.interval[0] <= self.tree_bound * (1 + 1e-12)


@dataclass(frozen=True, kw_only=True)
class PinningCheckResult(ResultBase):
    """One inequality or identity of the pinning lemma with both of its sides.

    ``lhs relation rhs`` must hold (``relation`` is ``"<="`` or ``"=="``), up to
    ``tolerance`` for exact values or within the intervals for estimated ones.
    Array sides are checked element by element.

    The shared protocol (:class:`verify.results.CheckResult`) reads as follows
    for these checks, which are not statistical tests (except one):

    - ``statistic``: the worst deviation of the reported sides, ``max(lhs - rhs)``
      for ``"<="`` (positive means violated before the tolerance) and
      ``max |lhs - rhs|`` for ``"=="``; NaN when the sides are empty. For an
      estimated check the sides are the point estimates, while the decision uses
      the intervals (see each check).
    - ``pvalue``: NaN and ``alpha``: 0, except for
      :func:`~verify.pinning.check_entropy_monotone` on per-draw values, a
      Holm-corrected family of one-sided t-tests: its ``alpha`` and the smallest
      Holm-adjusted p-value.
    - ``num_samples``: 0 for an exact check, else the number of random orders
      (or ``(sigma, x)`` draws) behind the estimates.
    - ``detectable_tv``: the check's stated effect, its ``tolerance``.
    - ``seed``: the integer seed the check was given, else None.

    Attributes
    ----------
    name : str
    lhs, rhs : float or ndarray
    relation : {"<=", "=="}
    tolerance : float
    detail : str
        Where the largest violation is, or how an estimated side was tested.
    """

    name: str
    lhs: Any
    rhs: Any
    relation: str
    tolerance: float
    detail: str = ""


#: The pinning check record under its former name (``verify.pinning.CheckResult``).
CheckResult = PinningCheckResult


@dataclass(frozen=True, kw_only=True)
class RoundBoundResult(ResultBase):
    """Rounds of a sampler against ``sum TV`` along its own recursion (issue 4 item 3).

    Implements :class:`verify.results.CheckResult`: ``passed`` is ``not flagged``,
    ``statistic`` the fitted constant ``c`` (= ``value``), ``pvalue`` the one-sided
    p-value of the rejection-excess test (= ``excess_pvalue``), ``detectable_tv``
    NaN (no size is planned), ``seed`` the integer seed given, else None.

    Attributes
    ----------
    value : float
        The fitted constant ``c`` of ``E[rounds] = c (1 + E[sum TV]) log2(n)``.
    interval : tuple of float
        95% interval of ``c`` (delta method over the samples).
    method : str
    n : int
    num_samples : int
    mean_rounds, mean_sum_tv, mean_rejections : float
    rounds_interval, sum_tv_interval : tuple of float
    slope, intercept : float
        Least-squares fit ``rounds_i = intercept + slope * sumTV_i`` over samples.
    slope_interval : tuple of float
        95% (heteroscedasticity-robust) interval of the slope.
    excess_rejections : float
        ``mean(#first-stage rejections - sum TV)`` per sample; its expectation is
        exactly 0 for a correct sampler (each visited block rejects with
        probability ``TV(mu_S, nu_S)`` given its context).
    excess_interval : tuple of float
    excess_pvalue : float
        One-sided p-value of "excess <= 0" (t-test over samples).
    reference_excess, reference_pvalue : float or None
        ``mean rounds - (intercept_ref + slope_ref * mean sumTV)`` against a
        reference fit, when one was given, and the one-sided p-value of "excess
        <= 0" (normal approximation, both fits' uncertainty combined).
    flagged : bool
        The sampler spends more rounds than ``sum TV`` explains: the excess of
        rejections is significant at ``alpha``, or the mean rounds exceed the
        reference relation by more than its interval, or the constant's lower
        end exceeds ``max_constant``.
    reasons : tuple of str
    alpha : float
    rounds, sum_tv, rejections : ndarray, shape (num_samples,)
        Per-sample data (for the figure).
    fit_covariance : ndarray, shape (2, 2)
        Covariance of ``(intercept, slope)`` (for a later reference comparison).
    """

    value: float
    interval: tuple[float, float]
    n: int
    mean_rounds: float
    rounds_interval: tuple[float, float]
    mean_sum_tv: float
    sum_tv_interval: tuple[float, float]
    mean_rejections: float
    slope: float
    intercept: float
    slope_interval: tuple[float, float]
    excess_rejections: float
    excess_interval: tuple[float, float]
    excess_pvalue: float
    flagged: bool
    reasons: tuple[str, ...]
    rounds: np.ndarray = field(repr=False)
    sum_tv: np.ndarray = field(repr=False)
    rejections: np.ndarray = field(repr=False)
    reference_excess: float | None = None
    reference_pvalue: float | None = None
    fit_covariance: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)), repr=False)
