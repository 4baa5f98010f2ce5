"""Verifier distillation (schema ``rlvr-bench/distill/v1``): the student judge against its teacher on
held-out responses (kappa, accuracy, error rates with CIs, confusion matrix), the data it was trained on,
and the held-out agreement of every judge involved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import flatten_scalars
from rlvr_bench.report.sections import Headline, Section
from rlvr_bench.report.sections.agreement import agreement_context
from rlvr_bench.rundir import Run

#: student-vs-teacher metrics: key -> (label, better direction)
STUDENT_METRICS = (
    ("cohen_kappa", "Cohen's κ", "higher"),
    ("gwet_ac1", "Gwet's AC1", "higher"),
    ("accuracy", "accuracy", "higher"),
    ("precision", "precision", "higher"),
    ("recall", "recall", "higher"),
    ("false_positive_rate", "FPR", "lower"),
    ("false_negative_rate", "FNR", "lower"),
    ("f1", "F1", "higher"),
)


def _student_vs_teacher(results: Mapping[str, Any]) -> Mapping[str, Any]:
    held_out = results.get("held_out")
    block = held_out.get("student_vs_teacher") if isinstance(held_out, Mapping) else None
    return block if isinstance(block, Mapping) else {}


def build(run: Run) -> Section | None:
    results = run.results
    headline = _student_vs_teacher(results)
    raw_student = results.get("student")
    student: Mapping[str, Any] = raw_student if isinstance(raw_student, Mapping) else {}
    if not headline and not student:
        return None
    name = str(student.get("name", "student"))
    confusion = headline.get("confusion") or {}
    confusion_svg = figures.confusion_matrices(
        [(name, [[confusion.get("tp"), confusion.get("fp")], [confusion.get("fn"), confusion.get("tn")]])],
        f"{name}: verdict (rows) against the teacher's (columns)", truth="teacher") if confusion else None
    raw_held_out = results.get("held_out")
    held_out: Mapping[str, Any] = raw_held_out if isinstance(raw_held_out, Mapping) else {}
    agreement = held_out.get("agreement")
    return Section(
        key="distill", title="Distilled verifier", template="sections/distill.html.j2",
        context={"teacher": results.get("teacher"), "student": student, "name": name,
                 "metrics": [(label, headline.get(key)) for key, label, _ in STUDENT_METRICS if key in headline],
                 "n": headline.get("n"), "n_questions": headline.get("n_questions"),
                 "teacher_yes_rate": headline.get("teacher_yes_rate"), "confusion_svg": confusion_svg,
                 "target_kappa": results.get("target_kappa"), "meets_target": results.get("meets_target"),
                 "data": flatten_scalars(results.get("data")), "training": flatten_scalars(results.get("training")),
                 "agreement": agreement_context(agreement) if isinstance(agreement, Mapping) else None},
        subsections=(("student", "Student vs teacher"), ("agreement", "Held-out agreement")),
    )


def headline_metrics(run: Run) -> dict[str, Headline]:
    headline = _student_vs_teacher(run.results)
    return {f"distill.{key}": Headline(f"student vs teacher: {label}", headline[key], better=better,
                                       group="Distilled verifier (held out)")
            for key, label, better in STUDENT_METRICS if key in headline}
