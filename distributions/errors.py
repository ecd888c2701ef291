"""Typed exceptions of the suite.

They live in the lowest layer (``distributions``) so that every package can raise
them without breaking the one-way import rule of DESIGN 2
(``reports -> verify -> samplers -> distributions``); the public home users import
them from is :mod:`verify.errors`, which re-exports these very classes.
"""

from __future__ import annotations

__all__ = [
    "AutospecError",
    "ParameterError",
    "OracleError",
    "ReportError",
    "BudgetExceededError",
]


class AutospecError(Exception):
    """Base class of every error raised by autospeculation."""


class ParameterError(AutospecError, ValueError):
    """A public function received a bad argument.

    The message names the parameter, the rule and the value seen, e.g.
    "`q` must be an integer >= 2; got 1."
    """


class OracleError(AutospecError, ValueError):
    """An oracle answer broke its contract (DESIGN 3.1 / 3.2).

    The message names the rule, the batch row, the position, the context and the
    value seen.
    """


class ReportError(AutospecError, OSError):
    """A report could not be read or written (missing file, bad schema, I/O)."""


class BudgetExceededError(AutospecError, RuntimeError):
    """A sampler or a check ran past its round or time budget (``max_rounds``,
    ``timeout``).

    The message names the budget, the value reached and, for the autospeculative
    sampler, the block ``(a, b)``, the number of residual trials run and the
    acceptance rate seen, so that a runaway sampler (typically one driven by a
    broken oracle) stops with a diagnosis instead of hanging.
    """
