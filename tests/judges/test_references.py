"""Several acceptable references: every rule judge passes a response that matches any of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from rlvr_bench.importers import import_file
from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import judge
from rlvr_bench.judging import judge_triples


@pytest.mark.parametrize(("name", "reference", "aliases", "response", "answer_type"), [
    ("exact", "Outkast", ("André 3000 and Big Boi", "OutKast"), "The answer is OutKast.", "text"),
    ("contains", "United States of America", ("USA", "US"), "It was the USA.", "text"),
    ("jaccard", "United States of America", ("USA",), "USA", "text"),
    ("numeric", "0.35 g", ("350 mg",), "The dose is 350 mg.", "quantity"),
    ("math", "1/2", ("0.5",), "The answer is 0.5", "expression"),
    ("embed", "Paris", ("Paris, France",), "Paris, France", "text"),
    ("choice", "(B)", ("24 mg",), "The answer is (B)", "choice"),
])
def test_a_response_matching_any_reference_passes(name: str, reference: str, aliases: tuple[str, ...],
                                                  response: str, answer_type: str) -> None:
    question = "Which dose? (A) 12 mg (B) 24 mg" if name == "choice" else "q"
    j = judge(name)
    single = judge_triples(j, [Triple(question, aliases[-1], response, answer_type)], cache=None)[0]
    assert single.passed is True  # the alias alone matches
    several = judge_triples(j, [Triple(question, reference, response, answer_type, "", aliases)], cache=None)[0]
    assert several.passed is True, several
    assert "of" in several.raw and "reference" in several.raw  # which reference matched is said
    wrong = judge_triples(j, [Triple(question, reference, "The answer is 7 kg.", answer_type, "", aliases)],
                          cache=None)[0]
    assert wrong.passed is not True


def test_importers_read_reference_lists_and_alias_columns(tmp_path: Path) -> None:
    jsonl = tmp_path / "open_qa.jsonl"
    jsonl.write_text(json.dumps({"question": "Who recorded 'Hey Ya!'?", "reference": ["Outkast", "OutKast"],
                                 "response": "OutKast"}) + "\n", encoding="utf-8")
    items, _, _ = import_file(jsonl)
    assert items[0].references == ("Outkast", "OutKast")
    csv = tmp_path / "open_qa.csv"
    csv.write_text("question,reference,aliases,response\nWho recorded 'Hey Ya!'?,Outkast,OutKast | André 3000,"
                   "OutKast\n", encoding="utf-8")
    items, _, _ = import_file(csv)
    assert items[0].references == ("Outkast", "OutKast", "André 3000")


def test_a_model_judge_sees_every_reference_in_one_prompt() -> None:
    from rlvr_bench.judges.base import JudgeSpec
    from rlvr_bench.judges.model_judge import ModelJudge

    class Recording(ModelJudge):
        seen: ClassVar[list[str]] = []

        def judge_batch(self, triples):  # type: ignore[no-untyped-def]
            from rlvr_bench.records import Verdict

            Recording.seen += [" ".join(content for _, content in self.render(t).messages) for t in triples]
            return [Verdict(True, 0.9) for _ in triples]

    judge_ = Recording(JudgeSpec("rec", "test", params={"prompt": "verifier"}))
    triple = Triple("Who recorded 'Hey Ya!'?", "Outkast", "OutKast", "text", "", ("OutKast", "André 3000"))
    verdict = judge_triples(judge_, [triple], cache=None)[0]
    assert verdict.passed is True and len(Recording.seen) == 1  # one prompt, not one per reference
    assert "Outkast (also accepted: OutKast; André 3000)" in Recording.seen[0]
    assert judge_.cache_key(triple) != judge_.cache_key(triple.with_reference("Outkast"))
