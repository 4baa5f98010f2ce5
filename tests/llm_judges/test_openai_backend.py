"""The openai backend over real HTTP: serve-judge with the tiny model, and a fault-injecting stub."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from llm_judge_helpers import FaultServer, synthetic_triples

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.openai_backend import OpenAIJudge, backoff_delay, parse_retry_after

FAST_RETRIES = {"max_retries": 2, "backoff_initial_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5}


def http_judge(base_url: str, **params: Any) -> OpenAIJudge:
    spec = JudgeSpec("http-judge", "openai", params={"model": "tiny", "base_url": base_url,
                                                     "api_key_required": False, **params})
    assert OpenAIJudge.check(spec) is None
    return OpenAIJudge(spec)


def whole_vocabulary(hf_judge: Any) -> int:
    """``top_logprobs`` that returns the served model's whole next-token distribution.

    The client then sums the same events the hf backend sums (every spelling of each verdict word,
    multi-token words through its follow-up requests), so the two sides differ only by float32 rounding
    of the same logits computed in differently padded batches (about 1e-6 in log-probability, so well
    under 1e-4 in p_pass). With a top-k cut instead, the difference is the verdict mass that falls
    outside the top k, which depends on the weights: the tiny judge is trained on this CPU at test time,
    so that mass (and a fixed tolerance for it) would differ from machine to machine.
    """
    from rlvr_bench.serve_judge import MAX_TOP_LOGPROBS

    size = int(hf_judge.lm.model.config.vocab_size)
    assert size <= MAX_TOP_LOGPROBS
    return size


def test_soft_scores_over_http_match_the_hf_backend(judge_server: Any, tiny_hf_judge: Any) -> None:
    triples = synthetic_triples(24, seed=5)
    over_http = http_judge(judge_server.base_url, concurrency=8,
                           top_logprobs=whole_vocabulary(tiny_hf_judge)).judge_batch(triples)
    local = tiny_hf_judge.judge_batch(triples)
    for remote, here in zip(over_http, local, strict=True):
        assert remote.error is None and remote.passed == here.passed and remote.raw == here.raw
        assert remote.p_pass == pytest.approx(here.p_pass, abs=1e-4)
        assert remote.prompt_tokens == here.prompt_tokens
    assert len({round(v.p_pass or 0, 3) for v in over_http}) > 3


def test_assistant_prefix_is_continued_the_same_way_on_both_backends(
        judge_server: Any, tiny_hf_judge: Any, tmp_path: Path) -> None:
    from rlvr_bench.judges.hf_backend import HFJudge

    template = tmp_path / "prefixed.txt"
    template.write_text("[user]\nQuestion: {question}\nAnswer: {final_step}\nReference: {reference}\n"
                        "[assistant_prefix]\nVerdict:\n", encoding="utf-8")
    triples = synthetic_triples(6, seed=9)
    hf = HFJudge(JudgeSpec("p", "hf", params={**tiny_hf_judge.spec.params, "prompt": str(template)}))
    # the prefix leaves little mass on the verdict words, spread over many spellings: the client needs the
    # whole distribution to sum what the hf backend sums (see whole_vocabulary)
    remote = http_judge(judge_server.base_url, prompt=str(template),
                        top_logprobs=whole_vocabulary(tiny_hf_judge)).judge_batch(triples)
    for a, b in zip(remote, hf.judge_batch(triples), strict=True):
        assert a.raw == b.raw and a.prompt_tokens == b.prompt_tokens
        if a.passed is not None:
            assert a.p_pass == pytest.approx(b.p_pass, abs=1e-4)


def test_without_logprobs_the_text_still_gives_the_verdict(judge_server: Any, tiny_hf_judge: Any) -> None:
    triples = synthetic_triples(8, seed=6)
    remote = http_judge(judge_server.base_url, logprobs=False).judge_batch(triples)
    local = tiny_hf_judge.judge_batch(triples)
    assert [v.passed for v in remote] == [v.passed for v in local]
    assert all(v.p_pass is None and v.error is None for v in remote)


def test_usage_and_cost_per_thousand_verdicts() -> None:
    with FaultServer() as server:
        judge = http_judge(server.base_url, price_input_per_mtok=2.5, price_output_per_mtok=10.0)
        verdicts = judge.judge_batch([Triple("q", "r", str(i)) for i in range(4)])
    # the stub reports 100 prompt + 1 completion tokens per call and P(YES)=0.7, P(NO)=0.2
    assert all(v.passed is True and v.p_pass == pytest.approx(0.7 / 0.9) for v in verdicts)
    usage = judge.usage()
    assert (usage.verdicts, usage.prompt_tokens, usage.completion_tokens, usage.calls) == (4, 400, 4, 4)
    # 400 * 2.5e-6 + 4 * 10e-6 = 0.00104 US$ for 4 verdicts -> 0.26 US$ per 1,000
    assert usage.cost_usd == pytest.approx(0.00104)
    assert usage.cost_per_1k_verdicts_usd == pytest.approx(0.26)


def test_429_honours_retry_after_then_succeeds() -> None:
    with FaultServer(script=["429"], retry_after="0.4") as server:
        began = time.monotonic()
        verdict = http_judge(server.base_url, **FAST_RETRIES).judge_batch([Triple("q", "r", "a")])[0]
        elapsed = time.monotonic() - began
    assert verdict.passed is True and server.requests == 2
    assert server.times[1] - server.times[0] >= 0.4  # Retry-After beats the 0.01 s backoff
    assert elapsed < 3


@pytest.mark.parametrize(
    ("behaviour", "reason", "requests"),
    [
        ("500", "HTTP 500: status 500 (gave up after 3 attempts)", 3),
        ("429", "HTTP 429: slow down (gave up after 3 attempts)", 3),
        ("timeout", "timeout: no response in time (gave up after 3 attempts)", 3),
        ("malformed", "malformed response: ", 3),
        ("no-choices", "malformed response: no choices in the response (gave up after 3 attempts)", 3),
        ("400", "HTTP 400: status 400", 1),  # a client error is not retried
    ],
)
def test_bounded_retries_then_unscored_with_the_reason(behaviour: str, reason: str, requests: int) -> None:
    with FaultServer(default=behaviour, retry_after="0.01", hang_s=1.5) as server:
        params = {**FAST_RETRIES, "timeout_s": 0.3}
        verdict = http_judge(server.base_url, **params).judge_batch([Triple("q", "r", "a")])[0]
        assert server.requests == requests
    assert verdict.passed is None and verdict.p_pass is None and verdict.raw == ""
    assert verdict.error is not None and verdict.error.startswith(reason)
    assert verdict.error.endswith("(gave up after 3 attempts)") == (requests == 3)


def test_concurrency_is_limited() -> None:
    with FaultServer(delay_s=0.15) as server:
        began = time.monotonic()
        verdicts = http_judge(server.base_url, concurrency=3).judge_batch([Triple("q", "r", str(i)) for i in range(9)])
        elapsed = time.monotonic() - began
    assert all(v.passed for v in verdicts)
    assert server.max_in_flight == 3
    assert elapsed >= 3 * 0.15  # 9 requests, 3 at a time, 0.15 s each


def test_works_when_called_from_inside_an_event_loop() -> None:
    import asyncio

    async def inside() -> list[Any]:
        with FaultServer() as server:
            return http_judge(server.base_url).judge_batch([Triple("q", "r", "a")])

    assert asyncio.run(inside())[0].passed is True


def test_the_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test-123456")
    with FaultServer() as server:
        spec = JudgeSpec("k", "openai", params={"model": "m", "base_url": server.base_url,
                                                "api_key_env": "MY_JUDGE_KEY"})
        OpenAIJudge(spec).judge_batch([Triple("q", "r", "a")])
    assert server.authorizations == ["Bearer sk-test-123456"]
    assert "sk-test" not in repr(spec.to_json())


@pytest.mark.parametrize(
    ("params", "env", "reason"),
    [
        ({"model": "gpt-4o"}, {}, "judge 'j' needs OPENAI_API_KEY: set it in the environment "
                                  "(export OPENAI_API_KEY=...)"),
        ({"model": "m", "api_key_required": False, "base_url_env": "QWEN72B_BASE_URL"}, {},
         "judge 'j' needs QWEN72B_BASE_URL: set it to an OpenAI-compatible endpoint "
         "(export QWEN72B_BASE_URL=http://HOST:PORT/v1, e.g. a vLLM server)"),
        ({"model": "m", "api_key_required": False, "base_url_env": "QWEN72B_BASE_URL"},
         {"QWEN72B_BASE_URL": "http://127.0.0.1:1/v1"}, None),
        ({"model": "m", "api_key_required": False, "prompt": "general-verifier"}, {},
         "judge 'j': prompt 'general-verifier' is a raw [prompt] template; "
         "the openai backend needs a chat template ([system]/[user])"),
        ({"api_key_required": False}, {}, "judge 'j' needs params.model: the model name the endpoint serves"),
    ],
)
def test_check_says_what_to_set(params: dict[str, Any], env: dict[str, str], reason: str | None,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "QWEN72B_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert OpenAIJudge.check(JudgeSpec("j", "openai", params=params)) == reason


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"Retry-After": "2"}, 2.0), ({"retry-after-ms": "250"}, 0.25), ({"Retry-After": "soon"}, None),
     ({}, None), ({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0)],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    # the HTTP date is 10 s after "now" = 2015-10-21 07:28:00 UTC (epoch 1445412480)
    assert parse_retry_after(headers, now=1445412480.0) == seconds


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [(0, None, 1.0), (1, None, 2.0), (4, None, 16.0), (6, None, 30.0), (0, 5.0, 5.0), (3, 5.0, 8.0),
     (0, 600.0, 60.0)],
)
def test_backoff_is_exponential_capped_and_at_least_retry_after(attempt: int, retry_after: float | None,
                                                                 expected: float) -> None:
    assert backoff_delay(attempt, retry_after, initial_s=1.0, max_s=30.0, max_retry_after_s=60.0) == expected
