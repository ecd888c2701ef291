"""Log-space numerics shared by the targets (issue 18 items 18 and 21).

Every normalisation of the package goes through these helpers, so that no weight
overflows and no ``RuntimeWarning`` escapes:

* :func:`exp_neg` -- ``exp`` of non-positive log weights. A result below the
  smallest normal float (``a < -708.4``) is the correctly rounded value of a
  probability under ``1e-308``; that underflow is expected and silent.
* :func:`logsumexp`, :func:`log_softmax`, :func:`softmax` -- stable along an axis;
  a slice of all ``-inf`` (a zero-probability context) gives ``-inf`` / zeros.
* :func:`sigmoid_pair` -- ``(P(0), P(1))`` of a binary conditional from its
  log-odds, both computed directly (no ``1 - p`` cancellation).
* :func:`log_abs_sum` -- ``log(sum |v|)`` of finite floats without overflow, used
  by the families to decide before any work whether float64 resolves their log
  weights (:data:`LOG_WEIGHT_TOL`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "UNIT_ROUNDOFF",
    "LOG_WEIGHT_TOL",
    "exp_neg",
    "logsumexp",
    "log_softmax",
    "softmax",
    "sigmoid_pair",
    "log_abs_sum",
    "fmt_log",
]

#: Unit roundoff of float64, ``2**-53``.
UNIT_ROUNDOFF: float = float(np.finfo(np.float64).eps) / 2.0
#: Largest first-order bound on the absolute error of the log weights a family
#: accepts. Probabilities and conditionals are then correct to a relative
#: ``~2 * LOG_WEIGHT_TOL``; parameters beyond it are refused with ``ParameterError``.
LOG_WEIGHT_TOL: float = 1e-8


def exp_neg(a: Any) -> np.ndarray:
    """``exp(a)`` for log weights ``a <= 0`` (or ``-inf``); underflow to 0 is silent."""
    with np.errstate(under="ignore"):
        return np.exp(a)


def logsumexp(a: Any, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(a)))`` along ``axis`` (all axes if None), stable.

    Entries may be ``-inf``; a slice of all ``-inf`` gives ``-inf``. ``+inf`` and
    NaN are not valid log weights (callers refuse them before).
    """
    arr = np.asarray(a, dtype=np.float64)
    top = np.max(arr, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", over="ignore"):
        # a - top of two finite floats of opposite sign may overflow to -inf: exp -> 0
        total = np.sum(exp_neg(arr - top), axis=axis, keepdims=True)
        out = np.log(total) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def _shifted(arr: np.ndarray, axis: int) -> np.ndarray:
    """``a - max(a)`` along ``axis`` (an all ``-inf`` slice stays ``-inf``); the
    difference is exact for close entries, so no magnitude of ``a`` is lost."""
    top = np.max(arr, axis=axis, keepdims=True)
    with np.errstate(over="ignore"):  # finite - finite may overflow to -inf: weight 0
        return arr - np.where(np.isfinite(top), top, 0.0)


def log_softmax(a: Any, axis: int = -1) -> np.ndarray:
    """``a - logsumexp(a)`` along ``axis``, as ``(a - max) - log(sum(exp(a - max)))``
    (never ``a - lse`` of two large numbers); an all ``-inf`` slice stays ``-inf``."""
    shifted = _shifted(np.asarray(a, dtype=np.float64), axis)
    total = np.sum(exp_neg(shifted), axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = shifted - np.log(total)
    return np.where(total > 0, out, -np.inf)


def softmax(a: Any, axis: int = -1) -> np.ndarray:
    """Normalised ``exp(a)`` along ``axis``; an all ``-inf`` slice gives all zeros."""
    e = exp_neg(_shifted(np.asarray(a, dtype=np.float64), axis))
    total = np.sum(e, axis=axis, keepdims=True)
    with np.errstate(under="ignore"):  # a share below 1e-308: correctly rounded
        return e / np.where(total > 0, total, 1.0)


def sigmoid_pair(z: Any) -> np.ndarray:
    """``[1 - sigmoid(z), sigmoid(z)]`` stacked on a new last axis, each computed
    as ``exp(-log(1 + exp(-+z)))`` (no cancellation, no overflow, silent underflow)."""
    zz = np.asarray(z, dtype=np.float64)
    with np.errstate(under="ignore", over="ignore"):
        # log(1 + exp(w)) = max(w, 0) + log1p(exp(-|w|))
        soft = np.log1p(np.exp(-np.abs(zz)))
        p1 = np.exp(-(np.maximum(-zz, 0.0) + soft))
        p0 = np.exp(-(np.maximum(zz, 0.0) + soft))
    return np.stack([p0, p1], axis=-1)


def log_abs_sum(*values: Any) -> float:
    """``log(sum |v|)`` over every entry of ``values`` (finite floats), without
    overflow; ``-inf`` when all are zero."""
    flat = [np.abs(np.asarray(v, dtype=np.float64)).reshape(-1) for v in values]
    allv = np.concatenate(flat) if flat else np.zeros(0)
    if allv.size == 0:
        return -math.inf
    top = float(allv.max())
    if top == 0.0:
        return -math.inf
    with np.errstate(under="ignore"):
        return math.log(top) + math.log(float(np.sum(allv / top)))


def fmt_log(log_value: float) -> str:
    """``exp(log_value)`` formatted for a message, also beyond the float range."""
    if not math.isfinite(log_value):
        return "0" if log_value < 0 else "inf"
    if log_value < 700.0:
        return f"{math.exp(log_value):.3g}"
    l10 = log_value / math.log(10.0)
    return f"{10.0 ** (l10 - math.floor(l10)):.3g}e+{math.floor(l10)}"
