"""The ``choice`` judge on MMLU-Pro's published model outputs: how many it leaves unscored, and how
often it agrees with MMLU-Pro's own regex extraction (``pred == answer``).

Reads the zip from ``../shared/verifier-data/mmlu-pro/`` at run time (never copied into the
repository)::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/choice_mmlu_pro.py [ZIP] [--show N]

The question the judge sees is the MMLU-Pro question followed by its options as ``A. text`` lines
(the layout of MMLU-Pro's own prompts); the reference is the key letter.
"""

from __future__ import annotations

import argparse
import collections
import json
import time
import zipfile
from pathlib import Path

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import judge

ZIP_IN_SHARED = Path("verifier-data", "mmlu-pro", "model_outputs_gemini-1.5-pro-002_5shots.zip")
#: ../shared next to the checkout (a git worktree may sit one level deeper)
DEFAULT_ZIP = next((root / "shared" / ZIP_IN_SHARED for root in Path(__file__).resolve().parents[2:4]
                    if (root / "shared" / ZIP_IN_SHARED).is_file()),
                   Path(__file__).resolve().parents[2] / "shared" / ZIP_IN_SHARED)
LETTERS = "ABCDEFGHIJ"


def read_rows(path: Path) -> list[dict[str, object]]:
    with zipfile.ZipFile(path) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".json")]
        rows: list[dict[str, object]] = json.loads(archive.read(name))
    return rows


def as_triple(row: dict[str, object]) -> Triple:
    options = row["options"]
    assert isinstance(options, list)
    listed = "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(options))
    return Triple(f"{row['question']}\nOptions:\n{listed}", str(row["answer"]), str(row["model_outputs"]),
                  answer_type="choice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", nargs="?", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--show", type=int, default=0, help="print this many unscored and disagreeing rows")
    args = parser.parse_args()
    rows = read_rows(args.zip)
    began = time.perf_counter()
    verdicts = judge("choice").judge_batch([as_triple(row) for row in rows])
    elapsed = time.perf_counter() - began
    unscored = [(row, v) for row, v in zip(rows, verdicts, strict=True) if v.passed is None]
    scored = [(row, v) for row, v in zip(rows, verdicts, strict=True) if v.passed is not None]
    agree = [(row, v) for row, v in scored if v.passed == (row["pred"] == row["answer"])]
    disagree = [(row, v) for row, v in scored if v.passed != (row["pred"] == row["answer"])]
    print(f"rows {len(rows)}  judged in {elapsed:.1f} s")
    print(f"unscored {len(unscored)} ({len(unscored) / len(rows):.2%})")
    reasons = collections.Counter((v.error or "")[:40] for _, v in unscored)
    for reason, count in reasons.most_common(5):
        print(f"  {count:5d}  {reason}")
    print(f"agreement with pred == answer on scored rows: {len(agree)}/{len(scored)} ({len(agree) / len(scored):.2%})")
    with_pred = [(row, v) for row, v in scored if row["pred"] is not None]
    agree_pred = sum(v.passed == (row["pred"] == row["answer"]) for row, v in with_pred)
    print(f"  on rows where MMLU-Pro extracted a pred: {agree_pred}/{len(with_pred)} "
          f"({agree_pred / len(with_pred):.2%})")
    for title, shown in (("unscored", unscored), ("disagreeing", disagree)):
        for row, verdict in shown[: args.show]:
            tail = str(row["model_outputs"]).strip()[-160:].replace("\n", " | ")
            print(f"--- {title}: key {row['answer']} pred {row['pred']}: {verdict.raw or verdict.error}\n    {tail!r}")


if __name__ == "__main__":
    main()
