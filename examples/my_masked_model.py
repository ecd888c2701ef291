"""A user-written masked model: a Markov chain answered by forward-backward.

This is the kind of oracle a user brings to autospeculation: a class with ``n``,
``q`` and ``conditionals(x)`` returning, for every context (``-1`` = masked), the
conditional law of every position given the revealed ones. Nothing here imports
autospeculation except to build the reference table.

Audit it from the command line (from the repository root)::

    autospeculation audit examples/my_masked_model.py:make_model \
        --reference examples/my_masked_model.py:make_reference --out audit-report

and see the audit catch the bug of ``make_buggy_model`` (it forgets the backward
messages, so its conditionals ignore revealed positions to the right)::

    autospeculation audit examples/my_masked_model.py:make_buggy_model \
        --reference examples/my_masked_model.py:make_reference

Every rule is listed with its status (passed, failed, warning or skipped with the
reason) and every failed rule with the query that shows it. For the buggy model the
two-position exchange rule, the chain-rule joints of several orders and the reference
fail; both samplers fail too, and their findings name a context the model answers as
impossible (all-zero rows) although the chain rule of its own answers, in the order
given, reaches it with positive probability, e.g. ``x = [* * 2 1 *]`` after
``x_3 = 1`` (0.243) and ``x_2 = 2`` (0.301): the filter ignores the revealed ``x_3``
when it proposes ``x_2 = 2``, a transition ``2 -> 1`` the chain forbids. The sampler
runs are bounded (``audit_oracle(..., sampler_timeout=60.0, sampler_max_rounds=None)``
by default): a sampler that runs away on a broken oracle becomes a finding.
"""

from __future__ import annotations

import itertools

import numpy as np

MASK = -1


class MarkovChainMaskedModel:
    """Masked model of the chain ``p(x) = init[x_0] prod_i trans[x_{i-1}, x_i]``.

    Parameters
    ----------
    init : array, shape (q,)
        Law of ``x_0``.
    trans : array, shape (q, q)
        Row-stochastic transition matrix.
    n : int
        Sequence length.
    backward : bool, default True
        Use the backward messages (exact). ``False`` is a deliberate bug: the
        "conditionals" are filtering laws that ignore revealed positions to the right.
    """

    def __init__(self, init, trans, n: int, *, backward: bool = True) -> None:
        self.init = np.asarray(init, dtype=float)
        self.trans = np.asarray(trans, dtype=float)
        self.n = int(n)
        self.q = int(self.init.shape[0])
        self.backward = backward

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        B, n, q = x.shape[0], self.n, self.q
        masked = x == MASK
        # evidence e[b, i, v] = 1 if position i is masked or holds value v
        ev = np.where(masked[..., None], 1.0, np.eye(q)[np.where(masked, 0, x)])
        alpha = np.empty((B, n, q))
        a = self.init * ev[:, 0]
        for i in range(n):  # forward messages, normalised at each step
            if i:
                a = (a @ self.trans) * ev[:, i]
            s = a.sum(axis=1, keepdims=True)
            a = np.divide(a, s, out=np.zeros_like(a), where=s > 0)
            alpha[:, i] = a
        beta = np.ones((B, n, q))
        if self.backward:
            b = np.ones((B, q))
            for i in range(n - 2, -1, -1):  # backward messages
                b = (ev[:, i + 1] * b) @ self.trans.T
                s = b.sum(axis=1, keepdims=True)
                b = np.divide(b, s, out=np.zeros_like(b), where=s > 0)
                beta[:, i] = b
        post = alpha * beta
        s = post.sum(axis=-1, keepdims=True)
        post = np.divide(post, s, out=np.zeros_like(post), where=s > 0)
        # a context of probability zero: all-zero rows at every masked position
        impossible = (s[..., 0] == 0).any(axis=1)
        post[impossible] = 0.0
        onehot = np.eye(q)[np.where(masked, 0, x)]
        return np.where(masked[..., None], post, onehot)

    def pmf(self) -> np.ndarray:
        """The exact law, flat in C order (small n only)."""
        out = np.empty(self.q**self.n)
        for k, xs in enumerate(itertools.product(range(self.q), repeat=self.n)):
            p = self.init[xs[0]]
            for u, v in itertools.pairwise(xs):
                p *= self.trans[u, v]
            out[k] = p
        return out


_INIT = np.array([0.5, 0.3, 0.2])
_TRANS = np.array([[0.7, 0.2, 0.1],
                   [0.15, 0.6, 0.25],
                   [0.3, 0.0, 0.7]])  # 2 -> 1 impossible: zero-probability contexts exist
_N = 5


def make_model() -> MarkovChainMaskedModel:
    """Factory used by ``autospeculation audit``: the exact masked model."""
    return MarkovChainMaskedModel(_INIT, _TRANS, _N)


def make_buggy_model() -> MarkovChainMaskedModel:
    """The same model with the backward pass forgotten (order-inconsistent)."""
    return MarkovChainMaskedModel(_INIT, _TRANS, _N, backward=False)


def make_reference():
    """A trusted reference: the full table of the same chain."""
    from distributions.table import TableDistribution

    return TableDistribution(make_model().pmf().reshape((3,) * _N))
