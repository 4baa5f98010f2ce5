"""``rlvr-bench serve-judge``: a small OpenAI-compatible server for a local verifier model.

It serves a transformers model (a local folder, a hub id, or the project's
``rlvr-bench:tiny-judge``) on 127.0.0.1 with the three endpoints a verifier
client needs:

- ``POST /v1/chat/completions``: the model's chat template, then ONE greedy
  output token with ``logprobs`` / ``top_logprobs`` (up to 1000) for it.
  ``max_tokens`` beyond 1 is not honoured (``finish_reason`` is "length"); a
  trailing assistant message is continued (vLLM's ``continue_final_message``), as
  for prompts that pre-fill "Final Decision:" and for the openai backend's
  follow-up requests on a verdict word of several tokens ("Y" then "ES").
- ``GET /v1/models`` and ``GET /health``;
- ``GET /stats``: requests served and how many asked for a prompt seen before
  (used to check that a resumed run pays for nothing twice).

Concurrent requests are scored together: a single worker thread takes every
request waiting in the queue and runs them as one left-padded forward pass
(up to ``max_batch``). ``added_latency_s`` delays each response, to measure a
client's concurrency against a realistic network round trip.

It listens on 127.0.0.1 only and has no authentication: it is a local tool
for tests, benchmarks and single-machine setups, not a production server.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: more than OpenAI's 20: a client summing every spelling of a verdict word (several multi-token ones
#: among them) over a flat distribution needs the long tail to match the hf backend's exact sums
MAX_TOP_LOGPROBS = 1000


@dataclass
class _Pending:
    ids: list[int]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class MicroBatcher:
    """Runs ``score(list_of_prompts)`` on one thread over whatever requests are waiting, up to ``max_batch``."""

    def __init__(self, score: Callable[[Sequence[list[int]]], list[Any]], max_batch: int = 32) -> None:
        self._score = score
        self._max_batch = max(max_batch, 1)
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="serve-judge-batcher", daemon=True)
        self._thread.start()

    def submit(self, ids: list[int]) -> Any:
        pending = _Pending(ids)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(nxt)
            try:
                rows = self._score([p.ids for p in batch])
                for pending, row in zip(batch, rows, strict=True):
                    pending.result = row
            except BaseException as exc:  # handed to every waiting request
                for pending in batch:
                    pending.error = exc
            for pending in batch:
                pending.done.set()


class RequestStats:
    """Thread-safe count of requests and of repeated prompts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self.requests = 0

    def record(self, messages: Any) -> None:
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        with self._lock:
            self.requests += 1
            self._seen[digest] = self._seen.get(digest, 0) + 1

    def to_json(self) -> dict[str, int]:
        with self._lock:
            return {"requests": self.requests, "distinct_prompts": len(self._seen),
                    "repeated_requests": self.requests - len(self._seen)}


class JudgeService:
    """The model side of the server: messages in, an OpenAI chat-completion dict out."""

    def __init__(self, model: str, served_name: str | None = None, device: str = "cpu", dtype: str = "auto",
                 max_batch: int = 32, added_latency_s: float = 0.0, threads: int | None = None) -> None:
        from rlvr_bench.judges.hf_backend import HFVerifierModel

        self.lm = HFVerifierModel(model, device=device, dtype=dtype, threads=threads)
        self.served_name = served_name or model
        self.added_latency_s = added_latency_s
        self.stats = RequestStats()
        self.batcher = MicroBatcher(lambda prompts: self.lm.first_token_logprobs(prompts, batch_size=max_batch),
                                    max_batch=max_batch)

    def chat_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one chat-completion request; raises ValueError for a malformed request."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            raise ValueError("'messages' must be a non-empty list of {role, content} objects with text content")
        want_logprobs = bool(body.get("logprobs", False))
        top_k = int(body.get("top_logprobs") or 0)
        if not 0 <= top_k <= MAX_TOP_LOGPROBS:
            raise ValueError(f"'top_logprobs' must be between 0 and {MAX_TOP_LOGPROBS}")
        ids = self.lm.encode_messages(messages)
        self.stats.record(messages)
        if self.added_latency_s > 0:
            time.sleep(self.added_latency_s)
        logprobs = self.batcher.submit(ids)
        chosen = int(logprobs.argmax())
        token = self.lm.decode_token(chosen)
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": token},
                                  "logprobs": None, "finish_reason": "length"}
        if want_logprobs:
            top_values, top_ids = logprobs.topk(top_k) if top_k else (logprobs[:0], logprobs[:0].long())
            choice["logprobs"] = {"content": [{
                **_token_entry(token, float(logprobs[chosen])),
                "top_logprobs": [_token_entry(self.lm.decode_token(int(i)), float(v))
                                 for v, i in zip(top_values.tolist(), top_ids.tolist(), strict=True)],
            }]}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.served_name,
            "choices": [choice],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1},
        }

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.served_name, "object": "model", "created": 0,
                                            "owned_by": "rlvr-bench"}]}

    def close(self) -> None:
        self.batcher.close()


def _token_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def make_handler(service: JudgeService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
        # headers and body leave in two writes; with Nagle's algorithm the body would wait
        # for the client's delayed ACK (~40 ms) on every response of a kept-alive connection
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the client reports failures

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: HTTPStatus, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

        def do_GET(self) -> None:
            routes = {"/health": lambda: {"status": "ok"}, "/v1/models": service.models,
                      "/stats": service.stats.to_json}
            route = routes.get(self.path.rstrip("/") or "/")
            if route is None:
                self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")
            else:
                self._send(HTTPStatus.OK, route())

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the request body must be a JSON object")
                payload = service.chat_completion(body)
            except (ValueError, json.JSONDecodeError) as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
                return
            except Exception as exc:  # a model failure is a 500 the client may retry
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")
                return
            self._send(HTTPStatus.OK, payload)

    return Handler


class _Listener(ThreadingHTTPServer):
    # the stdlib default backlog is 5: a client opening 32 connections at once would see
    # most of its SYNs dropped and retried a second later
    request_queue_size = 256
    daemon_threads = True


class JudgeServer:
    """The HTTP server around a :class:`JudgeService`; ``port=0`` picks a free port."""

    def __init__(self, service: JudgeService, port: int = 0) -> None:
        self.service = service
        self.httpd = _Listener(("127.0.0.1", port), make_handler(service))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> JudgeServer:
        """Serve on a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="serve-judge", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.service.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
