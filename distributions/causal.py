"""A causal (left-to-right) view of a masked model: only prefix contexts are answered.

:class:`CausalOracle` wraps any :class:`~distributions.base.DiscreteOracle` and
answers ``conditionals(x)`` only when every row of ``x`` reveals a prefix
``x_1..x_a`` (positions ``0..a-1`` unmasked, the rest masked); any other context is
refused with :class:`~distributions.errors.OracleError` naming the row. It models
the "fixed-order marginals" oracle: the marginals ``mu(X_i | x_{<a})`` of every
later position given a prefix, nothing conditioned on a later position. A sampler
that runs on it to completion has provably queried prefixes only (e.g. the
autospeculative sampler with ``order="identity"``).
"""

from __future__ import annotations

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import OracleError, ParameterError

__all__ = ["CausalOracle"]


class CausalOracle:
    """The prefix-only view of ``inner``.

    Parameters
    ----------
    inner : DiscreteOracle

    Attributes
    ----------
    n, q : int
        Those of ``inner``.
    calls, rows : int
        Calls answered and rows answered.

    Examples
    --------
    >>> import numpy as np
    >>> from distributions import random_table
    >>> causal = CausalOracle(random_table(3, 2, rng=0))
    >>> causal.conditionals(np.array([[1, -1, -1]])).shape
    (1, 3, 2)
    >>> causal.conditionals(np.array([[-1, 1, -1]]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    distributions.errors.OracleError: causal oracle: row 0 reveals positions [1], not a prefix...
    """

    def __init__(self, inner: DiscreteOracle) -> None:
        for attr in ("n", "q", "conditionals"):
            if not hasattr(inner, attr):
                raise ParameterError(f"`inner` must implement DiscreteOracle (n, q, "
                                     f"conditionals); it has no `{attr}`.")
        self.inner = inner
        self.n: int = int(inner.n)
        self.q: int = int(inner.q)
        self.calls = 0
        self.rows = 0

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        """``inner.conditionals(x)`` for prefix contexts; :class:`OracleError` otherwise."""
        xx = np.asarray(x)
        if xx.ndim != 2 or xx.shape[1] != self.n:
            raise OracleError(f"causal oracle: contexts must have shape (B, {self.n}); got "
                              f"{xx.shape}.")
        shown = xx != MASK
        count = shown.sum(axis=1)
        prefix = np.arange(self.n)[None, :] < count[:, None]
        bad = np.flatnonzero((shown != prefix).any(axis=1))
        if bad.size:
            r = int(bad[0])
            raise OracleError(
                f"causal oracle: row {r} reveals positions {np.flatnonzero(shown[r]).tolist()}, "
                f"not a prefix 0..a-1; context {xx[r].tolist()}."
            )
        self.calls += 1
        self.rows += int(xx.shape[0])
        return self.inner.conditionals(xx)

    def __repr__(self) -> str:
        return f"CausalOracle({self.inner!r})"
