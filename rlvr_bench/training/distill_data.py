"""Data for verifier distillation: a teacher's verdicts, split by question, rendered as verifier prompts.

The study distilled its 7B verifier from the YES/NO verdicts a large teacher
gave on policy responses during RL exploration. Here the verdicts come from run
directories:

- any run with ``items.jsonl`` + ``responses.jsonl`` + ``judgments.jsonl``
  (``agreement``, ``verify``, ``evaluate``, ``train``'s evaluation verdicts, and
  ``distill`` itself);
- a ``train`` run's exploration log (``exploration_judgments.jsonl``, plus
  ``exploration_judgments.rankN.jsonl`` from multi-process runs): every verdict
  the reward and reference judges gave during RL, with the question, reference
  and completion on each row;

or are made on the spot (:func:`exploration_like_data`): policy-like responses
to procedural questions (the demonstrator's correct and flawed solutions, near
misses, wrong units, other questions' answers, unfinished answers), labelled by
the teacher judge, which is the study's recipe in miniature.

Examples are grouped by question *text* (case and spacing ignored), so one
question never lands in both the training and the held-out set, even when two
runs gave it different item ids.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from rlvr_bench.errors import InputError
from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judging import judge_responses
from rlvr_bench.records import (
    Item,
    Judgment,
    Response,
    Verdict,
)
from rlvr_bench.rundir import CONFIG_FILE, JUDGMENTS_FILE, load_run
from rlvr_bench.training.exploration import EXPLORATION_GLOB, read_exploration_logs


@dataclass(frozen=True)
class JudgedData:
    """Items, responses and every judge's verdicts on them, pooled from one or more sources."""

    items: list[Item]
    responses: list[Response]
    judgments: list[Judgment]
    #: where each part came from (for the run config): path, kind, counts
    sources: list[dict[str, Any]]

    @property
    def judges(self) -> list[str]:
        return sorted({j.judge for j in self.judgments})


# ---------------------------------------------------------------- reading runs


def _exploration_records(folder: Path) -> tuple[list[Item], list[Response], list[Judgment]]:
    """Items, responses and judgments from a run folder's exploration logs (every rank's;
    :mod:`rlvr_bench.training.exploration`, whose response ids are unique across processes)."""
    items: dict[str, Item] = {}
    responses: dict[str, Response] = {}
    judgments: list[Judgment] = []
    for row in read_exploration_logs(folder):
        judgment = row.judgment
        item = Item(id=judgment.item_id, domain=row.domain or "unknown", question=row.question,
                    reference=row.reference, answer_type=row.answer_type, split="train")
        known = items.setdefault(item.id, item)
        if known.question != item.question:
            raise InputError(f"{folder}: exploration logs give item {item.id!r} two different questions")
        responses.setdefault(judgment.response_id, Response(id=judgment.response_id, item_id=item.id,
                                                            text=row.completion, source=f"exploration:{row.role}",
                                                            metadata={"step": row.step}))
        judgments.append(judgment)
    return list(items.values()), list(responses.values()), judgments


def load_judged_runs(paths: Sequence[Path]) -> JudgedData:
    """Pool the judged responses of run directories (and their exploration logs).

    With several runs, every id is prefixed with the run's position ("0/", "1/", ...) so ids
    from different runs cannot collide. A folder with neither judgments nor an exploration log
    is an InputError.
    """
    items: list[Item] = []
    responses: list[Response] = []
    judgments: list[Judgment] = []
    sources: list[dict[str, Any]] = []
    for index, path in enumerate(paths):
        path = Path(path)
        if not path.is_dir():
            raise InputError(f"{path}: run directory not found")
        prefix = f"{index}/" if len(paths) > 1 else ""
        parts: list[tuple[list[Item], list[Response], list[Judgment], dict[str, Any]]] = []
        if (path / JUDGMENTS_FILE).is_file() and (path / CONFIG_FILE).is_file():
            run = load_run(path)
            parts.append((run.items, run.responses, run.judgments,
                          {"path": str(path), "kind": "run", "command": run.config.get("command")}))
        if any(path.glob(EXPLORATION_GLOB)):
            log_items, log_responses, log_judgments = _exploration_records(path)
            parts.append((log_items, log_responses, log_judgments,
                          {"path": str(path / EXPLORATION_GLOB), "kind": "exploration"}))
        if not parts:
            raise InputError(f"{path}: no {JUDGMENTS_FILE} (with {CONFIG_FILE}) and no {EXPLORATION_GLOB}: "
                             f"give a run directory written by agreement, verify, evaluate, train or distill")
        seen_items = {item.id: item for item in items}
        for part_items, part_responses, part_judgments, source in parts:
            for item in part_items:
                item = replace(item, id=prefix + item.id)
                if item.id in seen_items:
                    if seen_items[item.id].question != item.question:
                        raise InputError(f"{source['path']}: item {item.id!r} appears with two different questions")
                    continue
                seen_items[item.id] = item
                items.append(item)
            responses.extend(replace(r, id=prefix + r.id, item_id=prefix + r.item_id) for r in part_responses)
            judgments.extend(replace(j, item_id=prefix + j.item_id, response_id=prefix + j.response_id)
                             for j in part_judgments)
            sources.append({**source, "responses": len(part_responses), "judgments": len(part_judgments)})
    ids = [r.id for r in responses]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"response id {duplicate!r} appears twice in the inputs; give each run only once")
    known_items = {item.id for item in items}
    orphan = next((r for r in responses if r.item_id not in known_items), None)
    if orphan is not None:
        raise InputError(f"response {orphan.id!r} refers to item {orphan.item_id!r}, which no items.jsonl defines")
    return JudgedData(items, responses, judgments, sources)


#: the column ``--teacher column:label`` reads: a data file's gold label (its human verdict) in any layout
GOLD_LABEL_COLUMN = "label"


def load_data_files(paths: Sequence[Path], teacher: Judge) -> JudgedData:
    """Items and responses of data files in any layout ``--data`` reads, judged by ``teacher``.

    Human labels are a teacher like any other: the importers keep each response's gold label
    in :attr:`Response.label`, copied here into the response's recorded columns as ``label``
    (unless the file has a column of that name), so ``--teacher column:label`` learns them;
    ``--teacher column:NAME`` reads any other recorded verdict column, and a live judge
    (``--teacher contains``) judges the responses here. With several files, ids are prefixed
    with the file's position ("d0/", "d1/", ...) so they cannot collide.
    """
    from rlvr_bench.importers import import_file

    items: list[Item] = []
    responses: list[Response] = []
    sources: list[dict[str, Any]] = []
    for index, path in enumerate(paths):
        part_items, part_responses, layout = import_file(Path(path))
        if not part_responses:
            raise InputError(f"{path}: no responses to distill from (layout {layout}: every row was dropped; "
                             f"`rlvr-bench verify --data {path}` prints why)")
        prefix = f"d{index}/" if len(paths) > 1 else ""
        items.extend(replace(item, id=prefix + item.id) for item in part_items)
        for response in part_responses:
            recorded = dict(response.metadata)
            if response.label is not None:
                recorded.setdefault(GOLD_LABEL_COLUMN, response.label)
            responses.append(replace(response, id=prefix + response.id, item_id=prefix + response.item_id,
                                     metadata=recorded))
        sources.append({"path": str(path), "kind": "data", "format": layout, "items": len(part_items),
                        "responses": len(part_responses)})
    judgments = judge_responses([teacher], items, responses, cache=None)
    for source in sources:
        source["judge"] = teacher.name
    return JudgedData(items, responses, judgments, sources)


def merge(parts: Sequence[JudgedData]) -> JudgedData:
    """Concatenate sources whose ids are already distinct (e.g. runs and generated data)."""
    return JudgedData([i for p in parts for i in p.items], [r for p in parts for r in p.responses],
                      [j for p in parts for j in p.judgments], [s for p in parts for s in p.sources])


# ---------------------------------------------------------------- teacher examples and the split


@dataclass(frozen=True)
class Example:
    """One (item, response) with the teacher's scored verdict; ``group`` is the question key."""

    item: Item
    response: Response
    teacher: Verdict
    group: str

    @property
    def teacher_yes(self) -> bool:
        return bool(self.teacher.passed)

    @property
    def triple(self) -> Triple:
        return Triple.of(self.item, self.response)


@dataclass(frozen=True)
class TeacherExamples:
    """The teacher's scored verdicts, and what had to be left out (counted, never silently)."""

    examples: list[Example]
    #: responses whose teacher verdict was unscored (judge failure): dropped
    n_teacher_unscored: int
    #: responses the teacher never judged: dropped
    n_without_teacher: int


def question_key(question: str) -> str:
    """The split's grouping key: the question text with case and runs of whitespace ignored."""
    return re.sub(r"\s+", " ", question).strip().casefold()


def teacher_examples(data: JudgedData, teacher: str) -> TeacherExamples:
    """One example per response the teacher scored; the first verdict wins when it judged a response twice."""
    if teacher not in data.judges:
        available = ", ".join(data.judges) or "none"
        raise InputError(f"teacher {teacher!r} has no verdicts in the inputs (judges present: {available})")
    verdicts: dict[str, Verdict] = {}
    for judgment in data.judgments:
        if judgment.judge == teacher:
            verdicts.setdefault(judgment.response_id, judgment.verdict)
    items = {item.id: item for item in data.items}
    examples: list[Example] = []
    unscored = missing = 0
    for response in data.responses:
        verdict = verdicts.get(response.id)
        if verdict is None:
            missing += 1
        elif verdict.passed is None:
            unscored += 1
        else:
            item = items[response.item_id]
            examples.append(Example(item, response, verdict, question_key(item.question)))
    return TeacherExamples(examples, unscored, missing)


@dataclass(frozen=True)
class Split:
    train: list[Example]
    held_out: list[Example]

    def summary(self) -> dict[str, Any]:
        """Sizes and the teacher's YES rate (fraction in [0, 1]) of each part."""
        out: dict[str, Any] = {}
        for name, part in (("train", self.train), ("held_out", self.held_out)):
            out[name] = {
                "n_examples": len(part),
                "n_questions": len({e.group for e in part}),
                "teacher_yes_rate": sum(e.teacher_yes for e in part) / len(part) if part else None,
            }
        return out


def split_by_question(examples: Sequence[Example], held_out_fraction: float, seed: int) -> Split:
    """Seeded split of the *questions*: every example of a question goes to the same side.

    ``held_out_fraction`` in (0, 1) is the share of questions held out (at least one question on
    each side); examples keep their input order within each side.
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise InputError(f"held-out fraction must be in (0, 1), got {held_out_fraction}")
    groups = sorted({e.group for e in examples})
    if len(groups) < 2:
        raise InputError(f"distillation needs teacher verdicts on at least 2 distinct questions, got {len(groups)}")
    random.Random(seed).shuffle(groups)
    n_held = min(len(groups) - 1, max(1, round(held_out_fraction * len(groups))))
    held = set(groups[:n_held])
    return Split([e for e in examples if e.group not in held], [e for e in examples if e.group in held])


def capped(examples: Sequence[Example], limit: int | None, seed: int) -> list[Example]:
    """At most ``limit`` examples: a seeded sample, in input order (all of them when ``limit`` is None)."""
    if limit is None or len(examples) <= limit:
        return list(examples)
    keep = set(random.Random(seed).sample(range(len(examples)), limit))
    return [example for index, example in enumerate(examples) if index in keep]


def balanced(examples: Sequence[Example], seed: int) -> list[Example]:
    """Oversample the minority verdict (with replacement, seeded) until YES and NO are equally many."""
    yes = [e for e in examples if e.teacher_yes]
    no = [e for e in examples if not e.teacher_yes]
    if not yes or not no:
        return list(examples)
    minority, majority = (yes, no) if len(yes) < len(no) else (no, yes)
    rng = random.Random(seed)
    extra = [rng.choice(minority) for _ in range(len(majority) - len(minority))]
    out = [*examples, *extra]
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------- exploration-like data


#: response kinds of :func:`exploration_response` and their probabilities (sum 1)
RESPONSE_KINDS: tuple[tuple[str, float], ...] = (
    ("demonstration", 0.45),  # the noisy demonstrator: varied surface forms, classic mistakes
    ("near_miss", 0.17),  # the right quantity with one digit or the decimal point off
    ("wrong_unit", 0.12),  # the right digits with another unit of the same kind
    ("other_answer", 0.08),  # the answer to another question
    ("unfinished", 0.08),  # the working without a final answer, or a cut-off final line
    ("clean", 0.10),  # a correct demonstration
)


def _perturbed(value: Fraction, rng: random.Random) -> Fraction:
    """A near miss of ``value``: the last written digit changed, the decimal point moved, or an off-by-some."""
    from rlvr_bench.training.procedural import number_text

    text = number_text(value)
    roll = rng.random()
    if roll < 0.4 and "/" not in text:
        places = len(text.split(".")[1]) if "." in text else 0
        step = Fraction(1, 10**places)
        return value + step * rng.choice((-3, -2, -1, 1, 2, 3))
    if roll < 0.7:
        return value * rng.choice((10, Fraction(1, 10), 100, Fraction(1, 100)))
    return value + rng.choice((-10, -5, -1, 1, 5, 10)) * (1 if abs(value) >= 10 else Fraction(1, 10))


def exploration_response(problem: Any, rng: random.Random, other: Any) -> tuple[str, str]:
    """(response text, kind): one policy-like response to a procedural ``problem``.

    ``other`` is another problem whose answer an "other_answer" response states. The kind only
    describes how the text was made; the *label* always comes from the teacher judge.
    """
    from rlvr_bench.training.procedural import (
        FINAL_LINES,
        UNIT_NAMES,
        demonstration,
        number_text,
        surface_forms,
        with_unit,
    )

    kinds, weights = zip(*RESPONSE_KINDS, strict=True)
    kind = rng.choices(kinds, weights)[0]
    final = rng.choice(FINAL_LINES)
    if kind in ("demonstration", "clean"):
        text, _ = demonstration(problem, rng, flaw_scale=1.0 if kind == "demonstration" else 0.0)
        return text, kind
    if kind == "near_miss":
        value = _perturbed(problem.answer, rng)
        return f"{problem.working}\n{final.format(answer=rng.choice(surface_forms(value, problem.unit)))}", kind
    if kind == "wrong_unit":
        unit = rng.choice([u for u in UNIT_NAMES if u != problem.unit])
        stated = with_unit(number_text(problem.answer), unit, long_name=rng.random() < 0.3)
        return f"{problem.working}\n{final.format(answer=stated)}", kind
    if kind == "other_answer":
        answer = rng.choice(surface_forms(other.answer, other.unit))
        return f"{other.working}\n{final.format(answer=answer)}", kind
    if rng.random() < 0.5:
        return problem.working, kind  # the working's result may still state the answer: the teacher decides
    return f"{problem.working}\nTherefore, the answer is", kind


def exploration_like_data(teacher: Judge, n_questions: int, responses_per_question: int, seed: int,
                          judges: Sequence[Judge] = (), batch_size: int = 256) -> JudgedData:
    """Procedural questions with policy-like responses, judged by ``teacher`` (and ``judges``).

    Questions are drawn round-robin over the procedural domains (the generator's train
    split, deterministic in ``seed``); ids are prefixed "gen/" so they never collide with a run's.
    """
    from rlvr_bench.training.procedural import DOMAINS, generate_splits, problem_item

    if n_questions < 2 or responses_per_question < 1:
        raise InputError("generated data needs at least 2 questions and 1 response per question")
    per_domain = -(-n_questions // len(DOMAINS))
    problems = generate_splits(seed, test_per_domain=0, validation_per_domain=0, train_per_domain=per_domain).train
    problems = problems[:n_questions]
    rng = random.Random(seed)
    items: list[Item] = []
    responses: list[Response] = []
    for index, problem in enumerate(problems):
        item = replace(problem_item(problem, f"gen/{index:05d}", "train"), metadata={"subcase": problem.subcase})
        items.append(item)
        for sample in range(responses_per_question):
            other = problems[(index + 1 + rng.randrange(len(problems) - 1)) % len(problems)]  # never itself
            text, kind = exploration_response(problem, rng, other)
            responses.append(Response(id=f"{item.id}-{sample}", item_id=item.id, text=text,
                                      source="generated:exploration-like", variant=kind))
    judgments = judge_responses([teacher, *judges], items, responses, batch_size=batch_size)
    source = {"kind": "generated", "generator": "rlvr_bench.training.distill_data.exploration_like_data",
              "seed": seed, "questions": len(items), "responses": len(responses), "judged_by": teacher.name}
    return JudgedData(items, responses, judgments, [source])


#: the held-out examples of a distill run in the ``triples`` layout: ``verify --data RUN/held_out.jsonl``
HELD_OUT_FILE = "held_out.jsonl"


def write_held_out_triples(examples: Sequence[Example], path: Path) -> Path:
    """The held-out examples as ``triples`` rows (the teacher's verdict as ``label``), so that ``verify --data``
    judges exactly the questions the student never trained on, with any judge."""
    import json

    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            item, response = example.item, example.response
            row = {"id": response.id, "item_id": item.id, "question": item.question,
                   "reference": list(item.references), "response": response.text, "label": example.teacher_yes,
                   "domain": item.domain, "answer_type": item.answer_type, "system": response.source}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
