"""The judgment cache (SQLite) at the size of a study: inserts and lookups per second, file size, resume cost.

Verdicts are written the way every command writes them (``put_many`` once per judged batch,
``--batch`` verdicts each, one transaction per batch) under keys shaped like real ones
(SHA-256 hex of the judge identity and the prompt), with verdicts shaped like a model judge's
(p_pass, raw text, token counts). Then:

- lookups: ``get_many`` over every key in random order, as a run over cached triples asks;
- resume: what a restarted run pays before its first new verdict: open the file and look up
  every key of the run (all cached);
- size: the database file with its WAL, per verdict.

    python benchmarks/cache_speed.py                          # 1,000,000 verdicts of smollm2
    python benchmarks/cache_speed.py --verdicts 100000 --judge smol-verifier
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rlvr_bench.judges.cache import JudgmentCache  # noqa: E402
from rlvr_bench.records import Verdict  # noqa: E402


def keys_for(judge: str, n: int) -> list[str]:
    return [hashlib.sha256(f"{judge}\n{i}".encode()).hexdigest() for i in range(n)]


def verdict_for(i: int) -> Verdict:
    p = (i * 7919 % 1000) / 1000
    return Verdict(passed=p > 0.5, p_pass=p, raw="YES" if p > 0.5 else "NO", latency_s=0.05,
                   prompt_tokens=200 + i % 60, completion_tokens=1)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=64, help="verdicts per put_many (a judged batch)")
    parser.add_argument("--judge", default="smollm2", help="the judge name the verdicts are stored under")
    args = parser.parse_args(argv)
    keys = keys_for(args.judge, args.verdicts)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "judgments.sqlite"
        cache = JudgmentCache(path)
        began = time.perf_counter()
        for start in range(0, args.verdicts, args.batch):
            chunk = keys[start:start + args.batch]
            cache.put_many(args.judge, {key: verdict_for(start + k) for k, key in enumerate(chunk)})
        insert_s = time.perf_counter() - began
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        shuffled = random.Random(0).sample(keys, len(keys))
        began = time.perf_counter()
        found = cache.get_many(shuffled)
        lookup_s = time.perf_counter() - began
        assert len(found) == args.verdicts
        cache.close()
        began = time.perf_counter()
        with JudgmentCache(path) as reopened:
            resumed = reopened.get_many(keys)
        resume_s = time.perf_counter() - began
        assert len(resumed) == args.verdicts
    print(f"judgment cache, {args.verdicts:,} verdicts of judge {args.judge!r} (SQLite, WAL), load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"inserts: {args.verdicts / insert_s:,.0f} verdicts/s ({insert_s:.1f} s, one transaction per "
          f"{args.batch} verdicts)")
    print(f"lookups: {args.verdicts / lookup_s:,.0f} verdicts/s ({lookup_s:.1f} s for every key, random order)")
    print(f"file: {size / 2**20:.0f} MiB ({size / args.verdicts:.0f} bytes per verdict)")
    print(f"resume: {resume_s:.1f} s to reopen the file and find all {args.verdicts:,} verdicts of the run")
    return {"insert_per_s": args.verdicts / insert_s, "lookup_per_s": args.verdicts / lookup_s,
            "bytes": float(size), "resume_s": resume_s}


if __name__ == "__main__":
    main()
