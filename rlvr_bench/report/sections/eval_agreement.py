"""Agreement between the judges of an eval run on the policies' own responses (its ``judge_agreement`` block)."""

from __future__ import annotations

from collections.abc import Mapping

from rlvr_bench.report.sections import Section
from rlvr_bench.report.sections.agreement import agreement_context
from rlvr_bench.rundir import Run


def build(run: Run) -> Section | None:
    block = run.results.get("judge_agreement")
    if not isinstance(block, Mapping):
        return None
    context = agreement_context(block)
    if context is None:
        return None
    subsections = [("heatmaps", "κ and AC1"), ("pairs", "Pairs")]
    if context["domains"]:
        subsections.append(("domains", "Per domain"))
    return Section(key="judge-agreement", title="Agreement between judges on policy responses",
                   template="sections/agreement.html.j2", context=context, subsections=tuple(subsections))
