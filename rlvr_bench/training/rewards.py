"""Any rlvr-bench judge as a trl reward function, plus the reward-hacking monitor and exploration log.

A trl reward function has the shape ``(prompts, completions, **dataset_columns)
-> list[float | None]``; ``None`` marks a completion the reward could not score,
which trl leaves out of the group baseline (its advantage is set to 0). Here a
judge failure (``Verdict.passed is None``) becomes ``None``, never 0.

The judge sees exactly what it sees in ``verify``: the item's question and
reference and the *whole* completion, from which every judge reads the final step
(its last non-empty line) itself, as the study's verifier does (``Triple.final_step``):

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
(:mod:`rlvr_bench.training.exploration`; input to verifier distillation and the
reward-hacking gap).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judging import FailureBudget, judge_triples
from rlvr_bench.records import Judgment, Verdict
from rlvr_bench.stats.tables import reward_reference_agreement
from rlvr_bench.training.exploration import ExplorationLog, ExplorationRow

__all__ = ["REWARD_MODES", "ExplorationLog", "JudgeReward", "RewardChoice", "agreement_metrics", "completion_text",
           "protocol_rewards", "verdict_reward"]

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


def protocol_rewards(verdicts: Sequence[Verdict], mode: str, unscored_reward: float = 0.0
                     ) -> tuple[list[float], list[float]]:
    """(rewards, unscored flags) for engines whose protocol needs a number for every completion.

    trl takes ``None`` for an unscored completion (:func:`verdict_reward`); OpenRLHF's remote reward
    and verl's ``compute_score`` need a float, so an unscored verdict gets ``unscored_reward`` and a
    flag of 1.0 beside it (``extra_logs["unscored"]`` / the ``unscored`` key), never a silent 0.
    """
    rewards: list[float] = []
    flags: list[float] = []
    for verdict in verdicts:
        reward, _fallback = verdict_reward(verdict, mode)
        rewards.append(unscored_reward if reward is None else reward)
        flags.append(1.0 if reward is None else 0.0)
    return rewards, flags


def agreement_metrics(reward_verdicts: Sequence[Verdict], reference_verdicts: Sequence[Verdict]) -> dict[str, float]:
    """The step log's reward-hacking metrics: :func:`~rlvr_bench.stats.tables.reward_reference_agreement`
    of the two judges' verdicts (``reference_accuracy`` is the reference's pass rate: the "true"
    training accuracy)."""
    metrics = reward_reference_agreement([v.passed for v in reward_verdicts], [v.passed for v in reference_verdicts])
    if "reference_pass_rate" in metrics:
        metrics["reference_accuracy"] = metrics.pop("reference_pass_rate")
    metrics.pop("n", None)
    return metrics


class JudgeReward:
    """A judge as a trl reward function (see the module docstring for the semantics).

    ``judge`` is a built judge or a preset name / preset file (``JudgeReward("numeric")``).
    ``reference_judge`` (optional) is judged on the same completions for the
    reward-hacking metrics; it never changes the reward.

    The trl dataset must have the columns :data:`REQUIRED_COLUMNS`: ``item_id`` (a stable id of the
    question: it keys the exploration log and the reward-hacking statistics), ``question`` and
    ``reference``; ``aliases`` and ``answer_type`` are read when present. trl passes every dataset
    column to the reward as a keyword argument::

        Dataset.from_list([{"prompt": [...], "item_id": "q1", "question": "...", "reference": "42"}, ...])
        GRPOTrainer(model, reward_funcs=[JudgeReward("numeric")], train_dataset=dataset, ...)
    """

    def __init__(self, judge: Judge | str, mode: str = "binary", reference_judge: Judge | None = None,
                 exploration_log: ExplorationLog | None = None, batch_size: int = 64,
                 budget: FailureBudget | None = None) -> None:
        if isinstance(judge, str):
            from rlvr_bench.judges.registry import judge as build_named_judge

            judge = build_named_judge(judge)
        if not isinstance(judge, Judge):
            raise ConfigError(f"JudgeReward takes a judge or a judge preset name, got {type(judge).__name__}")
        if mode not in REWARD_MODES:
            raise ConfigError(f"reward mode must be one of {', '.join(REWARD_MODES)}, got {mode!r}")
        if mode == "soft" and not judge.soft:
            raise ConfigError(f"judge {judge.name!r} gives no soft score; use '{judge.name}:binary' or a soft judge")
        self.judge = judge
        self.mode = mode
        self.reference_judge = reference_judge
        self.exploration_log = exploration_log
        self.batch_size = batch_size
        #: stops training once the reward judge's failed verdicts pass ``--max-unscored``
        self.budget = budget
        self.calls = 0
        # trl names the reward in its logs after __name__
        self.__name__ = f"{judge.name}_{mode}"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 trainer_state: Any = None, log_metric: Callable[[str, float], None] | None = None,
                 log_extra: Any = None, **columns: Any) -> list[float | None]:
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ValueError(f"the training data lacks column(s) {', '.join(missing)} that the judge reward needs "
                             f"(every row needs {', '.join(REQUIRED_COLUMNS)}; see JudgeReward)")
        count = len(completions)
        triples = self.triples(completions, columns)
        verdicts = judge_triples(self.judge, triples, self.batch_size, budget=self.budget, planned=False)
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
            self._log(step, prompts, triples, columns, verdicts, rewards, reference_verdicts)
        self.calls += 1
        return rewards

    @staticmethod
    def triples(completions: Sequence[Any], columns: dict[str, Any]) -> list[Triple]:
        """What the judge sees for each completion: the item's question, reference, answer type and
        domain (dataset columns) and the whole completion text, exactly as ``Triple.of`` builds it in
        ``verify``."""
        count = len(completions)
        answer_types = columns.get("answer_type") or ["text"] * count
        domains = columns.get("domain") or [""] * count
        # the item's other acceptable references: without them an alias-correct completion is rewarded 0
        # here while `verify` and evaluation call it correct
        aliases = columns.get("aliases") or [()] * count
        return [Triple(str(columns["question"][i]), str(columns["reference"][i]), completion_text(completion),
                       str(answer_types[i]), str(domains[i]), tuple(str(a) for a in aliases[i] or ()))
                for i, completion in enumerate(completions)]

    @property
    def _reference_is_reward(self) -> bool:
        """One judge in both roles: its verdicts are logged once, as the reward's (see ``hacking_gap``)."""
        return self.reference_judge is not None and self.reference_judge.name == self.judge.name

    def _log(self, step: int, prompts: Sequence[Any], triples: Sequence[Triple], columns: dict[str, Any],
             verdicts: Sequence[Verdict], rewards: Sequence[float | None],
             reference_verdicts: Sequence[Verdict] | None) -> None:
        log = self.exploration_log
        assert log is not None
        reference = None if self._reference_is_reward else self.reference_judge
        rows: list[ExplorationRow] = []
        for i, response_id in enumerate(log.new_response_ids(len(verdicts))):
            triple, item_id = triples[i], str(columns["item_id"][i])
            prompt = prompts[i] if isinstance(prompts[i], str) else json.dumps(prompts[i])
            context: dict[str, Any] = {"step": step, "prompt": prompt,
                       "completion": triple.response, "question": triple.question, "reference": triple.reference,
                       "domain": triple.domain, "answer_type": triple.answer_type}
            rows.append(ExplorationRow(Judgment(self.judge.name, item_id, response_id, verdicts[i]), "reward",
                                       reward=rewards[i], **context))
            if reference is not None and reference_verdicts is not None:
                rows.append(ExplorationRow(Judgment(reference.name, item_id, response_id, reference_verdicts[i]),
                                           "reference", **context))
        log.append(rows)
