"""The answer-type router (``auto``): each triple goes to the judge built for its answer type.

RL pipelines route rewards by data source (verl's ``default_compute_score``, OpenRLHF's custom
reward functions); here the route is the item's ``answer_type``:

- ``number``, ``quantity`` -> ``numeric`` (units converted, rounding allowed);
- ``expression`` -> ``math`` (math-verify);
- ``choice`` -> ``choice`` (lettered multiple choice);
- anything else (``text``, ``boolean``, ``list``) -> the ``default`` route, ``contains``: on the
  bundled gold set it is the most accurate offline judge of short free-form text.

Parameters: ``routes`` (answer type -> preset name, merged over the table above) and ``default``.
The router is a judge like any other (agreement, verify, eval, reward, server, verl). Its verdict is
the routed judge's, with ``raw`` prefixed by the judge's name. ``p_pass`` exists only where the routed
judge gives one, so the router is not soft.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import BaseJudge, Judge, JudgeSpec, Triple
from rlvr_bench.judges.composite import build_parts, part_specs, with_parts
from rlvr_bench.judges.run_memo import memoized_batch
from rlvr_bench.records import ANSWER_TYPES, Verdict

DEFAULT_ROUTES = {"number": "numeric", "quantity": "numeric", "expression": "math", "choice": "choice"}
DEFAULT_ROUTE = "contains"


def route_table(spec: JudgeSpec) -> tuple[dict[str, str], str]:
    """(answer type -> preset, default preset) from the spec; ConfigError names a bad entry."""
    unknown = set(spec.params) - {"routes", "default", "resolved_parts"}
    if unknown:
        raise ConfigError(f"judge {spec.name!r}: unknown parameter(s) {', '.join(sorted(unknown))}")
    routes = spec.params.get("routes") or {}
    if not isinstance(routes, dict) or not all(isinstance(v, str) for v in routes.values()):
        raise ConfigError(f"judge {spec.name!r}: 'routes' must map answer types to judge presets")
    bad = sorted(set(routes) - set(ANSWER_TYPES))
    if bad:
        raise ConfigError(f"judge {spec.name!r}: 'routes': unknown answer type(s) {', '.join(bad)} "
                          f"(one of {', '.join(ANSWER_TYPES)})")
    default = spec.params.get("default", DEFAULT_ROUTE)
    if not isinstance(default, str):
        raise ConfigError(f"judge {spec.name!r}: 'default' must be a judge preset name")
    return {**DEFAULT_ROUTES, **routes}, default


class RouterJudge(BaseJudge):
    """Routes each triple by answer type (see the module doc)."""

    def __init__(self, spec: JudgeSpec) -> None:
        self.routes, self.default = route_table(spec)
        names = list(dict.fromkeys([*self.routes.values(), self.default]))
        parts = build_parts(spec, names)
        super().__init__(with_parts(spec, parts))
        self.parts: dict[str, Judge] = dict(zip(names, parts, strict=True))

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        try:
            routes, default = route_table(spec)
            part_specs(spec, list(dict.fromkeys([*routes.values(), default])))
        except ConfigError as exc:
            return str(exc)
        return None

    def route(self, triple: Triple) -> str:
        return self.routes.get(triple.answer_type, self.default)

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(triples)
        by_route: dict[str, list[int]] = {}
        for index, triple in enumerate(triples):
            by_route.setdefault(self.route(triple), []).append(index)
        for name, indices in by_route.items():
            routed = memoized_batch(self.parts[name], [triples[i] for i in indices])
            if len(routed) != len(indices):
                raise RuntimeError(f"part {name!r} returned {len(routed)} verdicts for {len(indices)} triples")
            for index, verdict in zip(indices, routed, strict=True):
                verdicts[index] = replace(verdict, raw=f"{name}: {verdict.raw}")
        return [v for v in verdicts if v is not None]

    def describe(self) -> dict[str, Any]:
        return {"routes": self.routes, "default": self.default}
