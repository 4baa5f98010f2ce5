"""Generation backends: the hf backend on a tiny local chat model, the OpenAI backend against a scripted
HTTP transport, and the pure vLLM output mapping with fake objects."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from rlvr_bench.errors import ConfigError
from rlvr_bench.generation import (
    DEFAULT_SYSTEM_PROMPT,
    HFPolicy,
    OpenAIPolicy,
    SamplingSettings,
    build_messages,
    cut_at_stop,
    map_vllm_outputs,
    render_plain,
)

QUESTIONS = ["What is 2 + 2?", "Name the powerhouse of the cell.", "What is the pH of pure water at 25 C?"]


def test_messages_and_plain_rendering() -> None:
    assert build_messages("Q?") == [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                                    {"role": "user", "content": "Q?"}]
    assert build_messages("Q?", "") == [{"role": "user", "content": "Q?"}]
    assert "Therefore, the answer is ..." in DEFAULT_SYSTEM_PROMPT
    assert render_plain(build_messages("Q?", "Be brief.")) == "Be brief.\n\nQ?\n"


@pytest.mark.parametrize(("text", "stop", "expected"), [
    ("abc\n\ndef", ["\n\n"], ("abc", True)),
    ("abc", ["x"], ("abc", False)),
    ("a1b2", ["2", "1"], ("a", True)),      # the earliest occurrence wins, whatever the order of stops
    ("abc", [""], ("abc", False)),          # an empty stop string never matches
])
def test_cut_at_stop(text: str, stop: list[str], expected: tuple[str, bool]) -> None:
    assert cut_at_stop(text, stop) == expected


@pytest.mark.parametrize("kwargs", [{"temperature": -0.1}, {"top_p": 0.0}, {"top_p": 1.5}, {"max_new_tokens": 0}])
def test_sampling_settings_validate(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SamplingSettings(**kwargs)


# ------------------------------------------------------------------ hf


def test_hf_greedy_is_deterministic_and_independent_of_batching(random_policy: Path) -> None:
    prompts = [build_messages(q) for q in QUESTIONS]
    settings = SamplingSettings(max_new_tokens=6)
    batched = HFPolicy("p", str(random_policy), batch_size=3).generate(prompts, 1, settings)
    single = HFPolicy("p", str(random_policy), batch_size=1).generate(prompts, 1, settings)
    assert [r[0].text for r in batched] == [r[0].text for r in single]
    for (result,) in batched:
        assert result.ok and result.finish_reason in ("stop", "length")
        assert 1 <= result.completion_tokens <= 6  # type: ignore[operator]
        assert result.prompt_tokens and result.prompt_tokens > 20


def test_hf_renders_with_the_chat_template(random_policy: Path) -> None:
    text, add_special = HFPolicy("p", str(random_policy)).render(build_messages("Q?"))
    assert text == f"<|system|>\n{DEFAULT_SYSTEM_PROMPT}<|eos|>\n<|user|>\nQ?<|eos|>\n<|assistant|>\n"
    assert add_special is False  # the template already holds the special tokens


def test_hf_samples_n_per_prompt_with_a_seed(random_policy: Path) -> None:
    policy = HFPolicy("p", str(random_policy), batch_size=2)
    settings = SamplingSettings(temperature=1.0, max_new_tokens=8, seed=3)
    first = policy.generate([build_messages(q) for q in QUESTIONS[:2]], 3, settings)
    again = policy.generate([build_messages(q) for q in QUESTIONS[:2]], 3, settings)
    assert [len(samples) for samples in first] == [3, 3]
    assert [[s.text for s in samples] for samples in first] == [[s.text for s in samples] for samples in again]
    # a random model at temperature 1 over a 384-token vocabulary: three samples are not all identical
    assert len({s.text for s in first[0]}) > 1


def test_hf_batch_failure_is_recorded_per_item(random_policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = HFPolicy("p", str(random_policy), batch_size=2)

    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("out of memory")

    policy._load()
    monkeypatch.setattr(policy._model, "generate", explode)
    results = policy.generate([build_messages(q) for q in QUESTIONS], 2, SamplingSettings(temperature=0.5))
    assert [len(r) for r in results] == [2, 2, 2]
    assert all(not s.ok and s.text == "" and s.error == "RuntimeError: out of memory" for r in results for s in r)


# ------------------------------------------------------------------ openai


def _client(handler: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def _completion(texts: list[str], finish: str = "stop") -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": finish}
                        for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5 * len(texts), "total_tokens": 11 + 5 * len(texts)}}


def test_openai_request_and_mapping() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        # a server that ignores n and returns one choice: the backend asks again for the rest
        return httpx.Response(200, json=_completion([f"Therefore, the answer is {len(seen)}.\n\nextra"]))

    policy = OpenAIPolicy("p", "served-model", "http://127.0.0.1:1/v1", None, concurrency=1, max_retries=0,
                          http_client=_client(handler))
    settings = SamplingSettings(temperature=0.7, top_p=0.9, max_new_tokens=32, seed=4, stop=("\n\n",))
    (samples,) = policy.generate([build_messages("Q?")], 2, settings)
    assert seen[0]["model"] == "served-model" and seen[0]["messages"][1] == {"role": "user", "content": "Q?"}
    assert (seen[0]["n"], seen[0]["temperature"], seen[0]["top_p"], seen[0]["max_tokens"], seen[0]["seed"],
            seen[0]["stop"]) == (2, 0.7, 0.9, 32, 4, ["\n\n"])
    assert "n" not in seen[1]  # the second request asks for the one missing sample
    assert [s.text for s in samples] == ["Therefore, the answer is 1.", "Therefore, the answer is 2."]
    assert samples[0].finish_reason == "stop" and samples[0].prompt_tokens == 11 and samples[0].completion_tokens == 5
    assert "api_key" not in json.dumps(policy.describe()).lower()


def test_openai_server_error_is_recorded_not_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"message": "model crashed"}})

    policy = OpenAIPolicy("p", "m", "http://127.0.0.1:1/v1", None, max_retries=0, http_client=_client(handler))
    results = policy.generate([build_messages("Q1"), build_messages("Q2")], 2, SamplingSettings())
    assert [len(r) for r in results] == [2, 2]
    assert all(s.error and s.error.startswith("InternalServerError") and s.text == "" for r in results for s in r)


# ------------------------------------------------------------------ vllm


def test_vllm_output_mapping() -> None:
    def completion(text: str, tokens: int, finish: str) -> SimpleNamespace:
        return SimpleNamespace(text=text, token_ids=list(range(tokens)), finish_reason=finish)

    outputs = [
        SimpleNamespace(prompt_token_ids=[1, 2, 3], outputs=[completion("a\nTherefore, the answer is 4.", 9, "stop"),
                                                              completion("b STOP c", 4, "length")]),
        SimpleNamespace(prompt_token_ids=[1], outputs=[completion("only one", 2, "stop")]),
    ]
    results = map_vllm_outputs(outputs, n=2, stop=("STOP",), latency_s=0.8)
    first, second = results
    assert [s.text for s in first] == ["a\nTherefore, the answer is 4.", "b "]
    assert [s.finish_reason for s in first] == ["stop", "stop"]  # the stop string ended the second sample
    assert (first[0].prompt_tokens, first[0].completion_tokens) == (3, 9)
    assert first[0].latency_s == pytest.approx(0.8 / 4)
    # a request with fewer completions than asked for is padded with a recorded failure
    assert second[0].text == "only one" and not second[1].ok


def test_hf_model_lifecycle(random_policy: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = HFPolicy("p", str(random_policy))
    loaded.generate([build_messages("Q?")], 1, SamplingSettings(max_new_tokens=2))
    loaded.close()
    assert loaded._model is None  # a model it loaded itself is freed
    model = AutoModelForCausalLM.from_pretrained(random_policy)
    model.train()
    lent = HFPolicy.from_model("live", model, AutoTokenizer.from_pretrained(random_policy))
    lent.generate([build_messages("Q?")], 1, SamplingSettings(max_new_tokens=2))
    lent.close()
    # a model lent by the caller (e.g. a policy being trained) is kept, and back in training mode
    assert lent._model is model and model.training
