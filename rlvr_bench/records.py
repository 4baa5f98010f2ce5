"""Typed records shared by every command, and their JSONL I/O.

An *item* is a question with an expert reference answer; a *response* is one
answer to an item (from a policy, a data set, or an attack generator), possibly
with a gold correctness label; a *verdict* is what one judge said about one
response; a *judgment* ties a verdict to its judge, item and response.

Every reader validates as it goes and raises :class:`InputError` naming the
file, the 1-based line and the field, so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlvr_bench.errors import InputError
from rlvr_bench.final_step import final_step
from rlvr_bench.secrets import redact_fields

#: Answer types a task may declare; judges use them to pick a comparison.
ANSWER_TYPES = ("number", "quantity", "expression", "text", "choice", "boolean", "list")
#: How correctness labels are written in data files (lower-cased): the one vocabulary of the importers'
#: label columns and of recorded verdict columns (``column:NAME`` adds VerifierBench's letters).
LABEL_TRUE = frozenset({"true", "1", "yes", "correct", "y", "t"})
LABEL_FALSE = frozenset({"false", "0", "no", "incorrect", "n", "f", "invalid"})
#: Splits an item may belong to; evaluation defaults to "test", training uses "train".
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True, slots=True)
class Item:
    """A question with its expert reference answer."""

    id: str
    domain: str
    question: str
    reference: str
    #: one of :data:`ANSWER_TYPES`
    answer_type: str = "text"
    #: "train", "validation" or "test"; evaluation defaults to "test"
    split: str = "test"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: further acceptable references ("OutKast", "Outkast"; "0.35 g", "350 mg"): a response that
    #: matches any of ``references`` is correct
    aliases: tuple[str, ...] = ()

    @property
    def references(self) -> tuple[str, ...]:
        """Every acceptable reference, the main one first."""
        return (self.reference, *self.aliases)


@dataclass(frozen=True, slots=True)
class Response:
    """One answer to an item, optionally labelled correct (True) or incorrect (False)."""

    id: str
    item_id: str
    text: str
    #: who produced it: a policy name, "gold-set", "attack:<key>", ...
    source: str = "dataset"
    #: gold correctness label; None when unlabelled
    label: bool | None = None
    #: how the response relates to the reference (exact, paraphrase, near_miss, ...)
    variant: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def final_step(self) -> str:
        return final_step(self.text)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one judge said about one response.

    ``passed`` is None when the judge failed (unparseable output, timeout after
    bounded retries, missing dependency at run time); such a verdict is
    *unscored*: counted and reported, never treated as "incorrect".
    """

    #: True = judged correct, False = judged incorrect, None = unscored
    passed: bool | None
    #: soft score in [0, 1] (probability or similarity); None when the judge has none
    p_pass: float | None = None
    #: the judge's raw output (model text, matched rule, similarity as text)
    raw: str = ""
    #: why the verdict is unscored (or a warning); None when all went well
    error: str | None = None
    #: wall time spent on this verdict in seconds (batch time / batch size)
    latency_s: float = 0.0
    #: prompt tokens consumed, when a model judge reports them
    prompt_tokens: int | None = None
    #: completion tokens consumed, when a model judge reports them
    completion_tokens: int | None = None

    @property
    def scored(self) -> bool:
        return self.passed is not None

    @classmethod
    def not_applicable(cls, reason: str) -> Verdict:
        """An unscored verdict because the judge does not apply to this reference (a numeric judge
        on "Paris"): an abstention, not a failure, so it does not count against ``--max-unscored``."""
        return cls(passed=None, error=f"{NOT_APPLICABLE_PREFIX}{reason}")

    @property
    def failed(self) -> bool:
        """Unscored because the judge failed (backend error, unparseable output, timeout), not by abstention."""
        return self.passed is None and not (self.error or "").startswith(NOT_APPLICABLE_PREFIX)

    def to_json(self) -> dict[str, Any]:
        """The one serialised form of a verdict (run files, the cache, exploration logs, evaluations): the
        judge's output and error redacted (keys a response or a backend echoed), see :mod:`rlvr_bench.secrets`."""
        return redact_fields(asdict(self), ("raw", "error"))

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str) -> Verdict:
        """The inverse of :meth:`to_json`, validating as it reads; ``where`` names file:line for errors."""
        return verdict_from_json(obj, where)


#: the ``error`` prefix of an abstention (:meth:`Verdict.not_applicable`)
NOT_APPLICABLE_PREFIX = "not applicable: "


@dataclass(frozen=True, slots=True)
class Judgment:
    """A verdict tied to the judge that gave it and the response it is about."""

    judge: str
    item_id: str
    response_id: str
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "item_id": self.item_id,
            "response_id": self.response_id,
            **self.verdict.to_json(),
        }


# ---------------------------------------------------------------- JSONL I/O


#: the largest YAML file read (presets, task.yaml, recipes are a few KB); bigger is refused unread
MAX_YAML_BYTES = 1 << 20
#: how deeply a JSON line may nest (records are two or three levels deep)
MAX_JSON_DEPTH = 64


def open_text(path: Path, what: str = "file", binary: bool = False) -> Any:
    """``path`` opened for reading (UTF-8 text, or bytes), or an InputError that says why it cannot be."""
    try:
        return path.open("rb") if binary else path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected a {what}") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied (cannot read the {what})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None


def read_text(path: Path, what: str = "file", max_bytes: int | None = None) -> str:
    """A whole UTF-8 text file; unreadable, oversized or invalid UTF-8 is an InputError naming the line."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # open_text says why
    if max_bytes is not None and size > max_bytes:
        raise InputError(f"{path}: {size} bytes, more than the {max_bytes} a {what} may have")
    try:
        raw = path.read_bytes()
    except OSError:
        open_text(path, what).close()  # raises the one-line reason
        raise
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
                         "save the file as UTF-8") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _first_bad_value(value: Any, path: str = "", depth: int = 0) -> str | None:
    """Why ``value`` cannot be stored and written back as UTF-8 JSON (a lone surrogate, NaN or
    Infinity, absurd nesting), with the dotted field it is in; None when it can."""
    where = f"field '{path}': " if path else ""
    if depth > MAX_JSON_DEPTH:
        return f"{where}nested more than {MAX_JSON_DEPTH} levels deep"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}{value} is not a usable number"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where}text holds a lone surrogate ({value.encode('utf-8', 'backslashreplace')[:40]!r})"
        return None
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        child_path = f"{path}.{key}" if path else str(key)
        reason = (_first_bad_value(key, path, depth + 1) if isinstance(key, str) else None) \
            or _first_bad_value(child, child_path, depth + 1)
        if reason is not None:
            return reason
    return None


def parse_json_line(line: str, where: str) -> dict[str, Any]:
    """One JSONL line as an object; an InputError names ``where`` (file:line) and the problem.

    NaN and Infinity are refused (not JSON, and no statistic means anything with them), as are lone
    surrogates (``"\\ud800"``: such text cannot be written back) and absurd nesting.
    """
    try:
        obj = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: malformed JSON ({exc.msg})") from None
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if "\\u" in line or line.count("[") + line.count("{") > MAX_JSON_DEPTH:
        reason = _first_bad_value(obj)
        if reason is not None:
            raise InputError(f"{where}: {reason}")
    return obj


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line number, object) for every non-blank line of a JSONL file."""
    with open_text(path, "JSONL file", binary=True) as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{line_no}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
                                 "save the file as UTF-8") from None
            if line_no == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark (Notepad, Excel exports) is not data
            if line.strip():
                yield line_no, parse_json_line(line, f"{path}:{line_no}")


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases: none of our files needs them, and nested
    aliases expand exponentially (a few hundred bytes can ask for gigabytes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise InputError(f"{self.name}:{mark.line + 1}: YAML aliases (*name) are not supported; "
                             "write the value out")
        return super().compose_node(parent, index)


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping (a preset, task.yaml, a recipe); errors name file:line."""
    text = read_text(path, what, MAX_YAML_BYTES)
    try:
        loader = _NoAliasLoader(text)
        loader.name = str(path)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{line}: malformed YAML") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: {what} must be a mapping")
    reason = _first_bad_value(data)
    if reason is not None:
        raise InputError(f"{path}: {reason}")
    return data


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write rows atomically: a reader never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
    tmp.replace(path)


def _field(obj: Mapping[str, Any], name: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if name not in obj:
        raise InputError(f"{where}: missing field '{name}'")
    value = obj[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InputError(f"{where}: field '{name}' must be {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _optional(obj: Mapping[str, Any], name: str, where: str, kind: type, default: Any) -> Any:
    value = obj.get(name, default)
    if value is None or value == default:
        return value
    if not isinstance(value, kind):
        raise InputError(f"{where}: field '{name}' must be {kind.__name__}, got {type(value).__name__}")
    return value


def item_from_json(
    obj: Mapping[str, Any], where: str, domains: Iterable[str] | None = None
) -> Item:
    """Build an Item from a JSON object; ``where`` is "file:line" for errors."""
    item_id = _field(obj, "id", where, (str, int))
    domain = _field(obj, "domain", where, str)
    if domains is not None:
        allowed = sorted(domains)
        if domain not in allowed:
            raise InputError(f"{where}: field 'domain': unknown domain {domain!r} (task declares {', '.join(allowed)})")
    answer_type = _optional(obj, "answer_type", where, str, "text")
    if answer_type not in ANSWER_TYPES:
        raise InputError(
            f"{where}: field 'answer_type': unknown value {answer_type!r} (one of {', '.join(ANSWER_TYPES)})"
        )
    split = _optional(obj, "split", where, str, "test")
    if split not in SPLITS:
        raise InputError(f"{where}: field 'split': unknown split {split!r} (one of {', '.join(SPLITS)})")
    metadata = _optional(obj, "metadata", where, dict, {}) or {}
    references = reference_list(_field(obj, "reference", where, (str, int, float, list)), where, "reference")
    aliases = reference_list(obj["aliases"], where, "aliases") if obj.get("aliases") is not None else []
    return Item(
        id=str(item_id),
        domain=domain,
        question=_field(obj, "question", where, str),
        reference=references[0],
        answer_type=answer_type,
        split=split,
        metadata=metadata,
        aliases=tuple(dict.fromkeys(r for r in [*references[1:], *aliases] if r != references[0])),
    )


def reference_list(value: Any, where: str, name: str) -> list[str]:
    """Acceptable references as given: one text or number, or a non-empty list of them (aliases)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise InputError(f"{where}: field '{name}' is an empty list")
    out = []
    for entry in values:
        if isinstance(entry, bool) or not isinstance(entry, (str, int, float)):
            raise InputError(f"{where}: field '{name}' must be text, a number or a list of them, "
                             f"got {type(entry).__name__}")
        if isinstance(entry, float) and not math.isfinite(entry):
            raise InputError(f"{where}: field '{name}': {entry} is not a usable reference")
        out.append(str(entry))
    return out


def response_from_json(obj: Mapping[str, Any], where: str) -> Response:
    """Build a Response from a JSON object; ``where`` is "file:line" for errors."""
    label = obj.get("label")
    if label is not None and not isinstance(label, bool):
        raise InputError(f"{where}: field 'label' must be true, false or null, got {label!r}")
    return Response(
        id=str(_field(obj, "id", where, (str, int))),
        item_id=str(_field(obj, "item_id", where, (str, int))),
        text=_field(obj, "text", where, str),
        source=_optional(obj, "source", where, str, "dataset"),
        label=label,
        variant=_optional(obj, "variant", where, str, None),
        metadata=_optional(obj, "metadata", where, dict, {}) or {},
    )


def verdict_from_json(obj: Mapping[str, Any], where: str) -> Verdict:
    passed = obj.get("passed")
    if passed is not None and not isinstance(passed, bool):
        raise InputError(f"{where}: field 'passed' must be true, false or null, got {passed!r}")
    p_pass = obj.get("p_pass")
    if p_pass is not None:
        is_number = isinstance(p_pass, (int, float)) and not isinstance(p_pass, bool)
        if not is_number or math.isnan(p_pass) or not 0.0 <= p_pass <= 1.0:
            raise InputError(f"{where}: field 'p_pass' must be a number in [0, 1] or null, got {p_pass!r}")
        p_pass = float(p_pass)
    latency = obj.get("latency_s", 0.0)
    if latency is None:
        latency = 0.0
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not math.isfinite(latency) or latency < 0:
        raise InputError(f"{where}: field 'latency_s' must be a number of seconds >= 0, got {latency!r}")
    tokens = {}
    for name in ("prompt_tokens", "completion_tokens"):
        count = obj.get(name)
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise InputError(f"{where}: field '{name}' must be a count >= 0 or null, got {count!r}")
        tokens[name] = count
    error = obj.get("error")
    if error is not None and not isinstance(error, str):
        raise InputError(f"{where}: field 'error' must be text or null, got {type(error).__name__}")
    return Verdict(
        passed=passed,
        p_pass=p_pass,
        raw=str(obj.get("raw", "")),
        error=error,
        latency_s=float(latency),
        prompt_tokens=tokens["prompt_tokens"],
        completion_tokens=tokens["completion_tokens"],
    )


def read_items(path: Path, domains: Iterable[str] | None = None) -> list[Item]:
    """Read items, rejecting duplicate ids and (when given) undeclared domains."""
    domain_set = set(domains) if domains is not None else None
    items: list[Item] = []
    seen: dict[str, int] = {}
    for line_no, obj in iter_jsonl(path):
        where = f"{path}:{line_no}"
        item = item_from_json(obj, where, domain_set)
        if item.id in seen:
            raise InputError(f"{where}: field 'id': duplicate id {item.id!r} (first on line {seen[item.id]})")
        seen[item.id] = line_no
        items.append(item)
    return items


def read_responses(path: Path, item_ids: Iterable[str] | None = None) -> list[Response]:
    """Read responses, rejecting duplicate ids and (when given) unknown item ids."""
    known = set(item_ids) if item_ids is not None else None
    responses: list[Response] = []
    seen: dict[str, int] = {}
    for line_no, obj in iter_jsonl(path):
        where = f"{path}:{line_no}"
        response = response_from_json(obj, where)
        if response.id in seen:
            raise InputError(f"{where}: field 'id': duplicate id {response.id!r} (first on line {seen[response.id]})")
        if known is not None and response.item_id not in known:
            raise InputError(f"{where}: field 'item_id': unknown item {response.item_id!r}")
        seen[response.id] = line_no
        responses.append(response)
    return responses


def read_judgments(path: Path) -> list[Judgment]:
    judgments = []
    for line_no, obj in iter_jsonl(path):
        where = f"{path}:{line_no}"
        judgments.append(
            Judgment(
                judge=_field(obj, "judge", where, str),
                item_id=str(_field(obj, "item_id", where, (str, int))),
                response_id=str(_field(obj, "response_id", where, (str, int))),
                verdict=verdict_from_json(obj, where),
            )
        )
    return judgments


def item_to_json(item: Item) -> dict[str, Any]:
    data = {**asdict(item), "metadata": dict(item.metadata), "aliases": list(item.aliases)}
    if not item.aliases:
        del data["aliases"]  # single-reference items read and write as before
    return data


def response_to_json(response: Response) -> dict[str, Any]:
    return redact_fields({**asdict(response), "metadata": dict(response.metadata)}, ("text",))
