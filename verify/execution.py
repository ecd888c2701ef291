"""The one execution seam of the sampling-heavy checks: shards, streams, executors.

Why this module is long (about 520 lines): the shard plan, the shipping of the sampler
with its miss protocol and worker cache, the shard kinds of the drawer and the run
loop are one protocol whose parts change together.

A check cuts its draws into **shards** whose size the check fixes (never the number
of workers): the calls of :func:`verify.sampling.iter_draws` are grouped as it groups
them (calls covering up to ``2**17`` rows share one spawned stream), and each group
is one shard with its own stream ``seedseq.spawn(num_shards)[i]``. A shard returns
only what the check needs: the count table of its rows (``kind="counts"``; sparse
pairs when the shard has few rows for the table) or, for checks that keep every
sample (the chain tests), its rows in the smallest integer dtype. Results are merged
in shard order (exact int64 addition or concatenation), so the merged statistics,
and everything computed from them, are bit-identical for the in-process run and any
number of workers, and equal to the draws of :func:`~verify.sampling.iter_draws`.

``executor`` is ``None`` (in process, shard after shard) or any
:class:`concurrent.futures.Executor`: ``dask.distributed.Client(...).get_executor()``,
a ``ProcessPoolExecutor``. Nothing here asks which one it is. With an executor the
sampler is pickled once per check (a :class:`~verify.errors.ParameterError` before
any work if it cannot be, saying to pass an :class:`OnWorker` factory) and
unpickled (or built by its factory) once per worker process, then cached there by
the digest of its bytes. The bytes themselves cross about once per worker process,
not with every shard, by a **miss protocol** that needs nothing of the executor: the
first shard carries them; a shard without them that lands on a process not holding
the sampler answers :class:`Miss` (its worker's token) at once, and the caller sends
it again with the bytes (once per such worker; the other shards that missed there
wait for that one). The target never crosses: shards need only ``n`` and ``q``.
Other shard kinds (the real-valued draws of the continuous checks, the points of
the rounds measurement) implement :class:`ShardLike` and run through the same loop
(:func:`run_shards`).

A lost worker is the executor's business (Dask re-runs its shards; a re-run shard
draws the same stream, and each shard is merged exactly once). A shard that raises
stops the check: the pending shards are cancelled and the error is raised again
with the shard's index and stream (seed and spawn key) in its message.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import pickle
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from distributions.errors import BudgetExceededError, OracleError, ParameterError, ReportError
from distributions.validation import short_repr
from verify.checkpoint import Checkpoint
from verify.sampling import (
    DEFAULT_BATCH_SIZE,
    Deadline,
    SamplerLike,
    _call_sizes,
    answer_orders,
    check_output,
)

__all__ = [
    "IN_FLIGHT",
    "Miss",
    "OnWorker",
    "Shard",
    "ShardLike",
    "ShardProgress",
    "ShippedSampler",
    "check_executor",
    "draw_ordered",
    "draw_sharded",
    "plan_shards",
    "run_shard",
    "run_shards",
    "ship_sampler",
    "worker_builds",
]

#: Shards submitted to an executor at a time (bounds the memory of pending results).
IN_FLIGHT: int = 64
#: Samplers kept unpickled per worker process (keyed by the digest of their bytes).
_CACHE_SIZE = 4
_KINDS = ("counts", "rows", "ordered")

#: ``progress(shards_done, num_shards, samples_done)``, called after each merged shard.
ShardProgress = Callable[[int, int, int], None]


class OnWorker:
    """A sampler built where the shards run, by a picklable factory.

    For samplers that should not be pickled (an oracle holding a GPU model, a
    session): ``OnWorker(make_sampler, *args, **kwargs)`` crosses the wire instead
    and each worker process calls ``make_sampler(*args, **kwargs)`` once. In process
    (``executor=None``) it is built once per check. ``factory`` must be picklable
    (a module-level function or class).

    Parameters
    ----------
    factory : callable
        ``factory(*args, **kwargs)`` returns a sampler (``.sample(num, rng=...)``)
        or a callable ``(num, rng) -> (num, n)`` int array.
    *args, **kwargs
        Passed to ``factory``.
    batch_size : int >= 1, optional
        Rows per sampler call (keyword only; the check's ``batch_size`` overrides
        it). The built sampler's own attribute is not read, so that the factory
        need not run in the calling process.
    """

    def __init__(self, factory: Callable[..., Any], /, *args: Any,
                 batch_size: int | None = None, **kwargs: Any) -> None:
        if not callable(factory):
            raise ParameterError(
                f"`factory` of OnWorker must be callable; got {short_repr(factory)}.")
        self.factory = factory
        self.args = tuple(args)
        self.kwargs = dict(kwargs)
        self.batch_size = batch_size

    def build(self) -> SamplerLike:
        """Call the factory."""
        return self.factory(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        name = getattr(self.factory, "__qualname__", type(self.factory).__name__)
        return f"OnWorker({name}, ...)"


@dataclass(frozen=True, kw_only=True)
class Shard:
    """One shard: its calls, its stream and what it returns.

    Attributes
    ----------
    index : int
        Position in the check's shard order (the merge order).
    seed : numpy.random.SeedSequence
        Its stream: child ``index`` of the check's sample stream.
    sizes : tuple of int
        Rows asked per sampler call.
    keep : int
        Rows kept (the sum of ``sizes``, less the surplus of a full last call).
    start, total : int
        Rows of the check before this shard, and in all.
    n, q : int
        Shape of a sample and alphabet size (the output check).
    kind : {"counts", "rows", "ordered"}
        Count table of the rows, the rows themselves, or the rows and the reveal
        orders the sampler reported with them (:func:`draw_ordered`).
    """

    index: int
    seed: np.random.SeedSequence
    sizes: tuple[int, ...]
    keep: int
    start: int
    total: int
    n: int
    q: int
    kind: str

    def where(self, num_shards: int) -> str:
        """The shard and its stream, for error messages (replayable)."""
        return (f"shard {self.index + 1} of {num_shards} (stream: SeedSequence(entropy="
                f"{self.seed.entropy}, spawn_key={tuple(self.seed.spawn_key)}))")

    def run(self, sampler: Any, deadline: Deadline | None) -> tuple[np.ndarray | None, ...]:
        """Draw the shard's rows and return their sufficient statistics."""
        if self.kind != "ordered":
            return _stats(_shard_rows(sampler, self, deadline), self)
        got: list[np.ndarray | None] = []
        rows = _shard_rows(sampler, self, deadline, got)
        small = np.min_scalar_type(max(self.q, self.n) - 1)
        orders = (None if any(o is None for o in got)
                  else np.concatenate(got, axis=0)[:self.keep].astype(small))  # type: ignore[arg-type]
        return rows.astype(small), orders


def plan_shards(num: int, n: int, q: int, seedseq: np.random.SeedSequence,
                batch_size: int, kind: str, full: bool = False) -> list[Shard]:
    """The shards of ``num`` rows drawn from ``seedseq``: the streams and calls of
    :func:`~verify.sampling.iter_draws` (same layout, same draws; ``full``: the last
    call asks for a whole batch whose surplus is discarded)."""
    if kind not in _KINDS:
        raise ParameterError(f"`kind` must be one of {_KINDS}; got {kind!r}.")
    sizes = _call_sizes(num, batch_size, full)
    per_stream = max(1, DEFAULT_BATCH_SIZE // batch_size)
    groups = [tuple(sizes[i:i + per_stream]) for i in range(0, len(sizes), per_stream)]
    starts = np.cumsum([0] + [sum(g) for g in groups]).tolist()
    return [Shard(index=i, seed=child, sizes=g, keep=min(sum(g), num - int(starts[i])),
                  start=int(starts[i]), total=num, n=n, q=q, kind=kind)
            for i, (g, child) in enumerate(zip(groups, seedseq.spawn(len(groups)),
                                               strict=True))]


def check_executor(executor: Any) -> cf.Executor | None:
    """``executor`` itself, or a :class:`ParameterError` if it is not an Executor."""
    if executor is None or isinstance(executor, cf.Executor):
        return executor
    raise ParameterError(
        "`executor` must be None (in process) or a concurrent.futures.Executor, e.g. "
        "dask.distributed.Client(...).get_executor() or a ProcessPoolExecutor; got "
        f"{short_repr(executor)} ({type(executor).__name__}).")


@dataclass(frozen=True)
class ShippedSampler:
    """A sampler ready for the shards: the object (in process) or its pickled bytes."""

    local: Any
    blob: bytes | None
    digest: str


def ship_sampler(sampler: Any, executor: cf.Executor | None) -> ShippedSampler:
    """Prepare ``sampler`` for ``executor`` before any work: in process an
    :class:`OnWorker` is built once; for an executor the sampler is pickled (a
    :class:`ParameterError` saying to pass a factory if it cannot be)."""
    if executor is None:
        local = sampler.build() if isinstance(sampler, OnWorker) else sampler
        return ShippedSampler(local=local, blob=None, digest="")
    try:
        blob = pickle.dumps(sampler, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # PicklingError, TypeError, AttributeError: all mean the same
        what = ("the factory of `OnWorker` must be picklable (a module-level function or "
                "class)" if isinstance(sampler, OnWorker) else
                "`sampler` must be picklable to run on `executor`; pass "
                "`verify.execution.OnWorker(factory, *args)` with a module-level factory "
                "that builds it on each worker instead")
        raise ParameterError(f"{what}; pickling {short_repr(sampler)} failed: "
                             f"{type(exc).__name__}: {exc}.") from exc
    return ShippedSampler(local=None, blob=blob, digest=hashlib.sha256(blob).hexdigest())


#: Per worker process: digest -> built sampler, least recently used first.
_BUILT: dict[str, Any] = {}
_BUILT_LOCK = threading.Lock()
_BUILDS: list[int] = [0]  # samplers unpickled or built by a factory in this process
_MISSING = object()
_TOKEN: list[Any] = [None, ""]  # (pid, token) of this process (a fork gets its own)


def _worker_token() -> str:
    """This worker process's name in the miss protocol (host, pid and a random part,
    made again in a forked child)."""
    if _TOKEN[0] != os.getpid():
        _TOKEN[:] = [os.getpid(), f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"]
    return str(_TOKEN[1])


def worker_builds() -> int:
    """How many samplers this process has unpickled or built (the test of "once per
    worker": run it on each worker, e.g. ``client.run(worker_builds)``)."""
    return _BUILDS[0]


@dataclass(frozen=True)
class Miss:
    """A shard's answer from a worker process that does not hold the sampler yet: the
    caller sends the sampler's bytes (once) and runs the shard again."""

    worker: str


def _worker_sampler(blob: bytes | None, digest: str) -> Any:
    """The sampler of ``digest`` in this process: cached, else built from ``blob``;
    :data:`_MISSING` when it is not cached and ``blob`` is None."""
    with _BUILT_LOCK:
        got = _BUILT.pop(digest, _MISSING)
        if got is _MISSING:
            if blob is None:
                return _MISSING
            obj = pickle.loads(blob)
            got = obj.build() if isinstance(obj, OnWorker) else obj
            _BUILDS[0] += 1
            while len(_BUILT) >= _CACHE_SIZE:
                _BUILT.pop(next(iter(_BUILT)))
        _BUILT[digest] = got  # most recently used last
        return got


class ShardLike(Protocol):
    """What the seam runs: a picklable piece of work with its place in the merge order."""

    index: int

    def where(self, num_shards: int) -> str:
        """The shard and its stream, for error messages."""
        ...

    def run(self, sampler: Any, deadline: Deadline | None) -> Any:
        """The shard's statistics (``sampler``: the check's sampler, or ``None`` for
        shards that build their own)."""
        ...


def run_shard(blob: bytes | None, digest: str, shard: ShardLike) -> Any:
    """The task an executor runs: one shard's statistics, or a :class:`Miss` when this
    worker process does not hold the sampler and ``blob`` is None (``digest`` empty:
    the shard needs no sampler)."""
    if not digest:
        return shard.run(None, None)
    sampler = _worker_sampler(blob, digest)
    if sampler is _MISSING:
        return Miss(_worker_token())
    return shard.run(sampler, None)


def _shard_rows(sampler: Any, shard: Shard, deadline: Deadline | None,
                orders: list[np.ndarray | None] | None = None) -> np.ndarray:
    gen = np.random.default_rng(shard.seed)
    use_sample = hasattr(sampler, "sample") and callable(sampler.sample)
    chunks, done = [], shard.start
    for size in shard.sizes:
        out = sampler.sample(size, rng=gen) if use_sample else sampler(size, gen)
        chunks.append(check_output(out, size, shard.n, shard.q))
        if orders is not None:  # as iter_draws(orders=...) collects them
            orders.append(answer_orders(out, size, shard.n))
        done = min(done + size, shard.total)
        if deadline is not None:
            deadline.check(f"after drawing {done:,} of {shard.total:,} samples in calls of "
                           f"{shard.sizes[0]:,} rows")
    return np.concatenate(chunks, axis=0)[:shard.keep]


def _stats(rows: np.ndarray, shard: Shard) -> tuple[np.ndarray, ...]:
    """Sufficient statistics of a shard's rows: ``(counts,)`` dense, ``(cells, counts)``
    sparse, or ``(rows,)`` in the smallest unsigned dtype holding ``q - 1``."""
    if shard.kind == "rows":
        dtype = np.min_scalar_type(max(shard.q - 1, 0))
        return (rows.astype(dtype),)
    cells = shard.q**shard.n
    flat = np.ravel_multi_index(rows.T, (shard.q,) * shard.n)
    if 4 * rows.shape[0] >= cells:
        return (np.bincount(flat, minlength=cells).astype(np.int64),)
    idx, cnt = np.unique(flat, return_counts=True)
    return (idx.astype(np.int64), cnt.astype(np.int64))


def _merge(state: np.ndarray | None, stats: tuple[np.ndarray, ...], shard: Shard) -> np.ndarray:
    if shard.kind == "rows":
        rows = stats[0].astype(np.int64)
        return rows if state is None else np.concatenate([state, rows], axis=0)
    if state is None:
        state = np.zeros(shard.q**shard.n, dtype=np.int64)
    if len(stats) == 1:
        state += stats[0]
    else:
        state[stats[0]] += stats[1]
    return state


def _reraise(exc: BaseException, shard: ShardLike, num_shards: int) -> None:
    where = shard.where(num_shards)
    if isinstance(exc, ParameterError | OracleError | BudgetExceededError | ReportError):
        raise type(exc)(f"{exc} [in {where}]") from exc
    exc.add_note(f"raised in {where}")
    raise exc


def draw_sharded(
    sampler: ShippedSampler,
    shards: Sequence[Shard],
    *,
    executor: cf.Executor | None,
    deadline: Deadline | None = None,
    checkpoint: Checkpoint | None = None,
    progress: ShardProgress | None = None,
) -> np.ndarray:
    """Run ``shards`` (in process or on ``executor``) and merge them in shard order.

    Returns the int64 count table (``kind="counts"``, C order over ``[q]^n``) or the
    int64 rows (``kind="rows"``). A ``checkpoint`` supplies the merged state of its
    first shards (which are not drawn again) and is rewritten atomically after each
    shard merged; ``progress`` is told after each one.
    """
    total = len(shards)
    done, state = (checkpoint.done, checkpoint.state) if checkpoint is not None else (0, None)
    rows = sum(s.keep for s in shards[:done])

    def merged(shard: Shard, stats: tuple[np.ndarray, ...]) -> None:
        nonlocal state, done, rows
        state = _merge(state, stats, shard)
        done, rows = done + 1, rows + shard.keep
        if checkpoint is not None:
            checkpoint.save(done, state)
        if progress is not None:
            progress(done, total, rows)

    run_shards(sampler, shards, executor=executor, deadline=deadline, first=done,
               merged=merged)
    if state is None:  # no shard at all (num = 0)
        n, q = (shards[0].n, shards[0].q) if shards else (0, 2)
        return np.zeros(q**n, dtype=np.int64)
    return state


def draw_ordered(
    sampler: ShippedSampler,
    shards: Sequence[Shard],
    *,
    executor: cf.Executor | None,
    deadline: Deadline | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The int64 rows of ``shards`` (``kind="ordered"``) and their reveal orders
    (``None`` unless every call reported orders), merged in shard order: the draws and
    orders of :func:`verify.sampling.draw_with_orders` with the same streams."""
    got: list[tuple[np.ndarray, np.ndarray | None]] = []
    run_shards(sampler, shards, executor=executor, deadline=deadline,
               merged=lambda shard, stats: got.append(stats))
    n = shards[0].n if shards else 0
    x = (np.concatenate([r[0] for r in got], axis=0).astype(np.int64) if got
         else np.zeros((0, n), dtype=np.int64))
    if not got or any(r[1] is None for r in got):
        return x, None
    return x, np.concatenate([r[1] for r in got], axis=0).astype(np.int64)  # type: ignore[misc]


def run_shards(sampler: ShippedSampler | None, shards: Sequence[ShardLike], *,
               executor: cf.Executor | None, merged: Callable[[Any, Any], None],
               deadline: Deadline | None = None, first: int = 0) -> None:
    """Run ``shards[first:]`` and call ``merged(shard, statistics)`` for each, in shard
    order, whatever order they finish in.

    ``sampler`` is the check's shipped sampler, or ``None`` for shards that build
    their own (``shard.run(None, deadline)``). In process the shards run one after
    the other here; on ``executor`` at most :data:`IN_FLIGHT` at a time. A shard
    that raises stops the run: the pending shards are cancelled and the error is
    raised again naming the shard and its stream.
    """
    total = len(shards)
    if executor is None:
        local = sampler.local if sampler is not None else None
        for shard in shards[first:]:
            try:
                stats = shard.run(local, deadline)
            except BudgetExceededError:
                raise
            except Exception as exc:
                _reraise(exc, shard, total)
            merged(shard, stats)
        return
    _run_on(executor, sampler, shards, first, deadline, merged)


def _run_on(executor: cf.Executor, sampler: ShippedSampler | None,
            shards: Sequence[ShardLike],
            first: int, deadline: Deadline | None,
            merged: Callable[[Any, Any], None]) -> None:
    """The executor loop with the miss protocol: the sampler's bytes go with the first
    shard only; a worker process that does not hold them answers :class:`Miss` and
    gets them with one shard (its other missed shards wait for that one, then go
    again without them). So the bytes cross about once per worker process, whatever
    the number of shards, and each process unpickles them once (its cache)."""
    total = len(shards)
    todo = iter(shards[first:])
    digest = sampler.digest if sampler is not None else ""
    blob = sampler.blob if sampler is not None else None
    # future -> (shard, the worker the sampler's bytes were sent for, or None)
    pending: dict[cf.Future[Any], tuple[Any, str | None]] = {}
    ready: dict[int, Any] = {}
    carrying: set[str] = set()  # workers whose bytes are on their way
    parked: dict[str, list[Any]] = {}  # shards missed on such a worker
    nxt = first

    def submit(shard: Any, send_for: str | None) -> None:
        fut = executor.submit(run_shard, blob if send_for is not None else None, digest,
                              shard)
        pending[fut] = (shard, send_for)

    started = False

    def submit_more() -> None:
        nonlocal started
        waiting = sum(len(v) for v in parked.values())
        while len(pending) + len(ready) + waiting < IN_FLIGHT:
            shard = next(todo, None)
            if shard is None:
                return
            # the first shard carries the sampler: no worker is known to hold it yet
            submit(shard, "" if digest and not started else None)
            started = True

    try:
        submit_more()
        while pending:
            wait = None
            if deadline is not None and deadline.timeout is not None:
                wait = max(0.0, deadline.timeout - (time.monotonic() - deadline.start)) + 0.01
            finished, _ = cf.wait(pending, timeout=wait, return_when=cf.FIRST_COMPLETED)
            if deadline is not None:
                deadline.check(f"with {nxt} of {total} shards merged")
            for fut in finished:
                shard, sent_for = pending.pop(fut)
                try:
                    got = fut.result()
                except Exception as exc:
                    _reraise(exc, shard, total)
                if isinstance(got, Miss):
                    if got.worker in carrying:
                        parked.setdefault(got.worker, []).append(shard)
                    else:
                        carrying.add(got.worker)
                        submit(shard, got.worker)
                    continue
                ready[shard.index] = got
                if sent_for is not None:
                    carrying.discard(sent_for)
                    for again in parked.pop(sent_for, []):
                        submit(again, None)
            while nxt in ready:
                merged(shards[nxt], ready.pop(nxt))
                nxt += 1
            submit_more()
    finally:
        for fut in pending:
            fut.cancel()
