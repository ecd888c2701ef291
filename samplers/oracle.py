"""The oracle guard: call accounting and contract checks on every answer.

Answers may come from any array library in any floating dtype (:mod:`samplers.arrays`
converts them, once per call, and states the dtype-aware tolerance rule with its figures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import OracleError, ParameterError
from distributions.oracle_utils import positional_conditionals
from distributions.validation import check_choice
from samplers.arrays import FLOAT64_TOL, AnswerTypeError, HostAnswer, to_host, tolerance

__all__ = ["CountingOracle", "RENORMALIZE_POLICIES", "ROW_SUM_TOL", "RULE_IDS"]

#: Tolerance on ``|sum(row) - 1|`` for a non-zero float64 conditional row; other dtypes
#: follow :func:`samplers.arrays.tolerance`, never tighter than this.
ROW_SUM_TOL: float = FLOAT64_TOL

#: Values of ``CountingOracle(renormalize=...)``.
RENORMALIZE_POLICIES: tuple[str, ...] = ("never", "within-tolerance", "always")


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
    ("an answer must be", "contract.dtype"),
    ("the answer dtype must be the same on every call", "contract.same-dtype"),
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


#: Largest ``q`` whose row statistics are taken column by column (:meth:`_RowStats.of`).
_COLUMN_Q = 7


@dataclass(frozen=True)
class _RowStats:
    """Per-row minimum, maximum and sum of an answer (shape ``answer.shape[:-1]``)."""

    lo: np.ndarray
    hi: np.ndarray
    sums: np.ndarray
    #: The tolerance the row sums were checked to (inf: not checked).
    tol: float = float("inf")

    @classmethod
    def of(cls, out: np.ndarray, tol: float = float("inf")) -> _RowStats:
        q = out.shape[-1]
        if 2 <= q <= _COLUMN_Q:
            # numpy reduces a short last axis row by row; elementwise passes over the
            # q columns are vectorised over rows (4-20x faster at q = 2) and give the
            # same bits: numpy adds fewer than 8 terms left to right, as here
            first = out[..., 0]
            lo, hi, sums = first.copy(), first.copy(), first.copy()
            for j in range(1, q):
                col = out[..., j]
                np.minimum(lo, col, out=lo)
                np.maximum(hi, col, out=hi)
                np.add(sums, col, out=sums)
            return cls(lo, hi, sums, tol)
        return cls(out.min(axis=-1), out.max(axis=-1), out.sum(axis=-1), tol)


class CountingOracle:
    """Wrap a :class:`DiscreteOracle`: count calls and rows, check every answer.

    Parameters
    ----------
    oracle : DiscreteOracle
        The oracle to guard. If it has ``conditionals_at``
        (:class:`~distributions.base.PositionalOracle`) that fast path is used.
    validate : bool, default True
        Check every call against the contract of docs/contracts.md: the oracle leaves its
        input arrays unchanged (it is handed read-only views, so a sampler's state
        survives an oracle that tries to write into them; the call is then repeated on
        copies to name the entry written); the answer has the batch's shape (an answer
        squeezed to ``(n, q)`` for a batch of one context is named as such), a
        floating dtype (an integer answer truncates probabilities), finite values in
        [0, 1], rows summing to 1 within :data:`ROW_SUM_TOL` or all zero
        (zero-probability context), all masked rows of a context zero together,
        one-hot rows at unmasked positions. The tolerance (row sums, entries outside
        [0, 1], one-hot rows) follows the answer's dtype and ``q``:
        ``max(1e-9, 2 * (ceil(log2 q) + 1) * eps)`` (:func:`samplers.arrays.tolerance`):
        1e-9 for float64 (any q); for float32 1.43e-6 at q = 32 and 4.05e-6 at
        q = 50,000. Answers may be numpy arrays of any floating dtype or arrays of any
        array-API library (torch, JAX, CuPy, array-api-strict; a device answer is copied
        to the host once per call); the first call's dtype is recorded and every later
        call must answer in it. A Python list, an integer array or an array that cannot
        be copied to the host is an :class:`OracleError` naming the query. Without
        validation answers are still converted to float64 numpy, unchecked.
    renormalize : {"within-tolerance", "never", "always"}, optional
        What is done, after the checks pass, to rows that do not sum to 1 in float64
        (within 1e-9): ``"within-tolerance"`` (default) divides each such row by its
        float64 sum after clipping it to [0, 1] -- a row off by more than the dtype's
        tolerance is still an error, and a float64 answer is never changed (its
        tolerance is 1e-9); ``"never"`` returns the rows as converted (values may then
        lie up to the tolerance outside [0, 1] and rows sum to 1 only within it);
        ``"always"`` accepts any positive row sum and renormalises every non-zero row.
        NaN, inf, entries beyond the tolerance outside [0, 1], a wrong shape, a wrong
        one-hot row and a partly all-zero context are errors in every policy. Ignored
        (no renormalisation) with ``validate=False``. Default: the policy of ``oracle``
        when it is a :class:`CountingOracle`, else ``"within-tolerance"``.

    Attributes
    ----------
    calls : int
        Oracle calls made (rounds, if every call is on the critical path).
    rows : int
        Context rows evaluated (queries).
    renormalized : int
        Rows the guard renormalised in float64.
    dtype : str or None
        The dtype the oracle answers in (``"float32"``, ...), from its first call.
    tol : float or None
        The contract tolerance for ``dtype`` and ``q``.

    Raises
    ------
    OracleError
        On the first call that breaks a rule; the message names the rule, the
        batch row, the position, the context and the value seen. The error also
        carries them as attributes ``rule`` (rule id, e.g. ``"contract.dtype"``),
        ``batch_row``, ``position`` and ``context`` (list of ints, ``-1`` masked;
        ``None`` where the rule has no row, e.g. a wrong shape) and ``seen`` (str).
    """

    def __init__(self, oracle: DiscreteOracle, *, validate: bool = True,
                 renormalize: str | None = None) -> None:
        if renormalize is None:
            renormalize = (oracle.renormalize if isinstance(oracle, CountingOracle)
                           else "within-tolerance")
        renormalize = check_choice("renormalize", renormalize, RENORMALIZE_POLICIES)
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
        self.renormalize: str = renormalize
        self._fast = callable(getattr(oracle, "conditionals_at", None))
        self.calls = 0
        self.rows = 0
        self.renormalized = 0
        self.dtype: str | None = None
        self.tol: float | None = None

    def record(self) -> dict[str, np.ndarray]:
        """The guard's call record so far: ``oracle_calls``, ``oracle_rows`` and
        ``oracle_renormalized`` (rows renormalised in float64), as 0-d int arrays.

        A sampler takes one before and after its ``sample()`` call and puts the
        difference (:meth:`record_since`) in ``SampleResult.aux``.
        """
        return {"oracle_calls": np.array(self.calls), "oracle_rows": np.array(self.rows),
                "oracle_renormalized": np.array(self.renormalized)}

    def record_since(self, before: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The call record of the calls made since ``before`` (a :meth:`record`)."""
        now = self.record()
        return {k: now[k] - before[k] for k in now}

    def reset(self) -> None:
        """Zero the counters (the recorded dtype stays)."""
        self.calls = 0
        self.rows = 0
        self.renormalized = 0

    def _host(self, out: object, x: np.ndarray) -> np.ndarray:
        """The answer as a numpy array (float64 when floating), its dtype recorded."""
        try:
            ans: HostAnswer = to_host(out)
        except AnswerTypeError as exc:
            raise self._query_error(exc.args[0], exc.rule, exc.seen, x) from None
        if ans.values.dtype.kind != "f" or not self.validate:
            return ans.values
        seen = f"{ans.library} {ans.dtype}"
        if self.dtype is None:
            self.dtype, self.tol = seen, tolerance(ans.eps, self.q)
        elif seen != self.dtype:
            raise self._query_error("the answer dtype must be the same on every call",
                                    "contract.same-dtype",
                                    f"{seen} (earlier calls: {self.dtype})", x)
        return ans.values

    @staticmethod
    def _query_error(rule: str, rule_id: str, seen: str, x: np.ndarray) -> OracleError:
        x = np.asarray(x)
        first = _fmt_context(x[0]) if x.ndim == 2 and x.shape[0] else "(none)"
        err = OracleError(f"oracle answer breaks the rule: {rule}. Query: a batch of "
                          f"{x.shape[0] if x.ndim else 0} contexts, the first {first}; "
                          f"value seen: {seen}.")
        return _annotate(err, rule_id, None, None, x[0] if x.ndim == 2 and x.shape[0]
                         else None, seen)

    def _renormalise(self, out: np.ndarray, stats: _RowStats | None = None, *,
                     owned: bool = False) -> np.ndarray:
        """Apply the renormalisation policy (in float64) to a checked answer.

        ``stats`` are the row sums and ranges the checks computed (recomputed when
        ``None``); ``owned``: ``out`` is the guard's own conversion of the answer (not
        the oracle's array), renormalised in place. One division pass over the answer
        (rows left alone are divided by 1); rows are clipped to [0, 1] only when one
        of the rows to renormalise leaves it.
        """
        if self.renormalize == "never" or out.size == 0:
            return out
        if stats is None:
            stats = _RowStats.of(out)
        if (self.renormalize == "within-tolerance" and stats.tol <= FLOAT64_TOL
                and stats.lo.min() >= 0 and stats.hi.max() <= 1):
            return out  # checked to 1e-9 already (float64 answer): nothing to do
        sums = stats.sums
        if self.renormalize == "always":
            fix = sums != 0.0
        else:
            fix = (sums != 0.0) & ((np.abs(sums - 1.0) > FLOAT64_TOL)
                                   | (stats.lo < 0) | (stats.hi > 1))
        count = int(np.count_nonzero(fix))
        if not count:
            return out
        if not owned:
            out = np.array(out, dtype=np.float64, copy=True)
        if ((stats.lo < 0) & fix).any() or ((stats.hi > 1) & fix).any():
            out[fix] = np.clip(out[fix], 0.0, 1.0)
            sums = out.sum(axis=-1)
        out /= np.where(fix, sums, 1.0)[..., None]
        self.renormalized += count
        return out

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
                fast = self.inner.conditionals_at  # type: ignore[attr-defined]
                args = [x, positions] + ([] if chain_values is None else [chain_values])
                raw = self._call_guarded(
                    lambda *a: fast(a[0], a[1], a[2] if len(a) > 2 else None), args,
                    ("x", "positions", "chain_values"), x, positions)
                out = self._host(raw, x)
                stats = self._check_rows(out, (B, L, self.q), x, positions, chain_values,
                                         self.tol or FLOAT64_TOL)
                out = self._renormalise(out, stats, owned=out is not raw)
            else:
                out = self._host(self.inner.conditionals_at(  # type: ignore[attr-defined]
                    x, positions, chain_values), x)
        else:
            out = positional_conditionals(self._full, x, positions, chain_values)
        self.calls += 1
        self.rows += B if chain_values is None else B * L
        return out

    # ------------------------------------------------------------------ checks
    def check_answer(self, out: np.ndarray, x: np.ndarray, *, eps: float | None = None) -> None:
        """Check an answer ``out`` of ``conditionals(x)`` against the contract.

        Neither calls the oracle, nor counts, nor records the dtype; ``out`` may be of
        any floating dtype and array library (the tolerance follows its dtype, or the
        machine epsilon ``eps`` of the dtype the oracle answered in, when ``out`` is a
        widened copy, e.g. bfloat16 answers held as float32). Raises
        :class:`OracleError` naming the rule, the batch row, the position, the context
        and the value seen.
        """
        x = np.asarray(x)
        try:
            ans = to_host(out)
        except AnswerTypeError as exc:
            raise self._query_error(exc.args[0], exc.rule, exc.seen, x) from None
        e = ans.eps if eps is None else float(eps)
        tol = FLOAT64_TOL if np.isnan(e) else tolerance(e, self.q)
        self._check(ans.values, x, tol)

    def _check(self, out: np.ndarray, x: np.ndarray, tol: float) -> _RowStats | None:
        B = x.shape[0]
        positions = np.broadcast_to(np.arange(self.n), (B, self.n))
        stats = self._check_rows(out, (B, self.n, self.q), x, positions, None, tol)
        self._check_full(out, x, tol)
        return stats

    def _full(self, x: np.ndarray) -> np.ndarray:
        if not self.validate:
            return self._host(self.inner.conditionals(x), x)
        raw = self._call_guarded(self.inner.conditionals, [x], ("x",), x, None)
        out = self._host(raw, x)
        stats = self._check(out, x, self.tol or FLOAT64_TOL)
        return self._renormalise(out, stats, owned=out is not raw)

    def _call_guarded(self, fn: Callable[..., object], args: list[np.ndarray],
                      names: tuple[str, ...], x: np.ndarray,
                      positions: np.ndarray | None) -> object:
        """``fn(*args)`` on read-only views of ``args`` (no copy, no comparison).

        An oracle that writes into an input meets numpy's read-only error; the call is
        then repeated on copies, so that the error names the entry and the values (an
        oracle that restores what it wrote is accepted, as before).
        """
        views = []
        for arr in args:
            view = arr.view()
            view.flags.writeable = False
            views.append(view)
        try:
            return fn(*views)
        except ValueError as exc:
            if "read-only" not in str(exc):
                raise
        given = [np.array(arr, copy=True) for arr in args]
        out = fn(*given)
        self._check_unmodified(args, given, names, x, positions)
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
        tol: float,
    ) -> _RowStats | None:
        """Check an answer's shape, dtype, range and row sums; its row statistics."""
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
            return None
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
        # three passes over the answer (row min, max, sum; NaN propagates through min
        # and max, so a clean answer needs no finiteness pass); the element-wise scans
        # below run only to name the first offending entry
        stats = _RowStats.of(out, tol if self.renormalize != "always" else float("inf"))
        if not (stats.lo.min() >= -tol and stats.hi.max() <= 1 + tol):
            bad = ~np.isfinite(out)
            if bad.any():
                b, j, v = (int(i) for i in np.argwhere(bad)[0])
                self._fail("entries must be finite", b, int(positions[b, j]),
                           self._context_of(x, positions, chain_values, b, j),
                           f"{float(out[b, j, v])!r} for value {v}, row {out[b, j].tolist()}")
            bad = (out < -tol) | (out > 1 + tol)
            b, j, v = (int(i) for i in np.argwhere(bad)[0])
            self._fail(f"entries must lie in [0, 1] (within {tol:g})", b, int(positions[b, j]),
                       self._context_of(x, positions, chain_values, b, j),
                       f"{float(out[b, j, v])!r} for value {v}, row {out[b, j].tolist()}")
        if self.renormalize == "always":
            return stats
        sums = stats.sums
        bad = np.abs(sums - 1.0) > tol
        if bad.any() and (bad := bad & (sums != 0.0)).any():
            b, j = (int(i) for i in np.argwhere(bad)[0])
            dt = "" if self.dtype is None else f" for {self.dtype} answers with q = {self.q}"
            self._fail(f"rows must sum to 1 within {tol:g}{dt} (or be all zero for a "
                       "zero-probability context)", b, int(positions[b, j]),
                       self._context_of(x, positions, chain_values, b, j),
                       f"row {out[b, j].tolist()} summing to {float(sums[b, j])!r}")
        return stats

    def _check_full(self, out: np.ndarray, x: np.ndarray, tol: float) -> None:
        masked = x == MASK
        onehot = np.eye(self.q)[np.where(masked, 0, x)]
        bad = ~masked & (np.abs(out - onehot).max(axis=-1) > tol)
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
