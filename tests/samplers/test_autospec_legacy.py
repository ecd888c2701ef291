"""The efficiency changes of issue 14 leave the autospeculative sampler's output unchanged.

The sampler of the commit before those changes (``LEGACY_REV``, read from the git
history at run time) and the current one are run on the same seeds: samples, per-sample
rounds and queries, and the whole trace must be identical (not merely equal in law).
Skipped, with the reason, when the checkout has no git history holding that commit.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from distributions.families import random_table
from distributions.scalable import CurieWeiss, IsingChain
from samplers.autospec import AutospeculativeSampler
from samplers.base import NumpySource
from samplers.catalogue import make_family

#: The last commit before issue 14's changes to samplers/ (guard, source, sampler).
LEGACY_REV = "b0f2c9a"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _legacy_module(path: str, name: str) -> types.ModuleType:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("no git history in this checkout: the legacy sampler cannot be loaded")
    proc = subprocess.run([git, "-C", str(ROOT), "show", f"{LEGACY_REV}:{path}"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"commit {LEGACY_REV} is not in this checkout's history")
    mod = types.ModuleType(name)
    mod.__file__ = f"<{LEGACY_REV}:{path}>"
    sys.modules[name] = mod  # dataclasses resolve their module by name
    try:
        exec(compile(proc.stdout, mod.__file__, "exec"), mod.__dict__)
    finally:
        del sys.modules[name]
    return mod


TARGETS = {
    "table-8-2": lambda: random_table(8, 2, rng=3),
    "table-5-3": lambda: random_table(5, 3, rng=4),
    "curie-weiss-32": lambda: CurieWeiss(32, 1.0),
    "ising-chain-64": lambda: IsingChain(64, 2.0),
    "mixture-32": lambda: make_family("mixture2", 32),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_identical_samples_costs_and_traces(name: str) -> None:
    legacy = _legacy_module("samplers/autospec.py", "_legacy_autospec")
    target = TARGETS[name]()
    for seed, num in ((11, 24), (12, 1)):
        old = legacy.AutospeculativeSampler(target, trace=True).sample(num, rng=seed)
        new = AutospeculativeSampler(target, trace=True).sample(num, rng=seed)
        for field in ("samples", "rounds", "queries"):
            np.testing.assert_array_equal(getattr(new, field), getattr(old, field),
                                          err_msg=f"{name}, seed {seed}: {field} differ")
        for field in old.trace.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(new.trace, field), getattr(old.trace, field),
                                          err_msg=f"{name}, seed {seed}: trace.{field} differ")


def test_categorical_draws_are_the_legacy_draws() -> None:
    """``NumpySource.categorical`` draws exactly what the legacy version drew."""
    legacy = _legacy_module("samplers/base.py", "_legacy_base")
    rng = np.random.default_rng(5)
    for q in (2, 3, 17):
        probs = rng.dirichlet(np.ones(q), size=500)
        probs[:50, 0] = 0.0  # zero entries and unnormalised rows
        old = legacy.NumpySource(21).categorical(probs)
        new = NumpySource(21).categorical(probs)
        np.testing.assert_array_equal(new, old)
        assert new.dtype == np.int64
