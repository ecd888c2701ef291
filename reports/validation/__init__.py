"""The built-in validation run: every sampler on every built-in target, stage by stage.

The samplers and targets are those of :mod:`samplers.catalogue`. Modules:
:mod:`~reports.validation.config` (settings, stages, alpha split),
:mod:`~reports.validation.run` (the stages in order and the loop), one module per
stage (``exactness``, ``batch_invariance``, ``rounds``, ``exact_law``, ``pinning``,
``mutants``, ``diffusion``). Records are built by :mod:`reports.records`.
"""

from reports.records import check_record, record_status, to_record
from reports.status import STATUSES, status_counts
from reports.validation.config import (
    NoBar,
    Stage,
    StageContext,
    StageOutput,
    ValidationConfig,
    check_alpha,
    min_check_alpha,
    select_names,
)
from reports.validation.rounds import rounds_output
from reports.validation.run import available_stages, run_validation
from samplers.catalogue import (
    DISCRETE_SAMPLERS,
    make_sampler,
    parallel_samplers,
    target_names,
)

__all__ = [
    "STATUSES",
    "NoBar",
    "Stage",
    "StageContext",
    "StageOutput",
    "ValidationConfig",
    "available_samplers",
    "available_stages",
    "available_targets",
    "check_alpha",
    "check_record",
    "make_sampler",
    "min_check_alpha",
    "parallel_samplers",
    "record_status",
    "rounds_output",
    "run_validation",
    "select_names",
    "status_counts",
    "to_record",
]


def available_samplers() -> list[str]:
    """Catalogue names of the discrete samplers (:data:`samplers.catalogue.DISCRETE_SAMPLERS`)."""
    return list(DISCRETE_SAMPLERS)


def available_targets(quick: bool = True) -> list[str]:
    """Catalogue names of the built-in targets (:data:`samplers.catalogue.TARGETS`)."""
    return target_names(quick)
