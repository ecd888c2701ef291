"""Exact output law of a sampler by enumerating its random choices (DESIGN 6.1).

:func:`exact_law` runs the sampler's **public path** (``sampler.sample(1,
rng=source)``, overrides and source wrappers included) with an
:class:`EnumeratingSource` as ``rng``: every categorical draw, coin and permutation
becomes a branch point weighted by its probability. The enumeration is a
depth-first search with re-execution: a path is a list of choice indices; the
program is re-run along a prescribed prefix, and at the first new choice point the
source takes the first outcome and schedules its siblings. Paths whose weight
falls below ``tol`` are abandoned and their weight is added to ``truncated_mass``,
a rigorous bound on the probability mass the enumeration left out (the computed
pmf is a sub-probability missing exactly that mass).

What is enumerated, and refusals
--------------------------------
The law computed is that of the random choices the sampler makes through the
source it is handed, which is its output law only if it draws no other
randomness. A sampler is refused (``ParameterError`` naming its class and what
cannot be followed; no law is reported) when:

* a random generator it can reach changes state during the enumeration: numpy's
  and Python's global generators, generators reachable from the instance
  (attributes, containers, closures) or held by the modules of its class;
* the **replay check** fails: in every depth-first search the executions numbered
  1, 2, 4, 8, ... that end in a leaf are re-run along the same choice path (the
  first one 8 times: a search may have no other execution), and must make the same
  draws (kind and law of each) and return the same output. A
  fresh or hidden generator fails it with overwhelming probability (a check, not a
  proof: a generator that never changes the draws' laws or the output on the
  replayed paths goes unseen; a deterministic function of its arguments is
  enumerated as what it is);
* its attributes differ between the end of the first ``sample`` call and the end of
  a later one (state carried from call to call; its oracle excepted);
* a source wrapper changes its data during a memoised block call (device 1);
* it draws normal variates, or ``sample`` returns something other than integer
  samples of shape ``(1, n)`` with values in ``[0, q)``.

The enumerator's own control flow (path cut, lumped continuation, refusal) uses
``BaseException`` subclasses, so sampler code catching ``Exception`` cannot
swallow it.

Autospeculative sampler
-----------------------
Naive path enumeration of :class:`~samplers.autospec.AutospeculativeSampler`
explodes (residual loops of trials, each trial recursing). Four devices keep it
tractable, all of them running the real code:

1. **Memoised block calls.** The sampler's public memoisation point is used: its
   ``memo`` attribute is set to the enumerator's
   :class:`~samplers.autospec.BlockMemo`, through which every block call and
   residual step passes (the real code, the sampler's ``steps`` strategy included,
   is what runs): each distinct single-call input ``(a, b, ctx, order, nu_rows)`` together with the
   **fingerprint of the source the call was handed** is enumerated once, by
   running the call with that very source object, and then becomes ONE choice
   point over its output law. Every :class:`EnumeratingSource` of an enumeration
   is a handle: a draw on it is made by the execution running at that moment, so
   a wrapper built around the handle (e.g. by an overridden ``sample``) runs its
   own code in the nested enumeration exactly as in the sampler. The fingerprint
   of a plain handle is one tag; that of a wrapper is its type and data (arrays by
   bytes, functions by code and closure cells), and every nested execution must
   leave it unchanged, else the sampler is refused. An outcome is the pair ``(y,
   log mu_S)`` the call returns (a wrong sampler may report a ``log mu_S`` that is
   not a function of ``y``); a batch of ``m`` calls is a joint choice (the calls
   are independent given their inputs). Cost outputs (rounds, queries) of
   memoised calls are reported as 0: only the samples' law is computed.
   Memoisation assumes that a call's behaviour is a function of its arguments and
   its source's data (no state carried on the instance from one call to the
   next; checked between ``sample`` calls, see above), as for the real sampler and
   every mutant in :mod:`verify.mutants`.
2. **Memoised residual loops, shared across proposals.** Residual steps go
   through the same point. Their inputs (a
   :class:`~samplers.autospec.ResidualCall`) include the rejected proposal ``x``
   and ``log nu_S(x)``, which the real loop does not read; they are passed as
   read-detecting stand-ins
   (:class:`_Watched`: shape and indexing are free, any use of the values is
   recorded). If no execution of the loop's enumeration read them, the loop behaved
   identically for every proposal and its law is shared by all the rejected
   proposals of that block call; otherwise (a mutant that uses the proposal) the law
   is enumerated again for each proposal.
3. **Lumped rejected trials.** The residual loop of
   :class:`~samplers.autospec.AutospeculativeSampler` calls
   ``memo.batch_rejected()`` right after a batch whose trials it saw all rejected
   (the outcome as the loop received it, whatever source wrapper drew it). The
   enumeration does not branch on the rejected trials' values there: all such
   paths of one residual step are parked and merged into one continuation
   carrying their total weight (in a residual step, the all-False outcome of a
   coin is explored on its own path, so that the loop can park it). *Assumption
   (R)*: a rejected batch leaves no trace on the loop's later behaviour, which is
   the contract of ``batch_rejected``. The loop code discards rejected trials;
   (R) holds as long as the steps it calls keep no state of their own across
   batches (true of every mutant in :mod:`verify.mutants`; a strategy replacing
   the loop with its own code draws branching coins unless it reports rejected
   batches itself).
4. **Geometric closure.** The continuation is enumerated one residual step at a
   time. When a step's relative law (accepted outputs and their weights relative to
   the step's entry weight, continuation probability) equals, to 1e-9 (exactly in
   rational mode), that of ``m`` iid copies of the previous step's trials under
   first-accepted-wins (``r = r_prev**m``, ``rel = rel_prev (1 - r_prev**m) / (1 -
   r_prev)``), the rest of the loop is summed as a geometric series (DESIGN 6.1):
   under (R) every later trial has the law of those trials. Otherwise steps continue
   until the continuation weight falls below ``tol`` (truncated, rigorous).

The sampler is run with ``lookahead_rows = 0`` (one residual batch per step; the
law does not depend on it). For every sampler, repeated oracle queries are answered
from a cache (:class:`_CachedOracle`; the oracle must be deterministic, which the
re-execution assumes anyway).

Limits (measured on one core of the 2-core machine, the other core busy;
``random_table(n, q, rng=n)``, ``benchmarks/exact_law.py``)
-------------------------------------------------------------------------------
``q**n = 1024`` cells, ``order="identity"``:

* Sequential sampler (n = 10, q = 2): 1,024 executions, 0.3 s, TV 1.8e-16.
* AGR24 (categorical draws only; every guess pattern is a separate path; n = 10):
  ``k = 2``: 7,776 executions, 14 s, TV 1.9e-16; default ``k = 3`` at ``tol =
  1e-13``: 61,000 executions, 97 s, TV 3.3e-11 with 6.7e-11 mass cut.
* Autospeculative (default rho): n = 10, q = 2: 328,000 executions, 82 s, TV
  6.3e-16, no mass cut, 463 loops closed; n = 5, q = 4: 280,000 executions, 63 s,
  TV 9.3e-13 with 1.9e-12 mass cut.

The autospeculative cost is driven by the widest residual batch enumerated before
the loop closes: all ``(q**|S|)**width`` joint trial outcomes of a batch are paths.
With ``n <= 2`` the default ``rho = 1`` makes the second batch two trials wide: n = 2
is feasible up to q = 16 (256 cells: 167,000 executions, 78 s), not q = 32. Random
orders multiply the paths by up to ``n!``: the autospeculative sampler in random
order takes 726 executions / 0.3 s at n = 3, 6,700 / 2 s at n = 4 and 72,000 /
16 s at n = 5.
``max_paths`` bounds the work (replays included) and raises ``RuntimeError`` when
exceeded. Execution counts exclude the replay check's re-runs (``replays``: about
``log2`` of each search's size, plus 7); with the refusal checks the
``benchmarks/exact_law.py --quick`` cases took 1.07-1.39x their earlier time (same
executions and TV; old and new code alternated in one process, best of two).
Going through the public seams (``memo``, ``steps``) instead of frame inspection,
the autospeculative ``--quick`` cases (n = 8, q = 2; n = 4, q = 4; n = 4 in random
order) take 1.13x, 1.04x and 1.12x the CPU time of the earlier code (same
executions, closures, replays and TV; interleaved in one process, best of three).

Exact rational law
------------------
With ``rational=True`` (default: on for ``n <= 4, q = 2``; ``q**n <= 16, n <= 4``
required) the enumeration is repeated in :class:`fractions.Fraction` arithmetic, on
numbers known exactly only (:mod:`verify.exact_law.rational`). The target must
declare its exact weights (``target.rational_weights``, integers or fractions,
checked against its pmf to 1e-12:
:attr:`~distributions.table.TableDistribution.rational_weights` is set for a table
built from integer-valued weights, or from log weights all equal where finite).
From them the candidates are computed exactly: the conditional rows given every
partial assignment, AGR24's race-coupling rows, and the coins ``min(1, r)``,
``(1 - 1/r)_+`` for ``r = mu_S/nu_S`` and ``nu_S/mu_S`` over every order, block and
context. Each float the sampler hands over is identified with the candidate within
``1e-12``, and only when all candidates that close are the same number. A target
declaring no weights (irrational ones, e.g. ``exp(-0.7 k / 3)``, or a Dirichlet
table) or a draw matching no candidate (a tempered or otherwise foreign row or coin)
gives ``rational_pmf = rational_tv = None`` and a ``note`` saying why; the float
results are unaffected. The rational law is the exact law of the sampler whose
every draw is the candidate its float stands for (a float within ``1e-12`` of a
candidate is read as it; the float ``tv`` shows a deviation that small): for the
exact samplers on a declared integer-weight table it equals the target, ``rational_tv
== 0``.

Exact law over irrational weights
---------------------------------
With ``exact=ExactWeights(scale, exponent)`` (weights ``c(x) exp(r(x))``, rationals;
:func:`ising_weights` for an Ising table with rational couplings, field and
``beta``) the enumeration is repeated in the field ``Q(z)``, ``z = exp(1/D)``
(:mod:`verify.exact_law.exact`): ``exact_pmf`` and ``exact_diff`` (law minus target,
sympy expressions in ``exp(1/D)``; ``exact_zero``). Each float the sampler hands
over is identified with the unique exact candidate within ``1e-12`` (the target's
conditional rows; the speculative coins ``min(1, mu_S/nu_S)`` and
``(1 - nu_S/mu_S)_+`` over every order, block and context), or there is no exact law
(``note``). ``q**n <= 16``. ``Fraction`` stays the fast path for rational weights.
"""

from __future__ import annotations

from verify.exact_law.exact import ExactWeights, ising_weights
from verify.exact_law.law import exact_law
from verify.exact_law.result import EXACT_TV, ExactLawResult
from verify.exact_law.source import EnumeratingSource

__all__ = ["ExactLawResult", "EnumeratingSource", "ExactWeights", "exact_law", "EXACT_TV",
           "ising_weights"]
