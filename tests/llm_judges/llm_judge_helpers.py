"""Helpers shared by the model-judge tests (imported as a module: test folders are not packages)."""

from __future__ import annotations

from typing import Any


def synthetic_triples(n: int, seed: int = 7) -> list[Any]:
    """Triples like the tiny judge's training data (correct, wrong, hedged, unanswered)."""
    import random

    from rlvr_bench.judges.tiny_judge import synthetic_example

    rng = random.Random(seed)
    return [synthetic_example(rng)[0] for _ in range(n)]


class FaultServer:
    """An OpenAI-compatible stub on 127.0.0.1 that misbehaves on request, for the retry tests.

    ``script`` gives the behaviour of the first requests in order, then
    ``default`` applies: "ok" (a YES verdict with logprobs P(YES)=0.7, P(NO)=0.2),
    "429" (with ``Retry-After: retry_after``), "500", "400", "timeout" (answers
    only after ``hang_s``), "malformed" (HTTP 200 with a body that is not JSON),
    "no-choices" (valid JSON without choices). ``delay_s`` slows every answer.
    """

    def __init__(self, script: list[str] | None = None, default: str = "ok", retry_after: str = "0.3",
                 hang_s: float = 2.0, delay_s: float = 0.0) -> None:
        import json
        import math
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.script = list(script or [])
        self.default = default
        self.times: list[float] = []
        self.authorizations: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    server.times.append(time.monotonic())
                    server.authorizations.append(self.headers.get("Authorization", ""))
                    behaviour = server.script.pop(0) if server.script else server.default
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if delay_s:
                        time.sleep(delay_s)
                    if behaviour == "timeout":
                        time.sleep(hang_s)
                    if behaviour == "429":
                        error = {"error": {"message": "slow down", "type": "rate_limit"}}
                        self._send(429, json.dumps(error).encode(), {"Retry-After": retry_after})
                    elif behaviour in ("500", "400"):
                        self._send(int(behaviour), json.dumps({"error": {"message": f"status {behaviour}"}}).encode())
                    elif behaviour == "malformed":
                        self._send(200, b'{"id": "x", "choices": [')
                    elif behaviour == "no-choices":
                        self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                                    "model": "stub", "choices": []}).encode())
                    else:
                        top = [{"token": "YES", "logprob": math.log(0.7), "bytes": None},
                               {"token": "NO", "logprob": math.log(0.2), "bytes": None}]
                        body = {"id": "x", "object": "chat.completion", "created": 0, "model": "stub",
                                "choices": [{"index": 0, "finish_reason": "length",
                                             "message": {"role": "assistant", "content": "YES"},
                                             "logprobs": {"content": [{**top[0], "top_logprobs": top}]}}],
                                "usage": {"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101}}
                        self._send(200, json.dumps(body).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with lock:
                        server.in_flight -= 1

        class Listener(ThreadingHTTPServer):
            request_queue_size = 64  # the default backlog of 5 would drop concurrent connections
            daemon_threads = True

        self.httpd = Listener(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def requests(self) -> int:
        return len(self.times)

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
