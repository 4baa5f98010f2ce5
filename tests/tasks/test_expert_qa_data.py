"""The bundled `expert-qa` task: its size and splits, its references, and its README counts match the data."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import pytest
from test_starter_data import readme_table

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import build_judges
from rlvr_bench.judging import judge_triples
from rlvr_bench.records import Item
from rlvr_bench.tasks import Task, load_task

DOMAINS = ("medicine", "chemistry", "biology", "physics", "economics", "psychology", "education", "earth_science")
#: words that carry no content when comparing two questions
STOPWORDS = frozenset({"a", "an", "and", "as", "at", "by", "called", "does", "for", "from", "how", "in", "is", "it",
                       "its", "many", "of", "on", "that", "the", "to", "what", "which", "with"})
#: a cross-split pair sharing more than this share of its content words is treated as a rewording
NEAR_DUPLICATE_JACCARD = 0.7


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task("expert-qa")


def content_words(question: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", question.lower())) - STOPWORDS


def word_jaccard(first: str, second: str) -> float:
    a, b = content_words(first), content_words(second)
    return len(a & b) / len(a | b)


def test_eight_domains_of_thirty_train_and_thirty_test_items(task: Task) -> None:
    assert task.info.domains == DOMAINS
    assert Counter((item.domain, item.split) for item in task.items) == {
        (domain, split): 30 for domain in DOMAINS for split in ("train", "test")}


def test_ids_are_unique_and_name_their_domain(task: Task) -> None:
    ids = [item.id for item in task.items]
    assert len(set(ids)) == len(ids) == 480
    short = {"medicine": "med", "chemistry": "chem", "biology": "bio", "physics": "phys", "economics": "econ",
             "psychology": "psy", "education": "edu", "earth_science": "earth"}
    assert all(re.fullmatch(rf"eqa-{short[item.domain]}-\d\d", item.id) for item in task.items)


def test_no_question_in_both_splits_nor_a_rewording_of_one(task: Task) -> None:
    normalised = Counter(" ".join(sorted(content_words(item.question))) for item in task.items)
    assert max(normalised.values()) == 1
    train, test = task.items_in("train"), task.items_in("test")
    close = [(a.id, b.id) for a, b in itertools.product(train, test)
             if word_jaccard(a.question, b.question) > NEAR_DUPLICATE_JACCARD]
    assert close == []


def test_the_near_duplicate_check_catches_a_rewording() -> None:
    # the check above would be vacuous if the measure missed an obvious rewording
    assert word_jaccard("Which organ stores bile?", "Which organ is it that stores bile?") > NEAR_DUPLICATE_JACCARD
    assert word_jaccard("What is the SI unit of power?", "What is the SI unit of energy?") <= NEAR_DUPLICATE_JACCARD


def test_every_reference_is_short_and_non_empty(task: Task) -> None:
    for item in task.items:
        assert all(ref.strip() for ref in item.references), item.id
        assert item.answer_type in {"text", "number", "quantity"}, item.id
        if item.answer_type == "text":
            assert 1 <= len(item.reference.split()) <= 4, item.id
        else:
            assert re.search(r"\d", item.reference), item.id


def stated(item: Item, reference: str) -> Triple:
    return Triple(item.question, item.reference, f"Therefore, the answer is {reference}.", item.answer_type,
                  item.domain, item.aliases)


def test_each_stated_reference_passes_the_rule_judges(task: Task) -> None:
    """Answer types and units are consistent with the routing: the reference itself is judged correct."""
    auto, contains = build_judges(["auto", "contains"])
    triples = [stated(item, item.reference) for item in task.items]
    for judge in (auto, contains):
        verdicts = judge_triples(judge, triples, cache=None)
        wrong = [item.id for item, v in zip(task.items, verdicts, strict=True) if v.passed is not True]
        assert wrong == [], judge.name
    aliases = [(item, alias) for item in task.items for alias in item.aliases]
    verdicts = judge_triples(contains, [stated(item, alias) for item, alias in aliases], cache=None)
    assert [item.id for (item, _), v in zip(aliases, verdicts, strict=True) if v.passed is not True] == []


def test_numeric_aliases_are_single_quantities(task: Task) -> None:
    (numeric,) = build_judges(["numeric"])
    pairs = [(item, alias) for item in task.items if item.answer_type != "text" for alias in item.aliases
             if re.search(r"\d", alias)]
    triples = [Triple(item.question, alias, f"Therefore, the answer is {alias}.", item.answer_type)
               for item, alias in pairs]
    verdicts = numeric.judge_batch(triples)
    assert [(item.id, alias) for (item, alias), v in zip(pairs, verdicts, strict=True) if v.passed is not True] == []


def test_no_single_letter_alias(task: Task) -> None:
    # a one-letter alias ("C" for carbon) is inside almost any sentence: the contains rule would pass everything
    assert [(item.id, a) for item in task.items for a in item.aliases if len(a.strip()) < 2 and a.isalpha()] == []


def test_readme_counts_match_the_data(task: Task) -> None:
    readme = (Path(task.info.path) / "README.md").read_text(encoding="utf-8")
    table = readme_table(readme, "domain")
    expected = {}
    for domain in DOMAINS:
        items = [item for item in task.items if item.domain == domain]
        splits = [sum(item.split == split for item in items) for split in ("train", "test")]
        kinds = [sum(item.answer_type == kind for item in items) for kind in ("text", "number", "quantity")]
        expected[domain] = [*splits, *kinds, sum(bool(item.aliases) for item in items)]
    assert table == expected
