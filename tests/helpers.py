"""Helpers shared by the project's own tests: statistical assertions and brute-force
references.

Every assertion states alpha, the sample size and the seed in its failure message,
and never drops a cell: a hit on a zero-probability cell is an immediate failure.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.multitest import multipletests

from distributions.base import MASK
from verify.exactness import full_table_test
from verify.sequential import PITEProcess, TableEProcess, checkpoint_schedule

__all__ = [
    "GTest",
    "gtest_table",
    "assert_exact_gtest",
    "assert_family",
    "brute_conditionals",
    "brute_chain",
    "monitor_log_e",
]


@dataclass(frozen=True)
class GTest:
    statistic: float
    pvalue: float
    dof: int
    num_samples: int
    impossible_hits: int


def gtest_table(samples: np.ndarray, pmf: np.ndarray, q: int) -> GTest:
    """Full-table G-test (Williams' correction) of ``samples`` (num, n) against the flat
    C-order ``pmf``: the suite's own kernel, :func:`verify.exactness.full_table_test`
    with ``method="gtest"`` (no cell dropped; an impossible-cell hit gives p = 0)."""
    samples = np.asarray(samples)
    res = full_table_test(samples, np.asarray(pmf, dtype=np.float64), q, method="gtest")
    return GTest(float(res.statistic), float(res.pvalue), int(res.dof), int(samples.shape[0]),
                 int(res.impossible_hits))


def assert_exact_gtest(
    samples: np.ndarray, pmf: np.ndarray, q: int, *, alpha: float, seed: int, label: str
) -> GTest:
    """Fail unless the G-test of ``samples`` against ``pmf`` has p-value >= alpha."""
    res = gtest_table(samples, pmf, q)
    assert res.pvalue >= alpha, (
        f"{label}: G-test rejects exactness: G={res.statistic:.2f}, dof={res.dof}, "
        f"p={res.pvalue:.3g} < alpha={alpha:g}; num_samples={res.num_samples}, "
        f"impossible-cell hits={res.impossible_hits}, seed={seed}"
    )
    return res


def assert_family(pvalues: dict[str, float], *, alpha: float, seed: int, sizes: str) -> None:
    """Holm-corrected family-wise check: fail if any hypothesis is rejected at ``alpha``."""
    names = list(pvalues)
    reject, adj, _, _ = multipletests([pvalues[k] for k in names], alpha=alpha, method="holm")
    failed = [f"{k} (p={pvalues[k]:.3g}, Holm-adjusted {a:.3g})"
              for k, r, a in zip(names, reject, adj, strict=True) if r]
    assert not failed, (
        f"family of {len(names)} tests at FWER alpha={alpha:g} (Holm) rejects: "
        f"{'; '.join(failed)}; sizes: {sizes}; seed={seed}"
    )


# ------------------------------------------------------- brute-force references
def brute_conditionals(pmf: np.ndarray, n: int, q: int, x: np.ndarray) -> np.ndarray:
    """``mu(X_i = v | x[b])`` by summing the flat table; zero rows if impossible."""
    pmf = np.asarray(pmf, dtype=np.float64).reshape(-1)
    x = np.asarray(x)
    configs = np.array(list(itertools.product(range(q), repeat=n)))  # C order
    out = np.zeros((x.shape[0], n, q))
    for b, row in enumerate(x):
        ok = np.all((row == MASK) | (configs == row), axis=1)
        mass = np.zeros((n, q))
        for i in range(n):
            for v in range(q):
                mass[i, v] = pmf[ok & (configs[:, i] == v)].sum()
        tot = pmf[ok].sum()
        for i in range(n):
            if row[i] != MASK:
                out[b, i, row[i]] = 1.0
            elif tot > 0:
                out[b, i] = mass[i] / tot
    return out


def brute_chain(
    pmf: np.ndarray, n: int, q: int, x: np.ndarray, positions: np.ndarray,
    chain_values: np.ndarray | None,
) -> np.ndarray:
    """``conditionals_at`` from the definition, one explicit context per step."""
    B, L = positions.shape
    out = np.zeros((B, L, q))
    for b in range(B):
        for j in range(L):
            ctx = x[b].copy()
            if chain_values is not None:
                ctx[positions[b, :j]] = chain_values[b, :j]
            out[b, j] = brute_conditionals(pmf, n, q, ctx[None])[0, positions[b, j]]
    return out


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers start from a fresh interpreter (``forkserver``).

    The test processes have JAX loaded (the foreign-array tests), and JAX is
    multithreaded: a plain ``fork`` of such a process may deadlock in the child.
    """
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))


def monitor_log_e(ep: TableEProcess | PITEProcess,
                  draw: Callable[[int], tuple[np.ndarray, ...]], nmax: int,
                  stop_at: float = math.inf) -> tuple[float, int]:
    """Monitor an e-process over ``nmax`` samples, every sample looked at.

    ``ep`` has ``update(*args) -> log E per sample`` and ``checkpoint()`` (the
    :mod:`verify.sequential` e-processes); ``draw(size)`` returns the ``args`` of the
    next ``size`` samples. Returns the running maximum of log E and the index of the
    first sample at which log E >= ``stop_at`` (``nmax`` if none).
    """
    t, top = 0, 0.0
    for end in checkpoint_schedule(nmax):
        le = ep.update(*draw(end - t))
        top = max(top, float(le.max()))
        hit = np.flatnonzero(le >= stop_at)
        if hit.size:
            return top, t + int(hit[0]) + 1
        t = end
        ep.checkpoint()
    return top, nmax
