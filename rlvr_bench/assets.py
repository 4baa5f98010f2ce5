"""Where the declarative asset folders (tasks/, judges/, training/) live.

In a source checkout (editable install) they are the repository's top-level
folders; in an installed wheel they are copied under ``rlvr_bench/assets/``.
"""

from __future__ import annotations

from pathlib import Path

ASSET_KINDS = ("tasks", "judges", "training")
_PACKAGE_DIR = Path(__file__).resolve().parent


def asset_dir(kind: str) -> Path:
    """The folder holding bundled assets of one kind ("tasks", "judges" or "training")."""
    if kind not in ASSET_KINDS:
        raise ValueError(f"unknown asset kind {kind!r}")
    installed = _PACKAGE_DIR / "assets" / kind
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / kind


def repo_root() -> Path | None:
    """The source checkout this package runs from, or None for an installed wheel."""
    root = _PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None
