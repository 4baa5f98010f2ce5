"""Where rlvr-bench keeps caches and models it builds (never in the user's home by surprise).

``RLVR_BENCH_CACHE`` overrides everything. In a source checkout the default is
``<repo>/.cache/rlvr-bench`` (git-ignored); for an installed package it is the
platform cache folder (``~/.cache/rlvr-bench``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from rlvr_bench.assets import repo_root


def cache_home() -> Path:
    """Root folder for the judgment cache, built tiny models and other derived files."""
    override = os.environ.get("RLVR_BENCH_CACHE")
    if override:
        path = Path(override)
    elif (root := repo_root()) is not None:
        path = root / ".cache" / "rlvr-bench"
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rlvr-bench"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file (or /dev/null) where the folder should be, or no permission
        from rlvr_bench.errors import ConfigError

        source = "RLVR_BENCH_CACHE" if override else "the cache folder"
        what = "is not a folder" if path.exists() else f"cannot be created ({exc.strerror or exc})"
        raise ConfigError(f"{source} {path}: {what}; point RLVR_BENCH_CACHE at a writable folder") from None
    return path


def models_home() -> Path:
    """Folder for models the project builds itself (tiny judges, tiny policies)."""
    path = cache_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_once(target: Path, is_done: Callable[[Path], bool], build: Callable[[Path], object],
               timeout_s: float = 600.0, staging_suffix: str = ".building") -> Path:
    """Build ``target`` with ``build(staging_dir)`` unless ``is_done(target)``; safe across processes.

    The build runs into a sibling staging folder that is renamed into place, under a file lock, so a
    concurrent process waits and then finds the finished build, and a killed build never leaves a
    half-written folder where ``target`` is expected.
    """
    from filelock import FileLock

    if is_done(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=timeout_s):
        if is_done(target):  # another process finished while we waited
            return target
        staging = target.with_name(target.name + staging_suffix)
        shutil.rmtree(staging, ignore_errors=True)
        build(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target
