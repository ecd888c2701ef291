"""A deliberately expensive exact oracle for ``benchmarks/distributed.py``.

:class:`SpinOracle` answers like the table it wraps after spinning the CPU for
``seconds`` of process time per call (CPU-bound, as a model's forward pass on a CPU
is; a sleep would let the two workers of a 2-core machine overlap for free). It lives
in its own module so that Dask workers can unpickle it (``benchmarks.slow_oracle``,
importable from the repository root).
"""

from __future__ import annotations

import time

import numpy as np

from distributions.table import TableDistribution

__all__ = ["SpinOracle"]


class SpinOracle:
    """The exact conditionals of ``table``, each call costing ``seconds`` of CPU."""

    def __init__(self, table: TableDistribution, seconds: float = 0.01) -> None:
        self.table, self.seconds = table, float(seconds)
        self.n, self.q = table.n, table.q

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        end = time.process_time() + self.seconds
        while time.process_time() < end:
            pass
        return self.table.conditionals(x)
