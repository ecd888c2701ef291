"""The martingale family of :func:`~verify.chain_tests.chain_test` (``family="martingale"``).

The scores of :mod:`verify.chain_tests.scores` are, under the null, jointly iid
N(0, 1), so every fixed function of them has a known law and needs no simulation.
They are split into disjoint blocks (:func:`~verify.chain_tests.layout.score_blocks`),
each with an exactly uniform p-value:

* ``early-directed[steps 1-E]`` (a target with a common factor, ``q = 2``;
  :mod:`verify.chain_tests.direction`): ``W_dir = c^T W_E``, one fixed unit vector
  ``c`` (from the reveal order and the oracle's exact one- and two-site marginals)
  over the first ``E`` steps' intercept scores: exactly N(0, 1), two-sided. A global
  deviation (wrong mixture weights, a shifted magnetisation) moves the first reveals'
  scores along ``c``, before the revealed values pin the conditional laws down;
* ``early[steps a-b]`` (a product target, or ``q > 2``, in place of the directed
  block): the sum of squares of the intercept scores of the first steps in
  geometric groups (1, 2, 3-4, 5-8, 9-16): exactly chi-square;
* ``site-max``: Sidak on the largest ``|W|`` of the other intercept scores
  (one-site tests; with a directed block, the first ``E`` steps' scores after the
  Householder reflection that takes ``W_dir`` out: exactly iid N(0, 1) and
  independent of it, :func:`~verify.chain_tests.direction.reflect`);
* ``pair-max``: Sidak on the largest ``|W|`` of the pair-column scores (two-site
  tests), padded to the number of scores had no column been dropped: the largest
  ``|W|`` of ``K`` independent N(0, 1) dummies is drawn from its law (``ndtri((1 +
  U**(1/K)) / 2)``), which keeps the count fixed and the p-value exact;
* ``sharp``: the sum of the sharpness scores (tempered or sharpened samplers move
  them all the same way), dropped ones replaced by an independent N(0, #dropped)
  draw, divided by the root of their number: exactly N(0, 1).

The family p-value is their **weighted Sidak** combination ``1 - prod_b (1 -
min(1, w_b T))`` at ``T = min_b p_b / w_b`` (weights
:data:`~verify.chain_tests.layout.SCORE_SHARES`): the blocks use disjoint scores (or
orthogonal projections of them), so
their p-values are independent and exactly uniform, and so is this one. One
statistic, exactly calibrated at every level, whatever the dependence of the
target's coordinates, with no null simulation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special, stats

from samplers.oracle import CountingOracle
from verify.chain_tests.combine import holm_reject
from verify.chain_tests.direction import early_direction, reflect
from verify.chain_tests.layout import (
    EARLY_STEPS,
    early_groups,
    score_blocks,
    weighted_sidak,
)
from verify.chain_tests.scores import Scores, martingale_scores
from verify.results import WorstCell


def _two_sided(w: np.ndarray) -> np.ndarray:
    return special.erfc(np.abs(w) / math.sqrt(2.0))


def _sidak_max(w_max: float, size: int) -> float:
    """P(max of ``size`` iid |N(0, 1)| >= ``w_max``)."""
    single = float(special.erfc(w_max / math.sqrt(2.0)))
    if single >= 1.0:
        return 1.0
    return float(-math.expm1(size * math.log1p(-single)))


def _dummy_max(count: int, gen: np.random.Generator) -> float:
    """The largest ``|Z|`` of ``count`` iid N(0, 1), drawn from its law (one uniform)."""
    if count <= 0:
        return 0.0
    tail = -math.expm1(math.log(gen.random() or 1e-300) / count)  # 1 - U**(1/count)
    return float(-special.ndtri(max(tail, 1e-300) / 2.0))


def martingale_family(
    x: np.ndarray, co: CountingOracle, sites: np.ndarray, alpha: float,
    gen: np.random.Generator, single: np.ndarray,
) -> dict[str, Any]:
    """Every block of the martingale family on ``x``: p-values, worst scores, notes.

    ``single``: the oracle's exact one-site marginals (n, q), for the directed block.
    """
    N, n = x.shape
    q = co.q
    k = q - 1
    order = gen.permutation(n)
    dirn = early_direction(co, order, single)  # fixed before the data are looked at
    sc: Scores = martingale_scores(x, co, sites, gen, order)
    blocks = score_blocks(n, q, sc.pair_max, dirn.steps if dirn else 0)
    pvals: dict[str, float] = {}
    site_scores = sc.intercept.copy()  # the one-site scores, in step order
    if dirn is not None:
        w_dir, rest = reflect(sc.intercept[: dirn.steps], dirn.c)
        pvals[blocks[0][0]] = float(_two_sided(np.array([w_dir]))[0])
        late = np.concatenate([rest, sc.intercept[dirn.steps :]])
        site_scores[: dirn.steps] = np.insert(rest, dirn.pivot, w_dir)
    else:
        for (s, e), blk in zip(early_groups(n), blocks, strict=False):
            w = sc.intercept[s * k : e * k]
            pvals[blk[0]] = float(stats.chi2.sf(float(w @ w), w.size))
        late = sc.intercept[EARLY_STEPS * k :]
    if late.size:
        pvals["site-max"] = _sidak_max(float(np.abs(late).max()), late.size)
    if sc.pair_max:
        top = abs(sc.pair_top[0][0]) if sc.pair_top else 0.0
        w_max = max(top, _dummy_max(sc.pair_max - sc.pair_count, gen))
        pvals["pair-max"] = _sidak_max(w_max, sc.pair_max)
    dropped = int(sc.sharp.size - sc.sharp_kept.sum())
    total = float(sc.sharp.sum()) + math.sqrt(dropped) * float(gen.standard_normal())
    pvals["sharp"] = float(special.erfc(abs(total) / math.sqrt(2.0 * sc.sharp.size)))
    names = [b[0] for b in blocks]
    family = weighted_sidak([pvals[b] for b in names], [b[1] for b in blocks])
    if sc.impossible:
        family = 0.0
    # the single scores behind the blocks, for the worst-cell list and Holm's
    # rejections (a report, not the family p-value)
    m_total = sc.intercept.size + sc.pair_max + sc.sharp.size
    labels: list[str] = []
    scores: list[float] = []
    for f, w in enumerate(site_scores):
        i, v = int(sc.order[f // k]), f % k
        labels.append(f"site[{i}]" if q == 2 else f"site[{i}]>{v}")
        scores.append(float(w))
    if dirn is not None:  # the pivot's entry is the directed score
        labels[dirn.pivot] = blocks[0][0]
    for w, col, f in sc.pair_top:
        i, v = int(sc.order[f // k]), f % k
        a, b = int(sc.col_site[col]), int(sc.col_val[col])
        labels.append(f"pair[{a},{i}]" if q == 2 else f"pair[{a}={b},{i}>{v}]")
        scores.append(w)
    raw = _two_sided(np.array(scores))
    padded = np.concatenate([raw, np.ones(m_total - raw.size)])
    reject, adj = holm_reject(padded, alpha)
    order = np.argsort(raw, kind="stable")[:5]
    worst = []
    if sc.impossible:
        worst.append(WorstCell(sc.impossible, None, 1.0, 0.0, math.inf, True))
    worst += [WorstCell(labels[j], None, scores[j], 0.0,
                        float(-math.log10(max(raw[j], 1e-300)))) for j in order]
    notes = []
    if sc.pair_count < sc.pair_max:
        notes.append(
            f"{sc.pair_max - sc.pair_count} of {sc.pair_max} pair scores have a feature "
            "column dropped (collinear with earlier columns: a deterministic site, or "
            "more columns than samples); replaced by independent N(0, 1) dummies so "
            "that the family p-value stays exact")
    if dropped:
        notes.append(f"{dropped} of {sc.sharp.size} sharpness columns dropped (in the span "
                     "of the step's other columns, e.g. a conditional law the same in "
                     "every sample); replaced by an independent N(0, 1) dummy each")
    return {
        "pvalue": family, "pvalues": pvals, "impossible": sc.impossible,
        "worst": tuple(worst), "family_size": m_total,
        "rejected": tuple(labels[j] for j in np.flatnonzero(reject[: raw.size])),
        "bonferroni": float(adj.min()) if adj.size else 1.0, "notes": notes,
        "counts": np.stack([(x == v).sum(axis=0) for v in range(q)], axis=1),
    }
