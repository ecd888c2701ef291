"""Oracle answers from any array library, any floating dtype: conversion and tolerances.

An oracle may answer with a numpy array of any floating dtype or with an array of any
library that implements the array API standard (torch, JAX, CuPy, array-api-strict, ...;
CPU or GPU). :func:`to_host` converts one answer, once per call, to a float64 numpy array
(a device answer is copied to host once, as a whole, never per row) and reports the dtype
it had; :func:`tolerance` is the dtype-aware tolerance of the oracle contract.

The tolerance rule
------------------
For an answer of dtype ``d`` with ``q`` values per row::

    tol(d, q) = max(1e-9, 2 * (ceil(log2 q) + 1) * eps(d))

``eps(d)`` is the machine epsilon of ``d`` (``finfo(d).eps``). Why: an oracle normalises a
row by dividing by its sum; a pairwise (tree) sum of ``q`` non-negative terms -- what numpy,
torch and JAX reductions do -- has relative error at most ``ceil(log2 q) * eps / 2``, and
each division adds ``eps / 2`` per entry, so the row sum of a correctly normalised answer is
within ``(ceil(log2 q) + 1) * eps / 2`` of 1 (the guard sums in float64, adding nothing at
these sizes). The rule takes four times that bound, and never less than the float64 rule
``1e-9`` of docs/contracts.md (so float64 answers are checked exactly as before). An oracle
that sums sequentially in low precision can exceed it for large ``q``; renormalise its rows
in float64 before answering (or answer in float64). Figures:

=========  =========  ===========  ===========
dtype      eps        q = 32       q = 50,000
=========  =========  ===========  ===========
float64    2.2e-16    1e-9         1e-9
float32    1.19e-7    1.43e-6      4.05e-6
float16    9.77e-4    1.17e-2      3.32e-2
bfloat16   7.81e-3    9.38e-2      2.66e-1
=========  =========  ===========  ===========

The same ``tol`` bounds how far an entry may lie outside ``[0, 1]`` and how far a row at an
unmasked position may be from its one-hot.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from distributions.errors import OracleError

__all__ = ["FLOAT64_TOL", "ForeignContexts", "HostAnswer", "to_host", "tolerance"]

#: The float64 tolerance of docs/contracts.md; the floor of :func:`tolerance`.
FLOAT64_TOL: float = 1e-9


def tolerance(eps: float, q: int) -> float:
    """Contract tolerance for an answer whose dtype has machine epsilon ``eps``.

    Parameters
    ----------
    eps : float
        ``finfo(dtype).eps`` of the answer's dtype.
    q : int >= 2
        Values per row.

    Returns
    -------
    float
        ``max(1e-9, 2 * (ceil(log2 q) + 1) * eps)`` (the module docstring gives the reason).

    Examples
    --------
    >>> import numpy as np
    >>> tolerance(float(np.finfo(np.float64).eps), 50_000)
    1e-09
    >>> f"{tolerance(float(np.finfo(np.float32).eps), 32):.3g}"
    '1.43e-06'
    """
    return max(FLOAT64_TOL, 2.0 * (math.ceil(math.log2(q)) + 1) * float(eps))


@dataclass(frozen=True)
class HostAnswer:
    """One oracle answer on the host.

    Attributes
    ----------
    values : numpy.ndarray
        The answer as float64 (the oracle's own array when it already was float64 numpy).
    dtype : str
        The dtype the oracle answered with, as its library names it (``"float32"``,
        ``"bfloat16"``, ...).
    library : str
        ``"numpy"`` or the array namespace's module name (``"jax.numpy"``, ...).
    eps : float
        Machine epsilon of ``dtype``.
    """

    values: np.ndarray
    dtype: str
    library: str
    eps: float


class AnswerTypeError(OracleError):
    """An answer that is no floating array (list, integer dtype, uncopyable device array)."""

    def __init__(self, message: str, rule: str, seen: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.seen = seen


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@functools.cache
def _numpy_float(dtype: np.dtype) -> tuple[str, float]:
    """Name and machine epsilon of a numpy floating dtype (cached: once per dtype)."""
    return str(dtype), float(np.finfo(dtype).eps)


def to_host(out: Any) -> HostAnswer:
    """Convert one oracle answer to a float64 numpy array, once, recording its dtype.

    Parameters
    ----------
    out : numpy.ndarray or array API array
        The answer. A numpy array is taken as is; any other array goes through
        ``array_api_compat`` (its namespace, ``finfo``) and DLPack. An array on a device is
        copied to the host once, as a whole; a dtype DLPack cannot carry to numpy (e.g.
        ``bfloat16``) is first widened exactly to float32 by its own library.

    Returns
    -------
    HostAnswer

    Raises
    ------
    AnswerTypeError
        (an :class:`~distributions.errors.OracleError`) for an answer that is not an array
        (e.g. a Python list: its precision is unknown) or that cannot be copied to the
        host; ``rule`` is ``"contract.dtype"``. An answer of a non-floating dtype is
        returned as a numpy array of that dtype (``eps`` NaN) for the guard to reject
        naming the row it damages.

    Examples
    --------
    >>> import numpy as np
    >>> h = to_host(np.array([[0.25, 0.75]], dtype=np.float32))
    >>> h.values.dtype, h.dtype, h.library
    (dtype('float64'), 'float32', 'numpy')
    """
    if isinstance(out, np.ndarray):
        if out.dtype.kind != "f":  # left as is: the guard names the row it damages
            return HostAnswer(out, str(out.dtype), "numpy", math.nan)
        name, eps = _numpy_float(out.dtype)
        return HostAnswer(out.astype(np.float64, copy=False), name, "numpy", eps)
    import array_api_compat as compat

    if not compat.is_array_api_obj(out) or isinstance(out, np.generic):
        raise AnswerTypeError(
            "an answer must be an array (numpy or array API) of a floating dtype",
            "contract.dtype", f"{type(out).__name__} {_short(out)}")
    xp = compat.array_namespace(out)
    name = str(out.dtype).rsplit(".", 1)[-1]
    floating = xp.isdtype(out.dtype, "real floating")
    eps = float(xp.finfo(out.dtype).eps) if floating else math.nan
    arr = out
    if floating and name not in ("float16", "float32", "float64"):
        arr = xp.astype(arr, xp.float32)  # exact widening (bfloat16 and the like)
    try:
        try:
            host = np.from_dlpack(arr)
        except (BufferError, RuntimeError, TypeError, ValueError):
            host = np.from_dlpack(compat.to_device(arr, "cpu"))  # one copy of the whole answer
    except Exception as exc:  # any library's copy failure is the oracle's
        raise AnswerTypeError(
            "an answer must be copyable to the host (DLPack or the library's to_device)",
            "contract.dtype",
            f"{xp.__name__} array on device {compat.device(out)!s} "
            f"({type(exc).__name__}: {exc})") from None
    host = np.asarray(host, dtype=np.float64) if floating else np.asarray(host)
    return HostAnswer(host, name, xp.__name__, eps)




class ForeignContexts:
    """Hand an oracle its contexts as arrays of its own library (the answer's way back
    is :func:`to_host`, in the guard).

    Samplers and the guard call oracles with numpy integer arrays. An oracle written
    for another array library (a torch / JAX / CuPy model, array-api-strict) wraps
    itself in this adapter: every call converts the contexts (and ``positions`` /
    ``chain_values`` of the fast path) once, with ``xp.asarray`` (on ``device`` when
    given), and hands them to ``oracle``; its answer goes back unchanged, to be
    converted and checked once per call by :class:`samplers.oracle.CountingOracle`.
    The fast path ``conditionals_at`` is offered only when ``oracle`` has one.

    Parameters
    ----------
    oracle : object with ``n``, ``q`` and ``conditionals`` taking ``xp`` arrays
    xp : array namespace (``array_api_strict``, ``jax.numpy``, ``torch``, ...)
    device : optional
        Passed to ``xp.asarray(..., device=device)``.

    Examples
    --------
    >>> import array_api_strict as xps
    >>> class FairCoins:  # an oracle computing in array-api-strict, answering float32
    ...     n, q = 2, 2
    ...     def conditionals(self, x):
    ...         assert not isinstance(x, np.ndarray)  # an array-api-strict array
    ...         onehot = xps.astype(xps.stack([x == 0, x == 1], axis=-1), xps.float32)
    ...         half = xps.full(onehot.shape, 0.5, dtype=xps.float32)
    ...         return xps.where(xps.stack([x < 0, x < 0], axis=-1), half, onehot)
    >>> from samplers import SequentialSampler
    >>> sampler = SequentialSampler(ForeignContexts(FairCoins(), xps))
    >>> sampler.sample(3, rng=0).samples.shape, sampler.oracle.dtype
    ((3, 2), 'array_api_strict float32')
    """

    def __init__(self, oracle: Any, xp: Any, *, device: Any = None) -> None:
        for attr in ("n", "q", "conditionals"):
            if not hasattr(oracle, attr):
                from distributions.errors import ParameterError

                raise ParameterError(
                    f"`oracle` must have n, q and conditionals; it has no `{attr}`: got "
                    f"{type(oracle).__name__}.")
        if not callable(getattr(xp, "asarray", None)):
            from distributions.errors import ParameterError

            raise ParameterError(
                f"`xp` must be an array namespace with asarray; got {_short(xp)}.")
        self.inner, self.xp, self.device = oracle, xp, device
        self.n, self.q = oracle.n, oracle.q
        if callable(getattr(oracle, "conditionals_at", None)):
            self.conditionals_at = self._conditionals_at

    def _to(self, a: np.ndarray) -> Any:
        a = np.ascontiguousarray(a)  # a private copy only when the caller's is strided
        if self.device is None:
            return self.xp.asarray(a)
        return self.xp.asarray(a, device=self.device)

    def conditionals(self, x: np.ndarray) -> Any:
        """``oracle.conditionals`` on the contexts converted to ``xp``."""
        return self.inner.conditionals(self._to(x))

    def _conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                         chain_values: np.ndarray | None = None) -> Any:
        args = [self._to(x), self._to(positions)]
        if chain_values is not None:
            args.append(self._to(chain_values))
        return self.inner.conditionals_at(*args)
