"""Public home of the suite's typed exceptions.

The classes are defined in :mod:`distributions.errors` (the lowest layer, so that
``distributions`` and ``samplers`` can raise them without importing ``verify``) and
re-exported here unchanged: ``verify.errors.OracleError is
distributions.errors.OracleError``.
"""

from distributions.errors import (
    AutospecError,
    BudgetExceededError,
    OracleError,
    ParameterError,
    ReportError,
)

__all__ = [
    "AutospecError",
    "BudgetExceededError",
    "OracleError",
    "ParameterError",
    "ReportError",
]
