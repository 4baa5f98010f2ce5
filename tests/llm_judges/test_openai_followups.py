"""The openai backend follows partial verdict words ("Y" of a two-token "YES") with continuation requests."""

from __future__ import annotations

import asyncio
import math
from types import SimpleNamespace
from typing import Any

import pytest

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.openai_backend import OpenAIJudge
from rlvr_bench.judges.verdict_parsing import LOW_MASS_PREFIX


def completion(top: dict[str, float]) -> Any:
    """A chat completion whose first token is the most likely of ``top`` (probabilities, not logs)."""
    entries = [SimpleNamespace(token=t, logprob=math.log(p)) for t, p in sorted(top.items(), key=lambda x: -x[1])]
    first = SimpleNamespace(token=entries[0].token, logprob=entries[0].logprob, top_logprobs=entries)
    choice = SimpleNamespace(message=SimpleNamespace(content=first.token), logprobs=SimpleNamespace(content=[first]))
    return SimpleNamespace(choices=[choice], usage=SimpleNamespace(prompt_tokens=50, completion_tokens=1))


class SplitYesServer:
    """A model whose tokenizer spells YES as "Y" + "ES" (and " Y" + "E" + "S"); NO is one token."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    async def create(self, **request: Any) -> Any:
        self.requests.append(request)
        last = request["messages"][-1]
        continued = last["content"] if last["role"] == "assistant" else None
        table = {None: {"Y": 0.4, "NO": 0.2, "The": 0.3, " Y": 0.05, "Yes": 0.01},
                 "Y": {"ES": 0.5, "o": 0.3, "es": 0.1}, " Y": {"E": 0.8, "ay": 0.1}, " YE": {"S": 0.9, "AH": 0.1}}
        return completion(table[continued])


def judge_with(server: SplitYesServer, **params: Any) -> tuple[OpenAIJudge, Any]:
    judge = OpenAIJudge(JudgeSpec("split", "openai", params={"model": "m", "base_url": "http://127.0.0.1:9/v1",
                                                             "api_key_required": False, **params}))
    verdict = asyncio.run(judge._judge_one(server, asyncio.Semaphore(1), Triple("q?", "4", "4")))
    return judge, verdict


def test_partial_words_are_followed_to_the_whole_word_probability() -> None:
    server = SplitYesServer()
    judge, verdict = judge_with(server)
    # P(YES) = P(Y) P(ES|Y) + P(Y) P(es|Y) + P( Y) P(E| Y) P(S| YE) + P(Yes); P(NO) = 0.2
    p_yes = 0.4 * 0.5 + 0.4 * 0.1 + 0.05 * 0.8 * 0.9 + 0.01
    assert verdict.passed is True and verdict.p_pass == pytest.approx(p_yes / (p_yes + 0.2))
    assert verdict.raw == "Y" and verdict.error is not None and verdict.error.startswith(LOW_MASS_PREFIX)
    continued = sorted(r["messages"][-1]["content"] for r in server.requests if r["messages"][-1]["role"] ==
                       "assistant")
    assert continued == [" Y", " YE", "Y"]  # depth 3 at most; "The", "NO", "Yes" need nothing more
    assert all(r["extra_body"]["continue_final_message"] for r in server.requests[1:])
    assert judge.usage().calls == 4 and judge.usage().verdicts == 1


def test_followups_off_reads_only_the_first_token() -> None:
    server = SplitYesServer()
    _judge, verdict = judge_with(server, verdict_followups=False)
    assert len(server.requests) == 1
    assert verdict.p_pass == pytest.approx(0.01 / 0.21)
