"""``python -m verify``: the ``autospeculation`` command line (documented in the README).

This module is executed by ``python -m verify``, never imported by ``import verify``;
it is the one place where :mod:`verify` reaches :mod:`reports` (the import contract in
``.importlinter`` lists it as the one exception to the layers).
"""

import sys

import reports.cli

if __name__ == "__main__":
    sys.exit(reports.cli.main())
