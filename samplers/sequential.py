"""Sequential any-order sampler (DESIGN 4.1): the baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from distributions._validation import check_int
from distributions.base import MASK, DiscreteOracle
from distributions.errors import ParameterError
from samplers.base import SampleResult, as_random_source
from samplers.oracle import CountingOracle

__all__ = ["SequentialSampler", "resolve_orders"]


def resolve_orders(order: Any, num: int, n: int, source: Any) -> np.ndarray:
    """Orders for ``num`` samples: ``"random"`` (one uniform order each),
    ``"identity"``, or a fixed permutation of ``range(n)``."""
    if isinstance(order, str):
        if order == "random":
            return source.permutations(num, n)
        if order == "identity":
            return np.broadcast_to(np.arange(n), (num, n)).copy()
    arr = np.asarray(order)
    if arr.shape == (n,) and arr.dtype.kind in "iu" and np.array_equal(np.sort(arr), np.arange(n)):
        return np.broadcast_to(arr.astype(np.int64), (num, n)).copy()
    raise ParameterError(
        f"`order` must be 'random', 'identity' or a permutation of range({n}); got {order!r}."
    )


class SequentialSampler:
    """One coordinate per round in a (random) order: ``n`` rounds, ``n`` queries.

    Parameters
    ----------
    oracle : DiscreteOracle
        Wrapped in a :class:`CountingOracle` (every answer is checked).
    order : {"random", "identity"} or permutation of range(n), default "random"
        ``"random"`` draws one uniform order per sample.
    validate : bool, default True
        Check every oracle answer (see :class:`CountingOracle`).

    Notes
    -----
    Vectorised over samples: step ``t`` asks the oracle once for all ``num``
    contexts. Per-sample cost is ``rounds == n`` and ``queries == n``.
    """

    def __init__(self, oracle: DiscreteOracle, *, order: Any = "random", validate: bool = True):
        self.oracle = CountingOracle(oracle, validate=validate)
        self.n, self.q = self.oracle.n, self.oracle.q
        resolve_orders(order, 1, self.n, as_random_source(0))  # validate eagerly
        self.order = order

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` exact samples; see :class:`~samplers.base.SampleResult`."""
        num = check_int("num", num, low=0)
        source = as_random_source(rng)
        orders = resolve_orders(self.order, num, self.n, source)
        x = np.full((num, self.n), MASK, dtype=np.int64)
        rows = np.arange(num)
        for t in range(self.n):
            pos = orders[:, t : t + 1]
            probs = self.oracle.conditionals_at(x, pos)[:, 0, :]
            x[rows, pos[:, 0]] = source.categorical(probs)
        cost = np.full(num, self.n, dtype=np.int64)
        return SampleResult(samples=x, rounds=cost, queries=cost.copy())
