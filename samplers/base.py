"""Sampler contracts, result records and the random-source interface (DESIGN 3.3).

Random sources
--------------
Every sampler of this package draws all of its randomness through a
:class:`RandomSource`: categorical draws, coins given by a log-probability, random
orders and standard normals. :class:`NumpySource` implements it with a
:class:`numpy.random.Generator`; the verification package supplies an enumerating
source that branches on every draw to compute a sampler's exact output law by
running the real sampler code (DESIGN 6.1). A sampler's ``rng`` argument accepts a
seed, a ``Generator``, a ``SeedSequence`` or a ``RandomSource`` (see
:func:`as_random_source`).

Budgets
-------
Every sampler takes keyword-only ``max_rounds`` and ``timeout`` (validated by
:func:`check_budget`); one ``sample()`` call runs inside a :class:`Budget`, which
the sampler checks once per round (or residual batch), never per query, and which
raises :class:`~distributions.errors.BudgetExceededError` with the sampler's
diagnosis. On the main thread of a POSIX system the timeout is also enforced by an
interval timer (``SIGALRM``), so that a single long oracle call is interrupted too.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from distributions.errors import BudgetExceededError, ParameterError
from distributions.validation import check_float, check_int

__all__ = [
    "Sampler",
    "SampleResult",
    "SamplerTrace",
    "RandomSource",
    "NumpySource",
    "as_random_source",
    "Budget",
    "check_budget",
]


@runtime_checkable
class RandomSource(Protocol):
    """Where a sampler's random choices come from."""

    def categorical(self, probs: np.ndarray) -> np.ndarray:
        """One draw per row of ``probs`` (shape (m, q), rows summing to 1); int (m,)."""
        ...

    def coin(self, log_p: np.ndarray) -> np.ndarray:
        """Bernoulli draws with success probability ``exp(log_p)``; bool (m,)."""
        ...

    def permutations(self, m: int, n: int) -> np.ndarray:
        """``m`` independent uniform permutations of ``range(n)``; int (m, n)."""
        ...

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        """Standard normal draws of the given shape."""
        ...


class NumpySource:
    """:class:`RandomSource` backed by a :class:`numpy.random.Generator`.

    Parameters
    ----------
    rng : seed, Generator or SeedSequence, optional
        Normalised with :func:`numpy.random.default_rng`.
    """

    def __init__(self, rng: Any = None) -> None:
        self.generator: np.random.Generator = np.random.default_rng(rng)

    def categorical(self, probs: np.ndarray) -> np.ndarray:
        """Inverse-CDF draws: one cumulative sum and one comparison pass over the batch
        (for ``q = 2`` one sum and one comparison of the first column).

        Row ``i`` gets the number of entries of its cumulative sum that are at most
        ``U_i * total_i`` (``U_i`` uniform on [0, 1)), clipped to ``q - 1``; rows need
        not be normalised, only of positive mass.
        """
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2:
            raise ParameterError(f"`probs` must have shape (m, q); got shape {p.shape}.")
        two = p.shape[1] == 2  # the cumulative sum's columns are p[:, 0] and p[:, 0] + p[:, 1]
        cdf = p if two else np.cumsum(p, axis=1)
        total = p[:, 0] + p[:, 1] if two else cdf[:, -1]
        positive = total > 0
        if p.shape[0] and not positive.all():
            row = int(np.argmin(positive))
            raise ParameterError(
                f"`probs` rows must have positive mass; got row {row} summing to "
                f"{float(total[row])!r}."
            )
        u = self.generator.random(p.shape[0])
        u *= total
        if two:  # the general count below, clipped to 1
            return ((cdf[:, 0] <= u) | (total <= u)).astype(np.int64)
        idx = np.count_nonzero(cdf <= u[:, None], axis=1).astype(np.int64, copy=False)
        return np.minimum(idx, p.shape[1] - 1, out=idx)

    def coin(self, log_p: np.ndarray) -> np.ndarray:
        lp = np.asarray(log_p, dtype=np.float64)
        # V = 1 - U lies in (0, 1]; P(log V <= log p) = p, exactly 0 for log p = -inf.
        return np.log1p(-self.generator.random(lp.shape)) <= lp

    def permutations(self, m: int, n: int) -> np.ndarray:
        return np.argsort(self.generator.random((m, n)), axis=1).astype(np.int64)

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.generator.standard_normal(shape)

    def spawn(self, k: int) -> list[NumpySource]:
        """``k`` independent child sources (``SeedSequence.spawn`` underneath)."""
        return [NumpySource(g) for g in self.generator.spawn(k)]


def as_random_source(rng: Any = None) -> RandomSource:
    """Normalise a sampler's ``rng`` argument to a :class:`RandomSource`."""
    if isinstance(rng, RandomSource) and not isinstance(
        rng, np.random.Generator | np.random.SeedSequence
    ):
        return rng
    return NumpySource(rng)


@dataclass(frozen=True)
class SamplerTrace:
    """Blocks visited by the autospeculative sampler, one record per block call.

    A block call is one invocation of ``SAMPLE(a, b, x_P)`` (DESIGN 4.2) for one
    sample: the root call, and the left/right child calls made by every residual
    trial the algorithm runs (trials evaluated ahead by the implementation's
    look-ahead and discarded are not recorded). All ``block_*`` arrays have the
    same length ``K``; parents come before their children.

    Attributes
    ----------
    orders : ndarray of int, shape (num, n)
        The order sigma used by each sample.
    block_sample : ndarray of int, shape (K,)
        Which sample the call belongs to.
    block_a, block_b : ndarray of int, shape (K,)
        Prefix length ``a`` and block end ``b``; the block is ``sigma(a+1..b)``.
    block_depth : ndarray of int, shape (K,)
        Recursion depth (root = 0).
    block_parent : ndarray of int, shape (K,)
        Index of the parent call's record (-1 for a root).
    block_role : ndarray of int, shape (K,)
        0 = root, 1 = left child, 2 = right child.
    block_trial : ndarray of int, shape (K,)
        Index (1-based) of the residual trial of the parent that made this call;
        0 for a root.
    block_context : ndarray of int, shape (K, n)
        The context ``x_P`` the call was given (MASK outside the prefix).
    block_first_accepted : ndarray of bool, shape (K,)
        Whether the first stage (speculation) was accepted.
    block_trials, block_batches : ndarray of int, shape (K,)
        Residual trials run (all trials of the batches up to the accepting one)
        and non-empty batches used (0 when accepted first).
    block_rounds, block_queries : ndarray of int, shape (K,)
        Cost of the call including its descendants, as in :class:`SampleResult`.
    """

    orders: np.ndarray
    block_sample: np.ndarray
    block_a: np.ndarray
    block_b: np.ndarray
    block_depth: np.ndarray
    block_parent: np.ndarray
    block_role: np.ndarray
    block_trial: np.ndarray
    block_context: np.ndarray
    block_first_accepted: np.ndarray
    block_trials: np.ndarray
    block_batches: np.ndarray
    block_rounds: np.ndarray
    block_queries: np.ndarray

    @property
    def num_blocks(self) -> int:
        return int(self.block_sample.shape[0])


@dataclass(frozen=True)
class SampleResult:
    """Output of :meth:`Sampler.sample`.

    Attributes
    ----------
    samples : ndarray, shape (num, n) int or (num, dim) float
    rounds : ndarray of int, shape (num,)
        Sequential oracle calls on the critical path of each sample (PRAM cost).
    queries : ndarray of int, shape (num,)
        Oracle rows (contexts) evaluated for each sample.
    trace : SamplerTrace, optional
        Per-block record (autospeculative sampler with ``trace=True``).
    orders : ndarray of int, shape (num, n), optional
        The order each sample was revealed along (row ``b`` is a permutation of
        ``range(n)``: position ``orders[b, t]`` was revealed at step ``t``), for the
        order-conditional tests of :mod:`verify`; ``None`` for a sampler without one
        (e.g. the diffusion samplers).
    aux : mapping of str to ndarray
        Sampler-specific extra outputs (e.g. ``"path_end"`` for diffusion).
    draft_queries : ndarray of int, shape (num,), optional
        Rows evaluated by a separate draft model for each sample (speculative
        samplers with a draft; all zeros for a frozen draft, which calls no model);
        not included in ``queries``, which counts the target oracle only. ``None``
        for samplers without a draft.
    """

    samples: np.ndarray
    rounds: np.ndarray
    queries: np.ndarray
    trace: SamplerTrace | None = None
    aux: Mapping[str, np.ndarray] = field(default_factory=dict)
    orders: np.ndarray | None = None
    draft_queries: np.ndarray | None = None


@runtime_checkable
class Sampler(Protocol):
    """A sampler: ``sample(num, *, rng=None) -> SampleResult``."""

    def sample(self, num: int, *, rng: Any = None) -> SampleResult: ...


# ---------------------------------------------------------------------- budgets
def check_budget(max_rounds: Any, timeout: Any) -> tuple[int | None, float | None]:
    """Validate a sampler's ``max_rounds`` and ``timeout`` arguments.

    Parameters
    ----------
    max_rounds : int or None
        ``None`` (no round budget) or an integer ``>= 1``.
    timeout : float or None
        ``None`` (no time budget) or a finite number of seconds ``> 0``.

    Returns
    -------
    (max_rounds, timeout) : tuple
        Normalised to ``int`` / ``float`` (or ``None``).

    Raises
    ------
    ParameterError
        Naming the parameter, the rule and the value seen.
    """
    if max_rounds is not None:
        max_rounds = check_int("max_rounds", max_rounds, low=1)
    if timeout is not None:
        timeout = check_float("timeout", timeout, low=0.0, low_open=True)
    return max_rounds, timeout


class Budget:
    """The round and time budget of one ``sample()`` call.

    Used as a context manager around the call. The sampler calls
    :meth:`check_time` and :meth:`check_rounds` once per round or batch (a check
    draws no randomness and costs one clock read); on a breach they raise
    :class:`~distributions.errors.BudgetExceededError` naming the budget, the value
    reached and ``describe()``, the sampler's own diagnosis (e.g. the block, the
    residual trials run and the acceptance rate seen).

    Parameters
    ----------
    owner : str
        Name of the sampler, for messages.
    max_rounds : int or None
        Round budget (validated by :func:`check_budget`).
    timeout : float or None
        Seconds of wall time allowed, counted from construction.
    describe : callable () -> str, optional
        Diagnosis appended to every budget message; it is called only when a
        budget is exceeded.

    Notes
    -----
    Between checks a single oracle call can run long (an oracle evaluating many
    contexts, or one that hangs). When a timeout is set, ``sample()`` runs on the
    main thread and ``signal.setitimer`` is available, and neither a ``SIGALRM``
    handler nor a real-time interval timer is already in use, entering the budget
    also arms an interval timer whose handler raises the same error at the
    deadline, wherever the program is (as Ctrl-C would: an oracle keeping internal
    state should tolerate being interrupted). Leaving the budget disarms it and
    restores the previous handler. Otherwise the timeout is checked between rounds
    only and may be overrun by one round's work.
    """

    def __init__(
        self,
        owner: str,
        max_rounds: int | None,
        timeout: float | None,
        describe: Callable[[], str] | None = None,
    ) -> None:
        self.owner = owner
        self.max_rounds = max_rounds
        self.timeout = timeout
        self.describe: Callable[[], str] = describe if describe is not None else str
        self.start = time.monotonic()
        self.deadline: float | None = None if timeout is None else self.start + timeout
        self._armed = False
        self._previous: Any = None

    # ------------------------------------------------------------------ checks
    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return time.monotonic() - self.start

    def check_time(self) -> None:
        """Raise :class:`BudgetExceededError` if the deadline has passed."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise self.timeout_error()

    def check_rounds(self, reached: int, what: str) -> None:
        """Raise :class:`BudgetExceededError` if ``reached > max_rounds``.

        ``what`` says whose rounds ``reached`` counts (e.g. "sample 3").
        """
        if self.max_rounds is not None and reached > self.max_rounds:
            raise self.rounds_error(reached, what)

    def timeout_error(self) -> BudgetExceededError:
        """The error for an exceeded ``timeout`` (built, not raised)."""
        return BudgetExceededError(
            f"`timeout` = {self.timeout:g} s exceeded: {self.elapsed():.3g} s of wall time "
            f"elapsed in {self.owner}.sample(){self._diagnosis()}"
        )

    def rounds_error(self, reached: int, what: str) -> BudgetExceededError:
        """The error for an exceeded ``max_rounds`` (built, not raised)."""
        return BudgetExceededError(
            f"`max_rounds` = {self.max_rounds} exceeded: {what} reached {reached} rounds "
            f"in {self.owner}.sample(){self._diagnosis()}"
        )

    def _diagnosis(self) -> str:
        text = self.describe()
        return f"; {text}." if text else "."

    # ------------------------------------------------------------------ timer
    def __enter__(self) -> Budget:
        if self.timeout is not None and self._timer_free():
            self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
            try:
                signal.setitimer(signal.ITIMER_REAL, self.timeout)
            except (OSError, ValueError):  # no timer: the checks between rounds remain
                signal.signal(signal.SIGALRM, self._previous)
            else:
                self._armed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._armed:
            self._armed = False
            signal.setitimer(signal.ITIMER_REAL, 0.0)
            signal.signal(signal.SIGALRM, self._previous)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            raise self.timeout_error()

    @staticmethod
    def _timer_free() -> bool:
        """Whether SIGALRM and the real-time interval timer are ours to use."""
        if not hasattr(signal, "setitimer") or not hasattr(signal, "SIGALRM"):
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        try:
            free = signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
            return free and signal.getitimer(signal.ITIMER_REAL)[0] == 0.0
        except (OSError, ValueError):
            return False
