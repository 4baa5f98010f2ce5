"""The bundled expert-qa task: its shape is what its README and the `smol` recipe rely on."""

from __future__ import annotations

import re
from collections import Counter

from rlvr_bench.tasks import load_task

DOMAINS = {"medicine", "chemistry", "biology", "physics", "economics", "psychology", "education", "earth science"}


def _key(question: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", question.casefold()).strip()


def test_sixty_questions_per_domain_split_thirty_thirty() -> None:
    task = load_task("expert-qa")
    assert {item.domain for item in task.items} == DOMAINS
    counts = Counter((item.domain, item.split) for item in task.items)
    assert counts == {(domain, split): 30 for domain in DOMAINS for split in ("train", "test")}
    # the bundled responses: one real model's answer to every test question, unlabelled
    assert len(task.responses) == 240 and not any(r.label is not None for r in task.responses)
    test_ids = {item.id for item in task.items if item.split == "test"}
    assert sorted(r.item_id for r in task.responses) == sorted(test_ids)
    assert {r.source for r in task.responses} == {"smollm2"} and all(r.text.strip() for r in task.responses)


def test_ids_and_questions_are_unique_and_no_question_is_in_both_splits() -> None:
    items = load_task("expert-qa").items
    assert len({item.id for item in items}) == len(items)
    keys = Counter(_key(item.question) for item in items)
    assert [key for key, n in keys.items() if n > 1] == []
    train = {_key(i.question) for i in items if i.split == "train"}
    assert not train & {_key(i.question) for i in items if i.split == "test"}


def test_every_reference_and_alias_is_a_distinct_non_empty_answer() -> None:
    for item in load_task("expert-qa").items:
        assert item.reference.strip(), item.id
        assert item.answer_type in ("text", "number", "quantity"), item.id
        assert all(alias.strip() for alias in item.aliases), item.id
        # an alias repeating the reference (or another alias) says nothing and skews per-reference statistics
        assert len({r.casefold() for r in item.references}) == len(item.references), item.id
