"""The ``autospeculation`` command line (also ``python -m reports`` and ``python -m verify``).

Subcommands (one module each in :mod:`reports.cli`)
--------------------------------------------------
``validate``  the built-in validation run; writes report.json/.md/.html
``audit``     audit a user's oracle ``MODULE:FACTORY`` (optionally against a reference)
``report``    re-render a report from its JSON
``rounds``    a small rounds-scaling run
``pinning``   pinning-lemma and round-bound tables and figures
``certify``   the symbolic certificates (sympy), each proved or not with its residual

Verdict and exit codes: every check has a status ("pass", "fail", "warn", "skipped",
"no-power"). The run fails when some check has status "fail"; with ``--strict``
(``validate``, ``audit`` and ``rounds``) also when some check is "warn", "no-power" or
"skipped". The last line counts every status, e.g. ``verdict: PASS (56 checks: 52
passed, 4 warnings, 0 failed, 0 skipped, 0 no-power)``. Exit code 0 when the verdict is
PASS, 1 when it is FAIL, 2 for a usage error or bad input: every argument and the output
location are checked before any work starts, and the message is one line on stderr,
with no traceback.

Output: on a terminal, progress bars (tqdm) on stderr; off a terminal (CI logs), one
log line on stderr per stage and per check instead. ``--quiet`` silences both and the
tables (:mod:`reports.cli.console`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from distributions.errors import AutospecError, ParameterError, ReportError
from reports.cli import audit, certify, pinning, report, rounds, validate
from reports.cli.console import PROG, Console

__all__ = ["main", "build_parser"]


def _version() -> str:
    try:
        return metadata.version("autospeculation")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help').\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``autospeculation`` command."""
    p = _Parser(prog=PROG, description="Exactness checks, oracle audits and validation "
                "reports for parallel (autospeculative) samplers.",
                epilog="Exit codes: 0 verdict PASS, 1 verdict FAIL, 2 usage error. The "
                "verdict fails when a check failed; with --strict also on warnings, "
                "skipped and no-power checks.")
    p.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (validate, audit, report, rounds, pinning, certify):
        command.add_parser(sub)
    return p


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 pass, 1 check failed, 2 usage).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else 2
    args.argv = argv
    try:
        return int(args.func(args, Console(args)))
    except (ParameterError, ReportError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except AutospecError as exc:
        print(f"{PROG}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
