"""Status vocabulary of check records and the one rule that turns statuses into a verdict.

Every check record carries a ``status``:

``"pass"``
    The check ran and found nothing (``passed`` is True for this status only).
``"fail"``
    The check ran and found a defect.
``"warn"``
    A finding that does not fail the run by default (e.g. a mutant that no check of
    the size used catches).
``"skipped"``
    The rule was not run; the record's ``detail`` states why.
``"no-power"``
    The test ran but, at the size used, cannot detect any alternative it is stated
    for (e.g. detectable TV >= 1, a degenerate statistic). It is not a pass.

The verdict of a report is :func:`verdict`: ``"fail"`` iff some check has status
``"fail"``; with ``strict=True`` also when some check is ``"warn"``, ``"no-power"`` or
``"skipped"``. Renderers, the CLI and the document validator all use this function, so
a stored verdict that disagrees with its checks is detected (:mod:`reports.schema`).

Records written before the status field existed (schema version 1) get their status
from ``passed`` and ``severity`` (:func:`check_status`): passed -> ``"pass"``; a failed
``"error"`` check -> ``"fail"``; a failed ``"warning"`` or ``"info"`` check ->
``"warn"``. Under the default rule this reproduces the old verdict exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from distributions.errors import ReportError

__all__ = [
    "STATUSES",
    "STATUS_LABELS",
    "check_status",
    "status_counts",
    "verdict",
    "summary_line",
]

#: The statuses of a check record, in display order.
STATUSES: tuple[str, ...] = ("pass", "fail", "warn", "skipped", "no-power")

#: Upper-case label of each status (tables, badges, terminal).
STATUS_LABELS: dict[str, str] = {
    "pass": "PASS",
    "fail": "FAIL",
    "warn": "WARN",
    "skipped": "SKIPPED",
    "no-power": "NO-POWER",
}

_LEGACY = {"error": "fail", "warning": "warn", "info": "warn"}


def check_status(check: Mapping[str, Any]) -> str:
    """The status of one check record.

    Parameters
    ----------
    check : mapping
        A check record with ``status`` or, for records of schema version 1,
        ``passed`` and ``severity``.

    Returns
    -------
    str
        One of :data:`STATUSES`.

    Raises
    ------
    ReportError
        If ``status`` is not one of :data:`STATUSES`, if ``passed`` disagrees with it
        (``passed`` must be True iff the status is ``"pass"``), or if a record without
        ``status`` has no usable ``passed`` / ``severity``.
    """
    cid = check.get("id", "?")
    status = check.get("status")
    passed = check.get("passed")
    if status is None:
        if not isinstance(passed, bool):
            raise ReportError(f"check {cid!r}: `passed` must be a boolean when `status` is "
                              f"absent; got {passed!r}.")
        if passed:
            return "pass"
        sev = check.get("severity", "error")
        if sev not in _LEGACY:
            raise ReportError(f"check {cid!r}: `severity` must be one of "
                              f"{sorted(_LEGACY)}; got {sev!r}.")
        return _LEGACY[sev]
    if status not in STATUSES:
        raise ReportError(f"check {cid!r}: `status` must be one of {list(STATUSES)}; "
                          f"got {status!r}.")
    if passed is not None and passed is not (status == "pass"):
        raise ReportError(f"check {cid!r}: `passed` must be True iff `status` is 'pass'; "
                          f"got passed={passed!r} with status {status!r}.")
    return status


def status_counts(checks: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Number of checks of each status (every key of :data:`STATUSES`, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for chk in checks:
        counts[check_status(chk)] += 1
    return counts


def verdict(checks: Iterable[Mapping[str, Any]], *, strict: bool = False) -> str:
    """The verdict of a set of checks: ``"pass"`` or ``"fail"``.

    Parameters
    ----------
    checks : iterable of mapping
        Check records (see :func:`check_status`).
    strict : bool, optional
        If False (default), the verdict is ``"fail"`` iff some check has status
        ``"fail"``. If True, any status other than ``"pass"`` (``"fail"``, ``"warn"``,
        ``"no-power"``, ``"skipped"``) fails.

    Returns
    -------
    str
        ``"pass"`` or ``"fail"``. An empty set of checks passes.
    """
    if not isinstance(strict, bool):
        raise ReportError(f"`strict` must be a bool; got {strict!r}.")
    counts = status_counts(checks)
    if counts["fail"]:
        return "fail"
    if strict and any(counts[s] for s in STATUSES if s != "pass"):
        return "fail"
    return "pass"


def summary_line(checks: Iterable[Mapping[str, Any]], *, strict: bool = False) -> str:
    """One line counting every status, e.g.
    ``PASS (56 checks: 52 passed, 4 warnings, 0 failed, 0 skipped, 0 no-power)``.

    The verdict word is :func:`verdict` of the same checks; ``" [strict]"`` follows it
    when ``strict`` is True.
    """
    checks = list(checks)
    counts = status_counts(checks)
    word = verdict(checks, strict=strict).upper() + (" [strict]" if strict else "")
    warn = "warning" if counts["warn"] == 1 else "warnings"
    noun = "check" if len(checks) == 1 else "checks"
    return (f"{word} ({len(checks)} {noun}: {counts['pass']} passed, {counts['warn']} {warn}, "
            f"{counts['fail']} failed, {counts['skipped']} skipped, "
            f"{counts['no-power']} no-power)")
