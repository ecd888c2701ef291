"""The versioned JSON schema of a report document, and its validation.

A report is one JSON document (the source of truth); Markdown and HTML are rendered
from it (:mod:`reports.render`). The schema is a plain dict (JSON Schema draft
2020-12). :func:`validate_report` uses :mod:`jsonschema` when it is installed (a test
dependency) and otherwise a light structural check of its own, so validation never
needs more than the runtime dependencies.

Every figure is typed. Numbers that are not finite (an infinite G statistic after a
hit on an impossible cell, say) are stored as the strings ``"inf"``, ``"-inf"`` or
``"nan"`` (see :func:`jsonable`), and only those three strings are accepted where a
figure is expected; a p-value is a number in [0, 1], ``"nan"`` or null, never other
text.

Version 2 adds the check ``status`` (:mod:`reports.status`) and the document's
``strict`` flag; documents of version 1 (no ``status``) are still read, their statuses
derived from ``passed`` and ``severity``. Beyond the schema, :func:`validate_report`
refuses a document whose stored ``verdict`` is not the verdict recomputed from its
checks (:func:`reports.status.verdict`), or whose ``passed`` disagrees with ``status``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from distributions.errors import ReportError
from reports.figures import HEATMAP_CMAPS
from reports.status import STATUSES, check_status, status_counts, verdict

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "READABLE_VERSIONS",
    "REPORT_SCHEMA",
    "SEVERITIES",
    "STATUSES",
    "validate_report",
    "jsonable",
]

#: Value of the document's ``"schema"`` field.
SCHEMA_ID: str = "autospeculation.report"
#: Version of the document layout; bumped on any incompatible change.
SCHEMA_VERSION: int = 2
#: Versions :func:`validate_report` (and so :func:`reports.io.read_report`) accepts.
READABLE_VERSIONS: tuple[int, ...] = (1, 2)
#: Severities of a check: a failed ``"error"`` check fails the run.
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

_NONFINITE = {"enum": ["inf", "-inf", "nan"]}
#: any real figure: a number, a non-finite marker string, or null (not available)
_NUM = {"anyOf": [{"type": "number"}, _NONFINITE, {"type": "null"}]}
#: a probability (p-value): in [0, 1], "nan" (undefined) or null
_PROB = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"const": "nan"},
                   {"type": "null"}]}
#: a significance level: in [0, 1] or null
_LEVEL = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]}
#: a non-negative figure (detectable TV): >= 0, "inf", "nan" or null
_NONNEG = {"anyOf": [{"type": "number", "minimum": 0}, {"enum": ["inf", "nan"]},
                     {"type": "null"}]}
_INT = {"type": ["integer", "null"]}
_COUNT = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}
_STR = {"type": "string"}
#: a table cell: display text, a number, a bool, null, or a tuple of those
_CELL_ATOM = {"type": ["number", "string", "boolean", "null"]}
_CELL = {"anyOf": [_CELL_ATOM, {"type": "array", "items": _CELL_ATOM}]}
_NUMS = {"type": "array", "items": _NUM}

_CHECK = {
    "type": "object",
    "required": ["id", "stage", "name", "passed", "severity"],
    "properties": {
        "id": _STR,
        "stage": _STR,
        "name": _STR,
        "passed": {"type": "boolean"},
        "status": {"enum": list(STATUSES)},
        "severity": {"enum": list(SEVERITIES)},
        "sampler": {"type": ["string", "null"]},
        "target": {"type": ["string", "null"]},
        "method": {"type": ["string", "null"]},
        "statistic": _NUM,
        "pvalue": _PROB,
        "alpha": _LEVEL,
        "detectable_tv": _NONNEG,
        "num_samples": _COUNT,
        "tv_estimate": _NUM,
        "batch_size": _COUNT,
        "seed": {"type": ["integer", "string", "null"]},
        "detail": {"type": "string"},
        "worst_cells": {"type": "array", "items": {
            "type": "object",
            "properties": {"observed": _NUM, "expected": _NUM, "cell": _CELL},
        }},
        "batch_sizes": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "power": _LEVEL,
        "tv_upper": _NUM,
        "pvalue_resolution": _LEVEL,
        "query": {"type": ["object", "null"]},
        "extra": {"type": "object"},
    },
}

_TABLE = {
    "type": "object",
    "required": ["columns", "rows"],
    "properties": {
        "title": _STR,
        "columns": {"type": "array", "items": _STR},
        "rows": {"type": "array", "items": {"type": "array", "items": _CELL}},
        "caption": _STR,
    },
}

_SERIES = {
    "type": "object",
    "required": ["x", "y"],
    "properties": {
        "label": _STR,
        "x": _NUMS,
        "y": _NUMS,
        "yerr": _NUMS,
        "style": {"enum": ["line", "points", "dashed"]},
    },
}

_FIGURE = {
    "type": "object",
    "required": ["id", "kind"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "kind": {"enum": ["line", "bar", "heatmap", "image"]},
        "title": _STR,
        "caption": _STR,
        "xlabel": _STR,
        "ylabel": _STR,
        "logx": {"type": "boolean"},
        "logy": {"type": "boolean"},
        "xinteger": {"type": "boolean"},
        "yinteger": {"type": "boolean"},
        "series": {"type": "array", "items": _SERIES},
        "labels": {"type": "array"},
        "values": {"type": "array", "items": {"anyOf": [_NUM, _NUMS]}},
        "xlabels": {"type": "array"},
        "ylabels": {"type": "array"},
        "annotations": {"type": "array"},
        "cmap": {"enum": list(HEATMAP_CMAPS)},
        "colorbar_label": _STR,
        "colorbar_ticks": {"type": "array",
                           "items": {"type": "array", "prefixItems": [{"type": "number"}, _STR],
                                     "minItems": 2, "maxItems": 2}},
        "vmin": {"type": "number"},
        "vmax": {"type": "number"},
        "png_base64": _STR,
    },
}

_SECTION = {
    "type": "object",
    "required": ["id", "title"],
    "properties": {
        "id": _STR,
        "title": _STR,
        "text": _STR,
        "tables": {"type": "array", "items": _TABLE},
        "figures": {"type": "array", "items": _FIGURE},
    },
}

#: JSON Schema (draft 2020-12) of a report document.
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "autospeculation.report/1",
    "title": "autospeculation report",
    "type": "object",
    "required": [
        "schema",
        "schema_version",
        "kind",
        "title",
        "created_utc",
        "verdict",
        "seeds",
        "environment",
        "timing",
        "checks",
        "sections",
    ],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "schema_version": {"enum": list(READABLE_VERSIONS)},
        "kind": {"enum": ["validate", "audit", "pytest", "rounds", "pinning", "certify"]},
        "title": _STR,
        "created_utc": _STR,
        "command": {"type": "array", "items": _STR},
        "verdict": {"enum": ["pass", "fail"]},
        "strict": {"type": "boolean"},
        "seeds": {"type": "object"},
        "config": {"type": "object"},
        "environment": {
            "type": "object",
            "required": ["python", "packages", "machine"],
            "properties": {
                "python": _STR,
                "packages": {"type": "object"},
                "machine": {
                    "type": "object",
                    "required": ["platform", "cpu_count"],
                    "properties": {"platform": _STR, "cpu_count": _INT},
                },
            },
        },
        "timing": {
            "type": "object",
            "required": ["total_seconds", "stages"],
            "properties": {
                "total_seconds": {"type": "number"},
                "stages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["stage", "seconds"],
                        "properties": {"stage": _STR, "seconds": {"type": "number"}},
                    },
                },
            },
        },
        "checks": {"type": "array", "items": _CHECK},
        "sections": {"type": "array", "items": _SECTION},
    },
}


def jsonable(value: Any) -> Any:
    """Return ``value`` converted to plain JSON types.

    numpy scalars and arrays become Python numbers and lists, tuples become lists,
    non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"``.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


#: figures of a check record: field -> (allowed marker strings, minimum, maximum)
_CHECK_FIGURES: dict[str, tuple[tuple[str, ...], float | None, float | None]] = {
    "statistic": (("inf", "-inf", "nan"), None, None),
    "pvalue": (("nan",), 0.0, 1.0),
    "alpha": ((), 0.0, 1.0),
    "detectable_tv": (("inf", "nan"), 0.0, None),
    "tv_estimate": (("inf", "-inf", "nan"), None, None),
}


def _figure_error(i: int, key: str, v: Any) -> str | None:
    if v is None:
        return None
    if key in ("num_samples", "batch_size"):
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return None
        return f"checks[{i}].{key} must be a non-negative integer or null; got {v!r}"
    markers, lo, hi = _CHECK_FIGURES[key]
    if isinstance(v, str):
        if v in markers:
            return None
        allowed = f" or one of {list(markers)}" if markers else ""
        return f"checks[{i}].{key} must be a number{allowed}; got the string {v!r}"
    if not _is_num(v) or math.isnan(v) or math.isinf(v):
        return f"checks[{i}].{key} must be a finite JSON number; got {v!r}"
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        return f"checks[{i}].{key} must lie in [{lo}, {hi if hi is not None else 'inf'}]; got {v!r}"
    return None


def _light_check(doc: Any) -> list[str]:
    """Structural check without jsonschema: required keys, types of the main fields."""
    errors: list[str] = []
    if not isinstance(doc, dict):
        return [f"document must be a JSON object; got {type(doc).__name__}"]
    for key in REPORT_SCHEMA["required"]:
        if key not in doc:
            errors.append(f"missing required field {key!r}")
    if errors:
        return errors
    if doc["schema"] != SCHEMA_ID:
        errors.append(f"'schema' must be {SCHEMA_ID!r}; got {doc['schema']!r}")
    if doc["schema_version"] not in READABLE_VERSIONS:
        errors.append(f"'schema_version' must be one of {list(READABLE_VERSIONS)}; "
                      f"got {doc['schema_version']!r}")
    if doc["verdict"] not in ("pass", "fail"):
        errors.append(f"'verdict' must be 'pass' or 'fail'; got {doc['verdict']!r}")
    if "strict" in doc and not isinstance(doc["strict"], bool):
        errors.append(f"'strict' must be a boolean; got {doc['strict']!r}")
    if not isinstance(doc["checks"], list):
        errors.append("'checks' must be an array")
    else:
        for i, chk in enumerate(doc["checks"]):
            if not isinstance(chk, dict):
                errors.append(f"checks[{i}] must be an object")
                continue
            for key in _CHECK["required"]:
                if key not in chk:
                    errors.append(f"checks[{i}] is missing {key!r}")
            if "passed" in chk and not isinstance(chk["passed"], bool):
                errors.append(f"checks[{i}].passed must be a boolean")
            if "severity" in chk and chk["severity"] not in SEVERITIES:
                errors.append(f"checks[{i}].severity must be one of {SEVERITIES}")
            if "status" in chk and chk["status"] not in STATUSES:
                errors.append(f"checks[{i}].status must be one of {list(STATUSES)}; "
                              f"got {chk['status']!r}")
            for key in (*_CHECK_FIGURES, "num_samples", "batch_size"):
                if key in chk:
                    err = _figure_error(i, key, chk[key])
                    if err:
                        errors.append(err)
    if not isinstance(doc["sections"], list):
        errors.append("'sections' must be an array")
    else:
        for i, sec in enumerate(doc["sections"]):
            if not isinstance(sec, dict) or "id" not in sec or "title" not in sec:
                errors.append(f"sections[{i}] must be an object with 'id' and 'title'")
    return errors


def _semantic_check(doc: dict[str, Any]) -> list[str]:
    """What a schema cannot say: statuses agree with ``passed``; the verdict is recomputed."""
    errors: list[str] = []
    if doc["schema_version"] >= 2:
        missing = [c.get("id", i) for i, c in enumerate(doc["checks"]) if "status" not in c]
        if missing:
            errors.append(f"check {missing[0]!r} has no 'status' (required from schema "
                          f"version 2)")
    for chk in doc["checks"]:
        try:
            check_status(chk)
        except ReportError as exc:
            errors.append(str(exc).rstrip("."))
    if errors:
        return errors
    strict = doc.get("strict", False)
    expected = verdict(doc["checks"], strict=strict)
    if doc["verdict"] != expected:
        counts = status_counts(doc["checks"])
        text = ", ".join(f"{v} {k}" for k, v in counts.items())
        errors.append(f"stored verdict {doc['verdict']!r} disagrees with its checks "
                      f"({len(doc['checks'])} checks: {text}; rule "
                      f"{'strict' if strict else 'default'}), whose verdict is {expected!r}; "
                      f"the document was altered or written by a faulty producer")
    return errors


def validate_report(doc: Any, *, use_jsonschema: bool | None = None) -> None:
    """Raise :class:`ReportError` unless ``doc`` is a valid report document.

    Parameters
    ----------
    doc : object
        The parsed JSON document.
    use_jsonschema : bool, optional
        ``True`` requires :mod:`jsonschema`, ``False`` uses the light own check only,
        ``None`` (default) uses jsonschema when it is installed.

    Raises
    ------
    ReportError
        If the document does not match the schema (any version of
        :data:`READABLE_VERSIONS`), if a check's ``passed`` disagrees with its
        ``status``, or if the stored ``verdict`` is not :func:`reports.status.verdict`
        of its checks (under the document's ``strict`` rule).
    """
    errors = _light_check(doc)
    if not errors:
        errors = _semantic_check(doc)
    if not errors and use_jsonschema is not False:
        try:
            import jsonschema
        except ImportError:
            if use_jsonschema:
                raise ReportError(
                    "`use_jsonschema` is True but the jsonschema package is not installed."
                ) from None
        else:
            validator = jsonschema.Draft202012Validator(REPORT_SCHEMA)
            for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                where = "/".join(str(p) for p in err.path) or "(document)"
                errors.append(f"{where}: {err.message}")
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ReportError(f"invalid report document (schema version "
                          f"{doc.get('schema_version', '?') if isinstance(doc, dict) else '?'}): "
                          f"{errors[0]}{more}.")
