"""Check records: the one adapter from a check result to a report record.

A *check record* is the plain dictionary a report stores per check, with the fields
of :data:`reports.schema.REPORT_SCHEMA`'s checks: ``id, stage, name, passed,
severity, status`` and optionally ``sampler, target, method, statistic, pvalue,
alpha, detectable_tv, num_samples, tv_estimate, seed, detail, worst_cells, query,
extra``. A field whose value is ``None`` is left out.

:func:`to_record` turns any result implementing :class:`verify.results.CheckResult`
into a record; :func:`check_record` builds a record from explicit fields (a crash, a
non-statistical finding); every stage of the validation run and the pytest plugin use
these two, and nothing else builds records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from distributions.errors import ParameterError
from reports.status import STATUSES
from verify.results import CheckResult, to_plain

__all__ = ["check_record", "record_status", "to_record", "worst_cells_json"]

#: The result fields a record takes from any :class:`~verify.results.CheckResult`.
_PROTOCOL_FIELDS: tuple[str, ...] = ("method", "statistic", "pvalue", "alpha", "num_samples",
                                     "detectable_tv", "seed")


def record_status(rec: Mapping[str, Any]) -> str:
    """The ``status`` of a check record.

    A record carrying ``status`` keeps it; a record without one gets it from
    ``passed`` and ``severity``: "pass" when passed, else "fail" for severity
    "error" and "warn" for "warning" and "info".

    Raises
    ------
    ParameterError
        If the record's ``status`` is not one of :data:`reports.status.STATUSES`.
    """
    status = rec.get("status")
    if status is not None:
        if status not in STATUSES:
            raise ParameterError(f"`status` must be one of {', '.join(STATUSES)}; "
                                 f"got {status!r} (check {rec.get('id')!r}).")
        return str(status)
    if rec.get("passed"):
        return "pass"
    return "fail" if rec.get("severity", "error") == "error" else "warn"


def check_record(stage: str, cid: str, name: str, passed: bool, *, severity: str = "error",
                 status: str | None = None, **fields: Any) -> dict[str, Any]:
    """A check record from explicit fields.

    Parameters
    ----------
    stage, cid, name : str
        The record's stage, its id within the stage (the record's ``id`` is
        ``"{stage}/{cid}"``) and its human-readable name.
    passed : bool
        Whether the check passed (used for the status when ``status`` is None).
    severity : {"error", "warning", "info"}, default "error"
    status : str, optional
        One of :data:`reports.status.STATUSES`; default the one :func:`record_status`
        derives from ``passed`` and ``severity``.
    **fields
        Further record fields; ``None`` values are left out.

    Returns
    -------
    dict
        The record; ``passed`` is True exactly for status "pass".
    """
    rec: dict[str, Any] = {"id": f"{stage}/{cid}", "stage": stage, "name": name,
                           "passed": bool(passed), "severity": severity}
    if status is not None:
        rec["status"] = status
    rec["status"] = record_status(rec)
    rec["passed"] = rec["status"] == "pass"
    rec.update({k: v for k, v in fields.items() if v is not None})
    return rec


def worst_cells_json(cells: Sequence[Any] | None, limit: int = 5) -> list[dict[str, Any]]:
    """Worst cells as ``{"cell", "observed", "expected"}`` dicts (at most ``limit``).

    A cell is an object with ``label`` (or ``config``), ``observed`` and ``expected``
    attributes (:class:`verify.exactness.WorstCell`) or a mapping with these keys.
    """
    out = []
    for c in list(cells or [])[:limit]:
        d = dict(c) if isinstance(c, Mapping) else {
            k: getattr(c, k, None) for k in ("cell", "label", "config", "observed", "expected")}
        if d.get("cell") is None:
            d["cell"] = d.get("label") if d.get("label") is not None else d.get("config")
        out.append({k: to_plain(d.get(k)) for k in ("cell", "observed", "expected")})
    return out


def to_record(result: CheckResult, *, stage: str, cid: str, name: str,
              severity: str = "error", **extra: Any) -> dict[str, Any]:
    """The report record of a check result.

    Parameters
    ----------
    result : CheckResult
        Any result implementing :class:`verify.results.CheckResult`; its
        ``status``, ``method``, ``statistic``, ``pvalue``, ``alpha``,
        ``num_samples``, ``detectable_tv`` and ``seed`` go into the record, and its
        ``tv_estimate`` and ``worst_cells`` (at most five) when it has them.
    stage, cid, name : str
        As in :func:`check_record` (the record's ``id`` is ``"{stage}/{cid}"``).
    severity : {"error", "warning", "info"}, default "error"
    **extra
        Further record fields (``sampler``, ``target``, ``detail``, ``extra``, ...).
        They override the fields taken from ``result`` (for example ``id``, a
        check's own ``method`` name, or ``status`` for a check whose failure is a
        warning in the report's context); a ``None`` value leaves the field out.

    Returns
    -------
    dict
        The record, in plain Python types (it may cross a process boundary).

    Examples
    --------
    >>> from distributions import random_table
    >>> from samplers import SequentialSampler
    >>> from verify import check_exact
    >>> target = random_table(3, 2, rng=0)
    >>> res = check_exact(SequentialSampler(target), target, tv=0.2, rng=1)
    >>> rec = to_record(res, stage="exactness", cid="seq", name="law", sampler="sequential")
    >>> rec["id"], rec["status"] == res.status, rec["seed"]
    ('exactness/seq', True, 1)
    """
    fields: dict[str, Any] = {k: to_plain(getattr(result, k)) for k in _PROTOCOL_FIELDS}
    fields["method"] = str(fields["method"])
    fields["num_samples"] = int(fields["num_samples"])
    tv_estimate = getattr(result, "tv_estimate", None)
    if tv_estimate is not None:
        fields["tv_estimate"] = to_plain(tv_estimate)
    if hasattr(result, "worst_cells"):
        fields["worst_cells"] = worst_cells_json(result.worst_cells)
    status = str(extra.pop("status", None) or result.status)
    fields.update(extra)
    return check_record(stage, cid, name, bool(result.passed), severity=severity,
                        status=status, **fields)
