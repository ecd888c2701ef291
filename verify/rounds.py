"""A small rounds-scaling run: mean rounds per sample against n, and a power-law fit.

Used by the ``rounds`` subcommand and the ``rounds`` stage of ``validate``. The
target is the 1-d Ising chain of :mod:`distributions.scalable` (exact conditionals,
no table) when that module is installed, else Dirichlet tables of small n.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from distributions._validation import check_int
from distributions.errors import ParameterError

__all__ = ["rounds_scaling", "fit_power_law"]


def fit_power_law(ns: Sequence[float], rounds: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares fit ``rounds ~ c n^gamma`` in log-log; returns (c, gamma, se(gamma))."""
    x = np.log(np.asarray(ns, dtype=float))
    y = np.log(np.asarray(rounds, dtype=float))
    if x.size < 2:
        return float("nan"), float("nan"), float("nan")
    A = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    dof = max(x.size - 2, 1)
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(A.T @ A)
    return float(np.exp(coef[0])), float(coef[1]), float(np.sqrt(max(cov[1, 1], 0.0)))


def _targets(quick: bool) -> tuple[str, list[int], Callable[[int], Any]]:
    try:
        sc = importlib.import_module("distributions.scalable")
    except ImportError:
        fam = importlib.import_module("distributions.families")
        ns = [4, 6, 8, 10] if quick else [4, 6, 8, 10, 12, 14]
        return ("Dirichlet(1) table, q=2", ns,
                lambda n: fam.random_table(n, 2, concentration=1.0, rng=n))
    ns = [8, 16, 32, 64] if quick else [8, 16, 32, 64, 128, 256]
    return ("Ising chain, coupling 0.7, field -0.2", ns,
            lambda n: sc.IsingChain(n, 0.7, -0.2))


def rounds_scaling(
    samplers: Sequence[str],
    *,
    quick: bool = True,
    seed: int = 0,
    num: int | None = None,
    progress: Callable[[int, str], Any] | None = None,
) -> dict[str, Any]:
    """Mean rounds and queries per sample of each sampler for growing n.

    Parameters
    ----------
    samplers : sequence of str
        Registry names of parallel samplers (:data:`verify.validation._SAMPLERS`
        without ``"sequential"``); at least one.
    quick : bool, default True
        n up to 64 (else 256) on the Ising chain.
    seed : int >= 0, default 0
    num : int >= 2, optional
        Samples per point (default 100 with ``quick``, else 400).
    progress : callable, optional
        ``progress(total, desc)`` returning an object with ``update``,
        ``set_postfix_str`` and ``close``.

    Returns
    -------
    dict
        ``{"checks": [...], "sections": [...], "rows": [...]}`` in report form.

    Raises
    ------
    ParameterError
        For a bad argument, before any work.
    """
    from verify.validation import _SAMPLERS, _NoBar, check_record, make_sampler

    parallel = [k for k in _SAMPLERS if k != "sequential"]
    if isinstance(samplers, str) or not isinstance(samplers, Sequence) or not samplers:
        raise ParameterError("`samplers` must be a non-empty sequence of parallel sampler "
                             f"names ({', '.join(parallel)}); got {samplers!r}.")
    for name in samplers:
        if name not in parallel:
            raise ParameterError(f"`samplers` must be among {', '.join(parallel)}; "
                                 f"got {name!r}.")
    seed = check_int("seed", seed, low=0)
    if num is not None:
        num = check_int("num", num, low=2)
    label, ns, build = _targets(bool(quick))
    num = num if num is not None else (100 if quick else 400)
    bar = progress(len(ns) * len(samplers), "rounds") if progress else _NoBar()
    rows: list[list[Any]] = []
    series: list[dict[str, Any]] = [{"label": "sequential (n)", "x": ns, "y": ns,
                                     "style": "dashed"}]
    checks: list[dict[str, Any]] = []
    fits: list[list[Any]] = []
    for k, name in enumerate(samplers):
        means, errs = [], []
        for j, n in enumerate(ns):
            bar.set_postfix_str(f"{name} n={n}")
            target = build(n)
            t0 = time.perf_counter()
            res = make_sampler(name, target).sample(num, rng=np.random.SeedSequence([seed, k, j]))
            secs = time.perf_counter() - t0
            r = np.asarray(res.rounds, dtype=float)
            qv = np.asarray(res.queries, dtype=float)
            means.append(float(r.mean()))
            errs.append(float(r.std(ddof=1) / np.sqrt(r.size)) if r.size > 1 else 0.0)
            rows.append([name, n, num, float(r.mean()), errs[-1], float(np.max(r)),
                         float(qv.mean()), round(secs, 3)])
            bar.update()
        c, gamma, se = fit_power_law(ns, means)
        fits.append([name, c, gamma, se])
        series.append({"label": name, "x": ns, "y": means, "yerr": errs})
        largest = ns[-1]
        checks.append(check_record(
            "rounds", f"{name}/sublinear", "mean rounds below n at the largest n",
            means[-1] < largest, severity="info", sampler=name, target=label,
            num_samples=num, statistic=means[-1],
            detail=(f"mean rounds {means[-1]:.3g} at n={largest}; fit rounds ~ {c:.3g} "
                    f"n^{gamma:.3f} (se {se:.3f})")))
    bar.close()
    section = {
        "id": "rounds-scaling", "title": "Rounds scaling",
        "text": (f"Mean rounds per sample (critical-path oracle calls, DESIGN 3.3) on the "
                 f"{label}, {num} samples per point, against the sequential sampler's n. "
                 "Fit: least squares of log rounds on log n."),
        "tables": [
            {"title": "Rounds per sample", "columns": ["sampler", "n", "samples", "mean rounds",
                                                       "s.e.", "max rounds", "mean queries",
                                                       "seconds"], "rows": rows},
            {"title": "Power-law fit rounds ~ c n^gamma",
             "columns": ["sampler", "c", "gamma", "s.e.(gamma)"], "rows": fits},
        ],
        "figures": [{"id": "rounds-scaling", "kind": "line", "title": f"Rounds vs n ({label})",
                     "xlabel": "n", "ylabel": "mean rounds per sample", "logx": True,
                     "logy": True, "series": series,
                     "caption": "Error bars: one standard error of the mean."}],
    }
    return {"checks": checks, "sections": [section], "rows": rows}
