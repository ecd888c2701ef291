"""The enumerator's memoisation point of the autospeculative sampler (devices 1-3 of
:mod:`verify.exact_law`), the read-detecting stand-ins and the oracle cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from samplers.autospec import BlockCall, BlockOutput, ResidualCall
from verify.exact_law.enumerator import _Enumerator
from verify.exact_law.fingerprint import _SOURCE_TAG, _fingerprint
from verify.exact_law.source import EnumeratingSource, _Refusal


# ---------------------------------------------------------------------- read detection
class _Watched:
    """Read-detecting stand-in for an array field of a residual step's ``ResidualCall``.

    Metadata (``shape``, ``ndim``, ``dtype``, ``size``, ``len``) and indexing (which
    returns another watched view) are free; every other use of the data (numpy
    coercion, ufuncs, array functions, operators, iteration, truth value, any other
    attribute) first sets the shared ``flag``. A residual call whose enumeration
    never set the flag behaved identically for every value of the array, so its
    law may be shared across those values.
    """

    __slots__ = ("_data", "_flag")

    def __init__(self, data: np.ndarray, flag: list[bool]) -> None:
        self._data = data
        self._flag = flag

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def size(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, key: Any) -> _Watched:
        return _Watched(self._data[_unwatch(key, self._flag)], self._flag)

    def _read(self) -> np.ndarray:
        self._flag[0] = True
        return self._data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self._read(), dtype=dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        self._read()
        return getattr(ufunc, method)(*_unwatch(inputs, self._flag),
                                      **_unwatch(kwargs, self._flag))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        self._read()
        return func(*_unwatch(args, self._flag), **_unwatch(kwargs, self._flag))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._read(), name)

    __hash__ = None  # type: ignore[assignment]


def _unwatch(obj: Any, flag: list[bool]) -> Any:
    """Replace watched arrays inside ``obj`` by their data (flagging the read)."""
    if isinstance(obj, _Watched):
        flag[0] = True
        return obj._data
    if isinstance(obj, tuple):
        return tuple(_unwatch(v, flag) for v in obj)
    if isinstance(obj, list):
        return [_unwatch(v, flag) for v in obj]
    if isinstance(obj, dict):
        return {k: _unwatch(v, flag) for k, v in obj.items()}
    return obj


def _watched_dunder(name: str) -> Callable[..., Any]:
    def method(self: _Watched, *args: Any) -> Any:
        return getattr(self._read(), name)(*_unwatch(args, self._flag))

    method.__name__ = name
    return method


for _name in (
    "__iter__", "__bool__", "__int__", "__float__", "__index__", "__complex__", "__repr__",
    "__str__", "__format__", "__contains__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
    "__ge__", "__neg__", "__pos__", "__abs__", "__invert__", "__add__", "__radd__", "__sub__",
    "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__",
    "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__",
    "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "__lshift__",
    "__rshift__", "__copy__", "__deepcopy__", "__reduce__", "__reduce_ex__", "__setitem__",
    "__dlpack__", "__buffer__",
):
    setattr(_Watched, _name, _watched_dunder(_name))


# ---------------------------------------------------------------------- oracle cache
class _CachedOracle:
    """Answers repeated oracle queries from a cache (the enumeration re-executes the
    same program prefix many times). The oracle is a deterministic function of its
    query, which the enumeration assumes anyway; answers are returned read-only."""

    def __init__(self, oracle: Any) -> None:
        self._oracle = oracle
        self._cache: dict[tuple, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._oracle, name)

    def _ask(self, key: tuple, call: Callable[[], np.ndarray]) -> np.ndarray:
        out = self._cache.get(key)
        if out is None:
            out = np.array(call())
            out.flags.writeable = False
            self._cache[key] = out
        return out

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(x)
        return self._ask(("c", a.shape, a.dtype.str, a.tobytes()),
                         lambda: self._oracle.conditionals(x))

    def conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                        chain_values: np.ndarray | None = None) -> np.ndarray:
        key: tuple = ("a",)
        for arr in (x, positions, chain_values):
            if arr is None:
                key += (None,)
            else:
                a = np.ascontiguousarray(arr)
                key += (a.shape, a.dtype.str, a.tobytes())
        return self._ask(key, lambda: self._oracle.conditionals_at(x, positions, chain_values))


# ---------------------------------------------------------------------- memoisation
_Law = tuple[list[Any], list[tuple[np.ndarray, float]]]


class _Memo:
    """The enumerator's :class:`~samplers.autospec.BlockMemo`, set as the ``memo``
    of an autospeculative sampler (its public memoisation point).

    A block call's (or residual step's) law is enumerated by running the real call
    (``run``: the sampler's own code, its strategy included) with the very source
    object the call was handed; the law is memoised under the call's arguments and
    the fingerprint of that source (:func:`_fingerprint`: a plain enumerating source
    is one tag, a wrapper is its type and data). Each execution of a memoised call
    must leave the wrapper's data unchanged, else the sampler is refused.
    """

    def __init__(self, enum: _Enumerator, fixed: dict[int, str]) -> None:
        self.enum = enum
        self.fixed = fixed
        self.cache: dict[tuple, _Law] = {}
        self.res_cache: dict[tuple, _Law] = {}
        self.reads_x: set[tuple] = set()  # residual inputs whose law depends on the proposal

    def source_key(self, source: Any) -> Any:
        if isinstance(source, EnumeratingSource):
            return _SOURCE_TAG
        return _fingerprint(source, self.fixed)

    def check_source(self, source: Any, skey: Any, where: str) -> None:
        if skey is not _SOURCE_TAG and self.source_key(source) != skey:
            raise _Refusal(
                f"its random-source wrapper {type(source).__name__} changed its state during "
                f"a {where} call, so the call's law depends on more than its arguments and "
                "the memoised enumeration cannot follow it"
            )

    @staticmethod
    def _outcome(out: BlockOutput) -> tuple[Any, Any]:
        # the output is the pair (y, log mu_S): a wrong sampler may report a log mu
        # that is not a function of y, so both form the outcome
        y, log_mu, _, _ = out
        return tuple(int(v) for v in np.asarray(y)[0]), float(np.asarray(log_mu)[0])

    @staticmethod
    def _as_law(leaves: dict) -> _Law:
        # the child's missing (truncated) mass shows as a deficit at the parent's choice
        keys = sorted(leaves)
        return ([leaves[k] for k in keys],
                [(np.array(k[0], dtype=np.int64), k[1]) for k in keys])

    def _draw(self, laws: list[_Law], m: int, width: int) -> BlockOutput:
        """One joint choice over the calls' laws (independent given their inputs);
        cost outputs are 0 (only the samples' law is computed)."""
        assert self.enum.current is not None
        pick = self.enum.current.choose_joint([w for w, _ in laws])
        y = np.stack([laws[i][1][j][0] for i, j in enumerate(pick)]).reshape(m, width)
        log_mu = np.array([laws[i][1][j][1] for i, j in enumerate(pick)], dtype=np.float64)
        zeros = np.zeros(m, dtype=np.int64)
        return y, log_mu, zeros, zeros.copy()

    # ------------------------------------------------------------------ BlockMemo
    def block(self, run: Callable[[BlockCall], BlockOutput], call: BlockCall) -> BlockOutput:
        m = call.ctx.shape[0]
        if m == 0 or self.enum.current is None:
            return run(call)
        skey = self.source_key(call.source)
        laws = []
        for i in range(m):
            one = BlockCall(call.a, call.b, call.ctx[i : i + 1].copy(),
                            call.pos[i : i + 1].copy(),
                            None if call.nu_rows is None else np.array(call.nu_rows[i : i + 1]),
                            call.source)
            laws.append(self._block_law(run, one, skey))
        return self._draw(laws, m, call.b - call.a)

    def _block_law(self, run: Callable[[BlockCall], BlockOutput], call: BlockCall,
                   skey: Any) -> _Law:
        key = (call.a, call.b, call.ctx.tobytes(), call.pos.tobytes(),
               None if call.nu_rows is None else np.ascontiguousarray(call.nu_rows).tobytes(),
               skey)
        hit = self.cache.get(key)
        if hit is not None:
            return hit

        def program(src: EnumeratingSource) -> tuple[Any, Any]:
            out = run(BlockCall(call.a, call.b, call.ctx.copy(), call.pos, call.nu_rows,
                                call.source))
            self.check_source(call.source, skey, "block")
            return self._outcome(out)

        leaves, _trunc = self.enum.law(program)
        self.cache[key] = law = self._as_law(leaves)
        return law

    def residual(self, run: Callable[[ResidualCall], BlockOutput],
                 call: ResidualCall) -> BlockOutput:
        m = call.ctx.shape[0]
        if m == 0 or self.enum.current is None:
            return run(call)
        skey = self.source_key(call.source)
        laws = [self._residual_law(run, ResidualCall(
            call.a, call.b, call.ctx[i : i + 1].copy(), call.pos[i : i + 1].copy(),
            np.array(call.nu_rows[i : i + 1]), np.array(call.proposal[i : i + 1]),
            np.array(call.log_nu_proposal[i : i + 1]), call.source), skey) for i in range(m)]
        return self._draw(laws, m, call.b - call.a)

    def _residual_law(self, run: Callable[[ResidualCall], BlockOutput], call: ResidualCall,
                      skey: Any) -> _Law:
        key: tuple = (call.a, call.b, call.ctx.tobytes(), call.pos.tobytes(),
                      np.ascontiguousarray(call.nu_rows).tobytes(), skey)
        full = key + (call.proposal.tobytes(), call.log_nu_proposal.tobytes())
        hit = self.res_cache.get(full if key in self.reads_x else key)
        if hit is not None:
            return hit
        flag = [False]

        def program(src: EnumeratingSource) -> tuple[Any, Any]:
            src.in_residual = 1
            src.residual_anchor = ()
            out = run(ResidualCall(call.a, call.b, call.ctx.copy(), call.pos, call.nu_rows,
                                   _Watched(call.proposal, flag),  # type: ignore[arg-type]
                                   _Watched(call.log_nu_proposal, flag),  # type: ignore[arg-type]
                                   call.source))
            self.check_source(call.source, skey, "residual")
            return self._outcome(out)

        leaves, _trunc = self.enum.law(program, loop=True)
        law = self._as_law(leaves)
        if flag[0]:  # the code read the proposal: this law is for this proposal only
            self.reads_x.add(key)
            key = full
        self.res_cache[key] = law
        return law

    def batch_rejected(self) -> None:
        cur = self.enum.current
        if cur is not None:
            cur.batch_rejected()
