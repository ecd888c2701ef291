"""Helpers shared by the continuous checks: drawing, Holm families, notes, levels."""

from __future__ import annotations

from typing import Any

import numpy as np
from statsmodels.stats.multitest import multipletests

from distributions.errors import ParameterError
from distributions.validation import check_float, check_int, short_repr
from verify.continuous.results import (
    SubTest,
)
from verify.sampling import check_size

#: The memory-cap advice of the continuous checks (:func:`verify.sampling.check_memory`).
MEMORY_ADVICE = "use fewer samples (a smaller `num_samples`)"


def sample_array(value: Any, label: str, *, min_rows: int,
                 dim: int | None = None) -> np.ndarray:
    """``value`` as a finite float ``(n, dim)`` array with ``n >= min_rows`` (a 1-d array
    is one coordinate), or the :class:`ParameterError` naming what is wrong; ``label``
    names the argument in the message (e.g. ``"`x`"``).

    Examples
    --------
    >>> sample_array([1.0, 2.0], "`x`", min_rows=2).shape
    (2, 1)
    >>> try:
    ...     sample_array(np.zeros((5, 2, 2)), "`x`", min_rows=2)
    ... except ParameterError as exc:
    ...     print(exc)
    `x` must have shape (n, dim) with n >= 2; got (5, 2, 2).
    """
    try:
        x = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{label} must hold numbers; got {short_repr(value)}.") from exc
    if x.ndim == 1:
        x = x[:, None]
    want = f"(n, {dim})" if dim is not None else "(n, dim)"
    if (x.ndim != 2 or x.shape[0] < min_rows or x.shape[1] < 1
            or (dim is not None and x.shape[1] != dim)):
        raise ParameterError(f"{label} must have shape {want} with n >= {min_rows}; got "
                             f"{np.shape(value)}.")
    if not np.isfinite(x).all():
        r, col = (int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ParameterError(f"{label} must be finite; got {float(x[r, col])!r} at row {r}, "
                             f"coordinate {col}.")
    return x


def check_continuous_size(num_samples: Any, max_samples: Any, what: str) -> int:
    """``num_samples`` (an integer >= 10) checked against ``max_samples`` (an integer
    >= 10 or None) before any work; :class:`ParameterError` otherwise."""
    num = check_int("num_samples", num_samples, low=10)
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, low=10)
    check_size(num, max_samples, f"the cap of {what}")
    return num


def _holm(names: list[str], stats_: list[float], pvals: list[float], alpha: float,
          resolutions: list[float] | None = None
          ) -> tuple[tuple[SubTest, ...], float, bool]:
    p = np.clip(np.asarray(pvals, dtype=np.float64), 0.0, 1.0)
    res = resolutions if resolutions is not None else [0.0] * len(names)
    reject, adj, _, _ = multipletests(p, alpha=alpha, method="holm")
    tests = tuple(
        SubTest(n, float(s), float(pv), float(a), bool(r), float(g))
        for n, s, pv, a, r, g in zip(names, stats_, p, adj, reject, res, strict=True)
    )
    return tests, float(adj.min()), not bool(reject.any())


def _status(passed: bool, no_power: bool) -> str:
    return "pass" if passed and not no_power else ("fail" if not passed else "no-power")


def _family_notes(tests: tuple[SubTest, ...], fam_p: float, alpha: float) -> list[str]:
    """A family p-value of 1 explained; Monte Carlo sub-tests that cannot reject."""
    notes = []
    m = len(tests)
    if fam_p >= 1.0:
        pmin = min(t.pvalue for t in tests)
        notes.append(
            f"family p-value 1: Holm's adjustment min(1, m p_min) with m = {m} and smallest "
            f"raw p-value {pmin:.3g} >= 1/m (the correction, not a degenerate statistic)"
        )
    for t in tests:
        if t.resolution > alpha / m:
            notes.append(
                f"{t.name}: p-value resolution {t.resolution:.3g} > alpha / m = "
                f"{alpha / m:.3g}; this sub-test alone cannot reject the family"
            )
    return notes


def _tie_notes(label: str, x: np.ndarray) -> list[str]:
    """Tied values per coordinate (the KS nulls assume continuous laws)."""
    notes = []
    for j in range(x.shape[1]):
        ties = x.shape[0] - np.unique(x[:, j]).size
        if ties:
            notes.append(f"{label} coordinate {j}: {ties} tied values of {x.shape[0]} "
                         "(KS p-values are conservative with ties)")
    return notes


def _check_alpha(alpha: Any, name: str = "alpha") -> float:
    return check_float(name, alpha, low=0.0, high=1.0, low_open=True, high_open=True)


def _check_gaussian(mean: Any, cov: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A Gaussian target's ``(mean, symmetrised cov, eigenvalues, eigenvectors)``, or the
    :class:`ParameterError` naming what is wrong (shapes, finiteness, symmetry, definiteness)."""
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(cov, dtype=np.float64)
    if m.ndim != 1 or s.shape != (m.shape[0], m.shape[0]):
        raise ParameterError(
            f"`mean` must have shape (dim,) and `cov` (dim, dim); got {m.shape} and {s.shape}."
        )
    if not (np.isfinite(m).all() and np.isfinite(s).all()) or not np.allclose(s, s.T):
        raise ParameterError("`cov` must be finite and symmetric (and `mean` finite).")
    sym = 0.5 * (s + s.T)
    lam, u = np.linalg.eigh(sym)
    if not (lam > 0).all():
        raise ParameterError(
            f"`cov` must be positive definite; got smallest eigenvalue {float(lam.min())!r}."
        )
    return m, sym, lam, u
