"""The continuous checks' draws on the execution seam (:mod:`verify.execution`).

Every continuous check needs its raw real-valued samples (KS statistics, the energy
distance, the kernel Stein discrepancy and the quantile bins of the acceptance test
are functions of every sample, not of sums), so its shards return their samples
(float64) and the ``aux`` arrays the check reads, merged by concatenation in shard
order.

Layout (fixed by ``num``, never by the workers): up to :data:`REAL_SHARD` samples are
one shard drawn from the check's own generator in one call, exactly as before the
seam; more are ``ceil(num / REAL_SHARD)`` shards of :data:`REAL_SHARD` samples (the
last one the remainder), shard ``i`` drawing from ``gen.spawn(k)[i]``. A shard's
generator is copied before it draws, so a shard run again (a lost worker) draws the
same samples.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from distributions.errors import ParameterError
from verify.execution import ShippedSampler, run_shards
from verify.sampling import Deadline, draw_real

__all__ = ["REAL_SHARD", "RealShard", "draw_aux_sharded", "draw_real_sharded", "plan_real_shards"]

#: Samples per shard of a continuous check (one shard, the check's own stream, up to it).
REAL_SHARD: int = 4096


@dataclass(frozen=True, kw_only=True)
class RealShard:
    """One shard of real-valued draws.

    Attributes
    ----------
    index : int
    gen : numpy.random.Generator
        Its stream, unused (copied before drawing).
    size : int
        Samples drawn, in one call.
    name : str
        The sampler's name in error messages.
    aux : tuple of str
        Keys of the sampler's ``SampleResult.aux`` brought back (those it returns).
    validate : bool
        Check the samples' shape and finiteness (:func:`verify.sampling.draw_real`);
        ``False`` (the acceptance test, which reads only ``aux``): ``sampler.sample``
        is called and its samples are not returned.
    """

    index: int
    gen: np.random.Generator
    size: int
    name: str
    aux: tuple[str, ...] = ()
    validate: bool = True

    def where(self, num_shards: int) -> str:
        """The shard and its stream, for error messages."""
        seq = getattr(self.gen.bit_generator, "seed_seq", None)
        stream = (f"SeedSequence(entropy={seq.entropy}, spawn_key={tuple(seq.spawn_key)})"
                  if isinstance(seq, np.random.SeedSequence) else type(self.gen).__name__)
        return f"shard {self.index + 1} of {num_shards} of `{self.name}` (stream: {stream})"

    def run(self, sampler: Any, deadline: Deadline | None) -> tuple[np.ndarray | None,
                                                                     dict[str, np.ndarray]]:
        """``(samples or None, {key: aux array})`` of one call of ``size`` samples."""
        gen = copy.deepcopy(self.gen)
        if self.validate:
            x, res = draw_real(sampler, self.size, gen, self.name)
        else:
            x, res = None, sampler.sample(self.size, rng=gen)
        if deadline is not None:
            deadline.check(f"after {self.size:,} samples of `{self.name}`")
        aux = getattr(res, "aux", None) or {}
        return x, {k: np.asarray(aux[k]) for k in self.aux if k in aux}


def plan_real_shards(num: int, gen: np.random.Generator, name: str,
                     aux: Sequence[str] = (), validate: bool = True) -> list[RealShard]:
    """The shards of ``num`` samples drawn from ``gen`` (module docstring)."""
    k = max(1, math.ceil(num / REAL_SHARD))
    gens = [gen] if k == 1 else gen.spawn(k)
    sizes = [REAL_SHARD] * (k - 1) + [num - REAL_SHARD * (k - 1)]
    return [RealShard(index=i, gen=g, size=s, name=name, aux=tuple(aux), validate=validate)
            for i, (g, s) in enumerate(zip(gens, sizes, strict=True))]


def draw_real_sharded(
    sampler: ShippedSampler,
    num: int,
    gen: np.random.Generator,
    name: str,
    *,
    executor: Executor | None,
    aux: Sequence[str] = (),
    check_dim: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``num`` samples of ``sampler`` (shipped by :func:`verify.execution.ship_sampler`,
    checked as :func:`verify.sampling.draw_real` checks them) and the ``aux`` arrays
    it returns, drawn in shards on ``executor`` (``None``: in process) and
    concatenated in shard order: the same arrays for every executor.

    An ``aux`` key returned by some shards and not by others is a
    :class:`ParameterError`, as are samples whose dimension differs between shards.
    ``check_dim(dim)``, when given, is called with the samples' dimension as soon as
    the first shard is merged (a check whose memory depends on it refuses there).
    """
    xs, out = _draw(sampler, num, gen, name, executor, aux, True, check_dim)
    return (xs[0] if len(xs) == 1 else np.concatenate(xs, axis=0)), out


def draw_aux_sharded(
    sampler: ShippedSampler,
    num: int,
    gen: np.random.Generator,
    name: str,
    *,
    executor: Executor | None,
    aux: Sequence[str],
) -> dict[str, np.ndarray]:
    """The ``aux`` arrays of ``sampler.sample`` over ``num`` samples (the samples
    themselves are neither checked nor returned), drawn as :func:`draw_real_sharded`
    draws."""
    return _draw(sampler, num, gen, name, executor, aux, False)[1]


def _draw(sampler: ShippedSampler, num: int, gen: np.random.Generator, name: str,
          executor: Executor | None, aux: Sequence[str], validate: bool,
          check_dim: Callable[[int], None] | None = None,
          ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    shards = plan_real_shards(num, gen, name, aux, validate)
    xs: list[np.ndarray] = []
    auxes: list[dict[str, np.ndarray]] = []

    def merged(shard: RealShard, got: tuple[np.ndarray | None, dict[str, np.ndarray]]) -> None:
        x, a = got
        if x is not None:
            if xs and x.shape[1] != xs[0].shape[1]:
                raise ParameterError(
                    f"`{name}` must return samples of one dimension; got {xs[0].shape[1]} "
                    f"and then {x.shape[1]} (shard {shard.index + 1} of {len(shards)}).")
            if not xs and check_dim is not None:
                check_dim(int(x.shape[1]))
            xs.append(x)
        if auxes and set(a) != set(auxes[0]):
            raise ParameterError(
                f"`{name}` returned aux keys {sorted(auxes[0])} and then {sorted(a)} "
                f"(shard {shard.index + 1} of {len(shards)}).")
        auxes.append(a)

    run_shards(sampler, shards, executor=executor, merged=merged)
    out = {k: (v if len(auxes) == 1 else np.concatenate([a[k] for a in auxes]))
           for k, v in auxes[0].items()}
    return xs, out
