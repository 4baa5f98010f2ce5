"""The reward server speaks OpenRLHF's protocol, batches concurrent requests, rejects bad bodies with 400."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from training_fakes import ContainsDigitJudge

from rlvr_bench.judging import best_reference_verdict
from rlvr_bench.records import Verdict
from rlvr_bench.reward_server import (
    RewardService,
    RunningServer,
    parse_request,
    question_from_prompt,
    response_part,
    start_server,
    strip_special_texts,
)
from rlvr_bench.verl_reward import compute_score, compute_score_batch


@pytest.fixture()
def server() -> Iterator[RunningServer]:
    running = start_server(RewardService(ContainsDigitJudge(), "binary", max_wait_s=0.02))
    yield running
    running.stop()


def _body(n: int = 2) -> dict[str, list[str]]:
    prompts = [f"<|user|>What is {i} + 1?<|assistant|>" for i in range(n)]
    # even rows answer correctly on their last line, odd rows do not
    responses = [f"{i} + 1 = {i + 1}\nThe answer is {i + 1 if i % 2 == 0 else 0}" for i in range(n)]
    return {"query": [p + r for p, r in zip(prompts, responses, strict=True)], "prompts": prompts,
            "labels": [str(i + 1) for i in range(n)]}


def test_openrlhf_request_gets_rewards_and_scores(server: RunningServer) -> None:
    reply = httpx.post(f"{server.url}/get_reward", json=_body(4))
    assert reply.status_code == 200
    data = reply.json()
    assert data["rewards"] == [1.0, 0.0, 1.0, 0.0]
    assert data["scores"] == data["rewards"]
    assert data["extra_logs"]["unscored"] == [0.0] * 4


def test_prompt_is_not_judged(server: RunningServer) -> None:
    # the reference "1" occurs in the prompt, but the response's final step is "no idea"
    body = {"query": ["Say 1.\nno idea"], "prompts": ["Say 1.\n"], "labels": ["1"]}
    assert httpx.post(f"{server.url}/get_reward", json=body).json()["rewards"] == [0.0]


def test_judge_failure_is_flagged_not_hidden(server: RunningServer) -> None:
    body = {"query": ["p ERROR"], "prompts": ["p "], "labels": ["1"]}
    data = httpx.post(f"{server.url}/get_reward", json=body).json()
    assert data["rewards"] == [0.0] and data["extra_logs"]["unscored"] == [1.0]
    health = httpx.get(f"{server.url}/health").json()
    assert health["unscored"] == 1 and health["fallback_judge"] == 1 and health["fallback_label"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"query": ["a"], "prompts": ["a"]}).encode(),  # no labels
        json.dumps({"query": ["a", "b"], "prompts": ["a"], "labels": ["1"]}).encode(),  # lengths differ
        json.dumps({"query": "a", "prompts": ["a"], "labels": ["1"]}).encode(),  # not a list
        json.dumps({"query": ["a"], "prompts": ["a"], "labels": ["1"], "mode": "hard"}).encode(),  # unknown mode
    ],
)
def test_malformed_bodies_get_400_and_the_server_keeps_serving(server: RunningServer, body: bytes) -> None:
    reply = httpx.post(f"{server.url}/get_reward", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert "error" in reply.json()
    assert httpx.post(f"{server.url}/get_reward", json=_body(2)).json()["rewards"] == [1.0, 0.0]
    assert httpx.get(f"{server.url}/health").json()["bad_requests"] == 1


def test_unknown_route_is_404(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/nope").status_code == 404


def test_concurrent_requests_share_judge_batches() -> None:
    judge = ContainsDigitJudge(delay_s=0.05)  # a slow judge: requests pile up while it works
    running = start_server(RewardService(judge, "soft", max_batch=64, max_wait_s=0.02))
    try:
        with ThreadPoolExecutor(16) as pool, httpx.Client() as client:
            replies = list(pool.map(lambda _: client.post(f"{running.url}/get_reward", json=_body(2)), range(32)))
        assert all(r.status_code == 200 and r.json()["rewards"] == [0.9, 0.2] for r in replies)
        # 32 requests of 2 responses: merged, so fewer judge calls than requests and some larger than one request
        assert sum(judge.batch_sizes) == 64
        assert len(judge.batch_sizes) < 32 and max(judge.batch_sizes) > 2
        assert running.service.health()["requests"] == 32
    finally:
        running.stop()


def test_a_sample_that_is_not_text_is_flagged_not_a_400(server: RunningServer) -> None:
    body = {"query": [1, "p 1"], "prompts": ["a", "p "], "labels": ["1", "1"]}
    data = httpx.post(f"{server.url}/get_reward", json=body).json()
    assert data["rewards"] == [0.0, 1.0] and data["extra_logs"]["unscored"] == [1.0, 0.0]
    assert "must be strings" in data["reasons"][0]


def test_a_full_queue_waits_for_room() -> None:
    judge = ContainsDigitJudge(delay_s=0.3)
    running = start_server(RewardService(judge, max_batch=2, max_wait_s=0.0, max_queue=2))
    try:
        with ThreadPoolExecutor(4) as pool, httpx.Client() as client:
            codes = list(pool.map(lambda _: client.post(f"{running.url}/get_reward", json=_body(2)).status_code,
                                  range(4)))
        # one request fills the queue while the judge sleeps; the others wait for room instead of a 503
        assert codes == [200] * 4
        assert running.service.health()["waited_busy"] >= 1
    finally:
        running.stop()


@pytest.mark.parametrize(("text", "expected"), [
    ("Final answer: 0.35 g\n<|im_end|>", "Final answer: 0.35 g\n"),
    ("0.35 g<|eot_id|>", "0.35 g"),
    ("0.35 g\n</s>", "0.35 g\n"),
    ("0.35 g\n<end_of_turn>\n<eos>", "0.35 g\n"),
    ("0.35 g<|end|><|endoftext|><|endoftext|>", "0.35 g"),
    ("0.35 g\n<｜end▁of▁sentence｜>", "0.35 g\n"),
    ("x < 5 and y > 2\n", "x < 5 and y > 2\n"),  # not special: untouched
    ("The answer is 48.  ", "The answer is 48.  "),
])
def test_special_texts_are_stripped_from_the_end_only(text: str, expected: str) -> None:
    assert strip_special_texts(text) == expected
    assert strip_special_texts("0.35 g\n<|custom_stop|>") == "0.35 g\n"
    assert strip_special_texts("0.35 g\n[STOP]", ["[STOP]"]) == "0.35 g\n"


def test_several_references_pass_when_any_passes_and_are_unscored_only_when_none_was_scored() -> None:
    # the one rule every path uses (rlvr_bench.judging.best_reference_verdict)
    passed, failed, unscored = Verdict(True, 0.9), Verdict(False, 0.3), Verdict(None, error="boom")
    assert best_reference_verdict([failed, passed]).passed is True
    assert best_reference_verdict([failed, Verdict(False, 0.4)]).p_pass == 0.4
    assert best_reference_verdict([failed, unscored]).passed is False  # a judged fail is a fail
    assert best_reference_verdict([unscored, unscored]).passed is None
    assert best_reference_verdict([unscored, passed]).passed is True


@pytest.mark.parametrize(
    ("query", "prompt", "expected"),
    [
        ("PROMPT answer", "PROMPT ", "answer"),
        ("<s>PROMPT answer", "PROMPT ", "answer"),  # prompt not a prefix: text after it (a prompt absent from
        # the query is an unscored sample: tests/engines/test_response_extraction.py)
        ("<s> PROMPT answer", "<s>PROMPT ", "answer"),  # special-token spacing changed by decoding
    ],
)
def test_response_part(query: str, prompt: str, expected: str) -> None:
    assert response_part(query, prompt) == expected


def test_parse_request_gives_the_judge_the_whole_response() -> None:
    triples, _ = parse_request(json.dumps({"query": ["Q\nstep\nfinal"], "prompts": ["Q\n"], "labels": ["x"]}).encode())
    assert triples[0].response == "step\nfinal" and triples[0].final_step == "final"
    assert triples[0].question == "Q" and triples[0].reference == "x"


@pytest.mark.parametrize("prompt", [
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "<s>[INST] What is 2+2? [/INST]",
    "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "What is 2+2?\n",
])
def test_the_question_is_the_user_turn_of_the_rendered_prompt(prompt: str) -> None:
    assert question_from_prompt(prompt) == "What is 2+2?"


def test_verl_adapter_local_judge_and_server(server: RunningServer) -> None:
    local = compute_score("procedural", "work\n350 mg", "0.35 g", {"question": "Dose?"}, judge="numeric")
    assert local == {"score": 1.0, "unscored": 0.0, "unscored_label": 0.0}
    wrong = compute_score("procedural", "350 g", "0.35 g", None, judge="numeric")
    assert wrong == {"score": 0.0, "unscored": 0.0, "unscored_label": 0.0}
    remote = compute_score_batch(["a", "b"], ["x\n5", "6"], ["5", "5"], url=f"{server.url}/get_reward")
    assert [s["score"] for s in remote] == [1.0, 0.0]
