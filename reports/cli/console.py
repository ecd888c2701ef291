"""What the command line shows on the terminal: progress, log lines, tables, the verdict.

On a terminal, progress bars (tqdm) go to stderr; off a terminal (CI logs), one log line
per stage and per check goes to stderr instead. ``--quiet`` silences both and the
tables. The subcommands get one :class:`Console` from :func:`reports.cli.main.main`.
This module is apart from ``main.py`` so that the subcommand modules, which
``main.py`` imports, can use it without an import cycle.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from reports.io import write_report
from reports.render import fmt
from reports.status import STATUS_LABELS, check_status, summary_line

__all__ = ["PROG", "Console", "ProgressBar", "SubParsers"]

PROG = "autospeculation"


class ProgressBar(Protocol):
    """The progress object a stage is given (tqdm's interface, reduced)."""

    def set_postfix_str(self, s: str) -> None: ...

    def update(self, k: int = 1) -> Any: ...

    def close(self) -> None: ...


class SubParsers(Protocol):
    """What ``ArgumentParser.add_subparsers()`` returns, as the subcommand modules use it
    (each registers itself with ``add_parser(subparsers)``)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def _on_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


class _LogBar:
    """The progress object off a terminal: one log line per finished check (its time:
    since the previous one finished; the postfix may change meanwhile, e.g. shards)."""

    def __init__(self, total: int, desc: str, emit: Callable[[str], None]) -> None:
        self.total, self.desc, self.emit = int(total), desc, emit
        self.done = 0
        self.item = ""
        self.t0 = time.perf_counter()

    def set_postfix_str(self, s: str) -> None:
        self.item = s

    def update(self, k: int = 1) -> None:
        self.done += k
        now = time.perf_counter()
        self.emit(f"{self.desc} {self.done}/{self.total} {self.item} ({now - self.t0:.1f} s)")
        self.t0 = now

    def close(self) -> None:
        pass


class Console:
    """The terminal of one subcommand run (``args.command``, ``args.quiet``)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.command = str(args.command)
        self.quiet = bool(getattr(args, "quiet", False))

    def say(self, text: str = "") -> None:
        """A line on stdout (not with ``--quiet``)."""
        if not self.quiet:
            print(text, flush=True)

    def log(self, line: str) -> None:
        """One log line on stderr (off a terminal only; never with ``--quiet``)."""
        if not self.quiet and not _on_tty():
            print(f"[{self.command}] {line}", file=sys.stderr, flush=True)

    def progress(self) -> Callable[[int, str], ProgressBar] | None:
        """tqdm bars on a terminal, log lines off it, ``None`` (no progress) with
        ``--quiet``."""
        if self.quiet:
            return None
        if not _on_tty():
            return lambda total, desc: _LogBar(total, desc, self.log)
        def make(total: int, desc: str) -> ProgressBar:
            return tqdm(total=total, desc=f"{desc:>10}", file=sys.stderr, leave=True,
                        dynamic_ncols=True, unit="check")

        return make

    def print_checks(self, checks: list[dict[str, Any]]) -> None:
        """The table of check records (id, method, p-value, detectable TV, samples,
        verdict)."""
        if self.quiet:
            return
        cols = ["check", "method", "p-value", "det. TV", "samples", "verdict"]
        rows = []
        for c in checks:
            rows.append([c["id"], c.get("method") or "-", fmt(c.get("pvalue")),
                         fmt(c.get("detectable_tv")), fmt(c.get("num_samples")),
                         STATUS_LABELS[check_status(c)]])
        widths = [max(len(str(r[i])) for r in [cols, *rows]) for i in range(len(cols))]
        widths[1] = min(widths[1], 28)
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        print(line.format(*cols))
        print("  ".join("-" * w for w in widths))
        for r in rows:
            print(line.format(*[str(v)[:w] for v, w in zip(r, widths, strict=True)]))

    def finish(self, doc: dict[str, Any], out: str | Path | None) -> int:
        """Write the report into ``out`` (when given), print the verdict line and return
        the exit code (0 when the document's verdict is ``"pass"``, else 1)."""
        if out is not None:
            paths = write_report(doc, out)
            self.say("report: " + ", ".join(str(paths[k]) for k in ("json", "md", "html")
                                            if k in paths))
        strict = bool(doc.get("strict", False))
        line = summary_line(doc["checks"], strict=strict)
        note = ""
        if not strict and line.startswith("PASS") and any(
                c.get("status", "pass") != "pass" for c in doc["checks"]):
            note = "; warnings, skipped and no-power checks fail the run only with --strict"
        self.say(f"verdict: {line} in {doc['timing']['total_seconds']:.1f} s{note}")
        return 0 if doc["verdict"] == "pass" else 1
