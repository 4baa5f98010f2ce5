"""Composite judges: cascade and majority vote, over scripted judges whose verdicts are known."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges import registry
from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.judges.composite import CascadeJudge, MajorityJudge, sample_votes
from rlvr_bench.judges.registry import build_judge, build_judges, resolve_preset
from rlvr_bench.records import Verdict


class ScriptedJudge(BaseJudge):
    """Looks each response up in ``params.script``: "yes", "no", "fail" or a p_pass number (passed iff >= 0.5)."""

    calls: ClassVar[dict[str, list[list[str]]]] = {}

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        self.soft = bool(spec.params.get("soft", False))

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        return None if isinstance(spec.params.get("script"), dict) else "scripted judge needs a script"

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        self.calls.setdefault(self.name, []).append([t.response for t in triples])
        out = []
        for triple in triples:
            said: Any = self.spec.params["script"].get(triple.response, "no")
            if said == "fail":
                out.append(Verdict(passed=None, error="scripted failure"))
            elif isinstance(said, float):
                out.append(Verdict(passed=said >= 0.5, p_pass=said, latency_s=0.5))
            else:
                out.append(Verdict(passed=said == "yes", p_pass=1.0 if self.soft and said == "yes" else None,
                                   latency_s=0.5, prompt_tokens=10))
        return out


@pytest.fixture()
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(registry.BACKENDS, "scripted", f"{__name__}:ScriptedJudge")
    ScriptedJudge.calls.clear()
    return tmp_path


def _preset(folder: Path, name: str, backend: str, params: dict[str, Any]) -> str:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"backend": backend, "params": params}))
    return str(path)


def _triples(*responses: str) -> list[Triple]:
    return [Triple("q", "ref", response) for response in responses]


def test_cascade_asks_the_next_part_only_about_what_is_not_yet_passed(presets: Path) -> None:
    rule = _preset(presets, "rule", "scripted", {"script": {"a": "yes", "b": "no", "c": "fail", "d": "no"}})
    model = _preset(presets, "model", "scripted", {"soft": True, "script": {"a": "no", "b": 0.8, "c": 0.3,
                                                                             "d": "fail"}})
    cascade = build_judge(JudgeSpec("cascade", "cascade", params={"judges": [rule, model]}))
    verdicts = cascade.judge_batch(_triples("a", "b", "c", "d"))
    assert ScriptedJudge.calls["model"] == [["b", "c", "d"]]  # "a" was settled by the rule
    assert [v.passed for v in verdicts] == [True, True, False, False]
    # the last part is soft, so the cascade is: 1.0 for a binary pass, else the model's p_pass
    assert cascade.soft
    assert [v.p_pass for v in verdicts] == [1.0, 0.8, 0.3, None]
    assert verdicts[0].latency_s == 0.5 and verdicts[1].latency_s == 1.0  # one part vs both parts asked
    assert "rule: no -> model: yes p=0.800" in verdicts[1].raw


def test_cascade_is_unscored_only_when_every_part_failed(presets: Path) -> None:
    failing = _preset(presets, "failing", "scripted", {"script": {"x": "fail"}})
    also = _preset(presets, "also", "scripted", {"script": {"x": "fail"}})
    [verdict] = build_judge(JudgeSpec("c", "cascade", params={"judges": [failing, also]})).judge_batch(_triples("x"))
    assert verdict.passed is None and "every part unscored" in (verdict.error or "")


def test_majority_over_judges_with_ties_and_unscored_votes(presets: Path) -> None:
    names = [_preset(presets, f"j{i}", "scripted", {"script": script}) for i, script in enumerate([
        {"a": "yes", "b": "yes", "c": "yes", "d": "fail"},
        {"a": "yes", "b": "no", "c": "no", "d": "fail"},
        {"a": "no", "b": "fail", "c": "no", "d": "fail"},
    ])]
    majority = build_judge(JudgeSpec("m", "majority", params={"judges": names}))
    verdicts = majority.judge_batch(_triples("a", "b", "c", "d"))
    # a: 2 yes of 3; b: 1 yes 1 no (unscored vote dropped) -> tie fails; c: 1 of 3; d: no scored vote
    assert [v.passed for v in verdicts] == [True, False, False, None]
    assert [v.p_pass for v in verdicts[:3]] == [pytest.approx(2 / 3), 0.5, pytest.approx(1 / 3)]
    assert verdicts[0].prompt_tokens == 30
    lenient = build_judge(JudgeSpec("m", "majority", params={"judges": names, "ties_pass": True}))
    assert lenient.judge_batch(_triples("b"))[0].passed is True


def test_majority_of_samples_draws_bernoulli_votes_from_p_pass(presets: Path) -> None:
    soft = _preset(presets, "soft", "scripted", {"soft": True, "script": {"sure": 1.0, "never": 0.0, "half": 0.5,
                                                                          "likely": 0.7}})
    one = build_judge(JudgeSpec("m1", "majority", params={"judge": soft, "samples": 1}))
    many = build_judge(JudgeSpec("m101", "majority", params={"judge": soft, "samples": 101, "seed": 3}))
    sure, never, likely = many.judge_batch(_triples("sure", "never", "likely"))
    assert (sure.passed, sure.p_pass) == (True, 1.0) and (never.passed, never.p_pass) == (False, 0.0)
    # 101 draws at p = 0.7: the vote share is within a few standard errors (0.046) of 0.7, so it passes
    assert likely.passed is True and abs((likely.p_pass or 0) - 0.7) < 0.2
    again = build_judge(JudgeSpec("m101", "majority", params={"judge": soft, "samples": 101, "seed": 3}))
    assert again.judge_batch(_triples("likely"))[0] == likely  # seeded per triple: same votes in any batch
    assert one.judge_batch(_triples("half"))[0].p_pass in (0.0, 1.0)
    # a binary verdict gives identical votes; an unscored one gives none
    assert sample_votes(Verdict(passed=True), 4, 0, _triples("x")[0]) == [True] * 4
    assert sample_votes(Verdict(passed=None), 2, 0, _triples("x")[0]) == [None, None]


@pytest.mark.parametrize(("backend", "params", "fragment"), [
    ("cascade", {"judges": ["exact"]}, "at least 2"),
    ("cascade", {"judges": "exact,contains"}, "must be a list"),
    ("cascade", {"judges": ["exact", "no-such-judge"]}, "part 'no-such-judge'"),
    ("cascade", {"judges": ["exact", "contains"], "extra": 1}, "unknown parameter 'extra'"),
    ("majority", {"judges": ["exact", "contains"], "judge": "exact"}, "either 'judges'"),
    ("majority", {"judge": "jaccard", "samples": 0}, "'samples' must be an integer >= 1"),
    ("majority", {"judges": ["exact", "contains"], "samples": 3}, "'samples' goes with 'judge'"),
])
def test_bad_composite_presets_are_one_line_config_errors(backend: str, params: dict[str, Any],
                                                          fragment: str) -> None:
    spec = JudgeSpec("bad", backend, params=params)
    reason = registry.availability(spec)
    assert reason is not None and fragment in reason
    with pytest.raises(ConfigError, match=fragment):
        build_judge(spec)


def test_a_composite_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump({"backend": "cascade", "params": {"judges": ["exact", str(path)]}}))
    reason = registry.availability(resolve_preset(str(path)).spec)
    assert reason is not None and "contains itself" in reason


def test_bundled_composite_presets_build_and_record_their_parts() -> None:
    cascade, majority = build_judges(["cascade-rules-embed", "majority-rules"])
    assert isinstance(cascade, CascadeJudge) and isinstance(majority, MajorityJudge)
    assert [part.name for part in cascade.parts] == ["numeric", "math", "embed"]
    recorded = cascade.spec.params["resolved_parts"]
    assert [part["name"] for part in recorded] == ["numeric", "math", "embed"]
    assert cascade.spec.fingerprint() != resolve_preset("cascade-rules-embed").spec.fingerprint()
    [verdict] = majority.judge_batch([Triple("How many mg?", "450 mg", "Therefore, the answer is 450 mg.")])
    assert verdict.passed is True and verdict.p_pass == 1.0
    assert not any(p.offline for p in registry.list_presets() if p.spec.backend in ("cascade", "majority"))


@pytest.mark.slow
def test_majority_of_ten_tiny_verifier_samples_end_to_end() -> None:
    # builds (or reuses) the tiny CPU verifier; its P(YES) varies per triple, so the 10 votes do too
    tiny, majority = build_judges(["tiny", "majority-tiny-m10"])
    triples = [Triple("What is 12 + 30?", "42", f"Therefore, the answer is {n}.") for n in (42, 41, 420, 7)]
    soft = tiny.judge_batch(triples)
    voted = majority.judge_batch(triples)
    for one, ten in zip(soft, voted, strict=True):
        assert one.p_pass is not None and ten.p_pass is not None
        assert round(ten.p_pass * 10) == pytest.approx(ten.p_pass * 10)  # a share of 10 votes
        assert ten.passed is (ten.p_pass > 0.5)
    again = majority.judge_batch(triples)  # seeded: the same votes again (latency differs)
    assert [(v.passed, v.p_pass, v.raw) for v in again] == [(v.passed, v.p_pass, v.raw) for v in voted]
