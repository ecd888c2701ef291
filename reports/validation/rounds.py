"""Stage ``rounds``: rounds scaling of the parallel samplers against the sequential ``n``.

:func:`verify.rounds_scaling` measures mean rounds per sample for growing ``n`` and
fits a power law; its records and section are the stage's output.
"""

from __future__ import annotations

from reports.validation.config import StageContext, StageOutput, select_names
from samplers.catalogue import DISCRETE_SAMPLERS, parallel_samplers
from verify.rounds import rounds_scaling

__all__ = ["stage_rounds"]


def stage_rounds(ctx: StageContext) -> StageOutput:
    """Run the rounds stage (see the module docstring)."""
    cfg = ctx.config
    parallel = parallel_samplers()
    samplers = [s for s in select_names("samplers", cfg.samplers, list(DISCRETE_SAMPLERS))
                if s in parallel]
    res = rounds_scaling(samplers, quick=cfg.quick, seed=ctx.seed_int(0),
                         progress=ctx.progress)
    return StageOutput(checks=res["checks"], sections=res["sections"])
