"""Sequential any-order sampler (DESIGN 4.1): the baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import BudgetExceededError, ParameterError
from distributions.validation import check_int
from samplers.base import Budget, SampleResult, as_random_source, check_budget
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
    max_rounds : int, optional
        Round budget, ``>= 1``. Every sample takes ``n`` rounds, so with
        ``max_rounds < n`` :meth:`sample` raises
        :class:`~distributions.errors.BudgetExceededError` before any oracle call.
        Default ``None``: no round budget.
    timeout : float, optional
        Seconds of wall time allowed per :meth:`sample` call, ``> 0``; checked
        before every round and, on the main thread of a POSIX system, enforced by an
        interval timer that also interrupts a long oracle call (see
        :class:`~samplers.base.Budget`). Exceeding it raises
        :class:`~distributions.errors.BudgetExceededError` naming the rounds done.
        Default ``None``: no time limit.

    Notes
    -----
    Vectorised over samples: step ``t`` asks the oracle once for all ``num``
    contexts. Per-sample cost is ``rounds == n`` and ``queries == n``.
    """

    def __init__(
        self,
        oracle: DiscreteOracle,
        *,
        order: Any = "random",
        validate: bool = True,
        max_rounds: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.max_rounds, self.timeout = check_budget(max_rounds, timeout)
        self.oracle = CountingOracle(oracle, validate=validate)
        self.n, self.q = self.oracle.n, self.oracle.q
        resolve_orders(order, 1, self.n, as_random_source(0))  # validate eagerly
        self.order = order

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` exact samples; see :class:`~samplers.base.SampleResult`.

        Raises
        ------
        BudgetExceededError
            When ``max_rounds < n`` (before any work) or ``timeout`` is exceeded.
        """
        num = check_int("num", num, low=0)
        source = as_random_source(rng)
        if num and self.max_rounds is not None and self.n > self.max_rounds:
            raise BudgetExceededError(
                f"`max_rounds` = {self.max_rounds} exceeded: every sample of "
                f"{type(self).__name__}.sample() takes n = {self.n} rounds (one per "
                "coordinate); nothing was run."
            )
        done = [0]
        before = self.oracle.record()
        budget = Budget(type(self).__name__, self.max_rounds, self.timeout,
                        lambda: f"{done[0]} of n = {self.n} rounds done")
        with budget:
            orders = resolve_orders(self.order, num, self.n, source)
            x = np.full((num, self.n), MASK, dtype=np.int64)
            rows = np.arange(num)
            for t in range(self.n):
                budget.check_time()
                pos = orders[:, t : t + 1]
                probs = self.oracle.conditionals_at(x, pos)[:, 0, :]
                x[rows, pos[:, 0]] = source.categorical(probs)
                done[0] = t + 1
        cost = np.full(num, self.n, dtype=np.int64)
        return SampleResult(samples=x, rounds=cost, queries=cost.copy(), orders=orders,
                            aux=self.oracle.record_since(before))
