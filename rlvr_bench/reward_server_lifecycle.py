"""The reward server's connections and its shutdown: which connections are mid-request, and the SIGTERM drain."""

from __future__ import annotations

import selectors
import signal
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


def drain(server: ThreadingHTTPServer, service: RewardService, grace_s: float) -> bool:
    """After ``serve_forever`` stopped: take the connections the kernel already accepted (the listen
    backlog), close the listening socket, then wait up to ``grace_s`` for every request in flight to be
    answered. Replies sent while draining close their connection. True when all were answered."""
    service.connections.draining = True
    with selectors.DefaultSelector() as waiting:
        waiting.register(server.socket, selectors.EVENT_READ)
        while waiting.select(timeout=0):
            server._handle_request_noblock()  # type: ignore[attr-defined]  # accept and hand to a handler thread, as serve_forever does
    server.server_close()
    return service.connections.wait_quiet(grace_s)


def serve_until_signalled(server: ThreadingHTTPServer, service: RewardService, grace_s: float,
                          say: Callable[[str], None]) -> bool:
    """Serve in this (main) thread until SIGTERM or Ctrl-C, then drain (:func:`drain`) and close the judge.
    True when every request in flight was answered within ``grace_s``."""
    def stop(signum: int, _frame: Any) -> None:
        say(f"{signal.Signals(signum).name}: no new connections; answering the requests in flight "
            f"(up to {grace_s:g} s)")
        threading.Thread(target=server.shutdown, name="reward-shutdown", daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve_forever()
        quiet = drain(server, service, grace_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.close()
    counters = service.health()
    say(f"stopped{'' if quiet else ' (grace period over: some requests cut off)'}: {counters['requests']} "
        f"requests, {counters['unscored']} fallbacks")
    return quiet
