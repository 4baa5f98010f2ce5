"""How many of an evaluation file's questions a distilled student trained on: its questions against the training
side of a `rlvr-bench distill` run (the run's responses carry ``distill_split``), compared by question text as the
split compares them (case and spacing ignored).

    python benchmarks/question_overlap.py runs/smol-verifier-distill \\
        ../shared/verifier-data/openqa-eval/NQ301_human.tsv+../shared/verifier-data/openqa-eval/NQ_FiD.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from rlvr_bench.importers import import_file
    from rlvr_bench.rundir import load_run
    from rlvr_bench.training.distill_data import question_key

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a distill run directory")
    parser.add_argument("data", help="an evaluation file (any layout --data reads; A+B joins)")
    args = parser.parse_args()
    run = load_run(args.run)
    questions = {item.id: question_key(item.question) for item in run.items}
    trained = {questions[r.item_id] for r in run.responses if r.metadata.get("distill_split") == "train"}
    items, responses, _ = import_file(Path(args.data))
    asked = {item.id: question_key(item.question) for item in items}
    overlap = {key for key in asked.values() if key in trained}
    rows = sum(asked[r.item_id] in trained for r in responses)
    print(f"{len(overlap)} of {len(set(asked.values()))} questions ({rows} of {len(responses)} rows) of {args.data} "
          f"are training questions of {args.run}")


if __name__ == "__main__":
    main()
