"""Fixture run directories for the report tests, written by the real commands.

A tiny task (2 domains x 3 questions, labelled responses) goes through `agreement`,
`verify --attacks` and `eval` (two imported-response policies) with rule judges,
so the report renders the exact results.json shapes the commands write. The
`train` and `train-and-eval` runs are hand-written (RL on CPU is far too slow
for a fixture): their results and logs follow `rlvr_bench.training.rl` and
`rlvr_bench.training.matrix`.

Two responses carry markup — ``<script>alert(1)</script>`` and ``<b>`` — and are
built so that `exact` fails them and `contains` passes them: they split the
judges and land in the disagreement browser, where they must show as text.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.records import Item, Judgment, Response, Verdict
from rlvr_bench.rundir import RunWriter

SCRIPT_TEXT = "<script>alert(1)</script>"
BOLD_TEXT = "<b>bold claim</b>"

# (id, domain, question, reference, answer_type)
ITEMS = [
    ("med-1", "medicine", "Dose for 18 kg at 25 mg/kg?", "450 mg", "quantity"),
    ("med-2", "medicine", "Drug class of atorvastatin?", "statin", "text"),
    ("med-3", "medicine", "Normal adult resting heart rate upper bound in bpm?", "100", "number"),
    ("chem-1", "chemistry", "pH of 0.001 M HCl?", "3", "number"),
    ("chem-2", "chemistry", "Symbol of sodium?", "Na", "text"),
    ("chem-3", "chemistry", "Molar mass of water in g/mol (integer)?", "18", "number"),
]
# (id, item_id, text, label, variant); r1 correct and exact, r2 correct but wordy (exact fails, contains passes),
# r3 wrong
RESPONSES = [
    ("med-1-r1", "med-1", "25 x 18 = 450.\nTherefore, the answer is 450 mg.", True, "exact"),
    ("med-1-r2", "med-1", f"Careful: {SCRIPT_TEXT}\nTherefore, the answer is {SCRIPT_TEXT} 450 mg per dose.", True,
     "verbose"),
    ("med-1-r3", "med-1", "Therefore, the answer is 1350 mg.", False, "near_miss"),
    ("med-2-r1", "med-2", "Therefore, the answer is statin.", True, "exact"),
    ("med-2-r2", "med-2", f"Therefore, the answer is a {BOLD_TEXT}: it is a statin.", True, "verbose"),
    ("med-2-r3", "med-2", "Therefore, the answer is a fibrate.", False, "wrong"),
    ("med-3-r1", "med-3", "Therefore, the answer is 100.", True, "exact"),
    ("med-3-r2", "med-3", "Therefore, the answer is 60.", False, "wrong"),
    ("chem-1-r1", "chem-1", "Therefore, the answer is 3.", True, "exact"),
    ("chem-1-r2", "chem-1", "Therefore, the answer is pH 3 at 25 C.", True, "verbose"),
    ("chem-1-r3", "chem-1", "Therefore, the answer is 11.", False, "wrong"),
    ("chem-2-r1", "chem-2", "Therefore, the answer is Na.", True, "exact"),
    ("chem-2-r2", "chem-2", "Therefore, the answer is K.", False, "wrong"),
    ("chem-3-r1", "chem-3", "Therefore, the answer is 18.", True, "exact"),
    ("chem-3-r2", "chem-3", "Therefore, the answer is about 18 g/mol.", True, "verbose"),
    ("chem-3-r3", "chem-3", "Therefore, the answer is 16.", False, "wrong"),
]


def write_task(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(
        "name: report-fixture\ndescription: tiny task for the report tests\nversion: 1\n"
        "domains: [medicine, chemistry]\nitems: items.jsonl\nresponses: responses.jsonl\n", encoding="utf-8")
    with (folder / "items.jsonl").open("w", encoding="utf-8") as handle:
        for item_id, domain, question, reference, answer_type in ITEMS:
            handle.write(json.dumps({"id": item_id, "domain": domain, "question": question, "reference": reference,
                                     "answer_type": answer_type, "split": "test"}) + "\n")
    with (folder / "responses.jsonl").open("w", encoding="utf-8") as handle:
        for response_id, item_id, text, label, variant in RESPONSES:
            handle.write(json.dumps({"id": response_id, "item_id": item_id, "text": text, "label": label,
                                     "variant": variant}) + "\n")
    return folder


def write_policy(path: Path, suffix: str) -> Path:
    """An imported-response policy: the responses whose id ends in ``suffix`` (one per item at most)."""
    with path.open("w", encoding="utf-8") as handle:
        for response_id, item_id, text, _, _ in RESPONSES:
            if response_id.endswith(suffix):
                handle.write(json.dumps({"id": f"{path.stem}-{response_id}", "item_id": item_id, "text": text}) + "\n")
    return path


def write_train_run(out: Path) -> Path:
    """A train run as `rlvr_bench.training.rl` writes it: config, evaluation records, log.jsonl, results.json."""
    items = [Item(id=i, domain=d, question=q, reference=r, answer_type=t) for i, d, q, r, t in ITEMS]
    responses = [Response(id=f"{item.id}-after", item_id=item.id, text=f"Therefore, the answer is {item.reference}.",
                          source="policy") for item in items]
    judgments = [Judgment("contains", r.item_id, r.id, Verdict(passed=True, latency_s=0.001)) for r in responses]

    def block(value: float, low: float, high: float, n: int) -> dict[str, float | int]:
        return {"estimate": value, "ci_low": low, "ci_high": high, "n": n}

    def table(all_items: float, med: float, chem: float) -> dict[str, object]:
        return {"accuracy": {name: {"accuracy": block(v, max(0.0, v - 0.3), min(1.0, v + 0.3), n)}
                             for name, v, n in (("all", all_items, 6), ("medicine", med, 3), ("chemistry", chem, 3))}}

    results = {
        "recipe": "fixture", "seed": 0, "reward": "contains:binary", "reference_judge": "contains",
        "algorithm": "grpo", "before": table(0.5, 0.33, 0.67), "after": table(1.0, 1.0, 1.0),
        "difference": {name: {"difference": block(d, d - 0.2, min(1.0, d + 0.2), 6),
                              "mcnemar": {"n": 6, "p_value": p, "method": "exact"}}
                       for name, d, p in (("all", 0.5, 0.0625), ("medicine", 0.67, 0.5), ("chemistry", 0.33, 1.0))},
        "rl_wall_time_s": 12.5, "wall_time_s": 20.0,
    }
    with RunWriter(out, "train", {"recipe": {"name": "fixture"}, "trainer": "grpo"}) as writer:
        writer.write_items(items)
        writer.write_responses(responses)
        writer.write_judgments(judgments)
        writer.write_results(results)
        with (writer.folder / "log.jsonl").open("w", encoding="utf-8") as handle:
            for step in range(1, 6):
                handle.write(json.dumps({"step": step, "reward_mean": 0.2 * step, "kl": 0.01 * step,
                                         "completion_length": 20 - step,
                                         "reward_hacking/reference_accuracy": 0.18 * step,
                                         "reward_hacking/false_positive_rate": 0.02 * step,
                                         "reward_hacking/agreement": 1 - 0.02 * step}) + "\n")
            handle.write(json.dumps({"step": 5, "train_runtime": 3.0}) + "\n")  # trl's summary row: no curve
        writer.commit()
    return out


#: the train-and-eval fixture: all-items accuracy per method and the paired difference against SFT
#: (estimate, ci_low, ci_high, McNemar p); model-soft-grpo is best overall, rule-soft-grpo significantly worse
TAE_ACCURACY = {"sft": 0.40, "rule-binary-grpo": 0.55, "rule-soft-grpo": 0.35, "model-binary-grpo": 0.60,
                "model-soft-grpo": 0.62}
TAE_VERSUS_SFT = {"rule-binary-grpo": (0.15, 0.05, 0.25, 0.02), "rule-soft-grpo": (-0.05, -0.09, -0.01, 0.04),
                  "model-binary-grpo": (0.20, -0.02, 0.40, 0.06), "model-soft-grpo": (0.22, 0.12, 0.32, 0.0004)}
#: per-domain accuracy (chemistry: model-binary and model-soft tie for best)
TAE_DOMAINS = {"chemistry": {"sft": 0.30, "rule-binary-grpo": 0.50, "rule-soft-grpo": 0.30, "model-binary-grpo": 0.60,
                             "model-soft-grpo": 0.60},
               "medicine": {"sft": 0.50, "rule-binary-grpo": 0.60, "rule-soft-grpo": 0.40, "model-binary-grpo": 0.60,
                            "model-soft-grpo": 0.64}}
#: the study's findings as rlvr_bench.training.findings writes them (one comparison each shown with its reading)
TAE_FINDINGS = {
    "equivalence_margin": 0.03,
    "model_beats_rule": {"claim": "model-based rewards >= rule-based rewards of the same kind", "status": "reproduced",
                         "comparisons": [{"a": "model-soft-grpo", "b": "rule-soft-grpo", "reading": "better",
                                          "difference": {"estimate": 0.27, "ci_low": 0.15, "ci_high": 0.39},
                                          "mcnemar_p": 0.001}]},
    "rule_soft_worst": {"claim": "the rule-based soft reward (Jaccard) gives the worst policy", "status": "partly",
                        "lowest_estimate": True,
                        "comparisons": [{"a": "rule-soft-grpo", "b": "rule-binary-grpo", "reading": "inconclusive",
                                         "difference": {"estimate": -0.2, "ci_low": -0.45, "ci_high": 0.05},
                                         "mcnemar_p": 0.2}]},
    "distilled_matches_teacher": {"claim": "the distilled verifier rewards as well as its teacher",
                                  "status": "not reproduced", "comparisons": [],
                                  "kappa": {"estimate": 0.79, "ci_low": 0.4, "ci_high": 1.0}, "target_kappa": 0.8,
                                  "kappa_meets_target": False},
}
#: a reward string with markup: it must reach the page as text
TAE_MARKUP_REWARD = "<i>judge</i>:soft"


def write_train_and_eval_run(out: Path) -> Path:
    """A train-and-eval run as `rlvr_bench.training.matrix` writes it (results.json, cells/<name>/log.jsonl),
    hand-written: RL of four cells on CPU is far too slow for a fixture. Two cells have a training log."""
    def block(value: float, half_width: float, n: int) -> dict[str, float | int]:
        return {"estimate": value, "ci_low": round(value - half_width, 6), "ci_high": round(value + half_width, 6),
                "n": n}

    def accuracy_row(method: str) -> dict[str, object]:
        row: dict[str, object] = {"all": {"accuracy": block(TAE_ACCURACY[method], 0.10, 20), "n_items": 20,
                                          "n_samples": 1, "n_unscored": 0}}
        for domain, values in TAE_DOMAINS.items():
            row[domain] = {"accuracy": block(values[method], 0.15, 10), "n_items": 10, "n_samples": 1,
                           "n_unscored": 0}
        return row

    def versus(method: str) -> dict[str, object]:
        value, low, high, p = TAE_VERSUS_SFT[method]
        entry: dict[str, object] = {"all": {"difference": {"estimate": value, "ci_low": low, "ci_high": high, "n": 20},
                                            "mcnemar": {"n": 20, "p_value": p, "method": "exact"}}}
        for domain in TAE_DOMAINS:
            entry[domain] = {"difference": block(value, 0.3, 10), "mcnemar": {"n": 10, "p_value": 0.5}}
        return entry

    def hacking(first_gap: float, last_gap: float) -> dict[str, object]:
        def window(gap: float, n: int) -> dict[str, float | int]:
            return {"n": n, "reward_pass_rate": 0.4 + gap, "reference_pass_rate": 0.4, "gap": gap,
                    "agreement": 1 - abs(gap)}
        return {"all": window((first_gap + last_gap) / 2, 64), "first_quarter": window(first_gap, 16),
                "last_quarter": window(last_gap, 16)}

    model_judge = str(out / "distill" / "judge.yaml")
    cells = {"rule-binary-grpo": ("contains:binary", 0.0, 0.05), "rule-soft-grpo": ("jaccard:soft", 0.05, 0.30),
             "model-binary-grpo": (f"{model_judge}:binary", 0.0, 0.0),
             "model-soft-grpo": (TAE_MARKUP_REWARD, 0.02, -0.02)}
    results = {
        "schema": "rlvr-bench/train-and-eval/v1", "recipe": "fixture", "seed": 0, "reference_judge": "contains",
        "model_judge": model_judge, "rule_judges": {"binary": "contains", "soft": "jaccard"}, "n_eval_items": 20,
        "table": {"domains": sorted(TAE_DOMAINS), "columns": [*sorted(TAE_DOMAINS), "all"],
                  "rows": {method: accuracy_row(method) for method in TAE_ACCURACY},
                  "versus_sft": {method: versus(method) for method in TAE_VERSUS_SFT}},
        "cells": {name: {"reward": reward, "algorithm": "grpo", "rl_wall_time_s": 1.5,
                         "reward_hacking": hacking(first, last)} for name, (reward, first, last) in cells.items()},
        "distillation": {
            "teacher": "contains", "student": {"name": "distilled-student", "kind": "tiny"},
            "data": {"n_examples": 50, "train": {"n_examples": 40, "n_questions": 10, "teacher_yes_rate": 0.3},
                     "held_out": {"n_examples": 10, "n_questions": 3, "teacher_yes_rate": 0.4}},
            "student_vs_teacher": {"n": 10, "n_questions": 3, "accuracy": {"estimate": 0.9, "ci_low": 0.7,
                                                                           "ci_high": 1.0},
                                   "cohen_kappa": {"estimate": 0.79, "ci_low": 0.4, "ci_high": 1.0},
                                   "false_positive_rate": {"estimate": 0.0, "ci_low": 0.0, "ci_high": 0.2},
                                   "confusion": {"tp": 3, "fp": 0, "fn": 1, "tn": 6}},
            "target_kappa": 0.8, "meets_target": False, "wall_time_s": 4.0},
        "findings": TAE_FINDINGS,
        "stage_wall_time_s": {"sft": 10.0, "cells/rule-binary-grpo": 300.0, "evaluation": 5.5},
        "compute_wall_time_s": 315.5,
        "wall_time_s": 30.0,
    }
    with RunWriter(out, "train-and-eval", {"request": {"recipe": "fixture", "quick": True}}) as writer:
        writer.write_results(results)
        for name in ("rule-binary-grpo", "rule-soft-grpo"):
            cell = writer.folder / "cells" / name
            cell.mkdir(parents=True)
            with (cell / "log.jsonl").open("w", encoding="utf-8") as handle:
                for step in range(1, 5):
                    handle.write(json.dumps({"step": step, "reward_mean": 0.3 + 0.1 * step, "kl": 0.01 * step,
                                             "completion_length": 12 + step,
                                             "reward_hacking/reference_accuracy": 0.3 + 0.05 * step,
                                             "reward_hacking/agreement": 0.9}) + "\n")
        writer.commit()
    return out


def invoke(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr)


def write_fixture_runs(root: Path) -> dict[str, Path]:
    """Run directories keyed by command (agreement, verify, eval, train, train-and-eval) under ``root``."""
    task = write_task(root / "report-fixture")
    runs = {name: root / name for name in ("agreement", "verify", "eval", "train")}
    invoke("agreement", "--task", str(task), "--judges", "exact,contains,numeric", "--bootstrap", "40",
           "--out", str(runs["agreement"]))
    invoke("verify", "--task", str(task), "--judges", "exact,contains,jaccard", "--attacks", "--bootstrap", "40",
           "--out", str(runs["verify"]))
    policies = root / "policies"
    policies.mkdir()
    invoke("eval", "-p", f"careful=responses:{write_policy(policies / 'careful.jsonl', '-r1')}",
           "-p", f"wordy=responses:{write_policy(policies / 'wordy.jsonl', '-r2')}",
           "-j", "contains,exact", "--task", str(task), "--bootstrap", "40", "--out", str(runs["eval"]))
    write_train_run(runs["train"])
    runs["train-and-eval"] = write_train_and_eval_run(root / "train-and-eval")
    return runs
