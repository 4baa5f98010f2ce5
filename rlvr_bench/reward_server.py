"""An HTTP reward service speaking OpenRLHF's remote reward protocol, backed by any rlvr-bench judge.

``POST /get_reward`` with a JSON body ``{"query": [...], "prompts": [...], "labels": [...]}``
(OpenRLHF's ``--remote_rm_url`` client): ``query[i]`` is the prompt followed by
the policy's response, ``prompts[i]`` the prompt, ``labels[i]`` the reference
answer. The judged response is ``query[i]`` minus its prompt; the judge sees it
whole (it reads the final step itself, as in ``verify``), the question inside the
prompt (:func:`question_from_prompt`: the last user turn of a chat-templated
prompt) and the label as the reference. The reply is ``{"rewards": [...], "scores": [...], "extra_logs":
{"unscored": [...]}}``: binary mode gives 1.0 / 0.0, soft mode the verdict's
``p_pass``. A judge failure cannot be left out here (the protocol needs a
number), so it gets ``unscored_reward`` (0.0 by default) and is flagged 1.0 in
``extra_logs["unscored"]``, counted in ``GET /health``.

Concurrent requests are merged into judge batches of up to ``max_batch``
responses (waiting at most ``max_wait_s`` for more to arrive), so a model judge
runs one batched forward pass for many small requests. The queue is bounded:
when ``max_queue`` responses are already waiting, a request gets 503 with
``Retry-After`` instead of piling up. A malformed request gets 400 with the
reason and never disturbs other requests. ``GET /health`` reports the judge and
counters.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judging import judge_triples
from rlvr_bench.records import Verdict
from rlvr_bench.training.rewards import REWARD_MODES, protocol_rewards

#: largest request body accepted (bytes)
MAX_BODY_BYTES = 64 * 2**20


class QueueFull(Exception):
    """More responses are waiting than the service's ``max_queue``."""


class BadRequest(ValueError):
    """The request body does not follow the protocol; the message says what is wrong."""


def response_part(query: str, prompt: str) -> str:
    """The policy's response inside ``query``: the text after ``prompt``.

    OpenRLHF sends ``query = prompt + response``. When a detokenisation round trip
    changed the prompt slightly and it is not a prefix, the text after its last
    occurrence is used; when it does not occur at all, the whole query (the judge
    reads only the final step, which is the response's unless the response is empty).
    """
    if query.startswith(prompt):
        return query[len(prompt):]
    position = query.rfind(prompt) if prompt else -1
    return query[position + len(prompt):] if position >= 0 else query


#: (start of the user turn, end of the turn) of the chat templates policies are trained with:
#: ChatML (Qwen, SmolLM, ...), Llama 3, Gemma, Mistral / Llama 2 and Phi-3
_USER_TURNS = (
    (re.compile(r"<\|im_start\|>user\s*\n"), "<|im_end|>"),
    (re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*"), "<|eot_id|>"),
    (re.compile(r"<start_of_turn>user\s*\n"), "<end_of_turn>"),
    (re.compile(r"\[INST\]\s*"), "[/INST]"),
    (re.compile(r"<\|user\|>\s*"), "<|end|>"),
)


def question_from_prompt(prompt: str) -> str:
    """The question inside a rendered prompt: the last user turn of a known chat template, else the
    whole prompt (stripped). The RL reward gives the judge the item's question; OpenRLHF sends only
    the rendered prompt, so this recovers the same text from it for the chat-templated case."""
    for opening, closing in _USER_TURNS:
        starts = list(opening.finditer(prompt))
        if starts:
            body = prompt[starts[-1].end():]
            end = body.find(closing)
            return (body[:end] if end >= 0 else body).strip()
    return prompt.strip()


#: keys of an object label that name the reference (verl and OpenRLHF data sets use each of them)
_REFERENCE_KEYS = ("reference", "ground_truth", "answer")


def label_triple(query: str, prompt: str, label: Any, where: str) -> Triple:
    """What the judge sees for one request row: the whole response, the question and the reference.

    ``label`` is the reference as a data set stores it: a string, a number (``0.35``, ``3``), or an
    object with the item's fields (``{"reference": ..., "question": ..., "answer_type": ...,
    "domain": ...}``), which makes the triple exactly the one ``verify`` judges. Without a
    ``question`` field the question is read from the prompt (:func:`question_from_prompt`).
    """
    response, question, answer_type, domain = response_part(query, prompt), question_from_prompt(prompt), "text", ""
    if isinstance(label, dict):
        key = next((k for k in _REFERENCE_KEYS if k in label), None)
        if key is None:
            raise BadRequest(f"{where}: an object label needs one of {', '.join(_REFERENCE_KEYS)}")
        question = str(label["question"]) if isinstance(label.get("question"), str) else question
        answer_type = str(label.get("answer_type") or "text")
        domain = str(label.get("domain") or "")
        label = label[key]
    if isinstance(label, bool) or not isinstance(label, (str, int, float)):
        raise BadRequest(f"{where}: the reference must be a string or a number, got {type(label).__name__}")
    return Triple(question, str(label), response, answer_type, domain)


def parse_request(body: bytes) -> tuple[list[Triple], list[str]]:
    """Triples to judge from an OpenRLHF-shaped body; BadRequest names the problem."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object with 'query', 'prompts' and 'labels'")
    columns: dict[str, list[Any]] = {}
    for name in ("query", "prompts", "labels"):
        value = data.get(name)
        if not isinstance(value, list) or (name != "labels" and not all(isinstance(v, str) for v in value)):
            raise BadRequest(f"field '{name}' must be a list" + (" of strings" if name != "labels" else ""))
        columns[name] = value
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise BadRequest(f"'query', 'prompts' and 'labels' must have the same length, got {lengths}")
    triples = [label_triple(query, prompt, label, f"labels[{i}]") for i, (query, prompt, label)
               in enumerate(zip(columns["query"], columns["prompts"], columns["labels"], strict=True))]
    return triples, columns["query"]


@dataclass
class _Job:
    triples: list[Triple]
    future: Future[list[Verdict]] = field(default_factory=Future)


class BatchingJudge:
    """Merges concurrent judge requests into batches, in a single worker thread.

    A single worker keeps the judge single-threaded (local model judges are not
    thread-safe) while HTTP handler threads only wait on futures.
    """

    def __init__(self, judge: Judge, max_batch: int = 256, max_wait_s: float = 0.005, max_queue: int = 8192) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch and max_queue must be positive and max_wait_s >= 0")
        self.judge = judge
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self.batches = 0
        self._worker = threading.Thread(target=self._run, name="reward-judge", daemon=True)
        self._worker.start()

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, triples: Sequence[Triple]) -> Future[list[Verdict]]:
        with self._lock:
            if self._pending + len(triples) > self.max_queue and self._pending > 0:
                raise QueueFull(f"{self._pending} responses already waiting (max_queue {self.max_queue})")
            self._pending += len(triples)
        job = _Job(list(triples))
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=10)

    def _run(self) -> None:
        carry: _Job | None = None
        while True:
            first = carry if carry is not None else self._jobs.get()
            carry = None
            if first is None:
                return
            batch, size = [first], len(first.triples)
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_batch:
                try:
                    job = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)  # stop after this batch
                    break
                if size + len(job.triples) > self.max_batch:
                    carry = job  # judged first in the next batch
                    break
                batch.append(job)
                size += len(job.triples)
            self._judge(batch)

    def _judge(self, batch: list[_Job]) -> None:
        triples = [t for job in batch for t in job.triples]
        try:
            # backend failures are unscored verdicts inside judge_triples; anything else is a bug,
            # answered to the batch's requests as 500 rather than disguised as unscored
            verdicts = judge_triples(self.judge, triples, batch_size=max(len(triples), 1))
        except Exception as exc:
            for job in batch:
                job.future.set_exception(exc)
        else:
            start = 0
            for job in batch:
                job.future.set_result(verdicts[start : start + len(job.triples)])
                start += len(job.triples)
        finally:
            self.batches += 1
            with self._lock:
                self._pending -= len(triples)


class RewardService:
    """The judge, its mode and the counters behind the HTTP handler."""

    def __init__(self, judge: Judge, mode: str = "binary", max_batch: int = 256, max_wait_s: float = 0.005,
                 max_queue: int = 8192, unscored_reward: float = 0.0, timeout_s: float = 600.0) -> None:
        if mode not in REWARD_MODES:
            raise ValueError(f"mode must be one of {', '.join(REWARD_MODES)}, got {mode!r}")
        if mode == "soft" and not judge.soft:
            raise ValueError(f"judge {judge.name!r} gives no soft score; serve it in binary mode")
        self.judge = judge
        self.mode = mode
        self.unscored_reward = unscored_reward
        self.timeout_s = timeout_s
        self.batcher = BatchingJudge(judge, max_batch, max_wait_s, max_queue)
        self.counters = {"requests": 0, "responses": 0, "unscored": 0, "bad_requests": 0, "rejected_busy": 0,
                         "errors": 0}
        self._lock = threading.Lock()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def rewards(self, body: bytes) -> dict[str, Any]:
        """The reply to one ``/get_reward`` body (raises BadRequest or QueueFull)."""
        triples, _ = parse_request(body)
        verdicts = self.batcher.submit(triples).result(timeout=self.timeout_s) if triples else []
        rewards, unscored = protocol_rewards(verdicts, self.mode, self.unscored_reward)
        self.count("requests")
        self.count("responses", len(triples))
        self.count("unscored", int(sum(unscored)))
        return {"rewards": rewards, "scores": rewards, "extra_logs": {"unscored": unscored}}

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "judge": self.judge.name, "mode": self.mode, "queued": self.batcher.pending,
                "batches": self.batcher.batches, **self.counters}

    def close(self) -> None:
        self.batcher.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    service: RewardService  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per request would drown the terminal under load

    def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/health":
            self._reply(HTTPStatus.OK, self.service.health())
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route GET {self.path}; use GET /health"})

    def do_POST(self) -> None:
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.service.count("bad_requests")
            self.close_connection = True
            self._reply(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length header required"})
            return
        if length > MAX_BODY_BYTES:
            self.service.count("bad_requests")
            self.close_connection = True
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY_BYTES} bytes"})
            return
        body = self.rfile.read(length)
        if self.path.rstrip("/") != "/get_reward":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route POST {self.path}; use POST /get_reward"})
            return
        try:
            payload = self.service.rewards(body)
        except BadRequest as exc:
            self.service.count("bad_requests")
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except QueueFull as exc:
            self.service.count("rejected_busy")
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)}, {"Retry-After": "1"})
        except TimeoutError:
            self._reply(HTTPStatus.GATEWAY_TIMEOUT, {"error": "the judge did not answer in time"})
        except Exception as exc:  # a bug in the judge: say so loudly instead of rewarding anything
            self.service.count("errors")
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})
        else:
            self._reply(HTTPStatus.OK, payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen backlog: many clients connect at once under load


@dataclass
class RunningServer:
    """A server started in a background thread (tests, benchmarks, notebooks)."""

    server: ThreadingHTTPServer
    service: RewardService
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}" if isinstance(host, str) else f"http://{host.decode()}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.service.close()
        self.thread.join(timeout=10)


def make_server(service: RewardService, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    handler = type("RewardHandler", (_Handler,), {"service": service})
    return _Server((host, port), handler)


def start_server(service: RewardService, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve in a daemon thread (port 0 picks a free port); call ``stop()`` when done."""
    server = make_server(service, host, port)
    thread = threading.Thread(target=server.serve_forever, name="reward-server", daemon=True)
    thread.start()
    return RunningServer(server, service, thread)
