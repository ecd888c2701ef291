"""The mutation matrices: every check against every mutant and the correct sampler."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from distributions.errors import ParameterError
from samplers.autospec import AutospeculativeSampler
from samplers.diffusion import (
    AutospecDiffusionSteps,
    AutospeculativeDiffusionSampler,
    SpeculativeDiffusionSampler,
    SpeculativeDiffusionSteps,
)
from verify.execution import check_executor
from verify.mutants.autospec import MUTANTS
from verify.mutants.diffusion import DIFFUSION_MUTANTS
from verify.mutants.mutant import Mutant


# ---------------------------------------------------------------------- checks
def first_stage_test(
    sampler: AutospeculativeSampler, target: Any, num: int, *, rng: Any = None
) -> tuple[float, float, int, float]:
    """Root first-stage acceptance vs ``1 - TV(mu, nu)`` (exact binomial test).

    Returns ``(observed rate, expected rate, num, p-value)``.
    """
    n, q = int(target.n), int(target.q)
    pmf = np.asarray(target.pmf(), dtype=np.float64).reshape((q,) * n)
    marg = [pmf.sum(axis=tuple(j for j in range(n) if j != i)) for i in range(n)]
    nu = marg[0]
    for m_ in marg[1:]:
        nu = np.multiply.outer(nu, m_)
    expected = 1.0 - 0.5 * float(np.abs(pmf - nu).sum())
    old = sampler.trace
    sampler.trace = True
    try:
        res = sampler.sample(num, rng=rng)
    finally:
        sampler.trace = old
    tr = res.trace
    root = tr.block_depth == 0
    acc = int(tr.block_first_accepted[root].sum())
    total = int(root.sum())
    pv = float(stats.binomtest(acc, total, min(1.0, max(0.0, expected))).pvalue)
    return acc / total, expected, total, pv


# ---------------------------------------------------------------------- matrix
@dataclass(frozen=True)
class MutationCell:
    """One (sampler, check) entry of the matrix."""

    sampler: str
    check: str
    caught: bool
    num_samples: int
    statistic: float
    pvalue: float
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class MutationMatrix:
    """Result of :func:`mutation_matrix`.

    Attributes
    ----------
    cells : tuple of MutationCell
    samplers, checks : tuple of str
    alpha, tv, power : float
    """

    cells: tuple[MutationCell, ...]
    samplers: tuple[str, ...]
    checks: tuple[str, ...]
    alpha: float
    tv: float
    power: float

    def cell(self, sampler: str, check: str) -> MutationCell:
        for c in self.cells:
            if c.sampler == sampler and c.check == check:
                return c
        raise KeyError((sampler, check))

    def caught_by_any(self, sampler: str) -> bool:
        return any(c.caught for c in self.cells if c.sampler == sampler)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha, "tv": self.tv, "power": self.power,
            "samplers": list(self.samplers), "checks": list(self.checks),
            "cells": [asdict(c) for c in self.cells],
        }

    def to_table(self) -> str:
        """Markdown table: caught (x) / missed (.) with the sample size used."""
        head = "| sampler | " + " | ".join(self.checks) + " |"
        sep = "|---" * (len(self.checks) + 1) + "|"
        lines = [head, sep]
        have = {(c.sampler, c.check) for c in self.cells}
        for s in self.samplers:
            row = []
            for ch in self.checks:
                if (s, ch) not in have:  # a check that does not apply to the sampler
                    row.append("-")
                    continue
                c = self.cell(s, ch)
                mark = "CAUGHT" if c.caught else "pass"
                size = f"N={c.num_samples}" if ch != "exact-law" else f"tv={c.statistic:.2g}"
                row.append(f"{mark} ({size})")
            lines.append(f"| {s} | " + " | ".join(row) + " |")
        return "\n".join(lines)


_CHECKS = ("gtest", "chain", "first-stage", "exact-law")


def mutation_matrix(
    target: Any = None,
    *,
    exact_target: Any = None,
    mutants: Mapping[str, Callable[..., Any]] | None = None,
    correct: Callable[..., Any] = AutospeculativeSampler,
    checks: Sequence[str] = _CHECKS,
    tv: float = 0.05,
    alpha: float = 1e-3,
    power: float = 0.99,
    exact_tol: float = 1e-12,
    order: Any = "random",
    exact_order: Any = "identity",
    rng: Any = None,
    executor: Executor | None = None,
) -> MutationMatrix:
    """Run every check against every mutant and the correct sampler.

    Parameters
    ----------
    target : Enumerable, optional
        Target of the statistical checks; default ``random_table(5, 2, rng=0)``.
    exact_target : Enumerable, optional
        Small target of the ``exact-law`` check; default ``random_table(3, 2, rng=1)``.
    mutants : dict, optional
        Name -> sampler factory ``(oracle, validate=..., order=...) -> sampler``
        (default :data:`MUTANTS`: :class:`Mutant` entries, or sampler classes such as
        those of :data:`SOURCE_MUTANTS`); ``"correct"`` is added.
    correct : sampler factory, default AutospeculativeSampler
        The correct sampler the mutants are variants of (``AGR24Sampler`` for
        :data:`AGR24_MUTANTS`, which need ``checks`` without ``"first-stage"``).
    checks : sequence of {"gtest", "chain", "first-stage", "exact-law"}
    tv, alpha, power : float
        Planning of the statistical checks (each at its planned size).
    exact_tol : float
        ``tol`` of :func:`verify.exact_law`.
    order, exact_order : sampler ``order`` for the statistical checks / exact law
        (enumerating all ``n!`` random orders is slower; see :mod:`verify.exact_law`).
    rng : seed, optional
    executor : concurrent.futures.Executor, optional
        Where the ``"gtest"`` and ``"chain"`` checks draw their shards (see
        :func:`~verify.exactness.check_exact`); the matrix is the same for every
        executor. The other checks run in process.

    Returns
    -------
    MutationMatrix
        A sampler is "caught" by a check when the check rejects it (p <= alpha;
        exact-law: TV lower bound > 1e-9, a refusal, or the sampler raises).
    """
    from distributions.families import random_table
    from verify.chain_tests import plan_chain_sample_size
    from verify.exact_law import exact_law
    from verify.exactness import check_exact, plan_sample_size

    executor = check_executor(executor)
    for c in checks:
        if c not in _CHECKS:
            raise ParameterError(f"`checks` entries must be in {_CHECKS}; got {c!r}.")
    if target is None:
        target = random_table(5, 2, rng=0)
    if exact_target is None:
        exact_target = random_table(3, 2, rng=1)
    table = dict(mutants if mutants is not None else MUTANTS)
    samplers: dict[str, Callable[..., Any]] = {"correct": correct}
    samplers.update(table)
    if "first-stage" in checks:
        for name, factory in samplers.items():
            kind = factory.sampler if isinstance(factory, Mutant) else factory
            if not (isinstance(kind, type) and issubclass(kind, AutospeculativeSampler)):
                raise ParameterError(
                    "`checks` entry 'first-stage' needs autospeculative samplers (it reads "
                    f"their trace); got {name!r} -> {getattr(kind, '__name__', kind)!r}."
                )
    seeds = np.random.SeedSequence(
        np.random.default_rng(rng).integers(0, 2**63 - 1)
    ).spawn(len(samplers) * len(checks))
    cells = []
    it = iter(seeds)
    for name, cls in samplers.items():
        for check in checks:
            seed = int(next(it).generate_state(1, np.uint64)[0] >> np.uint64(1))

            def make(o: Any, cls: Callable[..., Any] = cls) -> Any:
                return cls(o, validate=False, order=order)

            t0 = time.perf_counter()
            try:
                if check == "gtest":
                    num = plan_sample_size(target, tv=tv, alpha=alpha, power=power)
                    r = check_exact(make(target), target, num_samples=num,
                                    alpha=alpha, power=power, rng=seed, executor=executor)
                    cell = MutationCell(name, check, r.status == "fail", num, r.statistic,
                                        r.pvalue, 0.0,
                                        f"{r.method}; status {r.status}; "
                                        f"tv_estimate={r.tv_estimate:.3g}")
                elif check == "chain":
                    num = plan_chain_sample_size(target, tv=tv, alpha=alpha, power=power)
                    r = check_exact(make(target), target, num_samples=num,
                                    alpha=alpha, power=power, method="chain", rng=seed,
                                    executor=executor)
                    worst = r.worst_cells[0].label if r.worst_cells else ""
                    cell = MutationCell(name, check, r.status == "fail", num, r.statistic,
                                        r.pvalue, 0.0, f"status {r.status}; worst: {worst}")
                elif check == "first-stage":
                    num = plan_sample_size(2, tv=tv, alpha=alpha, power=power)
                    obs, exp, total, pv = first_stage_test(make(target), target, num, rng=seed)
                    cell = MutationCell(name, check, pv <= alpha, total, obs, pv, 0.0,
                                        f"rate {obs:.4f} vs exact {exp:.4f}")
                else:
                    try:
                        law = exact_law(lambda o, cls=cls: cls(o, validate=False,
                                                               order=exact_order),
                                        exact_target, tol=exact_tol, rational=False)
                    except ParameterError as exc:  # refused: no law was certified
                        cell = MutationCell(name, check, True, 0, math.nan, math.nan, 0.0,
                                            f"refused: {exc}"[:200])
                    else:
                        cell = MutationCell(name, check, law.tv_lower > 1e-9, 0, law.tv,
                                            math.nan, 0.0,
                                            f"truncated={law.truncated_mass:.2g}; worst "
                                            f"{law.worst_config} diff {law.worst_diff:.3g}")
            except (RuntimeError, FloatingPointError, ValueError, IndexError) as exc:
                cell = MutationCell(name, check, True, 0, math.nan, 0.0, 0.0,
                                    f"raised {type(exc).__name__}: {exc}"[:200])
            cells.append(MutationCell(**{**asdict(cell),
                                         "seconds": time.perf_counter() - t0}))
    return MutationMatrix(tuple(cells), tuple(samplers), tuple(checks), alpha, tv, power)


_DIFFUSION_CHECKS = ("same-law", "acceptance")


def diffusion_mutation_matrix(
    oracle: Any = None,
    grid: Any = None,
    *,
    mutants: Mapping[str, Mutant] | None = None,
    num_samples: int = 2000,
    window: int = 4,
    alpha: float = 0.01,
    rng: Any = None,
) -> MutationMatrix:
    """Run the diffusion checks against the diffusion mutants and the correct samplers.

    ``same-law``: :func:`verify.continuous.check_same_law` of the sampler against
    :class:`~samplers.diffusion.EulerLocalizationSampler` (the exact chain);
    ``acceptance``: :func:`verify.continuous.check_speculative_acceptance` (for the
    speculative sampler and its mutants only; the cell is absent otherwise). A
    sampler is caught by a check that fails (status ``"fail"``).

    Parameters
    ----------
    oracle : DiffusionOracle, optional
        Default: the two-component mixture of the diffusion tests,
        ``GaussianMixture([0.3, 0.7], [[-2, 0], [2, 1]], [0.1, 0.2])``.
    grid : LocalizationGrid, optional
        Default ``LocalizationGrid.geometric(20.0, 16, first=0.05)``.
    mutants : dict, optional
        Name -> :class:`Mutant` of a diffusion sampler (default
        :data:`DIFFUSION_MUTANTS`); ``"correct-autospeculative"`` and
        ``"correct-speculative"`` are added.
    num_samples : int, default 2000
        Draws per sampler and check.
    window : int, default 4
        ``window`` of the speculative samplers.
    alpha : float, default 0.01
        Level of each check.
    rng : seed, optional

    Returns
    -------
    MutationMatrix
        With ``tv = nan`` and ``power = nan`` (the checks plan no effect size here).
    """
    from distributions.diffusion import GaussianMixture
    from samplers.diffusion import EulerLocalizationSampler, LocalizationGrid
    from verify.continuous import check_same_law, check_speculative_acceptance

    table = dict(mutants if mutants is not None else DIFFUSION_MUTANTS)
    for name, mut in table.items():
        if not (isinstance(mut, Mutant) and mut.sampler in (AutospeculativeDiffusionSampler,
                                                            SpeculativeDiffusionSampler)):
            raise ParameterError(
                f"`mutants` must map names to Mutant entries of a diffusion sampler; got "
                f"{name!r} -> {mut!r}."
            )
    if oracle is None:
        oracle = GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.1, 0.2])
    if grid is None:
        grid = LocalizationGrid.geometric(20.0, 16, first=0.05)
    samplers: dict[str, Mutant] = {
        "correct-autospeculative": Mutant(AutospeculativeDiffusionSampler,
                                          AutospecDiffusionSteps()),
        "correct-speculative": Mutant(SpeculativeDiffusionSampler,
                                      SpeculativeDiffusionSteps()),
    }
    samplers.update(table)
    seeds = np.random.SeedSequence(
        np.random.default_rng(rng).integers(0, 2**63 - 1)
    ).spawn(len(samplers) * len(_DIFFUSION_CHECKS))
    reference = EulerLocalizationSampler(oracle, grid)
    cells = []
    it = iter(seeds)
    for name, mut in samplers.items():
        speculative = mut.sampler is SpeculativeDiffusionSampler
        for check in _DIFFUSION_CHECKS:
            seed = int(next(it).generate_state(1, np.uint64)[0] >> np.uint64(1))
            if check == "acceptance" and not speculative:
                continue
            smp = mut(oracle, grid, window=window) if speculative else mut(oracle, grid)
            t0 = time.perf_counter()
            if check == "same-law":
                r: Any = check_same_law(smp, reference, num_samples=num_samples, alpha=alpha,
                                        rng=seed)
            else:
                r = check_speculative_acceptance(smp, num_samples=num_samples, alpha=alpha,
                                                 rng=seed)
            cells.append(MutationCell(name, check, r.status == "fail", num_samples,
                                      float(r.statistic), float(r.pvalue),
                                      time.perf_counter() - t0, f"status {r.status}"))
    return MutationMatrix(tuple(cells), tuple(samplers), _DIFFUSION_CHECKS, alpha, math.nan,
                          math.nan)
