"""The versioned JSON schema of a report document, and its validation.

A report is one JSON document (the source of truth); Markdown and HTML are rendered
from it (:mod:`reports.render`). The schema is a plain dict (JSON Schema draft
2020-12). :func:`validate_report` uses :mod:`jsonschema` when it is installed (a test
dependency) and otherwise a light structural check of its own, so validation never
needs more than the runtime dependencies.

Numbers that are not finite (an infinite G statistic after a hit on an impossible
cell, say) are stored as the strings ``"inf"``, ``"-inf"`` or ``"nan"``; see
:func:`jsonable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from distributions.errors import ReportError

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "REPORT_SCHEMA",
    "SEVERITIES",
    "validate_report",
    "jsonable",
]

#: Value of the document's ``"schema"`` field.
SCHEMA_ID: str = "autospeculation.report"
#: Version of the document layout; bumped on any incompatible change.
SCHEMA_VERSION: int = 1
#: Severities of a check: a failed ``"error"`` check fails the run.
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

_NUM = {"type": ["number", "string", "null"]}
_INT = {"type": ["integer", "null"]}
_STR = {"type": "string"}

_CHECK = {
    "type": "object",
    "required": ["id", "stage", "name", "passed", "severity"],
    "properties": {
        "id": _STR,
        "stage": _STR,
        "name": _STR,
        "passed": {"type": "boolean"},
        "severity": {"enum": list(SEVERITIES)},
        "sampler": {"type": ["string", "null"]},
        "target": {"type": ["string", "null"]},
        "method": {"type": ["string", "null"]},
        "statistic": _NUM,
        "pvalue": _NUM,
        "alpha": _NUM,
        "detectable_tv": _NUM,
        "num_samples": _INT,
        "tv_estimate": _NUM,
        "seed": {"type": ["integer", "string", "null"]},
        "detail": {"type": "string"},
        "worst_cells": {"type": "array", "items": {"type": "object"}},
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
        "rows": {"type": "array", "items": {"type": "array"}},
        "caption": _STR,
    },
}

_SERIES = {
    "type": "object",
    "required": ["x", "y"],
    "properties": {
        "label": _STR,
        "x": {"type": "array"},
        "y": {"type": "array"},
        "yerr": {"type": "array"},
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
        "series": {"type": "array", "items": _SERIES},
        "labels": {"type": "array"},
        "values": {"type": "array"},
        "xlabels": {"type": "array"},
        "ylabels": {"type": "array"},
        "annotations": {"type": "array"},
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
        "schema_version": {"const": SCHEMA_VERSION},
        "kind": {"enum": ["validate", "audit", "pytest", "rounds", "pinning"]},
        "title": _STR,
        "created_utc": _STR,
        "command": {"type": "array", "items": _STR},
        "verdict": {"enum": ["pass", "fail"]},
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
    if doc["schema_version"] != SCHEMA_VERSION:
        errors.append(f"'schema_version' must be {SCHEMA_VERSION}; got {doc['schema_version']!r}")
    if doc["verdict"] not in ("pass", "fail"):
        errors.append(f"'verdict' must be 'pass' or 'fail'; got {doc['verdict']!r}")
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
    if not isinstance(doc["sections"], list):
        errors.append("'sections' must be an array")
    else:
        for i, sec in enumerate(doc["sections"]):
            if not isinstance(sec, dict) or "id" not in sec or "title" not in sec:
                errors.append(f"sections[{i}] must be an object with 'id' and 'title'")
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
    """
    errors = _light_check(doc)
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
        raise ReportError(f"report does not match schema version {SCHEMA_VERSION}: "
                          f"{errors[0]}{more}.")
