"""Build, read and atomically write report documents.

:func:`write_report` renders everything in memory first (JSON text, Markdown, HTML,
PNG figures), then writes it into a fresh temporary directory beside the target and
moves the files into place with :func:`os.replace`. A failure while rendering or
writing leaves nothing behind: no partial report ever appears in ``out_dir`` (when
``out_dir`` does not exist yet the whole directory appears in one rename).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from distributions.errors import ReportError
from reports.render import render_figures, render_html, render_markdown
from reports.schema import SCHEMA_ID, SCHEMA_VERSION, jsonable, validate_report
from reports.status import check_status, verdict

__all__ = [
    "environment_info",
    "make_document",
    "write_report",
    "read_report",
    "REPORT_FILES",
]

#: File names written by :func:`write_report` (figures go to ``figures/``).
REPORT_FILES: dict[str, str] = {"json": "report.json", "md": "report.md", "html": "report.html"}

_PACKAGES = ("autospeculation", "numpy", "scipy", "statsmodels", "matplotlib", "tqdm")


def environment_info() -> dict[str, Any]:
    """Python, package versions and machine (platform, cpu count) of this run."""
    packages: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": sys.version.split()[0],
        "packages": packages,
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
    }


def make_document(
    kind: str,
    title: str,
    checks: Sequence[dict[str, Any]],
    sections: Sequence[dict[str, Any]] = (),
    *,
    seeds: dict[str, Any] | None = None,
    stage_seconds: Sequence[tuple[str, float]] = (),
    total_seconds: float | None = None,
    command: Sequence[str] | None = None,
    config: dict[str, Any] | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """Assemble a schema-valid report document.

    Every check gets its ``status`` (:mod:`reports.status`; derived from ``passed`` and
    ``severity`` when the record has none), and the verdict is
    :func:`reports.status.verdict` of the checks: ``"fail"`` iff some check has status
    ``"fail"``, or with ``strict=True`` iff some check is not ``"pass"``.

    Raises
    ------
    ReportError
        If a check's ``status`` is unknown or disagrees with its ``passed``, or a
        figure is mistyped (e.g. a p-value given as text).
    """
    if not isinstance(strict, bool):
        raise ReportError(f"`strict` must be a bool; got {strict!r}.")
    checks_j = jsonable(list(checks))
    for chk in checks_j:
        if not isinstance(chk, dict):
            raise ReportError(f"every check must be a dict; got {type(chk).__name__}.")
        status = check_status(chk)
        chk.setdefault("severity", "error")
        chk["status"] = status
        chk["passed"] = status == "pass"
    stages = [{"stage": s, "seconds": round(float(t), 3)} for s, t in stage_seconds]
    total = float(total_seconds) if total_seconds is not None else sum(s["seconds"] for s in stages)
    doc = {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "title": title,
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": list(command) if command is not None else [],
        "verdict": verdict(checks_j, strict=strict),
        "strict": strict,
        "seeds": jsonable(seeds or {}),
        "config": jsonable(config or {}),
        "environment": environment_info(),
        "timing": {"total_seconds": round(total, 3), "stages": stages},
        "checks": checks_j,
        "sections": jsonable(list(sections)),
    }
    validate_report(doc, use_jsonschema=False)
    return doc


def read_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a ``report.json`` (or a directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / REPORT_FILES["json"]
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read report {str(p)!r}: {exc.strerror or exc}.") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{str(p)!r} is not valid JSON: {exc.msg} at line {exc.lineno}.") \
            from None
    validate_report(doc)
    return doc


def _render_all(doc: dict[str, Any], formats: Sequence[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ReportError(f"report is not JSON-serialisable: {exc}.") from None
    figures = render_figures(doc) if ("md" in formats or "html" in formats) else {}
    if "json" in formats:
        files[REPORT_FILES["json"]] = text.encode()
    if "md" in formats:
        files[REPORT_FILES["md"]] = render_markdown(doc).encode()
    if "html" in formats:
        files[REPORT_FILES["html"]] = render_html(doc, figures=figures).encode()
    if "md" in formats:
        for name, png in figures.items():
            files[f"figures/{name}"] = png
    return files


def write_report(
    doc: dict[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("json", "md", "html"),
) -> dict[str, Path]:
    """Validate, render and atomically write a report into ``out_dir``.

    Parameters
    ----------
    doc : dict
        A report document (see :mod:`reports.schema`).
    out_dir : path
        Directory to write ``report.json``, ``report.md``, ``report.html`` and
        ``figures/*.png`` into; created if missing.
    formats : sequence of {"json", "md", "html"}

    Returns
    -------
    dict
        Format name (and ``"figures/<name>"``) to the written path.

    Raises
    ------
    ReportError
        If the document is invalid or the files cannot be written; nothing is left
        behind in that case.
    """
    bad = [f for f in formats if f not in REPORT_FILES]
    if bad:
        raise ReportError(f"`formats` must be among {sorted(REPORT_FILES)}; got {bad[0]!r}.")
    validate_report(doc)
    files = _render_all(doc, formats)  # any rendering failure happens before any write
    out = Path(out_dir)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as exc:
        raise ReportError(f"cannot create report directory {str(out)!r}: "
                          f"{exc.strerror or exc}.") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for rel, data in files.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if not out.exists():
            os.replace(tmp, out)  # the whole report appears at once
        else:
            if not out.is_dir():
                raise ReportError(f"`out_dir` {str(out)!r} exists and is not a directory.")
            (out / "figures").mkdir(exist_ok=True)
            for rel in files:  # every file is complete when it appears
                os.replace(tmp / rel, out / rel)
    except OSError as exc:
        raise ReportError(f"cannot write report into {str(out)!r}: {exc.strerror or exc}.") \
            from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    short = {"json": "json", "md": "md", "html": "html"}
    paths: dict[str, Path] = {}
    for rel in files:
        key = next((k for k, v in REPORT_FILES.items() if v == rel), rel)
        paths[short.get(key, key)] = out / rel
    return paths
