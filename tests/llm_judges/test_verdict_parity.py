"""One definition of "correct": every call site turns the same (item, completion) into the same triple,
verdict and cache key, for every bundled judge kind (rule, embedding, model, composite).

Call sites: agreement, verify (``judge_responses``), the evaluation engine (``eval``, ``judge``,
training's before/after and Table 1), the lm-eval task hook, the trl reward, the reward server
(OpenRLHF's wire format, over HTTP) and the verl adapter (local judge and through the server).
The completions are multi-line, so a site that passed only the last line, or another question, would
change what judges that read the whole response see (the majority judge seeds its votes on it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judges.registry import judge as build_judge
from rlvr_bench.judging import judge_triples
from rlvr_bench.lm_eval_tasks import doc_triple, load_docs, process_results
from rlvr_bench.pipelines.agreement import agreement
from rlvr_bench.pipelines.engine import judge_all
from rlvr_bench.pipelines.evaluate import evaluate_policies
from rlvr_bench.pipelines.verify import verify
from rlvr_bench.policies import parse_policy_specs
from rlvr_bench.records import Item, Response, Verdict, item_to_json, response_to_json
from rlvr_bench.reward_server import RewardService, parse_request, start_server
from rlvr_bench.training.rewards import JudgeReward, verdict_reward
from rlvr_bench.verl_reward import compute_score, verl_triples

JUDGE_KINDS = {"exact": "rule", "contains": "rule", "numeric": "rule", "math": "rule", "embed": "embedding",
               "tiny": "model", "smol-verifier": "model", "majority-tiny-m10": "composite",
               "cascade-rules-embed": "composite"}

ITEMS = [
    Item("i1", "chemistry", "What is the molar mass of water in g/mol?", "18.02 g/mol", "quantity"),
    Item("i2", "education", "Which city is the capital of France?", "Paris", "text"),
    Item("i3", "mathematics", "Compute 12 * 7.", "84", "number"),
]
TEXTS = {
    "i1": ["H2O: 2(1.008) + 16.00\nThe answer is 18.02 g/mol\n", "I think 18.02 g/mol at first.\nActually 20 g/mol"],
    "i2": ["Paris", "The capital of France is Paris.\n\nFinal answer: Lyon", "Let me think.\n\n"],
    "i3": ["12*7 = 84\n84", "84 is what I'd guess\nThe answer is 48.  "],
}
RESPONSES = [Response(f"{item_id}-r{k}", item_id, text, label=k == 0)
             for item_id, texts in TEXTS.items() for k, text in enumerate(texts)]
BY_ID = {item.id: item for item in ITEMS}
SYSTEM = "<|im_start|>system\nAnswer the question; end with the final answer on its own line.<|im_end|>\n"


def _chatml(question: str) -> str:
    return f"{SYSTEM}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def _same(verdicts: list[Verdict], expected: list[Verdict]) -> None:
    assert [v.passed for v in verdicts] == [v.passed for v in expected]
    assert [v.error for v in verdicts] == [v.error for v in expected]
    for got, want in zip(verdicts, expected, strict=True):
        assert got.p_pass == pytest.approx(want.p_pass, abs=1e-5)


@pytest.fixture()
def task_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "parity"
    folder.mkdir()
    (folder / "task.yaml").write_text(yaml.safe_dump({
        "name": "parity", "domains": sorted({item.domain for item in ITEMS}), "items": "items.jsonl",
        "responses": "responses.jsonl"}), encoding="utf-8")
    (folder / "items.jsonl").write_text("".join(json.dumps(item_to_json(i)) + "\n" for i in ITEMS), encoding="utf-8")
    (folder / "responses.jsonl").write_text("".join(json.dumps(response_to_json(r)) + "\n" for r in RESPONSES),
                                            encoding="utf-8")
    return folder


def _site_verdicts(judgments: list[Any], name: str) -> list[Verdict]:
    by_response = {j.response_id: j.verdict for j in judgments if j.judge == name}
    return [by_response[r.id] for r in RESPONSES]


def _reward_columns() -> dict[str, list[Any]]:
    items = [BY_ID[r.item_id] for r in RESPONSES]
    return {"item_id": [i.id for i in items], "question": [i.question for i in items],
            "reference": [i.reference for i in items], "answer_type": [i.answer_type for i in items],
            "domain": [i.domain for i in items]}


def _server_body(dict_labels: bool) -> dict[str, Any]:
    items = [BY_ID[r.item_id] for r in RESPONSES]
    labels: list[Any] = ([{"reference": i.reference, "question": i.question, "answer_type": i.answer_type,
                           "domain": i.domain} for i in items] if dict_labels else [i.reference for i in items])
    return {"query": [_chatml(i.question) + r.text for i, r in zip(items, RESPONSES, strict=True)],
            "prompts": [_chatml(i.question) for i in items], "labels": labels}


def _verl_infos() -> list[dict[str, str]]:
    return [{"question": BY_ID[r.item_id].question, "answer_type": BY_ID[r.item_id].answer_type,
             "domain": BY_ID[r.item_id].domain} for r in RESPONSES]


@pytest.mark.parametrize("name", list(JUDGE_KINDS))
def test_every_call_site_gives_the_same_triples_verdicts_and_cache_keys(
        name: str, task_folder: Path, llm_env: Path) -> None:
    judge: Judge = build_judge(name)
    expected_triples = [Triple.of(BY_ID[r.item_id], r) for r in RESPONSES]
    expected = judge_triples(judge, expected_triples, cache=None)
    rewards = [verdict_reward(v, "binary")[0] for v in expected]
    assert any(r == 1.0 for r in rewards) or name == "tiny", "the data should let some responses pass"

    # what each site builds for the judge
    columns = _reward_columns()
    docs = {d["id"]: d for d in load_docs(task_folder, judge=name)["test"]}
    site_triples = {
        "trl reward": JudgeReward.triples([r.text for r in RESPONSES], columns),
        "lm-eval": [doc_triple(docs[r.item_id], r.text) for r in RESPONSES],
        "reward server": parse_request(json.dumps(_server_body(dict_labels=True)).encode())[0],
        "verl": verl_triples([r.text for r in RESPONSES], [BY_ID[r.item_id].reference for r in RESPONSES],
                             _verl_infos()),
    }
    for site, triples in site_triples.items():
        assert triples == expected_triples, site
        if judge.cacheable:
            assert [judge.cache_key(t) for t in triples] == [judge.cache_key(t) for t in expected_triples], site
    # a plain-string label (an OpenRLHF data set's usual column): the question comes from the prompt's user turn
    plain = parse_request(json.dumps(_server_body(dict_labels=False)).encode())[0]
    assert [t.question for t in plain] == [t.question for t in expected_triples]
    assert [t.response for t in plain] == [t.response for t in expected_triples]

    # what each site decides
    other = "contains" if name == "exact" else "exact"
    _same(_site_verdicts(agreement(task=str(task_folder), judges=[name, other], n_bootstrap=0, write=False,
                                   use_cache=False).judgments, name), expected)
    _same(_site_verdicts(verify(task=str(task_folder), judges=[name], n_bootstrap=0, write=False,
                                use_cache=False).judgments, name), expected)
    # the evaluation engine: `eval` (imported responses here), `judge`, training's before/after and Table 1
    _same(_site_verdicts(judge_all([judge], ITEMS, RESPONSES), name), expected)
    responses_file = task_folder / "policy.jsonl"
    responses_file.write_text("".join(json.dumps({"item_id": r.item_id, "text": r.text}) + "\n" for r in RESPONSES),
                              encoding="utf-8")
    evaluated = evaluate_policies(parse_policy_specs([f"responses:{responses_file}"]), ITEMS, [judge], n_bootstrap=0,
                                  write=False, split=None)
    by_item_text = {(j_r.item_id, j_r.text): j_r.id for j_r in evaluated.responses}
    verdict_of = {j.response_id: j.verdict for j in evaluated.judgments}
    _same([verdict_of[by_item_text[(r.item_id, r.text)]] for r in RESPONSES], expected)
    lm_eval = [process_results(docs[r.item_id], [r.text])["judged_accuracy"] for r in RESPONSES]
    assert lm_eval == rewards
    assert JudgeReward(judge, "binary")(["p"] * len(RESPONSES), [r.text for r in RESPONSES], **columns) == rewards
    local_verl = [compute_score("parity", r.text, BY_ID[r.item_id].reference, info, judge=name)
                  for r, info in zip(RESPONSES, _verl_infos(), strict=True)]
    assert [s["score"] for s in local_verl] == [0.0 if r is None else r for r in rewards]
    assert [s["unscored"] for s in local_verl] == [float(r is None) for r in rewards]
    server = start_server(RewardService(judge, "binary"))
    try:
        reply = httpx.post(f"{server.url}/get_reward", json=_server_body(dict_labels=True), timeout=120).json()
        url = f"{server.url}/get_reward"
        through_server = [compute_score("parity", r.text, BY_ID[r.item_id].reference, info, url=url)
                          for r, info in zip(RESPONSES, _verl_infos(), strict=True)]
    finally:
        server.stop()
    assert reply["rewards"] == [0.0 if r is None else r for r in rewards]
    assert reply["extra_logs"]["unscored"] == [float(r is None) for r in rewards]
    assert through_server == local_verl
