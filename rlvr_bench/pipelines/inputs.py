"""Resolve what a command judges: a bundled/user task folder, or a data file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlvr_bench.errors import UserError
from rlvr_bench.records import Item, Judgment, Response
from rlvr_bench.tasks import load_task


@dataclass(frozen=True)
class Inputs:
    """Items and responses to judge, and where they came from (for the run config)."""

    items: list[Item]
    responses: list[Response]
    source: dict[str, Any]


def load_inputs(task: str | None, data: Path | None, split: str | None = None) -> Inputs:
    """Items and responses from ``--task`` or ``--data`` (exactly one; task defaults to "starter")."""
    if task and data:
        raise UserError("give either --task or --data, not both")
    if data is not None:
        from rlvr_bench.importers import import_file

        items, responses, description = import_file(Path(data))
        return Inputs(items, responses, {"data": str(data), "format": description})
    loaded = load_task(task or "starter")
    items = loaded.items_in(split)
    keep = {item.id for item in items}
    responses = [r for r in loaded.responses if r.item_id in keep]
    if not responses:
        raise UserError(f"task {loaded.name!r} has no responses to judge" + (f" in split {split!r}" if split else ""))
    return Inputs(items, responses, {"task": loaded.name, "path": str(loaded.info.path), "split": split,
                                     "description": loaded.info.description})


@dataclass(frozen=True)
class VerdictMatrix:
    """Verdicts as numbers: rows = responses, columns = judges.

    ``passed`` holds 1.0 / 0.0 / nan (unscored); ``p_pass`` the soft scores (nan
    when absent); ``clusters`` the item index of each response (bootstrap
    resamples whole questions); ``gold`` the labels (nan when unlabelled).
    """

    judges: list[str]
    responses: list[Response]
    passed: np.ndarray
    p_pass: np.ndarray
    clusters: np.ndarray
    gold: np.ndarray

    def subset(self, rows: np.ndarray) -> VerdictMatrix:
        return VerdictMatrix(self.judges, [self.responses[i] for i in np.flatnonzero(rows)], self.passed[rows],
                             self.p_pass[rows], self.clusters[rows], self.gold[rows])


def verdict_matrix(judgments: list[Judgment], responses: list[Response], judges: list[str]) -> VerdictMatrix:
    row_of = {r.id: i for i, r in enumerate(responses)}
    col_of = {name: j for j, name in enumerate(judges)}
    passed = np.full((len(responses), len(judges)), np.nan)
    p_pass = np.full_like(passed, np.nan)
    for judgment in judgments:
        row, col = row_of.get(judgment.response_id), col_of.get(judgment.judge)
        if row is None or col is None:
            continue
        verdict = judgment.verdict
        if verdict.passed is not None:
            passed[row, col] = float(verdict.passed)
        if verdict.p_pass is not None:
            p_pass[row, col] = verdict.p_pass
    item_codes: dict[str, int] = {}
    clusters = np.array([item_codes.setdefault(r.item_id, len(item_codes)) for r in responses], dtype=np.int64)
    gold = np.array([np.nan if r.label is None else float(r.label) for r in responses])
    return VerdictMatrix(judges, responses, passed, p_pass, clusters, gold)
