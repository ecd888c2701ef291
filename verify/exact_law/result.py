"""The result record of :func:`verify.exact_law`."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["ExactLawResult"]


@dataclass(frozen=True)
class ExactLawResult:
    """Output law of a sampler computed by enumeration (:func:`exact_law`).

    Attributes
    ----------
    pmf : ndarray, shape (q**n,)
        Enumerated output probabilities, flat C order (a sub-probability: it misses
        exactly ``truncated_mass``).
    target_pmf : ndarray, shape (q**n,)
    tv : float
        ``0.5 * sum |pmf - target_pmf|``; the true TV lies within
        ``tv +- truncated_mass / 2`` (``tv_lower``, ``tv_upper``).
    truncated_mass : float
        Rigorous bound on the probability the enumeration left out (0 when every
        loop was summed in closed form and no path was cut).
    worst_config : tuple of int
        Configuration with the largest ``|pmf - target_pmf|``.
    worst_diff : float
        ``pmf - target_pmf`` there.
    rational_pmf : tuple of Fraction, optional
        Exact rational law (``rational=True`` and feasible).
    rational_tv : Fraction, optional
    executions : int
        Program executions run by the enumeration (replays not included).
    closures : int
        Residual loops summed in closed form.
    note : str
    replays : int
        Executions re-run by the replay check (see :func:`exact_law`).
    """

    pmf: np.ndarray
    target_pmf: np.ndarray
    tv: float
    truncated_mass: float
    worst_config: tuple[int, ...]
    worst_diff: float
    rational_pmf: tuple[Fraction, ...] | None = None
    rational_tv: Fraction | None = None
    executions: int = 0
    closures: int = 0
    note: str = ""
    replays: int = 0

    @property
    def tv_lower(self) -> float:
        return max(0.0, self.tv - 0.5 * self.truncated_mass)

    @property
    def tv_upper(self) -> float:
        return min(1.0, self.tv + 0.5 * self.truncated_mass)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tv": self.tv, "tv_lower": self.tv_lower, "tv_upper": self.tv_upper,
            "truncated_mass": self.truncated_mass, "worst_config": list(self.worst_config),
            "worst_diff": self.worst_diff, "executions": self.executions,
            "closures": self.closures, "note": self.note, "replays": self.replays,
            "rational_tv": None if self.rational_tv is None else str(self.rational_tv),
        }
