"""The ``openai`` backend: any OpenAI-compatible chat endpoint (OpenAI, a vLLM server, serve-judge).

One request per triple, ``max_tokens=1``, ``temperature=0``, with ``logprobs``
and ``top_logprobs`` so the first token's distribution gives the soft score.
When a returned token only *begins* a verdict word ("Y" of "YES" in SmolLM2's
tokenizer), a follow-up request continues the assistant turn with that text
(``continue_final_message``) and its top log-probabilities give the rest of
the word, up to three tokens deep: P("YES") = P("Y") x P("ES" | "Y"), as
generating the word would give it and as the hf backend computes it in one
pass (equal up to the tokens outside the returned top log-probabilities).
Requests run concurrently (``asyncio`` with a semaphore). Failures that may
pass (HTTP 429, 5xx, timeouts, dropped connections, malformed bodies) are
retried a bounded number of times with exponential backoff, honouring the
server's Retry-After; after the last attempt the verdict is unscored with the
reason. A server that ignores ``logprobs`` (e.g. ``transformers serve``) still
gives the text verdict, with ``p_pass=None``.

The API key is read from the environment variable the preset names, at call
time; it is never stored in the spec, the cache, logs or the run directory.

Preset parameters (besides those of :mod:`rlvr_bench.judges.model_judge`):

- ``model``: the model name the endpoint serves;
- ``api_key_env`` (default "OPENAI_API_KEY") and ``api_key_required`` (default
  true; a local vLLM server accepts any key);
- ``base_url_env``: variable holding the endpoint URL (e.g. "QWEN72B_BASE_URL");
  ``base_url``: a literal URL used when that variable is unset; neither means api.openai.com;
- ``logprobs`` (default true), ``top_logprobs`` (default 20, OpenAI's maximum);
- ``max_tokens_field``: "max_tokens" (default) or "max_completion_tokens";
- ``concurrency`` (default 32), ``timeout_s`` (per request, default 60),
  ``max_retries`` (default 4), ``backoff_initial_s`` (1), ``backoff_max_s`` (30),
  ``max_retry_after_s`` (60);
- ``extra_body``: extra JSON fields for the request (server-specific options);
- ``verdict_followups``: follow partial verdict words with extra requests ("auto", the
  default: yes for any ``base_url``, no for api.openai.com, whose tokenizers spell YES/NO in
  one token and which cannot continue an assistant turn; or true / false);
  ``followup_min_prob`` (default 1e-4): partial words less likely than this are not followed;
- ``min_verdict_mass`` / ``low_verdict_mass``: as for the hf backend.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.model_judge import ModelJudge
from rlvr_bench.judges.verdict_parsing import LOW_VERDICT_MASS, MIN_VERDICT_MASS, verdict_from_top_logprobs
from rlvr_bench.records import Verdict

#: HTTP statuses worth retrying: timeout, conflict, rate limit, server errors
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: the longest verdict word followed, in tokens (the first request's token included)
MAX_VERDICT_TOKENS = 3


@dataclass(frozen=True)
class CallFailure:
    """Why one API call failed, and whether (and after how long) it may be retried."""

    reason: str
    retryable: bool
    #: seconds the server asked us to wait (Retry-After), if it said
    retry_after_s: float | None = None


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date); None if absent."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(float(lowered["retry-after-ms"]) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)


def backoff_delay(attempt: int, retry_after_s: float | None, initial_s: float, max_s: float,
                  max_retry_after_s: float) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): exponential, at least what the server asked.

    >>> backoff_delay(0, None, 1.0, 30.0, 60.0), backoff_delay(3, None, 1.0, 30.0, 60.0)
    (1.0, 8.0)
    >>> backoff_delay(0, 5.0, 1.0, 30.0, 60.0)  # Retry-After wins when longer
    5.0
    """
    exponential = min(initial_s * (2.0**attempt), max_s)
    if retry_after_s is None:
        return exponential
    return max(exponential, min(retry_after_s, max_retry_after_s))


def classify_failure(exc: BaseException) -> CallFailure:
    """Map an exception from the openai client to a (reason, retryable, Retry-After) triple."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return CallFailure("timeout: no response in time", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return CallFailure(f"connection error: {_first_line(exc)}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        headers = dict(exc.response.headers) if exc.response is not None else None
        return CallFailure(f"HTTP {status}: {_status_message(exc)}", retryable=status in RETRYABLE_STATUSES,
                           retry_after_s=parse_retry_after(headers))
    if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, MalformedResponse)):
        return CallFailure(f"malformed response: {_first_line(exc)}", retryable=True)
    return CallFailure(f"{type(exc).__name__}: {_first_line(exc)}", retryable=False)


class MalformedResponse(ValueError):
    """A 200 response without the fields a chat completion must have."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, Mapping):
        error = body.get("error")
        message = error.get("message") if isinstance(error, Mapping) else body.get("message")
    if message:
        return str(message).strip().splitlines()[0][:200]
    return {429: "rate limited", 500: "server error", 502: "bad gateway", 503: "unavailable",
            504: "gateway timeout"}.get(exc.status_code, _first_line(exc))


@dataclass(frozen=True)
class FirstToken:
    """The first output token of a chat completion, its top log-probabilities and the token usage."""

    output: str
    #: (token text, natural-log probability); None when the server returned no log-probabilities
    top: list[tuple[str, float]] | None
    prompt_tokens: int | None
    completion_tokens: int | None


def parse_completion(completion: Any) -> FirstToken:
    """Read a chat-completion object (pure apart from reading attributes); MalformedResponse without choices."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise MalformedResponse("no choices in the response")
    choice = choices[0]
    message = getattr(choice, "message", None)
    content = (getattr(message, "content", None) or "") if message is not None else ""
    usage = getattr(completion, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", None) if usage is not None else None
    completion_tokens = getattr(usage, "completion_tokens", None) if usage is not None else None
    top: list[tuple[str, float]] | None = None
    output = content
    logprobs = getattr(choice, "logprobs", None)
    entries = getattr(logprobs, "content", None) if logprobs is not None else None
    if entries:
        first = entries[0]
        output = first.token if getattr(first, "token", None) is not None else content
        top = [(entry.token, entry.logprob) for entry in (getattr(first, "top_logprobs", None) or [])]
        if not top and getattr(first, "logprob", None) is not None:
            top = [(first.token, first.logprob)]
    return FirstToken(output, top, prompt_tokens, completion_tokens)


def verdict_from_completion(completion: Any, judge: ModelJudge, logprobs_requested: bool,
                            continued: Sequence[tuple[str, float]] = ()) -> Verdict:
    """Turn a chat-completion object into a verdict.

    ``continued`` holds (whole word text, log-probability) of multi-token verdict
    words found by follow-up requests; they add to the first token's top list.
    """
    first = parse_completion(completion)
    top = None if first.top is None else [*first.top, *continued]
    params = judge.spec.params
    verdict = verdict_from_top_logprobs(first.output, top, judge.words, first.prompt_tokens, first.completion_tokens,
                                        min_mass=float(params.get("min_verdict_mass", MIN_VERDICT_MASS)),
                                        low_mass=float(params.get("low_verdict_mass", LOW_VERDICT_MASS)))
    if top is None and logprobs_requested and verdict.passed is not None:
        verdict = replace(verdict, error="no soft score: the server returned no log-probabilities")
    return verdict


class OpenAIJudge(ModelJudge):
    """Generative verifier behind an OpenAI-compatible chat-completions endpoint."""

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        params = spec.params
        try:
            import openai  # noqa: F401
        except ImportError:
            return f"judge {spec.name!r} needs the openai package: pip install openai"
        if not params.get("model"):
            return f"judge {spec.name!r} needs params.model: the model name the endpoint serves"
        key_env = str(params.get("api_key_env", "OPENAI_API_KEY"))
        if params.get("api_key_required", True) and not os.environ.get(key_env):
            return f"judge {spec.name!r} needs {key_env}: set it in the environment (export {key_env}=...)"
        url_env = params.get("base_url_env")
        if url_env and not os.environ.get(str(url_env)) and not params.get("base_url"):
            return (f"judge {spec.name!r} needs {url_env}: set it to an OpenAI-compatible endpoint "
                    f"(export {url_env}=http://HOST:PORT/v1, e.g. a vLLM server)")
        from rlvr_bench.judges.prompting import load_template

        try:
            template = load_template(str(params.get("prompt", "verifier")))
        except Exception as exc:  # a bad template is reported as the reason, not raised
            return f"judge {spec.name!r}: {exc}"
        if not template.is_chat:
            return (f"judge {spec.name!r}: prompt {template.name!r} is a raw [prompt] template; "
                    f"the openai backend needs a chat template ([system]/[user])")
        return None

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        params = spec.params
        self.model = str(params["model"])
        self.key_env = str(params.get("api_key_env", "OPENAI_API_KEY"))
        self.url_env = params.get("base_url_env")
        self.logprobs = bool(params.get("logprobs", True))
        self.top_logprobs = int(params.get("top_logprobs", 20))
        self.max_tokens_field = str(params.get("max_tokens_field", "max_tokens"))
        self.concurrency = max(int(params.get("concurrency", 32)), 1)
        self.timeout_s = float(params.get("timeout_s", 60.0))
        self.max_retries = max(int(params.get("max_retries", 4)), 0)
        self.backoff_initial_s = float(params.get("backoff_initial_s", 1.0))
        self.backoff_max_s = float(params.get("backoff_max_s", 30.0))
        self.max_retry_after_s = float(params.get("max_retry_after_s", 60.0))
        extra = params.get("extra_body") or {}
        self.extra_body: dict[str, Any] = dict(extra) if isinstance(extra, Mapping) else {}
        followups = params.get("verdict_followups", "auto")
        self.followups = self.base_url() is not None if followups == "auto" else bool(followups)
        self.followup_min_prob = float(params.get("followup_min_prob", 1e-4))

    def base_url(self) -> str | None:
        from_env = os.environ.get(str(self.url_env)) if self.url_env else None
        url = from_env or self.spec.params.get("base_url")
        return str(url) if url else None

    def _request(self, triple: Triple, continuation: str = "") -> dict[str, Any]:
        """The request for ``triple``; ``continuation`` (a partial verdict word) is appended to the assistant turn."""
        rendered = self.render(triple)
        messages = rendered.chat_messages()
        extra_body = dict(self.extra_body)
        if rendered.assistant_prefix or continuation:
            # continue the assistant turn (vLLM's chat API); the verdict is the next token
            messages.append({"role": "assistant", "content": rendered.assistant_prefix + continuation})
            extra_body.update({"continue_final_message": True, "add_generation_prompt": False})
        request: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0,
                                   self.max_tokens_field: 1}
        if self.logprobs:
            request.update(logprobs=True, top_logprobs=self.top_logprobs)
        if extra_body:
            request["extra_body"] = extra_body
        return request

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._judge_all(triples))
        # called from inside an event loop (an async server): run on a private loop in a worker thread
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self._judge_all(triples)).result()

    async def _judge_all(self, triples: Sequence[Triple]) -> list[Verdict]:
        import openai

        # the key is read here, used for this client only, and never stored on the judge
        client = openai.AsyncOpenAI(api_key=os.environ.get(self.key_env) or "EMPTY", base_url=self.base_url(),
                                    max_retries=0, timeout=self.timeout_s)
        limit = asyncio.Semaphore(self.concurrency)
        try:
            return list(await asyncio.gather(*(self._judge_one(client, limit, t) for t in triples)))
        finally:
            await client.close()

    async def _judge_one(self, client: Any, limit: asyncio.Semaphore, triple: Triple) -> Verdict:
        failure = CallFailure("no attempt made", retryable=False)
        for attempt in range(self.max_retries + 1):
            began = time.perf_counter()
            calls = [0]
            try:
                verdict = await self._attempt(client, limit, triple, calls)
            except Exception as exc:  # every failure becomes a CallFailure; none escapes as "incorrect"
                failure = classify_failure(exc)
            else:
                self.meter.add(verdicts=1, prompt_tokens=verdict.prompt_tokens,
                               completion_tokens=verdict.completion_tokens, calls=calls[0], retries=attempt)
                return replace(verdict, latency_s=time.perf_counter() - began)
            self.meter.add(calls=max(calls[0], 1))
            if not failure.retryable or attempt == self.max_retries:
                break
            # waiting happens outside the semaphore so other requests keep the slots busy
            await asyncio.sleep(backoff_delay(attempt, failure.retry_after_s, self.backoff_initial_s,
                                              self.backoff_max_s, self.max_retry_after_s))
        attempts = attempt + 1
        suffix = f" (gave up after {attempts} attempts)" if failure.retryable else ""
        self.meter.add(retries=attempt)
        return Verdict(passed=None, p_pass=None, raw="", error=_scrub(failure.reason + suffix, self.key_env))

    async def _attempt(self, client: Any, limit: asyncio.Semaphore, triple: Triple, calls: list[int]) -> Verdict:
        """One try: the first request, then the follow-ups for partial verdict words (any failure raises)."""
        async with limit:
            calls[0] += 1
            completion = await client.chat.completions.create(**self._request(triple))
        first = parse_completion(completion)
        continued: list[tuple[str, float]] = []
        if first.top and self.followups:
            continued = await self._follow_partial_words(client, limit, triple, first.top, calls)
        return verdict_from_completion(completion, self, self.logprobs, continued)

    async def _follow_partial_words(self, client: Any, limit: asyncio.Semaphore, triple: Triple,
                                    top: Sequence[tuple[str, float]], calls: list[int]) -> list[tuple[str, float]]:
        """(word text, log-probability) of each multi-token verdict word reachable from ``top``'s partial words."""
        import math

        words = self.words
        threshold = math.log(self.followup_min_prob) if self.followup_min_prob > 0 else -math.inf
        frontier = [(text, lp) for text, lp in top if words.extends(text) and lp >= threshold]
        found: list[tuple[str, float]] = []
        for _depth in range(1, MAX_VERDICT_TOKENS):
            if not frontier:
                break
            rows = await asyncio.gather(*(self._continuation_top(client, limit, triple, text, calls)
                                          for text, _lp in frontier))
            next_frontier: list[tuple[str, float]] = []
            for (text, logprob), row in zip(frontier, rows, strict=True):
                for token, token_logprob in row:
                    joined, total = text + token, logprob + token_logprob
                    if words.classify(joined) is not None:
                        found.append((joined, total))
                    elif words.extends(joined) and total >= threshold:
                        next_frontier.append((joined, total))
            frontier = next_frontier
        return found

    async def _continuation_top(self, client: Any, limit: asyncio.Semaphore, triple: Triple, continuation: str,
                                calls: list[int]) -> list[tuple[str, float]]:
        async with limit:
            calls[0] += 1
            completion = await client.chat.completions.create(**self._request(triple, continuation))
        return parse_completion(completion).top or []


def _scrub(text: str, key_env: str) -> str:
    """Remove the API key (and any token-shaped text) from a message, in case a server echoes it back."""
    from rlvr_bench.secrets import redact

    return redact(text, [key_env])
