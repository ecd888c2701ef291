"""Argument validation of the pinning estimates and the limits of exact computation.

Every public function of :mod:`verify.pinning` validates its target, its block and
its number of orders here before any work, raising
:class:`~verify.errors.ParameterError` naming the parameter, the rule and the
value seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distributions.base import DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_int

__all__ = ["MAX_EXACT_N", "SeedLike", "exact_available"]

#: A seed for :func:`numpy.random.default_rng`, or a generator (used as is).
SeedLike = int | np.integer | np.random.Generator | np.random.SeedSequence | None

#: Largest ``n`` for the exact all-orders computation.
MAX_EXACT_N: int = 12
#: Largest total size of the subset-marginal cache, ``(q+1)**n``.
_MAX_SUBSET_CELLS: int = 2**22


def _check_target(target: Any) -> tuple[int, int]:
    n, q = getattr(target, "n", None), getattr(target, "q", None)
    if not hasattr(target, "conditionals") or n is None or q is None:
        raise ParameterError(
            f"`target` must be a DiscreteOracle (attributes n, q and conditionals); "
            f"got {type(target).__name__}."
        )
    return check_int("target.n", n, low=1), check_int("target.q", q, low=2)


def _table_of(target: DiscreteOracle) -> np.ndarray | None:
    """The target's table of shape (q,)*n, or None if it has none."""
    n, q = target.n, target.q
    if not callable(getattr(target, "pmf", None)) or q**n > 2**20:
        return None
    try:
        pmf = np.asarray(target.pmf(), dtype=np.float64)  # type: ignore[attr-defined]
    except Exception:  # a scalable family may refuse to tabulate
        return None
    if pmf.shape != (q**n,):
        raise ParameterError(f"`target.pmf()` must have shape ({q**n},); got {pmf.shape}.")
    return (pmf / pmf.sum()).reshape((q,) * n)


def _seed_of(rng: Any) -> int | None:
    """The integer seed a check was given (recorded in its result), else None."""
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return int(rng)
    return None


def _resolve_orders(orders: Any) -> int | None:
    if orders is None:
        return None
    return check_int("orders", orders, low=2)


def _check_block(a: Any, b: Any, n: int) -> tuple[int, int]:
    a = check_int("a", a, low=0, high=n - 1)
    b = check_int("b", b, low=a + 1, high=n)
    return a, b


def _exact_ok(n: int, q: int) -> bool:
    return n <= MAX_EXACT_N and (q + 1) ** n <= _MAX_SUBSET_CELLS


def _exact_error(n: int, q: int, table: np.ndarray | None) -> ParameterError:
    if table is None:
        why = "the target has no table (not Enumerable)"
    else:
        why = f"n = {n}, q = {q} is too large (exact needs n <= {MAX_EXACT_N})"
    return ParameterError(
        f"`orders` must be an integer >= 2 (random orders) for this target: exact "
        f"computation (orders=None) is impossible because {why}."
    )


def exact_available(target: DiscreteOracle) -> bool:
    """Whether ``orders=None`` (exact over all orders) is possible for ``target``.

    True when the target tabulates its law (``pmf()``, at most ``2**20`` cells),
    ``n <= MAX_EXACT_N`` and the subset-marginal cache, ``(q+1)**n`` cells, is at
    most ``2**22``.

    Parameters
    ----------
    target : DiscreteOracle

    Returns
    -------
    bool

    Examples
    --------
    >>> from distributions.families import random_table
    >>> from distributions.scalable import CurieWeiss
    >>> exact_available(random_table(4, 2, rng=0)), exact_available(CurieWeiss(100, 0.5))
    (True, False)
    """
    n, q = _check_target(target)
    return _table_of(target) is not None and _exact_ok(n, q)
