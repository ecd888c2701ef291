"""The validation run's plumbing: statuses of check records, the one record adapter
(:func:`reports.records.to_record`), the alpha split checked before any work, and the
batch-invariance and diffusion stages (issue 18 items 2, 7 and 14; issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

import reports.validation as V
from distributions.errors import ParameterError
from reports.records import to_record


def test_check_record_status_and_passed_agree():
    """Item 14: ``passed`` is True only for status "pass"; records without a status get
    it from ``passed`` and ``severity``."""
    rec = V.check_record("s", "a", "a", True)
    assert rec["status"] == "pass" and rec["passed"] is True
    assert V.check_record("s", "b", "b", False)["status"] == "fail"
    assert V.check_record("s", "c", "c", False, severity="warning")["status"] == "warn"
    assert V.check_record("s", "d", "d", False, severity="info")["status"] == "warn"
    for st in ("no-power", "skipped", "warn", "fail"):
        rec = V.check_record("s", "e", "e", True, status=st)
        assert rec["status"] == st and rec["passed"] is False
    with pytest.raises(ParameterError, match="`status` must be one of"):
        V.check_record("s", "f", "f", True, status="ok")
    assert V.status_counts([V.check_record("s", str(k), "x", False, status=st)
                            for k, st in enumerate(["pass", "warn", "warn", "no-power"])]) == {
        "pass": 1, "fail": 0, "warn": 2, "skipped": 0, "no-power": 1}


def test_exactness_records_carry_the_status_of_check_exact():
    """A test without power at the size used is "no-power", not a pass."""
    from distributions.families import random_table
    from samplers.sequential import SequentialSampler
    from verify import check_exact

    target = random_table(4, 2, rng=0)
    res = check_exact(SequentialSampler(target), target, tv=0.05, alpha=1e-3, num_samples=3,
                      rng=1)
    assert res.status == "no-power" and res.detectable_tv >= 1.0, res
    rec = to_record(res, stage="exactness", cid="x", name="law")
    assert rec["status"] == "no-power" and rec["passed"] is False
    assert rec["id"] == "exactness/x" and rec["num_samples"] == 3 and rec["seed"] == 1


def test_to_record_takes_every_protocol_field_and_lets_the_caller_override():
    """The one adapter: every field of the result protocol, ``tv_estimate`` and the worst
    cells (at most five, labelled) when the result has them, plain Python types; extra
    fields override and ``None`` leaves a field out."""
    import json

    from distributions.families import random_table
    from samplers.sequential import SequentialSampler
    from verify import check_exact
    from verify.results import CheckResult

    target = random_table(4, 2, rng=0)
    res = check_exact(SequentialSampler(target), target, tv=0.2, alpha=1e-3, rng=7)
    assert isinstance(res, CheckResult)
    rec = to_record(res, stage="s", cid="c", name="n", sampler="sequential",
                    detectable_tv=None, extra={"k": 1})
    for key in ("method", "statistic", "pvalue", "alpha", "num_samples", "seed",
                "tv_estimate"):
        assert rec[key] == getattr(res, key), key
    assert "detectable_tv" not in rec and rec["sampler"] == "sequential"
    assert rec["extra"] == {"k": 1} and rec["status"] == res.status
    cells = rec["worst_cells"]
    assert 1 <= len(cells) <= 5 and cells[0]["cell"] == res.worst_cells[0].label
    assert json.loads(json.dumps(rec)) == rec  # plain types only
    assert to_record(res, stage="s", cid="c", name="n", id="node#1")["id"] == "node#1"


def test_alpha_split_is_checked_before_any_stage_runs():
    """Item 7: an alpha the run's tests cannot use is refused before any work."""
    ran = []

    def stage(ctx):
        ran.append(ctx.alpha)
        return V.StageOutput()

    def stat(k):
        return V.Stage(f"s{k}", "stage", stage, num_checks=lambda cfg, k=k: k)

    stages = [stat(10), stat(20), V.Stage("plain", "plain", stage, statistical=False)]
    floor = V.min_check_alpha()
    per = V.check_alpha(V.ValidationConfig(alpha=1e-2), stages)
    assert per == pytest.approx({"s10": 1e-2 / 2 / 10, "s20": 1e-2 / 2 / 20})
    low = floor * 2 * 20
    V.check_alpha(V.ValidationConfig(alpha=low * (1 + 1e-9)), stages)
    for bad in (low * 0.99, 0.0, -0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ParameterError, match="`alpha` must be"):
            V.run_validation(V.ValidationConfig(alpha=bad), stages=stages)
    with pytest.raises(ParameterError, match="`seed` must be an integer >= 0; got -1."):
        V.run_validation(V.ValidationConfig(alpha=1e-2, seed=-1), stages=stages)
    assert ran == []
    V.run_validation(V.ValidationConfig(alpha=1e-2), stages=stages)
    assert ran == pytest.approx([1e-2 / 2, 1e-2 / 2, 1e-2])


def test_default_runs_accept_the_default_alpha_and_refuse_a_too_small_one():
    for quick in (True, False):
        cfg = V.ValidationConfig(quick=quick)
        V.check_alpha(cfg, V.available_stages(cfg))
        with pytest.raises(ParameterError, match="resolution of a Monte Carlo p-value"):
            V.check_alpha(V.ValidationConfig(quick=quick, alpha=1e-4),
                          V.available_stages(cfg))


def test_the_smallest_alpha_the_error_prints_is_accepted():
    """The message's figure is rounded up (3 significant digits), so typing it back
    works: the quick run's floor 8.715e-4 is printed as 0.000872, not 0.000871."""
    cfg = V.ValidationConfig(quick=True)
    with pytest.raises(ParameterError) as err:
        V.check_alpha(V.ValidationConfig(quick=True, alpha=1e-4), V.available_stages(cfg))
    shown = float(str(err.value).split("must be >= ")[1].split(" ")[0])
    V.check_alpha(V.ValidationConfig(quick=True, alpha=shown), V.available_stages(cfg))
    with pytest.raises(ParameterError, match=f"got {shown * 0.999!r}"):
        V.check_alpha(V.ValidationConfig(quick=True, alpha=shown * 0.999),
                      V.available_stages(cfg))


def _run_batch_stage(monkeypatch, make):
    """The batch-invariance stage alone, on the sequential slot, with ``make(target)``
    as the sampler; returns its one check record."""
    from reports.validation import batch_invariance

    monkeypatch.setattr(batch_invariance, "make_sampler", lambda name, oracle: make(oracle))
    cfg = V.ValidationConfig(quick=True, seed=20261202, samplers=("sequential",),
                             stages=("batch-invariance",))
    checks, sections, _ = V.run_validation(cfg)
    assert [s["id"] for s in sections] == ["batch-invariance"]
    assert len(checks) == 1
    return checks[0]


def test_batch_invariance_stage_passes_a_correct_sampler_and_fails_a_batch_dependent_one(
        monkeypatch):
    """Item 2 (validation side): the law at batch size 1 is compared with the law at the
    production size. alpha = 1e-3 (the run's whole alpha: one stage, one check); the
    wrong sampler sets x_0 = 0 in 30% of the rows only in calls of more than one row
    (TV = 0.3 P(x_0 = 1) = 0.12 > the planned detectable TV 0.1)."""

    def correct(target):
        return lambda num, rng: target.sample(num, rng=rng)

    def batch_dependent(target):
        def draw(num, rng):
            gen = np.random.default_rng(rng)
            x = target.sample(num, rng=gen)
            if num > 1:
                x[gen.random(num) < 0.3, 0] = 0
            return x
        return draw

    good = _run_batch_stage(monkeypatch, correct)
    msg = (f"p={good.get('pvalue')}, N={good.get('num_samples')} per batch size, "
           f"seed={good.get('seed')}, alpha={good.get('alpha')}: {good.get('detail')}")
    assert good["status"] == "pass" and good["passed"], msg
    assert good["extra"]["batch_sizes"][0] == 1 and good["extra"]["batch_sizes"][1] >= 2**17
    assert good["alpha"] == pytest.approx(1e-3) and good["detectable_tv"] <= 0.1 + 1e-9
    bad = _run_batch_stage(monkeypatch, batch_dependent)
    msg = (f"p={bad.get('pvalue')}, N={bad.get('num_samples')} per batch size, "
           f"seed={bad.get('seed')}, alpha={bad.get('alpha')}: {bad.get('detail')}")
    assert bad["status"] == "fail" and bad["pvalue"] <= bad["alpha"], msg


def test_batch_invariance_is_a_stage_of_the_run():
    names = [s.name for s in V.available_stages(V.ValidationConfig())]
    assert names[:2] == ["exactness", "batch-invariance"]


@pytest.mark.parametrize("kwargs, message", [
    ({"samplers": []}, "`samplers` must be a non-empty sequence"),
    ({"samplers": "agr24"}, "`samplers` must be a non-empty sequence"),
    ({"samplers": ["sequential"]}, "`samplers` must be among autospeculative, agr24"),
    ({"samplers": ["agr24"], "num": 0}, "`num` must be an integer >= 2; got 0."),
    ({"samplers": ["agr24"], "num": 1}, "`num` must be an integer >= 2; got 1."),
    ({"samplers": ["agr24"], "seed": -1}, "`seed` must be an integer >= 0; got -1."),
])
def test_rounds_scaling_refuses_bad_arguments_before_any_work(kwargs, message, monkeypatch):
    """Item 8: ``rounds --num 0`` raised a numpy error after the run started."""
    from verify import rounds

    monkeypatch.setattr(rounds, "make_sampler", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rounds.rounds_scaling(**kwargs)


def test_diffusion_records_keep_the_status_resolution_and_notes_of_the_check(monkeypatch):
    """A diffusion check without power is recorded as "no-power" (not "fail", not a
    pass), with its p-value resolution and notes (item 14; item 16's report side)."""
    from types import SimpleNamespace

    from reports.validation import diffusion

    def fake(*args, **kwargs):
        return SimpleNamespace(
            passed=False, status="no-power", statistic=0.0, pvalue=1.0, num_samples=7,
            num_steps=9, alpha=kwargs["alpha"], seed=kwargs["rng"], method="fake",
            detectable_tv=1.0, pvalue_resolution=0.25, notes=("a note on ties",),
            detectable_mahalanobis_shift=float("inf"), detectable_ks_distance=1.0,
            detectable_mean_shift=float("inf"), observed_rate=0.5, predicted_rate=0.5,
            detectable_rate_shift=1.0)

    for name in ("check_gaussian_chain", "check_same_law", "check_speculative_acceptance"):
        monkeypatch.setattr(diffusion, name, fake)
    checks, _, _ = V.run_validation(V.ValidationConfig(quick=True, stages=("diffusion",)))
    assert checks and all(c["status"] == "no-power" and c["passed"] is False for c in checks)
    assert all(c["extra"]["pvalue_resolution"] == 0.25 and "a note on ties" in c["detail"]
               for c in checks)


def test_rounds_records_are_informational_and_name_the_fit():
    """The rounds stage's records come from the typed result of rounds_scaling through
    to_record: a sampler whose increment test does not show sublinear growth is a
    warning, not a failure; a maximum above the sequential n is flagged; the section
    carries the points (mean with interval, median, p99, max), the fit and the figure."""
    from verify.rounds import rounds_scaling

    res = rounds_scaling(["agr24"], quick=True, seed=3, num=4)
    out = V.rounds_output(res)
    rec, top = out.checks
    assert rec["id"] == "rounds/agr24/sublinear" and rec["severity"] == "info"
    assert rec["status"] == ("pass" if res.samplers[0].passed else "warn")
    assert "pvalue" not in rec and "alpha" not in rec and rec["num_samples"] == 4
    assert "fit rounds ~" in rec["detail"] and "per doubling of n (2 = linear" in rec["detail"]
    assert top["id"] == "rounds/agr24/max-within-sequential"
    assert top["status"] == ("warn" if res.samplers[0].exceeds_sequential_at else "pass")
    (sec,) = out.sections
    table = sec["tables"][0]
    assert len(table["rows"]) == len(res.ns)
    for col in ("95% interval", "median", "p99", "max rounds", "max > n"):
        assert col in table["columns"]
    assert sec["figures"][0]["series"][1]["y"] == [p.mean_rounds for p in res.samplers[0].points]
    failing = type(res.samplers[0])(**{**vars(res.samplers[0]), "passed": False, "status": ""})
    bad = V.rounds_output(type(res)(**{**vars(res), "samplers": (failing,)}))
    assert bad.checks[0]["status"] == "warn" and bad.checks[0]["passed"] is False
    over = type(res.samplers[0])(**{**vars(res.samplers[0]), "exceeds_sequential_at": (8,)})
    flagged = V.rounds_output(type(res)(**{**vars(res), "samplers": (over,)}))
    assert flagged.checks[1]["status"] == "warn" and "exceed n at n = 8" in \
        flagged.checks[1]["detail"]


def test_user_model_stage_is_registered_with_its_alpha_share():
    names = [s.name for s in V.available_stages(V.ValidationConfig())]
    assert names[-1] == "user-model"
    per = V.check_alpha(V.ValidationConfig(quick=True), V.available_stages(V.ValidationConfig()))
    assert per["user-model"] >= 1e-5 and per["exactness"] >= 1e-5, per


@pytest.mark.slow
def test_user_model_stage_passes_and_reports_floor_inconsistency_and_mutant():
    """Quick user-model stage alone (about 5-10 s): contract at float32, precision floor,
    inconsistency TV with its interval, three samplers exact relative to the model, the
    mutant caught."""
    cfg = V.ValidationConfig(quick=True, seed=20261202, stages=("user-model",))
    checks, sections, _ = V.run_validation(cfg)
    by = {c["id"]: c for c in checks}
    assert [s["id"] for s in sections] == ["user-model"]
    assert all(c["status"] == "pass" for c in checks), [(c["id"], c.get("detail"))
                                                        for c in checks]
    assert by["user-model/contract"]["extra"]["dtype"] == "float32"
    floor = by["user-model/precision-floor"]["extra"]
    assert 0 < floor["measured"] <= floor["bound"] < 1e-5, floor
    inc = by["user-model/inconsistency"]
    assert inc["statistic"] > 0.01 and inc["extra"]["tv_lower"] <= inc["statistic"]
    for s in ("sequential", "autospeculative", "agr24"):
        rec = by[f"user-model/exact-relative/{s}"]
        assert rec["method"] == "order-conditional" and rec["detectable_tv"] <= 0.1, rec
    assert by["user-model/mutant"]["pvalue"] <= by["user-model/mutant"]["alpha"]
