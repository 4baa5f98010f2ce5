"""Where rlvr-bench keeps caches and models it builds (never in the user's home by surprise).

``RLVR_BENCH_CACHE`` overrides everything. In a source checkout the default is
``<repo>/.cache/rlvr-bench`` (git-ignored); for an installed package it is the
platform cache folder (``~/.cache/rlvr-bench``).
"""

from __future__ import annotations

import os
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
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_home() -> Path:
    """Folder for models the project builds itself (tiny judges, tiny policies)."""
    path = cache_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
