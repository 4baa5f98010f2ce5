"""Peak memory of `rlvr-bench agreement --data` over N rows with rule judges, the whole command as a user runs it.

Writes N synthetic triples (``triples`` layout: question, reference, response, label, domain; half the answers
right) to a temporary file, runs ``rlvr-bench agreement --data FILE --judges exact,contains --no-cache`` in a child
process, and prints its wall time and peak resident memory (the child's ``ru_maxrss``).

    python benchmarks/agreement_rows_memory.py                  # 1,000,000 rows
    python benchmarks/agreement_rows_memory.py --rows 100000 --judges exact,contains,jaccard
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANSWERS = ("mitochondria", "dry ice", "alveoli", "chlorophyll", "Albert Bandura", "andragogy", "450 mg", "red")
DOMAINS = ("biology", "medicine", "chemistry")


def write_rows(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            reference = ANSWERS[i % len(ANSWERS)]
            answer = reference if rng.random() < 0.5 else rng.choice(ANSWERS)
            out.write(json.dumps({"question": f"Question {i // 3}: what is it?", "reference": reference,
                                  "response": f"The answer is {answer}.", "label": answer == reference,
                                  "domain": DOMAINS[i % len(DOMAINS)]}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--judges", default="exact,contains")
    args = parser.parse_args()
    cli = Path(sys.executable).parent / "rlvr-bench"
    with tempfile.TemporaryDirectory(prefix="agreement-rows-") as scratch:
        data = Path(scratch) / "rows.jsonl"
        write_rows(data, args.rows)
        began = time.perf_counter()
        done = subprocess.run([str(cli), "agreement", "--data", str(data), "--judges", args.judges, "--no-cache",
                               "--quiet", "--out", str(Path(scratch) / "run")], capture_output=True, text=True)
        wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"agreement failed ({done.returncode}): {done.stderr[-2000:]}")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # kB on Linux
    print(f"agreement --data over {args.rows:,} rows, judges {args.judges}: {wall:.1f} s wall, "
          f"peak memory {peak_gb:.2f} GB (the command's process)")


if __name__ == "__main__":
    main()
