"""The one protocol every judge implements, and the spec that configures it.

A judge turns (question, reference, response) triples into verdicts. Rules,
embedding similarity, local models and API models are interchangeable
everywhere: agreement, verify, eval and as the RL reward.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rlvr_bench.judges.normalize import normalize_unicode
from rlvr_bench.records import Item, Response, Verdict, final_step


@dataclass(frozen=True)
class Triple:
    """What a judge sees: the question, the expert reference and the full response."""

    question: str
    reference: str
    response: str
    answer_type: str = "text"
    domain: str = ""
    #: further acceptable references (see :attr:`Item.aliases`)
    aliases: tuple[str, ...] = ()
    #: the response's recorded fields (verdicts other judges already gave, as imported): read by
    #: ``column:NAME`` judges only, and not part of what a triple *is* (left out of equality)
    recorded: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # One Unicode form for every judge and every call site (verify, eval, rewards, the reward server):
        # "½", "1 000" with a thin space, "–5", a soft hyphen or a BOM inside an answer mean what their
        # ASCII spellings mean (see normalize_unicode). ASCII text is left as it is.
        for name in ("question", "reference", "response"):
            object.__setattr__(self, name, normalize_unicode(getattr(self, name)))
        object.__setattr__(self, "aliases", tuple(normalize_unicode(alias) for alias in self.aliases))

    @property
    def final_step(self) -> str:
        """The response's final step (its last non-empty line, see :func:`rlvr_bench.records.final_step`)."""
        return final_step(self.response)

    @property
    def references(self) -> tuple[str, ...]:
        """Every acceptable reference, the main one first."""
        return (self.reference, *self.aliases)

    def with_reference(self, reference: str) -> Triple:
        """This triple with one reference only (how a judge that checks each reference sees it)."""
        return Triple(self.question, reference, self.response, self.answer_type, self.domain, (), self.recorded)

    @classmethod
    def of(cls, item: Item, response: Response) -> Triple:
        return cls(item.question, item.reference, response.text, item.answer_type, item.domain, item.aliases,
                   response.metadata)


@dataclass(frozen=True)
class JudgeSpec:
    """A judge preset: which backend, with which parameters (from ``judges/NAME.yaml``)."""

    name: str
    backend: str
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    #: the YAML file the preset came from (None when built in code)
    source: Path | None = None

    def fingerprint(self) -> str:
        """A stable hash of everything that changes verdicts (backend and params, not the name)."""
        canonical = json.dumps({"backend": self.backend, "params": self.params}, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "description": self.description,
            "params": dict(self.params),
            "fingerprint": self.fingerprint(),
        }


@runtime_checkable
class Judge(Protocol):
    """Anything that judges a batch of triples: what every caller may use, and nothing else.

    ``judge_batch`` returns exactly one verdict per triple, in order. It must
    not raise for a single bad triple: a per-triple failure is a verdict with
    ``passed=None`` and the reason in ``error``; a failure of the whole batch's
    backend raises (see :func:`rlvr_bench.judging.is_backend_error`).
    ``cacheable`` judges (model calls) are served from the judgment cache by
    ``cache_key``; ``check(spec)`` says, before anything is built, why a spec
    cannot run here (None when it can).
    """

    spec: JudgeSpec
    cacheable: bool
    #: how the judge handles several acceptable references: "each" (judged against each one,
    #: correct when any passes; :func:`rlvr_bench.judging.judge_triples` does it) or "all" (the
    #: judge sees every reference at once, e.g. listed in a model judge's prompt)
    multi_reference: str

    @property
    def name(self) -> str: ...

    @property
    def soft(self) -> bool:
        """True when verdicts carry a meaningful ``p_pass``."""
        ...

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None: ...

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]: ...

    def cache_key(self, triple: Triple) -> str: ...


class BaseJudge:
    """Convenience base: stores the spec and names the judge after it."""

    soft: bool = False
    #: True for judges worth caching (model calls); such a judge also overrides ``cache_key(triple)``.
    #: Rules are cheaper to recompute than to look up.
    cacheable: bool = False
    #: see :class:`Judge`: rule and encoder judges check each reference on its own
    multi_reference: str = "each"

    def __init__(self, spec: JudgeSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        """Why ``spec`` cannot run here (None: it can); backends with dependencies override this."""
        return None

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        raise NotImplementedError

    def cache_key(self, triple: Triple) -> str:
        raise TypeError(f"judge {self.name!r} is not cacheable")
