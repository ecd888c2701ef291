"""The shared result protocol of every check in :mod:`verify`.

Every check returns a frozen record that implements :class:`CheckResult`: the
fields ``passed``, ``status``, ``statistic``, ``pvalue``, ``alpha``,
``num_samples``, ``detectable_tv``, ``seed`` and ``method``, plus its own extras,
and one ``to_dict()`` giving a JSON-ready dictionary. The check results subclass
:class:`ResultBase`, which carries those fields, settles ``status`` against
``passed`` and implements ``to_dict()`` once (numpy scalars and arrays, tuples,
mappings and nested dataclasses become plain Python values). The one adapter that
turns any of them into a report record is ``reports.records.to_record``.

Status vocabulary (:data:`STATUSES`)
------------------------------------
``"pass"``
    The test ran with power and did not reject.
``"fail"``
    The test rejected at level ``alpha`` (valid whatever its power).
``"no-power"``
    Not rejected, but no alternative is detectable at the size used
    (``detectable_tv >= 1``); not a pass.
``"warn"``, ``"skipped"``
    Used by checks that are not a single statistical test (audits, stages).

``passed`` is ``True`` exactly when ``status == "pass"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from distributions.errors import ParameterError

__all__ = ["STATUSES", "CheckResult", "ResultBase", "WorstCell", "status_of", "to_plain"]

#: Status vocabulary of check results (the shared contract, docs/contracts.md).
STATUSES: tuple[str, ...] = ("pass", "fail", "warn", "skipped", "no-power")


@runtime_checkable
class CheckResult(Protocol):
    """What every check result of :mod:`verify` offers.

    Attributes
    ----------
    passed : bool
        ``status == "pass"``.
    status : str
        One of :data:`STATUSES`.
    statistic : float
        The test statistic.
    pvalue : float
        p-value of the null (``nan`` for a check that is not a statistical test).
    alpha : float
        Level of the test.
    num_samples : int
        Samples drawn (0 when nothing was sampled).
    detectable_tv : float
        TV distance detected with the stated power at this size, or the check's
        stated effect (named in ``method`` or the extras).
    seed : int or None
        Replays the run with ``rng=seed`` (``None`` when nothing was random).
    method : str
        Name of the test that ran.
    """

    passed: bool
    status: str
    statistic: float
    pvalue: float
    alpha: float
    num_samples: int
    detectable_tv: float
    seed: int | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field."""
        ...


def status_of(rejected: bool, detectable_tv: float) -> str:
    """Status of a statistical test from its decision and its power.

    Parameters
    ----------
    rejected : bool
        The test rejected at its level.
    detectable_tv : float
        TV detected with the stated power at the size used.

    Returns
    -------
    str
        ``"fail"`` on a rejection (valid at level alpha whatever the power), else
        ``"no-power"`` when no alternative is detectable at the size used
        (``detectable_tv`` is not below 1, or is nan), else ``"pass"``.

    Examples
    --------
    >>> status_of(True, 0.05), status_of(False, 0.05), status_of(False, 1.0)
    ('fail', 'pass', 'no-power')
    """
    if rejected:
        return "fail"
    if not detectable_tv < 1.0:
        return "no-power"
    return "pass"


def to_plain(value: Any) -> Any:
    """Convert a value to plain Python (JSON-ready apart from non-finite floats).

    Nested dataclasses become dictionaries of their fields, mappings become
    ``dict``, tuples, lists and numpy arrays become lists, numpy scalars become
    Python scalars; other values are returned unchanged.

    Examples
    --------
    >>> to_plain({"a": (np.int64(1), np.array([0.5]))})
    {'a': [1, [0.5]]}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True, kw_only=True)
class ResultBase:
    """Base of the check results: the :class:`CheckResult` fields and ``to_dict()``.

    Subclasses are ``@dataclass(frozen=True, kw_only=True)`` and add their extras,
    with or without defaults. ``status`` defaults to the one ``passed`` implies;
    a status outside :data:`STATUSES`, or one that contradicts ``passed``, is
    refused with :class:`~verify.errors.ParameterError`.

    Attributes
    ----------
    passed, status, statistic, pvalue, alpha, num_samples, detectable_tv, seed, method
        As in :class:`CheckResult`.
    """

    passed: bool
    status: str = ""
    statistic: float = math.nan
    pvalue: float = math.nan
    alpha: float = math.nan
    num_samples: int = 0
    detectable_tv: float = math.nan
    seed: int | None = None
    method: str = ""

    def __post_init__(self) -> None:
        status = self.status or ("pass" if self.passed else "fail")
        if status not in STATUSES:
            raise ParameterError(
                f"`status` must be one of {', '.join(STATUSES)}; got {status!r}."
            )
        if bool(self.passed) != (status == "pass"):
            raise ParameterError(
                f"`passed` must be True exactly for status 'pass'; got passed={self.passed!r} "
                f"with status {status!r}."
            )
        object.__setattr__(self, "status", status)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field (see :func:`to_plain`)."""
        return to_plain(self)


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
