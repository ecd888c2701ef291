"""The built-in validation run: its stages in order, and the loop that runs them.

Each stage (one module of this package) returns check records
(:mod:`reports.records`) and report sections. ``status`` of a record is one of
:data:`reports.status.STATUSES`; ``passed`` is True only for "pass". The run's
verdict is :func:`reports.status.verdict` of the records ("fail" iff some check has
status "fail"; in strict mode also when some check is "warn", "no-power" or
"skipped").

Error budget: the run's family-wise ``alpha`` is split equally (Bonferroni) among
the statistical stages and, within a stage, among its checks
(:func:`reports.validation.config.check_alpha`); the split is stated in each stage's
section.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from distributions.errors import ParameterError
from distributions.validation import check_int
from reports.records import check_record, record_status
from reports.status import status_counts
from reports.validation.batch_invariance import batch_samplers, stage_batch_invariance
from reports.validation.certificates import stage_certificates
from reports.validation.config import (
    NoBar,
    Stage,
    StageContext,
    StageOutput,
    ValidationConfig,
    check_alpha,
)
from reports.validation.diffusion import diffusion_jobs, stage_diffusion
from reports.validation.exact_law import stage_exact_law
from reports.validation.exactness import exactness_pairs, stage_exactness
from reports.validation.mutants import mutant_checks, stage_mutants
from reports.validation.pinning import stage_pinning
from reports.validation.rounds import stage_rounds
from reports.validation.user_model import stage_user_model, user_model_checks
from verify.execution import check_executor

__all__ = ["available_stages", "run_validation"]


def available_stages(config: ValidationConfig) -> list[Stage]:
    """The stages of the run, in order (``config.stages`` selects some).

    Raises
    ------
    ParameterError
        If ``config.stages`` names an unknown stage.
    """
    stages = [
        Stage("exactness", "Exactness (full-table tests)", stage_exactness,
              num_checks=lambda cfg: len(exactness_pairs(cfg)[1])),
        Stage("batch-invariance", "Batch invariance (batch size 1 against the production "
              "size)", stage_batch_invariance, num_checks=lambda cfg: len(batch_samplers(cfg))),
        Stage("rounds", "Rounds scaling", stage_rounds, statistical=False),
        Stage("exact-law", "Exact law by enumeration", stage_exact_law, statistical=False),
        Stage("pinning", "Pinning lemma and round bound", stage_pinning, statistical=False),
        Stage("mutants", "Mutation matrix", stage_mutants,
              num_checks=lambda cfg: len(mutant_checks(cfg.quick))),
        Stage("diffusion", "Diffusion samplers", stage_diffusion,
              num_checks=lambda cfg: len(diffusion_jobs(cfg.quick))),
        # a small share: its three checks keep >= 1e-5 each while the default alpha
        # 1e-3 still covers the 21 (24) checks of the exactness stage
        Stage("user-model", "A trained model as the user's oracle", stage_user_model,
              num_checks=lambda cfg: len(user_model_checks(cfg)), share=0.15),
    ]
    if not config.quick or "certificates" in (config.stages or ()):
        # about a minute and a half: in the full run, or when asked for by name
        stages.append(Stage("certificates", "Symbolic certificates (sympy)",
                            stage_certificates, statistical=False))
    if config.stages is not None:
        names = [s.name for s in stages]
        for want in config.stages:
            if want not in names:
                raise ParameterError(f"`stages` must be among {', '.join(names)}; "
                                     f"got {want!r}.")
        stages = [s for s in stages if s.name in config.stages]
    return stages


def run_validation(
    config: ValidationConfig,
    *,
    progress: Callable[[int, str], Any] | None = None,
    stages: Sequence[Stage] | None = None,
    log: Callable[[str], None] | None = None,
    executor: Executor | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, float]]]:
    """Run every stage; return (checks, sections, stage timings).

    Parameters
    ----------
    config : ValidationConfig
        The run's settings; ``config.seed`` and ``config.alpha`` are checked first
        (:func:`~reports.validation.config.check_alpha`), raising
        :class:`ParameterError` before any work.
    progress : callable, optional
        ``progress(total, desc)`` makes the per-stage progress object (``update``,
        ``set_postfix_str``, ``close``); default none shown.
    stages : sequence of Stage, optional
        Default :func:`available_stages` of ``config``.
    log : callable, optional
        ``log(line)`` receives one line when a stage starts and one when it ends
        (its time and status counts), and the shard progress of long checks.
    executor : concurrent.futures.Executor, optional
        Where the exactness checks draw their shards (:mod:`verify.execution`):
        ``None`` in process; the results are the same for every executor.

    Returns
    -------
    checks, sections, timings
        The check records, the report sections and ``(stage, seconds)`` pairs. A
        stage that raises is recorded as one failing check naming the exception.
    """
    if progress is None:
        progress = lambda total, desc: NoBar()  # noqa: E731
    check_int("seed", config.seed, low=0)
    stages = list(stages) if stages is not None else available_stages(config)
    check_alpha(config, stages)
    executor = check_executor(executor)
    n_stat = sum(s.share for s in stages if s.statistical) or 1.0
    root = np.random.SeedSequence(config.seed)
    children = root.spawn(len(stages))
    checks: list[dict[str, Any]] = []
    sections: list[dict[str, Any]] = []
    timings: list[tuple[str, float]] = []
    for i, (stage, child) in enumerate(zip(stages, children, strict=True)):
        ctx = StageContext(config=config, seed=child,
                           alpha=(config.alpha * stage.share / n_stat if stage.statistical
                                  else config.alpha),
                           progress=progress, executor=executor, log=log)
        if log is not None:
            log(f"stage {i + 1}/{len(stages)} {stage.name}: {stage.title}")
        t0 = time.perf_counter()
        try:
            out = stage.run(ctx)
        except ParameterError:
            raise
        except Exception as exc:
            out = StageOutput(checks=[check_record(
                stage.name, "stage", f"stage {stage.name} ran", False,
                detail=f"{type(exc).__name__}: {exc}")])
        timings.append((stage.name, time.perf_counter() - t0))
        if log is not None:
            k = status_counts(out.checks)
            bad = [c["id"] for c in out.checks if record_status(c) != "pass"]
            log(f"stage {i + 1}/{len(stages)} {stage.name}: done in {timings[-1][1]:.1f} s, "
                f"{len(out.checks)} checks: " + ", ".join(f"{v} {s}" for s, v in k.items())
                + (f"; not passed: {', '.join(bad)}" if bad else ""))
        checks.extend(out.checks)
        sections.extend(out.sections)
    return checks, sections, timings
