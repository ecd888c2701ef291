"""Argument validation shared by every package (the ``_iv`` helpers).

Messages follow scipy's form: "`q` must be an integer >= 2; got 1."
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from distributions.errors import ParameterError

__all__ = [
    "check_int",
    "check_float",
    "check_finite_vector",
    "check_probability_array",
    "check_choice",
    "check_discrete_oracle",
    "short_repr",
]


def short_repr(value: Any) -> str:
    """``repr(value)``, shortened for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as ``int`` or raise :class:`ParameterError`."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok:
        value = int(value)
        ok = (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        if low is not None and high is not None:
            rule = f"an integer in [{low}, {high}]"
        elif low is not None:
            rule = f"an integer >= {low}"
        elif high is not None:
            rule = f"an integer <= {high}"
        else:
            rule = "an integer"
        raise ParameterError(f"`{name}` must be {rule}; got {short_repr(value)}.")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` in the stated interval or raise."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = bool(np.isfinite(value))
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
    if not ok:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        rule = "a finite number" + (" " + " and ".join(parts) if parts else "")
        raise ParameterError(f"`{name}` must be {rule}; got {short_repr(value)}.")
    return value


def check_finite_vector(name: str, value: Any, dim: int) -> np.ndarray:
    """Return ``value`` as a finite float64 array of shape ``(dim,)`` or raise.

    Examples
    --------
    >>> try:
    ...     check_finite_vector("x0", [1.0, 2.0, 3.0], 2)
    ... except ParameterError as exc:
    ...     print(exc)
    `x0` must be a finite array of shape (2,); got [1.0, 2.0, 3.0].
    """
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"`{name}` must be an array of {dim} numbers; got {short_repr(value)}."
        ) from exc
    if arr.shape != (dim,) or not np.isfinite(arr).all():
        raise ParameterError(
            f"`{name}` must be a finite array of shape ({dim},); got {short_repr(value)}."
        )
    return arr


def check_probability_array(name: str, value: Any, *, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array of finite non-negative numbers or raise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"`{name}` must be an array of non-negative numbers; got {short_repr(value)}."
        ) from exc
    if ndim is not None and arr.ndim != ndim:
        raise ParameterError(
            f"`{name}` must be a {ndim}-d array; got shape {arr.shape}."
        )
    if arr.size == 0:
        raise ParameterError(f"`{name}` must not be empty; got shape {arr.shape}.")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ParameterError(
            f"`{name}` must be finite and non-negative; got {float(arr[where])!r} at index {where}."
        )
    return arr


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices`` or raise."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(
            f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; "
            f"got {short_repr(value)}."
        )
    return value


def check_discrete_oracle(name: str, value: Any) -> None:
    """Raise :class:`ParameterError` unless ``value`` has ``n``, ``q`` and ``conditionals``.

    Examples
    --------
    >>> try:
    ...     check_discrete_oracle("oracle", 3)
    ... except ParameterError as exc:
    ...     print(exc)
    `oracle` must be a DiscreteOracle (n, q, conditionals); it has no `n`: got int.
    """
    for attr in ("n", "q", "conditionals"):
        if not hasattr(value, attr):
            raise ParameterError(
                f"`{name}` must be a DiscreteOracle (n, q, conditionals); it has no `{attr}`: "
                f"got {type(value).__name__}.")
