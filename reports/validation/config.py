"""Settings and plumbing of the validation run: config, stages, their context, alpha split.

A *stage* is a function ``stage(ctx) -> StageOutput`` (check records and report
sections, built with :mod:`reports.records`). The run's family-wise ``alpha`` is split
equally (Bonferroni) among the statistical stages and, within a stage, among its
checks (:func:`check_alpha`); the split is stated in each stage's section.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distributions.errors import ParameterError
from distributions.validation import check_float
from verify.planning import MAX_RESAMPLES

__all__ = [
    "NoBar",
    "Stage",
    "StageContext",
    "StageOutput",
    "ValidationConfig",
    "check_alpha",
    "min_check_alpha",
    "select_names",
]


@dataclass(frozen=True)
class ValidationConfig:
    """Settings of a validation run.

    Attributes
    ----------
    quick : bool
        The quick run (under 2 minutes on 2 cores): smaller targets, tv = 0.05.
    seed : int
        Root seed; every stage gets its own ``SeedSequence`` child.
    samplers, targets : tuple of str, optional
        Restrict the run to these catalogue names (:mod:`samplers.catalogue`;
        default all).
    alpha : float
        Family-wise false-failure rate of the whole run.
    stages : tuple of str, optional
        Restrict the run to these stages (default all).
    """

    quick: bool = True
    seed: int = 0
    samplers: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    alpha: float = 1e-3
    stages: tuple[str, ...] | None = None

    @property
    def tv(self) -> float:
        """The TV distance the exactness stage is planned to detect."""
        return 0.05 if self.quick else 0.02


@dataclass
class StageOutput:
    """What a stage returns: check records and report sections."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StageContext:
    """What a stage is given: the config, its own seed, its alpha, a progress bar, the
    executor its sampling-heavy checks run on (``None``: in process) and the log."""

    config: ValidationConfig
    seed: np.random.SeedSequence
    alpha: float
    progress: Callable[[int, str], Any]
    executor: Executor | None = None
    log: Callable[[str], None] | None = None

    def seed_int(self, *key: int) -> int:
        """A replayable integer seed derived from the stage seed and ``key``."""
        ss = np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, *key))
        return int(ss.generate_state(1, dtype=np.uint32)[0])


@dataclass(frozen=True)
class Stage:
    """One stage of the run.

    Attributes
    ----------
    name, title : str
        The stage's name (record ids start with it) and its section title.
    run : callable
        ``run(ctx) -> StageOutput``.
    statistical : bool
        Whether the stage spends a share of the run's alpha.
    num_checks : callable, optional
        ``num_checks(config)``: the number of checks a statistical stage splits its
        alpha over (default 1).
    share : float, default 1
        The stage's weight in the split of the run's alpha among the statistical
        stages (its alpha is ``alpha * share / sum of shares``).
    """

    name: str
    title: str
    run: Callable[[StageContext], StageOutput]
    statistical: bool = True
    num_checks: Callable[[ValidationConfig], int] | None = None
    share: float = 1.0


class NoBar:
    """A progress object that shows nothing (``update``, ``set_postfix_str``, ``close``)."""

    def update(self, k: int = 1) -> None:
        """Nothing."""

    def set_postfix_str(self, s: str) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""


def select_names(kind: str, wanted: Sequence[str] | None, known: Sequence[str],
                 default: Sequence[str] | None = None) -> list[str]:
    """The names ``wanted`` (all checked against ``known``), or ``default``.

    Parameters
    ----------
    kind : str
        The parameter's name in the error message (``"samplers"``, ``"--targets"``).
    wanted : sequence of str or None
        The names asked for; None gives ``default`` (or ``known``).
    known : sequence of str
        The valid names.
    default : sequence of str, optional
        What None selects (default ``known``).

    Raises
    ------
    ParameterError
        If a wanted name is not in ``known`` (before any work).
    """
    if wanted is None:
        return list(known if default is None else default)
    for w in wanted:
        if w not in known:
            raise ParameterError(f"`{kind}` must be among {', '.join(known)}; got {w!r}.")
    return list(wanted)


def min_check_alpha() -> float:
    """Smallest per-check alpha the run's tests support: ``1 / (MAX_RESAMPLES + 1)``.

    A Monte Carlo or permutation p-value of :mod:`verify.exactness` has resolution
    ``1 / (MAX_RESAMPLES + 1)`` (:data:`verify.planning.MAX_RESAMPLES`) and cannot
    reject below it.
    """
    return 1.0 / (int(MAX_RESAMPLES) + 1)


def check_alpha(config: ValidationConfig, stages: Sequence[Stage], *,
                name: str = "alpha") -> dict[str, float]:
    """The per-check alpha of every statistical stage; raises before any work when
    one falls below :func:`min_check_alpha`.

    The family-wise ``config.alpha`` is split among the statistical stages in
    proportion to their ``share`` (1 unless stated) and, within a stage, equally among
    its ``num_checks(config)`` checks (Bonferroni).

    Raises
    ------
    ParameterError
        If ``config.alpha`` is not in (0, 1) or is too small for the run's split.
    """
    alpha = check_float(name, config.alpha, low=0.0, high=1.0, low_open=True,
                        high_open=True)
    stat = [s for s in stages if s.statistical]
    per: dict[str, float] = {}
    ks: dict[str, int] = {}
    total = sum(s.share for s in stat)
    for s in stat:
        ks[s.name] = max(int(s.num_checks(config)), 1) if s.num_checks is not None else 1
        per[s.name] = alpha * s.share / total / ks[s.name]
    floor = min_check_alpha()
    if per and min(per.values()) < floor:
        worst = min(per, key=per.__getitem__)
        need = floor * ks[worst] * total / next(s.share for s in stat if s.name == worst)
        need = _round_up(need)  # the figure printed is itself accepted
        raise ParameterError(
            f"`{name}` must be >= {need:.3g} for this run (it is "
            f"split over {len(stat)} statistical stages and the {ks[worst]} checks of stage "
            f"{worst!r}, and a check's alpha must be >= {floor:.3g}, the resolution of a "
            f"Monte Carlo p-value); got {alpha!r}.")
    return per


def _round_up(x: float, digits: int = 3) -> float:
    """``x`` rounded up to ``digits`` significant digits (8.715e-4 -> 8.72e-4)."""
    if not x > 0 or not math.isfinite(x):
        return x
    scale = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return math.ceil(x / scale * (1 - 1e-12)) * scale
