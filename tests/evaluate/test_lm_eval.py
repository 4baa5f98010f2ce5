"""Bundled tasks as lm-evaluation-harness tasks: the files, the hooks, and (slow) the `lm_eval` CLI
reporting the same judged accuracy as `rlvr-bench eval` on the same greedy responses."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import build_judges
from rlvr_bench.lm_eval_tasks import UTILS_PY, judged_accuracy, lm_eval_task_name, load_docs, process_results, task_yaml
from rlvr_bench.pipelines.evaluate import evaluate
from rlvr_bench.prompting import GenerationOverrides
from rlvr_bench.tasks import load_task, task_folders


@pytest.mark.parametrize("name", sorted(task_folders()))
def test_every_bundled_task_has_current_lm_eval_files(name: str) -> None:
    folder = task_folders()[name] / "lm_eval"
    hint = "refresh with: python -m rlvr_bench.lm_eval_tasks"
    assert (folder / f"{lm_eval_task_name(name)}.yaml").read_text() == task_yaml(name), hint
    assert (folder / "utils.py").read_text() == UTILS_PY, hint


def test_docs_come_from_the_task_folder_with_the_chosen_judge_and_split() -> None:
    folder = task_folders()["starter"]
    docs = load_docs(folder, judge="exact", split="test", pretrained="ignored", version=1.0)["test"]
    items = load_task("starter").items_in("test")
    assert [d["id"] for d in docs] == [i.id for i in items]
    assert set(docs["judge"]) == {"exact"} and docs[0]["question"] == items[0].question
    with pytest.raises(ValueError, match="no items in split 'train'"):
        load_docs(folder, split="train")


def test_process_results_is_the_rlvr_bench_verdict() -> None:
    task = load_task("starter")
    by_id = {i.id: i for i in task.items}
    judge = build_judges(["contains"])[0]
    for response in task.responses[:12]:
        item = by_id[response.item_id]
        doc = {"question": item.question, "reference": item.reference, "answer_type": item.answer_type,
               "domain": item.domain, "judge": "contains"}
        expected = judge.judge_batch([Triple.of(item, response)])[0].passed
        assert process_results(doc, [response.text]) == {"judged_accuracy": float(expected), "unscored": 0.0}


def test_unscored_responses_are_left_out_of_the_mean() -> None:
    assert judged_accuracy([1.0, 0.0, None, 1.0]) == pytest.approx(2 / 3)
    assert math.isnan(judged_accuracy([None]))
    # an empty reference is unscored by the contains rule
    doc = {"question": "q", "reference": " ", "judge": "contains"}
    assert process_results(doc, ["Therefore, the answer is 3."]) == {"judged_accuracy": None, "unscored": 1.0}


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval not installed (extra: lm-eval)")
def test_lm_eval_cli_matches_rlvr_bench_eval(memorizing_policy: Path, tmp_path: Path) -> None:
    max_tokens = 24
    ours = evaluate([f"mem={memorizing_policy}"], ["contains"], task="starter", n_bootstrap=0,
                    generation=GenerationOverrides(max_new_tokens=max_tokens), write=False)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [str(Path(sys.executable).with_name("lm_eval")), "--model", "hf",
               "--model_args", f"pretrained={memorizing_policy},dtype=float32", "--apply_chat_template",
               "--include_path", str(repo / "tasks" / "starter" / "lm_eval"), "--tasks", "rlvr_starter",
               "--gen_kwargs", f"max_gen_toks={max_tokens}", "--batch_size", "1",
               "--output_path", str(tmp_path / "lm"), "--log_samples"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (results_file,) = tmp_path.glob("lm/*/results_*.json")
    theirs = json.loads(results_file.read_text())["results"]["rlvr_starter"]
    (samples_file,) = tmp_path.glob("lm/*/samples_rlvr_starter_*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    their_texts = {s["doc"]["id"]: s["filtered_resps"][0] for s in samples}
    our_texts = {r.item_id: r.text for r in ours.responses}
    # same prompt, same greedy decoding: the same 24 responses, hence the same judged accuracy
    assert their_texts == our_texts
    accuracy = ours.accuracy("mem")["estimate"]
    assert theirs["judged_accuracy,none"] == pytest.approx(accuracy)
    assert theirs["unscored,none"] == 0.0
    assert 0.0 < accuracy < 1.0  # a non-trivial value, so equality means something
