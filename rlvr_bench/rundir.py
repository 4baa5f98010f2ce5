"""Run directories: the one place every command writes its results.

A run directory holds the fully resolved config (with package versions and the
git revision), the inputs it used (``items.jsonl``, ``responses.jsonl``), the
verdicts (``judgments.jsonl``) and ``results.json``; the report renders from
these alone, so a run can be re-rendered and compared without re-running a model.

A run is assembled in a sibling temp folder and moved into place at the end,
so an interrupted or failed command never leaves a half-written run directory.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rlvr_bench import __version__
from rlvr_bench.assets import repo_root
from rlvr_bench.errors import InputError
from rlvr_bench.records import (
    Item,
    Judgment,
    Response,
    item_to_json,
    read_items,
    read_judgments,
    read_responses,
    response_to_json,
    write_jsonl,
)

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
ITEMS_FILE = "items.jsonl"
RESPONSES_FILE = "responses.jsonl"
JUDGMENTS_FILE = "judgments.jsonl"

_TRACKED_PACKAGES = (
    "numpy", "scipy", "pandas", "torch", "transformers", "trl", "tokenizers",
    "sentence-transformers", "math-verify", "pint", "openai", "vllm", "lm-eval",
)


def package_versions() -> dict[str, str]:
    """Versions of rlvr-bench and the libraries whose behaviour shapes results."""
    versions = {"python": platform.python_version(), "rlvr-bench": __version__}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str | None:
    """The checkout's commit (with "-dirty" when it has local changes), or None outside git."""
    root = repo_root()
    if root is None or not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def default_run_path(command: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{command}-{stamp}"


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default, allow_nan=False) + "\n",
                   encoding="utf-8")
    tmp.replace(path)


class RunWriter:
    """Builds a run directory in a temp folder; :meth:`commit` moves it into place.

    Use as a context manager: on an exception the temp folder is removed and
    nothing appears at the destination.
    """

    def __init__(self, path: Path, command: str, config: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.staging = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)
        self.config = {
            "command": command,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "git_revision": git_revision(),
            **config,
        }
        write_json(self.staging / CONFIG_FILE, self.config)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)

    @property
    def folder(self) -> Path:
        """Where files go while the run is being written."""
        return self.staging

    def write_items(self, items: Iterable[Item]) -> None:
        write_jsonl(self.staging / ITEMS_FILE, (item_to_json(i) for i in items))

    def write_responses(self, responses: Iterable[Response]) -> None:
        write_jsonl(self.staging / RESPONSES_FILE, (response_to_json(r) for r in responses))

    def write_judgments(self, judgments: Iterable[Judgment]) -> None:
        write_jsonl(self.staging / JUDGMENTS_FILE, (j.to_json() for j in judgments))

    def write_results(self, results: Mapping[str, Any]) -> None:
        write_json(self.staging / RESULTS_FILE, results)

    def write_judged_run(self, items: Iterable[Item], responses: Iterable[Response], judgments: Iterable[Judgment],
                         results: Mapping[str, Any]) -> Path:
        """Write the inputs, verdicts and results of a judging command, then :meth:`commit`."""
        self.write_items(items)
        self.write_responses(responses)
        self.write_judgments(judgments)
        self.write_results(results)
        return self.commit()

    def commit(self, report: bool = True) -> Path:
        """Move the finished run into place (replacing an older run at the same path), then
        render its ``report.html`` from the saved files, as every command promises."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            self.path.rename(old)
            self.staging.rename(self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            self.staging.rename(self.path)
        if report and (self.path / RESULTS_FILE).is_file():
            # rendered after the move so the page is titled with the run's real name
            from rlvr_bench.report import write_run_report

            write_run_report(self.path)
        return self.path


@dataclass(frozen=True)
class Run:
    """A finished run directory loaded back: config, inputs, verdicts and results."""

    path: Path
    config: dict[str, Any]
    results: dict[str, Any]
    items: list[Item]
    responses: list[Response]
    judgments: list[Judgment]

    def judgments_frame(self) -> Any:
        """One row per judgment, joined with its item and response (a pandas DataFrame)."""
        import pandas as pd

        items = {i.id: i for i in self.items}
        responses = {r.id: r for r in self.responses}
        rows = []
        for j in self.judgments:
            item, response = items.get(j.item_id), responses.get(j.response_id)
            rows.append({
                "judge": j.judge,
                "item_id": j.item_id,
                "response_id": j.response_id,
                "domain": item.domain if item else None,
                "answer_type": item.answer_type if item else None,
                "label": response.label if response else None,
                "variant": response.variant if response else None,
                "passed": j.verdict.passed,
                "p_pass": j.verdict.p_pass,
                "error": j.verdict.error,
                "latency_s": j.verdict.latency_s,
            })
        return pd.DataFrame(rows)


def load_run(path: str | Path) -> Run:
    """Load a run directory; a missing or malformed file is a one-line InputError."""
    folder = Path(path)
    if not (folder / CONFIG_FILE).is_file():
        raise InputError(f"{folder}: not a run directory (no {CONFIG_FILE})")

    def _json(name: str) -> dict[str, Any]:
        file = folder / name
        if not file.is_file():
            return {}
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{file}:{exc.lineno}: malformed JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise InputError(f"{file}: expected a JSON object")
        return data

    items = read_items(folder / ITEMS_FILE) if (folder / ITEMS_FILE).is_file() else []
    responses = read_responses(folder / RESPONSES_FILE) if (folder / RESPONSES_FILE).is_file() else []
    judgments = read_judgments(folder / JUDGMENTS_FILE) if (folder / JUDGMENTS_FILE).is_file() else []
    return Run(folder, _json(CONFIG_FILE), _json(RESULTS_FILE), items, responses, judgments)
