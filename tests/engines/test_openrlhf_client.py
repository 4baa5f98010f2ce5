"""OpenRLHF 0.11.2's own reward client (SingleTurnAgentExecutor, aiohttp, 5 retries) against a live `serve`.

Defects of issue 14 covered here: (1) the EOS text after the response was judged as the final step;
(2) labels of other JSON types got 400, which the client turns into a run-ending crash after 5 s of
retries (back-pressure 503 too); (3) the documented launch command does not parse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from engine_clients import (
    TEMPLATES,
    ChatTemplate,
    doc_blocks,
    openrlhf_experience,
    openrlhf_parse_args,
    openrlhf_rollout,
    shell_commands,
)
from probe_judges import SlowJudge

from rlvr_bench.judges.registry import judge as build_judge
from rlvr_bench.reward_server import RewardService, RunningServer, start_server


@pytest.fixture(scope="module")
def numeric_server() -> Iterator[RunningServer]:
    running = start_server(RewardService(build_judge("numeric"), "binary"))
    yield running
    running.stop()


def _rollout(server: RunningServer, label: Any, response: str, template: ChatTemplate = TEMPLATES[0]
             ) -> dict[str, Any]:
    return openrlhf_rollout(f"{server.url}/get_reward", template, "A patient needs 5 mg/kg and weighs 70 kg. "
                            "What is the dose in grams?", response, label)


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.name for t in TEMPLATES])
def test_a_correct_answer_followed_by_the_templates_eos_scores_1(numeric_server: RunningServer,
                                                                 template: ChatTemplate) -> None:
    output = _rollout(numeric_server, "350 mg", "Final answer: 0.35 g\n", template)
    assert output["reward"] == [1.0] and output["scores"] == [1.0]
    assert output["extra_logs"]["unscored"] == [0.0]
    wrong = _rollout(numeric_server, "350 mg", "Final answer: 0.35 kg\n", template)
    assert wrong["reward"] == [0.0] and wrong["extra_logs"]["unscored"] == [0.0]


@pytest.mark.parametrize(("label", "response"), [
    (42, "6 x 7 = 42\nThe answer is 42.\n"),
    (0.35, "Final answer: 0.350\n"),
    (["0.35 g"], "Final answer: 350 mg\n"),
    (["1 kg", "350 mg"], "Final answer: 0.35 g\n"),  # several acceptable references: any may match
    ({"reference": "0.35 g", "question": "Dose?"}, "Final answer: 350 mg\n"),
])
def test_labels_of_any_json_type_are_judged(numeric_server: RunningServer, label: Any, response: str) -> None:
    output = _rollout(numeric_server, label, response)
    assert output["reward"] == [1.0] and output["extra_logs"]["unscored"] == [0.0]
    # OpenRLHF's own conversion of the reply into training tensors accepts it
    experience = openrlhf_experience(output)
    assert experience.rewards.flatten().tolist() == [1.0]


@pytest.mark.parametrize("label", [None, True, [], {"question": "no reference"}])
def test_a_label_that_cannot_be_judged_is_flagged_and_the_run_goes_on(numeric_server: RunningServer,
                                                                     label: Any) -> None:
    before = httpx.get(f"{numeric_server.url}/health").json()
    output = _rollout(numeric_server, label, "Final answer: 350 mg\n")
    assert output["reward"] == [0.0]  # the fallback reward, flagged: not a silent 0, not a crash
    assert output["extra_logs"] == {"unscored": [1.0], "unscored_label": [1.0]}
    experience = openrlhf_experience(output)
    assert experience.info["unscored"].flatten().tolist() == [1.0]
    after = httpx.get(f"{numeric_server.url}/health").json()
    assert after["fallback_label"] == before["fallback_label"] + 1
    assert after["unscored"] == before["unscored"] + 1


def test_the_reason_for_a_fallback_is_in_the_reply_and_the_log(numeric_server: RunningServer,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    body = {"query": ["Q: dose?\nA: 350 mg", "Q: dose?\nA: 350 mg"], "prompts": ["Q: dose?\nA: "] * 2,
            "labels": [None, "0.35 g"]}
    data = httpx.post(f"{numeric_server.url}/get_reward", json=body).json()
    assert data["rewards"] == [0.0, 1.0] and data["extra_logs"]["unscored"] == [1.0, 0.0]
    assert "null" in data["reasons"][0] and data["reasons"][1] is None
    assert all(isinstance(v, float) for values in data["extra_logs"].values() for v in values)
    logged = [r.getMessage() for r in caplog.records if r.name == "rlvr_bench.reward_server"]
    assert any("for 1 of 2 samples" in line and "null" in line for line in logged)


def test_a_full_queue_makes_requests_wait_not_fail() -> None:
    """Back-pressure: OpenRLHF's client treats any error reply as fatal, so a full queue waits instead of 503."""
    running = start_server(RewardService(SlowJudge(delay_s=0.2), max_batch=1, max_wait_s=0.0, max_queue=1))
    try:
        with ThreadPoolExecutor(6) as pool:
            outputs = list(pool.map(lambda _: openrlhf_rollout(f"{running.url}/get_reward", TEMPLATES[0], "Q?",
                                                               "7\n", "7"), range(6)))
        assert [o["reward"] for o in outputs] == [[1.0]] * 6
        health = running.service.health()
        assert health["waited_busy"] >= 1 and health["unscored"] == 0
    finally:
        running.stop()


def test_a_judge_slower_than_the_timeout_falls_back_flagged() -> None:
    running = start_server(RewardService(SlowJudge(delay_s=1.0), timeout_s=0.2))
    try:
        output = openrlhf_rollout(f"{running.url}/get_reward", TEMPLATES[0], "Q?", "7\n", "7")
        assert output["reward"] == [0.0] and output["extra_logs"]["unscored"] == [1.0]
        assert running.service.health()["fallback_timeout"] == 1
    finally:
        running.stop()


def test_the_documented_openrlhf_launch_command_parses_with_openrlhf() -> None:
    commands = [c for block in doc_blocks("bash", "openrlhf.cli.train_ppo_ray") for c in shell_commands(block)
                if "openrlhf.cli.train_ppo_ray" in c]
    assert commands, "docs/training.md shows no OpenRLHF launch command"
    for command in commands:
        argv = command[command.index("openrlhf.cli.train_ppo_ray") + 1:]
        args = openrlhf_parse_args(argv)
        assert args.reward.remote_url and all(u.endswith("/get_reward") for u in args.reward.remote_url)
        assert args.data.label_key and args.data.input_key and args.data.prompt_dataset


def test_the_reward_server_reply_is_json_with_numbers_only_in_extra_logs(numeric_server: RunningServer) -> None:
    body = json.dumps({"query": ["x 1"], "prompts": ["x "], "labels": ["1"]})
    reply = httpx.post(f"{numeric_server.url}/get_reward", content=body)
    assert reply.status_code == 200
    assert set(reply.json()["extra_logs"]) == {"unscored", "unscored_label"}
