"""A failure budget: backend failures are unscored verdicts, bugs propagate, ``--max-unscored`` stops a run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from llm_judge_helpers import FaultServer
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.errors import JudgeBackendError, TooManyUnscored
from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.judging import FailureBudget, is_backend_error, judge_triples
from rlvr_bench.pipelines.agreement import agreement
from rlvr_bench.records import Verdict
from rlvr_bench.training.rewards import JudgeReward

runner = CliRunner()


class _Raising(BaseJudge):
    def __init__(self, exc: BaseException) -> None:
        super().__init__(JudgeSpec("raising", "test"))
        self.exc = exc

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        raise self.exc


@pytest.mark.parametrize("exc", [KeyError("reference"), TypeError("bad operand"), AttributeError("x"),
                                 ZeroDivisionError("division by zero")])
def test_a_programming_error_in_a_judge_fails_the_command(exc: BaseException, tmp_path: Path) -> None:
    with pytest.raises(type(exc)):
        agreement(judges=["exact", _Raising(exc)], out=tmp_path / "run", n_bootstrap=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("exc", [TimeoutError("read timed out"), ConnectionResetError("reset by peer"),
                                 MemoryError(), JudgeBackendError("unreadable reply"),
                                 RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")])
def test_a_backend_failure_becomes_unscored_verdicts_with_the_reason(exc: BaseException) -> None:
    assert is_backend_error(exc)
    verdicts = judge_triples(_Raising(exc), [Triple("q", "r", "a")] * 3, cache=None)
    assert all(v.passed is None and v.failed and type(exc).__name__ in (v.error or "") for v in verdicts)


def test_abstentions_do_not_spend_the_budget() -> None:
    budget = FailureBudget(0.1)
    budget.plan("numeric", 4)
    budget.record("numeric", [Verdict.not_applicable("reference has no number")] * 4)
    assert budget.fraction("numeric") == 0.0


def test_a_planned_budget_stops_as_soon_as_the_limit_cannot_be_met() -> None:
    budget = FailureBudget(0.2)
    budget.plan("j", 10)
    budget.record("j", [Verdict(None, error="timeout")] * 2)  # 2 of 10 planned: still allowed
    with pytest.raises(TooManyUnscored, match=r"'j' failed on 3 of 10 triples \(30%\).*--max-unscored 0.2"):
        budget.record("j", [Verdict(None, error="timeout")])


def test_a_training_reward_stops_on_the_running_fraction() -> None:
    class HalfFail(BaseJudge):
        def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
            return [Verdict(None, error="timeout") if i % 2 else Verdict(True) for i in range(len(triples))]

    reward = JudgeReward(HalfFail(JudgeSpec("half", "test")), budget=FailureBudget(0.3, min_verdicts=16))
    columns = {"item_id": ["a"] * 8, "question": ["q"] * 8, "reference": ["r"] * 8}
    reward(["p"] * 8, ["x"] * 8, **columns)  # 8 verdicts: under min_verdicts, training goes on
    with pytest.raises(TooManyUnscored, match="'half' failed on 8 of 16"):
        reward(["p"] * 8, ["x"] * 8, **columns)


def _http_preset(tmp_path: Path, base_url: str) -> Path:
    preset = tmp_path / "flaky.yaml"
    preset.write_text(yaml.safe_dump({"backend": "openai", "params": {
        "model": "stub", "base_url": base_url, "api_key_required": False, "prompt": "verifier", "logprobs": True,
        "top_logprobs": 20, "concurrency": 32, "timeout_s": 2.0, "max_retries": 0}}), encoding="utf-8")
    return preset


@pytest.mark.parametrize(("max_unscored", "completes"), [(0.2, False), (0.5, True)])
def test_a_judge_that_times_out_on_30_percent_of_triples(tmp_path: Path, max_unscored: float,
                                                         completes: bool) -> None:
    """A real OpenAI-compatible server on 127.0.0.1 that hangs on 30% of the starter task's requests
    (the judge's timeout is 2 s, the hang 6 s, so a loaded machine's slow answers are not timeouts; no retries)."""
    from rlvr_bench.tasks import load_task

    n = len(load_task("starter").responses)
    hanging = round(0.3 * n)
    with FaultServer(script=["timeout"] * hanging, hang_s=6.0) as server:
        out = tmp_path / "run"
        result = runner.invoke(app, ["agreement", "--judges", f"exact,{_http_preset(tmp_path, server.base_url)}",
                                     "--bootstrap", "0", "--no-cache", "--max-unscored", str(max_unscored),
                                     "--out", str(out)])
    if completes:
        assert result.exit_code == 0, result.stderr
        summary = {row["judge"]: row for row in json.loads((out / "results.json").read_text())["judge_summary"]}
        assert summary["flaky"]["n_unscored"] == hanging
    else:
        assert result.exit_code == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("judging ")]
        assert len(lines) == 1 and "error: judge 'flaky' failed on" in lines[0] and "--max-unscored 0.2" in lines[0]
        assert "timeout" in lines[0]
        assert not out.exists()


def test_scored_verdicts_with_a_warning_are_counted(tmp_path: Path) -> None:
    class LowMass(BaseJudge):
        def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
            return [Verdict(True, 0.6, error="low verdict mass: YES and NO hold 0.2 of the probability")
                    if i % 2 else Verdict(False, 0.1) for i in range(len(triples))]

    result = agreement(judges=["exact", LowMass(JudgeSpec("low", "test"))], n_bootstrap=0, write=False)
    low = next(row for row in result.results["judge_summary"] if row["judge"] == "low")
    assert low["n_unscored"] == 0 and low["n_scored_with_warning"] == low["n"] // 2
    assert low["warning_reasons"] == {"low verdict mass": low["n"] // 2}


def test_the_share_of_low_mass_verdicts_has_a_question_bootstrap_ci() -> None:
    """Flagged share over scored verdicts, its CI against a plain loop over the same resamples of
    questions, the flagged median mass, the printed line; none for a rule judge that records no mass."""
    import numpy as np

    from rlvr_bench.pipelines.agreement import low_mass_warnings
    from rlvr_bench.stats.bootstrap import cluster_weights, percentile_interval

    masses = [0.05, 0.3, None, 0.45, None, None, 0.2]  # None: enough mass, not flagged

    class SomeLowMass(BaseJudge):
        def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
            verdicts = []
            for triple in triples:
                k = sum(map(ord, triple.question + triple.response)) % (len(masses) + 1)
                if k == len(masses):  # unscored: left out of the share
                    verdicts.append(Verdict(None, None, error="unparseable verdict"))
                elif masses[k] is None:
                    verdicts.append(Verdict(True, 0.9))
                else:
                    verdicts.append(Verdict(True, 0.6, error=f"low verdict mass: YES and NO hold {masses[k]:.3g} "
                                                             "of the probability (less than low_verdict_mass=0.5)"))
            return verdicts

    result = agreement(judges=["exact", SomeLowMass(JudgeSpec("some", "test"))], n_bootstrap=300, seed=3,
                       max_unscored=0.5, write=False)
    rows = {row["judge"]: row for row in result.results["judge_summary"]}
    assert rows["exact"]["low_verdict_mass"] is None
    low = rows["some"]["low_verdict_mass"]
    matrix, column = result.matrix, result.matrix.judges.index("some")
    verdicts = {j.response_id: j.verdict for j in result.judgments if j.judge == "some"}
    flagged = np.array([bool(verdicts[r.id].error and verdicts[r.id].passed is not None
                             and verdicts[r.id].error.startswith("low")) for r in matrix.responses])
    scored = ~np.isnan(matrix.passed[:, column])
    assert 0 < flagged.sum() < scored.sum() < len(scored)
    assert low["n_flagged"] == flagged.sum() and low["share"]["n"] == scored.sum()
    assert low["share"]["estimate"] == pytest.approx(flagged.sum() / scored.sum())
    flagged_masses = [m for r in matrix.responses if (m := _mass(verdicts[r.id])) is not None]
    assert low["median_flagged_mass"] == pytest.approx(float(np.median(flagged_masses)))
    # reference: each resample's share from the same question weights, question by question
    n_questions = int(matrix.clusters.max()) + 1
    shares = []
    for weights in cluster_weights(n_questions, 300, 3):
        w = weights[matrix.clusters]
        shares.append((w * flagged).sum() / (w * scored).sum())
    ref_low, ref_high = percentile_interval(np.array(shares)[:, None], 0.95)
    assert (low["share"]["ci_low"], low["share"]["ci_high"]) == pytest.approx((ref_low[0], ref_high[0]))
    assert low["share"]["ci_low"] < low["share"]["estimate"] < low["share"]["ci_high"]
    [line] = low_mass_warnings(result.results["judge_summary"])
    assert line.startswith(f"judge 'some': {flagged.sum()} of {scored.sum()} scored verdicts have low verdict mass")


def _mass(verdict: Verdict) -> float | None:
    from rlvr_bench.judges.verdict_parsing import verdict_mass_from_error

    return verdict_mass_from_error(verdict) if verdict.passed is not None else None
