"""The oracle guard: call accounting and contract checks on every answer."""

from __future__ import annotations

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import OracleError, ParameterError
from distributions.oracle_utils import positional_conditionals

__all__ = ["CountingOracle", "ROW_SUM_TOL", "RULE_IDS"]

#: Tolerance on ``|sum(row) - 1|`` for a non-zero conditional row.
ROW_SUM_TOL: float = 1e-9


def _fmt_context(ctx: np.ndarray) -> str:
    vals = ["*" if v == MASK else str(int(v)) for v in ctx[:24]]
    more = f", ... ({ctx.shape[0]} positions)" if ctx.shape[0] > 24 else ""
    return "[" + " ".join(vals) + more + "]"


#: ``(start of the rule's text, rule id)`` of every contract rule: the id an
#: :class:`~distributions.errors.OracleError` carries as ``rule`` (``"contract.other"``
#: for a text not listed).
RULE_IDS: tuple[tuple[str, str], ...] = (
    ("shape must be", "contract.shape"),
    ("dtype must be floating", "contract.dtype"),
    ("entries must be finite", "contract.finite"),
    ("entries must lie in [0, 1]", "contract.range"),
    ("rows must sum to 1", "contract.normalised"),
    ("unmasked positions must hold the one-hot", "contract.one-hot"),
    ("a zero-probability context has all-zero rows", "contract.zero-context"),
    ("the oracle must not modify its input", "contract.input"),
)


def _rule_id(rule: str) -> str:
    return next((rid for text, rid in RULE_IDS if rule.startswith(text)), "contract.other")


def _annotate(err: OracleError, rule: str, b: int | None, pos: int | None,
              ctx: np.ndarray | None, seen: str) -> OracleError:
    err.rule = rule  # type: ignore[attr-defined]
    err.batch_row = b  # type: ignore[attr-defined]
    err.position = pos  # type: ignore[attr-defined]
    err.context = None if ctx is None else [int(v) for v in np.asarray(ctx).tolist()]  # type: ignore[attr-defined]
    err.seen = seen  # type: ignore[attr-defined]
    return err


def _oracle_error(rule: str, rule_id: str, b: int | None, pos: int | None,
                  ctx: np.ndarray | None, seen: str) -> OracleError:
    where = "" if b is None else (f" Batch row {b}, position {pos}, context "
                                  f"{_fmt_context(np.asarray(ctx))};")
    err = OracleError(f"oracle answer breaks the rule: {rule}.{where} value seen: {seen}.")
    return _annotate(err, rule_id, b, pos, ctx, seen)


class CountingOracle:
    """Wrap a :class:`DiscreteOracle`: count calls and rows, check every answer.

    Parameters
    ----------
    oracle : DiscreteOracle
        The oracle to guard. If it has ``conditionals_at``
        (:class:`~distributions.base.PositionalOracle`) that fast path is used.
    validate : bool, default True
        Check every call against the contract of docs/contracts.md: the oracle leaves its
        input arrays unchanged (it is handed copies, so a sampler's state survives an
        oracle that writes into them); the answer has the batch's shape (an answer
        squeezed to ``(n, q)`` for a batch of one context is named as such), a
        floating dtype (an integer answer truncates probabilities), finite values in
        [0, 1], rows summing to 1 within :data:`ROW_SUM_TOL` or all zero
        (zero-probability context), all masked rows of a context zero together,
        one-hot rows at unmasked positions.

    Attributes
    ----------
    calls : int
        Oracle calls made (rounds, if every call is on the critical path).
    rows : int
        Context rows evaluated (queries).

    Raises
    ------
    OracleError
        On the first call that breaks a rule; the message names the rule, the
        batch row, the position, the context and the value seen. The error also
        carries them as attributes ``rule`` (rule id, e.g. ``"contract.dtype"``),
        ``batch_row``, ``position`` and ``context`` (list of ints, ``-1`` masked;
        ``None`` where the rule has no row, e.g. a wrong shape) and ``seen`` (str).
    """

    def __init__(self, oracle: DiscreteOracle, *, validate: bool = True) -> None:
        if isinstance(oracle, CountingOracle):
            oracle = oracle.inner
        for attr in ("n", "q", "conditionals"):
            if not hasattr(oracle, attr):
                raise ParameterError(
                    f"`oracle` must implement DiscreteOracle (n, q, conditionals); "
                    f"it has no `{attr}`: got {type(oracle).__name__}."
                )
        n, q = oracle.n, oracle.q
        if not isinstance(n, int | np.integer) or n < 1:
            raise ParameterError(f"`oracle.n` must be an integer >= 1; got {n!r}.")
        if not isinstance(q, int | np.integer) or q < 2:
            raise ParameterError(f"`oracle.q` must be an integer >= 2; got {q!r}.")
        self.inner = oracle
        self.n: int = int(n)
        self.q: int = int(q)
        self.validate = bool(validate)
        self._fast = callable(getattr(oracle, "conditionals_at", None))
        self.calls = 0
        self.rows = 0

    def reset(self) -> None:
        """Zero the counters."""
        self.calls = 0
        self.rows = 0

    # ------------------------------------------------------------------ calls
    def conditionals(self, x: np.ndarray) -> np.ndarray:
        """Checked, counted ``oracle.conditionals(x)``; shape (B, n, q)."""
        x = np.asarray(x)
        out = self._full(x)
        self.calls += 1
        self.rows += x.shape[0]
        return out

    def conditionals_at(
        self, x: np.ndarray, positions: np.ndarray, chain_values: np.ndarray | None = None
    ) -> np.ndarray:
        """Checked, counted conditionals at ``positions`` (see ``PositionalOracle``).

        One call; ``B`` rows without ``chain_values``, ``B * L`` rows with them.
        """
        x = np.asarray(x)
        positions = np.asarray(positions)
        B, L = positions.shape
        if self._fast:
            if self.validate:
                args = [x, positions] + ([] if chain_values is None else [chain_values])
                given = [np.array(arr, copy=True) for arr in args]
                out = np.asarray(self.inner.conditionals_at(  # type: ignore[attr-defined]
                    given[0], given[1], given[2] if chain_values is not None else None))
                self._check_unmodified(args, given, ("x", "positions", "chain_values"),
                                       x, positions)
                self._check_rows(out, (B, L, self.q), x, positions, chain_values)
            else:
                out = np.asarray(self.inner.conditionals_at(  # type: ignore[attr-defined]
                    x, positions, chain_values))
        else:
            out = positional_conditionals(self._full, x, positions, chain_values)
        self.calls += 1
        self.rows += B if chain_values is None else B * L
        return out

    # ------------------------------------------------------------------ checks
    def check_answer(self, out: np.ndarray, x: np.ndarray) -> None:
        """Check an answer ``out`` of ``conditionals(x)`` against the contract.

        Neither calls the oracle nor counts. Raises :class:`OracleError` naming the
        rule, the batch row, the position, the context and the value seen.
        """
        out = np.asarray(out)
        x = np.asarray(x)
        B = x.shape[0]
        positions = np.broadcast_to(np.arange(self.n), (B, self.n))
        self._check_rows(out, (B, self.n, self.q), x, positions, None)
        self._check_full(out, x)

    def _full(self, x: np.ndarray) -> np.ndarray:
        if not self.validate:
            return np.asarray(self.inner.conditionals(x))
        given = np.array(x, copy=True)
        out = np.asarray(self.inner.conditionals(given))
        self._check_unmodified([x], [given], ("x",), x, None)
        self.check_answer(out, x)
        return out

    def _check_unmodified(self, before: list[np.ndarray], after: list[np.ndarray],
                          names: tuple[str, ...], x: np.ndarray,
                          positions: np.ndarray | None) -> None:
        """OracleError if the oracle wrote into a copy of an input array it was handed."""
        for arr, got, name in zip(before, after, names, strict=False):
            if got.shape == arr.shape and np.array_equal(got, arr):
                continue
            if got.shape != arr.shape:
                raise _oracle_error(
                    "the oracle must not modify its input arrays", "contract.input", None, None,
                    None, f"`{name}` reshaped in place from {arr.shape} to {got.shape}")
            b, j = (int(i) for i in np.argwhere(got != arr)[0])
            pos = j if name == "x" else int(positions[b, j]) if positions is not None else j
            where = "" if name == "x" else f" (entry {j} of `{name}`)"
            raise _oracle_error(
                "the oracle must not modify its input contexts", "contract.input", b, pos,
                np.asarray(x[b]),
                f"`{name}`[{b}, {j}] changed from {arr[b, j].item()!r} to "
                f"{got[b, j].item()!r} by the call{where}")

    def _fail(self, rule: str, b: int, pos: int, ctx: np.ndarray, seen: str) -> None:
        raise _oracle_error(rule, _rule_id(rule), b, pos, ctx, seen)

    @staticmethod
    def _masked_at(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``(B, L)``: is ``positions[b, j]`` masked in the context of row ``(b, j)``.

        With chain values, step ``j`` reveals ``positions[b, :j]`` only, so its own
        position is masked exactly when it is masked in ``x``.
        """
        return np.take_along_axis(np.asarray(x), positions, axis=1) == MASK

    def _context_of(
        self, x: np.ndarray, positions: np.ndarray, chain_values: np.ndarray | None, b: int, j: int
    ) -> np.ndarray:
        ctx = np.array(x[b], copy=True)
        if chain_values is not None:
            ctx[positions[b, :j]] = chain_values[b, :j]
        return ctx

    def _check_rows(
        self,
        out: np.ndarray,
        shape: tuple[int, int, int],
        x: np.ndarray,
        positions: np.ndarray,
        chain_values: np.ndarray | None,
    ) -> None:
        if out.shape != shape:
            hint, row = "", None
            if shape[0] == 1 and out.shape in (shape[1:], tuple(d for d in shape if d != 1)):
                row = np.asarray(x[0])
                hint = (f" (the batch axis is missing: the answer to the batch of one context "
                        f"{_fmt_context(row)} was squeezed, e.g. by np.squeeze; keep the "
                        f"leading axis of size 1)")
            err = OracleError(
                f"oracle answer breaks the rule: shape must be {shape} for a batch of "
                f"{shape[0]} contexts; value seen: shape {out.shape}{hint}."
            )
            raise _annotate(err, "contract.shape", None if row is None else 0, None, row,
                            f"shape {out.shape}")
        if out.size == 0:
            return
        if out.dtype.kind != "f":
            # name a row the dtype damages: a masked position's row, else row 0, position 0
            b, j = 0, 0
            masked = np.argwhere(self._masked_at(x, positions))
            if masked.size:
                b, j = (int(i) for i in masked[0])
            self._fail("dtype must be floating (an integer or boolean answer cannot hold "
                       "probabilities strictly between 0 and 1)", b, int(positions[b, j]),
                       self._context_of(x, positions, chain_values, b, j),
                       f"dtype {out.dtype}, row {out[b, j].tolist()}")
        bad = ~np.isfinite(out)
        if bad.any():
            b, j, v = (int(i) for i in np.argwhere(bad)[0])
            self._fail("entries must be finite", b, int(positions[b, j]),
                       self._context_of(x, positions, chain_values, b, j),
                       f"{float(out[b, j, v])!r} for value {v}, row {out[b, j].tolist()}")
        bad = (out < 0) | (out > 1)
        if bad.any():
            b, j, v = (int(i) for i in np.argwhere(bad)[0])
            self._fail("entries must lie in [0, 1]", b, int(positions[b, j]),
                       self._context_of(x, positions, chain_values, b, j),
                       f"{float(out[b, j, v])!r} for value {v}, row {out[b, j].tolist()}")
        sums = out.sum(axis=-1)
        bad = (np.abs(sums - 1.0) > ROW_SUM_TOL) & (sums != 0.0)
        if bad.any():
            b, j = (int(i) for i in np.argwhere(bad)[0])
            self._fail(f"rows must sum to 1 within {ROW_SUM_TOL:g} (or be all zero for a "
                       "zero-probability context)", b, int(positions[b, j]),
                       self._context_of(x, positions, chain_values, b, j),
                       f"row {out[b, j].tolist()} summing to {float(sums[b, j])!r}")

    def _check_full(self, out: np.ndarray, x: np.ndarray) -> None:
        masked = x == MASK
        onehot = np.eye(self.q)[np.where(masked, 0, x)]
        bad = ~masked & (np.abs(out - onehot).max(axis=-1) > ROW_SUM_TOL)
        if bad.any():
            b, i = (int(k) for k in np.argwhere(bad)[0])
            self._fail("unmasked positions must hold the one-hot of their value", b, i, x[b],
                       f"row {out[b, i].tolist()} for value {int(x[b, i])}")
        zero = masked & (out.sum(axis=-1) == 0.0)
        mixed = zero.any(axis=1) & (zero.sum(axis=1) != masked.sum(axis=1))
        if mixed.any():
            b = int(np.argmax(mixed))
            i = int(np.argmax(zero[b]))
            self._fail("a zero-probability context has all-zero rows at every masked "
                       "position (not only some)", b, i, x[b], f"row {out[b, i].tolist()}")
