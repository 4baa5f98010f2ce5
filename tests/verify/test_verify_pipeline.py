"""The verify library call: ready-built judges, no run directory, and what gets judged."""

from __future__ import annotations

from collections.abc import Sequence

from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.pipelines.verify import plan_verify, verify
from rlvr_bench.records import Verdict


class SaysYesToEverything(BaseJudge):
    """The most exploitable judge there is: every response passes, with p_pass 0.9."""

    soft = True

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        return [Verdict(passed=True, p_pass=0.9) for _ in triples]


def test_built_judges_and_no_run_directory() -> None:
    yes = SaysYesToEverything(JudgeSpec("yes", "python"))
    result = verify(task="starter", judges=[yes, "exact"], n_bootstrap=20, attacks=True, attack_items=4,
                    write=False, use_cache=False)
    assert result.run_dir is None
    results = result.results
    assert results["judges"] == ["yes", "exact"] and results["soft_judges"] == ["yes"]
    # starter: 24 items x 3 responses; passing everything gives recall 1, FPR 1, accuracy = share correct
    yes_metrics = results["overall"]["yes"]
    correct = results["label_counts"]["correct"]
    assert yes_metrics["recall"]["estimate"] == 1.0 and yes_metrics["false_positive_rate"]["estimate"] == 1.0
    assert yes_metrics["accuracy"]["estimate"] == correct / 72
    assert results["soft"]["yes"]["auroc"]["estimate"] == 0.5  # one score for everything: all ties
    # every master key passes on every sampled item
    assert results["attacks"]["pooled"]["master_key"]["judges"]["yes"]["false_positive_rate"]["estimate"] == 1.0
    assert results["attacks"]["master_key_any"]["yes"]["items_with_a_passing_key"]["estimate"] == 1.0


def test_the_plan_judges_labelled_and_synthesised_responses_only() -> None:
    plan = plan_verify(task="starter", judges=["exact"], attacks=True, attack_items=2, seed=5)
    assert len(plan.gold) == 72 and plan.n_unlabelled_skipped == 0
    assert {r.item_id for r in plan.synthesised} <= {i.id for i in plan.items}
    assert len({r.item_id for r in plan.synthesised}) == 2
    assert plan.n_verdicts == len(plan.gold) + len(plan.synthesised)
    assert plan.config["attacks"] == {"enabled": True, "attack_items": 2, "seed": 5}
