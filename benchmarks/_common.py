"""What the discrete benchmarks share: the samplers compared, by name.

Import after the thread-count environment variables are set (the scripts do).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from samplers.agr24 import AGR24Sampler
from samplers.autospec import AutospeculativeSampler
from samplers.sequential import SequentialSampler

__all__ = ["SAMPLERS", "k_sqrt"]


def k_sqrt(n: int) -> int:
    """``ceil(sqrt(n))``, the AGR24 block size of the ``n^1/2`` variant."""
    return math.isqrt(n - 1) + 1 if n > 1 else 1


#: name -> factory(oracle, validate) of every sampler the benchmarks compare
SAMPLERS: dict[str, Callable[[Any, bool], Any]] = {
    "sequential": lambda d, v: SequentialSampler(d, order="random", validate=v),
    "agr24 k=n^1/3": lambda d, v: AGR24Sampler(d, order="random", validate=v),
    "agr24 k=n^1/2": lambda d, v: AGR24Sampler(d, k=k_sqrt(d.n), order="random", validate=v),
    "autospec": lambda d, v: AutospeculativeSampler(d, order="random", validate=v),
}
