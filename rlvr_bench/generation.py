"""Policy backends: turn chat prompts into sampled responses.

Every backend implements one method, ``generate(prompts, n, sampling)``: for
each prompt (a list of chat messages, or a text to continue) it returns ``n`` :class:`GenerationResult`
objects. A failure (an API error after bounded retries, a batch that runs out
of memory) is a result with ``error`` set and empty text, recorded per item,
never an exception that sinks the run.

Backends, chosen by a policy spec (see :mod:`rlvr_bench.policies`):

- :class:`HFPolicy`: any checkpoint :mod:`rlvr_bench.checkpoints` loads (``smollm2``, a folder,
  a ``.gguf`` file, a hub id), the tokenizer's chat template, batched ``generate`` with left padding;
- :class:`OpenAIPolicy`: any OpenAI-compatible chat endpoint (a vLLM or
  ``transformers serve`` server, a hosted API); concurrent requests;
- :class:`VLLMPolicy`: vLLM offline inference (optional, CUDA only; imported
  only when chosen). :func:`map_vllm_outputs` is its pure output mapping.

How a prompt is rendered matters for comparing with other harnesses: with a
chat template the text is ``apply_chat_template(messages, add_generation_prompt=True)``
tokenized without extra special tokens (the template already holds them), as
lm-evaluation-harness does with ``--apply_chat_template``; without one, the
message contents are joined by blank lines (see :func:`render_plain`). A text
prompt is tokenized as is, without special tokens, as training saw it.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from rlvr_bench.errors import ConfigError
from rlvr_bench.secrets import redact

#: a chat prompt: [{"role": "system" | "user" | "assistant", "content": str}, ...]
Messages = list[dict[str, str]]
#: what a policy is given per question: chat messages, or a text prompt continued as is (a recipe's
#: template, see :class:`rlvr_bench.prompting.PromptFormat`)
Prompt = Messages | str
#: called with (policy name, number of prompts just finished)
GenerationProgress = Callable[[str, int], None]

#: The study's policy instruction (Su et al. 2025): answer, then end with a line
#: "Therefore, the answer is ...", so that the final step is the answer the verifier sees.
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the question. You may reason step by step first; "
    'then give your final answer on the last line in the form "Therefore, the answer is ...".'
)


def build_messages(question: str, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT) -> Messages:
    """The chat prompt for one question: the system prompt (omitted when empty) and the question."""
    messages: Messages = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": question})
    return messages


def render_plain(messages: Messages) -> str:
    """A prompt for a model without a chat template: message contents joined by blank lines, then a newline."""
    return "\n\n".join(message["content"] for message in messages) + "\n"


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample: temperature 0 means greedy decoding (and then ``top_p`` is ignored)."""

    #: >= 0; 0 = greedy
    temperature: float = 0.0
    #: nucleus sampling mass in (0, 1]
    top_p: float = 1.0
    #: generated tokens per sample, >= 1
    max_new_tokens: int = 512
    #: seeds the sampler (torch / the server's ``seed`` parameter)
    seed: int = 0
    #: generation stops before the first of these strings (which is not included in the text)
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "stop": list(self.stop)}


@dataclass(frozen=True)
class GenerationResult:
    """One sampled response, or why there is none (``error`` set, ``text`` empty)."""

    text: str
    #: "stop" (end of turn or a stop string), "length" (hit max_new_tokens), None when unknown
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: wall time of the call that produced it, divided by the samples it produced (seconds)
    latency_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def failed(reason: str, latency_s: float = 0.0) -> GenerationResult:
    """A failed generation; the reason passes through :func:`rlvr_bench.secrets.redact` (a server may echo
    the request's headers, key included, in its error body)."""
    return GenerationResult(text="", finish_reason=None, latency_s=latency_s, error=redact(reason))


@runtime_checkable
class Policy(Protocol):
    """Anything that samples ``n`` responses per chat prompt."""

    @property
    def name(self) -> str: ...

    def describe(self) -> dict[str, Any]:
        """What the run config records about this policy (never a secret)."""
        ...

    def generate(self, prompts: Sequence[Prompt], n: int, sampling: SamplingSettings,
                 on_progress: GenerationProgress | None = None) -> list[list[GenerationResult]]: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first occurrence of any stop string, and whether one was found."""
    cut = min((index for s in stop if s and (index := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


# ------------------------------------------------------------------ transformers


class HFPolicy:
    """A causal LM (a project name such as ``smollm2``, a local folder, a ``.gguf`` file or a hub id, loaded by
    :func:`rlvr_bench.checkpoints.load_causal_lm`), generating in batches of prompts.

    The model loads on first use, or pass an already loaded ``model``/``tokenizer``
    (e.g. a policy being trained) with :meth:`from_model`.
    """

    def __init__(self, name: str, model_ref: str, batch_size: int = 8, device: str | None = None,
                 dtype: str = "auto") -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
        self._name = name
        self.model_ref = model_ref
        self.batch_size = batch_size
        self.device = device
        #: "auto" is float32 on cpu (bfloat16 is slower on cpus without avx512), bfloat16/float16 on cuda
        self.dtype = dtype
        self._model: Any = None
        self._tokenizer: Any = None
        #: True when this object loaded the model itself (and may free it)
        self._owned = True

    @classmethod
    def from_model(cls, name: str, model: Any, tokenizer: Any, batch_size: int = 8) -> HFPolicy:
        policy = cls(name, getattr(model, "name_or_path", name) or name, batch_size=batch_size)
        policy._model, policy._tokenizer, policy._owned = model, tokenizer, False
        return policy

    @property
    def name(self) -> str:
        return self._name

    def describe(self) -> dict[str, Any]:
        return {"backend": "hf", "model": str(self.model_ref), "batch_size": self.batch_size}

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            # the one loader of every model path: project names (smollm2), folders, .gguf files, hub ids
            from rlvr_bench.checkpoints import load_causal_lm, pick_device

            self._model, self._tokenizer = load_causal_lm(self.model_ref, dtype=self.dtype,
                                                          device=pick_device(self.device))
        return self._model, self._tokenizer

    def close(self) -> None:
        """Free the model (the next ``generate`` loads it again); a policy given to :meth:`from_model` is kept."""
        if self._owned and self._model is not None:
            self._model = self._tokenizer = None
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def render(self, messages: Prompt) -> tuple[str, bool]:
        """(prompt text, whether the tokenizer should add its special tokens)."""
        if isinstance(messages, str):
            return messages, False
        _, tokenizer = self._load()
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return str(text), False
        return render_plain(messages), True

    def generate(self, prompts: Sequence[Prompt], n: int, sampling: SamplingSettings,
                 on_progress: GenerationProgress | None = None) -> list[list[GenerationResult]]:
        import torch

        model, tokenizer = self._load()
        torch.manual_seed(sampling.seed)
        # a model in training (from_model) generates without dropout, then goes back to training mode
        was_training = bool(getattr(model, "training", False))
        model.eval()
        results: list[list[GenerationResult]] = []
        try:
            for start in range(0, len(prompts), self.batch_size):
                batch = prompts[start : start + self.batch_size]
                began = time.perf_counter()
                try:
                    results.extend(self._generate_batch(model, tokenizer, batch, n, sampling))
                except Exception as exc:  # one failed batch is recorded on its items, not fatal
                    elapsed = (time.perf_counter() - began) / max(len(batch) * n, 1)
                    results.extend([failed(f"{type(exc).__name__}: {exc}", elapsed) for _ in range(n)] for _ in batch)
                if on_progress is not None:
                    on_progress(self.name, len(batch))
        finally:
            if was_training:
                model.train()
        return results

    def _generate_batch(self, model: Any, tokenizer: Any, batch: Sequence[Prompt], n: int,
                        sampling: SamplingSettings) -> list[list[GenerationResult]]:
        import torch

        rendered = [self.render(messages) for messages in batch]
        add_special = rendered[0][1]
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        old_side = tokenizer.padding_side
        tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
        try:
            encoded = tokenizer([text for text, _ in rendered], return_tensors="pt", padding=True,
                                add_special_tokens=add_special)
        finally:
            tokenizer.padding_side = old_side
        encoded = {key: encoded[key].to(model.device) for key in ("input_ids", "attention_mask")}
        kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "num_return_sequences": n,
                                  "pad_token_id": pad_id}
        if sampling.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=None)
        if sampling.stop:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=tokenizer)
        began = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(**encoded, **kwargs)
        elapsed = (time.perf_counter() - began) / max(len(batch) * n, 1)
        prompt_width = encoded["input_ids"].shape[1]
        prompt_lengths = encoded["attention_mask"].sum(dim=1).tolist()
        eos_ids = _eos_ids(model, tokenizer)
        results: list[list[GenerationResult]] = []
        for p in range(len(batch)):
            samples = []
            for k in range(n):
                tokens = output[p * n + k, prompt_width:].tolist()
                samples.append(self._result(tokenizer, tokens, eos_ids, int(prompt_lengths[p]), sampling, elapsed))
            results.append(samples)
        return results

    @staticmethod
    def _result(tokenizer: Any, tokens: list[int], eos_ids: set[int], prompt_tokens: int,
                sampling: SamplingSettings, latency_s: float) -> GenerationResult:
        # keep tokens up to (not including) the first end-of-turn token; what follows is padding
        end = next((i for i, token in enumerate(tokens) if token in eos_ids), None)
        kept = tokens if end is None else tokens[:end]
        text = tokenizer.decode(kept, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, sampling.stop)
        finish = "stop" if end is not None or stopped else "length"
        completion = len(kept) + (1 if end is not None else 0)
        return GenerationResult(text=text, finish_reason=finish, prompt_tokens=prompt_tokens,
                                completion_tokens=completion, latency_s=latency_s)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


# ------------------------------------------------------------------ OpenAI-compatible


class OpenAIPolicy:
    """A model behind an OpenAI-compatible chat completions endpoint, queried concurrently.

    ``n`` samples are asked for in one request; servers that return fewer
    choices are asked again for the rest. Retries are bounded (the client's
    ``max_retries``), after which the prompt's samples are recorded as failed.
    """

    def __init__(self, name: str, model: str, base_url: str | None, api_key: str | None,
                 concurrency: int = 8, timeout_s: float = 120.0, max_retries: int = 3,
                 http_client: Any = None) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        self._name = name
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        import openai

        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout_s,
                                     max_retries=max_retries, http_client=http_client)

    @property
    def name(self) -> str:
        return self._name

    def describe(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.model, "base_url": self.base_url,
                "concurrency": self.concurrency, "timeout_s": self.timeout_s, "max_retries": self.max_retries}

    def generate(self, prompts: Sequence[Prompt], n: int, sampling: SamplingSettings,
                 on_progress: GenerationProgress | None = None) -> list[list[GenerationResult]]:
        def one(prompt: Prompt) -> list[GenerationResult]:
            # a chat endpoint has no raw-text mode: a text prompt (a recipe's template) cannot be asked here
            samples = ([failed("the openai backend takes chat messages, not a text prompt") for _ in range(n)]
                       if isinstance(prompt, str) else self._sample(prompt, n, sampling))
            if on_progress is not None:
                on_progress(self.name, 1)
            return samples

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, prompts))

    def _sample(self, messages: Messages, n: int, sampling: SamplingSettings) -> list[GenerationResult]:
        samples: list[GenerationResult] = []
        # bounded: each round asks for the samples still missing, at most n rounds
        for _ in range(n):
            missing = n - len(samples)
            if missing <= 0:
                break
            began = time.perf_counter()
            try:
                response = self._client.chat.completions.create(**self._request(messages, missing, sampling))
            except Exception as exc:  # API errors after retries are recorded per item
                elapsed = time.perf_counter() - began
                samples.extend(failed(f"{type(exc).__name__}: {_first_line(exc)}", elapsed) for _ in range(missing))
                break
            elapsed = time.perf_counter() - began
            choices = list(response.choices or [])[:missing]
            if not choices:
                samples.extend(failed("server returned no choices", elapsed) for _ in range(missing))
                break
            usage = getattr(response, "usage", None)
            per_choice = elapsed / len(choices)
            for choice in choices:
                text, stopped = cut_at_stop(choice.message.content or "", sampling.stop)
                samples.append(GenerationResult(
                    text=text,
                    finish_reason="stop" if stopped else choice.finish_reason,
                    prompt_tokens=getattr(usage, "prompt_tokens", None),
                    # usage totals all choices of a request; per choice only when there is one
                    completion_tokens=getattr(usage, "completion_tokens", None) if len(choices) == 1 else None,
                    latency_s=per_choice,
                ))
        return samples

    def _request(self, messages: Messages, n: int, sampling: SamplingSettings) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": sampling.max_new_tokens,
                                   "temperature": sampling.temperature, "seed": sampling.seed}
        if n > 1:
            request["n"] = n
        if not sampling.greedy and sampling.top_p < 1.0:
            request["top_p"] = sampling.top_p
        if sampling.stop:
            request["stop"] = list(sampling.stop)
        return request


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


# ------------------------------------------------------------------ vLLM offline


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def map_vllm_outputs(outputs: Sequence[Any], n: int, stop: Sequence[str] = (),
                     latency_s: float = 0.0) -> list[list[GenerationResult]]:
    """vLLM ``RequestOutput`` objects (one per prompt, each with ``.outputs`` completions) -> results.

    Reads only ``prompt_token_ids`` and each completion's ``text``, ``token_ids`` and
    ``finish_reason``; a request with fewer than ``n`` completions is padded with failures.
    """
    per_sample = latency_s / max(len(outputs) * n, 1)
    results: list[list[GenerationResult]] = []
    for request in outputs:
        prompt_ids = getattr(request, "prompt_token_ids", None)
        samples = []
        for completion in list(request.outputs)[:n]:
            text, stopped = cut_at_stop(completion.text, stop)
            token_ids = getattr(completion, "token_ids", None)
            samples.append(GenerationResult(
                text=text, finish_reason="stop" if stopped else completion.finish_reason,
                prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
                completion_tokens=len(token_ids) if token_ids is not None else None, latency_s=per_sample))
        samples.extend(failed("vLLM returned fewer completions than requested") for _ in range(n - len(samples)))
        results.append(samples)
    return results


class VLLMPolicy:
    """vLLM offline inference (``pip install rlvr-bench[vllm]``, CUDA). The engine starts on first use."""

    def __init__(self, name: str, model_ref: str, engine_args: dict[str, Any] | None = None) -> None:
        self._name = name
        self.model_ref = model_ref
        self.engine_args = dict(engine_args or {})
        self._llm: Any = None

    @property
    def name(self) -> str:
        return self._name

    def describe(self) -> dict[str, Any]:
        return {"backend": "vllm", "model": self.model_ref, "engine_args": self.engine_args}

    def close(self) -> None:
        """Drop the engine (best effort: vLLM frees GPU memory when the object is collected)."""
        self._llm = None

    @staticmethod
    def check(name: str) -> None:
        if not vllm_available():
            raise ConfigError(f"policy {name!r} uses the vllm backend, which is not installed "
                              "(pip install 'rlvr-bench[vllm]'; needs a CUDA GPU)")

    def generate(self, prompts: Sequence[Prompt], n: int, sampling: SamplingSettings,
                 on_progress: GenerationProgress | None = None) -> list[list[GenerationResult]]:
        from vllm import LLM, SamplingParams

        if self._llm is None:
            self._llm = LLM(model=self.model_ref, seed=sampling.seed, **self.engine_args)
        params = SamplingParams(n=n, temperature=sampling.temperature,
                                top_p=1.0 if sampling.greedy else sampling.top_p,
                                max_tokens=sampling.max_new_tokens, seed=sampling.seed,
                                stop=list(sampling.stop) or None)
        began = time.perf_counter()
        try:
            if all(isinstance(p, str) for p in prompts):  # text prompts (a recipe's template) are continued as is
                outputs = self._llm.generate(list(prompts), params, use_tqdm=False)
            else:
                outputs = self._llm.chat([list(p) for p in prompts], params, use_tqdm=False)
        except Exception as exc:  # recorded on every item of the call
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            return [[failed(reason) for _ in range(n)] for _ in prompts]
        results = map_vllm_outputs(outputs, n, sampling.stop, time.perf_counter() - began)
        if on_progress is not None:
            on_progress(self.name, len(prompts))
        return results
