"""An HTTP reward service speaking OpenRLHF's remote reward protocol, backed by any rlvr-bench judge.

``POST /get_reward`` with a JSON body ``{"query": [...], "prompts": [...], "labels": [...]}``
(OpenRLHF's ``--remote_rm_url`` client): ``query[i]`` is the prompt followed by
the policy's response (decoded with its special tokens), ``prompts[i]`` the prompt,
``labels[i]`` the label as the data set stores it. What a sample means is defined
once, in :mod:`rlvr_bench.reward_rows` (shared with the verl adapter): the judged
response is ``query[i]`` minus its prompt, without trailing EOS / end-of-turn texts;
the judge sees it whole, the question inside the prompt and each acceptable
reference of the label (string, number, object, or a list of them).

The reply is ``{"rewards": [...], "scores": [...], "extra_logs": {"unscored": [...],
"unscored_label": [...]}, "reasons": [...]}``: binary mode gives 1.0 / 0.0, soft mode
the verdict's ``p_pass``. **Failure policy: one sample's problem is that sample's fallback.**
A sample that cannot be judged (a refused label, a response that cannot be located in
the query, a judge failure or a judge error on that sample alone, the judge not answering
within ``timeout_s``, a shutdown) gets ``unscored_reward`` (0.0 by default) with
``extra_logs["unscored"] = 1`` (``unscored_label = 1`` when the label was the cause) in an
HTTP 200 reply; ``reasons[i]`` says why (redacted). extra_logs holds numbers only, because
OpenRLHF turns each value into a tensor. Every fallback is counted in ``GET /health`` and
logged. Only a body that cannot be read as the protocol gets 4xx; a dead judging thread
gets 503 (and ``/health`` fails) so that a supervisor or a replica takes over.

Concurrent requests are merged into judge batches (:class:`~rlvr_bench.reward_batching.BatchingJudge`,
which also isolates per-sample errors and bypasses a judgment cache that cannot be written).
Back-pressure is waiting: when ``max_queue`` responses are queued, a request waits for room
(up to ``timeout_s``, then its samples fall back) instead of being refused, because
OpenRLHF treats any error reply as fatal after five retries. The connection has a socket
timeout (a body shorter than its Content-Length gets 408 instead of holding a thread),
JSON nested too deeply gets 400, and :func:`serve_until_signalled` drains in-flight
requests on SIGTERM (answering with the flagged fallback what the judge cannot finish).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.records import Verdict
from rlvr_bench.reward_batching import (
    Abandoned,
    BatchingJudge,
    DegradingCache,
    QueueFull,
    WorkerDied,
    open_judgment_cache,
)
from rlvr_bench.reward_rows import (
    ResponseNotFound,
    RewardRow,
    judge_rows,
    label_row,
    question_from_prompt,
    read_json_int,
    response_part,
    strip_special_texts,
)
from rlvr_bench.reward_server_lifecycle import ConnectionStates, drain, serve_until_signalled
from rlvr_bench.secrets import printable, redact
from rlvr_bench.training.rewards import REWARD_MODES, protocol_rewards

__all__ = ["DEFAULT_TIMEOUT_S", "MAX_BODY_BYTES", "BadRequest", "BatchingJudge", "QueueFull", "RewardService",
           "RunningServer",
           "label_triple", "make_server", "parse_request", "parse_rows", "question_from_prompt", "response_part",
           "serve_until_signalled", "start_server", "strip_special_texts"]

#: largest request body accepted (bytes)
MAX_BODY_BYTES = 64 * 2**20
#: seconds a connection may stay silent (a request line, headers or a body arriving too slowly)
SOCKET_TIMEOUT_S = 60.0

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    """The request body does not follow the protocol; the message says what is wrong."""


def label_triple(query: str, prompt: str, label: Any, where: str) -> Triple:
    """The single triple of a one-reference label (BadRequest when the label is refused or lists several)."""
    row = _row(query, prompt, label, where)
    if row.refusal is not None or len(row.triples) != 1:
        raise BadRequest(row.refusal or f"{where}: {len(row.triples)} references, not one")
    return row.triples[0]


def _row(query: Any, prompt: Any, label: Any, where: str, special_texts: Sequence[str] = ()) -> RewardRow:
    """One sample's row; a query the response cannot be found in is refused for that sample (cause
    ``response``), never judged whole."""
    sample = where.replace("labels", "sample")
    if not isinstance(query, str) or not isinstance(prompt, str):
        return RewardRow((), f"{sample}: query and prompt must be strings", "response")
    try:
        response = response_part(query, prompt)
    except ResponseNotFound as exc:
        return RewardRow((), f"{sample}: {exc}", "response")
    return label_row(strip_special_texts(response, special_texts), question_from_prompt(prompt), label, where)


def _decode(body: bytes) -> dict[str, Any]:
    try:
        # an integer too long for int() is kept as OversizeNumber: a label that is one is refused for its
        # sample only (json.loads would raise ValueError for the whole body)
        data = json.loads(body, parse_int=read_json_int)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("body is JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object with 'query', 'prompts' and 'labels'")
    return data


def parse_rows(body: bytes, special_texts: Sequence[str] = ()) -> tuple[list[RewardRow], str | None]:
    """(one row per sample, the mode the body asks for or None) from an OpenRLHF-shaped body.

    BadRequest only when the body cannot be read as the protocol (not JSON, not an object, the three
    fields not lists of one length, an unknown mode); a problem with one sample is that row's refusal.
    """
    data = _decode(body)
    columns: dict[str, list[Any]] = {}
    for name in ("query", "prompts", "labels"):
        value = data.get(name)
        if not isinstance(value, list):
            raise BadRequest(f"field '{name}' must be a list")
        columns[name] = value
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise BadRequest(f"'query', 'prompts' and 'labels' must have the same length, got {lengths}")
    mode = data.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode not in REWARD_MODES):
        raise BadRequest(f"field 'mode' must be one of {', '.join(REWARD_MODES)}, got {str(mode)[:40]!r}")
    rows = [_row(query, prompt, label, f"labels[{i}]", special_texts) for i, (query, prompt, label)
            in enumerate(zip(columns["query"], columns["prompts"], columns["labels"], strict=True))]
    return rows, mode


def parse_request(body: bytes) -> tuple[list[Triple], list[str]]:
    """(the triples judged, in order, the queries) of a body: a row with several references gives one triple
    per reference, a refused row none (its refusal is in :func:`parse_rows`)."""
    rows, _ = parse_rows(body)
    return [t for row in rows for t in row.triples], list(_decode(body)["query"])


#: why a sample fell back to ``unscored_reward`` (the counters on /health): its label, its response not
#: found in the query, the judge (a backend failure or an error on that sample), the judge timeout, shutdown
FALLBACK_REASONS = ("label", "response", "judge", "timeout", "shutdown")
#: the default judge timeout (s): under OpenRLHF 0.11.2's 180 s client timeout (aiohttp total=180), with
#: room for the request's queueing, so a slow judge is a flagged fallback, never a client error
DEFAULT_TIMEOUT_S = 120.0
#: OpenRLHF's client gives up on a request after this long (s); a judge timeout above it is refused
OPENRLHF_CLIENT_TIMEOUT_S = 180.0


def _open_cache() -> Any:
    return open_judgment_cache()


class RewardService:
    """The judge, its mode and the counters behind the HTTP handler."""

    def __init__(self, judge: Judge, mode: str = "binary", max_batch: int = 256, max_wait_s: float = 0.005,
                 max_queue: int = 8192, unscored_reward: float = 0.0, timeout_s: float = DEFAULT_TIMEOUT_S,
                 special_texts: Sequence[str] = (), use_cache: bool = True, unscored_score: float | None = None
                 ) -> None:
        if mode not in REWARD_MODES:
            raise ValueError(f"mode must be one of {', '.join(REWARD_MODES)}, got {mode!r}")
        if mode == "soft" and not judge.soft:
            raise ValueError(f"judge {judge.name!r} gives no soft score; serve it in binary mode")
        if not math.isfinite(unscored_reward) or (unscored_score is not None and not math.isfinite(unscored_score)):
            raise ValueError(f"unscored_reward and unscored_score must be finite numbers, got {unscored_reward}, "
                             f"{unscored_score}")
        if not 0 < timeout_s <= OPENRLHF_CLIENT_TIMEOUT_S:
            raise ValueError(f"the judge timeout must be in (0, {OPENRLHF_CLIENT_TIMEOUT_S:g}] s (OpenRLHF's client "
                             f"gives up after {OPENRLHF_CLIENT_TIMEOUT_S:g} s), got {timeout_s}")
        self.judge = judge
        self.mode = mode
        self.unscored_reward = unscored_reward
        #: the ``scores`` value of an unscored sample: OpenRLHF's dynamic filtering reads ``scores``, so a value
        #: below its range drops the sample's prompt group from the step (the rewards are what it trains on)
        self.unscored_score = unscored_reward if unscored_score is None else unscored_score
        self.timeout_s = timeout_s
        self.special_texts = tuple(special_texts)
        self.cache = DegradingCache(_open_cache) if use_cache and judge.cacheable else None
        self.batcher = BatchingJudge(judge, max_batch, max_wait_s, max_queue, self.cache)
        self.counters = {"requests": 0, "responses": 0, "unscored": 0, "bad_requests": 0, "waited_busy": 0,
                         "errors": 0, **{f"fallback_{reason}": 0 for reason in FALLBACK_REASONS}}
        self.connections = ConnectionStates()
        self._lock = threading.Lock()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def _verdicts(self, rows: list[RewardRow]) -> tuple[list[Verdict], str]:
        """(one verdict per row, why unscored ones fell back: "judge", "timeout" or "shutdown"); raises
        WorkerDied when the judging thread is gone (answered 503)."""
        size = sum(len(row.triples) for row in rows)
        if size and self.batcher.pending + size > self.batcher.max_queue:
            self.count("waited_busy")
        try:
            return judge_rows(rows, lambda triples: self.batcher.judge_now(triples, self.timeout_s)), "judge"
        except (TimeoutError, QueueFull) as exc:
            reason, cause = f"the judge did not answer within {self.timeout_s:g} s ({type(exc).__name__})", "timeout"
        except Abandoned as exc:
            reason, cause = str(exc), "shutdown"
        return [Verdict(passed=None, error=row.refusal or reason) for row in rows], cause

    def abandon(self, reason: str) -> int:
        """Answer every request still waiting for the judge with the fallback (flagged, ``reason``)."""
        return self.batcher.abandon(reason)

    def rewards(self, body: bytes) -> dict[str, Any]:
        """The reply to one ``/get_reward`` body (raises BadRequest for an unreadable body)."""
        rows, asked_mode = parse_rows(body, self.special_texts)
        mode = asked_mode or self.mode
        if mode == "soft" and not self.judge.soft:
            raise BadRequest(f"judge {self.judge.name!r} gives no soft score; ask for mode 'binary'")
        verdicts, cause = self._verdicts(rows)
        rewards, unscored = protocol_rewards(verdicts, mode, self.unscored_reward)
        label_flags = [float(row.refusal is not None and row.cause == "label") for row in rows]
        reasons = [printable(redact(verdict.error or "unscored")) if flag else None
                   for verdict, flag in zip(verdicts, unscored, strict=True)]
        self._count_reply(rows, unscored, cause, reasons)
        scores = [self.unscored_score if flag else reward for reward, flag in zip(rewards, unscored, strict=True)]
        return {"rewards": rewards, "scores": scores,
                "extra_logs": {"unscored": unscored, "unscored_label": label_flags}, "reasons": reasons}

    def _count_reply(self, rows: list[RewardRow], unscored: list[float], cause: str, reasons: list[str | None]) -> None:
        refused = {kind: sum(row.refusal is not None and row.cause == kind for row in rows)
                   for kind in ("label", "response")}
        fallbacks = int(sum(unscored))
        with self._lock:
            self.counters["requests"] += 1
            self.counters["responses"] += len(rows)
            self.counters["unscored"] += fallbacks
            for kind, count in refused.items():
                self.counters[f"fallback_{kind}"] += count
            self.counters[f"fallback_{cause}"] += fallbacks - sum(refused.values())
        if fallbacks:
            why = "; ".join(dict.fromkeys(r for r in reasons if r))
            log.warning("reward fallback %g for %d of %d samples: %s", self.unscored_reward, fallbacks, len(rows),
                        why[:500])

    def health(self) -> dict[str, Any]:
        """The body of ``GET /health`` (:meth:`health_reply`)."""
        return self.health_reply()[1]

    def health_reply(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of ``GET /health``: 503 "failed" once the judging thread died; 200 "draining"
        during shutdown, "degraded" while the cache is bypassed, else "ok"."""
        problem = None
        if not self.batcher.alive:
            status, problem = "failed", f"the judging thread died: {self.batcher.failure or 'stopped'}"
        elif self.connections.draining:
            status = "draining"
        elif self.cache is not None and self.cache.degraded is not None:
            status, problem = "degraded", self.cache.degraded
        else:
            status = "ok"
        body = {"status": status, "problem": problem, "pid": os.getpid(), "judge": self.judge.name, "mode": self.mode,
                "unscored_reward": self.unscored_reward, "unscored_score": self.unscored_score,
                "judge_timeout_s": self.timeout_s,
                "queued": self.batcher.pending, "batches": self.batcher.batches, "in_flight": self.connections.busy(),
                "sample_errors": self.batcher.sample_errors, "cache": self._cache_state(), **self.counters}
        return (HTTPStatus.SERVICE_UNAVAILABLE if status == "failed" else HTTPStatus.OK), body

    def _cache_state(self) -> str:
        if self.cache is None:
            return "off" if self.judge.cacheable else "not used (rule judge)"
        return "bypassed" if self.cache.degraded else "on"

    def close(self, timeout_s: float = 10.0) -> bool:
        """Stop the judging thread; True when it stopped within ``timeout_s`` (False: still in a judge call)."""
        return self.batcher.close(timeout_s)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    service: RewardService  # set on the per-server subclass
    timeout = SOCKET_TIMEOUT_S  # StreamRequestHandler: a socket timeout on every read and write

    def setup(self) -> None:
        super().setup()
        self.service.connections.set(id(self), "fresh")

    def parse_request(self) -> bool:
        self.service.connections.set(id(self), "busy")  # a request line arrived
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            self.service.connections.set(id(self), "idle")

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.service.connections.set(id(self), None)

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per request would drown the terminal under load

    def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        if self.service.connections.draining:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/health":
            self._reply(*self.service.health_reply())
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route GET {self.path}; use GET /health"})

    def _read_body(self) -> bytes | None:
        """The request body, or None after replying 411 / 413 / 408 (the connection is then closed)."""
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else -1
        except ValueError:
            length = -1
        refusal = ((HTTPStatus.LENGTH_REQUIRED, "Content-Length header required") if length < 0 else
                   (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
                   if length > MAX_BODY_BYTES else None)
        body = b""
        if refusal is None:
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                body = b""
            if len(body) < length:
                refusal = (HTTPStatus.REQUEST_TIMEOUT, f"body shorter than its Content-Length ({len(body)} of "
                           f"{length} bytes after {self.timeout:g} s)")
        if refusal is None:
            return body
        self.service.count("bad_requests")
        self.close_connection = True
        self._reply(refusal[0], {"error": refusal[1]})
        return None

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if self.path.rstrip("/") != "/get_reward":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route POST {self.path}; use POST /get_reward"})
            return
        try:
            payload = self.service.rewards(body)
        except BadRequest as exc:
            self.service.count("bad_requests")
            self._reply(HTTPStatus.BAD_REQUEST, {"error": printable(str(exc))})
        except WorkerDied as exc:  # nothing will be judged here: say so at once, so the client retries elsewhere
            self.service.count("errors")
            self.close_connection = True
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
        except Exception as exc:  # a bug outside the judge (the judge's own errors are per-sample fallbacks)
            self.service.count("errors")
            log.exception("error answered as HTTP 500")
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": printable(redact(f"{type(exc).__name__}: {exc}"))})
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

    def stop(self, grace_s: float = 0.0) -> bool:
        """Stop accepting, answer what is in flight (up to ``grace_s``), close. True when nothing was cut off."""
        self.server.shutdown()
        quiet = drain(self.server, self.service, grace_s)
        self.service.close()
        self.thread.join(timeout=10)
        return quiet


def make_server(service: RewardService, host: str = "127.0.0.1", port: int = 8000,
                socket_timeout_s: float = SOCKET_TIMEOUT_S, reuse_port: bool = False) -> ThreadingHTTPServer:
    """The HTTP server for ``service``. ``reuse_port`` (Linux SO_REUSEPORT): several ``serve`` processes listen on
    one port and the kernel spreads connections over the live ones, so one replica can die or restart while
    the URL keeps answering."""
    handler = type("RewardHandler", (_Handler,), {"service": service, "timeout": socket_timeout_s})
    server_class = type("ReplicaServer", (_Server,), {"allow_reuse_port": True}) if reuse_port else _Server
    return server_class((host, port), handler)


def start_server(service: RewardService, host: str = "127.0.0.1", port: int = 0,
                 socket_timeout_s: float = SOCKET_TIMEOUT_S, reuse_port: bool = False) -> RunningServer:
    """Serve in a daemon thread (port 0 picks a free port); call ``stop()`` when done."""
    server = make_server(service, host, port, socket_timeout_s, reuse_port)
    thread = threading.Thread(target=server.serve_forever, name="reward-server", daemon=True)
    thread.start()
    return RunningServer(server, service, thread)
