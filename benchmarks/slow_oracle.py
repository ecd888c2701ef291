"""A deliberately expensive exact oracle for ``benchmarks/distributed.py``.

:class:`SpinOracle` answers like the table it wraps after spinning the CPU for
``seconds`` of CPU time of the calling thread per call (CPU-bound, as a model's
forward pass on a CPU is; a sleep would let the two workers of a 2-core machine
overlap for free). The thread's own clock, not the process's: a Dask worker or a
process hosting a scheduler has other threads, whose CPU would shorten the spin. It lives
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
        end = time.thread_time() + self.seconds
        while time.thread_time() < end:
            pass
        return self.table.conditionals(x)
