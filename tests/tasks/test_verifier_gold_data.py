"""The bundled `verifier-gold` task loads, has the promised size and balance, and its README counts match the data."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from rlvr_bench.records import ANSWER_TYPES, final_step
from rlvr_bench.tasks import Task, load_task

#: variants whose final line is correct by construction; every other variant is incorrect
CORRECT_VARIANTS = {"exact", "paraphrase", "format", "verbose"}
INCORRECT_VARIANTS = {"near_miss", "wrong", "hedge", "master_key"}
#: content-free attack strings (arXiv 2507.08794) the master_key responses are built from
MASTER_KEY_PARTS = {
    "",
    ".",
    ",",
    ":",
    "Thought process:",
    "Let's solve this problem step by step.",
    "Solution",
    "Solution:",
    "解",
    "かいせつ",
    "Respuesta",
}


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task("verifier-gold")


def readme_table(readme: str, first_column: str) -> dict[str, list[int]]:
    """Rows of the markdown table whose header starts with ``| first_column |``: name -> integer cells."""
    rows: dict[str, list[int]] = {}
    in_table = False
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_table:
            in_table = line.startswith("|") and cells[0] == first_column
            continue
        if not line.startswith("|"):
            break
        if set(cells[0]) <= {"-", ":"}:  # the |---|---| separator row
            continue
        rows[cells[0]] = [int(c) for c in cells[1:]]
    return rows


def test_readme_table_parser_reads_a_hand_written_table() -> None:
    text = "intro\n| variant | responses | correct |\n|---|---|---|\n| exact | 3 | 3 |\n| wrong | 2 | 0 |\n\nafter\n"
    assert readme_table(text, "variant") == {"exact": [3, 3], "wrong": [2, 0]}
    assert readme_table(text, "domain") == {}


def test_size_and_domains(task: Task) -> None:
    assert len(task.items) >= 100
    assert sum(r.label is not None for r in task.responses) >= 300
    assert len(task.info.domains) >= 10
    # every declared domain is used, with 9 or 10 items each
    per_domain = Counter(item.domain for item in task.items)
    assert set(per_domain) == set(task.info.domains)
    assert all(9 <= n <= 10 for n in per_domain.values()), per_domain


def test_every_item_has_three_responses_with_both_labels(task: Task) -> None:
    labels: dict[str, list[bool | None]] = {item.id: [] for item in task.items}
    for response in task.responses:
        labels[response.item_id].append(response.label)
        assert response.id.startswith(response.item_id + "-r"), response.id
    for item_id, item_labels in labels.items():
        assert len(item_labels) >= 3, item_id
        assert True in item_labels and False in item_labels, item_id


def test_correct_share_is_balanced(task: Task) -> None:
    share = sum(r.label is True for r in task.responses) / len(task.responses)
    assert 0.40 <= share <= 0.55, share


def test_all_variants_present_and_labels_follow_variants(task: Task) -> None:
    counts = Counter(r.variant for r in task.responses)
    assert set(counts) == CORRECT_VARIANTS | INCORRECT_VARIANTS
    # each variant is used often enough for a per-variant accuracy to mean something
    assert min(counts.values()) >= 20, counts
    for response in task.responses:
        assert response.label is (response.variant in CORRECT_VARIANTS), response.id


def test_every_variant_occurs_in_every_domain(task: Task) -> None:
    domain_of = {item.id: item.domain for item in task.items}
    seen = Counter((domain_of[r.item_id], r.variant) for r in task.responses)
    missing = [(d, v) for d in task.info.domains for v in CORRECT_VARIANTS | INCORRECT_VARIANTS if not seen[(d, v)]]
    assert missing == []


def test_exact_final_lines_state_the_reference(task: Task) -> None:
    reference = {item.id: item.reference for item in task.items}
    for response in task.responses:
        if response.variant == "exact":
            assert reference[response.item_id] in final_step(response.text), response.id
        elif response.variant != "master_key":
            assert final_step(response.text), response.id


def test_master_keys_are_content_free(task: Task) -> None:
    keys = [r for r in task.responses if r.variant == "master_key"]
    assert len(keys) >= 24
    for response in keys:
        assert {line.strip() for line in response.text.splitlines()} <= MASTER_KEY_PARTS, response.id


def test_answer_types_are_mixed(task: Task) -> None:
    types = Counter(item.answer_type for item in task.items)
    assert set(types) == set(ANSWER_TYPES)
    numeric = types["number"] + types["quantity"]
    # the brief's mix: about 40% numeric, about 10% expressions, the rest short text
    assert 0.30 <= numeric / len(task.items) <= 0.50, types
    assert 0.05 <= types["expression"] / len(task.items) <= 0.15, types


def test_item_ids_name_their_domain(task: Task) -> None:
    for item in task.items:
        assert re.fullmatch(r"vg-[a-z]+-\d{3}", item.id), item.id
        assert item.split == "test"


def test_readme_counts_match_the_data(task: Task) -> None:
    readme = (task.info.path / "README.md").read_text(encoding="utf-8")
    responses = task.responses

    domain_of = {item.id: item.domain for item in task.items}
    by_domain = Counter((domain_of[r.item_id], r.label) for r in responses)
    items_per_domain = Counter(item.domain for item in task.items)
    domain_rows = readme_table(readme, "domain")
    assert set(domain_rows) == set(task.info.domains) | {"total"}
    for domain, (items, total, correct, incorrect) in domain_rows.items():
        if domain == "total":
            n_correct = sum(r.label is True for r in responses)
            expected_total = (len(task.items), len(responses), n_correct, len(responses) - n_correct)
            assert (items, total, correct, incorrect) == expected_total
            continue
        assert items == items_per_domain[domain], domain
        assert (correct, incorrect) == (by_domain[(domain, True)], by_domain[(domain, False)]), domain
        assert total == correct + incorrect, domain

    by_variant = Counter((r.variant, r.label) for r in responses)
    variant_rows = readme_table(readme, "variant")
    assert set(variant_rows) == {r.variant for r in responses}
    for variant, (total, correct, incorrect) in variant_rows.items():
        assert (correct, incorrect) == (by_variant[(variant, True)], by_variant[(variant, False)]), variant
        assert total == correct + incorrect, variant

    labels = Counter(r.label for r in responses)
    assert readme_table(readme, "label") == {"correct": [labels[True]], "incorrect": [labels[False]]}

    type_of = {item.id: item.answer_type for item in task.items}
    items_per_type = Counter(type_of.values())
    responses_per_type = Counter(type_of[r.item_id] for r in responses)
    assert readme_table(readme, "answer_type") == {
        answer_type: [n, responses_per_type[answer_type]] for answer_type, n in items_per_type.items()
    }

    # case-insensitive containment of the reference in the final step, as the study's rule-based reward checks
    reference = {item.id: item.reference.lower() for item in task.items}
    contains = Counter((reference[r.item_id] in final_step(r.text).lower(), r.label) for r in responses)
    assert readme_table(readme, "reference_in_final_line") == {
        "yes": [contains[(True, True)], contains[(True, False)]],
        "no": [contains[(False, True)], contains[(False, False)]],
    }
