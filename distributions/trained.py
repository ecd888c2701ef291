"""A small masked-conditional network trained by the project (issue 12, item 5).

:func:`train_masked_mlp` fits a one-hidden-layer MLP, in float32 with numpy only,
to exact samples of a known target (e.g. :func:`distributions.ising`) with the
masked-diffusion objective: each training sequence has every position hidden with
probability ``t ~ U(0, 1)`` and the loss is the cross-entropy of the hidden positions
given the revealed ones. The result, :class:`TrainedMaskedModel`, is a
:class:`~distributions.base.DiscreteOracle`: close to its target but, like every real
masked model, *inconsistent* -- the chain-rule laws of two orders differ.

Everything is deterministic from ``rng`` (a literal seed gives bit-identical weights on
one machine and BLAS build). No weights or data are downloaded.

Normalisation: the network's softmax rows sum to 1 only within float32 rounding. By
default (``renormalize=True``) :meth:`TrainedMaskedModel.conditionals` casts them to
float64 and renormalises, because the contract guard of today
(``samplers.oracle.ROW_SUM_TOL``) checks row sums to ``1e-9``. ``renormalize=False``
returns the raw float32 rows (what the network computes), for the dtype-aware audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distributions.base import MASK
from distributions.errors import ParameterError
from distributions.oracle_utils import check_contexts
from distributions.validation import check_float, check_int, short_repr

__all__ = ["TrainedMaskedModel", "MLPWeights", "TrainingLog", "train_masked_mlp"]


@dataclass(frozen=True, eq=False)
class MLPWeights:
    """Weights of the masked MLP, all float32.

    ``w1`` (n*(q+1), H), ``b1`` (H,), ``w2`` (H, n*q), ``b2`` (n*q,). The input is the
    concatenation, over positions, of a one-hot of length ``q + 1`` (the value, or
    index ``q`` for MASK); the output holds ``q`` logits per position.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The four arrays in a fixed order (for hashing or comparison)."""
        return (self.w1, self.b1, self.w2, self.b2)


@dataclass(frozen=True, eq=False)
class TrainingLog:
    """What :func:`train_masked_mlp` did: sizes, seed material and loss curve."""

    num_samples: int
    steps: int
    batch: int
    hidden: int
    learning_rate: float
    losses: np.ndarray = field(repr=False)  # float32 (steps,), mean masked cross-entropy


def _encode(x: np.ndarray, q: int) -> np.ndarray:
    """(B, n) contexts -> (B, n*(q+1)) float32 one-hot features (index q = MASK)."""
    B, n = x.shape
    idx = np.where(x == MASK, q, x)
    feats = np.zeros((B, n, q + 1), dtype=np.float32)
    np.put_along_axis(feats, idx[..., None], np.float32(1.0), axis=2)
    return feats.reshape(B, n * (q + 1))


def _forward(w: MLPWeights, feats: np.ndarray, n: int, q: int):
    h_pre = feats @ w.w1 + w.b1
    h = np.maximum(h_pre, np.float32(0.0))
    logits = (h @ w.w2 + w.b2).reshape(-1, n, q)
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=-1, keepdims=True)
    return h_pre, h, p


def _loss_and_grads(params: list[np.ndarray], ctx: np.ndarray, xb: np.ndarray,
                    hide: np.ndarray, q: int) -> tuple[float, tuple[np.ndarray, ...]]:
    """Masked cross-entropy of a batch and its gradients, in the dtype of ``params``.

    ``loss = -sum_{b, i hidden} log p_b,i(xb[b, i]) / B`` for contexts ``ctx`` (``xb``
    with the ``hide`` positions masked).
    """
    batch, n = xb.shape
    dt = params[0].dtype
    feats = _encode(ctx, q).astype(dt, copy=False)
    h_pre, h, p = _forward(MLPWeights(*params), feats, n, q)
    tgt = np.eye(q, dtype=dt)[xb]  # (B, n, q)
    picked = (p * tgt).sum(axis=-1)
    loss = -(np.log(np.maximum(picked, dt.type(1e-30))) * hide).sum() / dt.type(batch)
    g_logits = ((p - tgt) * hide.astype(dt)[..., None] / dt.type(batch)).reshape(batch, n * q)
    g_h = (g_logits @ params[2].T) * (h_pre > 0)
    grads = (feats.T @ g_h, g_h.sum(axis=0), h.T @ g_logits, g_logits.sum(axis=0))
    return loss, tuple(g.astype(dt, copy=False) for g in grads)


def _forward_rowwise(w: MLPWeights, ctx: np.ndarray, q: int) -> np.ndarray:
    """Softmax rows (B, n, q) float32, each context computed alone: bit-identical
    answers whatever the batch (no matrix product, whose BLAS kernel and summation
    order depend on the batch size; every sum runs in a fixed order per row)."""
    B, n = ctx.shape
    idx = np.where(ctx == MASK, q, ctx) + (q + 1) * np.arange(n)  # rows of w1 picked
    h = np.broadcast_to(w.b1, (B, w.b1.size)).copy()
    for i in range(n):  # one-hot input: the first layer is a sum of rows of w1
        h += w.w1[idx[:, i]]
    np.maximum(h, np.float32(0.0), out=h)
    logits = np.broadcast_to(w.b2, (B, w.b2.size)).copy()
    for k in range(h.shape[1]):
        logits += h[:, k, None] * w.w2[k]
    z = logits.reshape(B, n, q)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class TrainedMaskedModel:
    """A masked model answered by a trained MLP (a :class:`DiscreteOracle`).

    Parameters
    ----------
    weights : MLPWeights
        Float32 weights (see :func:`train_masked_mlp`).
    n, q : int
        Sequence length and alphabet size the weights were trained for.
    renormalize : bool, default True
        Return float64 rows renormalised to sum to 1 (for the float64 row-sum guard of
        today). ``False`` returns the raw float32 softmax rows.
    training : TrainingLog, optional
        How the weights were obtained.

    Notes
    -----
    The answer is the network's softmax at every masked position and the one-hot of the
    value at every revealed position. Each context is computed on its own, without a
    batched matrix product, so answers are bit-identical whatever the batch (the audit's
    batch-invariance rule is exact); training uses batched products. Softmax rows are
    never zero, so no context is answered as impossible.
    """

    def __init__(self, weights: MLPWeights, n: int, q: int, *, renormalize: bool = True,
                 training: TrainingLog | None = None) -> None:
        self.n = check_int("n", n, low=1)
        self.q = check_int("q", q, low=2)
        shapes = {"w1": (self.n * (self.q + 1), None), "b1": (None,),
                  "w2": (None, self.n * self.q), "b2": (self.n * self.q,)}
        for name, want in shapes.items():
            arr = getattr(weights, name)
            ok = (isinstance(arr, np.ndarray) and arr.dtype == np.float32
                  and arr.ndim == len(want)
                  and all(w is None or w == s for w, s in zip(want, arr.shape, strict=True)))
            if not ok:
                raise ParameterError(
                    f"`weights.{name}` must be a float32 array of shape {want} (None = any); "
                    f"got {short_repr(arr)}.")
        if not isinstance(renormalize, bool):
            raise ParameterError(f"`renormalize` must be a bool; got {short_repr(renormalize)}.")
        self.weights = weights
        self.renormalize = renormalize
        self.training = training

    def with_renormalize(self, renormalize: bool) -> TrainedMaskedModel:
        """The same network with the other normalisation option."""
        return TrainedMaskedModel(self.weights, self.n, self.q, renormalize=renormalize,
                                  training=self.training)

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        """Conditionals of every position, shape (B, n, q).

        float64 rows summing to 1 if ``renormalize``, else the raw float32 rows.
        """
        ctx = check_contexts(x, self.n, self.q)
        p = _forward_rowwise(self.weights, ctx, self.q)
        if self.renormalize:
            p = p.astype(np.float64)
            p /= p.sum(axis=-1, keepdims=True)
        masked = ctx == MASK
        onehot = np.eye(self.q, dtype=p.dtype)[np.where(masked, 0, ctx)]
        return np.where(masked[..., None], p, onehot)

    def __repr__(self) -> str:
        return (f"TrainedMaskedModel(n={self.n}, q={self.q}, hidden={self.weights.b1.size}, "
                f"renormalize={self.renormalize})")


def _train_iv(target: Any, num_samples: Any, steps: Any, batch: Any, hidden: Any,
              learning_rate: Any) -> tuple[int, int, int, int, int, int, float]:
    for attr in ("n", "q", "sample"):
        if not hasattr(target, attr):
            raise ParameterError(
                f"`target` must have `n`, `q` and `sample(num, *, rng)` (e.g. a "
                f"TableDistribution); got {short_repr(target)} without `{attr}`.")
    n = check_int("target.n", target.n, low=1)
    q = check_int("target.q", target.q, low=2)
    return (n, q, check_int("num_samples", num_samples, low=1),
            check_int("steps", steps, low=1), check_int("batch", batch, low=1),
            check_int("hidden", hidden, low=1),
            check_float("learning_rate", learning_rate, low=0.0, low_open=True))


def train_masked_mlp(target: Any, *, num_samples: int = 20000, steps: int = 3000,
                     batch: int = 256, hidden: int = 64, learning_rate: float = 3e-3,
                     rng: Any = None) -> TrainedMaskedModel:
    """Train a masked-conditional MLP on exact samples of ``target``, in float32.

    Parameters
    ----------
    target : object with ``n``, ``q`` and ``sample(num, *, rng)``
        The law to learn, e.g. ``distributions.ising(...)``.
    num_samples : int, default 20000
        Size of the training set drawn from ``target`` (once, before training).
    steps : int, default 3000
        Adam steps.
    batch : int, default 256
        Sequences per step, drawn with replacement from the training set.
    hidden : int, default 64
        Hidden width (ReLU).
    learning_rate : float, default 3e-3
        Adam step size (betas 0.9, 0.999, eps 1e-8).
    rng : seed, Generator or SeedSequence
        The only source of randomness (data, initialisation, batches, masks).

    Returns
    -------
    TrainedMaskedModel
        With ``renormalize=True`` and its :class:`TrainingLog` in ``.training``.

    Notes
    -----
    Objective: for each sequence, ``t ~ U(0, 1)``, every position hidden with
    probability ``t``; loss = summed cross-entropy of the hidden positions divided by
    the number of sequences (the any-order / masked-diffusion loss up to the ``1/t``
    weight, left out for a lower-variance fit of the conditionals of every context
    size). Computation is float32 throughout.
    """
    n, q, num_samples, steps, batch, hidden, lr = _train_iv(
        target, num_samples, steps, batch, hidden, learning_rate)
    gen = np.random.default_rng(rng)
    data = np.asarray(target.sample(num_samples, rng=gen), dtype=np.int64)
    d_in, d_out = n * (q + 1), n * q
    f32 = np.float32
    params = [
        (gen.standard_normal((d_in, hidden)) * np.sqrt(2.0 / d_in)).astype(f32),
        np.zeros(hidden, dtype=f32),
        (gen.standard_normal((hidden, d_out)) * np.sqrt(1.0 / hidden)).astype(f32),
        np.zeros(d_out, dtype=f32),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = f32(0.9), f32(0.999), f32(1e-8)
    losses = np.empty(steps, dtype=f32)
    for step in range(steps):
        xb = data[gen.integers(0, num_samples, size=batch)]
        t = gen.random((batch, 1))
        hide = gen.random((batch, n)) < t
        ctx = np.where(hide, MASK, xb)
        losses[step], grads = _loss_and_grads(params, ctx, xb, hide, q)
        k = step + 1
        c1, c2 = f32(1.0 - 0.9**k), f32(1.0 - 0.999**k)
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (f32(1.0) - b1) * g
            v[i] = b2 * v[i] + (f32(1.0) - b2) * g * g
            params[i] = (params[i] - f32(lr) * (m[i] / c1)
                         / (np.sqrt(v[i] / c2) + eps)).astype(f32)
    log = TrainingLog(num_samples=num_samples, steps=steps, batch=batch, hidden=hidden,
                      learning_rate=lr, losses=losses)
    return TrainedMaskedModel(MLPWeights(*params), n, q, training=log)
