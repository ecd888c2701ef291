"""Intervals and entropies shared by the pinning estimators."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["CONFIDENCE"]

#: Confidence level of every interval of :mod:`verify.pinning`.
CONFIDENCE: float = 0.95
#: Upper bound on context cells (rows x n) sent to the oracle in one call.
_CHUNK_CELLS: int = 2**22


def _mean_ci(
    samples: np.ndarray, *, nonneg: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and two-sided Student-t ``CONFIDENCE`` interval along axis 0.

    With ``nonneg`` (a quantity known to be >= 0) the low end is clipped at 0,
    which never lowers the coverage.
    """
    x = np.asarray(samples, dtype=np.float64)
    R = x.shape[0]
    mean = x.mean(axis=0)
    if R < 2:
        inf = np.full_like(mean, np.inf)
        lo = mean - inf
        return mean, np.maximum(lo, 0.0) if nonneg else lo, mean + inf
    se = x.std(axis=0, ddof=1) / math.sqrt(R)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, R - 1) * se
    lo = mean - half
    return mean, np.maximum(lo, 0.0) if nonneg else lo, mean + half


def _xlogx_sum(p: np.ndarray) -> float:
    """Entropy ``-sum p log p`` of a whole table (nats; 0 log 0 = 0)."""
    pos = p[p > 0]
    return float(-(pos * np.log(pos)).sum())


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    """Entropy of each distribution along the last axis (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -t.sum(axis=-1)
