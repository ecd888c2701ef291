"""Stage ``user-model``: a trained masked model as a user's own oracle (issue 12).

The project trains a small masked MLP in float32 (:func:`distributions.trained.
train_masked_mlp`) on exact samples of an 8-spin Ising ring with a frustrated chord and
a field (the model of ``examples/trained_masked_model.py``; the quick run trains it for
fewer steps). Its conditionals come from no single joint law. The stage records:

* ``contract``: its raw float32 answers on random contexts pass the dtype-aware
  contract of :class:`samplers.oracle.CountingOracle` (the float32 tolerance);
* ``precision-floor``: :func:`verify.precision.precision_floor` (bound from the rows seen
  and the measured raw-vs-renormalised TV); a warning if the stage's ``tv`` is below it;
* ``inconsistency``: the exact TV between its chain-rule laws along the identity and the
  reverse order (:func:`verify.exact_law` with ``reference=``), with the interval the
  enumeration proves -- a figure about the model, not a failure of it;
* ``exact-relative/<sampler>``: the sequential, autospeculative and AGR24 samplers tested
  relative to the model by :func:`verify.order_conditional_test` (via
  ``check_exact(method="order-conditional")``) at TV 0.1 (quick) or 0.05, power 0.99,
  the stage's alpha split over these three checks (the stage has a share of 0.15 of the
  run's alpha, see :mod:`reports.validation.run`); the two-sample closeness test against
  the sequential sampler is in ``examples/test_trained_model.py`` and the tests;
* ``mutant``: a wrong sampler (``wrong-first-stage-ratio``) at the same size and level
  must be caught (a warning if not; it cannot false-fail, so it takes no alpha).
"""

from __future__ import annotations

import time

import numpy as np

from distributions import ising
from distributions.base import MASK
from distributions.errors import OracleError
from distributions.table import TableDistribution
from distributions.trained import TrainedMaskedModel, train_masked_mlp
from reports.records import check_record, to_record
from reports.validation.config import StageContext, StageOutput, ValidationConfig
from samplers import AGR24Sampler, AutospeculativeSampler, SequentialSampler
from samplers.arrays import tolerance
from samplers.oracle import CountingOracle
from verify import check_exact, exact_law
from verify.mutants import MUTANTS
from verify.precision import precision_floor

__all__ = ["stage_user_model", "user_model_checks", "user_model_target", "train_user_model"]

N = 8
SEED = 20261202
#: Training of the shipped example (full run) and the shorter quick-run training.
TRAINING = {"num_samples": 50000, "steps": 10000, "batch": 256, "hidden": 64,
            "learning_rate": 3e-3}
QUICK_TRAINING = {**TRAINING, "num_samples": 10000, "steps": 1500}
SAMPLERS = {"sequential": SequentialSampler, "autospeculative": AutospeculativeSampler,
            "agr24": AGR24Sampler}
MUTANT = "wrong-first-stage-ratio"


def user_model_target() -> TableDistribution:
    """The 8-spin Ising ring with a chord 0-4 and a field (the training target)."""
    J = np.zeros((N, N))
    for i in range(N):
        J[i, (i + 1) % N] = J[(i + 1) % N, i] = 0.8
    J[0, 4] = J[4, 0] = -0.5
    return ising(J, np.linspace(-0.3, 0.3, N))


def train_user_model(quick: bool) -> TrainedMaskedModel:
    """The trained model answering raw float32 rows (deterministic from :data:`SEED`)."""
    kw = QUICK_TRAINING if quick else TRAINING
    return train_masked_mlp(user_model_target(), rng=SEED, **kw).with_renormalize(False)


def _tv(cfg: ValidationConfig) -> float:
    return 0.1 if cfg.quick else 0.05


def user_model_checks(cfg: ValidationConfig) -> list[str]:
    """The checks of correct samplers (the stage's alpha is split over them)."""
    return [f"exact-relative/{s}" for s in SAMPLERS]


def _contract(model: TrainedMaskedModel, gen: np.random.Generator) -> dict:
    x = gen.integers(0, model.q, (256, model.n))
    x = np.where(gen.random((256, model.n)) < gen.random((256, 1)), MASK, x)
    out = model.conditionals(x)
    guard = CountingOracle(model, validate=True)
    tol = tolerance(float(np.finfo(out.dtype).eps), model.q)
    masked = x == MASK
    defect = float(np.abs(out.astype(np.float64).sum(axis=-1) - 1.0)[masked].max())
    try:
        guard.check_answer(out, x)
    except OracleError as exc:
        return check_record("user-model", "contract", "contract at the model's dtype", False,
                            target="trained-mlp", detail=str(exc))
    return check_record(
        "user-model", "contract", "contract at the model's dtype", True, target="trained-mlp",
        method="contract", statistic=defect,
        detail=(f"256 random contexts answered in {out.dtype}: every rule holds; largest "
                f"row-sum defect {defect:.3g} within the {out.dtype} tolerance {tol:.3g}"),
        extra={"dtype": str(out.dtype), "tolerance": tol, "max_sum_defect": defect})


def stage_user_model(ctx: StageContext) -> StageOutput:
    """Run the user-model stage (see the module docstring)."""
    cfg = ctx.config
    out = StageOutput()
    tv = _tv(cfg)
    checks = [*user_model_checks(cfg), "mutant"]
    alpha = ctx.alpha / len(user_model_checks(cfg))
    bar = ctx.progress(len(checks) + 4, "user model")
    t0 = time.perf_counter()
    model = train_user_model(cfg.quick)
    train_secs = time.perf_counter() - t0
    bar.update()
    out.checks.append(_contract(model, np.random.default_rng(ctx.seed_int(0))))
    bar.update()
    fl = precision_floor(model, tv=tv)
    out.checks.append(check_record(
        "user-model", "precision-floor", "precision floor below the tested TV",
        fl.status == "pass", severity="error" if fl.status == "pass" else "warning",
        target="trained-mlp", method="precision-floor", statistic=fl.floor,
        detail=(f"{fl.dtype} rows: chain-rule-law TV from rounding <= {fl.bound:.3g} (bound "
                f"from {fl.rows_seen} rows, largest L1 row error {fl.max_row_error:.3g}); "
                f"measured raw vs float64-renormalised rows {fl.measured:.3g} over orders "
                f"{', '.join(fl.orders)}; tested TV {tv:g}"),
        extra={"bound": fl.bound, "measured": fl.measured, "max_row_error": fl.max_row_error,
               "dtype": fl.dtype}))
    bar.update()
    inc = exact_law(lambda o: SequentialSampler(o, order="identity"), model,
                    reference=lambda o: SequentialSampler(o, order=np.arange(N)[::-1].copy()))
    out.checks.append(check_record(
        "user-model", "inconsistency", "inconsistency of the model (a figure)", True,
        target="trained-mlp", method="enumeration", statistic=inc.tv, tv_estimate=inc.tv,
        detail=(f"TV between its chain-rule laws along the identity and the reverse order "
                f"= {inc.tv:.4g}, in [{inc.tv_lower:.4g}, {inc.tv_upper:.4g}] (exact "
                "enumeration): the model has no single joint law, so the samplers are "
                "tested relative to its own chain rule"),
        extra={"tv_lower": inc.tv_lower, "tv_upper": inc.tv_upper}))
    bar.update()
    rows = []
    for k, name in enumerate(checks):
        seed = ctx.seed_int(k + 1)
        kind, _, sname = name.partition("/")
        t1 = time.perf_counter()
        if kind == "mutant":
            r = check_exact(MUTANTS[MUTANT](model), model, method="order-conditional", tv=tv,
                            alpha=alpha, rng=seed, executor=ctx.executor)
            caught = r.status == "fail"
            out.checks.append(check_record(
                "user-model", name, "a wrong sampler is caught", caught,
                severity="error" if caught else "warning", sampler=MUTANT,
                target="trained-mlp", method=r.method, statistic=r.statistic, pvalue=r.pvalue,
                alpha=alpha, num_samples=r.num_samples, detectable_tv=r.detectable_tv,
                seed=seed, detail=f"{'caught' if caught else 'NOT caught'}: p = {r.pvalue:.3g}"))
        else:
            r = check_exact(SAMPLERS[sname](model), model, method="order-conditional", tv=tv,
                            alpha=alpha, rng=seed, executor=ctx.executor)
            out.checks.append(to_record(
                r, stage="user-model", cid=name, name="exact relative to the model",
                sampler=sname, target="trained-mlp", seed=seed, detail=r.reference))
        rows.append([name, r.method, r.num_samples, r.pvalue, r.detectable_tv, r.status,
                     round(time.perf_counter() - t1, 3)])
        bar.update()
    bar.close()
    out.sections.append({
        "id": "user-model", "title": "A trained model as the user's oracle",
        "text": (f"A masked MLP trained in float32 by the project "
                 f"({QUICK_TRAINING['steps'] if cfg.quick else TRAINING['steps']} Adam steps, "
                 f"{train_secs:.1f} s) on an 8-spin Ising ring answers raw float32 rows. Its "
                 f"precision floor is {fl.floor:.3g}; its chain-rule laws of two orders differ "
                 f"by TV {inc.tv:.3g}, so there is no target table: each sampler is tested "
                 "against the model's own sequential chain rule along the orders it reports "
                 "(exactly calibrated for any oracle, consistent or not)."),
        "tables": [{"title": "Samplers relative to the model",
                    "columns": ["check", "method", "samples", "p-value", "detectable TV",
                                "status", "seconds"], "rows": rows}]})
    return out
