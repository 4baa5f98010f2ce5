"""Progress of judging and generation loops, on stderr (stdout stays parseable).

On a terminal: rich bars. Piped (CI logs, ``| tee``, a batch job): rich draws
nothing until the end, so a long run would be silent for minutes; instead one
plain line per bar is printed when the work starts, then at least every
:data:`HEARTBEAT_S` seconds from a timer thread, even while one batch takes that
long (a model judging, an embedding pass), and once at the end. ``--quiet``
prints neither.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rlvr_bench.cli.app import err_console, output
from rlvr_bench.judging import ProgressCallback

#: seconds between two progress lines of a piped run (RLVR_BENCH_PROGRESS_INTERVAL overrides, for tests)
HEARTBEAT_S = 20.0


def heartbeat_interval() -> float:
    try:
        return max(0.01, float(os.environ.get("RLVR_BENCH_PROGRESS_INTERVAL", HEARTBEAT_S)))
    except ValueError:
        return HEARTBEAT_S


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


@dataclass
class _Bar:
    label: str
    total: int
    done: int = 0
    detail: str = ""


@dataclass
class LineProgress:
    """Plain progress lines for a console that is not a terminal: start, every ``interval`` s, end."""

    interval: float
    bars: dict[str, _Bar] = field(default_factory=dict)
    began: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def add(self, key: str, label: str, total: int) -> None:
        self.bars[key] = _Bar(label, total)

    def advance(self, key: str, done: int, detail: str = "") -> None:
        with self._lock:
            bar = self.bars[key]
            bar.done += done
            bar.detail = detail or bar.detail

    def line(self) -> str:
        with self._lock:
            parts = []
            for bar in self.bars.values():
                if bar.total <= 0 and bar.done == 0:
                    continue
                share = f" ({100 * bar.done / bar.total:.0f}%)" if bar.total > 0 else ""
                name = f"{bar.label} [{bar.detail}]" if bar.detail else bar.label
                parts.append(f"{name} {bar.done:,}/{bar.total:,}{share}" if bar.total > 0 else f"{name} {bar.done:,}")
        return f"{'; '.join(parts) or 'working'}; elapsed {_clock(time.monotonic() - self.began)}"

    def say(self) -> None:
        err_console.print(self.line(), markup=False, highlight=False, soft_wrap=True)

    def start(self) -> None:
        """Start the timer; the first line comes after ``interval`` s, so a check failing at once prints only
        its error."""
        self._thread = threading.Thread(target=self._beat, name="rlvr-bench-progress", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.say()

    def stop(self, finished: bool = True) -> None:
        """Stop the timer; a finished run says where it ended (a failed one leaves the line to its error)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if finished:
            self.say()


def _rich_progress(with_remaining: bool, transient: bool) -> Progress:
    columns: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn()]
    if with_remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=err_console, transient=transient)


def piped() -> bool:
    """True when progress goes to a log rather than a terminal."""
    return not err_console.is_terminal


@contextmanager
def judging_progress(total: int, description: str = "judging") -> Iterator[ProgressCallback]:
    """Yield a callback (judge name, n done) that advances one bar over ``total`` verdicts."""
    if output.quiet:
        yield lambda judge, done: None
        return
    if piped():
        lines = LineProgress(heartbeat_interval())
        lines.add("judge", description, total)
        lines.start()
        try:
            yield lambda judge, done: lines.advance("judge", done, judge)
        except BaseException:
            lines.stop(finished=False)
            raise
        lines.stop()
        return
    progress = _rich_progress(with_remaining=True, transient=False)
    with progress:
        bar = progress.add_task(description, total=total)

        def advance(judge: str, done: int) -> None:
            progress.update(bar, advance=done, description=f"{description} [{judge}]")

        yield advance


@contextmanager
def generation_progress(generate_total: int, judge_total: int) -> Iterator[tuple[ProgressCallback, ProgressCallback]]:
    """Two bars (prompts generated, verdicts given); callbacks take (name, number done).

    The display starts with the first callback, so an error found while checking inputs
    prints only its one line.
    """
    if output.quiet:
        yield (lambda name, done: None), (lambda name, done: None)
        return
    lines = LineProgress(heartbeat_interval()) if piped() else None
    progress = None if lines else _rich_progress(with_remaining=False, transient=True)
    keys: dict[str, Any] = {}
    if lines is not None:  # the timer runs from the start: loading a model and a first batch can take minutes
        lines.add("generating", "generating", generate_total)
        lines.add("judging", "judging", judge_total)
        lines.start()
    elif progress is not None:
        keys["generating"] = progress.add_task("generating", total=generate_total or None,
                                               visible=generate_total > 0)
        keys["judging"] = progress.add_task("judging", total=judge_total or None)
    started = False

    def advance(key: str, name: str, done: int) -> None:
        nonlocal started
        if not started:
            started = True
            if progress is not None:
                progress.start()
        if lines is not None:
            lines.advance(key, done, name)
        elif progress is not None:
            progress.update(keys[key], advance=done, description=f"{key} [{name}]")

    try:
        yield ((lambda name, done: advance("generating", name, done)),
               (lambda name, done: advance("judging", name, done)))
    except BaseException:
        if lines is not None:
            lines.stop(finished=False)
        elif progress is not None and started:
            progress.stop()
        raise
    if lines is not None:
        lines.stop(finished=started)
    elif progress is not None and started:
        progress.stop()
