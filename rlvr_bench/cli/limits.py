"""Bounds of the numeric options the commands share, checked by the option parser before any work.

A value outside its range is a usage error (one line, exit code 2) instead of a
traceback minutes later: ``--bootstrap 1000000000`` would allocate hundreds of
GiB of resample indices, ``--seed -1`` is refused by numpy's generator only after
all judging, ``--bins 1000000`` builds a million-bin calibration table.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rlvr_bench.cli.app import split_names
from rlvr_bench.errors import UserError

#: the most bootstrap resamples: 100,000 already gives a 95% CI endpoint to about 0.1% of its Monte-Carlo
#: error at 1,000; more only costs memory (resamples x questions indices)
MAX_BOOTSTRAP = 100_000
#: numpy's seed range (SeedSequence takes non-negative integers; 2**32 - 1 keeps every consumer happy)
MAX_SEED = 2**32 - 1
#: calibration bins: more than 1,000 equal-width bins leaves almost every bin empty at any data size
MAX_BINS = 1_000
#: triples per judge call
MAX_BATCH_SIZE = 65_536

Bootstrap = Annotated[int, typer.Option(
    min=0, max=MAX_BOOTSTRAP, help=f"Bootstrap resamples over questions for CIs (0 to {MAX_BOOTSTRAP:,}).")]
Seed = Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the bootstrap (0 to 2^32 - 1).")]
Bins = Annotated[int, typer.Option(min=2, max=MAX_BINS, help=f"Equal-width bins for calibration (ECE; 2 to "
                                                             f"{MAX_BINS:,}).")]
BatchSize = Annotated[int, typer.Option(min=1, max=MAX_BATCH_SIZE, help="Triples per judge call.")]


def check_judge_names(value: str | None, option: str = "--judges") -> list[str] | None:
    """The names of a ``--judges`` value; None when the option was not given. An empty value is an error
    (it is not "every judge"), and so is a preset file that does not exist."""
    if value is None:
        return None
    names = split_names(value)
    if not names:
        raise UserError(f"{option} is empty: name at least one judge (see `rlvr-bench judges`)")
    check_preset_files(names)
    return names


def check_preset_files(names: list[str]) -> None:
    """A name that looks like a preset file (ends in .yaml / .yml) must be a file."""
    from pathlib import Path

    for name in names:
        path = Path(name).expanduser()
        if path.suffix in (".yaml", ".yml") and not path.is_file():
            raise UserError(f"{name}: judge preset file not found" if not path.exists()
                            else f"{name}: is not a file (a judge preset file is expected)")


def open_cache_before_judging(judges: list[Any], use_cache: bool) -> None:
    """Open the shared judgment cache now when a chosen judge uses it: an unreadable or corrupt cache file is
    one line before any judging, not after the judges before it have run."""
    if use_cache and any(getattr(judge, "cacheable", False) for judge in judges):
        from rlvr_bench.judging import shared_cache

        shared_cache()
