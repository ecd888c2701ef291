"""Everything downstream of the checks: the validation run, reports, figures, the CLI.

The validation run (:mod:`reports.validation`: :class:`ValidationConfig`,
:func:`run_validation`, :func:`available_stages`) turns the typed results of
:mod:`verify` into report records (:mod:`reports.records`). One JSON document
(versioned schema) is the source of a report; Markdown and a self-contained HTML file
are rendered from it and written atomically. The command line is :mod:`reports.cli`
(``autospeculation``, ``python -m reports``).

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
from reports.validation import ValidationConfig, available_stages, run_validation

__all__ = [
    "ValidationConfig",
    "run_validation",
    "available_stages",
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
