"""Resolve what a command judges: a bundled/user task folder, or a data file."""

from __future__ import annotations

from collections.abc import Sequence
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


def check_data_path(data: Path) -> Path:
    """``--data`` must be a regular file or a folder (a saved datasets folder): a device (/dev/zero), a FIFO
    or a socket would be read without end or block forever, so it is refused before reading. ``hf:`` data sets
    are passed through (the importers load them from the hub)."""
    import stat

    path = Path(data)
    if str(data).startswith("hf:"):
        return path
    text = str(data)
    if "+" in text and not path.exists():  # MAIN+JOINED (OpenQA-eval's TSV and its golds): check both files
        main, _, joined = text.rpartition("+")
        check_data_path(Path(main))
        check_data_path(Path(joined))
        return path
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UserError(f"{path}: not a regular file (a device, pipe or socket); give a data file (JSONL, CSV, ...) "
                        "or a saved datasets folder")
    return path


def load_inputs(task: str | None, data: Path | None, split: str | None = None, data_format: str | None = None
                ) -> Inputs:
    """Items and responses from ``--task`` or ``--data`` (exactly one; task defaults to "starter").

    ``data_format`` names the layout of ``--data`` (``--format``; default: chosen by content); ``split``
    keeps the items of that split. The import report (rows read, dropped per reason) goes in ``source``.
    """
    if task and data:
        raise UserError("give either --task or --data, not both")
    if data_format is not None and data is None:
        raise UserError("--format applies to --data only")
    if data is not None:
        from rlvr_bench.importers import import_data

        imported = import_data(check_data_path(data), data_format, split)
        return Inputs(imported.items, imported.responses,
                      {"data": str(data), "format": imported.format, "split": split, "import": imported.report})
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

    def by_item(self, items: Sequence[Item], judge: str) -> np.ndarray:
        """(n_items, n_samples) of ``judge``'s verdicts: 1.0 / 0.0 / nan (unscored, or no such response).

        Rows follow ``items``; column k holds each item's k-th sample (``metadata["sample"]`` of a
        generated response, else its position among the item's responses). Responses to other items
        are left out. This is the shape policy accuracy, mean@n, pass@n and paired comparisons take.
        """
        column = self.judges.index(judge)
        row_of = {item.id: i for i, item in enumerate(items)}
        seen: dict[str, int] = {}
        cells: list[tuple[int, int, float]] = []
        for index, response in enumerate(self.responses):
            row = row_of.get(response.item_id)
            order = seen.get(response.item_id, 0)
            seen[response.item_id] = order + 1
            if row is not None:
                cells.append((row, int(response.metadata.get("sample", order)), self.passed[index, column]))
        matrix = np.full((len(items), 1 + max((k for _, k, _ in cells), default=0)), np.nan)
        for row, k, value in cells:
            matrix[row, k] = value
        return matrix


def verdict_matrix(judgments: Sequence[Judgment], responses: Sequence[Response], judges: Sequence[str]
                   ) -> VerdictMatrix:
    """The one table of verdicts every command computes statistics from (agreement, verify, eval, training
    evaluation, distillation): rows = ``responses``, columns = ``judges``; judgments about other
    responses or judges are ignored, a missing judgment is nan."""
    responses, judges = list(responses), list(judges)
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
