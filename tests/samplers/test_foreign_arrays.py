"""Oracles answering with foreign arrays (array-api-strict, JAX) in low-precision dtypes:
the guard converts once per call, records the dtype, applies the dtype-aware tolerance and
the renormalisation policy, and the samplers stay exact on such oracles (issue 12, items
1, 2 and 7)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from distributions.base import MASK
from distributions.errors import OracleError, ParameterError
from distributions.table import TableDistribution
from samplers.agr24 import AGR24Sampler
from samplers.arrays import FLOAT64_TOL, ForeignContexts, to_host, tolerance
from samplers.autospec import AutospeculativeSampler
from samplers.oracle import CountingOracle
from samplers.sequential import SequentialSampler
from verify import check_exact

xps = pytest.importorskip("array_api_strict")

TARGET = TableDistribution(np.random.default_rng(7).random((3,) * 4) + 0.05)
X = np.array([[0, MASK, MASK, 1], [MASK, 1, MASK, MASK]])
PREFIX = r"oracle answer breaks the rule: "
F32_EPS = float(np.finfo(np.float32).eps)


class ForeignOracle:
    """A DiscreteOracle answering in library ``xp`` with ``dtype``; ``edit`` changes the
    float64 answer (as numpy) before it is cast."""

    def __init__(self, xp: Any, dtype: Any, edit: Any = None,
                 inner: TableDistribution = TARGET) -> None:
        self.xp, self.dtype, self.edit, self.inner = xp, dtype, edit, inner
        self.n, self.q = inner.n, inner.q

    def conditionals(self, x: np.ndarray) -> Any:
        out = self.inner.conditionals(np.asarray(x))
        if self.edit is not None:
            out = self.edit(out.copy())
        return self.xp.asarray(out, dtype=self.dtype)


def _f32_off(factor: float) -> Any:
    """Scale row (1, 2) by ``factor``: a float32 row that is not normalised."""
    def edit(out: np.ndarray) -> np.ndarray:
        out[1, 2] *= factor
        return out
    return edit


# ---------------------------------------------------------------- tolerance rule
def test_tolerance_rule_and_documented_figures() -> None:
    f16, f64 = float(np.finfo(np.float16).eps), float(np.finfo(np.float64).eps)
    assert tolerance(f64, 32) == tolerance(f64, 50_000) == FLOAT64_TOL == 1e-9
    assert f"{tolerance(F32_EPS, 32):.3g}" == "1.43e-06"
    assert f"{tolerance(F32_EPS, 50_000):.3g}" == "4.05e-06"
    assert f"{tolerance(f16, 32):.3g}" == "0.0117"
    assert f"{tolerance(f16, 50_000):.3g}" == "0.0332"
    assert f"{tolerance(2.0 ** -7, 32):.3g}" == "0.0938"  # bfloat16
    assert tolerance(F32_EPS, 3) == 2 * (math.ceil(math.log2(3)) + 1) * F32_EPS


# ------------------------------------------------------- conversion, dtype record
def test_array_api_strict_float32_is_converted_once_and_recorded() -> None:
    # row (1, 2) off by 4e-7: inside the float32 rule for q = 3 (7.15e-7), not 1e-9
    guard = CountingOracle(ForeignOracle(xps, xps.float32, _f32_off(1 + 4e-7)))
    out = guard.conditionals(X)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert guard.dtype == "array_api_strict float32"
    assert guard.tol == tolerance(F32_EPS, 3)
    # within-tolerance (default): such rows are renormalised in float64 and counted
    sums = out.sum(axis=-1)
    assert np.all((np.abs(sums - 1) <= 1e-12) | (sums == 0))
    assert guard.renormalized >= 1
    ref = TARGET.conditionals(X)
    assert np.abs(out - ref).max() <= 4 * F32_EPS


def test_float64_numpy_answers_are_untouched_by_the_default_policy() -> None:
    """Today's behaviour: a float64 numpy answer is returned as the oracle's own array."""
    class Same:
        n, q = TARGET.n, TARGET.q

        def __init__(self) -> None:
            self.last: np.ndarray | None = None

        def conditionals(self, x: np.ndarray) -> np.ndarray:
            self.last = TARGET.conditionals(x)
            return self.last

    inner = Same()
    guard = CountingOracle(inner)
    out = guard.conditionals(X)
    assert out is inner.last and guard.renormalized == 0
    assert guard.dtype == "numpy float64" and guard.tol == 1e-9


def test_policies_on_an_unnormalised_row() -> None:
    """A row summing to 0.8: an error unless the policy is "always", which renormalises it
    in float64 and counts it; "never" leaves float32 rounding in place."""
    def edit(out: np.ndarray) -> np.ndarray:
        out[1, 2] *= 0.8
        return out
    oracle = ForeignOracle(xps, xps.float32, edit)
    for policy in ("never", "within-tolerance"):
        with pytest.raises(OracleError, match=PREFIX + r"rows must sum to 1 within 7\.15256e-07 "
                           r"for array_api_strict float32 answers with q = 3") as info:
            CountingOracle(oracle, renormalize=policy).conditionals(X)
        assert info.value.rule == "contract.normalised" and info.value.batch_row == 1
        assert info.value.position == 2 and info.value.context == [-1, 1, -1, -1]
    guard = CountingOracle(oracle, renormalize="always")
    out = guard.conditionals(X)
    ref = TARGET.conditionals(X)
    assert np.abs(out - ref).max() <= 4 * F32_EPS
    assert guard.renormalized == int((ref.sum(axis=-1) != 0).sum())
    never = CountingOracle(ForeignOracle(xps, xps.float32), renormalize="never")
    raw = never.conditionals(X)
    assert never.renormalized == 0
    assert np.array_equal(raw, np.asarray(ref.astype(np.float32), dtype=np.float64))


@pytest.mark.parametrize("policy", ["never", "within-tolerance", "always"])
@pytest.mark.parametrize("kind", ["nan", "inf", "negative", "shape", "partial zero"])
def test_errors_in_every_policy(policy: str, kind: str) -> None:
    edits = {
        "nan": lambda o: (o.__setitem__((1, 2, 0), np.nan), o)[1],
        "inf": lambda o: (o.__setitem__((1, 2, 0), np.inf), o)[1],
        # beyond the float32 tolerance below zero
        "negative": lambda o: (o.__setitem__((1, 2, 0), -1e-4), o)[1],
        "shape": lambda o: o[:, :3],
        "partial zero": lambda o: (o.__setitem__((1, 2), 0.0), o)[1],
    }
    rule = {"nan": "contract.finite", "inf": "contract.finite", "negative": "contract.range",
            "shape": "contract.shape", "partial zero": "contract.zero-context"}[kind]
    guard = CountingOracle(ForeignOracle(xps, xps.float32, edits[kind]), renormalize=policy)
    with pytest.raises(OracleError, match=PREFIX) as info:
        guard.conditionals(X)
    assert info.value.rule == rule
    if kind != "shape":
        assert (info.value.batch_row, info.value.position) == (1, 2)
        assert info.value.context == [-1, 1, -1, -1]


def test_small_negative_within_float32_tolerance_is_clipped() -> None:
    def edit(o: np.ndarray) -> np.ndarray:
        d = o[1, 2, 0] + 1e-7  # entry 0 becomes -1e-7, entry 1 takes up the mass
        o[1, 2, 0] -= d
        o[1, 2, 1] += d
        return o
    guard = CountingOracle(ForeignOracle(xps, xps.float32, edit))
    out = guard.conditionals(X)
    assert out.min() >= 0.0 and abs(out[1, 2].sum() - 1) <= 1e-12


def test_float32_rows_beyond_the_float32_rule_fail_while_rounding_passes() -> None:
    """Both sides: rows off by 4e-7 (inside the q = 3 rule 7.15e-7) pass; 2e-6 fail."""
    CountingOracle(ForeignOracle(xps, xps.float32, _f32_off(1 + 4e-7))).conditionals(X)
    with pytest.raises(OracleError, match=r"rows must sum to 1 within 7\.15256e-07 for "
                       r"array_api_strict float32") as info:
        CountingOracle(ForeignOracle(xps, xps.float32, _f32_off(1 + 2e-6))).conditionals(X)
    assert info.value.rule == "contract.normalised" and info.value.batch_row == 1


# ------------------------------------------------------------------- bad answers
def test_python_list_answer_names_the_query() -> None:
    class ListOracle(ForeignOracle):
        def conditionals(self, x: np.ndarray) -> Any:
            return TARGET.conditionals(x).tolist()
    with pytest.raises(OracleError, match=PREFIX + r"an answer must be an array \(numpy or "
                       r"array API\) of a floating dtype\. Query: a batch of 2 contexts, the "
                       r"first \[0 \* \* 1\]; value seen: list \[\[") as info:
        CountingOracle(ListOracle(xps, None)).conditionals(X)
    assert info.value.rule == "contract.dtype" and info.value.context == [0, -1, -1, 1]


def test_integer_foreign_answer_is_a_dtype_error_naming_a_row() -> None:
    with pytest.raises(OracleError, match=PREFIX + r"dtype must be floating .* Batch row 0, "
                       r"position 1, context \[0 \* \* 1\]; value seen: dtype int64") as info:
        CountingOracle(ForeignOracle(xps, xps.int64)).conditionals(X)
    assert info.value.rule == "contract.dtype"


def test_dtype_changing_between_calls_is_named() -> None:
    class Flip(ForeignOracle):
        calls = 0

        def conditionals(self, x: np.ndarray) -> Any:
            self.calls += 1
            self.dtype = xps.float32 if self.calls == 1 else xps.float64
            return super().conditionals(x)
    guard = CountingOracle(Flip(xps, xps.float32))
    guard.conditionals(X)
    with pytest.raises(OracleError, match=PREFIX + r"the answer dtype must be the same on "
                       r"every call\. Query: a batch of 2 contexts, the first \[0 \* \* 1\]; "
                       r"value seen: array_api_strict float64 \(earlier calls: "
                       r"array_api_strict float32\)\.") as info:
        guard.conditionals(X)
    assert info.value.rule == "contract.same-dtype"


class _UncopyableArray:
    """An array-API array whose device offers no copy to the host (as a GPU tensor whose
    runtime is gone): ``__dlpack__`` and ``to_device`` both fail."""

    def __init__(self, arr: Any) -> None:
        self._arr = arr
        self.dtype, self.shape, self.device = arr.dtype, arr.shape, "gpu:0"

    def __array_namespace__(self, api_version: Any = None) -> Any:
        return xps

    def __dlpack__(self, **kwargs: Any) -> Any:
        raise BufferError("device memory is not accessible")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (2, 0)

    def to_device(self, device: Any, /, *, stream: Any = None) -> Any:
        raise RuntimeError("no runtime for gpu:0")


def test_uncopyable_device_answer_names_the_query() -> None:
    class Gpu(ForeignOracle):
        def conditionals(self, x: np.ndarray) -> Any:
            return _UncopyableArray(super().conditionals(x))
    with pytest.raises(OracleError, match=PREFIX + r"an answer must be copyable to the host "
                       r".*Query: a batch of 2 contexts.* value seen: array_api_strict array "
                       r"on device gpu:0") as info:
        CountingOracle(Gpu(xps, xps.float32)).conditionals(X)
    assert info.value.rule == "contract.dtype"


def test_bad_policy_is_a_parameter_error_and_policy_is_inherited() -> None:
    with pytest.raises(ParameterError, match=r"renormalize"):
        CountingOracle(TARGET, renormalize="sometimes")
    inner = CountingOracle(TARGET, renormalize="always")
    assert CountingOracle(inner).renormalize == "always"
    assert CountingOracle(inner, renormalize="never").renormalize == "never"


# ---------------------------------------------------------- samplers stay exact
ALPHA = 1e-3  # per check_exact call below; Bonferroni over the 4 calls: 4e-3 overall


@pytest.mark.parametrize("sampler_type", [
    pytest.param(SequentialSampler, marks=pytest.mark.slow),
    pytest.param(AGR24Sampler, marks=pytest.mark.slow), AutospeculativeSampler])
def test_samplers_exact_on_array_api_strict_float32(sampler_type: type) -> None:
    oracle = CountingOracle(ForeignOracle(xps, xps.float32))
    sampler = sampler_type(oracle)
    res = check_exact(sampler, TARGET, tv=0.1, alpha=ALPHA, rng=np.random.default_rng(2024))
    assert res.passed, f"{sampler_type.__name__} on float32 oracle: {res}"
    assert sampler.oracle.dtype == "array_api_strict float32" and sampler.oracle.calls > 0


@pytest.mark.slow
def test_autospec_exact_on_jax_float32() -> None:
    jnp = pytest.importorskip("jax.numpy")
    res = check_exact(AutospeculativeSampler(ForeignOracle(jnp, jnp.float32)), TARGET,
                      tv=0.1, alpha=ALPHA, rng=np.random.default_rng(2025))
    assert res.passed, f"autospec on a JAX float32 oracle: {res}"


def test_jax_bfloat16_is_widened_exactly_and_gets_its_tolerance() -> None:
    jnp = pytest.importorskip("jax.numpy")
    ans = to_host(jnp.asarray([[0.25, 0.75]], dtype=jnp.bfloat16))
    assert ans.dtype == "bfloat16" and ans.eps == 2.0 ** -7 and ans.library == "jax.numpy"
    assert ans.values.dtype == np.float64 and ans.values.tolist() == [[0.25, 0.75]]
    guard = CountingOracle(ForeignOracle(jnp, jnp.bfloat16))
    out = guard.conditionals(X)
    assert guard.dtype == "jax.numpy bfloat16"
    assert np.abs(out - TARGET.conditionals(X)).max() <= 2 * 2.0 ** -7


# ------------------------------------------------- contexts in the oracle's library
class NativeOracle:
    """An oracle that accepts only arrays of ``xp`` (never numpy) for its contexts and
    answers in ``xp`` float32: the model side of :class:`ForeignContexts`."""

    def __init__(self, xp: Any, to_numpy: Any, fast: bool) -> None:
        self.xp, self.to_numpy, self.n, self.q = xp, to_numpy, TARGET.n, TARGET.q
        self.seen: set[str] = set()
        if fast:
            self.conditionals_at = self._at

    def _np(self, a: Any) -> np.ndarray:
        assert not isinstance(a, np.ndarray), "handed a numpy array"
        self.seen.add(type(a).__module__.split(".")[0])
        return self.to_numpy(a)

    def conditionals(self, x: Any) -> Any:
        return self.xp.asarray(TARGET.conditionals(self._np(x)), dtype=self.xp.float32)

    def _at(self, x: Any, positions: Any, chain_values: Any = None) -> Any:
        cv = None if chain_values is None else self._np(chain_values)
        out = TARGET.conditionals_at(self._np(x), self._np(positions), cv)
        return self.xp.asarray(out, dtype=self.xp.float32)


@pytest.mark.parametrize("fast", [False, True])
def test_contexts_handed_in_the_oracles_library_keep_the_sampler_exact(fast: bool) -> None:
    oracle = NativeOracle(xps, lambda a: np.from_dlpack(a), fast)
    sampler = AutospeculativeSampler(ForeignContexts(oracle, xps))
    res = check_exact(sampler, TARGET, tv=0.1, alpha=ALPHA, rng=np.random.default_rng(2026))
    assert res.passed, f"autospeculative sampler, contexts as array-api-strict: {res}"
    assert oracle.seen == {"array_api_strict"}
    assert sampler.oracle.dtype == "array_api_strict float32"


def test_contexts_in_jax() -> None:
    jnp = pytest.importorskip("jax.numpy")
    oracle = NativeOracle(jnp, np.asarray, True)
    out = SequentialSampler(ForeignContexts(oracle, jnp)).sample(64, rng=3)
    assert out.samples.shape == (64, TARGET.n) and oracle.seen == {"jaxlib"}, oracle.seen


def test_foreign_contexts_refuses_what_is_not_an_oracle_or_a_namespace() -> None:
    with pytest.raises(ParameterError, match=r"`oracle` must have n, q and conditionals; "
                                             r"it has no `n`: got int\."):
        ForeignContexts(3, xps)
    with pytest.raises(ParameterError, match=r"`xp` must be an array namespace with "
                                             r"asarray; got"):
        ForeignContexts(TARGET, object())
