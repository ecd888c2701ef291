"""The result record of :func:`verify.exact_law`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["ExactLawResult", "EXACT_TV"]


#: TV below which an enumerated law counts as the target's (float64 rounding of the
#: enumeration is ~1e-15 per path; a wrong sampler in the catalogue is >= 3e-8 off).
EXACT_TV: float = 1e-9


@dataclass(frozen=True)
class ExactLawResult:
    """Output law of a sampler computed by enumeration (:func:`exact_law`).

    Attributes
    ----------
    pmf : ndarray, shape (q**n,)
        Enumerated output probabilities, flat C order (a sub-probability: it misses
        exactly ``truncated_mass``).
    target_pmf : ndarray, shape (q**n,)
        The reference law: the target's table, or the enumerated law of the
        reference sampler (``reference``).
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
        Exact rational law (``rational`` on, the target declaring exact weights and
        every draw an exact candidate); ``None`` otherwise, with the reason in
        ``note``.
    rational_tv : Fraction, optional
        Exact TV between ``rational_pmf`` and the target's declared exact law.
    executions : int
        Program executions run by the enumeration (replays not included).
    closures : int
        Residual loops summed in closed form.
    note : str
    replays : int
        Executions re-run by the replay check (see :func:`exact_law`).
    reference : str
        The reference law ``target_pmf`` is: ``"target pmf"``, or the reference
        sampler whose output law was enumerated on the same oracle.
    reference_truncated_mass : float
        Mass left out by the enumeration of the reference law (counted in
        ``tv_lower`` / ``tv_upper``).
    exact_pmf, exact_diff : tuple of sympy expressions, optional
        The law in exact arithmetic over irrational weights (``exact=``), and its
        difference from the target (all ``0`` for an exact sampler).
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
    reference: str = "target pmf"
    reference_truncated_mass: float = 0.0
    exact_pmf: tuple[Any, ...] | None = None
    exact_diff: tuple[Any, ...] | None = None

    @property
    def exact_zero(self) -> bool | None:
        """Whether the exact law equals the target exactly (``None``: not computed)."""
        return None if self.exact_diff is None else all(d == 0 for d in self.exact_diff)

    @property
    def tv_lower(self) -> float:
        return max(0.0, self.tv - 0.5 * (self.truncated_mass + self.reference_truncated_mass))

    @property
    def tv_upper(self) -> float:
        return min(1.0, self.tv + 0.5 * (self.truncated_mass + self.reference_truncated_mass))

    # ---- the shared result protocol (verify.results.CheckResult), as properties
    @property
    def status(self) -> str:
        """``"pass"`` when ``TV <= EXACT_TV`` is proved (``tv_upper``), ``"fail"`` when
        ``TV > EXACT_TV`` is proved (``tv_lower``), ``"warn"`` when the mass the
        enumeration left out makes it inconclusive."""
        if self.tv_upper <= EXACT_TV:
            return "pass"
        return "fail" if self.tv_lower > EXACT_TV else "warn"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def statistic(self) -> float:
        """The enumerated TV distance to the target."""
        return self.tv

    @property
    def pvalue(self) -> float:
        """``nan``: an enumeration, not a statistical test."""
        return math.nan

    @property
    def alpha(self) -> float:
        """0: no false-failure rate (nothing is sampled)."""
        return 0.0

    @property
    def num_samples(self) -> int:
        return 0

    @property
    def detectable_tv(self) -> float:
        """The stated effect: any TV above ``EXACT_TV`` plus the truncation bound is
        detected with certainty."""
        return EXACT_TV + 0.5 * (self.truncated_mass + self.reference_truncated_mass)

    @property
    def seed(self) -> None:
        return None

    @property
    def method(self) -> str:
        return "enumeration" + (" (rational)" if self.rational_tv is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "status": self.status, "statistic": self.statistic,
            "pvalue": self.pvalue, "alpha": self.alpha, "num_samples": self.num_samples,
            "detectable_tv": self.detectable_tv, "seed": self.seed, "method": self.method,
            "tv": self.tv, "tv_lower": self.tv_lower, "tv_upper": self.tv_upper,
            "truncated_mass": self.truncated_mass, "worst_config": list(self.worst_config),
            "worst_diff": self.worst_diff, "executions": self.executions,
            "closures": self.closures, "note": self.note, "replays": self.replays,
            "rational_tv": None if self.rational_tv is None else str(self.rational_tv),
            "reference": self.reference,
            "reference_truncated_mass": self.reference_truncated_mass,
            "exact_zero": self.exact_zero,
            "exact_diff": None if self.exact_diff is None else [str(d) for d in self.exact_diff],
        }
