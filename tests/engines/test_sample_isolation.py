"""Issue 26, defects 2 and 8: one bad sample is that sample's flagged fallback, never its batch's HTTP 500; a
body's numbers are read without crashing; a rule judge's work per verdict is bounded; an empty label is
refused for every judge kind.

The poison is real: a lone surrogate in a response makes the ``tiny`` model judge's tokenizer raise
(TypeError), a 5,000-digit integer makes ``json.loads`` raise, a 10 MB line kept ``numeric`` busy for
minutes. On the old code each of these answered HTTP 500 to every request batched with it (OpenRLHF's
client then fails after 5 retries) or blocked the only judging thread.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import judge as build_judge
from rlvr_bench.judging import judge_triples
from rlvr_bench.paths import models_home
from rlvr_bench.reward_server import RewardService, RunningServer, start_server

PROMPT = "<|im_start|>user\nA patient weighs 70 kg; the dose is 5 mg/kg. What dose?<|im_end|>\n<|im_start|>assistant\n"
ANSWERS = ["70 x 5 = 350\nTherefore, the answer is 350 mg.\n", "The dose is 0.35 g\n", "I think 12 mg\n"]


def _fetch(url: str, queries: list[str], prompts: list[str], labels: list[Any]) -> list[dict[str, Any]]:
    """OpenRLHF 0.11.2's own reward call (aiohttp, 5 retries 1 s apart, RuntimeError after)."""
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(url)
    result: list[dict[str, Any]] = asyncio.run(executor._fetch_rewards_via_http(queries, prompts, labels))
    return result


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    cache = tmp_path_factory.mktemp("cache")  # a fresh judgment cache: every verdict computed, none shared
    (cache / "models").symlink_to(models_home(), target_is_directory=True)
    saved = os.environ.get("RLVR_BENCH_CACHE")
    os.environ["RLVR_BENCH_CACHE"] = str(cache)
    running = start_server(RewardService(build_judge("tiny"), max_wait_s=0.3))
    yield running
    running.stop()
    if saved is None:
        os.environ.pop("RLVR_BENCH_CACHE")
    else:
        os.environ["RLVR_BENCH_CACHE"] = saved


def _expected(judge_name: str, responses: list[str], label: str) -> list[float]:
    verdicts = judge_triples(build_judge(judge_name), [Triple("A patient weighs 70 kg; the dose is 5 mg/kg. What dose?",
                                                              label, r) for r in responses], cache=None)
    return [float(bool(v.passed)) for v in verdicts]


def test_a_lone_surrogate_is_its_samples_fallback_not_the_batchs_500(tiny: RunningServer) -> None:
    responses = [ANSWERS[0], "350 mg \ud800\n", ANSWERS[1], ANSWERS[2]]
    reply = _fetch(f"{tiny.url}/get_reward", [PROMPT + r + "<|im_end|>" for r in responses], [PROMPT] * 4,
                   ["350 mg"] * 4)[0]
    assert reply["extra_logs"]["unscored"] == [0.0, 1.0, 0.0, 0.0]
    clean = [r for k, r in enumerate(responses) if k != 1]
    assert [reward for k, reward in enumerate(reply["rewards"]) if k != 1] == _expected("tiny", clean, "350 mg")
    assert "the judge raised on this sample" in reply["reasons"][1]
    assert tiny.service.health()["sample_errors"] >= 1 and tiny.service.health()["errors"] == 0


def test_innocent_requests_merged_with_a_poisoned_one_are_rewarded(tiny: RunningServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    bodies = [([PROMPT + ANSWERS[k % 3] + "<|im_end|>"], [PROMPT], ["350 mg"]) for k in range(7)]
    bodies.insert(3, ([PROMPT + "350 mg \udfff<|im_end|>"], [PROMPT], ["350 mg"]))
    with ThreadPoolExecutor(len(bodies)) as pool:  # within one 0.3 s batching window
        replies = list(pool.map(lambda body: _fetch(f"{tiny.url}/get_reward", *body)[0], bodies))
    flags = [reply["extra_logs"]["unscored"][0] for reply in replies]
    assert flags == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    expected = _expected("tiny", [ANSWERS[k % 3] for k in range(7)], "350 mg")
    assert [reply["rewards"][0] for k, reply in enumerate(replies) if k != 3] == expected


def test_a_5000_digit_integer_label_is_refused_for_its_sample_only() -> None:
    running = start_server(RewardService(build_judge("numeric")))
    try:
        body = ('{"query": ["p 7", "p 7"], "prompts": ["p ", "p "], "labels": [' + "9" * 5000 + ', 7]}').encode()
        reply = httpx.post(f"{running.url}/get_reward", content=body)
        assert reply.status_code == 200
        data = reply.json()
        assert data["rewards"] == [0.0, 1.0] and data["extra_logs"] == {"unscored": [1.0, 0.0],
                                                                          "unscored_label": [1.0, 0.0]}
        assert "5000 digits" in data["reasons"][0]
        # a huge number where a string is needed is that sample's refusal too; a body that is not JSON is 400
        body = ('{"query": [' + "1" * 5000 + ', "p 7"], "prompts": ["p ", "p "], "labels": ["7", "7"]}').encode()
        data = httpx.post(f"{running.url}/get_reward", content=body).json()
        assert data["extra_logs"]["unscored"] == [1.0, 0.0] and data["rewards"] == [0.0, 1.0]
        assert httpx.post(f"{running.url}/get_reward", content=b'{"query": [1e5').status_code == 400
        assert running.service.health()["errors"] == 0
    finally:
        running.stop()


def test_a_10_mb_line_is_bounded_not_minutes_on_the_only_judging_thread() -> None:
    running = start_server(RewardService(build_judge("numeric"), max_wait_s=0.0))
    try:
        huge = "1 " * 5_000_000  # 10 MB, one line, a number every 2 characters
        body = {"query": ["p " + huge, "p 7"], "prompts": ["p ", "p "], "labels": ["7", "7"]}
        began = time.monotonic()
        data = httpx.post(f"{running.url}/get_reward", json=body, timeout=60).json()
        assert time.monotonic() - began < 20  # was over 600 s
        assert data["extra_logs"]["unscored"] == [1.0, 0.0] and data["rewards"] == [0.0, 1.0]
        assert "over the rule judges' bound" in data["reasons"][0]
    finally:
        running.stop()


@pytest.mark.parametrize("label", ["", "   ", [""], {"reference": ""}])
def test_an_empty_label_is_refused_for_a_model_judge_too(tiny: RunningServer, label: Any) -> None:
    data = httpx.post(f"{tiny.url}/get_reward", json={"query": [PROMPT + "I am not sure<|im_end|>"],
                                                      "prompts": [PROMPT], "labels": [label]}).json()
    assert data["rewards"] == [0.0] and data["extra_logs"] == {"unscored": [1.0], "unscored_label": [1.0]}
    assert "empty reference" in data["reasons"][0]


@pytest.mark.parametrize("name", ["tiny", "numeric", "contains", "exact"])
def test_the_shared_judging_entry_refuses_an_empty_reference_for_every_judge_kind(name: str) -> None:
    verdicts = judge_triples(build_judge(name), [Triple("Q?", "", "I am not sure"), Triple("Q?", " ", "7")],
                             cache=None)
    assert [v.passed for v in verdicts] == [None, None]
    assert all("empty reference" in (v.error or "") and not v.failed for v in verdicts)  # abstention, not failure
