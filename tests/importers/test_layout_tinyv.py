"""TinyV HardVerify-Math read as published: uw-nsl/TinyV @ 4a9d2c72, ``benchmarks/HardVerify-Math.json``
(arXiv 2505.14625): a JSON array; per question ``id`` (int), ``split`` ("benchmarks"), ``source``,
``question``, ``ground_truth``, ``fn_output`` (equivalent: Correct), ``tn_output`` (wrong: Incorrect),
``metadata`` (a dict)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rlvr_bench.importers import import_data

TINYV_ROWS = [
    {"id": 0, "split": "benchmarks", "source": "Olympiad",
     "question": "Find all functions $f: \\mathbb{R}^{+} \\rightarrow \\mathbb{R}^{+}$ with $f(x+f(y))=f(x+y)+f(y)$.",
     "ground_truth": "$f(x)=2 x$", "fn_output": "f(x)=2x", "tn_output": "f(x)=x",
     "metadata": {"index": "11", "domain": [], "llama8b_solve_rate": ""}},
    {"id": 1, "split": "benchmarks", "source": "AMC", "question": "Compute $\\frac{1}{2}+\\frac{1}{3}$.",
     "ground_truth": "$\\frac{5}{6}$", "fn_output": "5/6", "tn_output": "",
     "metadata": {"index": "3", "domain": [], "llama8b_solve_rate": "0.5"}},
]


def test_tinyv_fn_output_correct_tn_output_incorrect(tmp_path: Path, json_array: Callable[..., Path],
                                                     cli: Callable[..., tuple[int, str, str]]) -> None:
    imported = import_data(json_array(tmp_path / "HardVerify-Math.json", TINYV_ROWS))
    assert imported.format == "tinyv"
    assert [(r.id, r.label, r.variant) for r in imported.responses] == [
        ("tinyv-0-fn_output", True, "fn_output"), ("tinyv-0-tn_output", False, "tn_output"),
        ("tinyv-1-fn_output", True, "fn_output")]
    assert all(item.answer_type == "expression" and item.split == "test" for item in imported.items)
    assert imported.report["dropped"] == {"tn_output empty": 1}
    code, _, stderr = cli("verify", "--no-cache", "--data", str(tmp_path / "HardVerify-Math.json"),
                          "--judges", "auto", "--out", str(tmp_path / "run"))
    assert code == 0, stderr
