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
the verdict's ``p_pass``. **Failure policy**: a sample that cannot be judged (a
refused label, a judge failure, the judge not answering within ``timeout_s``) gets
HTTP 200 with ``unscored_reward`` (0.0 by default) and ``extra_logs["unscored"] = 1``
(``unscored_label = 1`` when the label was the cause); ``reasons[i]`` says why.
extra_logs holds numbers only, because OpenRLHF turns each value into a tensor.
Every fallback is counted in ``GET /health`` and logged. Only a body that cannot be
read as the protocol gets 4xx; a bug in the judge gets 500 (OpenRLHF stops the run
after its retries: a bug should be seen, not rewarded).

Concurrent requests are merged into judge batches of up to ``max_batch``
responses (waiting at most ``max_wait_s`` for more to arrive). Back-pressure is
waiting: when ``max_queue`` responses are queued, a request waits for room (up to
``timeout_s``, then its samples fall back) instead of being refused, because
OpenRLHF treats any error reply as fatal after five retries.
The connection has a socket timeout (a body shorter than its Content-Length gets
408 instead of holding a thread), JSON nested too deeply gets 400, and
:func:`serve_until_signalled` drains in-flight requests on SIGTERM.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judging import judge_triples
from rlvr_bench.records import Verdict
from rlvr_bench.reward_rows import (
    RewardRow,
    judge_rows,
    label_row,
    question_from_prompt,
    response_part,
    strip_special_texts,
)
from rlvr_bench.reward_server_lifecycle import ConnectionStates, drain, serve_until_signalled
from rlvr_bench.training.rewards import REWARD_MODES, protocol_rewards

__all__ = ["MAX_BODY_BYTES", "BadRequest", "BatchingJudge", "QueueFull", "RewardService", "RunningServer",
           "label_triple", "make_server", "parse_request", "parse_rows", "question_from_prompt", "response_part",
           "serve_until_signalled", "start_server", "strip_special_texts"]

#: largest request body accepted (bytes)
MAX_BODY_BYTES = 64 * 2**20
#: seconds a connection may stay silent (a request line, headers or a body arriving too slowly)
SOCKET_TIMEOUT_S = 60.0

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """More responses are waiting than the service's ``max_queue``, and no room came in time."""


class BadRequest(ValueError):
    """The request body does not follow the protocol; the message says what is wrong."""


def label_triple(query: str, prompt: str, label: Any, where: str) -> Triple:
    """The single triple of a one-reference label (BadRequest when the label is refused or lists several)."""
    row = _row(query, prompt, label, where)
    if row.refusal is not None or len(row.triples) != 1:
        raise BadRequest(row.refusal or f"{where}: {len(row.triples)} references, not one")
    return row.triples[0]


def _row(query: Any, prompt: Any, label: Any, where: str, special_texts: Sequence[str] = ()) -> RewardRow:
    if not isinstance(query, str) or not isinstance(prompt, str):
        return RewardRow((), f"{where}: query and prompt must be strings")
    response = strip_special_texts(response_part(query, prompt), special_texts)
    return label_row(response, question_from_prompt(prompt), label, where)


def _decode(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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
    if mode is not None and mode not in REWARD_MODES:
        raise BadRequest(f"field 'mode' must be one of {', '.join(REWARD_MODES)}, got {mode!r}")
    rows = [_row(query, prompt, label, f"labels[{i}]", special_texts) for i, (query, prompt, label)
            in enumerate(zip(columns["query"], columns["prompts"], columns["labels"], strict=True))]
    return rows, mode


def parse_request(body: bytes) -> tuple[list[Triple], list[str]]:
    """(the triples judged, in order, the queries) of a body: a row with several references gives one triple
    per reference, a refused row none (its refusal is in :func:`parse_rows`)."""
    rows, _ = parse_rows(body)
    return [t for row in rows for t in row.triples], list(_decode(body)["query"])


@dataclass
class _Job:
    triples: list[Triple]
    future: Future[list[Verdict]] = field(default_factory=Future)


class BatchingJudge:
    """Merges concurrent judge requests into batches, in a single worker thread.

    A single worker keeps the judge single-threaded (local model judges are not
    thread-safe) while the calling threads (HTTP handlers, verl's reward thread
    pool) only wait on futures. ``submit`` waits while ``max_queue`` responses are
    queued (back-pressure by waiting, never by refusing at once).
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
        self._room = threading.Condition()
        self.batches = 0
        self.batch_sizes: deque[int] = deque(maxlen=10_000)  # the latest batches' sizes (bounded: runs last days)
        self._worker = threading.Thread(target=self._run, name="reward-judge", daemon=True)
        self._worker.start()

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, triples: Sequence[Triple], wait_s: float = 0.0) -> Future[list[Verdict]]:
        """Queue ``triples``; waits up to ``wait_s`` for room, then raises QueueFull."""
        deadline = time.monotonic() + wait_s
        with self._room:
            while self._pending + len(triples) > self.max_queue and self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QueueFull(f"{self._pending} responses already waiting (max_queue {self.max_queue})")
                self._room.wait(left)
            self._pending += len(triples)
        job = _Job(list(triples))
        self._jobs.put(job)
        return job.future

    def judge_now(self, triples: Sequence[Triple], timeout_s: float) -> list[Verdict]:
        """Verdicts for ``triples`` from the worker (batched with other callers'), waiting at most ``timeout_s``."""
        began = time.monotonic()
        future = self.submit(triples, timeout_s)
        return future.result(timeout=max(0.0, timeout_s - (time.monotonic() - began)))

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
            self.batch_sizes.append(len(triples))
            with self._room:
                self._pending -= len(triples)
                self._room.notify_all()


#: why a sample fell back to ``unscored_reward`` (the counters on /health)
FALLBACK_REASONS = ("label", "judge", "timeout")


class RewardService:
    """The judge, its mode and the counters behind the HTTP handler."""

    def __init__(self, judge: Judge, mode: str = "binary", max_batch: int = 256, max_wait_s: float = 0.005,
                 max_queue: int = 8192, unscored_reward: float = 0.0, timeout_s: float = 600.0,
                 special_texts: Sequence[str] = ()) -> None:
        if mode not in REWARD_MODES:
            raise ValueError(f"mode must be one of {', '.join(REWARD_MODES)}, got {mode!r}")
        if mode == "soft" and not judge.soft:
            raise ValueError(f"judge {judge.name!r} gives no soft score; serve it in binary mode")
        if not math.isfinite(unscored_reward) or timeout_s <= 0:
            raise ValueError("unscored_reward must be a finite number and timeout_s positive")
        self.judge = judge
        self.mode = mode
        self.unscored_reward = unscored_reward
        self.timeout_s = timeout_s
        self.special_texts = tuple(special_texts)
        self.batcher = BatchingJudge(judge, max_batch, max_wait_s, max_queue)
        self.counters = {"requests": 0, "responses": 0, "unscored": 0, "bad_requests": 0, "waited_busy": 0,
                         "errors": 0, **{f"fallback_{reason}": 0 for reason in FALLBACK_REASONS}}
        self.connections = ConnectionStates()
        self._lock = threading.Lock()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] += amount

    def _verdicts(self, rows: list[RewardRow]) -> tuple[list[Verdict], bool]:
        """(one verdict per row, whether the judge timed out); a timeout makes every judged row unscored."""
        size = sum(len(row.triples) for row in rows)
        if size and self.batcher.pending + size > self.batcher.max_queue:
            self.count("waited_busy")
        try:
            return judge_rows(rows, lambda triples: self.batcher.judge_now(triples, self.timeout_s)), False
        except (TimeoutError, QueueFull) as exc:
            reason = f"the judge did not answer within {self.timeout_s:g} s ({type(exc).__name__})"
            return [Verdict(passed=None, error=row.refusal or reason) for row in rows], True

    def rewards(self, body: bytes) -> dict[str, Any]:
        """The reply to one ``/get_reward`` body (raises BadRequest for an unreadable body)."""
        rows, asked_mode = parse_rows(body, self.special_texts)
        mode = asked_mode or self.mode
        if mode == "soft" and not self.judge.soft:
            raise BadRequest(f"judge {self.judge.name!r} gives no soft score; ask for mode 'binary'")
        verdicts, timed_out = self._verdicts(rows)
        rewards, unscored = protocol_rewards(verdicts, mode, self.unscored_reward)
        label_flags = [float(row.refusal is not None) for row in rows]
        reasons = [verdict.error if flag else None for verdict, flag in zip(verdicts, unscored, strict=True)]
        self._count_reply(rows, unscored, timed_out, reasons)
        return {"rewards": rewards, "scores": rewards,
                "extra_logs": {"unscored": unscored, "unscored_label": label_flags}, "reasons": reasons}

    def _count_reply(self, rows: list[RewardRow], unscored: list[float], timed_out: bool,
                     reasons: list[str | None]) -> None:
        labels = sum(row.refusal is not None for row in rows)
        fallbacks = int(sum(unscored))
        with self._lock:
            self.counters["requests"] += 1
            self.counters["responses"] += len(rows)
            self.counters["unscored"] += fallbacks
            self.counters["fallback_label"] += labels
            self.counters["fallback_timeout" if timed_out else "fallback_judge"] += fallbacks - labels
        if fallbacks:
            why = "; ".join(dict.fromkeys(r for r in reasons if r))
            log.warning("reward fallback %g for %d of %d samples: %s", self.unscored_reward, fallbacks, len(rows),
                        why[:500])

    def health(self) -> dict[str, Any]:
        return {"status": "draining" if self.connections.draining else "ok", "judge": self.judge.name,
                "mode": self.mode, "unscored_reward": self.unscored_reward, "queued": self.batcher.pending,
                "batches": self.batcher.batches, "in_flight": self.connections.busy(), **self.counters}

    def close(self) -> None:
        self.batcher.close()


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
            self._reply(HTTPStatus.OK, self.service.health())
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
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except Exception as exc:  # a bug in the judge: say so loudly instead of rewarding anything
            self.service.count("errors")
            log.exception("judge error answered as HTTP 500")
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

    def stop(self, grace_s: float = 0.0) -> bool:
        """Stop accepting, answer what is in flight (up to ``grace_s``), close. True when nothing was cut off."""
        self.server.shutdown()
        quiet = drain(self.server, self.service, grace_s)
        self.service.close()
        self.thread.join(timeout=10)
        return quiet


def make_server(service: RewardService, host: str = "127.0.0.1", port: int = 8000,
                socket_timeout_s: float = SOCKET_TIMEOUT_S) -> ThreadingHTTPServer:
    handler = type("RewardHandler", (_Handler,), {"service": service, "timeout": socket_timeout_s})
    return _Server((host, port), handler)


def start_server(service: RewardService, host: str = "127.0.0.1", port: int = 0,
                 socket_timeout_s: float = SOCKET_TIMEOUT_S) -> RunningServer:
    """Serve in a daemon thread (port 0 picks a free port); call ``stop()`` when done."""
    server = make_server(service, host, port, socket_timeout_s)
    thread = threading.Thread(target=server.serve_forever, name="reward-server", daemon=True)
    thread.start()
    return RunningServer(server, service, thread)
