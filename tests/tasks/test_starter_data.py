"""The bundled `starter` task loads, is balanced, and its README counts match the data."""

from __future__ import annotations

from collections import Counter

import pytest

from rlvr_bench.records import final_step
from rlvr_bench.tasks import Task, load_task

#: variants whose final line is correct by construction; every other variant is incorrect
CORRECT_VARIANTS = {"exact", "paraphrase", "format", "verbose"}
INCORRECT_VARIANTS = {"near_miss", "wrong", "hedge", "final_step_mismatch"}


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task("starter")


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


def test_size_domains_and_three_responses_per_item(task: Task) -> None:
    labelled = [r for r in task.responses if r.label is not None]
    assert len(labelled) >= 60
    assert len({item.domain for item in task.items}) >= 6
    per_item = Counter(r.item_id for r in task.responses)
    assert {item.id: per_item[item.id] for item in task.items} == {item.id: 3 for item in task.items}
    # 3 items in every declared domain
    assert Counter(item.domain for item in task.items) == {domain: 3 for domain in task.info.domains}


def test_label_share_is_balanced(task: Task) -> None:
    share = sum(r.label is True for r in task.responses) / len(task.responses)
    assert 0.40 <= share <= 0.60


def test_labels_follow_variants(task: Task) -> None:
    for response in task.responses:
        assert response.variant in CORRECT_VARIANTS | INCORRECT_VARIANTS, response.id
        assert response.label is (response.variant in CORRECT_VARIANTS), response.id
    # each variant is used several times, so per-variant judge accuracy means something
    counts = Counter(r.variant for r in task.responses)
    assert min(counts[v] for v in CORRECT_VARIANTS | INCORRECT_VARIANTS) >= 4


def test_exact_responses_state_the_reference_on_the_final_line(task: Task) -> None:
    reference = {item.id: item.reference for item in task.items}
    for response in task.responses:
        assert final_step(response.text), response.id
        if response.variant == "exact":
            assert reference[response.item_id] in final_step(response.text), response.id


def test_answer_types_are_mixed(task: Task) -> None:
    assert len({item.answer_type for item in task.items}) >= 5


def test_readme_counts_match_the_data(task: Task) -> None:
    readme = (task.info.path / "README.md").read_text(encoding="utf-8")

    by_variant = Counter((r.variant, r.label) for r in task.responses)
    variant_rows = readme_table(readme, "variant")
    assert set(variant_rows) == {r.variant for r in task.responses}
    for variant, (total, correct, incorrect) in variant_rows.items():
        assert (correct, incorrect) == (by_variant[(variant, True)], by_variant[(variant, False)]), variant
        assert total == correct + incorrect, variant

    domain_of = {item.id: item.domain for item in task.items}
    by_domain = Counter((domain_of[r.item_id], r.label) for r in task.responses)
    items_per_domain = Counter(item.domain for item in task.items)
    domain_rows = readme_table(readme, "domain")
    assert set(domain_rows) == set(task.info.domains)
    for domain, (items, total, correct, incorrect) in domain_rows.items():
        assert items == items_per_domain[domain], domain
        assert (correct, incorrect) == (by_domain[(domain, True)], by_domain[(domain, False)]), domain
        assert total == correct + incorrect, domain

    assert readme_table(readme, "answer_type") == {
        answer_type: [n] for answer_type, n in Counter(item.answer_type for item in task.items).items()
    }
