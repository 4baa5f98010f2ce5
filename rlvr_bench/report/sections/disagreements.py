"""Disagreement browser: every triple on which the judges split, filterable by domain and judge pair.

Built from the run's own records (items, responses, judgments). A response is
*split* when at least one judge passed it and another failed it; unscored
verdicts take no side. Response text is user data: the template shows it
through autoescape only, so ``<script>`` in a response is text on the page.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

from rlvr_bench.records import Item, Response, final_step
from rlvr_bench.report.sections import Section
from rlvr_bench.rundir import Run

#: at most this many rows are put in the page (the page must stay light); the count of all is shown
MAX_ROWS = 300
#: response text longer than this is cut in the page (characters)
MAX_TEXT_CHARS = 4000


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + " … [cut]"


def split_responses(run: Run) -> tuple[list[str], list[dict[str, Any]], int]:
    """(judges, rows, total split count): rows of split responses in response order, at most :data:`MAX_ROWS`."""
    judges: list[str] = []
    verdicts: dict[str, dict[str, bool | None]] = defaultdict(dict)
    for judgment in run.judgments:
        if judgment.judge not in judges:
            judges.append(judgment.judge)
        verdicts[judgment.response_id][judgment.judge] = judgment.verdict.passed
    pairs = list(combinations(range(len(judges)), 2))
    items: dict[str, Item] = {item.id: item for item in run.items}
    order: list[Response] = list(run.responses)
    rows: list[dict[str, Any]] = []
    total = 0
    for response in order:
        given = verdicts.get(response.id)
        if not given:
            continue
        scored = {v for v in given.values() if v is not None}
        if len(scored) < 2:
            continue
        total += 1
        if len(rows) >= MAX_ROWS:
            continue
        split_pairs = [index for index, (i, j) in enumerate(pairs)
                       if given.get(judges[i]) is not None and given.get(judges[j]) is not None
                       and given[judges[i]] != given[judges[j]]]
        item = items.get(response.item_id)
        rows.append({
            "response_id": response.id,
            "domain": item.domain if item else str(response.metadata.get("domain", "")),
            "question": _clip(item.question) if item else "",
            "reference": item.reference if item else "",
            "final_step": _clip(final_step(response.text)),
            "text": _clip(response.text),
            "source": response.source,
            "label": response.label,
            "variant": response.variant,
            "verdicts": [given.get(judge) for judge in judges],
            "n_passed": sum(1 for v in given.values() if v is True),
            "pairs": " ".join(str(index) for index in split_pairs),
        })
    return judges, rows, total


def build(run: Run) -> Section | None:
    judges, rows, total = split_responses(run)
    if len(judges) < 2:
        return None
    pairs = [f"{judges[i]} ~ {judges[j]}" for i, j in combinations(range(len(judges)), 2)]
    domains = sorted({row["domain"] for row in rows})
    return Section(
        key="disagreements",
        title="Disagreement browser",
        template="sections/disagreements.html.j2",
        context={"judges": judges, "rows": rows, "total": total, "shown": len(rows), "pairs": pairs,
                 "domains": domains, "n_responses": len(run.responses),
                 "has_labels": any(row["label"] is not None for row in rows)},
    )
