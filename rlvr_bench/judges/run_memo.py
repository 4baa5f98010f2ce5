"""One computation per (judge, triple) per run, whichever composite asks for it.

A run often holds the same judge several times: ``--judges embed,cascade-rules-embed``
runs ``embed`` on its own and as the cascade's last part; ``majority-rules`` and
``auto`` both contain ``numeric`` and ``math``. Composites call their parts directly,
so without this each copy recomputes its verdicts (the cascade's MiniLM embeddings
were half of an EVOUNA run's judge time). While a :func:`run_scope` is open (every
command's :func:`rlvr_bench.judging.judge_responses` opens one; so does each
:func:`~rlvr_bench.judging.judge_triples` call), :func:`memoized_batch` keeps the
verdicts of every judge that the run uses more than once and hands them to the
next user. Judges used once keep nothing, so a run with no repeated judge pays
nothing in memory.

A judge is identified by its spec's backend and parameters (:meth:`JudgeSpec.fingerprint`,
not its name: two presets with the same parameters compute the same verdicts), a
triple by its question, references, response, answer type and domain; a judge that
reads a triple's recorded columns (``column:NAME``, or a composite holding one) also
by those columns. The scope also keeps sentence embeddings by (encoder, text), so
``embed`` encodes each distinct text once per run (:mod:`rlvr_bench.judges.embed`).
"""

from __future__ import annotations

import contextvars
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rlvr_bench.judges.base import Judge, JudgeSpec, Triple
from rlvr_bench.records import Verdict

#: sentence embeddings kept per run at most (MiniLM: 1.5 kB each, so about 150 MB), least recently used dropped
MAX_EMBEDDINGS = 100_000
RESOLVED_PARTS = "resolved_parts"


@dataclass
class RunMemo:
    """What one run has computed: verdicts of the judges it uses more than once, and embeddings."""

    #: fingerprint -> how many times the run uses that judge (top level and as parts)
    uses: dict[str, int] = field(default_factory=dict)
    verdicts: dict[tuple[str, Any], Verdict] = field(default_factory=dict)
    embeddings: OrderedDict[tuple[str, str], Any] = field(default_factory=OrderedDict)
    #: verdicts served from the memo instead of computed (for the benchmarks and tests)
    hits: int = 0

    def count(self, specs: Iterable[JudgeSpec]) -> None:
        """Add the uses of ``specs`` and of every part inside them."""
        for spec in specs:
            for fingerprint in _fingerprints(spec.to_json()):
                self.uses[fingerprint] = self.uses.get(fingerprint, 0) + 1

    def embedding(self, model: str, text: str) -> Any:
        key = (model, text)
        found = self.embeddings.get(key)
        if found is not None:
            self.embeddings.move_to_end(key)
        return found

    def keep_embedding(self, model: str, text: str, vector: Any) -> None:
        self.embeddings[(model, text)] = vector
        if len(self.embeddings) > MAX_EMBEDDINGS:
            self.embeddings.popitem(last=False)


_CURRENT: contextvars.ContextVar[RunMemo | None] = contextvars.ContextVar("run_memo", default=None)


def current() -> RunMemo | None:
    """The open run's memo, or None outside a run."""
    return _CURRENT.get()


@contextmanager
def run_scope(judges: Sequence[Judge]) -> Iterator[RunMemo]:
    """Open a run's memo for ``judges``, the judges of the whole run; inside an open scope, the open one
    (its run already counted them)."""
    memo = _CURRENT.get()
    if memo is not None:
        yield memo
        return
    memo = RunMemo()
    memo.count(judge.spec for judge in judges)
    token = _CURRENT.set(memo)
    try:
        yield memo
    finally:
        _CURRENT.reset(token)


def _fingerprints(spec_json: Mapping[str, Any]) -> list[str]:
    """The fingerprint of a spec (as :meth:`JudgeSpec.to_json` writes it) and of all its parts, recursively."""
    found = [str(spec_json.get("fingerprint"))]
    for part in (spec_json.get("params") or {}).get(RESOLVED_PARTS) or []:
        found.extend(_fingerprints(part))
    return found


def _reads_recorded(spec_json: Mapping[str, Any]) -> bool:
    if spec_json.get("backend") == "column":
        return True
    return any(_reads_recorded(part) for part in (spec_json.get("params") or {}).get(RESOLVED_PARTS) or [])


def triple_key(triple: Triple, recorded: bool) -> Any:
    """What identifies a triple to a judge; with ``recorded``, its recorded columns too."""
    base = (triple.question, triple.references, triple.response, triple.answer_type, triple.domain)
    if not recorded:
        return base
    return (*base, json.dumps(dict(triple.recorded), sort_keys=True, default=str))


def memoized_batch(judge: Judge, triples: Sequence[Triple],
                   compute: Callable[[Sequence[Triple]], list[Verdict]] | None = None) -> list[Verdict]:
    """``judge``'s verdicts on ``triples``: from the run's memo where it has them, the rest computed (by
    ``compute``, default ``judge.judge_batch``) once each and kept when the run uses ``judge`` again."""
    compute = compute or judge.judge_batch
    memo = _CURRENT.get()
    spec_json = judge.spec.to_json()
    fingerprint = str(spec_json["fingerprint"])
    if memo is None or memo.uses.get(fingerprint, 0) < 2:
        return compute(triples)
    recorded = _reads_recorded(spec_json)
    keys = [(fingerprint, triple_key(t, recorded)) for t in triples]
    todo: dict[Any, int] = {}
    for index, key in enumerate(keys):
        if key not in memo.verdicts:
            todo.setdefault(key, index)
    memo.hits += len(keys) - len(todo)
    if todo:
        fresh = compute([triples[i] for i in todo.values()])
        if len(fresh) != len(todo):
            raise RuntimeError(f"judge {judge.name!r} returned {len(fresh)} verdicts for {len(todo)} triples")
        kept = dict(zip(todo, fresh, strict=True))
        # a transport failure (unscored, no output) is not kept: the next user tries again
        memo.verdicts.update((key, v) for key, v in kept.items() if not (v.failed and not v.raw))
        return [memo.verdicts.get(key) or kept[key] for key in keys]
    return [memo.verdicts[key] for key in keys]
