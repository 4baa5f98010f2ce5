"""The reward server's connections and its shutdown: which connections are mid-request, and the SIGTERM drain."""

from __future__ import annotations

import logging
import os
import selectors
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlvr_bench.reward_server import RewardService


class ConnectionStates:
    """Which connections are mid-request, for the SIGTERM drain.

    A connection is *fresh* from accept until its first request is answered, *busy* while a request is
    read and answered, *idle* between keep-alive requests. Draining waits for no fresh or busy one.
    """

    def __init__(self) -> None:
        self._states: dict[int, str] = {}
        self._changed = threading.Condition()
        self.draining = False

    def set(self, key: int, state: str | None) -> None:
        with self._changed:
            if state is None:
                self._states.pop(key, None)
            else:
                self._states[key] = state
            self._changed.notify_all()

    def busy(self) -> int:
        with self._changed:
            return sum(state != "idle" for state in self._states.values())

    def wait_quiet(self, grace_s: float) -> bool:
        """Wait until no connection is fresh or busy (True), or ``grace_s`` passed (False)."""
        deadline = time.monotonic() + grace_s
        with self._changed:
            while any(state != "idle" for state in self._states.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True


#: the end of the drain kept for answering, with the flagged fallback, what the judge has not finished (s, at most)
ANSWER_RESERVE_S = 3.0
#: after the drain, how long the judging thread may take to finish its batch before the process leaves without it
WORKER_STOP_S = 2.0


def drain(server: ThreadingHTTPServer, service: RewardService, grace_s: float) -> bool:
    """After ``serve_forever`` stopped: take the connections the kernel already accepted (the listen
    backlog), close the listening socket, then wait for every request in flight to be answered. The judge
    gets ``grace_s`` minus a reserve (:data:`ANSWER_RESERVE_S`, at most a third); whatever it has not
    finished by then is answered with the flagged fallback (reason: shutdown), so no accepted request is
    cut off however slow the judge. Replies sent while draining close their connection. True when all
    were answered."""
    service.connections.draining = True
    with selectors.DefaultSelector() as waiting:
        waiting.register(server.socket, selectors.EVENT_READ)
        while waiting.select(timeout=0):
            server._handle_request_noblock()  # type: ignore[attr-defined]  # accept and hand to a handler thread, as serve_forever does
    server.server_close()
    reserve = min(ANSWER_RESERVE_S, grace_s / 3)
    if service.connections.wait_quiet(grace_s - reserve):
        return True
    service.abandon(f"the reward server is shutting down: not judged within its {grace_s:g} s drain")
    return service.connections.wait_quiet(reserve)


def serve_until_signalled(server: ThreadingHTTPServer, service: RewardService, grace_s: float,
                          say: Callable[[str], None]) -> int:
    """Serve in this (main) thread until SIGTERM or Ctrl-C, then drain (:func:`drain`) and close the judge.

    Returns the exit status: 0, or 1 when the judging thread died (the server then stops by itself, so a
    supervisor restarts it and a replica behind the same port takes its requests). When the judge is
    still inside a call after the drain (a model batch outlasting it), the process leaves at once with
    that status (``os._exit``): an interpreter teardown under a running torch call aborts (SIGABRT)."""
    died = threading.Event()

    def shut_down() -> None:
        threading.Thread(target=server.shutdown, name="reward-shutdown", daemon=True).start()

    def stop(signum: int, _frame: Any) -> None:
        say(f"{signal.Signals(signum).name}: no new connections; answering the requests in flight "
            f"(up to {grace_s:g} s)")
        shut_down()

    def on_death() -> None:
        died.set()
        say(f"the judging thread died ({service.batcher.failure}): /health fails, requests get 503; stopping "
            "with exit status 1 so that a supervisor restarts this replica")
        shut_down()

    service.batcher.on_death = on_death
    if service.batcher.failure is not None:
        on_death()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    stopped = False
    try:
        server.serve_forever()
        quiet = drain(server, service, grace_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stopped = service.close(WORKER_STOP_S)
    counters = service.health()
    say(f"stopped{'' if quiet else ' (grace period over: some requests cut off)'}: {counters['requests']} "
        f"requests, {counters['unscored']} fallbacks ({counters['fallback_shutdown']} at shutdown)")
    status = 1 if died.is_set() else 0
    if not stopped:
        say("the judge is still inside a batch; leaving without waiting for it")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status
