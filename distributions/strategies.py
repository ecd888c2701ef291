"""Hypothesis strategies for targets and contexts (property-based tests).

* :func:`enumerable_distributions` -- small exact laws as
  :class:`~distributions.table.TableDistribution`, drawn from every family of the
  package (tables, graphs, products, mixtures, Curie-Weiss, Ising chains).
* :func:`contexts` -- batches of contexts ``(B, n)`` with :data:`MASK` entries,
  including zero-probability ones.
* :func:`chain_queries` -- ``(x, positions, chain_values)`` triples for
  ``conditionals_at``.

Structural choices (family, ``n``, ``q``, which rows are impossible) are drawn by
hypothesis so they shrink; numeric parameters come from a drawn seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from distributions._validation import check_float, check_int
from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.families import hardcore, ising, potts, random_table
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts, Product
from distributions.table import TableDistribution

__all__ = ["FAMILIES", "enumerable_distributions", "contexts", "chain_queries"]

#: Family names accepted by :func:`enumerable_distributions`.
FAMILIES: tuple[str, ...] = (
    "random_table",
    "ising",
    "potts",
    "hardcore",
    "product",
    "mixture",
    "curie_weiss",
    "ising_chain",
)
#: Families restricted to ``q = 2``.
_BINARY = frozenset({"ising", "hardcore", "curie_weiss", "ising_chain"})

_SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
#: Largest ``q**n`` whose table the strategies read (strategy-time cost; the
#: targets themselves tabulate up to 2**20).
MAX_PMF_SIZE: int = 2**16


def _zero_some(gen: np.random.Generator, arr: np.ndarray, axis_keep: int | None) -> np.ndarray:
    """Zero about a third of ``arr``'s entries, keeping one positive entry per row
    (last axis) or, with ``axis_keep=None``, one positive entry overall."""
    out = arr.copy()
    kill = gen.random(arr.shape) < 1 / 3
    out[kill] = 0.0
    if axis_keep is None:
        if not (out > 0).any():
            out.flat[int(gen.integers(out.size))] = 1.0
        return out
    dead = ~(out > 0).any(axis=-1)
    idx = np.argwhere(dead)
    for row in idx:  # only a handful of rows, at strategy time
        out[tuple(row) + (int(gen.integers(arr.shape[-1])),)] = 1.0
    return out


def _build(family: str, n: int, q: int, zeros: bool, seed: int) -> TableDistribution:
    gen = np.random.default_rng(seed)
    if family == "random_table":
        conc = float(gen.choice([0.3, 1.0, 3.0]))
        d = random_table(n, q, concentration=conc, rng=gen)
        if zeros:
            return TableDistribution(_zero_some(gen, d.pmf(), None).reshape((q,) * n))
        return d
    if family in ("ising", "potts"):
        J = np.triu(gen.uniform(-1.5, 1.5, (n, n)), 1)
        J = J + J.T
        beta = float(gen.uniform(0.2, 2.0))
        if family == "ising":
            return ising(J, gen.uniform(-1.0, 1.0, n), beta=beta)
        return potts(J, q, beta=beta)
    if family == "hardcore":
        A = np.triu(gen.random((n, n)) < 0.5, 1)
        return hardcore((A | A.T).astype(int), float(gen.uniform(0.2, 3.0)))
    if family in ("product", "mixture"):
        K = 1 if family == "product" else int(gen.integers(1, 4))
        p = gen.random((K, n, q)) ** 2
        if zeros:
            p = _zero_some(gen, p, -1)
        d: Any = Product(p[0]) if family == "product" else MixtureOfProducts(gen.random(K), p)
    elif family == "curie_weiss":
        d = CurieWeiss(n, float(gen.uniform(-1.0, 2.5)), float(gen.uniform(-0.5, 0.5)))
    else:
        d = IsingChain(n, float(gen.uniform(-2.0, 2.0)), float(gen.uniform(-1.0, 1.0)))
    return TableDistribution(d.pmf().reshape((q,) * n))


def enumerable_distributions(
    *,
    min_n: int = 1,
    max_n: int = 5,
    max_q: int = 3,
    families: Sequence[str] = FAMILIES,
    allow_zeros: bool = True,
) -> st.SearchStrategy[TableDistribution]:
    """Small exact laws as :class:`TableDistribution`.

    Parameters
    ----------
    min_n, max_n : int
        Range of the sequence length, ``1 <= min_n <= max_n``.
    max_q : int
        Largest alphabet (``>= 2``); binary families always use ``q = 2``.
        ``max_q**max_n <= 2**16``.
    families : sequence of str
        Subset of :data:`FAMILIES`.
    allow_zeros : bool
        If true, tables, products and mixtures sometimes get zero cells and the
        hard-core model (always has zeros) is drawn; if false every law drawn has
        full support and ``"hardcore"`` is skipped.
    """
    min_n = check_int("min_n", min_n, low=1)
    max_n = check_int("max_n", max_n, low=min_n)
    max_q = check_int("max_q", max_q, low=2)
    if max_q**max_n > MAX_PMF_SIZE:
        raise ParameterError(
            f"`max_q**max_n` must be <= {MAX_PMF_SIZE}; got {max_q}**{max_n} = {max_q**max_n}."
        )
    fams = tuple(families)
    unknown = [f for f in fams if f not in FAMILIES]
    if unknown or not fams:
        raise ParameterError(
            f"`families` must be a non-empty subset of {FAMILIES}; got {fams!r}."
        )
    if not allow_zeros:
        fams = tuple(f for f in fams if f != "hardcore")
        if not fams:
            raise ParameterError(
                "`families` must contain a family other than 'hardcore' when "
                "`allow_zeros` is false; got ('hardcore',)."
            )

    @st.composite
    def _strategy(draw: st.DrawFn) -> TableDistribution:
        family = draw(st.sampled_from(fams))
        n = draw(st.integers(min_n, max_n))
        q = 2 if family in _BINARY else draw(st.integers(2, max_q))
        zeros = allow_zeros and draw(st.booleans())
        return _build(family, n, q, zeros, draw(_SEEDS))

    return _strategy()


def _target_pmf(target: Any) -> np.ndarray | None:
    pmf = getattr(target, "pmf", None)
    if not callable(pmf) or target.q**target.n > MAX_PMF_SIZE:
        return None
    return np.asarray(pmf(), dtype=np.float64)


def contexts(
    target: Any,
    *,
    min_batch: int = 1,
    max_batch: int = 8,
    mask_probability: float | None = None,
    allow_impossible: bool = True,
) -> st.SearchStrategy[np.ndarray]:
    """Batches of contexts for ``target``, int64 arrays of shape ``(B, n)``.

    Each row is either a configuration drawn from ``target``'s support with a
    random subset masked (always a possible context), or, if
    ``allow_impossible``, uniform values with random masks (for laws with zeros,
    such as the hard-core model, these are often zero-probability contexts).
    Rows of every mask count from none to all appear.

    Parameters
    ----------
    target : DiscreteOracle
        Needs ``n`` and ``q``; support-based rows need ``pmf()`` (``q**n <= 2**16``).
    min_batch, max_batch : int
        Range of ``B``, ``0 <= min_batch <= max_batch``.
    mask_probability : float, optional
        Fixed probability of masking an entry; drawn per row when omitted.
    allow_impossible : bool
        Allow uniform rows (possibly of probability zero). Without ``pmf`` every
        row is uniform.
    """
    n, q = check_int("target.n", target.n, low=1), check_int("target.q", target.q, low=2)
    min_batch = check_int("min_batch", min_batch, low=0)
    max_batch = check_int("max_batch", max_batch, low=min_batch)
    if mask_probability is not None:
        mask_probability = check_float("mask_probability", mask_probability, low=0.0, high=1.0)
    pmf = _target_pmf(target)
    support = None if pmf is None else np.flatnonzero(pmf > 0)
    if support is None and not allow_impossible:
        raise ParameterError(
            "`allow_impossible` may be false only for a target with pmf() "
            f"(q**n <= {MAX_PMF_SIZE}); got {type(target).__name__}."
        )

    @st.composite
    def _strategy(draw: st.DrawFn) -> np.ndarray:
        B = draw(st.integers(min_batch, max_batch))
        gen = np.random.default_rng(draw(_SEEDS))
        out = np.empty((B, n), dtype=np.int64)
        for b in range(B):  # strategy time, small B
            from_support = support is not None and (
                not allow_impossible or draw(st.booleans())
            )
            if from_support:
                cell = int(gen.choice(support))
                row = np.array(np.unravel_index(cell, (q,) * n), dtype=np.int64)
            else:
                row = gen.integers(0, q, n)
            p = mask_probability
            if p is None:
                p = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]))
            row[gen.random(n) < p] = MASK
            out[b] = row
        return out

    return _strategy()


def chain_queries(
    target: Any,
    *,
    min_batch: int = 1,
    max_batch: int = 8,
    max_len: int | None = None,
    allow_impossible: bool = True,
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Triples ``(x, positions, chain_values)`` for ``conditionals_at``.

    ``x`` is drawn by :func:`contexts` (rows with no masked entry get one),
    ``positions`` has shape ``(B, L)``, ``1 <= L``, with distinct masked
    positions per row in random order, and ``chain_values`` has shape ``(B, L)``:
    either uniform values or the values of a support configuration extending the
    row (so that every chain step is a possible context).
    """
    if max_len is not None:
        max_len = check_int("max_len", max_len, low=1)
    base = contexts(target, min_batch=min_batch, max_batch=max_batch,
                    allow_impossible=allow_impossible)
    n, q = int(target.n), int(target.q)
    pmf = _target_pmf(target)

    @st.composite
    def _strategy(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = draw(base).copy()
        gen = np.random.default_rng(draw(_SEEDS))
        B = x.shape[0]
        for b in range(B):
            if not (x[b] == MASK).any():
                x[b, int(gen.integers(n))] = MASK
        free = (x == MASK).sum(axis=1)
        hi = int(free.min()) if B else 1
        if max_len is not None:
            hi = min(hi, max_len)
        L = draw(st.integers(1, max(1, hi)))
        positions = np.empty((B, L), dtype=np.int64)
        values = gen.integers(0, q, (B, L))
        follow = draw(st.booleans())
        for b in range(B):
            positions[b] = gen.permutation(np.flatnonzero(x[b] == MASK))[:L]
            if follow and pmf is not None:
                ok = np.ones(q**n, dtype=bool)
                cells = np.stack(np.unravel_index(np.arange(q**n), (q,) * n), axis=1)
                pinned = x[b] != MASK
                ok &= (cells[:, pinned] == x[b, pinned]).all(axis=1) & (pmf > 0)
                if ok.any():
                    cell = int(gen.choice(np.flatnonzero(ok)))
                    values[b] = cells[cell, positions[b]]
        return x, positions, values

    return _strategy()
