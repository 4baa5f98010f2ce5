"""The evaluation pipeline with scripted policies: hand-worked accuracies, failures, imports, judge-many."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.errors import InputError, UserError
from rlvr_bench.generation import GenerationProgress, GenerationResult, Prompt, SamplingSettings, failed
from rlvr_bench.pipelines.evaluate import RESULTS_SCHEMA, evaluate_policies, load_eval_items
from rlvr_bench.pipelines.judge_run import judge_run
from rlvr_bench.policies import parse_policy_spec
from rlvr_bench.prompting import GenerationOverrides
from rlvr_bench.records import Item
from rlvr_bench.rundir import load_run

ITEMS, SOURCE = load_eval_items("starter")
FOUR = ITEMS[:4]  # starter-med-01..03 (medicine), starter-chem-01 (chemistry)


class ScriptedPolicy:
    """Answers item i with ``script(i, sample)``: a text, or None for a failed generation. Counts calls."""

    def __init__(self, name: str, script: Callable[[int, int], str | None]) -> None:
        self._name, self.script, self.calls = name, script, 0

    @property
    def name(self) -> str:
        return self._name

    def describe(self) -> dict[str, Any]:
        return {"backend": "scripted"}

    def generate(self, prompts: Sequence[Prompt], n: int, sampling: SamplingSettings,
                 on_progress: GenerationProgress | None = None) -> list[list[GenerationResult]]:
        self.calls += 1
        out = []
        for i, _ in enumerate(prompts):
            texts = [self.script(i, k) for k in range(n)]
            out.append([failed("boom") if t is None else GenerationResult(t, "stop") for t in texts])
        return out


def answer(item: Item) -> str:
    return f"Some reasoning.\nTherefore, the answer is {item.reference}."


# A: right on items 0, 1, 2; wrong on 3          -> contains accuracy 3/4
# B: generation fails on 0; right on 1; wrong on 2, 3 -> 1/3 scored, 1 unscored
def policy_a() -> ScriptedPolicy:
    return ScriptedPolicy("a", lambda i, k: answer(FOUR[i]) if i < 3 else "Therefore, the answer is 7.")


def policy_b() -> ScriptedPolicy:
    return ScriptedPolicy("b", lambda i, k: None if i == 0 else answer(FOUR[i]) if i == 1 else "I am not sure.")


def test_hand_worked_two_policies(tmp_path: Path) -> None:
    result = evaluate_policies([policy_a(), policy_b()], FOUR, ["contains"], n_bootstrap=200, seed=0,
                               out=tmp_path / "run", task_source=SOURCE)
    r = result.results
    assert r["schema"] == RESULTS_SCHEMA and r["policies"] == ["a", "b"] and r["primary_judge"] == "contains"
    assert (result.accuracy("a")["estimate"], result.accuracy("a")["n"]) == (0.75, 4)
    b = r["per_policy"]["b"]
    assert b["by_judge"]["contains"]["accuracy"]["estimate"] == pytest.approx(1 / 3)
    assert b["errors"] == {"generation": 1, "missing_items": 0, "unscored": {"contains": 1}}
    # per domain: medicine holds items 0-2, chemistry item 3
    assert result.accuracy("a", domain="medicine")["estimate"] == 1.0
    assert result.accuracy("a", domain="chemistry")["estimate"] == 0.0
    assert result.accuracy("b", domain="medicine")["n"] == 2
    (comparison,) = r["comparisons"]
    # both scored on items 1-3: A - B = (0 + 1 + 0) / 3; A alone right on item 2
    assert comparison["difference"]["estimate"] == pytest.approx(1 / 3) and comparison["difference"]["n"] == 3
    assert comparison["mcnemar"]["a_only_correct"] == 1 and comparison["mcnemar"]["b_only_correct"] == 0
    assert r["judge_agreement"] is None  # one judge
    # the run directory holds everything the results came from
    run = load_run(tmp_path / "run")
    assert len(run.responses) == 8 and len(run.judgments) == 8
    failed_response = next(x for x in run.responses if x.id == f"b/{FOUR[0].id}/0")
    assert failed_response.metadata["error"] == "boom"
    verdict = next(j.verdict for j in run.judgments if j.response_id == failed_response.id)
    assert verdict.passed is None and verdict.error == "generation failed: boom"
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == json.loads(json.dumps(r))


def test_samples_mean_and_pass_at_n(tmp_path: Path) -> None:
    # sample 0 right on every item, sample 1 never: mean@2 = 0.5, pass@2 = 1
    policy = ScriptedPolicy("s", lambda i, k: answer(FOUR[i]) if k == 0 else "Therefore, the answer is nothing.")
    result = evaluate_policies([policy], FOUR, ["contains"],
                               generation=GenerationOverrides(n_samples=2, temperature=1.0),
                               n_bootstrap=50, write=False)
    entry = result.results["per_policy"]["s"]["by_judge"]["contains"]
    assert entry["mean_at_n"]["estimate"] == 0.5 and entry["pass_at_n"]["estimate"] == 1.0
    assert entry["accuracy"]["n"] == 8 and entry["n_samples"] == 2
    assert result.run_dir is None


def test_several_judges_report_their_agreement(tmp_path: Path) -> None:
    result = evaluate_policies([policy_a()], FOUR, ["contains", "exact"], n_bootstrap=50, write=False)
    agreement = result.results["judge_agreement"]
    assert agreement["judges"] == ["contains", "exact"] and agreement["n_responses"] == 4
    assert set(result.results["per_policy"]["a"]["by_judge"]) == {"contains", "exact"}


def test_imported_responses_are_a_policy_row(tmp_path: Path) -> None:
    file = tmp_path / "big.jsonl"
    file.write_text("".join(json.dumps({"item_id": item.id, "text": answer(item)}) + "\n" for item in FOUR[:2]))
    result = evaluate_policies([policy_a(), parse_policy_spec(f"responses:{file}:big")], FOUR, ["contains"],
                               n_bootstrap=50, write=False)
    big = result.results["per_policy"]["big"]
    accuracy = big["by_judge"]["contains"]["accuracy"]
    assert (accuracy["estimate"], accuracy["n"]) == (1.0, 2)
    assert big["errors"]["missing_items"] == 2 and big["backend"] == "responses"


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"generation": GenerationOverrides(n_samples=2)}, "need --temperature > 0"),
    ({"generation": GenerationOverrides(n_samples=0)}, "--n-samples must be >= 1"),
    ({"judges": []}, "at least one judge"),
    ({"judges": ["containz"]}, "unknown judge 'containz'"),
    ({"policies": []}, "at least one policy"),
    ({"items": []}, "no items to evaluate"),
])
def test_bad_arguments_fail_before_generation(kwargs: dict[str, Any], fragment: str) -> None:
    policy = policy_a()
    arguments: dict[str, Any] = {"policies": [policy], "items": FOUR, "judges": ["contains"], "write": False, **kwargs}
    with pytest.raises(UserError, match=fragment):
        evaluate_policies(**arguments)
    assert policy.calls == 0


def test_unknown_item_in_responses_fails_before_generation(tmp_path: Path) -> None:
    file = tmp_path / "r.jsonl"
    file.write_text(json.dumps({"item_id": "elsewhere-1", "text": "x"}) + "\n")
    policy = policy_a()
    with pytest.raises(InputError, match=r"r\.jsonl:1: field 'item_id': unknown item 'elsewhere-1' \(not in task"):
        evaluate_policies([policy, parse_policy_spec(f"responses:{file}")], FOUR, ["contains"], write=False,
                          task_source=SOURCE)
    assert policy.calls == 0


def test_judge_run_adds_judges_and_imported_rows(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    a = policy_a()
    evaluate_policies([a, policy_b()], FOUR, ["contains"], n_bootstrap=50, out=run_dir, task_source=SOURCE)
    assert a.calls == 1
    before = load_run(run_dir)

    added = judge_run(run_dir, ["exact"])
    assert a.calls == 1  # nothing regenerated: the scripted policy is not even reachable from the run
    assert added.results["judges"] == ["contains", "exact"] and added.results["judge_agreement"] is not None
    after = load_run(run_dir)
    assert [r.text for r in after.responses] == [r.text for r in before.responses]
    assert len(after.judgments) == 2 * len(before.judgments)
    # the old verdicts are kept as they were
    assert after.judgments[: len(before.judgments)] == before.judgments
    assert after.config["updates"][0]["added_judges"] == ["exact"]
    assert after.config["generated"]["created"] == before.config["created"]

    file = tmp_path / "big.jsonl"
    file.write_text("".join(json.dumps({"item_id": item.id, "text": answer(item)}) + "\n" for item in FOUR))
    with_row = judge_run(run_dir, [], [f"big=responses:{file}"])
    assert with_row.results["policies"] == ["a", "b", "big"]
    # the new row is judged by both of the run's judges; the starter references are in their answers
    for judge in ("contains", "exact"):
        assert with_row.accuracy("big", judge)["estimate"] == 1.0
    assert len(with_row.results["comparisons"]) == 3 * 2  # 3 policy pairs x 2 judges

    with pytest.raises(UserError, match="judge 'exact' is already in"):
        judge_run(run_dir, ["exact"])
    with pytest.raises(UserError, match="nothing to add"):
        judge_run(run_dir)
    with pytest.raises(UserError, match="use `rlvr-bench eval` to generate"):
        judge_run(run_dir, [], ["some/model"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"command": "agreement"}))
    with pytest.raises(UserError, match="not an eval run"):
        judge_run(other, ["exact"])


def test_each_policy_is_asked_its_own_way(tmp_path: Path, random_policy: Path) -> None:
    import shutil

    from rlvr_bench.generation import HFPolicy
    from rlvr_bench.prompting import GenerationSettings, PromptFormat, write_policy_settings

    # a checkpoint that carries a text-template prompt, next to a scripted policy that carries nothing
    folder = shutil.copytree(random_policy, tmp_path / "trained")
    saved = GenerationSettings(PromptFormat.text_template("Q: {question}\nA:"),
                               sampling=SamplingSettings(max_new_tokens=3), batch_size=3)
    write_policy_settings(folder, saved)
    result = evaluate_policies([parse_policy_spec(f"trained={folder}"), policy_a()], FOUR, ["contains"],
                               n_bootstrap=20, write=False)
    per_policy = result.results["per_policy"]
    assert per_policy["trained"]["generation"] == saved.to_json()
    assert per_policy["a"]["generation"] == GenerationSettings().to_json()
    assert result.results["generation"] == {"n_samples": 1, "differs_per_policy": True}
    trained = [r for r in result.responses if r.source == "trained"]
    assert len(trained) == 4 and all(r.metadata["completion_tokens"] <= 3 for r in trained)
    # a text prompt is given to the model as is: no chat template, no added special tokens
    policy = HFPolicy("p", str(folder))
    assert policy.render("Q: 2+2?\nA:") == ("Q: 2+2?\nA:", False)
    assert trained[0].metadata["prompt_tokens"] == len(policy._load()[1](
        saved.prompt.prompt(FOUR[0]), add_special_tokens=False)["input_ids"])
