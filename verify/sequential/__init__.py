"""Anytime-valid statistics: test martingales, calibrated e-values and the TV certificate.

Modules: :mod:`~verify.sequential.eprocess` (the mixture likelihood-ratio test
martingale of the full-table test), :mod:`~verify.sequential.evalues` (checkpoint
schedules, the p-to-e calibrator of batched tests) and
:mod:`~verify.sequential.certificate` (the upper confidence bound on TV, its
confidence sequence and the size that certifies ``TV <= eps``). They are pure
kernels; ``check_exact(..., sequential=True, certify=eps)``
(:mod:`verify.exactness.sequential`) draws the samples and dispatches to them.
"""

from __future__ import annotations

from verify.sequential.certificate import cs_alpha, plan_certificate_size, tv_upper_bound
from verify.sequential.eprocess import CHI2_GRID, MAX_BET, TableEProcess
from verify.sequential.evalues import (
    CHECKPOINT_RATIO,
    FIRST_CHECKPOINT,
    checkpoint_schedule,
    p_to_e,
)

__all__ = [
    "CHECKPOINT_RATIO",
    "CHI2_GRID",
    "FIRST_CHECKPOINT",
    "MAX_BET",
    "TableEProcess",
    "checkpoint_schedule",
    "cs_alpha",
    "p_to_e",
    "plan_certificate_size",
    "tv_upper_bound",
]
