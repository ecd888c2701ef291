"""The one sample drawer of the checks: batch sizes, seed streams, output validation.

Every check of :mod:`verify` draws its samples through :func:`iter_draws` (or
:func:`draw_samples`): calls of ``batch_size`` rows (default: the sampler's own
``batch_size`` attribute, else :data:`DEFAULT_BATCH_SIZE` = ``2**17``), one spawned
stream of the run's :class:`numpy.random.SeedSequence` per group of calls covering
up to ``2**17`` rows, every answer validated (shape, integer values in ``0..q-1``)
with an error that shows the value seen, and a wall-time :class:`Deadline` checked
between calls. Continuous (diffusion) samplers are drawn by :func:`draw_real`
(float ``(num, dim)`` arrays, finite values). The checks of ``rng``, ``timeout``,
sizes and memory that precede any drawing are here as well.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from distributions.errors import BudgetExceededError, ParameterError
from distributions.validation import check_float, check_int, short_repr
from samplers.base import Sampler

__all__ = [
    "SamplerFn",
    "SamplerLike",
    "SeedLike",
    "DEFAULT_BATCH_SIZE",
    "MAX_SAMPLE_ENTRIES",
    "Deadline",
    "check_memory",
    "check_orders",
    "check_output",
    "check_rng",
    "check_size",
    "check_timeout",
    "draw_real",
    "draw_samples",
    "draw_with_orders",
    "int_seed",
    "iter_draws",
    "resolve_batch_size",
    "seed_of",
]

#: Largest ``samples x n`` held in memory (chain tests and the batch-invariance
#: check keep every sample: 8 bytes an entry, 8 GiB at the cap).
MAX_SAMPLE_ENTRIES: int = 2**30
#: Samples drawn per sampler call by default (memory bound); the seed stream is fixed by it.
DEFAULT_BATCH_SIZE: int = 1 << 17

#: A sampler given as a function ``(num, rng) -> (num, n)`` array.
SamplerFn: TypeAlias = Callable[[int, np.random.Generator], np.ndarray]
#: What the checks accept as a sampler: a :class:`~samplers.base.Sampler` or a function.
SamplerLike: TypeAlias = Sampler | SamplerFn
#: What the checks accept as ``rng``.
SeedLike: TypeAlias = (
    int | np.random.Generator | np.random.SeedSequence | np.random.BitGenerator | None
)


def check_rng(rng: Any) -> Any:
    ok = rng is None or isinstance(
        rng, np.random.Generator | np.random.SeedSequence | np.random.BitGenerator
    )
    if not ok and isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        ok = int(rng) >= 0
    if not ok:
        raise ParameterError(
            "`rng` must be None, a non-negative integer seed, a numpy SeedSequence, "
            f"Generator or BitGenerator; got {short_repr(rng)}."
        )
    return rng


def check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    return check_float("timeout", timeout, low=0.0, low_open=True)


def seed_of(rng: Any) -> int:
    """Entropy of the SeedSequence of this run (replayable with ``rng=seed``)."""
    rng = check_rng(rng)
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return int(rng)
    if rng is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(rng, np.random.SeedSequence) and not rng.spawn_key and isinstance(
        rng.entropy, int
    ):
        return int(rng.entropy)
    gen = np.random.default_rng(rng)
    return int(gen.integers(0, 2**63 - 1))


@dataclass
class Deadline:
    """Wall-time budget of a check (``timeout`` seconds), checked between draws."""

    timeout: float | None
    what: str
    start: float = field(default_factory=time.monotonic)

    def check(self, where: str) -> None:
        if self.timeout is None:
            return
        elapsed = time.monotonic() - self.start
        if elapsed > self.timeout:
            raise BudgetExceededError(
                f"{self.what} exceeded its `timeout` budget of {self.timeout:g} s: "
                f"{elapsed:.3g} s elapsed {where}."
            )


def resolve_batch_size(sampler: Any, batch_size: Any) -> int:
    if batch_size is None:
        own = getattr(sampler, "batch_size", None)
        if own is None:
            return DEFAULT_BATCH_SIZE
        return check_int("sampler.batch_size", own, low=1)
    return check_int("batch_size", batch_size, low=1)


def _split_answer(out: Any) -> tuple[Any, Any]:
    """``(samples, orders)`` of one answer: a ``SampleResult`` (its ``orders``, maybe
    None), a ``(samples, orders)`` pair from a callable sampler, or a bare array."""
    if isinstance(out, tuple) and len(out) == 2:
        return out[0], out[1]
    return getattr(out, "samples", out), getattr(out, "orders", None)


def answer_orders(out: Any, size: int, n: int) -> np.ndarray | None:
    """The checked reveal orders of one sampler answer of ``size`` rows (see
    :func:`check_orders`), or ``None`` when the sampler reported none."""
    raw = _split_answer(out)[1]
    return None if raw is None else check_orders(raw, size, n)


def check_orders(orders: Any, size: int, n: int) -> np.ndarray:
    """The orders a sampler reported for one call, as an int64 (size, n) array whose rows
    are permutations of ``range(n)``, or a ParameterError showing the value seen.

    Examples
    --------
    >>> check_orders([[1, 0]], 1, 2)
    array([[1, 0]])
    """
    try:
        arr = np.asarray(orders)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"`sampler` orders must be an integer array of shape ({size}, {n}); got "
            f"{short_repr(orders)}.") from exc
    if arr.shape != (size, n) or arr.dtype.kind not in "iu":
        raise ParameterError(
            f"`sampler` orders must be an integer array of shape (num, n) = ({size}, {n}); "
            f"got shape {arr.shape} (dtype {arr.dtype}): {short_repr(orders)}.")
    arr = arr.astype(np.int64)
    ok = (np.sort(arr, axis=1) == np.arange(n)).all(axis=1)
    if not ok.all():
        r = int(np.argmin(ok))
        raise ParameterError(
            f"`sampler` orders must be permutations of range({n}) (each row); row {r} is "
            f"{arr[r].tolist()}.")
    return arr


def check_output(out: Any, size: int, n: int, q: int) -> np.ndarray:
    """The sampler's answer to one call, as an int64 (size, n) array, or a ParameterError
    that blames the sampler's output and shows the value seen.

    A callable sampler may answer ``(samples, orders)``; the samples are checked here,
    the orders by :func:`check_orders`."""
    raw, _ = _split_answer(out)
    try:
        arr = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"`sampler` output must be an integer array of shape ({size}, {n}); got "
            f"{short_repr(raw)}."
        ) from exc
    if arr.shape != (size, n):
        raise ParameterError(
            f"`sampler` output must have shape (num, n) = ({size}, {n}) for num={size}; "
            f"got shape {arr.shape} (dtype {arr.dtype})."
        )
    kind = arr.dtype.kind
    if kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if bad.any():
            r, c = (int(i) for i in np.argwhere(bad)[0])
            raise ParameterError(
                f"`sampler` output must be integers; got {float(arr[r, c])!r} at row {r}, "
                f"position {c} (dtype {arr.dtype})."
            )
    elif kind not in "iub":
        first = arr.flat[0].item() if arr.size else None
        raise ParameterError(
            f"`sampler` output must be an integer array; got dtype {arr.dtype} "
            f"(first value {first!r})."
        )
    arr = arr.astype(np.int64)
    if arr.size:
        bad = (arr < 0) | (arr > q - 1)
        if bad.any():
            r, c = (int(i) for i in np.argwhere(bad)[0])
            raise ParameterError(
                f"`sampler` output must have values in 0..{q - 1}; got {int(arr[r, c])} "
                f"at row {r}, position {c}."
            )
    return arr


def _call_sizes(num: int, batch_size: int, full: bool) -> list[int]:
    """Rows asked per call: ``batch_size`` each; the last call asks for the remainder
    (``full=False``) or for a whole batch whose surplus is discarded (``full=True``)."""
    sizes = [batch_size] * (num // batch_size)
    rest = num - batch_size * len(sizes)
    if rest:
        sizes.append(batch_size if full else rest)
    return sizes


def iter_draws(
    sampler: SamplerLike,
    num: int,
    n: int,
    q: int,
    seedseq: np.random.SeedSequence,
    batch_size: int,
    deadline: Deadline | None = None,
    full: bool = False,
    orders: list[np.ndarray | None] | None = None,
) -> Iterator[np.ndarray]:
    """Validated sampler answers, ``num`` rows in total, in calls of ``batch_size`` rows.

    One spawned stream per group of calls covering up to ``2**17`` rows (one stream
    per call when ``batch_size >= 2**17``), so the default draws are unchanged. When
    ``orders`` is a list, the reveal orders of each call (checked by
    :func:`check_orders`; ``None`` when the sampler reported none) are appended to it.
    """
    sizes = _call_sizes(num, batch_size, full)
    per_stream = max(1, DEFAULT_BATCH_SIZE // batch_size)
    groups = [sizes[i:i + per_stream] for i in range(0, len(sizes), per_stream)]
    use_sample = hasattr(sampler, "sample") and callable(sampler.sample)
    done = 0
    for group, child in zip(groups, seedseq.spawn(len(groups)), strict=True):
        gen = np.random.default_rng(child)
        for size in group:
            out = sampler.sample(size, rng=gen) if use_sample else sampler(size, gen)
            arr = check_output(out, size, n, q)
            keep = min(size, num - done)
            if orders is not None:
                got = answer_orders(out, size, n)
                orders.append(None if got is None else got[:keep])
            done += keep
            yield arr if keep == size else arr[:keep]
            if deadline is not None:
                deadline.check(f"after drawing {done:,} of {num:,} samples in calls of "
                               f"{batch_size:,} rows")


def draw_samples(
    sampler: SamplerLike,
    num: int,
    n: int,
    q: int,
    seedseq: np.random.SeedSequence,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    timeout: float | None = None,
) -> np.ndarray:
    """Draw ``num`` samples in calls of ``batch_size`` rows (default ``2**17``).

    ``sampler`` is a :class:`~samplers.base.Sampler` (``.sample(num, rng=...)``
    returning a :class:`~samplers.base.SampleResult` or an array) or a callable
    ``(num, rng) -> (num, n)`` int array. Each call asks for ``batch_size`` rows
    (the last for the remainder); calls covering up to ``2**17`` rows share one
    spawned stream. A ``timeout`` (seconds) raises :class:`BudgetExceededError`
    between calls.
    """
    num = check_int("num", num, low=0)
    batch_size = check_int("batch_size", batch_size, low=1)
    deadline = Deadline(check_timeout(timeout), "draw_samples")
    chunks = list(iter_draws(sampler, num, n, q, seedseq, batch_size, deadline))
    return np.concatenate(chunks, axis=0) if chunks else np.zeros((0, n), dtype=np.int64)


def draw_with_orders(
    sampler: SamplerLike,
    num: int,
    n: int,
    q: int,
    seedseq: np.random.SeedSequence,
    batch_size: int,
    deadline: Deadline | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``num`` validated samples and their reveal orders (``None`` unless every call
    reported orders), drawn by :func:`iter_draws` with the same seed streams."""
    got: list[np.ndarray | None] = []
    chunks = list(iter_draws(sampler, num, n, q, seedseq, batch_size, deadline, orders=got))
    x = np.concatenate(chunks, axis=0) if chunks else np.zeros((0, n), dtype=np.int64)
    if not got or any(o is None for o in got):
        return x, None
    return x, np.concatenate([o for o in got if o is not None], axis=0)


def check_size(num: int, max_samples: int | None, what: str) -> None:
    if max_samples is not None and num > max_samples:
        raise ParameterError(
            f"`num_samples` must be <= max_samples = {max_samples:,} ({what}); got {num:,}."
        )


def check_memory(num: int, n: int, what: str, *, rows: str = "samples", width: str = "n",
                 advice: str = "use fewer samples (a larger `tv`)") -> None:
    """Refuse ``num`` rows of ``n`` float64 entries above :data:`MAX_SAMPLE_ENTRIES`.

    ``rows`` and ``width`` name the two sizes in the message, ``advice`` ends it.
    """
    if num * n > MAX_SAMPLE_ENTRIES:
        raise ParameterError(
            f"{what} keeps every sample: {num:,} {rows} x {width}={n:,} = {num * n:,} "
            f"entries exceed the memory cap of {MAX_SAMPLE_ENTRIES:,} (8 GiB); {advice}."
        )


def int_seed(rng: Any) -> int | None:
    """The integer seed ``rng`` is (the result's ``seed``), or ``None`` for anything else.

    Examples
    --------
    >>> int_seed(7), int_seed(None), int_seed(True)
    (7, None, None)
    """
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return int(rng)
    return None


def draw_real(sampler: SamplerLike, num: int, rng: SeedLike, name: str) -> tuple[np.ndarray, Any]:
    """Real-valued samples of a continuous (diffusion) sampler, validated.

    ``sampler`` has ``.sample(num, rng=...)`` (returning a
    :class:`~samplers.base.SampleResult` or an array) or is a callable
    ``(num, rng) -> array``. Returns the samples as a float ``(num, dim)`` array (a
    1-d answer is one coordinate) and the ``SampleResult`` (``None`` for a
    callable); a wrong shape or a non-finite value is a :class:`ParameterError`
    naming ``name``.
    """
    if hasattr(sampler, "sample") and callable(sampler.sample):
        res = sampler.sample(num, rng=rng)
        arr = res.samples if hasattr(res, "samples") else res
    elif callable(sampler):
        res = None
        arr = sampler(num, rng)
    else:
        raise ParameterError(
            f"`{name}` must be a sampler (with .sample) or a callable (num, rng) -> array; "
            f"got {type(sampler).__name__}."
        )
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != num:
        raise ParameterError(
            f"`{name}` must return an array of shape ({num}, dim); got {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise ParameterError(f"`{name}` returned non-finite samples.")
    return arr, res
