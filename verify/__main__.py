"""``python -m verify``: the ``autospeculation`` command line."""

import sys

from verify.cli import main

sys.exit(main())
