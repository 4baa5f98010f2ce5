"""The ``vllm`` backend: offline ``vllm.LLM`` inference for large verifiers on GPUs.

Optional (``pip install 'rlvr-bench[vllm]'``, CUDA only): vllm is imported
only when a preset with this backend is built. Each prompt is sampled for one
token at temperature 0 with the top log-probabilities; vLLM schedules and
batches the whole list itself, across ``tensor_parallel_size`` GPUs.

:func:`verdicts_from_vllm_outputs` maps vLLM's ``RequestOutput`` objects to
verdicts; it is a pure function over their attributes, tested with stand-ins.

Preset parameters (besides those of :mod:`rlvr_bench.judges.model_judge`):
``model`` (hub id or local folder), ``revision``, ``tensor_parallel_size``
(default 1), ``dtype`` (default "auto"), ``max_model_len`` (default 4096),
``gpu_memory_utilization`` (default 0.9), ``top_logprobs`` (default 20),
``trust_remote_code`` (default false).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.model_judge import ModelJudge, checkpoint_reason
from rlvr_bench.judges.verdict_parsing import VerdictWords, verdict_from_top_logprobs
from rlvr_bench.records import Verdict


def verdicts_from_vllm_outputs(outputs: Iterable[Any], words: VerdictWords) -> list[Verdict]:
    """One verdict per vLLM ``RequestOutput``, in order.

    Reads ``prompt_token_ids``, ``outputs[0].text``, ``outputs[0].token_ids`` and
    ``outputs[0].logprobs``: a list (one entry per generated token) of dicts
    from token id to an object with ``logprob`` and ``decoded_token``, holding
    the top-k tokens plus the sampled one.
    """
    verdicts: list[Verdict] = []
    for request in outputs:
        prompt_tokens = len(getattr(request, "prompt_token_ids", None) or []) or None
        completions = getattr(request, "outputs", None) or []
        if not completions:
            verdicts.append(Verdict(passed=None, error="unparseable verdict: vLLM returned no completion",
                                    prompt_tokens=prompt_tokens))
            continue
        completion = completions[0]
        token_ids = list(getattr(completion, "token_ids", None) or [])
        output = str(getattr(completion, "text", "") or "")
        top: list[tuple[str, float]] | None = None
        logprobs = getattr(completion, "logprobs", None)
        if logprobs:
            first: dict[int, Any] = logprobs[0]
            top = [(str(entry.decoded_token or ""), float(entry.logprob)) for entry in first.values()]
            if token_ids and token_ids[0] in first and first[token_ids[0]].decoded_token is not None:
                output = str(first[token_ids[0]].decoded_token)
        verdicts.append(verdict_from_top_logprobs(output, top, words, prompt_tokens, len(token_ids)))
    return verdicts


class VLLMJudge(ModelJudge):
    """Generative verifier run with offline vLLM (one-token sampling, top log-probabilities)."""

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        if importlib.util.find_spec("vllm") is None:
            return (f"judge {spec.name!r} needs vllm (CUDA only): pip install 'rlvr-bench[vllm]', "
                    f"or use the endpoint variant of this judge against a vLLM server")
        return checkpoint_reason(spec, spec.params.get("model"))

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        from vllm import LLM, SamplingParams  # optional extra: imported only when this backend is chosen

        from rlvr_bench.checkpoints import resolve_checkpoint

        params = spec.params
        self.llm = LLM(
            model=resolve_checkpoint(str(params["model"])),
            revision=params.get("revision"),
            tensor_parallel_size=int(params.get("tensor_parallel_size", 1)),
            dtype=str(params.get("dtype", "auto")),
            max_model_len=int(params.get("max_model_len", 4096)),
            gpu_memory_utilization=float(params.get("gpu_memory_utilization", 0.9)),
            trust_remote_code=bool(params.get("trust_remote_code", False)),
            seed=0,
        )
        self.sampling = SamplingParams(max_tokens=1, temperature=0.0, logprobs=int(params.get("top_logprobs", 20)))

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        began = time.perf_counter()
        rendered = [self.render(triple) for triple in triples]
        if self.template.is_chat:
            prefix = self.template.assistant_prefix
            conversations = [r.chat_messages() + ([{"role": "assistant", "content": prefix}] if prefix else [])
                             for r in rendered]
            outputs = self.llm.chat(conversations, self.sampling, use_tqdm=False,
                                    add_generation_prompt=not prefix, continue_final_message=bool(prefix))
        else:
            outputs = self.llm.generate([(r.raw or "") + r.assistant_prefix for r in rendered], self.sampling,
                                        use_tqdm=False)
        verdicts = verdicts_from_vllm_outputs(outputs, self.words)
        latency = (time.perf_counter() - began) / max(len(triples), 1)
        self.meter.add(verdicts=len(verdicts), prompt_tokens=sum(v.prompt_tokens or 0 for v in verdicts),
                       completion_tokens=sum(v.completion_tokens or 0 for v in verdicts), calls=1)
        return [replace(v, latency_s=latency) for v in verdicts]
