"""A masked model trained by the project: a small MLP fitted to an Ising model.

Unlike ``my_masked_model.py`` (exact conditionals by forward-backward), this oracle is a
*learned* network: a one-hidden-layer MLP trained in float32 with numpy on exact samples
of an 8-spin Ising ring (with one frustrated chord and a field), by
:func:`distributions.trained.train_masked_mlp`, deterministic from a literal seed. It is
close to its target but inconsistent, as real masked models are: the chain-rule laws of
two generation orders differ.

Audit it from the command line (from the repository root)::

    autospeculation audit examples/trained_masked_model.py:make_model \
        --reference examples/trained_masked_model.py:make_reference

What the audit finds (default ``--seed 0``, 64 contexts): the contract, determinism and
batch invariance pass (the network computes each context on its own, so its answers are
bit-identical whatever the batch); the consistency rules fail as they should for a learned
model -- ``consistency.exchange`` (a two-position joint differing by TV 0.084 between
its two orders) and ``consistency.orders`` (the chain-rule joints of two orders at exact
TV 0.11) -- and so does ``reference`` (conditionals at TV up to 0.12 from the Ising
model). The sequential sampler's output is detected as different from the reference
(p = 0.0027 < 0.0033, 4316 samples); the autospeculative sampler's is not at this size
(p = 0.054): its detectable TV, 0.095, is above the TV of
0.067-0.085 between the model's chain-rule laws and the target (orders forward and
backward), so that test has little power for a gap of this size.

``make_model`` returns float64 rows renormalised to sum to 1 (the row-sum guard of
today checks float64 sums to 1e-9); ``make_raw_model`` returns the raw float32 softmax
rows of the network, for a float32-aware audit.
"""

from __future__ import annotations

import numpy as np

from distributions import ising
from distributions.table import TableDistribution
from distributions.trained import TrainedMaskedModel, train_masked_mlp

N = 8
SEED = 20261202
TRAINING = {"num_samples": 50000, "steps": 10000, "batch": 256, "hidden": 64,
            "learning_rate": 3e-3}


def make_reference() -> TableDistribution:
    """The target the network is trained on: an 8-spin Ising ring with a chord 0-4."""
    J = np.zeros((N, N))
    for i in range(N):
        J[i, (i + 1) % N] = J[(i + 1) % N, i] = 0.8
    J[0, 4] = J[4, 0] = -0.5
    return ising(J, np.linspace(-0.3, 0.3, N))


def make_model() -> TrainedMaskedModel:
    """Train (deterministically, from ``SEED``) and return the model, float64 rows."""
    return train_masked_mlp(make_reference(), rng=SEED, **TRAINING)


def make_raw_model() -> TrainedMaskedModel:
    """The same trained network answering raw float32 softmax rows."""
    return make_model().with_renormalize(False)
