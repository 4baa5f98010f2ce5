"""Issue 26, defect 1: the response is located in OpenRLHF's query under every chat template the server
reads, so a non-answer is never rewarded with the question's own words, and the end of turn is stripped.

Each rollout runs OpenRLHF 0.11.2's own ``preprocess_data`` + ``SingleTurnAgentExecutor.execute`` (decode
with ``skip_special_tokens=False``, ``_fetch_rewards_via_http``) on the family's published chat template
(tests/engines/chat_templates.py; SmolLM2's real tokenizer). On the old code Mistral's ``<s> [INST]``
spacing made the whole query the response (an empty answer and "I am not sure" got 1.0) and Nemotron's
``<extra_id_1>`` was judged as the final step (a correct answer got 0.0).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from chat_templates import FAMILIES, Family, decoded_query, openrlhf_rollout_on
from engine_clients import openrlhf_experience

from rlvr_bench.judges.registry import judge as build_judge
from rlvr_bench.reward_rows import response_part
from rlvr_bench.reward_server import RewardService, RunningServer, start_server

DOSE = "Convert 350 mg to grams."
CITY = "Paris or Lyon?"
IDS = [family.name for family in FAMILIES]


@pytest.fixture(scope="module")
def numeric() -> Iterator[RunningServer]:
    running = start_server(RewardService(build_judge("numeric")))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def contains() -> Iterator[RunningServer]:
    running = start_server(RewardService(build_judge("contains")))
    yield running
    running.stop()


def _reward(server: RunningServer, family: Family, question: str, response: str, label: str) -> tuple[float, float]:
    output = openrlhf_rollout_on(family, f"{server.url}/get_reward", question, response, label)
    experience = openrlhf_experience(output)  # OpenRLHF's own conversion into training tensors
    return experience.rewards.flatten().tolist()[0], output["extra_logs"]["unscored"][0]


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_a_correct_answer_scores_1_under_every_template(numeric: RunningServer, family: Family) -> None:
    assert _reward(numeric, family, DOSE, "350 mg is 0.35 g.\nFinal answer: 0.35 g\n", "0.35 g") == (1.0, 0.0)


@pytest.mark.parametrize("response", ["", "\n", "I am not sure\n"])
@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_a_non_answer_is_not_rewarded_with_the_questions_words(numeric: RunningServer, contains: RunningServer,
                                                               family: Family, response: str) -> None:
    # numeric: "350 mg" in the question equals the label 0.35 g; contains: "Paris" is in the question
    assert _reward(numeric, family, DOSE, response, "0.35 g") == (0.0, 0.0)
    assert _reward(contains, family, CITY, response, "Paris") == (0.0, 0.0)
    assert _reward(contains, family, CITY, "The answer is Paris.\n", "Paris") == (1.0, 0.0)


def test_mistral_decodes_with_a_space_after_bos_and_the_response_is_still_found() -> None:
    mistral = next(f for f in FAMILIES if f.name == "mistral")
    prompt, query = decoded_query(mistral, DOSE, "I am not sure\n")
    assert prompt.startswith("<s>[INST]") and query.startswith("<s> [INST]")  # not a byte prefix
    assert response_part(query, prompt).strip() == "I am not sure\n</s>".strip()


def test_nemotrons_end_of_turn_is_not_the_final_step(numeric: RunningServer) -> None:
    nemotron = next(f for f in FAMILIES if f.name == "nemotron")
    _, query = decoded_query(nemotron, DOSE, "Final answer: 0.35 g\n")
    assert query.endswith("0.35 g\n<extra_id_1>")
    assert _reward(numeric, nemotron, DOSE, "Final answer: 0.35 g\n", "0.35 g") == (1.0, 0.0)


def test_a_query_without_its_prompt_is_an_unscored_sample_with_a_reason(numeric: RunningServer) -> None:
    from rlvr_bench.reward_rows import ResponseNotFound

    with pytest.raises(ResponseNotFound):
        response_part("350 mg, so 0.35 g", "<|im_start|>user\nConvert 350 mg to grams.<|im_end|>\n")
    body = {"query": ["350 mg, so 0.35 g", "Q: dose?\nA: 0.35 g"], "prompts": ["<|im_start|>user\nConvert 350 mg "
            "to grams.<|im_end|>\n<|im_start|>assistant\n", "Q: dose?\nA: "], "labels": ["0.35 g", "0.35 g"]}
    data = httpx.post(f"{numeric.url}/get_reward", json=body).json()
    assert data["rewards"] == [0.0, 1.0] and data["extra_logs"]["unscored"] == [1.0, 0.0]
    assert data["extra_logs"]["unscored_label"] == [0.0, 0.0]  # the response, not the label, was the cause
    assert "prompt is not in the query" in data["reasons"][0]
    assert numeric.service.health()["fallback_response"] >= 1


def test_a_prompt_cut_from_the_left_still_locates_the_response() -> None:
    # OpenRLHF truncates an over-long prompt's token ids from the left: the query starts mid-prompt
    prompt = "<|im_start|>system\n" + "Be brief. " * 50 + "<|im_end|>\n<|im_start|>user\n" + DOSE + \
        "<|im_end|>\n<|im_start|>assistant\n"
    query = prompt[200:] + "Final answer: 0.35 g<|im_end|>"
    assert response_part(query, prompt) == "Final answer: 0.35 g<|im_end|>"
