"""Task registry: ``tasks/NAME/task.yaml`` plus its data files.

A task declares its domains and where its items (questions with references)
and, optionally, labelled responses live. ``--task NAME`` resolves to a bundled
folder; a path to the user's own task folder works the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlvr_bench.assets import asset_dir
from rlvr_bench.errors import InputError, unknown_name
from rlvr_bench.records import SPLITS, Item, Response, read_items, read_responses, read_yaml_mapping

__all__ = ["SPLITS", "Task", "TaskInfo", "list_tasks", "load_task", "resolve_task_folder", "task_folders"]


@dataclass(frozen=True)
class TaskInfo:
    """What task.yaml says, without loading the data."""

    name: str
    path: Path
    description: str
    domains: tuple[str, ...]
    items_file: str
    responses_file: str | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A loaded task: items and (optionally) labelled responses, all validated."""

    info: TaskInfo
    items: list[Item]
    responses: list[Response]

    @property
    def name(self) -> str:
        return self.info.name

    def items_in(self, split: str | None) -> list[Item]:
        """Items of one split; None gives all."""
        return [item for item in self.items if split is None or item.split == split]

    def summary(self) -> dict[str, Any]:
        labels = Counter(
            "correct" if r.label else "incorrect" if r.label is False else "unlabelled" for r in self.responses
        )
        return {
            "items": len(self.items),
            "responses": len(self.responses),
            "domains": dict(Counter(item.domain for item in self.items)),
            "splits": dict(Counter(item.split for item in self.items)),
            "labels": dict(labels),
        }


def _read_task_yaml(folder: Path) -> TaskInfo:
    path = folder / "task.yaml"
    if not path.is_file():
        raise InputError(f"{folder}: not a task folder (no task.yaml)")
    data = read_yaml_mapping(path, "task.yaml")
    for key in ("name", "domains", "items"):
        if key not in data:
            raise InputError(f"{path}: missing field '{key}'")
    domains = data["domains"]
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains) or not domains:
        raise InputError(f"{path}: field 'domains' must be a non-empty list of names")
    if str(data["name"]) != folder.name:
        # runs and reports name the task by this field; a copy under another folder name would
        # otherwise be reported as the original
        raise InputError(f"{path}: field 'name': {data['name']!r} differs from the folder's name "
                         f"{folder.name!r}; rename one so that they agree")
    known = {"name", "description", "domains", "items", "responses"}
    return TaskInfo(
        name=str(data["name"]),
        path=folder,
        description=str(data.get("description", "")).strip(),
        domains=tuple(domains),
        items_file=str(data["items"]),
        responses_file=str(data["responses"]) if data.get("responses") else None,
        extra={k: v for k, v in data.items() if k not in known},
    )


def task_folders() -> dict[str, Path]:
    """Bundled task name -> folder."""
    root = asset_dir("tasks")
    return {p.parent.name: p.parent for p in sorted(root.glob("*/task.yaml"))}


def list_tasks() -> list[TaskInfo]:
    return [_read_task_yaml(folder) for folder in task_folders().values()]


def resolve_task_folder(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if (candidate / "task.yaml").is_file():
        return candidate
    folders = task_folders()
    if name_or_path not in folders:
        raise unknown_name("task", name_or_path, folders)
    return folders[name_or_path]


def load_task(name_or_path: str) -> Task:
    """Load and validate a bundled task by name or a task folder by path."""
    info = _read_task_yaml(resolve_task_folder(name_or_path))
    items = read_items(info.path / info.items_file, info.domains)
    responses: list[Response] = []
    if info.responses_file:
        responses = read_responses(info.path / info.responses_file, [item.id for item in items])
    return Task(info=info, items=items, responses=responses)
