"""The ``autospeculation`` command line: ``validate``, ``audit``, ``report``, ``rounds``,
``pinning`` (see :mod:`reports.cli.main`).

The console script ``autospeculation``, ``python -m reports`` and ``python -m verify``
all run :func:`main`. Layout: ``main.py`` (parser, exit codes, one-line usage errors),
``console.py`` (progress bars or log lines, tables, the verdict line), ``inputs.py``
(checks of output locations and of the user's ``MODULE:FACTORY``), and one module per
subcommand (``validate.py``, ``audit.py``, ``report.py``, ``rounds.py``, ``pinning.py``),
each with ``add_parser(subparsers)`` and ``run(args, console)``.

``reports.cli.main`` is the function :func:`main` (the console script
``reports.cli:main``); the module of the same name is ``sys.modules["reports.cli.main"]``.
"""

from reports.cli.inputs import check_output_location, check_report_dir, load_factory
from reports.cli.main import build_parser, main

__all__ = ["main", "build_parser", "load_factory", "check_output_location",
           "check_report_dir"]
