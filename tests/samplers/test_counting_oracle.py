"""CountingOracle: every kind of bad answer is rejected with the documented message,
and calls/rows are counted as in docs/contracts.md (B rows, B * L with chain values)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from distributions.base import MASK
from distributions.errors import OracleError, ParameterError
from distributions.families import hardcore
from distributions.table import TableDistribution
from samplers.oracle import RULE_IDS, CountingOracle

TARGET = TableDistribution(np.random.default_rng(41).random((2,) * 4) + 0.05)
X = np.array([[0, MASK, MASK, 1], [MASK, 1, MASK, MASK]])
PREFIX = r"oracle answer breaks the rule: "


def _num(text: str) -> str:
    """Regex for a number printed by the guard: a plain float, never ``np.float64(...)``."""
    return r"(?<!\()" + text


class FullOnly:
    """A DiscreteOracle with only ``conditionals``; ``corrupt`` edits its answers."""

    def __init__(self, inner: TableDistribution,
                 corrupt: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.inner, self.n, self.q = inner, inner.n, inner.q
        self.corrupt = corrupt

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        out = self.inner.conditionals(x)
        return out if self.corrupt is None else self.corrupt(out.copy())


class Positional(FullOnly):
    """Also has the ``conditionals_at`` fast path, corrupted the same way."""

    def conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                        chain_values: np.ndarray | None = None) -> np.ndarray:
        out = self.inner.conditionals_at(x, positions, chain_values)
        return out if self.corrupt is None else self.corrupt(out.copy())


def _set(b: int, i: int, row: list[float]) -> Callable[[np.ndarray], np.ndarray]:
    def corrupt(out: np.ndarray) -> np.ndarray:
        out[b, i] = row
        return out
    return corrupt


def _widen(out: np.ndarray) -> np.ndarray:
    return np.concatenate([out, np.zeros(out.shape[:-1] + (1,))], axis=-1)


CTX1 = r"context \[\* 1 \* \*\]"
BAD_ANSWERS = {
    "nan": (_set(1, 2, [np.nan, 0.5]),
            PREFIX + r"entries must be finite\. Batch row 1, position 2, " + CTX1
            + r"; value seen: " + _num("nan") + r" for value 0, row \[nan, 0\.5\]\."),
    "inf": (_set(1, 2, [0.5, np.inf]),
            PREFIX + r"entries must be finite\. Batch row 1, position 2, " + CTX1
            + r"; value seen: " + _num("inf") + r" for value 1"),
    "negative": (_set(1, 2, [-0.25, 1.25]),
                 PREFIX + r"entries must lie in \[0, 1\] \(within 1e-09\)\. Batch row 1, "
                 r"position 2, " + CTX1
                 + r"; value seen: " + _num(r"-0\.25") + r" for value 0"),
    "above one": (_set(1, 2, [1.25, -0.25]),
                  PREFIX + r"entries must lie in \[0, 1\] \(within 1e-09\)\. Batch row 1, "
                  r"position 2, " + CTX1
                  + r"; value seen: " + _num(r"1\.25") + r" for value 0"),
    "unnormalised": (_set(1, 2, [0.5, 0.3]),
                     PREFIX + r"rows must sum to 1 within 1e-09 for numpy float64 answers with "
                     r"q = 2 \(or be all zero for a "
                     r"zero-probability context\)\. Batch row 1, position 2, " + CTX1
                     + r"; value seen: row \[0\.5, 0\.3\] summing to " + _num(r"0\.8")),
    "wrong shape": (_widen,
                    PREFIX + r"shape must be \(2, 4, 2\) for a batch of 2 contexts; "
                    r"value seen: shape \(2, 4, 3\)\."),
    "not one-hot": (_set(1, 1, [0.5, 0.5]),
                    PREFIX + r"unmasked positions must hold the one-hot of their value\. "
                    r"Batch row 1, position 1, " + CTX1
                    + r"; value seen: row \[0\.5, 0\.5\] for value 1\."),
    "partial zero": (_set(1, 2, [0.0, 0.0]),
                     PREFIX + r"a zero-probability context has all-zero rows at every masked "
                     r"position \(not only some\)\. Batch row 1, position 2, " + CTX1
                     + r"; value seen: row \[0\.0, 0\.0\]\."),
}


@pytest.mark.parametrize("kind", list(BAD_ANSWERS))
def test_full_answers_rejected_with_documented_message(kind: str) -> None:
    corrupt, match = BAD_ANSWERS[kind]
    guard = CountingOracle(FullOnly(TARGET, corrupt))
    with pytest.raises(OracleError, match=match):
        guard.conditionals(X)
    # the same answers reach conditionals_at through the generic path
    with pytest.raises(OracleError, match=r"oracle answer breaks the rule"):
        guard.conditionals_at(X, np.array([[1], [2]]))


RULE_OF = {"nan": "contract.finite", "inf": "contract.finite", "negative": "contract.range",
           "above one": "contract.range", "unnormalised": "contract.normalised",
           "wrong shape": "contract.shape", "not one-hot": "contract.one-hot",
           "partial zero": "contract.zero-context"}


@pytest.mark.parametrize("kind", list(BAD_ANSWERS))
def test_rule_ids_name_every_rule_by_its_text(kind: str) -> None:
    """The public table RULE_IDS (used by verify.audit) maps each rule's text to the id
    the error carries as ``rule``."""
    with pytest.raises(OracleError) as info:
        CountingOracle(FullOnly(TARGET, BAD_ANSWERS[kind][0])).conditionals(X)
    assert info.value.rule == RULE_OF[kind]
    texts = [text for text, rid in RULE_IDS if rid == RULE_OF[kind]]
    assert len(texts) == 1 and (PREFIX + texts[0]) in str(info.value)


@pytest.mark.parametrize("kind", ["nan", "inf", "negative", "above one", "unnormalised"])
def test_positional_answers_rejected_with_chain_context(kind: str) -> None:
    """Fast path: the message names positions[b, j] and the context of chain step j."""
    corrupt, _ = BAD_ANSWERS[kind]  # writes out[1, 2]: row 1, step j = 2
    guard = CountingOracle(Positional(TARGET, corrupt))
    pos = np.array([[1, 2, 0], [0, 3, 2]])
    vals = np.array([[1, 0, 0], [0, 1, 1]])
    rule = BAD_ANSWERS[kind][1].split(r"\. Batch")[0]
    with pytest.raises(OracleError, match=rule + r"\. Batch row 1, position 2, "
                       r"context \[0 1 \* 1\]; value seen: "):
        guard.conditionals_at(np.array([[MASK] * 4, [MASK, 1, MASK, MASK]]), pos, vals)


def test_positional_wrong_shape_rejected() -> None:
    guard = CountingOracle(Positional(TARGET, _widen))
    with pytest.raises(OracleError, match=PREFIX + r"shape must be \(2, 1, 2\) for a batch of "
                       r"2 contexts; value seen: shape \(2, 1, 3\)\."):
        guard.conditionals_at(X, np.array([[1], [2]]))


def test_good_answers_and_zero_probability_contexts_pass() -> None:
    guard = CountingOracle(hardcore(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]), 1.5))
    x = np.array([[1, 1, MASK], [MASK, MASK, MASK], [0, MASK, 1]])
    out = guard.conditionals(x)
    np.testing.assert_array_equal(out[0, 2], 0.0)  # impossible context, all-zero row
    at = guard.conditionals_at(np.array([[MASK] * 3]), np.array([[0, 1, 2]]),
                               np.array([[1, 1, 0]]))
    # weights of the independent sets {}, {0}, {1}, {2}, {0, 2}: 1, 1.5, 1.5, 1.5, 2.25
    np.testing.assert_allclose(at[0], [[4 / 7.75, 3.75 / 7.75], [1.0, 0.0], [0.0, 0.0]])


def test_validate_false_passes_bad_answers_through() -> None:
    guard = CountingOracle(FullOnly(TARGET, _set(1, 2, [np.nan, 0.5])), validate=False)
    assert np.isnan(guard.conditionals(X)[1, 2, 0])


@pytest.mark.parametrize("oracle_type", [FullOnly, Positional])
def test_counts_calls_and_rows(oracle_type: type) -> None:
    guard = CountingOracle(oracle_type(TARGET))
    B, L = 3, 2
    x = np.full((B, 4), MASK)
    pos = np.array([[0, 1], [2, 3], [1, 3]])
    guard.conditionals(x)
    assert (guard.calls, guard.rows) == (1, B)
    guard.conditionals_at(x, pos)
    assert (guard.calls, guard.rows) == (2, 2 * B)
    out = guard.conditionals_at(x, pos, np.zeros((B, L), dtype=int))
    assert (guard.calls, guard.rows) == (3, 2 * B + B * L)
    np.testing.assert_allclose(out, TARGET.conditionals_at(x, pos, np.zeros((B, L), dtype=int)))
    guard.reset()
    assert (guard.calls, guard.rows) == (0, 0)
    # wrapping a guard does not double count
    outer = CountingOracle(guard)
    outer.conditionals(x)
    assert (outer.calls, outer.rows, guard.calls) == (1, B, 0)


def test_constructor_rejects_non_oracles() -> None:
    with pytest.raises(ParameterError, match=r"`oracle` must implement DiscreteOracle "
                       r"\(n, q, conditionals\); it has no `n`: got object\."):
        CountingOracle(object())

    class QOne:
        n, q = 3, 1

        def conditionals(self, x: np.ndarray) -> np.ndarray:
            return x

    with pytest.raises(ParameterError, match=r"`oracle.q` must be an integer >= 2; got 1\."):
        CountingOracle(QOne())


# ---------------------------------------------------------------- issue 19 item 5
# Each broken oracle gets the contract error naming the real cause (rule, row, position,
# context, value), from the guard and hence from every sampler, never a downstream
# symptom ("`probs` rows must have positive mass", a one-hot violation).


def _as_int(out: np.ndarray) -> np.ndarray:
    return out.astype(np.int64)


class Mutating(FullOnly):
    """Writes value 0 into the masked entries of the contexts it is handed."""

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        out = self.inner.conditionals(x)
        x[x == MASK] = 0
        return out


class MutatingChain(Positional):
    """Fast path that overwrites the chain values it is handed."""

    def conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                        chain_values: np.ndarray | None = None) -> np.ndarray:
        out = self.inner.conditionals_at(x, positions, chain_values)
        if chain_values is not None:
            chain_values[:] = 1 - chain_values
        return out


def test_integer_answer_is_a_dtype_error_naming_row_position_context() -> None:
    guard = CountingOracle(FullOnly(TARGET, _as_int))
    with pytest.raises(OracleError, match=PREFIX + r"dtype must be floating .*\. Batch row 0, "
                       r"position 1, context \[0 \* \* 1\]; value seen: dtype int64, "
                       r"row \[0, 0\]\.") as info:
        guard.conditionals(X)
    err = info.value
    assert (err.rule, err.batch_row, err.position, err.context) == (
        "contract.dtype", 0, 1, [0, MASK, MASK, 1])
    # booleans and the fast path too
    with pytest.raises(OracleError, match=r"dtype must be floating.*dtype bool"):
        CountingOracle(FullOnly(TARGET, lambda o: o > 0.5)).conditionals(X)
    with pytest.raises(OracleError, match=r"dtype must be floating.*Batch row 0, position 1, "
                       r"context \[0 \* \* 1\]; value seen: dtype int64"):
        CountingOracle(Positional(TARGET, _as_int)).conditionals_at(X, np.array([[1], [2]]))


@pytest.mark.parametrize("sampler_name", ["SequentialSampler", "AutospeculativeSampler"])
def test_samplers_blame_an_integer_answer_not_probs(sampler_name: str) -> None:
    """Before: a warning, then ParameterError "`probs` rows must have positive mass"."""
    import samplers

    sampler = getattr(samplers, sampler_name)(FullOnly(TARGET, _as_int))
    with pytest.raises(OracleError, match=r"dtype must be floating") as info:
        sampler.sample(8, rng=np.random.default_rng(0))
    assert info.value.rule == "contract.dtype"


def test_squeezed_answer_for_one_context_is_named() -> None:
    """Before: a bare shape error (and in the audit, 'batch-invariance differs by inf')."""
    guard = CountingOracle(FullOnly(TARGET, np.squeeze))
    assert guard.conditionals(X).shape == (2, 4, 2)  # fine for a batch of two
    with pytest.raises(OracleError, match=PREFIX + r"shape must be \(1, 4, 2\) for a batch of 1 "
                       r"contexts; value seen: shape \(4, 2\) \(the batch axis is missing: the "
                       r"answer to the batch of one context \[\* 1 \* \*\] was squeezed") as info:
        guard.conditionals(X[1:])
    assert (info.value.rule, info.value.context) == ("contract.shape", [MASK, 1, MASK, MASK])
    squeezing = Positional(TARGET, np.squeeze)
    with pytest.raises(OracleError, match=r"shape must be \(1, 3, 2\) .* shape \(3, 2\) \(the "
                       r"batch axis is missing"):
        CountingOracle(squeezing).conditionals_at(X[1:], np.array([[0, 2, 3]]))
    # a sampler drawing one sample meets it first-hand
    from samplers import SequentialSampler

    with pytest.raises(OracleError, match=r"batch axis is missing"):
        SequentialSampler(FullOnly(TARGET, np.squeeze)).sample(1, rng=np.random.default_rng(1))


def test_oracle_modifying_its_input_is_named_and_cannot_corrupt_the_caller() -> None:
    """Before: the samplers reported a one-hot violation at the corrupted context."""
    guard = CountingOracle(Mutating(TARGET))
    x = X.copy()
    with pytest.raises(OracleError, match=PREFIX + r"the oracle must not modify its input "
                       r"contexts\. Batch row 0, position 1, context \[0 \* \* 1\]; value seen: "
                       r"`x`\[0, 1\] changed from -1 to 0 by the call\.") as info:
        guard.conditionals(x)
    np.testing.assert_array_equal(x, X)  # the caller's array is intact
    assert (info.value.rule, info.value.batch_row, info.value.position) == (
        "contract.input", 0, 1)
    from samplers import AutospeculativeSampler, SequentialSampler

    for cls in (SequentialSampler, AutospeculativeSampler):
        with pytest.raises(OracleError, match=r"must not modify its input") as info:
            cls(Mutating(TARGET)).sample(4, rng=np.random.default_rng(2))
        assert "one-hot" not in str(info.value)


def test_fast_path_modifying_chain_values_is_named() -> None:
    guard = CountingOracle(MutatingChain(TARGET))
    vals = np.array([[1, 0, 0], [0, 1, 1]])
    pos = np.array([[1, 2, 0], [0, 3, 2]])
    with pytest.raises(OracleError, match=r"must not modify its input contexts\. Batch row 0, "
                       r"position 1, context \[\* \* \* \*\]; value seen: `chain_values`\[0, 0\] "
                       r"changed from 1 to 0 by the call \(entry 0 of `chain_values`\)\."):
        guard.conditionals_at(np.full((2, 4), MASK), pos, vals)
    np.testing.assert_array_equal(vals, [[1, 0, 0], [0, 1, 1]])


def test_validate_false_hands_the_oracle_the_callers_arrays() -> None:
    """No copies and no checks without validation (the fast, trusted path)."""
    x = X.copy()
    CountingOracle(Mutating(TARGET), validate=False).conditionals(x)
    assert (x != MASK).all()


@pytest.mark.parametrize("name", ["SequentialSampler", "AGR24Sampler",
                                  "AutospeculativeSampler"])
def test_renormalisation_is_counted_in_the_samplers_call_record(name: str) -> None:
    """float32 answers: the rows the guard renormalised appear in ``aux`` of the call."""
    import samplers

    cls = getattr(samplers, name)
    f32 = Positional(TARGET, lambda out: out.astype(np.float32))
    sampler = cls(f32)
    res = sampler.sample(50, rng=np.random.default_rng(3))
    aux = res.aux
    assert int(aux["oracle_calls"]) == sampler.oracle.calls > 0
    assert int(aux["oracle_rows"]) == sampler.oracle.rows >= int(res.queries.sum())
    renorm = int(aux["oracle_renormalized"])
    assert 0 < renorm == sampler.oracle.renormalized <= sampler.oracle.rows
    again = sampler.sample(50, rng=np.random.default_rng(3))  # the record is per call
    assert {k: int(v) for k, v in again.aux.items()} == {k: int(v) for k, v in aux.items()}
    # exact float64 answers: nothing to renormalise, every row still counted
    exact = cls(TARGET).sample(50, rng=np.random.default_rng(3))
    assert int(exact.aux["oracle_renormalized"]) == 0
    assert int(exact.aux["oracle_rows"]) >= int(exact.queries.sum())


def test_renormalised_rows_match_the_old_copying_renormalisation() -> None:
    """The one-pass, in-place renormalisation returns what clip-and-divide returns."""
    rng = np.random.default_rng(8)
    raw = rng.dirichlet(np.ones(3), size=(40, 4)).astype(np.float32)
    raw[0, 0] = [0.5, 0.5, 0.0]  # exactly normalised in float32: left alone
    raw[1, 2] = [-1e-7, 0.6, 0.4000001]  # slightly outside [0, 1]: clipped, then divided
    raw[2] = 0.0  # a zero-probability context
    guard = CountingOracle(Positional(TableDistribution(np.ones((3,) * 4))))
    got = guard._renormalise(raw.astype(np.float64), owned=True)
    want = raw.astype(np.float64)
    sums = want.sum(axis=-1)
    fix = (sums != 0) & ((np.abs(sums - 1) > 1e-9) | (want < 0).any(-1) | (want > 1).any(-1))
    rows = np.clip(want[fix], 0.0, 1.0)
    want[fix] = rows / rows.sum(axis=-1, keepdims=True)
    np.testing.assert_array_equal(got, want)
    assert guard.renormalized == int(fix.sum())
    assert raw.dtype == np.float32  # the caller's array is not touched without `owned`
    kept = guard._renormalise(raw[2:3].astype(np.float64))
    assert (kept == 0).all()


@pytest.mark.parametrize("q", [2, 3, 7, 8, 32])
def test_row_statistics_are_the_numpy_reductions_bit_for_bit(q: int) -> None:
    """The guard's per-row min, max and sum (taken column by column for q <= 7, for
    speed) are numpy's reductions exactly, so every decision and renormalisation is
    unchanged."""
    from samplers.oracle import _RowStats

    gen = np.random.default_rng(20261202)
    out = gen.random((300, 5, q)) * gen.choice([1e-9, 1.0, 1e9], size=(300, 5, q))
    st = _RowStats.of(out)
    assert np.array_equal(st.lo, out.min(axis=-1))
    assert np.array_equal(st.hi, out.max(axis=-1))
    assert np.array_equal(st.sums, out.sum(axis=-1))
