"""The identity of a resumable :func:`~verify.exactness.check_exact` run (its checkpoint).

A checkpoint may only be resumed, or its result returned, by the *same* check: every
argument that decides the draws or the test (seed, sizes, method, levels, batch size,
shard layout), the target and the **sampler**. Class names do not identify a sampler
or a target (two ``SequentialSampler`` objects on different oracles share one, and
every plain function is a ``builtins.function``), so both are also identified by what
they do, on a probe fixed by the check's seed and independent of its streams:

* ``sampler_probe``: SHA-256 of the ``PROBE_ROWS`` rows the sampler draws (validated,
  as the check draws them) from ``SeedSequence([seed, PROBE_KEY])``. Same
  configuration, same oracle, same rows, whatever caches or counters the object holds;
  another configuration or oracle almost surely draws other rows. A sampler that does
  not draw the same rows from the same ``rng`` cannot be resumed exactly anyway: its
  checkpoint is refused.
* ``target_probe``: SHA-256 of the target's conditionals (float64) on ``PROBE_CONTEXTS``
  random partial contexts from the same probe seed.

The probe costs one sampler call of ``PROBE_ROWS`` rows and one oracle call, only when
``checkpoint=`` is given.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from distributions.base import MASK
from verify.checkpoint import Checkpoint
from verify.execution import OnWorker
from verify.sampling import iter_draws

__all__ = ["PROBE_CONTEXTS", "PROBE_KEY", "PROBE_ROWS", "checkpoint_of", "probes"]

#: Rows the sampler draws for its fingerprint.
PROBE_ROWS: int = 32
#: Contexts the target answers for its fingerprint.
PROBE_CONTEXTS: int = 8
#: Second entropy word of the probe's seed ("ckpt"): never a stream of the check.
PROBE_KEY: int = 0x636B7074


def probes(sampler: Any, target: Any, seed: int) -> dict[str, str]:
    """``sampler_probe`` and ``target_probe`` of the module docstring (an
    :class:`~verify.execution.OnWorker` is built here to draw its probe)."""
    n, q = int(target.n), int(target.q)
    draw_ss, ctx_ss = np.random.SeedSequence([seed, PROBE_KEY]).spawn(2)
    local = sampler.build() if isinstance(sampler, OnWorker) else sampler
    rows = np.concatenate(list(iter_draws(local, PROBE_ROWS, n, q, draw_ss, PROBE_ROWS)))
    gen = np.random.default_rng(ctx_ss)
    ctx = np.where(gen.random((PROBE_CONTEXTS, n)) < gen.random((PROBE_CONTEXTS, 1)), MASK,
                   gen.integers(0, q, size=(PROBE_CONTEXTS, n))).astype(np.int64)
    ctx[0] = MASK  # the empty context: the target's one-site marginals
    ans = np.ascontiguousarray(np.asarray(target.conditionals(ctx), dtype=np.float64))
    return {"sampler_probe": hashlib.sha256(rows.astype(np.int64).tobytes()).hexdigest(),
            "target_probe": hashlib.sha256(ans.tobytes()).hexdigest()}


def checkpoint_of(path: Path | None, sampler: Any, target: Any, num_shards: int, *,
                  seed: int, local: Any = None, **fields: Any) -> Checkpoint | None:
    """The checkpoint of this check (read and checked now, before any draw), or None;
    ``local`` is the sampler already built in this process, if any (it draws the probe,
    so an ``OnWorker`` factory is not run twice)."""
    if path is None:
        return None
    kind = sampler.factory if isinstance(sampler, OnWorker) else type(sampler)
    name = getattr(kind, "__qualname__", type(kind).__qualname__)
    identity = {"check": "check_exact", "seed": seed, **fields, "n": int(target.n),
                "q": int(target.q),
                "target": f"{type(target).__module__}.{type(target).__qualname__}",
                "sampler": f"{getattr(kind, '__module__', '')}.{name}",
                **probes(sampler if local is None else local, target, seed),
                "num_shards": num_shards}
    return Checkpoint(path, identity, num_shards)
