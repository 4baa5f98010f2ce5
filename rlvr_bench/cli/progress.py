"""A rich progress bar for judging loops (shown on stderr, so stdout stays parseable)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rlvr_bench.cli.app import err_console
from rlvr_bench.judging import ProgressCallback


@contextmanager
def judging_progress(total: int, description: str = "judging") -> Iterator[ProgressCallback]:
    """Yield a callback (judge name, n done) that advances one bar over ``total`` verdicts."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    with progress:
        bar = progress.add_task(description, total=total)

        def advance(judge: str, done: int) -> None:
            progress.update(bar, advance=done, description=f"{description} [{judge}]")

        yield advance
