"""What an RL engine's reward request means for the judge: shared by the reward server and the verl adapter.

An engine sends, per sample, the policy's text (OpenRLHF: prompt + response decoded with its special
tokens; verl: the decoded response), a prompt and a label as its data set stores it. This module
turns one such sample into a :class:`RewardRow`: the triples to judge (one per acceptable reference)
or the reason the sample cannot be judged. Both sites use it, so a sample means the same thing
whichever engine sent it.

- **Special texts**: :func:`strip_special_texts` removes trailing end-of-turn, EOS and padding texts
  of any common chat template (ChatML / Qwen, Llama 3, Mistral / Llama 2, Gemma, Phi-3, DeepSeek,
  gpt-oss, ...) so the judge's final step is the policy's last line, not ``<|im_end|>``.
- **Labels of any JSON type**: a string; a number (judged as its text, ``42`` -> ``"42"``); an object
  with the item's fields (``reference`` / ``ground_truth`` / ``answer`` plus ``question``,
  ``answer_type``, ``domain``); a list of those = several acceptable references, judged one by one
  and combined by :func:`combine_references` (passes when any reference passes). ``None``, booleans,
  NaN, empty strings, empty lists and integers too long for ``int()`` are refused for that sample only,
  with the reason.
- **The response inside OpenRLHF's query** (:func:`response_part`): located under the chat template's
  spacing, or the sample is refused (cause ``response``); never the whole query.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rlvr_bench.judges.base import Triple
from rlvr_bench.records import Verdict

#: special texts without the ``<|...|>`` shape, by template family (Llama 2 / Mistral, Gemma, T5, ...)
_NAMED_SPECIAL_TEXTS = ("</s>", "<s>", "<eos>", "<bos>", "<pad>", "<unk>", "<end_of_turn>", "<start_of_turn>",
                        "<end_of_utterance>", "[/INST]", "[INST]", "<|endoftext|>", "</think>")
#: ChatML, Llama 3, Phi-3, gpt-oss and most newer templates: ``<|name|>``; DeepSeek: ``<｜name｜>``;
#: Nemotron-Mini / Hymba (and T5's sentinels): ``<extra_id_N>``, whose ``<extra_id_1>`` opens the next turn
_SPECIAL_SHAPES = (r"<\|[A-Za-z0-9_.:\- ]{1,64}\|>", r"<｜[^｜<>]{1,64}｜>", r"<extra_id_\d{1,3}>")


def _special_tail(extra: Sequence[str]) -> re.Pattern[str]:
    names = sorted({*_NAMED_SPECIAL_TEXTS, *(t for t in extra if t)}, key=len, reverse=True)
    alternatives = [*_SPECIAL_SHAPES, *(re.escape(name) for name in names)]
    return re.compile(r"(?:" + "|".join(alternatives) + r")\s*\Z")


_DEFAULT_TAIL = _special_tail(())


def strip_special_texts(text: str, extra: Sequence[str] = ()) -> str:
    """``text`` without its trailing special texts (EOS, end of turn, padding) and the blank space after them.

    Only the tail is touched: text before the first trailing special is kept byte for byte (its own
    trailing newline included), so a response without special texts is unchanged. ``extra`` adds a
    model's own special texts (``tokenizer.all_special_tokens``) to the built-in ones.
    """
    tail = _special_tail(extra) if extra else _DEFAULT_TAIL
    while True:
        match = tail.search(text)
        if match is None or match.start() == len(text):
            return text
        text = text[: match.start()]


#: how much of the prompt's end anchors the response when the prompt is not a prefix of the query
#: (non-blank characters: the end of the question and the template's assistant opener)
ANCHOR_CHARS = 64


class ResponseNotFound(ValueError):
    """The response cannot be told apart from the prompt inside the query; the message says why."""


def _align_ignoring_blanks(text: str, start: int, wanted: str) -> int | None:
    """The index in ``text`` just after ``wanted`` (blank-free) read from ``start`` with blanks skipped in
    ``text``, or None when ``text`` differs. Walks only as far as ``wanted`` reaches, not the whole text."""
    position, matched = start, 0
    while matched < len(wanted):
        if position >= len(text):
            return None
        char = text[position]
        if char.isspace():
            position += 1
        elif char == wanted[matched]:
            position, matched = position + 1, matched + 1
        else:
            return None
    return position


def _after_trailing_blanks(query: str, position: int, prompt: str) -> int:
    """Skip the prompt's own trailing blanks (``"A: "``) when the query repeats them exactly."""
    blanks = prompt[len(prompt.rstrip()):]
    return position + len(blanks) if blanks and query.startswith(blanks, position) else position


def response_part(query: str, prompt: str) -> str:
    """The policy's response inside ``query`` (OpenRLHF sends ``query = decode(prompt ids + response ids)``).

    The query is rarely the prompt byte for byte: a SentencePiece tokenizer decodes ``<s>[INST]`` as
    ``<s> [INST]`` (Llama 2, Mistral), ``clean_up_tokenization_spaces`` drops blanks before punctuation,
    and OpenRLHF cuts an over-long prompt from the left. So, in order:

    1. the prompt is a prefix of the query: the rest;
    2. the prompt is a prefix once blanks are ignored on both sides (special-token spacing): the rest;
    3. the prompt's last :data:`ANCHOR_CHARS` non-blank characters (the end of the last user turn and the
       template's assistant opener) occur, blanks ignored, in the query's head: the text after them;
    4. otherwise :class:`ResponseNotFound`: the sample is unscored with that reason. The whole query is
       never judged as the response: the question's own words would pass a rule judge.
    """
    if query.startswith(prompt):
        return query[len(prompt):]
    compact = "".join(prompt.split())
    if not compact:
        return query  # an empty prompt: the whole query is the response
    end = _align_ignoring_blanks(query, 0, compact)
    if end is None:
        end = _anchor_end(query, compact[-ANCHOR_CHARS:], len(prompt))
    if end is None:
        raise ResponseNotFound(
            "the prompt is not in the query (not as a prefix, even ignoring blanks around special tokens, nor its "
            f"last {ANCHOR_CHARS} characters): the response cannot be told apart from the prompt")
    return query[_after_trailing_blanks(query, end, prompt):]


def _anchor_end(query: str, anchor: str, prompt_length: int) -> int | None:
    """Where the first occurrence of ``anchor`` (blank-free) ends in the query's head, blanks ignored."""
    head = query[: 2 * prompt_length + 1024]  # the prompt part of a query, whatever its spacing
    first = anchor[0]
    position = head.find(first)
    while position >= 0:
        end = _align_ignoring_blanks(head, position, anchor)
        if end is not None:
            return end
        position = head.find(first, position + 1)
    return None


#: (start of the user turn, end of the turn) of the chat templates policies are trained with:
#: ChatML (Qwen, SmolLM, ...), Llama 3, Gemma, Mistral / Llama 2, Phi-3, Nemotron-Mini and DeepSeek
_USER_TURNS = (
    (re.compile(r"<\|im_start\|>user\s*\n"), "<|im_end|>"),
    (re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*"), "<|eot_id|>"),
    (re.compile(r"<start_of_turn>user\s*\n"), "<end_of_turn>"),
    (re.compile(r"\[INST\]\s*"), "[/INST]"),
    (re.compile(r"<\|user\|>\s*"), "<|end|>"),
    (re.compile(r"<extra_id_1>User\s*\n"), "<extra_id_1>"),
    (re.compile(r"<｜User｜>"), "<｜Assistant｜>"),
    (re.compile(r"(?:\A|>|\n\n)User: "), "\n\nAssistant:"),  # DeepSeek-V2's plain-text turns, tried last
)


def question_from_prompt(prompt: str) -> str:
    """The question inside a rendered prompt: the last user turn of a known chat template, else the
    whole prompt (stripped). The RL reward gives the judge the item's question; OpenRLHF sends only
    the rendered prompt, so this recovers the same text from it for the chat-templated case."""
    for opening, closing in _USER_TURNS:
        starts = list(opening.finditer(prompt))
        if starts:
            body = prompt[starts[-1].end():]
            end = body.find(closing)
            return (body[:end] if end >= 0 else body).strip()
    return prompt.strip()


class LabelRefused(ValueError):
    """One sample's label cannot be judged; the message says why (the sample is unscored, not the request)."""


#: keys of an object label that name the reference (verl and OpenRLHF data sets use each of them)
REFERENCE_KEYS = ("reference", "ground_truth", "answer")


@dataclass(frozen=True)
class RewardRow:
    """One sample to reward: the triples to judge (one per acceptable reference), or why it cannot be judged.

    ``cause`` says what was refused: ``"label"`` (flagged ``unscored_label``) or ``"response"`` (the
    response cannot be located in the query, or the query is not text)."""

    triples: tuple[Triple, ...]
    refusal: str | None = None
    cause: str = "label"


#: the most digits Python's int() reads from text (sys.int_info.default_max_str_digits)
MAX_NUMBER_DIGITS = 4300


@dataclass(frozen=True)
class OversizeNumber:
    """A JSON integer longer than :data:`MAX_NUMBER_DIGITS` digits, kept as its text (``json.loads`` would
    raise for the whole body): a label that is one is refused for its sample only."""

    digits: str


def read_json_int(text: str) -> int | OversizeNumber:
    """``json.loads(..., parse_int=read_json_int)``: an int, or an :class:`OversizeNumber` instead of an error."""
    return int(text) if len(text.lstrip("-")) <= MAX_NUMBER_DIGITS else OversizeNumber(text)


def _reference_text(value: Any, where: str) -> str:
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        value = value.item()  # a numpy scalar (verl reads parquet columns into numpy)
    if isinstance(value, str):
        if not value.strip():
            raise LabelRefused(f"{where}: an empty reference (every judge would compare against nothing)")
        return value
    if isinstance(value, OversizeNumber):
        raise LabelRefused(f"{where}: a number of {len(value.digits)} digits, more than Python reads "
                           f"({MAX_NUMBER_DIGITS}); store it as a string")
    if isinstance(value, bool) or value is None:
        raise LabelRefused(f"{where}: the reference is {json_type(value)}, not a string, number or list of them")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LabelRefused(f"{where}: the reference is {value}, not a finite number")
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)  # 3.0 -> "3"
    raise LabelRefused(f"{where}: the reference is {json_type(value)}, not a string, number or list of them")


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (null, boolean, number, string, array, object)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, OversizeNumber):
        return "a number"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, dict) else "an array" if isinstance(value, (list, tuple)) else \
        type(value).__name__


def _as_list(value: Any) -> list[Any] | None:
    """A list label as a list (verl keeps parquet lists as numpy arrays); None when ``value`` is not one."""
    if isinstance(value, (list, tuple)):
        return list(value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and getattr(value, "ndim", 0) >= 1:
        converted = tolist()
        return converted if isinstance(converted, list) else None
    return None


def label_references(label: Any, where: str) -> tuple[list[str], dict[str, str]]:
    """(acceptable references, item fields) of a label; LabelRefused says why a label cannot be judged."""
    fields: dict[str, str] = {}
    if isinstance(label, dict):
        key = next((k for k in REFERENCE_KEYS if k in label), None)
        if key is None:
            raise LabelRefused(f"{where}: an object label needs one of {', '.join(REFERENCE_KEYS)}")
        fields = {name: str(label[name]) for name in ("question", "answer_type", "domain")
                  if isinstance(label.get(name), str) and label[name]}
        where, label = f"{where}.{key}", label[key]
    listed = _as_list(label)
    if listed is None:
        return [_reference_text(label, where)], fields
    if not listed:
        raise LabelRefused(f"{where}: an empty list of references")
    return [_reference_text(value, f"{where}[{k}]") for k, value in enumerate(listed)], fields


def label_row(response: str, question: str, label: Any, where: str, answer_type: str = "text", domain: str = ""
              ) -> RewardRow:
    """The row for one sample: ``response`` is judged whole against each acceptable reference of ``label``;
    the label's own fields (an object label) take precedence over ``question`` / ``answer_type`` / ``domain``."""
    try:
        references, fields = label_references(label, where)
    except LabelRefused as exc:
        return RewardRow((), str(exc))
    question = fields.get("question", question)
    answer_type = fields.get("answer_type", answer_type or "text")
    domain = fields.get("domain", domain)
    # one triple with every acceptable reference: judge_triples judges each and combines them, as in verify
    return RewardRow((Triple(question, references[0], response, answer_type, domain, tuple(references[1:])),))


def judge_rows(rows: Sequence[RewardRow], judge: Callable[[list[Triple]], list[Verdict]]) -> list[Verdict]:
    """One verdict per row: every row's triples judged in one call, references combined; a refused row
    gets an unscored verdict whose error is the refusal."""
    triples = [t for row in rows for t in row.triples]
    verdicts = judge(triples) if triples else []
    combined: list[Verdict] = []
    start = 0
    for row in rows:
        if row.refusal is not None:
            combined.append(Verdict(passed=None, error=row.refusal))
            continue
        combined.append(verdicts[start])  # one triple per row (its references inside)
        start += 1
    return combined
