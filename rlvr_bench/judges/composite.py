"""Judges made of judges: a cascade (cheap rules first) and a majority vote.

- :class:`CascadeJudge` (OpenCompass's CascadeEvaluator idea): the parts run in
  order; a triple passes as soon as one part says it passes, and only the
  triples still undecided go to the next (more expensive) part. So rules settle
  the easy matches and a model judge sees only what the rules rejected.
- :class:`MajorityJudge`: a majority vote over several judges (``judges: [...]``),
  or over ``samples: m`` samples of one judge (``judge: NAME``), as the study's
  m = 1 vs m = 10 comparison. A sample of a soft judge is a Bernoulli draw from
  its ``p_pass``: for a YES/NO verifier, sampling the verdict token at temperature 1
  gives YES with probability P(YES) / (P(YES) + P(NO)), which is exactly ``p_pass``,
  so m draws stand for m sampled verdicts at the cost of one forward pass. Draws
  are seeded per triple (from ``seed`` and the triple's text), so a verdict never
  depends on batching or order. A judge without a soft score gives m identical votes.

Parts are judge presets (names or preset files), resolved and checked with
:func:`rlvr_bench.judges.registry.resolve_preset` / ``build_judge`` like any judge.
The built composite's spec carries its parts' resolved specs under
``resolved_parts``, so its fingerprint (the judgment-cache key) changes when a part changes.
Parts are asked through :func:`rlvr_bench.judges.run_memo.memoized_batch`: a part the run also
uses elsewhere (``embed`` alone and inside ``cascade-rules-embed``) computes each triple once.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rlvr_bench.errors import ConfigError, UserError
from rlvr_bench.judges.base import BaseJudge, Judge, JudgeSpec, Triple
from rlvr_bench.judges.registry import availability, build_judge, resolve_preset
from rlvr_bench.judges.run_memo import memoized_batch
from rlvr_bench.records import Verdict

#: presets being resolved right now (outermost first), to refuse a composite that contains itself
_RESOLVING: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("composite_resolving", default=())
RESOLVED_PARTS = "resolved_parts"


@contextmanager
def _resolving(spec: JudgeSpec) -> Iterator[None]:
    key = str(spec.source or spec.name)
    stack = _RESOLVING.get()
    if key in stack:
        raise ConfigError(f"judge {spec.name!r} contains itself (through {' -> '.join((*stack, key))})")
    token = _RESOLVING.set((*stack, key))
    try:
        yield
    finally:
        _RESOLVING.reset(token)


def _where(spec: JudgeSpec) -> str:
    return f"judge {spec.name!r}" + (f" ({spec.source})" if spec.source else "")


def _name_list(spec: JudgeSpec, key: str, minimum: int) -> list[str]:
    value = spec.params.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{_where(spec)}: parameter {key!r} must be a list of judge preset names")
    if len(value) < minimum:
        raise ConfigError(f"{_where(spec)}: parameter {key!r} needs at least {minimum} judges, got {len(value)}")
    return list(value)


def _check_unknown(spec: JudgeSpec, known: set[str]) -> None:
    unknown = sorted(set(spec.params) - known - {RESOLVED_PARTS})
    if unknown:
        raise ConfigError(f"{_where(spec)}: unknown parameter {unknown[0]!r} for backend {spec.backend!r} "
                          f"(known: {', '.join(sorted(known))})")


def part_specs(spec: JudgeSpec, names: Sequence[str]) -> list[JudgeSpec]:
    """Resolve the parts' presets and check each can run here (ConfigError naming the part otherwise)."""
    specs = []
    with _resolving(spec):
        for name in names:
            try:
                part = resolve_preset(name).spec
            except UserError as exc:
                raise ConfigError(f"{_where(spec)}: part {name!r}: {exc}") from None
            reason = availability(part)
            if reason is not None:
                raise ConfigError(f"{_where(spec)}: part {name!r} cannot run: {reason}")
            specs.append(part)
    return specs


def build_parts(spec: JudgeSpec, names: Sequence[str]) -> list[Judge]:
    specs = part_specs(spec, names)
    with _resolving(spec):
        return [build_judge(part) for part in specs]


def with_parts(spec: JudgeSpec, parts: Sequence[Judge]) -> JudgeSpec:
    return replace(spec, params={**spec.params, RESOLVED_PARTS: [part.spec.to_json() for part in parts]})


def _sum_optional(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _combine_costs(verdict: Verdict, used: Sequence[Verdict]) -> Verdict:
    """``verdict`` with the latency and tokens of every part verdict that went into it."""
    return replace(verdict, latency_s=sum(v.latency_s for v in used),
                   prompt_tokens=_sum_optional([v.prompt_tokens for v in used]),
                   completion_tokens=_sum_optional([v.completion_tokens for v in used]))


def _short(verdict: Verdict) -> str:
    if verdict.passed is None:
        return f"unscored ({verdict.error or 'no reason'})"
    soft = f" p={verdict.p_pass:.3f}" if verdict.p_pass is not None else ""
    return ("yes" if verdict.passed else "no") + soft


class CascadeJudge(BaseJudge):
    """Parts in order; the first part that passes a triple decides it, otherwise the next part is asked.

    Parameters:
        judges (list of preset names, at least 2): the parts, cheapest first.

    Verdict: passed if any part passed; failed if none passed and at least one part scored the triple;
    unscored only when every part failed on it. ``soft`` when the last part is soft: ``p_pass`` is the
    deciding part's ``p_pass`` (1.0 for a binary part that passed), or the last part's ``p_pass`` when
    nothing passed. ``raw`` lists what each part that was asked said.
    """

    def __init__(self, spec: JudgeSpec) -> None:
        names = self.part_names(spec)
        parts = build_parts(spec, names)
        super().__init__(with_parts(spec, parts))
        self.parts = parts
        self.soft = bool(parts[-1].soft)

    @staticmethod
    def part_names(spec: JudgeSpec) -> list[str]:
        _check_unknown(spec, {"judges"})
        return _name_list(spec, "judges", 2)

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        try:
            part_specs(spec, cls.part_names(spec))
        except ConfigError as exc:
            return str(exc)
        return None

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        trails: list[list[tuple[str, Verdict]]] = [[] for _ in triples]
        undecided = list(range(len(triples)))
        for part in self.parts:
            if not undecided:
                break
            verdicts = memoized_batch(part, [triples[i] for i in undecided])
            if len(verdicts) != len(undecided):
                raise RuntimeError(f"part {part.name!r} returned {len(verdicts)} verdicts for {len(undecided)}")
            for index, verdict in zip(undecided, verdicts, strict=True):
                trails[index].append((part.name, verdict))
            undecided = [i for i, v in zip(undecided, verdicts, strict=True) if v.passed is not True]
        return [self._decide(trail) for trail in trails]

    def _decide(self, trail: list[tuple[str, Verdict]]) -> Verdict:
        raw = " -> ".join(f"{name}: {_short(v)}" for name, v in trail)
        used = [v for _, v in trail]
        last = used[-1]
        if last.passed is True:
            p_pass = (last.p_pass if last.p_pass is not None else 1.0) if self.soft else None
            return _combine_costs(Verdict(passed=True, p_pass=p_pass, raw=raw), used)
        if any(v.passed is False for v in used):
            p_pass = last.p_pass if self.soft and len(trail) == len(self.parts) else None
            return _combine_costs(Verdict(passed=False, p_pass=p_pass, raw=raw), used)
        reasons = "; ".join(f"{name}: {v.error or 'unscored'}" for name, v in trail)
        return _combine_costs(Verdict(passed=None, raw=raw, error=f"every part unscored ({reasons})"), used)


@dataclass(frozen=True)
class MajorityParams:
    """What a majority preset asks for: several judges, or m samples of one."""

    names: tuple[str, ...]
    samples: int
    seed: int
    ties_pass: bool


class MajorityJudge(BaseJudge):
    """A majority vote over several judges or over m samples of one.

    Parameters (either ``judges`` or ``judge`` + ``samples``):
        judges (list of preset names, at least 2): one vote each;
        judge (preset name) and samples (int >= 1): m votes of one judge (see the module docstring);
        seed (int, default 0): seed of the per-triple draws when sampling;
        ties_pass (bool, default false): an even split passes when true. The default fails it,
            as the study's verifier answers NO when unclear.

    Unscored votes do not count; with no scored vote the verdict is unscored. ``p_pass`` is the
    share of scored votes that passed (in [0, 1]), so the judge is always soft.
    """

    soft = True

    def __init__(self, spec: JudgeSpec) -> None:
        self.options = self.read(spec)
        parts = build_parts(spec, self.options.names)
        super().__init__(with_parts(spec, parts))
        self.parts = parts

    @staticmethod
    def read(spec: JudgeSpec) -> MajorityParams:
        _check_unknown(spec, {"judges", "judge", "samples", "seed", "ties_pass"})
        params: Mapping[str, Any] = spec.params
        seed, ties_pass = params.get("seed", 0), params.get("ties_pass", False)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"{_where(spec)}: parameter 'seed' must be an integer, got {seed!r}")
        if not isinstance(ties_pass, bool):
            raise ConfigError(f"{_where(spec)}: parameter 'ties_pass' must be true or false, got {ties_pass!r}")
        if ("judges" in params) == ("judge" in params):
            raise ConfigError(f"{_where(spec)}: give either 'judges' (a list) or 'judge' with 'samples'")
        if "judges" in params:
            if "samples" in params:
                raise ConfigError(f"{_where(spec)}: 'samples' goes with 'judge', not with 'judges'")
            return MajorityParams(tuple(_name_list(spec, "judges", 2)), 1, seed, ties_pass)
        judge, samples = params["judge"], params.get("samples")
        if not isinstance(judge, str) or not judge:
            raise ConfigError(f"{_where(spec)}: parameter 'judge' must be a judge preset name")
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise ConfigError(f"{_where(spec)}: parameter 'samples' must be an integer >= 1, got {samples!r}")
        return MajorityParams((judge,), samples, seed, ties_pass)

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        try:
            part_specs(spec, cls.read(spec).names)
        except ConfigError as exc:
            return str(exc)
        return None

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        per_part = [memoized_batch(part, triples) for part in self.parts]
        for part, verdicts in zip(self.parts, per_part, strict=True):
            if len(verdicts) != len(triples):
                raise RuntimeError(f"part {part.name!r} returned {len(verdicts)} verdicts for {len(triples)}")
        out = []
        for index, triple in enumerate(triples):
            used = [verdicts[index] for verdicts in per_part]
            if self.options.samples > 1:
                votes = sample_votes(used[0], self.options.samples, self.options.seed, triple)
                raw = f"{self.parts[0].name}: {_short(used[0])}; "
            else:
                votes = [v.passed for v in used]
                raw = ", ".join(f"{part.name}: {_short(v)}" for part, v in zip(self.parts, used, strict=True)) + "; "
            out.append(_combine_costs(self._vote(votes, raw, used), used))
        return out

    def _vote(self, votes: Sequence[bool | None], raw: str, used: Sequence[Verdict]) -> Verdict:
        scored = [v for v in votes if v is not None]
        if not scored:
            reasons = "; ".join(v.error or "unscored" for v in used)
            return Verdict(passed=None, raw=raw + "no scored vote", error=f"no scored vote ({reasons})")
        yes = sum(scored)
        no = len(scored) - yes
        passed = yes > no or (yes == no and self.options.ties_pass)
        return Verdict(passed=passed, p_pass=yes / len(scored), raw=raw + f"votes yes {yes} / {len(scored)}")


def sample_votes(verdict: Verdict, samples: int, seed: int, triple: Triple) -> list[bool | None]:
    """``samples`` votes drawn from one verdict: Bernoulli(p_pass) when it has a soft score, else copies.

    The generator is seeded by ``seed`` and the triple's text, so the same triple always gets the same votes.
    """
    if verdict.passed is None:
        return [None] * samples
    if verdict.p_pass is None:
        return [verdict.passed] * samples
    digest = hashlib.sha256("\x00".join((str(seed), triple.question, triple.reference, triple.response))
                            .encode("utf-8")).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return [bool(x) for x in rng.random(samples) < verdict.p_pass]
