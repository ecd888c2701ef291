"""Build, read and atomically write report documents.

:func:`write_report` renders everything in memory first (JSON text, Markdown, HTML,
PNG figures), then writes the whole report directory beside the target (a hidden
sibling ``.<name>.autospec-tmp-<pid>-<random>``) and swaps it into place in one step:
a rename when ``out_dir`` does not exist, else an atomic exchange of the two
directories (Linux ``renameat2(RENAME_EXCHANGE)``), after which the previous report is
deleted. A reader therefore sees the complete old report or the complete new one,
never a mix, whatever kills the writer. Where the exchange is not available (another
OS or file system) two renames are used: a kill between them leaves no report at
``out_dir`` (never a mixed one) and the previous report in the hidden sibling.

Leftovers of killed writers (hidden siblings whose process is gone and that hold only
report files) are deleted by the next :func:`write_report` into the same place.
``out_dir`` must be missing, empty or hold only a previous report (``report.json``,
``report.md``, ``report.html``, ``figures/*.png``): the swap replaces the whole
directory, so a directory with other files is refused before anything is written.
Files get the usual permissions (``0o666`` and directories ``0o777``, less the umask).
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import errno
import json
import os
import platform
import re
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
from verify.files import current_umask, write_file_atomic

__all__ = [
    "environment_info",
    "make_document",
    "write_report",
    "read_report",
    "check_out_dir",
    "clean_leftovers",
    "write_file_atomic",
    "current_umask",
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


#: Marker in the names of the hidden build directories beside ``out_dir``.
_TMP_TAG = ".autospec-tmp-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux); False when the system cannot do it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err))


def _foreign_entries(directory: Path) -> list[str]:
    """Entries of ``directory`` that are not part of a report written here."""
    names = set(REPORT_FILES.values())
    foreign = []
    with os.scandir(directory) as it:
        for entry in it:
            if entry.name == "figures" and entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as figs:
                    foreign += [f"figures/{f.name}" for f in figs
                                if not (f.name.endswith(".png")
                                        and f.is_file(follow_symlinks=False))]
            elif not (entry.name in names and entry.is_file(follow_symlinks=False)):
                foreign.append(entry.name + ("/" if entry.is_dir() else ""))
    return sorted(foreign)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_leftovers(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete what killed writers of ``out_dir`` left beside it; return the paths removed.

    A leftover is a hidden sibling ``.<name>.autospec-tmp-<pid>-...`` (or
    ``.<name>.tmp-...``, the name used before schema version 2) whose process is no
    longer running and which holds only report files. Anything else is left alone.
    """
    out = Path(os.path.abspath(out_dir))
    parent, name = out.parent, out.name
    pat = re.compile(r"^\." + re.escape(name) +
                     r"(?:" + re.escape(_TMP_TAG) + r"(\d+)-.+|\.tmp-[A-Za-z0-9_]{8})$")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        m = pat.match(entry.name)
        if not m or not entry.is_dir(follow_symlinks=False):
            continue
        if m.group(1) is not None and _pid_alive(int(m.group(1))):
            continue
        path = Path(entry.path)
        try:
            if _foreign_entries(path):
                continue
            shutil.rmtree(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Check that a report can be written into ``out_dir``, before any work; return it.

    Call this before a long run: it raises the error :func:`write_report` would raise
    at the end about the location (a file in the way, a directory holding other files,
    the current directory, a parent that is a file). It writes nothing.

    Raises
    ------
    ReportError
        If ``out_dir`` cannot receive a report.
    """
    raw = Path(out_dir)
    out = Path(os.path.realpath(raw))
    if out.parent == out:
        raise ReportError(f"`out_dir` must not be a file-system root; got {str(raw)!r}.")
    if out == Path(os.path.realpath(os.getcwd())):
        raise ReportError(f"`out_dir` must not be the current directory (the report directory "
                          f"is replaced as a whole); got {str(raw)!r}.")
    if out.exists():
        if not out.is_dir():
            raise ReportError(f"`out_dir` {str(raw)!r} exists and is not a directory.")
        try:
            foreign = _foreign_entries(out)
        except OSError as exc:
            raise ReportError(f"cannot list `out_dir` {str(raw)!r}: "
                              f"{exc.strerror or exc}.") from None
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise ReportError(
                f"`out_dir` {str(raw)!r} holds {foreign[0]!r}{more}, which is not part of a "
                f"report; the report directory is replaced as a whole, so write it into a new "
                f"or empty directory or one holding only a previous report.")
    else:
        anc = out.parent
        while not anc.exists():
            anc = anc.parent
        if not anc.is_dir():
            raise ReportError(f"`out_dir` {str(raw)!r} cannot be created: {str(anc)!r} is "
                              f"not a directory.")
        if not os.access(anc, os.W_OK | os.X_OK):
            raise ReportError(f"`out_dir` {str(raw)!r} cannot be created: {str(anc)!r} is "
                              f"not writable.")
    return out


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _swap_into_place(tmp: Path, out: Path) -> Path | None:
    """Move the built directory ``tmp`` to ``out``; return the path of the old report
    (to delete) or None."""
    if not out.exists():
        try:
            os.rename(tmp, out)  # the whole report appears at once
            return None
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not out.is_dir():
                raise
    if _renameat2_exchange(tmp, out):
        return tmp  # tmp now holds the previous report
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP_TAG}{os.getpid()}-old",
                                dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    return old


def write_report(
    doc: dict[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("json", "md", "html"),
) -> dict[str, Path]:
    """Validate, render and atomically write a report directory ``out_dir``.

    Parameters
    ----------
    doc : dict
        A report document (see :mod:`reports.schema`).
    out_dir : path
        Directory to hold ``report.json``, ``report.md``, ``report.html`` and
        ``figures/*.png``; created if missing. If it exists it must hold only a
        previous report (see :func:`check_out_dir`); that report is replaced as a whole.
    formats : sequence of {"json", "md", "html"}

    Returns
    -------
    dict
        Format name (and ``"figures/<name>"``) to the written path.

    Raises
    ------
    ReportError
        If the document is invalid, ``out_dir`` cannot receive a report, or the files
        cannot be written; the previous report (if any) is then left as it was and no
        temporary directory remains.
    """
    bad = [f for f in formats if f not in REPORT_FILES]
    if bad:
        raise ReportError(f"`formats` must be among {sorted(REPORT_FILES)}; got {bad[0]!r}.")
    validate_report(doc)
    out_arg = Path(out_dir)
    out = check_out_dir(out_arg)
    files = _render_all(doc, formats)  # any rendering failure happens before any write
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP_TAG}{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise ReportError(f"cannot create report directory {str(out_arg)!r}: "
                          f"{exc.strerror or exc}.") from None
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        for rel, data in files.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if "md" in formats:
            (tmp / "figures").mkdir(exist_ok=True)
            _fsync_dir(tmp / "figures")
        _fsync_dir(tmp)
        old = _swap_into_place(tmp, out)
        _fsync_dir(parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise ReportError(f"cannot write report into {str(out_arg)!r}: "
                          f"{exc.strerror or exc}.") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    short = {"json": "json", "md": "md", "html": "html"}
    paths: dict[str, Path] = {}
    for rel in files:
        key = next((k for k, v in REPORT_FILES.items() if v == rel), rel)
        paths[short.get(key, key)] = out_arg / rel
    return paths
