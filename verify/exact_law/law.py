"""The public entry point :func:`exact_law` (see :mod:`verify.exact_law`)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from distributions.errors import ParameterError
from distributions.validation import check_float, check_int, short_repr
from samplers.autospec import AutospeculativeSampler
from samplers.sequential import SequentialSampler
from verify.exact_law.enumerator import _Enumerator
from verify.exact_law.exact import ExactWeights, _exact_numbers
from verify.exact_law.fingerprint import _instance_state, _rng_changes, _rng_objects, _rng_states
from verify.exact_law.memo import _CachedOracle, _Memo
from verify.exact_law.rational import _RationalFailed, _RationalNumbers
from verify.exact_law.result import ExactLawResult
from verify.exact_law.source import EnumeratingSource, _Refusal

__all__ = ["exact_law"]

#: the enumerator's own objects, which the generator walk does not look into
_OWN = (_Enumerator, _Memo)


def exact_law(
    sampler_factory: Callable[[Any], Any],
    target: Any,
    *,
    reference: Callable[[Any], Any] | None = None,
    tol: float = 1e-12,
    rational: bool | None = None,
    max_paths: int = 2_000_000,
    exact: ExactWeights | bool | None = None,
) -> ExactLawResult:
    """Exact output law of the sampler built by ``sampler_factory(target)``.

    Parameters
    ----------
    sampler_factory : callable
        ``sampler_factory(oracle) -> sampler``; the sampler must draw all its
        randomness through the :class:`~samplers.base.RandomSource` passed as
        ``rng`` to its ``sample`` (see "What is enumerated, and refusals").
    target : Enumerable or DiscreteOracle
        The oracle given to the factory. With ``pmf`` (and no ``reference``) its
        table is the reference law. Without one (a tiny trained model, whose
        conditionals need not come from any joint law) the reference is the
        sequential chain-rule law of the same oracle (see ``reference``).
    reference : callable oracle -> sampler, optional
        A sampler factory whose output law on ``target``, enumerated the same way, is
        the reference. Default: the target's ``pmf`` when it has one, else
        ``SequentialSampler(target, order=sampler.order)`` (``"random"`` when the
        sampler has no ``order``): the sequential chain-rule law mixed over orders as
        the sampler mixes them. A ``reference`` that is not a callable returning a
        sampler is a ParameterError.
    tol : float, default 1e-12
        Paths lighter than ``tol`` are cut (their weight goes to ``truncated_mass``).
    rational : bool, optional
        Also compute the exact rational law from the target's declared exact weights
        (``target.rational_weights``; see "Exact rational law" above); needs ``q**n
        <= 16`` and ``n <= 4``. Default: try for ``n <= 4, q = 2``. Skipped, with
        the reason in ``note`` (``rational_pmf = rational_tv = None``), when the
        target declares no exact weights (e.g. irrational ones) or a draw of the
        sampler is not one of the exact candidates (e.g. a tempered mutant).
    max_paths : int, default 2,000,000
        Bound on program executions; exceeding it raises ``RuntimeError``.
    exact : ExactWeights or True, optional
        Also compute the law in exact arithmetic over the target's irrational weights
        (``c(x) exp(r(x))``, rationals ``c``, ``r``; ``True`` takes them from
        ``target.exact_weights``), with ``q**n <= 16``: ``exact_pmf`` and
        ``exact_diff`` (see "Exact law over irrational weights" above). Skipped, with
        the reason in ``note``, when a draw of the sampler is not one of the target's
        exact rows or speculative coins.

    Returns
    -------
    ExactLawResult

    Raises
    ------
    ParameterError
        Bad arguments, or a sampler the enumeration cannot follow (randomness drawn
        outside the source it is handed, state carried across calls, a source
        wrapper that changes state inside a block call, normal draws, malformed
        output); nothing is enumerated for it.
    RuntimeError
        More than ``max_paths`` executions.

    Examples
    --------
    >>> import numpy as np
    >>> from distributions.table import TableDistribution
    >>> from samplers.sequential import SequentialSampler
    >>> d = TableDistribution(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> res = exact_law(lambda o: SequentialSampler(o, order="random"), d)
    >>> res.tv < 1e-15, res.truncated_mass, [str(p) for p in res.rational_pmf]
    (True, 0.0, ['1/10', '1/5', '3/10', '2/5'])
    """
    tol = check_float("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    max_paths = check_int("max_paths", max_paths, low=1)
    if not callable(sampler_factory):
        raise ParameterError(
            f"`sampler_factory` must be a callable oracle -> sampler; got "
            f"{type(sampler_factory).__name__}."
        )
    for attr in ("n", "q", "conditionals"):
        if not hasattr(target, attr):
            raise ParameterError(
                f"`target` must be an Enumerable or a DiscreteOracle (n, q, conditionals); it "
                f"has no `{attr}`: got {type(target).__name__}.")
    if reference is not None and (not callable(reference) or hasattr(reference, "sample")):
        raise ParameterError(
            "`reference` must be None or a sampler factory (a callable oracle -> sampler); "
            f"got {short_repr(reference)}.")
    n, q = int(target.n), int(target.q)
    with_pmf = callable(getattr(target, "pmf", None)) and reference is None
    if rational and not with_pmf:
        raise ParameterError(
            "`rational` must be False or None when the reference is not the target's pmf "
            f"(a `reference` sampler, or a target without pmf); got rational={rational!r}.")
    if rational and (n > 4 or q**n > 16):
        raise ParameterError(
            f"`rational` needs q**n <= 16 and n <= 4; got rational={rational!r} with n = {n}, "
            f"q = {q}.")
    if exact not in (None, False) and not with_pmf:
        raise ParameterError(
            "`exact` needs the target's pmf as the reference (no `reference` sampler, a "
            f"target with pmf()); got exact={short_repr(exact)}.")
    numbers = None if exact is None or exact is False else _exact_numbers(exact, target)
    if rational is None:
        rational = with_pmf and n <= 4 and q == 2
    note = ""

    def compute(rat: bool, factory: Callable[[Any], Any] = sampler_factory,
                ) -> tuple[dict, Any, _Enumerator]:
        sampler = factory(target)
        label = type(sampler).__name__
        if not callable(getattr(sampler, "sample", None)):
            raise ParameterError(
                f"`sampler_factory` must return a sampler with a sample(num, rng=...) method; "
                f"got {label}."
            )
        enum = _Enumerator(tol, rat, max_paths, label)
        fixed = {id(sampler): "<sampler>", id(target): "<target>"}
        oracle = getattr(sampler, "oracle", None)
        if hasattr(oracle, "conditionals_at"):
            sampler.oracle = _CachedOracle(oracle)
        for o in (oracle, getattr(sampler, "oracle", None), getattr(oracle, "inner", None)):
            if o is not None:
                fixed[id(o)] = "<oracle>"
        if isinstance(sampler, AutospeculativeSampler):
            sampler.lookahead_rows = 0  # one residual batch per step (same law)
            sampler.memo = _Memo(enum, fixed)
        # reference state: after the first execution (lazily set attributes allowed)
        state0: dict[str, Any] = {}
        calls = [0]
        rngs0 = _rng_states(_rng_objects(sampler, fixed, _OWN))

        def program(src: EnumeratingSource) -> tuple[int, ...]:
            out = sampler.sample(1, rng=src)  # the public path, with this source as rng
            x = np.asarray(getattr(out, "samples", out))
            if x.shape != (1, n) or x.dtype.kind not in "iu" or not ((x >= 0) & (x < q)).all():
                raise _Refusal(
                    f"sample(1, rng=...) must return integer samples of shape (1, {n}) with "
                    f"values in [0, {q}); got {x.dtype} of shape {x.shape}"
                )
            state = _instance_state(sampler, fixed)
            calls[0] += 1
            if calls[0] == 1:
                state0.update(state)
                # generators the first call created and kept are watched from here on
                kept = _rng_states(_rng_objects(sampler, fixed, _OWN))
                rngs0.update({k: v for k, v in kept.items() if k not in rngs0})
            elif state != state0:
                names = sorted(set(state) ^ set(state0)
                               | {k for k in state if k in state0 and state[k] != state0[k]})
                raise _Refusal(
                    "it keeps state on the instance across sample() calls (attributes "
                    f"changed: {', '.join(names)}), so its law depends on the call history"
                )
            return tuple(int(v) for v in x[0])

        def watch() -> None:
            changed = _rng_changes(rngs0)
            if changed:
                raise _Refusal(
                    "it draws randomness outside the RandomSource it is handed (the state "
                    f"of {', '.join(changed)} changed during the enumeration)"
                )

        enum.watch = watch
        try:
            leaves, trunc = enum.law(program)
            watch()
        except _Refusal as exc:
            raise ParameterError(
                f"exact_law cannot follow {label}: {exc.args[0]}. Its output law was not "
                "enumerated; every random choice must go through the `rng` source handed "
                "to sample()."
            ) from None
        return leaves, trunc, enum

    def table(leaves: dict) -> np.ndarray:
        out = np.zeros(q**n)
        for k, w in leaves.items():
            out[np.ravel_multi_index(k, (q,) * n)] += float(w)
        return out

    ref_trunc, ref_name = 0.0, "target pmf"
    if with_pmf:
        target_pmf = np.asarray(target.pmf(), dtype=np.float64)
    else:
        if reference is None:
            order = getattr(sampler_factory(target), "order", "random")
            shown = order if isinstance(order, str) else "fixed"

            def reference(o: Any) -> Any:
                return SequentialSampler(o, order=order)

            ref_name = f"SequentialSampler(order={shown!r}) on the same oracle (enumerated)"
        else:
            ref_name = "the `reference` sampler on the same oracle (enumerated)"
        ref_leaves, ref_t, _ = compute(False, reference)
        target_pmf, ref_trunc = table(ref_leaves), float(ref_t)
    leaves, trunc, enum = compute(False)
    pmf = table(leaves)
    diff = pmf - target_pmf
    tv = 0.5 * float(np.abs(diff).sum())
    worst = int(np.argmax(np.abs(diff)))
    rational_pmf = rational_tv = None
    if rational:
        try:
            rnum = _rational_numbers(target, n, q, pmf=target_pmf)
            rleaves, rtrunc, _ = compute(rnum)
            rp = [Fraction(0)] * (q**n)
            for k, w in rleaves.items():
                rp[int(np.ravel_multi_index(k, (q,) * n))] += w
            rational_pmf = tuple(rp)
            rational_tv = sum((abs(a - b) for a, b in zip(rp, rnum.pmf, strict=True)),
                              Fraction(0)) / 2
            if rtrunc:
                note = f"rational enumeration truncated mass {float(rtrunc):.3g}"
        except _RationalFailed as exc:
            note = f"no rational law: {exc}"
    exact_pmf = exact_diff = None
    if numbers is not None:
        try:
            eleaves, etrunc, _ = compute(numbers)
            ep = [numbers.zero()] * (q**n)
            for k, w in eleaves.items():
                ep[int(np.ravel_multi_index(k, (q,) * n))] += w
            cells = list(np.ndindex((q,) * n))
            exact_pmf = tuple(numbers.expr(e.v) for e in ep)
            exact_diff = tuple(numbers.expr((e - numbers.elem(numbers.pmf[x])).v)
                               for e, x in zip(ep, cells, strict=True))
            if etrunc:
                note = (note + "; " if note else "") + (
                    f"exact enumeration truncated mass {float(etrunc):.3g}")
        except _RationalFailed as exc:
            note = (note + "; " if note else "") + f"no exact law: {exc}"
    return ExactLawResult(
        pmf=pmf,
        target_pmf=target_pmf,
        tv=tv,
        truncated_mass=float(trunc),
        worst_config=tuple(int(v) for v in np.unravel_index(worst, (q,) * n)),
        worst_diff=float(diff[worst]),
        rational_pmf=rational_pmf,
        rational_tv=rational_tv,
        executions=enum.paths,
        closures=enum.closures,
        note=note,
        replays=enum.replays,
        reference=ref_name,
        reference_truncated_mass=ref_trunc,
        exact_pmf=exact_pmf,
        exact_diff=exact_diff,
    )


def _rational_numbers(target: Any, n: int, q: int, *, pmf: np.ndarray) -> _RationalNumbers:
    """The rational number system of ``target``: from its declared exact weights
    (``rational_weights``), checked against its float ``pmf``; ``_RationalFailed``
    (no rational law, with the reason) when it declares none."""
    weights = getattr(target, "rational_weights", None)
    if weights is None:
        raise _RationalFailed(
            f"the target ({type(target).__name__}) declares no exact rational weights "
            "(`rational_weights`), so its law is known only in floating point")
    w = np.asarray(weights, dtype=object)
    if w.shape != (q,) * n or not all(isinstance(v, int | Fraction) and v >= 0 for v in w.flat):
        raise _RationalFailed(
            f"the target's `rational_weights` must be non-negative ints or Fractions of shape "
            f"{(q,) * n}; got shape {w.shape}")
    num = _RationalNumbers(w)
    err = max(abs(float(a) - float(b)) for a, b in zip(num.pmf, pmf, strict=True))
    if err > 1e-12:
        raise _RationalFailed(
            f"the target's `rational_weights` are not its law (pmf off by {err:.3g})")
    return num
