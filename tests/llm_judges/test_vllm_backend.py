"""The vllm backend without vllm: the pure output -> verdict mapping on vLLM-shaped stand-ins."""

from __future__ import annotations

import importlib.util
import math
from types import SimpleNamespace as NS

import pytest

from rlvr_bench.judges.base import JudgeSpec
from rlvr_bench.judges.verdict_parsing import VerdictWords
from rlvr_bench.judges.vllm_backend import VLLMJudge, verdicts_from_vllm_outputs

YES_ID, NO_ID, YES_SPACE_ID, THE_ID = 11, 12, 13, 14


def logprob(token: str, p: float, rank: int) -> NS:
    """Stand-in for vllm.sequence.Logprob."""
    return NS(logprob=math.log(p), rank=rank, decoded_token=token)


def request_output(token_ids: list[int], text: str, first: dict[int, NS] | None, prompt_len: int = 30) -> NS:
    """Stand-in for vllm.RequestOutput with one CompletionOutput."""
    completion = NS(index=0, text=text, token_ids=token_ids, logprobs=[first] if first is not None else None)
    return NS(prompt_token_ids=list(range(prompt_len)), outputs=[completion])


def test_top_logprobs_give_the_soft_score() -> None:
    # P(YES) + P(" Yes") = 0.6 + 0.1 = 0.7, P(NO) = 0.2: p_pass = 0.7 / 0.9
    first = {YES_ID: logprob("YES", 0.6, 1), NO_ID: logprob("NO", 0.2, 2), YES_SPACE_ID: logprob(" Yes", 0.1, 3),
             THE_ID: logprob("The", 0.05, 4)}
    verdict = verdicts_from_vllm_outputs([request_output([YES_ID], "YES", first)], VerdictWords())[0]
    assert verdict.passed is True and verdict.p_pass == pytest.approx(0.7 / 0.9)
    assert (verdict.raw, verdict.prompt_tokens, verdict.completion_tokens) == ("YES", 30, 1)


def test_sampled_token_outside_the_top_k_is_still_read() -> None:
    # vLLM adds the sampled token to the top-k dict; here it is "The": the verdict words still hold 0.5 of the
    # probability, so P(YES | YES or NO) scores it (not flagged: 0.5 is not below low_verdict_mass)
    first = {YES_ID: logprob("YES", 0.3, 2), NO_ID: logprob("NO", 0.2, 3), THE_ID: logprob("The", 0.4, 1)}
    verdict = verdicts_from_vllm_outputs([request_output([THE_ID], "The", first)], VerdictWords())[0]
    assert verdict.passed is True and verdict.p_pass == pytest.approx(0.6) and verdict.raw == "The"
    assert verdict.error is None
    only_the = {THE_ID: logprob("The", 0.9, 1)}
    unscored = verdicts_from_vllm_outputs([request_output([THE_ID], "The", only_the)], VerdictWords())[0]
    assert unscored.passed is None and unscored.error == "unparseable verdict: output 'The' is neither YES nor NO"


def test_no_logprobs_and_no_output() -> None:
    outputs = [request_output([NO_ID], "NO", None), NS(prompt_token_ids=[1, 2], outputs=[])]
    no_logprobs, empty = verdicts_from_vllm_outputs(outputs, VerdictWords())
    assert (no_logprobs.passed, no_logprobs.p_pass) == (False, None)
    assert empty.passed is None and empty.error == "unparseable verdict: vLLM returned no completion"


def test_order_is_kept_for_a_batch() -> None:
    outputs = [request_output([NO_ID], "NO", {NO_ID: logprob("NO", 0.9, 1), YES_ID: logprob("YES", 0.1, 2)}),
               request_output([YES_ID], "YES", {YES_ID: logprob("YES", 0.8, 1), NO_ID: logprob("NO", 0.2, 2)})]
    verdicts = verdicts_from_vllm_outputs(outputs, VerdictWords())
    assert [v.passed for v in verdicts] == [False, True]
    assert [v.p_pass for v in verdicts] == [pytest.approx(0.1), pytest.approx(0.8)]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_check_without_vllm_says_how_to_install_it() -> None:
    reason = VLLMJudge.check(JudgeSpec("qwen72b-vllm", "vllm", params={"model": "Qwen/Qwen2.5-72B-Instruct"}))
    assert reason == ("judge 'qwen72b-vllm' needs vllm (CUDA only): pip install 'rlvr-bench[vllm]', "
                      "or use the endpoint variant of this judge against a vLLM server")
