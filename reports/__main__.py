"""``python -m reports``: the ``autospeculation`` command line."""

import sys

from reports.cli import main

sys.exit(main())
