"""Oracle contracts (DESIGN 3.1, 3.2).

All contracts are runtime-checkable :class:`typing.Protocol` s. A user's oracle plugs
into every sampler and check of the suite by having these attributes; it never has
to inherit from anything here.

Zero-probability contexts
-------------------------
Conditioning on a context of probability zero is undefined. An exact oracle answers
such a context with an **all-zero row at every masked position** (unmasked positions
still hold the one-hot of their value). It never returns NaN and never raises from
inside a batch: the other rows of the batch are answered normally. Samplers treat a
zero row as "this prefix is impossible" (a chain-rule factor of 0).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "MASK",
    "DiscreteOracle",
    "PositionalOracle",
    "Enumerable",
    "DiffusionOracle",
    "ScoreTarget",
]

#: Value marking a masked (unrevealed) position in a context.
MASK: int = -1


@runtime_checkable
class DiscreteOracle(Protocol):
    """Conditional-marginal oracle of a law ``mu`` on ``[q]^n`` (a masked model).

    Attributes
    ----------
    n : int
        Sequence length.
    q : int
        Alphabet size; values are ``0..q-1``.
    """

    n: int
    q: int

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        """Conditional marginals at every position.

        Parameters
        ----------
        x : ndarray of int, shape (B, n)
            Contexts: entries in ``0..q-1`` or :data:`MASK`.

        Returns
        -------
        ndarray of float, shape (B, n, q)
            Row ``b``, position ``i`` holds ``mu(X_i = . | X_j = x[b, j]`` for all
            unmasked ``j)``. Unmasked positions hold the one-hot of their value.
            A context of probability zero gets all-zero rows at its masked
            positions (see the module docstring).

        Notes
        -----
        One call on ``B`` contexts is one round and ``B`` queries.
        """
        ...


@runtime_checkable
class PositionalOracle(DiscreteOracle, Protocol):
    """Optional fast path: conditionals at requested positions only.

    An oracle that has this method lets the samplers avoid materialising
    ``(B, n, q)`` answers at large ``n``. Its answers must equal what
    :meth:`DiscreteOracle.conditionals` gives on the corresponding contexts, and
    it is costed identically: ``B`` queries without ``chain_values`` (one context a
    row), ``B * L`` queries with them (one context per chain step).
    """

    def conditionals_at(
        self, x: np.ndarray, positions: np.ndarray, chain_values: np.ndarray | None = None
    ) -> np.ndarray:
        """Conditionals at ``positions`` of each context.

        Parameters
        ----------
        x : ndarray of int, shape (B, n)
            Contexts; every entry of ``positions[b]`` is masked in ``x[b]``.
        positions : ndarray of int, shape (B, L)
            Distinct positions per row.
        chain_values : ndarray of int, shape (B, L), optional
            Without it, entry ``[b, j]`` of the result is
            ``mu(X_{positions[b, j]} = . | x[b])``. With it, the chain rule along
            the values: ``mu(X_{positions[b, j]} = . | x[b], X_{positions[b, :j]}
            = chain_values[b, :j])``.

        Returns
        -------
        ndarray of float, shape (B, L, q)
        """
        ...


@runtime_checkable
class Enumerable(DiscreteOracle, Protocol):
    """A discrete oracle whose exact law can be tabulated (``q**n`` up to ~2**20)."""

    def pmf(self) -> np.ndarray:
        """Exact law as a flat array of length ``q**n`` in C order over ``(q,)*n``."""
        ...

    def log_pmf(self, x: np.ndarray) -> np.ndarray:
        """Natural-log probabilities of full configurations ``x`` (shape (B, n))."""
        ...


@runtime_checkable
class DiffusionOracle(Protocol):
    """Conditional-mean oracle of stochastic localization (DESIGN 3.2)."""

    dim: int

    def denoise(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``E[Y | tY + B_t = x]`` for ``t`` of shape (B,) and ``x`` of shape (B, dim)."""
        ...


@runtime_checkable
class ScoreTarget(Protocol):
    """An unnormalised target ``pi`` on ``R^dim`` given by its score (Langevin samplers).

    :class:`distributions.diffusion.GaussianMixture` implements it.
    """

    dim: int

    def grad_logpdf(self, y: np.ndarray) -> np.ndarray:
        """``grad log pi`` at the rows of ``y`` (shape (B, dim)); shape (B, dim)."""
        ...
