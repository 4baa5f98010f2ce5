"""The RL exploration log: every verdict the reward and reference judges gave during training.

One JSONL file per training process (``exploration_judgments.jsonl`` for rank 0,
``exploration_judgments.rankN.jsonl`` for the others), written by the trl reward
(:class:`~rlvr_bench.training.rewards.JudgeReward`) and read by verifier
distillation and by the reward-hacking gap of ``train-and-eval``.

A row is one verdict of one judge on one completion: :meth:`Judgment.to_json`
plus ``role`` ("reward" or "reference"), ``step``, ``prompt``, ``completion``,
``final_step``, ``question``, ``reference``, ``domain``, ``answer_type`` and the
``reward`` it gave (reward rows). The reward row and the reference row of a
completion share its ``response_id``.

Response ids are unique across processes and resumes: each :class:`ExplorationLog`
draws a random writer id when it opens, and numbers its completions after it
(``"<writer>-<n>"``), so logs of several ranks, or of a run resumed in a new
process, can be pooled without renaming anything.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.errors import InputError
from rlvr_bench.records import ANSWER_TYPES, Judgment, Verdict, final_step, iter_jsonl

#: the rank-0 log's name; rank N writes ``exploration_judgments.rankN.jsonl``
EXPLORATION_FILE = "exploration_judgments.jsonl"
#: every rank's log in a run folder
EXPLORATION_GLOB = "exploration_judgments*.jsonl"
ROLES = ("reward", "reference")


def exploration_file(rank: int) -> str:
    """The log's file name for a process rank (rank 0 keeps the plain name)."""
    return EXPLORATION_FILE if rank == 0 else EXPLORATION_FILE.replace(".jsonl", f".rank{rank}.jsonl")


@dataclass(frozen=True)
class ExplorationRow:
    """One verdict on one completion made during RL exploration."""

    judgment: Judgment
    #: "reward" (the training judge) or "reference" (the reward-hacking monitor)
    role: str
    step: int
    prompt: str
    completion: str
    question: str
    reference: str
    domain: str = ""
    answer_type: str = "text"
    #: the reward this verdict gave (reward rows; None when unscored)
    reward: float | None = None

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {**self.judgment.to_json(), "role": self.role, "step": self.step,
                               "prompt": self.prompt, "completion": self.completion,
                               "final_step": final_step(self.completion), "question": self.question,
                               "reference": self.reference, "domain": self.domain,
                               "answer_type": self.answer_type}
        if self.role == "reward":
            row["reward"] = self.reward
        return row

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str) -> ExplorationRow:
        """A row read back; an InputError names ``where`` (file:line) and the field."""
        for name in ("judge", "item_id", "response_id", "question", "reference"):
            if name not in obj:
                raise InputError(f"{where}: missing field '{name}'")
        text = obj.get("completion", obj.get("final_step"))
        if not isinstance(text, str):
            raise InputError(f"{where}: field 'completion' must be a string")
        answer_type = str(obj.get("answer_type") or "text")
        if answer_type not in ANSWER_TYPES:
            raise InputError(f"{where}: field 'answer_type': unknown value {answer_type!r}")
        role = str(obj.get("role", "reward"))
        if role not in ROLES:
            raise InputError(f"{where}: field 'role' must be one of {', '.join(ROLES)}, got {role!r}")
        step = obj.get("step", 0)
        if not isinstance(step, int) or isinstance(step, bool):
            raise InputError(f"{where}: field 'step' must be an integer, got {step!r}")
        judgment = Judgment(str(obj["judge"]), str(obj["item_id"]), str(obj["response_id"]),
                            Verdict.from_json(obj, where))
        reward = obj.get("reward")
        return cls(judgment, role, step, str(obj.get("prompt", "")), text, str(obj["question"]),
                   str(obj["reference"]), str(obj.get("domain") or ""), answer_type,
                   float(reward) if isinstance(reward, (int, float)) and not isinstance(reward, bool) else None)


class ExplorationLog:
    """Append-only writer of one process's exploration log (thread-safe)."""

    def __init__(self, path: Path, writer_id: str | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        #: unique per writer: response ids of two processes, or of a resumed run, never collide
        self.writer_id = writer_id or uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._completions = 0
        self.rows_written = 0

    def new_response_ids(self, count: int) -> list[str]:
        """Ids for the next ``count`` completions."""
        with self._lock:
            first = self._completions
            self._completions += count
        return [f"{self.writer_id}-{first + i}" for i in range(count)]

    def append(self, rows: Sequence[ExplorationRow]) -> None:
        lines = "".join(json.dumps(row.to_json(), ensure_ascii=False, allow_nan=False) + "\n" for row in rows)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
            self.rows_written += len(rows)


def read_exploration_log(path: Path) -> Iterator[ExplorationRow]:
    """Every row of one log, validated (an InputError names file:line:field)."""
    for line_no, obj in iter_jsonl(path):
        yield ExplorationRow.from_json(obj, f"{path}:{line_no}")


def read_exploration_logs(folder: Path) -> list[ExplorationRow]:
    """Every rank's rows in a run folder. Ids are unique by construction; a repeated
    (response_id, role) means two logs were copied together, and is an InputError."""
    rows: list[ExplorationRow] = []
    seen: dict[tuple[str, str, str], Path] = {}
    for path in sorted(folder.glob(EXPLORATION_GLOB)):
        for row in read_exploration_log(path):
            key = (row.judgment.response_id, row.role, row.judgment.judge)
            if key in seen:
                raise InputError(f"{path}: response {key[0]!r} ({key[1]}, {key[2]}) also appears in {seen[key]}")
            seen[key] = path
            rows.append(row)
    return rows
