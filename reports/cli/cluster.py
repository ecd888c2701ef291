"""``--workers N`` / ``--scheduler ADDRESS``: the Dask executor of a command.

``--workers N`` starts a ``dask.distributed.LocalCluster`` of ``N`` worker processes
(one thread each) and shuts it down at the end, whatever happens; ``--scheduler``
connects to a running cluster instead (refused within :data:`CONNECT_TIMEOUT`
seconds, naming the address, when nothing answers there). Either gives the
command a :class:`concurrent.futures.Executor` (``client.get_executor()``); without
them the command runs in process and needs no Dask. The dashboard address is
printed. Dask is the optional extra ``pip install 'autospeculation[distributed]'``.

The cluster that ``--workers`` starts (:func:`local_cluster`) runs lean
(:data:`LEAN_CONFIG`). Dask's nanny starts its workers with
``MALLOC_TRIM_THRESHOLD_=65536``; setting that variable at all turns off glibc's
adaptive mmap threshold, so every temporary array above 128 KiB is mapped, faulted
in page by page and unmapped again: on the shards of ``benchmarks/distributed.py``
(numpy temporaries of about 1 MiB) it cost 30-50 % more CPU per shard than the same
shard in process (the per-shard overhead of issue 13, found by profiling a worker).
The workers started here do not get it (the thread-count variables stay). Dask's
event-loop tick monitor (every 20 ms) and statistical profiler (every 10 ms) are
slowed down or off: idle, they cost about 7 % of a core in the scheduler's process
and 2.5 % in each worker. A cluster reached with ``--scheduler`` is used as
configured: start its workers without ``MALLOC_TRIM_THRESHOLD_`` (Dask setting
``distributed.nanny.pre-spawn-environ``) for the same effect.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

from distributions.errors import ParameterError
from distributions.validation import check_int

__all__ = ["CONNECT_TIMEOUT", "LEAN_CONFIG", "add_arguments", "check_cluster_args",
           "executor_for", "local_cluster"]

#: Seconds given to ``--scheduler`` to answer.
CONNECT_TIMEOUT: float = 8.0
#: Dask settings of the clusters started here: workers started without
#: ``MALLOC_TRIM_THRESHOLD_`` (module docstring), the event-loop tick monitor once a
#: second (it only measures the loop's latency), no statistical profiler (the
#: dashboard's profile page stays empty), the system monitor every 2 s.
LEAN_CONFIG: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1},
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "2s",
}


@contextlib.contextmanager
def local_cluster(workers: int, *, dashboard: bool = True) -> Iterator[Any]:
    """A ``LocalCluster`` of ``workers`` processes (one thread each) with
    :data:`LEAN_CONFIG` and a client on it, both closed at the end: yields the client."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(LEAN_CONFIG), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=":0" if dashboard else None) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(workers)
        yield client


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--workers`` and ``--scheduler`` (mutually exclusive) to ``p``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, metavar="N",
                   help="run the sampling of the checks on a local Dask cluster of N "
                   "worker processes (needs the 'distributed' extra; results are "
                   "identical to the in-process run)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the sampling on the running Dask cluster at ADDRESS "
                   "(e.g. tcp://host:8786)")


def check_cluster_args(args: argparse.Namespace) -> tuple[int | None, str | None]:
    """``(workers, scheduler)`` checked before any work; :class:`ParameterError`."""
    workers = getattr(args, "workers", None)
    scheduler = getattr(args, "scheduler", None)
    if workers is not None:
        workers = check_int("--workers", workers, low=1)
    if scheduler is not None and not str(scheduler).strip():
        raise ParameterError("`--scheduler` must be a scheduler address such as "
                             "tcp://host:8786; got ''.")
    if workers is not None or scheduler is not None:
        try:  # the optional extra: the one import that may be missing
            import distributed  # noqa: F401
        except ImportError as exc:
            opt = "--workers" if workers is not None else "--scheduler"
            raise ParameterError(f"`{opt}` needs Dask: pip install "
                                 "'autospeculation[distributed]' (dask[distributed]); "
                                 f"importing it failed: {exc}.") from exc
    return workers, scheduler


def _dashboard(client: Any) -> str:
    if "dashboard" not in client.scheduler_info().get("services", {}):
        return "none (the Dask dashboard needs bokeh, which is not installed)"
    return str(client.dashboard_link)


@contextlib.contextmanager
def executor_for(workers: int | None, scheduler: str | None,
                 say: Any) -> Iterator[Executor | None]:
    """The executor of ``--workers`` / ``--scheduler`` (``None`` for neither), open for
    the duration of the ``with`` block; ``say(line)`` is told the cluster and its
    dashboard."""
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ParameterError(
                f"`--scheduler` {scheduler}: no Dask scheduler answered within "
                f"{CONNECT_TIMEOUT:g} s ({type(exc).__name__}: {exc}).") from exc
        with client:
            nw = len(client.scheduler_info().get("workers", {}))
            say(f"Dask scheduler {scheduler} ({nw} workers); dashboard: {_dashboard(client)}")
            yield client.get_executor()
        return
    with local_cluster(workers) as client:
        say(f"Dask LocalCluster: {workers} worker processes at {client.scheduler.address}; "
            f"dashboard: {_dashboard(client)}")
        yield client.get_executor()
