"""Judge -> trl reward function: binary and soft rewards, None for failures, agreement, exploration log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from training_fakes import BinaryOnlyJudge, ContainsDigitJudge

from rlvr_bench.errors import ConfigError
from rlvr_bench.records import Verdict
from rlvr_bench.training.rewards import ExplorationLog, JudgeReward, RewardChoice, agreement_metrics

COLUMNS: dict[str, Any] = {
    "item_id": ["a", "a", "b", "b"],
    "question": ["Q1", "Q1", "Q2", "Q2"],
    "reference": ["42", "42", "7 mg", "7 mg"],
    "answer_type": ["number", "number", "quantity", "quantity"],
    "domain": ["x", "x", "y", "y"],
}
# 1: the final step holds 42 -> pass; 2: 42 only in an earlier line -> fail (final step only);
# 3: judge failure -> None; 4: "7 mg" on the last line -> pass
COMPLETIONS = ["work\nThe answer is 42.", "I think 42\nThe answer is 41.", "ERROR", "7 x 1 = 7\n7 mg\n\n"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("binary", [1.0, 0.0, None, 1.0]), ("soft", [0.9, 0.2, None, 0.9])],
)
def test_rewards_judge_the_final_step(mode: str, expected: list[float | None]) -> None:
    reward = JudgeReward(ContainsDigitJudge(), mode)
    assert reward(prompts=["p"] * 4, completions=COMPLETIONS, **COLUMNS) == expected
    assert reward.__name__ == f"fake_{mode}"


def test_conversational_completions_use_the_last_message() -> None:
    reward = JudgeReward(ContainsDigitJudge())
    completions = [[{"role": "assistant", "content": "The answer is 42."}]]
    columns = {name: values[:1] for name, values in COLUMNS.items()}
    assert reward(prompts=[[{"role": "user", "content": "Q1"}]], completions=completions, **columns) == [1.0]


def test_soft_mode_needs_a_soft_judge() -> None:
    with pytest.raises(ConfigError, match="no soft score"):
        JudgeReward(BinaryOnlyJudge(), "soft")


def test_missing_columns_are_named() -> None:
    reward = JudgeReward(ContainsDigitJudge())
    with pytest.raises(ValueError, match="reference"):
        reward(prompts=["p"], completions=["x"], item_id=["a"], question=["Q"])


def test_reference_agreement_is_logged_and_judgments_saved(tmp_path: Path) -> None:
    # the reference rejects everything except "7 mg" answers: reward verdicts (T, F, None, T) vs
    # reference (F, F, None, T): rows 1, 2, 4 are scored by both; they agree on 2 and 4 -> 2/3;
    # the reference rejects rows 1 and 2, the reward accepts row 1 -> false-positive rate 1/2
    class MgOnly(ContainsDigitJudge):
        def judge_batch(self, triples):  # type: ignore[no-untyped-def]
            return [Verdict(passed=None) if "ERROR" in t.response else Verdict(passed="mg" in t.response)
                    for t in triples]

    metrics: dict[str, float] = {}
    log = ExplorationLog(tmp_path / "exploration.jsonl")
    reward = JudgeReward(ContainsDigitJudge(), "binary", reference_judge=MgOnly("ref"), exploration_log=log)
    reward(prompts=["p"] * 4, completions=COMPLETIONS, log_metric=metrics.__setitem__, **COLUMNS)
    assert metrics["reward_hacking/agreement"] == pytest.approx(2 / 3)
    assert metrics["reward_hacking/false_positive_rate"] == pytest.approx(1 / 2)
    assert metrics["reward_hacking/reference_accuracy"] == pytest.approx(1 / 3)
    assert metrics["reward/unscored_fraction"] == pytest.approx(1 / 4)
    rows = [json.loads(line) for line in (tmp_path / "exploration.jsonl").read_text().splitlines()]
    assert len(rows) == 8  # 4 completions x (reward judge + reference judge)
    first = rows[0]
    assert first["judge"] == "fake" and first["role"] == "reward" and first["passed"] is True
    assert first["final_step"] == "The answer is 42." and first["completion"] == COMPLETIONS[0]
    assert rows[1]["judge"] == "ref" and rows[1]["role"] == "reference" and rows[1]["passed"] is False
    assert rows[4]["passed"] is None and rows[4]["reward"] is None
    assert first["answer_type"] == "number"  # distillation reads the item's answer type from the log


def test_a_reward_judge_that_is_also_the_reference_judges_once(tmp_path: Path) -> None:
    class Counting(ContainsDigitJudge):
        calls = 0

        def judge_batch(self, triples):  # type: ignore[no-untyped-def]
            Counting.calls += len(triples)
            return super().judge_batch(triples)

    metrics: dict[str, float] = {}
    log = ExplorationLog(tmp_path / "exploration.jsonl")
    reward = JudgeReward(Counting(), "binary", reference_judge=Counting(), exploration_log=log)
    reward(prompts=["p"] * 4, completions=COMPLETIONS, log_metric=metrics.__setitem__, **COLUMNS)
    assert Counting.calls == 4
    assert metrics["reward_hacking/agreement"] == 1.0
    rows = [json.loads(line) for line in (tmp_path / "exploration.jsonl").read_text().splitlines()]
    assert [row["role"] for row in rows] == ["reward"] * 4  # one verdict per completion, not two


def test_agreement_metrics_ignore_unscored_rows() -> None:
    reward = [Verdict(True), Verdict(True), Verdict(False), Verdict(None)]
    reference = [Verdict(True), Verdict(False), Verdict(False), Verdict(True)]
    # three rows scored by both; agree on rows 1 and 3; one reference negative accepted of two
    # reward pass rate 2/3, reference 1/3: gap +1/3
    assert agreement_metrics(reward, reference) == pytest.approx(
        {"agreement": 2 / 3, "reference_accuracy": 1 / 3, "false_positive_rate": 1 / 2, "false_negative_rate": 0.0,
         "reward_pass_rate": 2 / 3, "gap": 1 / 3})


@pytest.mark.parametrize(
    ("text", "judge", "mode"),
    [("numeric", "numeric", "binary"), ("tiny:soft", "tiny", "soft"),
     ("my/judge.yaml:binary", "my/judge.yaml", "binary")],
)
def test_reward_choice_parse(text: str, judge: str, mode: str) -> None:
    assert RewardChoice.parse(text) == RewardChoice(judge, mode)


def test_reward_choice_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="binary, soft"):
        RewardChoice.parse("numeric:fuzzy")
