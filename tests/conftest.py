"""Test configuration: the suite is deterministic.

Hypothesis runs derandomised (the same examples on every run and every machine,
no example database) so that CI never depends on luck. To explore new examples
locally, run ``HYPOTHESIS_PROFILE=explore python3 -m pytest``.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
