"""The trl reward sees an item's aliases, as `verify` and evaluation do (one definition of "correct").

Training data rows come from :func:`rl_dataset_rows`; trl hands their columns to the reward. A task
with alias lists (the field's usual shape: "HMG-CoA reductase inhibitor" | "statin") must reward a
completion that names an alias, because every other path calls it correct.
"""

from __future__ import annotations

from typing import Any

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import judge as build_judge
from rlvr_bench.judging import judge_triples
from rlvr_bench.prompting import PromptFormat
from rlvr_bench.records import Item, Response
from rlvr_bench.training.rewards import JudgeReward, verdict_reward
from rlvr_bench.training.rl import rl_dataset_rows

ITEMS = [
    Item("a1", "medicine", "To which drug class does atorvastatin belong?", "HMG-CoA reductase inhibitor", "text",
         aliases=("statin",)),
    Item("a2", "chemistry", "What is the chemical symbol of sodium?", "Na", "text"),
]
COMPLETIONS = ["It lowers cholesterol.\nIt is a statin.", "Sodium is written Na."]


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """What trl passes to a reward function: every dataset column but the prompt, one value per completion."""
    return {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}


def test_reward_triples_carry_the_aliases_and_reward_an_alias_answer() -> None:
    rows = rl_dataset_rows(ITEMS, PromptFormat.chat())
    columns = _columns(rows)
    expected = [Triple.of(item, Response(f"r{k}", item.id, text)) for k, (item, text)
                in enumerate(zip(ITEMS, COMPLETIONS, strict=True))]
    assert JudgeReward.triples(COMPLETIONS, columns) == expected
    judge = build_judge("contains")
    verify_rewards = [verdict_reward(v, "binary")[0] for v in judge_triples(judge, expected, cache=None)]
    assert verify_rewards == [1.0, 1.0]
    assert JudgeReward(judge, "binary")(["p", "p"], COMPLETIONS, **columns) == verify_rewards


def test_rows_survive_a_datasets_table() -> None:
    """trl builds a datasets.Dataset from the rows: list columns (some empty) come back as lists."""
    from datasets import Dataset

    table = Dataset.from_list(rl_dataset_rows(ITEMS, PromptFormat.chat()))
    assert table["aliases"] == [["statin"], []]
    assert JudgeReward.triples(COMPLETIONS, {k: table[k] for k in table.column_names})[0].aliases == ("statin",)
