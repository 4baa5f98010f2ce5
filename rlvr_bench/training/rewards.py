"""Any rlvr-bench judge as a trl reward function, plus the reward-hacking monitor and exploration log.

A trl reward function has the shape ``(prompts, completions, **dataset_columns)
-> list[float | None]``; ``None`` marks a completion the reward could not score,
which trl leaves out of the group baseline (its advantage is set to 0). Here a
judge failure (``Verdict.passed is None``) becomes ``None``, never 0.

The judge sees the *final step* of the completion (its last non-empty line), as
the study's verifier does:

- ``binary``: 1.0 if the verdict passed, else 0.0;
- ``soft``: the verdict's ``p_pass`` (P(YES) / (P(YES) + P(NO)) for a model
  judge, similarity for Jaccard); a verdict without one falls back to binary and
  is counted in the ``reward/soft_fallback`` metric.

Normalisation is trl's, chosen in the recipe; how it relates to the study's
batch z-score ``A_i = (r_i - mean_batch r) / std_batch r`` (0 when std = 0):

- GRPO ``scale_rewards: group`` (trl default): ``(r_i - mean_group) / (std_group + 1e-4)``:
  a z-score within each prompt's group of completions;
- GRPO ``scale_rewards: batch``: ``(r_i - mean_group) / (std_batch + 1e-4)``: the
  study's batch standard deviation, but a per-prompt baseline;
- GRPO ``scale_rewards: none`` (Dr. GRPO): ``r_i - mean_group``;
- RLOO: ``r_i - mean_{j != i in group} r_j``; with ``normalize_advantages: true``
  the advantages are then z-scored over the batch, the closest to the study's
  RLOO runs (OpenRLHF's RLOO with batch normalisation).

With binary rewards a group whose completions all agree has zero variance and
gives no gradient under any of these; ``frac_reward_zero_std`` in the log says how
often that happens.

Every call also judges the same completions with a *reference* judge (when one is
set) and logs their agreement: a training reward that drifts away from the
reference is being hacked. Every judgment is appended to the exploration log
(input to verifier distillation).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judging import judge_triples
from rlvr_bench.records import Judgment, Verdict, final_step

REWARD_MODES = ("binary", "soft")
#: dataset columns the reward function needs (besides the prompt)
REQUIRED_COLUMNS = ("item_id", "question", "reference")


@dataclass(frozen=True)
class RewardChoice:
    """A judge and how its verdicts become rewards ("numeric:binary")."""

    judge: str
    mode: str = "binary"

    def __post_init__(self) -> None:
        if not self.judge:
            raise ValueError("the reward needs a judge name, e.g. 'numeric:binary'")
        if self.mode not in REWARD_MODES:
            raise ValueError(f"reward mode must be one of {', '.join(REWARD_MODES)}, got {self.mode!r}")

    @classmethod
    def parse(cls, text: str) -> RewardChoice:
        """``"JUDGE"`` or ``"JUDGE:binary"`` / ``"JUDGE:soft"``; a ValueError names the bad part."""
        judge, _, mode = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "binary")
        return cls(judge=judge.strip(), mode=mode.strip() or "binary")

    def __str__(self) -> str:
        return f"{self.judge}:{self.mode}"


def completion_text(completion: Any) -> str:
    """The text of a trl completion: a string, or (conversational) the last message's content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise TypeError(f"unsupported completion type {type(completion).__name__}")


def verdict_reward(verdict: Verdict, mode: str) -> tuple[float | None, bool]:
    """(reward, fell back to binary). Unscored verdicts give None."""
    if verdict.passed is None:
        return None, False
    if mode == "soft":
        if verdict.p_pass is not None:
            return float(verdict.p_pass), False
        return float(verdict.passed), True
    return float(verdict.passed), False


def agreement_metrics(reward_verdicts: Sequence[Verdict], reference_verdicts: Sequence[Verdict]) -> dict[str, float]:
    """How the training judge's binary verdicts compare with the reference judge's, on rows both scored.

    ``agreement``: fraction of equal verdicts; ``false_positive_rate``: of the completions the
    reference rejects, the fraction the reward accepts (what a policy learns to exploit);
    ``reference_accuracy``: the reference's pass rate (the "true" training accuracy).
    """
    pairs = [(r.passed, g.passed) for r, g in zip(reward_verdicts, reference_verdicts, strict=True)
             if r.passed is not None and g.passed is not None]
    metrics: dict[str, float] = {}
    if not pairs:
        return metrics
    metrics["agreement"] = sum(r == g for r, g in pairs) / len(pairs)
    metrics["reference_accuracy"] = sum(g for _, g in pairs) / len(pairs)
    negatives = [r for r, g in pairs if not g]
    if negatives:
        metrics["false_positive_rate"] = sum(negatives) / len(negatives)
    positives = [r for r, g in pairs if g]
    if positives:
        metrics["false_negative_rate"] = 1.0 - sum(positives) / len(positives)
    return metrics


class ExplorationLog:
    """Append-only JSONL of every judgment made during RL exploration (thread-safe).

    One row per (judge, completion): :meth:`Judgment.to_json` plus ``role``
    ("reward" or "reference"), ``step``, ``prompt``, ``completion``,
    ``final_step``, ``question``, ``reference`` and the ``reward`` it gave.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.rows_written = 0

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.rows_written += len(rows)


class JudgeReward:
    """A judge as a trl reward function (see the module docstring for the semantics).

    ``reference_judge`` (optional) is judged on the same completions for the
    reward-hacking metrics; it never changes the reward.
    """

    def __init__(self, judge: Judge, mode: str = "binary", reference_judge: Judge | None = None,
                 exploration_log: ExplorationLog | None = None, batch_size: int = 64) -> None:
        if mode not in REWARD_MODES:
            raise ConfigError(f"reward mode must be one of {', '.join(REWARD_MODES)}, got {mode!r}")
        if mode == "soft" and not judge.soft:
            raise ConfigError(f"judge {judge.name!r} gives no soft score; use '{judge.name}:binary' or a soft judge")
        self.judge = judge
        self.mode = mode
        self.reference_judge = reference_judge
        self.exploration_log = exploration_log
        self.batch_size = batch_size
        self.calls = 0
        # trl names the reward in its logs after __name__
        self.__name__ = f"{judge.name}_{mode}"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 trainer_state: Any = None, log_metric: Callable[[str, float], None] | None = None,
                 log_extra: Any = None, **columns: Any) -> list[float | None]:
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ValueError(f"the training data lacks column(s) {', '.join(missing)} that the judge reward needs")
        count = len(completions)
        texts = [completion_text(c) for c in completions]
        answer_types = columns.get("answer_type") or ["text"] * count
        domains = columns.get("domain") or [""] * count
        triples = [Triple(columns["question"][i], str(columns["reference"][i]), final_step(texts[i]),
                          answer_types[i], domains[i]) for i in range(count)]
        verdicts = judge_triples(self.judge, triples, self.batch_size)
        rewards_and_fallbacks = [verdict_reward(v, self.mode) for v in verdicts]
        rewards = [reward for reward, _ in rewards_and_fallbacks]
        reference_verdicts: Sequence[Verdict] | None = None
        if self.reference_judge is not None:
            # the reward judge *is* the reference (e.g. the teacher row of train-and-eval): judge once
            reference_verdicts = (verdicts if self._reference_is_reward
                                  else judge_triples(self.reference_judge, triples, self.batch_size))
        if log_metric is not None:
            log_metric("reward/unscored_fraction", sum(r is None for r in rewards) / max(count, 1))
            if self.mode == "soft":
                log_metric("reward/soft_fallback", sum(f for _, f in rewards_and_fallbacks) / max(count, 1))
            if reference_verdicts is not None:
                for name, value in agreement_metrics(verdicts, reference_verdicts).items():
                    log_metric(f"reward_hacking/{name}", value)
        if self.exploration_log is not None:
            step = int(getattr(trainer_state, "global_step", 0) or 0)
            self._log(step, prompts, texts, triples, columns, verdicts, rewards, reference_verdicts)
        self.calls += 1
        return rewards

    @property
    def _reference_is_reward(self) -> bool:
        """One judge in both roles: its verdicts are logged once, as the reward's (see ``hacking_gap``)."""
        return self.reference_judge is not None and self.reference_judge.name == self.judge.name

    def _log(self, step: int, prompts: Sequence[Any], texts: Sequence[str], triples: Sequence[Triple],
             columns: dict[str, Any], verdicts: Sequence[Verdict], rewards: Sequence[float | None],
             reference_verdicts: Sequence[Verdict] | None) -> None:
        assert self.exploration_log is not None
        rows: list[dict[str, Any]] = []
        for i, verdict in enumerate(verdicts):
            response_id = f"c{self.calls}-{i}"
            item_id = str(columns["item_id"][i])
            context = {"step": step, "prompt": prompts[i] if isinstance(prompts[i], str) else json.dumps(prompts[i]),
                       "completion": texts[i], "final_step": triples[i].response, "question": triples[i].question,
                       "reference": triples[i].reference, "domain": triples[i].domain,
                       "answer_type": triples[i].answer_type}
            rows.append({**Judgment(self.judge.name, item_id, response_id, verdict).to_json(), "role": "reward",
                         "reward": rewards[i], **context})
            if reference_verdicts is not None and self.reference_judge is not None and not self._reference_is_reward:
                judgment = Judgment(self.reference_judge.name, item_id, response_id, reference_verdicts[i])
                rows.append({**judgment.to_json(), "role": "reference", **context})
        self.exploration_log.append(rows)
