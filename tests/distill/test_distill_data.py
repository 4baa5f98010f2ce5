"""Distillation data: reading runs and exploration logs, teacher selection, the question split, balancing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.errors import InputError
from rlvr_bench.judges.base import JudgeSpec
from rlvr_bench.judges.registry import build_judge, resolve_preset
from rlvr_bench.records import Item, Judgment, Response, Verdict
from rlvr_bench.rundir import RunWriter
from rlvr_bench.training.distill_data import (
    Example,
    JudgedData,
    balanced,
    capped,
    exploration_like_data,
    load_judged_runs,
    question_key,
    split_by_question,
    teacher_examples,
)


def _write_run(path: Path, items: list[Item], responses: list[Response], judgments: list[Judgment]) -> Path:
    with RunWriter(path, "agreement", {}) as writer:
        writer.write_items(items)
        writer.write_responses(responses)
        writer.write_judgments(judgments)
        writer.commit()
    return path


def _item(i: int, question: str | None = None) -> Item:
    return Item(id=f"q{i}", domain="math", question=question or f"What is {i} + {i}?", reference=str(2 * i))


def _verdict(passed: bool | None) -> Verdict:
    return Verdict(passed=passed, error=None if passed is not None else "timeout")


@pytest.fixture()
def small_run(tmp_path: Path) -> Path:
    """3 questions x 2 responses; teacher "t" scores 5 of 6 (one unscored), judge "o" judges all."""
    items = [_item(i) for i in range(3)]
    responses = [Response(id=f"q{i}-r{k}", item_id=f"q{i}", text=f"The answer is {2 * i + k}") for i in range(3)
                 for k in range(2)]
    judgments = []
    for r in responses:
        correct = r.text.endswith(str(2 * int(r.item_id[1:])))
        teacher = None if r.id == "q2-r1" else correct
        judgments.append(Judgment("t", r.item_id, r.id, _verdict(teacher)))
        judgments.append(Judgment("o", r.item_id, r.id, _verdict(True)))
    return _write_run(tmp_path / "run", items, responses, judgments)


def test_teacher_examples_drop_and_count_unscored(small_run: Path) -> None:
    data = load_judged_runs([small_run])
    assert data.judges == ["o", "t"]
    selected = teacher_examples(data, "t")
    # 6 responses: q2-r1's teacher verdict is unscored -> 5 examples, 1 dropped, none unjudged
    assert len(selected.examples) == 5
    assert (selected.n_teacher_unscored, selected.n_without_teacher) == (1, 0)
    # r0 states the right sum: YES; r1 is off by one: NO
    assert [e.teacher_yes for e in selected.examples] == [True, False, True, False, True]


def test_unknown_teacher_names_the_judges_present(small_run: Path) -> None:
    with pytest.raises(InputError, match=r"teacher 'gpt4o' has no verdicts in the inputs \(judges present: o, t\)"):
        teacher_examples(load_judged_runs([small_run]), "gpt4o")


def test_several_runs_get_prefixed_ids(small_run: Path) -> None:
    data = load_judged_runs([small_run, small_run.parent / "run"])
    assert len(data.responses) == 12
    assert {r.id.split("/")[0] for r in data.responses} == {"0", "1"}
    # the same question in both runs is one group: it can only land on one side of the split
    selected = teacher_examples(data, "t")
    assert len({e.group for e in selected.examples}) == 3


@pytest.mark.parametrize(("folder_content", "message"), [
    (None, "run directory not found"),
    ({}, "no judgments.jsonl"),
])
def test_bad_run_folders(tmp_path: Path, folder_content: dict[str, str] | None, message: str) -> None:
    folder = tmp_path / "x"
    if folder_content is not None:
        folder.mkdir()
    with pytest.raises(InputError, match=message):
        load_judged_runs([folder])


def test_exploration_log_written_by_training_is_read(tmp_path: Path) -> None:
    """The rows the RL reward appends (training.exploration.ExplorationLog) become examples for the teacher,
    and two processes' logs (rank 0 and rank 1, each numbering its own calls from 0) keep every row."""
    from rlvr_bench.training.exploration import ExplorationLog, exploration_file
    from rlvr_bench.training.matrix import hacking_gap
    from rlvr_bench.training.rewards import JudgeReward

    exact = build_judge(resolve_preset("exact").spec)
    contains = build_judge(resolve_preset("contains").spec)
    columns: dict[str, Any] = {"item_id": ["a", "a", "b"], "question": ["2+2?", "2+2?", "3+3?"],
                               "reference": ["4", "4", "6"], "answer_type": ["number"] * 3, "domain": ["math"] * 3}
    for rank in (0, 1):  # what two training processes do: one reward object and one log each
        reward = JudgeReward(exact, "binary", reference_judge=contains,
                             exploration_log=ExplorationLog(tmp_path / exploration_file(rank)))
        reward(["p", "p", "p"], ["work\nThe answer is 4", "The answer is 44", "6"], **columns)
    data = load_judged_runs([tmp_path])
    assert len(data.responses) == 6 and len({r.id for r in data.responses}) == 6
    assert len(data.judgments) == 12  # every row of both logs: 6 completions x (reward + reference)
    assert {i.id: i.answer_type for i in data.items} == {"a": "number", "b": "number"}
    selected = teacher_examples(data, "exact")
    # exact: "4" == "4" yes, "44" != "4" no, "6" == "6" yes (twice over, one per log)
    assert [e.teacher_yes for e in selected.examples] == [True, False, True] * 2
    # contains passes "The answer is 44" (it contains "4"): the other judge's verdicts are kept too
    assert data.judges == ["contains", "exact"]
    # the reward-hacking gap reads the same rows: 6 pairs, exact passes 4/6, contains 6/6... of both ranks
    gap = hacking_gap({"reward": "exact:binary", "reference_judge": "contains"}, tmp_path)
    assert gap["all"]["n"] == 6
    assert gap["all"]["gap"] == pytest.approx(4 / 6 - 6 / 6)


def test_a_log_copied_next_to_itself_is_refused(tmp_path: Path) -> None:
    from rlvr_bench.training.exploration import ExplorationLog, exploration_file
    from rlvr_bench.training.rewards import JudgeReward

    exact = build_judge(resolve_preset("exact").spec)
    reward = JudgeReward(exact, "binary", exploration_log=ExplorationLog(tmp_path / exploration_file(0)))
    reward(["p"], ["4"], item_id=["a"], question=["2+2?"], reference=["4"])
    (tmp_path / exploration_file(1)).write_text((tmp_path / exploration_file(0)).read_text(encoding="utf-8"),
                                                encoding="utf-8")
    with pytest.raises(InputError, match="also appears in"):
        load_judged_runs([tmp_path])


def test_malformed_exploration_row_names_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "exploration_judgments.jsonl"
    log.write_text(json.dumps({"judge": "t", "item_id": "a", "response_id": "c0-0", "question": "q",
                               "reference": "1", "completion": "1", "passed": True}) + "\n"
                   + json.dumps({"judge": "t", "item_id": "a", "response_id": "c0-1", "reference": "1"}) + "\n",
                   encoding="utf-8")
    with pytest.raises(InputError, match=r"exploration_judgments.jsonl:2: missing field 'question'"):
        load_judged_runs([tmp_path])


def _examples(groups: list[tuple[str, bool]]) -> list[Example]:
    out = []
    for index, (question, yes) in enumerate(groups):
        item = Item(id=f"i{index}", domain="d", question=question, reference="1")
        out.append(Example(item, Response(id=f"r{index}", item_id=item.id, text="1"), _verdict(yes),
                           question_key(question)))
    return out


def test_split_keeps_each_question_on_one_side() -> None:
    # 10 questions, 3 responses each; two item ids spell the same question with other spacing and case
    rows = [(f"Question {q}", (q + k) % 2 == 0) for q in range(10) for k in range(3)]
    rows += [("  question   3 ", True)]
    examples = _examples(rows)
    split = split_by_question(examples, 0.2, seed=7)
    train_groups = {e.group for e in split.train}
    held_groups = {e.group for e in split.held_out}
    assert not train_groups & held_groups
    assert len(held_groups) == 2  # round(0.2 x 10)
    assert len(split.train) + len(split.held_out) == len(examples)
    # seeded: the same seed gives the same split, another seed (here) another one
    assert split_by_question(examples, 0.2, seed=7) == split
    assert {e.group for e in split_by_question(examples, 0.2, seed=8).held_out} != held_groups


@pytest.mark.parametrize(("groups", "fraction", "message"), [
    (["same"] * 4, 0.2, "at least 2 distinct questions, got 1"),
    (["a", "b"], 0.0, r"held-out fraction must be in \(0, 1\)"),
    (["a", "b"], 1.0, r"held-out fraction must be in \(0, 1\)"),
])
def test_split_errors(groups: list[str], fraction: float, message: str) -> None:
    with pytest.raises(InputError, match=message):
        split_by_question(_examples([(g, True) for g in groups]), fraction, 0)


def test_split_always_leaves_a_question_on_each_side() -> None:
    # 2 questions with fraction 0.9: round(1.8) = 2 would hold out everything; capped at 1
    split = split_by_question(_examples([("a", True), ("b", False)]), 0.9, 0)
    assert len(split.train) == 1 and len(split.held_out) == 1


def test_balanced_oversamples_the_minority() -> None:
    # 3 YES, 1 NO -> the NO example is repeated twice more: 3 YES + 3 NO
    examples = _examples([("a", True), ("b", True), ("c", True), ("d", False)])
    out = balanced(examples, seed=0)
    assert len(out) == 6
    assert sum(e.teacher_yes for e in out) == 3
    assert sorted(e.response.id for e in out if not e.teacher_yes) == ["r3"] * 3
    # one-sided data cannot be balanced: returned as is
    assert balanced(examples[:3], seed=0) == examples[:3]


def test_capped_keeps_a_seeded_sample_in_input_order() -> None:
    examples = _examples([(f"q{i}", i % 2 == 0) for i in range(10)])
    out = capped(examples, 4, seed=0)
    assert len(out) == 4 and out == capped(examples, 4, seed=0)
    assert [examples.index(e) for e in out] == sorted(examples.index(e) for e in out)
    assert capped(examples, 4, seed=1) != out
    assert capped(examples, None, seed=0) == examples and capped(examples, 50, seed=0) == examples


def test_exploration_like_data_is_labelled_by_the_teacher() -> None:
    teacher = build_judge(resolve_preset("numeric").spec)
    other = build_judge(JudgeSpec("exact", "exact"))
    data = exploration_like_data(teacher, 24, 5, seed=3, judges=[other])
    assert isinstance(data, JudgedData)
    assert len(data.items) == 24 and len(data.responses) == 120
    assert data.judges == ["exact", "numeric"]
    # deterministic in the seed
    again = exploration_like_data(teacher, 24, 5, seed=3)
    assert [r.text for r in again.responses] == [r.text for r in data.responses]
    # the labels are the teacher's verdicts on these very triples
    by_item = {i.id: i for i in data.items}
    from rlvr_bench.judges.base import Triple

    fresh = teacher.judge_batch([Triple.of(by_item[r.item_id], r) for r in data.responses])
    stored = [j.verdict.passed for j in data.judgments if j.judge == "numeric"]
    assert stored == [v.passed for v in fresh]
    # both verdicts occur, and several kinds of response
    assert 0 < sum(bool(p) for p in stored) < len(stored)
    assert len({r.variant for r in data.responses}) >= 4


@pytest.mark.parametrize("kind", ["demonstration", "near_miss", "wrong_unit", "other_answer", "unfinished", "clean"])
def test_each_response_kind(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    import rlvr_bench.training.distill_data as module
    from rlvr_bench.judges.base import Triple
    from rlvr_bench.training.procedural import generate_splits, number_text, surface_forms

    monkeypatch.setattr(module, "RESPONSE_KINDS", ((kind, 1.0),))
    problems = generate_splits(0, 0, 0, 5).train
    problem, other = problems[0], problems[1]
    numeric = build_judge(resolve_preset("numeric").spec)
    rng = random.Random(0)
    for _ in range(20):
        text, made = module.exploration_response(problem, rng, other)
        assert made == kind
        last = text.splitlines()[-1]
        verdict = numeric.judge_batch([Triple(problem.question, problem.reference, text)])[0].passed
        if kind == "clean":  # a correct demonstration in one of the answer's surface forms
            assert any(last.endswith(f"{form}.") for form in surface_forms(problem.answer, problem.unit))
            assert verdict is True
        elif kind == "wrong_unit":  # the answer's number with another unit (the teacher decides: "$450" passes
            # numeric for "450 mg", since "$" is not a unit pint reads)
            assert number_text(problem.answer) in last and problem.reference not in last
        elif kind == "other_answer":
            assert any(last.endswith(f"{form}.") for form in surface_forms(other.answer, other.unit))
        elif kind == "unfinished":  # the working alone, or a final line cut before the answer
            assert last in (problem.working, "Therefore, the answer is")
        elif kind == "near_miss":
            assert not any(last.endswith(f"{form}.") for form in surface_forms(problem.answer, problem.unit))
