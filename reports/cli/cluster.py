"""``--workers N`` / ``--scheduler ADDRESS``: the Dask executor of a command.

``--workers N`` starts a ``dask.distributed.LocalCluster`` of ``N`` worker processes
(one thread each) and shuts it down at the end, whatever happens; ``--scheduler``
connects to a running cluster instead (refused within :data:`CONNECT_TIMEOUT`
seconds, naming the address, when nothing answers there). Either gives the
command a :class:`concurrent.futures.Executor` (``client.get_executor()``); without
them the command runs in process and needs no Dask. The dashboard address is
printed. Dask is the optional extra ``pip install 'autospeculation[distributed]'``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

from distributions.errors import ParameterError
from distributions.validation import check_int

__all__ = ["CONNECT_TIMEOUT", "add_arguments", "check_cluster_args", "executor_for"]

#: Seconds given to ``--scheduler`` to answer.
CONNECT_TIMEOUT: float = 8.0


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
    from distributed import Client, LocalCluster

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
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        say(f"Dask LocalCluster: {workers} worker processes at {cluster.scheduler_address}; "
            f"dashboard: {_dashboard(client)}")
        yield client.get_executor()
