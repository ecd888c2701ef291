"""Rendering of validation results (what a reviewer reads).

One JSON document (versioned schema) is the source; Markdown and a self-contained
HTML file are rendered from it and written atomically.

The verdict of a set of check records is :func:`verdict` (one rule, used by the
renderers, the document validator and the CLI); :func:`summary_line` counts every
status (``"pass"``, ``"fail"``, ``"warn"``, ``"skipped"``, ``"no-power"``).
"""

from reports.io import (
    check_out_dir,
    clean_leftovers,
    environment_info,
    make_document,
    read_report,
    write_report,
)
from reports.render import render_html, render_markdown
from reports.schema import REPORT_SCHEMA, SCHEMA_VERSION, jsonable, validate_report
from reports.status import (
    STATUS_LABELS,
    STATUSES,
    check_status,
    status_counts,
    summary_line,
    verdict,
)

__all__ = [
    "make_document",
    "write_report",
    "read_report",
    "check_out_dir",
    "clean_leftovers",
    "environment_info",
    "render_markdown",
    "render_html",
    "REPORT_SCHEMA",
    "SCHEMA_VERSION",
    "validate_report",
    "jsonable",
    "STATUSES",
    "STATUS_LABELS",
    "check_status",
    "status_counts",
    "verdict",
    "summary_line",
]
