"""The bundled data-shapes task end to end: alias lists, multiple choice and recorded verdict columns."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from rlvr_bench.judges.recorded import parse_recorded
from rlvr_bench.pipelines.agreement import agreement
from rlvr_bench.pipelines.verify import verify
from rlvr_bench.tasks import load_task


def test_the_task_has_every_shape() -> None:
    task = load_task("data-shapes")
    assert any(item.aliases for item in task.items)
    assert {item.answer_type for item in task.items} == {"text", "quantity", "choice"}
    assert all({"annotator_1", "annotator_2"} <= set(r.metadata) for r in task.responses)


def test_recorded_columns_and_live_judges_in_one_agreement_run() -> None:
    task = load_task("data-shapes")
    result = agreement(task="data-shapes", judges=["column:annotator_1", "column:annotator_2", "auto", "contains"],
                       n_bootstrap=0, write=False)
    pairs = [(parse_recorded(r.metadata["annotator_1"]), parse_recorded(r.metadata["annotator_2"]))
             for r in task.responses]
    both = [(a, b) for a, b in pairs if a is not None and b is not None]
    kappa = result.results["overall"]["pairwise"]["cohen_kappa"]["estimate"][0][1]
    assert kappa == pytest.approx(cohen_kappa_score([a for a, _ in both], [b for _, b in both]))


def test_the_router_scores_every_shape_against_the_gold() -> None:
    results = verify(task="data-shapes", judges=["auto", "contains"], n_bootstrap=0, write=False).results
    auto, contains = results["overall"]["auto"], results["overall"]["contains"]
    # the router sends choices to `choice` and quantities to `numeric`: it misses no correct answer here
    assert auto["recall"]["estimate"] == 1.0
    assert auto["accuracy"]["estimate"] > contains["accuracy"]["estimate"]
