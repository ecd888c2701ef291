"""The one declarative table of the built-in samplers and targets.

Every consumer that runs "every sampler on every target" reads its names and
builders here: the validation run (``reports.validation``), the command line
(``reports.cli``), ``benchmarks/`` and the pinning tables. A new sampler or target
is one entry in one of the tables below; nothing else lists them.

Tables
------
:data:`DISCRETE_SAMPLERS`
    The discrete samplers by name (``make_sampler(name, oracle, **options)``).
:data:`BENCHMARK_SAMPLERS`
    The variants the benchmarks compare (random order, AGR24 at two block sizes).
:data:`TARGETS`
    The built-in discrete targets of the validation run, each in a quick and a
    full size (``make_target(name, quick=...)``); :func:`target_names` lists them,
    :data:`QUICK_SKIP` the ones the default quick run leaves out.
:data:`EXACT_LAW_TARGETS`, :func:`batch_target`, :func:`mutants_target`
    The small targets of the exact-law, batch-invariance and mutation stages.
:data:`PINNING_FAMILIES`
    Targets of growing length ``n`` for the pinning-lemma tables.
:data:`ROUNDS_TARGET`
    The target family of the rounds-scaling run and its ``n`` grids.
:data:`DIFFUSION_SAMPLERS`, :data:`DIFFUSION_TARGETS`
    The diffusion samplers (built on a localization grid) and their targets.

Seeds of the targets are fixed literals: the targets are part of a run's
definition, not of its randomness.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from distributions.base import DiffusionOracle, DiscreteOracle
from distributions.diffusion import FiniteSet, GaussianMixture
from distributions.errors import ParameterError
from distributions.families import hardcore, ising, potts, random_table
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts, Product
from distributions.table import TableDistribution
from distributions.validation import check_int
from samplers.agr24 import AGR24Sampler
from samplers.autospec import AutospeculativeSampler
from samplers.base import Sampler
from samplers.diffusion import (
    AutospeculativeDiffusionSampler,
    EulerLocalizationSampler,
    LocalizationGrid,
    SpeculativeDiffusionSampler,
)
from samplers.sequential import SequentialSampler

__all__ = [
    "BENCHMARK_SAMPLERS",
    "DIFFUSION_SAMPLERS",
    "DIFFUSION_TARGETS",
    "DISCRETE_SAMPLERS",
    "EXACT_LAW_TARGETS",
    "GAUSSIAN_COV",
    "GAUSSIAN_MEAN",
    "PINNING_FAMILIES",
    "QUICK_SKIP",
    "ROUNDS_TARGET",
    "TARGETS",
    "FamilyEntry",
    "RoundsTarget",
    "SamplerEntry",
    "TargetEntry",
    "batch_target",
    "k_sqrt",
    "make_family",
    "make_sampler",
    "make_target",
    "mutants_target",
    "parallel_samplers",
    "sampler_class",
    "target_names",
]


# ---------------------------------------------------------------------- samplers
@dataclass(frozen=True)
class SamplerEntry:
    """One discrete sampler of the catalogue.

    Attributes
    ----------
    name : str
        Catalogue name.
    cls : type
        The sampler class; ``cls(oracle, **options)`` builds it.
    parallel : bool
        False for the sequential baseline (``n`` rounds per sample).
    description : str
        One line for tables and ``--help``.
    """

    name: str
    cls: type
    parallel: bool
    description: str


#: The discrete samplers, by catalogue name (default settings: ``cls(oracle)``).
DISCRETE_SAMPLERS: dict[str, SamplerEntry] = {
    e.name: e for e in (
        SamplerEntry("sequential", SequentialSampler, False,
                     "one coordinate per round (the baseline, n rounds)"),
        SamplerEntry("autospeculative", AutospeculativeSampler, True,
                     "autospeculative sampler (speculative rejection on halves)"),
        SamplerEntry("agr24", AGR24Sampler, True,
                     "AGR24 blockwise speculative sampler (block size n^1/3)"),
    )
}


def _check_sampler_name(name: str) -> SamplerEntry:
    if name not in DISCRETE_SAMPLERS:
        raise ParameterError(f"`sampler` must be one of "
                             f"{', '.join(map(repr, DISCRETE_SAMPLERS))}; got {name!r}.")
    return DISCRETE_SAMPLERS[name]


def sampler_class(name: str) -> type:
    """The class of the catalogue sampler ``name``.

    Raises
    ------
    ParameterError
        If ``name`` is not in :data:`DISCRETE_SAMPLERS`.
    """
    return _check_sampler_name(name).cls


def make_sampler(name: str, oracle: DiscreteOracle, **options: Any) -> Sampler:
    """Build the catalogue sampler ``name`` on ``oracle``.

    Parameters
    ----------
    name : str
        A key of :data:`DISCRETE_SAMPLERS`.
    oracle : DiscreteOracle
        The target's conditional-marginal oracle.
    **options
        Keyword arguments of the sampler's constructor (``order``, ``validate``, ...);
        none gives the default settings.

    Raises
    ------
    ParameterError
        If ``name`` is not in the catalogue (before any work).

    Examples
    --------
    >>> target = make_target("ising-chain")
    >>> make_sampler("agr24", target, order="identity").sample(4, rng=0).samples.shape
    (4, 6)
    """
    return _check_sampler_name(name).cls(oracle, **options)


def parallel_samplers() -> list[str]:
    """Catalogue names of the parallel samplers (all but the sequential baseline)."""
    return [k for k, e in DISCRETE_SAMPLERS.items() if e.parallel]


def k_sqrt(n: int) -> int:
    """``ceil(sqrt(n))``, the AGR24 block size of the ``n^1/2`` variant."""
    return math.isqrt(n - 1) + 1 if n > 1 else 1


#: name -> factory(oracle, validate) of every variant the benchmarks compare
#: (random order; AGR24 at its default block size n^1/3 and at n^1/2).
BENCHMARK_SAMPLERS: dict[str, Callable[[DiscreteOracle, bool], Sampler]] = {
    "sequential": lambda d, v: SequentialSampler(d, order="random", validate=v),
    "agr24 k=n^1/3": lambda d, v: AGR24Sampler(d, order="random", validate=v),
    "agr24 k=n^1/2": lambda d, v: AGR24Sampler(d, k=k_sqrt(d.n), order="random", validate=v),
    "autospec": lambda d, v: AutospeculativeSampler(d, order="random", validate=v),
}


# ---------------------------------------------------------------------- targets
def _cycle(n: int) -> np.ndarray:
    a = np.zeros((n, n))
    for i in range(n):
        a[i, (i + 1) % n] = a[(i + 1) % n, i] = 1.0
    return a


def _grid(r: int, c: int) -> np.ndarray:
    n = r * c
    a = np.zeros((n, n))
    for i in range(r):
        for j in range(c):
            k = i * c + j
            if j + 1 < c:
                a[k, k + 1] = a[k + 1, k] = 1
            if i + 1 < r:
                a[k, k + c] = a[k + c, k] = 1
    return a


def _mixture_target(quick: bool) -> DiscreteOracle:
    rng = np.random.default_rng(7)
    w = rng.dirichlet(np.ones(3))
    p = rng.dirichlet(np.full(2, 4.0), size=(3, 6 if quick else 10))
    return MixtureOfProducts(w, p)


@dataclass(frozen=True)
class TargetEntry:
    """One built-in discrete target of the validation run.

    Attributes
    ----------
    name : str
        Catalogue name.
    build : callable
        ``build(quick) -> DiscreteOracle``: the quick (small) or full size.
    description : str
        One line for the report's target table.
    kind : str
        ``"table"`` (dense pmf, sparse cells allowed) or ``"scalable"`` (exact
        conditionals without a table).
    """

    name: str
    build: Callable[[bool], DiscreteOracle]
    description: str
    kind: str


#: The built-in targets of the validation run, in the run's order.
TARGETS: dict[str, TargetEntry] = {
    e.name: e for e in (
        TargetEntry("random-table", lambda quick: random_table(
            6 if quick else 8, 2, concentration=1.0 if quick else 2.0, rng=20261122),
            "Dirichlet(1)/Dirichlet(2) table, n=6/8, q=2", "table"),
        TargetEntry("spiky-table", lambda quick: random_table(
            4 if quick else 5, 3, concentration=0.3, rng=11),
            "Dirichlet(0.3) table, n=4/5, q=3", "table"),
        TargetEntry("ising-cycle", lambda quick: ising(
            (0.3 if quick else 0.25) * _cycle(6 if quick else 10),
            np.linspace(-0.2, 0.2, 6 if quick else 10), beta=1.0),
            "Ising on a cycle, J=0.3/0.25, linear field in [-0.2, 0.2]", "table"),
        TargetEntry("potts-path", lambda quick: potts(_cycle(4 if quick else 6), 3, beta=0.8),
                    "Potts q=3 on a cycle, beta=0.8", "table"),
        TargetEntry("hardcore-grid", lambda quick: hardcore(
            _grid(2, 3) if quick else _grid(3, 3), 1.5),
            "hard-core on a grid (zero-probability cells), fugacity 1.5", "table"),
        TargetEntry("curie-weiss", lambda quick: CurieWeiss(6 if quick else 10, 1.0, 0.1),
                    "Curie-Weiss at criticality, beta=1, h=0.1", "scalable"),
        TargetEntry("ising-chain", lambda quick: IsingChain(
            6 if quick else 10, 0.4 if quick else 0.3, -0.1),
            "1-d Ising chain, coupling 0.4/0.3, field -0.1", "scalable"),
        TargetEntry("mixture", _mixture_target, "mixture of 3 products, q=2, n=6/10",
                    "scalable"),
    )
}

#: Targets left out of the default quick run (sparse tables: Monte Carlo p-values at a
#: tiny per-check alpha take seconds each); they run in the full run or when named.
QUICK_SKIP: frozenset[str] = frozenset({"spiky-table"})


def target_names(quick: bool = True, *, default_run: bool = False) -> list[str]:
    """Catalogue names of the built-in targets, in order.

    Parameters
    ----------
    quick : bool, default True
        The quick or full sizes (the same names either way).
    default_run : bool, default False
        Leave out :data:`QUICK_SKIP` in the quick run (what a quick run without
        ``--targets`` uses).
    """
    skip = QUICK_SKIP if (quick and default_run) else frozenset()
    return [k for k in TARGETS if k not in skip]


def make_target(name: str, *, quick: bool = True) -> DiscreteOracle:
    """Build the catalogue target ``name`` at its quick or full size.

    Raises
    ------
    ParameterError
        If ``name`` is not in :data:`TARGETS` (before any work).
    """
    if name not in TARGETS:
        raise ParameterError(f"`target` must be one of {', '.join(TARGETS)}; got {name!r}.")
    return TARGETS[name].build(quick)


def batch_target(quick: bool) -> tuple[str, DiscreteOracle]:
    """(name, target) of the batch-invariance stage (small: batch size 1 costs one call
    per sample)."""
    n = 4 if quick else 6
    return f"random-table-{n}", random_table(n, 2, concentration=1.0, rng=20261122)


def mutants_target(quick: bool) -> tuple[str, DiscreteOracle]:
    """(label, target) of the mutation matrix."""
    return "random_table(4/5, 2)", random_table(4 if quick else 5, 2, rng=0)


#: name -> (in the quick run, builder) of the exact-law stage's targets (q**n <= 1024).
EXACT_LAW_TARGETS: dict[str, tuple[bool, Callable[[], DiscreteOracle]]] = {
    "ramp-2x2x2x2": (True, lambda: TableDistribution(np.arange(1.0, 17.0).reshape((2,) * 4))),
    "ramp-3x3": (False, lambda: TableDistribution(np.arange(1.0, 10.0).reshape(3, 3))),
    "hardcore-K4": (True, lambda: hardcore(np.ones((4, 4)) - np.eye(4), 1.0)),
    # q**n = 1024 cells: fixed order only (n! orders otherwise)
    "random-2^10": (False, lambda: random_table(10, 2, rng=10)),
}


# ---------------------------------------------------------------------- pinning families
@dataclass(frozen=True)
class FamilyEntry:
    """A target family of growing length ``n`` (pinning-lemma tables).

    Attributes
    ----------
    description : str
        One line for ``--help`` and tables.
    build : callable
        ``build(n) -> DiscreteOracle``.
    max_n : int or None
        Largest ``n`` the family supports (a dense table), or None.
    """

    description: str
    build: Callable[[int], DiscreteOracle]
    max_n: int | None = None


def _mixture_family(k: int) -> Callable[[int], DiscreteOracle]:
    def make(n: int) -> DiscreteOracle:
        if k == 2:  # the benchmark mixture of issue 7: 0.7 / 0.3
            p1 = np.array([0.7, 0.3])
            probs = np.stack([np.tile(p1, (n, 1)), np.tile(p1[::-1], (n, 1))])
        else:  # fixed (seed 8) per-coordinate success probabilities in [0.1, 0.9]
            p = np.random.default_rng(8).uniform(0.1, 0.9, (k, n))
            probs = np.stack([1 - p, p], axis=2)
        return MixtureOfProducts(np.full(k, 1.0 / k), probs)

    return make


#: Benchmark families (issue 7 item 5) and two small controls.
PINNING_FAMILIES: dict[str, FamilyEntry] = {
    "mixture2": FamilyEntry("MixtureOfProducts, 2 components (0.7/0.3)", _mixture_family(2)),
    "mixture8": FamilyEntry("MixtureOfProducts, 8 components (random probs, seed 8)",
                            _mixture_family(8)),
    "curie-weiss-0.5": FamilyEntry("CurieWeiss beta = 0.5", lambda n: CurieWeiss(n, 0.5)),
    "curie-weiss-1.0": FamilyEntry("CurieWeiss beta = 1.0 (critical)",
                                   lambda n: CurieWeiss(n, 1.0)),
    "ising-chain-2": FamilyEntry("IsingChain coupling 2", lambda n: IsingChain(n, 2.0)),
    "product": FamilyEntry("Product (0.3/0.7): all TV = 0",
                           lambda n: Product(np.tile([0.3, 0.7], (n, 1)))),
    "random-table": FamilyEntry("random_table(n, 2, concentration 0.5, seed 0); n <= 20",
                                lambda n: random_table(n, 2, concentration=0.5, rng=0),
                                max_n=20),
}


def make_family(name: str, n: int) -> DiscreteOracle:
    """The target of family ``name`` of :data:`PINNING_FAMILIES` at length ``n``.

    Raises
    ------
    ParameterError
        If ``name`` is unknown or ``n`` is not an integer in the family's range.
    """
    if name not in PINNING_FAMILIES:
        raise ParameterError(f"`family` must be one of {', '.join(PINNING_FAMILIES)}; "
                             f"got {name!r}.")
    entry = PINNING_FAMILIES[name]
    n = check_int("n", n, low=2, high=entry.max_n)
    return entry.build(n)


# ---------------------------------------------------------------------- rounds scaling
@dataclass(frozen=True)
class RoundsTarget:
    """The target family of the rounds-scaling run.

    Attributes
    ----------
    label : str
        Description for tables.
    quick_ns, full_ns : tuple of int
        The lengths ``n`` of the quick and of the full run.
    build : callable
        ``build(n) -> DiscreteOracle``.
    """

    label: str
    quick_ns: tuple[int, ...]
    full_ns: tuple[int, ...]
    build: Callable[[int], DiscreteOracle]

    def ns(self, quick: bool) -> list[int]:
        """The lengths of the quick or full run."""
        return list(self.quick_ns if quick else self.full_ns)


#: Rounds scaling: the 1-d Ising chain (exact conditionals, no table).
ROUNDS_TARGET = RoundsTarget("Ising chain, coupling 0.7, field -0.2", (8, 16, 32, 64),
                             (8, 16, 32, 64, 128, 256), lambda n: IsingChain(n, 0.7, -0.2))


# ---------------------------------------------------------------------- diffusion
#: Mean and covariance of the Gaussian diffusion target (its exact Euler-chain law is
#: known in closed form).
GAUSSIAN_MEAN: tuple[float, ...] = (0.5, -1.0)
GAUSSIAN_COV: tuple[tuple[float, ...], ...] = ((1.0, 0.3), (0.3, 0.5))

#: name -> (in the quick run, builder) of the diffusion targets.
DIFFUSION_TARGETS: dict[str, tuple[bool, Callable[[], DiffusionOracle]]] = {
    "gaussian": (True, lambda: GaussianMixture([1.0], [list(GAUSSIAN_MEAN)],
                                               [[list(r) for r in GAUSSIAN_COV]])),
    "mixture": (True, lambda: GaussianMixture([0.3, 0.7], [[0.0, 0.0], [2.0, 1.0]],
                                              [np.eye(2), 0.5 * np.eye(2)])),
    "finite-set": (False, lambda: FiniteSet([[0.0, 0.0], [1.0, 2.0], [-1.0, 1.0]],
                                            [0.2, 0.5, 0.3])),
}

#: name -> builder(oracle, grid) of the diffusion samplers ("euler" is the sequential
#: reference chain).
DIFFUSION_SAMPLERS: dict[str, Callable[[DiffusionOracle, LocalizationGrid], Sampler]] = {
    "euler": lambda o, grid: EulerLocalizationSampler(o, grid),
    "autospeculative": lambda o, grid: AutospeculativeDiffusionSampler(o, grid),
    "speculative": lambda o, grid: SpeculativeDiffusionSampler(o, grid, window=8),
}
