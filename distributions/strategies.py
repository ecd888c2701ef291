"""Hypothesis strategies for targets and contexts (property-based tests).

* :func:`enumerable_distributions` -- small exact laws as
  :class:`~distributions.table.TableDistribution`, drawn from every family of the
  package (tables, graphs, products, mixtures, Curie-Weiss, Ising chains).
* :func:`contexts` -- batches of contexts ``(B, n)`` with :data:`MASK` entries,
  including zero-probability ones.
* :func:`chain_queries` -- ``(x, positions, chain_values)`` triples for
  ``conditionals_at``.
* :func:`extreme_targets` -- :class:`ExtremeSpec` s: a family with extreme but
  finite parameters (from subnormal to ``1.8e308``, both signs), kept as data so
  that a test can compute the law independently; ``spec.build()`` makes the target
  or raises :class:`ParameterError` (issue 18 item 18).

Structural choices (family, ``n``, ``q``, which rows are impossible) are drawn by
hypothesis so they shrink; numeric parameters come from a drawn seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.families import hardcore, ising, potts, random_table
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts, Product
from distributions.table import TableDistribution
from distributions.validation import check_float, check_int

__all__ = [
    "FAMILIES",
    "EXTREME_FAMILIES",
    "ExtremeSpec",
    "enumerable_distributions",
    "contexts",
    "chain_queries",
    "extreme_floats",
    "extreme_targets",
]

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


# ------------------------------------------------------------------ extreme parameters
#: Families drawn by :func:`extreme_targets` (``"table"`` is a raw
#: :class:`TableDistribution` of weights).
EXTREME_FAMILIES: tuple[str, ...] = ("table",) + FAMILIES

_MAX_FLOAT = float(np.finfo(np.float64).max)


def extreme_floats(*, non_negative: bool = False) -> st.SearchStrategy[float]:
    """Finite float64 values of every magnitude: hypothesis' full float range
    (subnormals, ``1.8e308``, integers, simple fractions) mixed with a fixed ladder
    of magnitudes from ``5e-324`` to ``1.8e308`` so that each extreme is drawn."""
    ladder = [0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-100, 1e-20,
              1e-8, 1e-3, 0.5, 1.0, 2.0, 40.0, 710.0, 1e3, 1e5, 1e6, 1e20, 1e100,
              1e300, 1e308, _MAX_FLOAT]
    low = 0.0 if non_negative else -_MAX_FLOAT
    mags = st.sampled_from(ladder)
    if not non_negative:
        mags = st.tuples(mags, st.sampled_from([1.0, -1.0])).map(lambda t: t[0] * t[1])
    return st.one_of(
        mags, st.floats(min_value=low, max_value=_MAX_FLOAT, allow_nan=False,
                        allow_infinity=False)
    )


@dataclass(frozen=True)
class ExtremeSpec:
    """A family and its (possibly extreme) parameters, as plain data.

    Attributes
    ----------
    family : str
        One of :data:`EXTREME_FAMILIES`.
    n, q : int
        Sequence length and alphabet size.
    params : dict
        Keyword arguments of the family's constructor (arrays as ndarrays); for
        ``"random_table"`` also ``rng`` (an int seed).
    """

    family: str
    n: int
    q: int
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """The target; raises :class:`ParameterError` for parameters it refuses."""
        p = self.params
        if self.family == "table":
            return TableDistribution(p["probs"])
        if self.family == "random_table":
            return random_table(self.n, self.q, concentration=p["concentration"], rng=p["rng"])
        if self.family == "ising":
            return ising(p["couplings"], p["field"], beta=p["beta"])
        if self.family == "potts":
            return potts(p["couplings"], self.q, beta=p["beta"])
        if self.family == "hardcore":
            return hardcore(p["adjacency"], p["fugacity"])
        if self.family == "product":
            return Product(p["probs"])
        if self.family == "mixture":
            return MixtureOfProducts(p["weights"], p["probs"])
        if self.family == "curie_weiss":
            return CurieWeiss(self.n, p["beta"], p["h"])
        return IsingChain(self.n, p["coupling"], p["field"])


def _array(draw: st.DrawFn, shape: tuple[int, ...], *, non_negative: bool) -> np.ndarray:
    size = int(np.prod(shape))
    vals = draw(st.lists(extreme_floats(non_negative=non_negative), min_size=size,
                         max_size=size))
    return np.array(vals, dtype=np.float64).reshape(shape)


def _positive_rows(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Non-negative extreme entries, every row (last axis) with a positive entry."""
    arr = _array(draw, shape, non_negative=True)
    dead = ~(arr > 0).any(axis=-1)
    fill = draw(st.sampled_from([5e-324, 1.0, _MAX_FLOAT]))
    arr[dead, 0] = fill
    return arr


def extreme_targets(
    *, families: Sequence[str] = EXTREME_FAMILIES, max_n: int = 4, max_q: int = 3
) -> st.SearchStrategy[ExtremeSpec]:
    """:class:`ExtremeSpec` s with extreme but finite parameters.

    Parameters
    ----------
    families : sequence of str
        Subset of :data:`EXTREME_FAMILIES`.
    max_n : int
        Largest ``n`` (``>= 2``); ``max_q**max_n <= 2**12`` (the specs are meant
        for exact high-precision references).
    max_q : int
        Largest alphabet (``>= 2``); binary families use ``q = 2``.
    """
    max_n = check_int("max_n", max_n, low=2)
    max_q = check_int("max_q", max_q, low=2)
    if max_q**max_n > 2**12:
        raise ParameterError(
            f"`max_q**max_n` must be <= {2**12}; got {max_q}**{max_n} = {max_q**max_n}."
        )
    fams = tuple(families)
    if not fams or any(f not in EXTREME_FAMILIES for f in fams):
        raise ParameterError(
            f"`families` must be a non-empty subset of {EXTREME_FAMILIES}; got {fams!r}."
        )

    @st.composite
    def _strategy(draw: st.DrawFn) -> ExtremeSpec:
        family = draw(st.sampled_from(fams))
        n = draw(st.integers(1 if family != "ising" else 2, max_n))
        q = 2 if family in _BINARY else draw(st.integers(2, max_q))
        signed = extreme_floats()
        if family == "table":
            params: dict[str, Any] = {"probs": _positive_rows(draw, (q**n,)).reshape((q,) * n)}
        elif family == "random_table":
            conc = draw(extreme_floats(non_negative=True).filter(lambda v: v > 0))
            params = {"concentration": conc, "rng": draw(_SEEDS)}
        elif family in ("ising", "potts"):
            upper = np.triu(_array(draw, (n, n), non_negative=False), 1)
            params = {"couplings": upper + upper.T, "beta": draw(signed)}
            if family == "ising":
                params["field"] = _array(draw, (n,), non_negative=False)
        elif family == "hardcore":
            bits = draw(st.lists(st.booleans(), min_size=n * n, max_size=n * n))
            a = np.triu(np.array(bits, dtype=bool).reshape(n, n), 1)
            fug = draw(extreme_floats(non_negative=True).filter(lambda v: v > 0))
            params = {"adjacency": (a | a.T).astype(int), "fugacity": fug}
        elif family == "product":
            params = {"probs": _positive_rows(draw, (n, q))}
        elif family == "mixture":
            k = draw(st.integers(1, 3))
            params = {"weights": _positive_rows(draw, (k,)),
                      "probs": _positive_rows(draw, (k, n, q))}
        elif family == "curie_weiss":
            params = {"beta": draw(signed), "h": draw(signed)}
        else:
            params = {"coupling": draw(signed), "field": draw(signed)}
        return ExtremeSpec(family, n, q, params)

    return _strategy()
