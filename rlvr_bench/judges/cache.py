"""The judgment cache: model verdicts kept in SQLite, keyed by (judge identity, prompt).

Model verdicts are slow or paid for, and deterministic (greedy, temperature 0),
so a verdict computed once is reused by every command (agreement, verify,
eval, training rewards) and by a run restarted after a crash. The key is a
SHA-256 of the judge's identity (backend, the preset parameters that can change
a verdict, the checkpoint's revision) and the fully rendered prompt; see
``ModelJudge.cache_key``. No secret is ever part of a key or a value: API keys
live only in the environment.

Concurrency: the database runs in WAL mode with a busy timeout, so several
processes (parallel runs, data-parallel reward workers) read and write at once.
Writes are ``INSERT OR IGNORE``: the first verdict stored for a key wins and a
second writer with the same key changes nothing, so every reader sees the
same verdict. Each batch is committed as soon as it is judged, so a run killed
with SIGKILL loses at most the batch in flight.

Only verdicts the model actually produced are stored (``passed`` set, or a raw
output that failed to parse); transport failures (timeouts, HTTP errors after
the retries) are not, so a later run tries them again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.errors import ConfigError, InputError
from rlvr_bench.paths import cache_home
from rlvr_bench.records import Verdict, verdict_from_json

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY,
    judge TEXT NOT NULL,
    verdict TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS judgments_by_judge ON judgments(judge);
"""
#: SQLite limits bound parameters per statement; stay well below
_CHUNK = 500


def is_cacheable_verdict(verdict: Verdict) -> bool:
    """True for verdicts a model produced (scored, or an unparseable output); False for transport failures."""
    return verdict.passed is not None or bool(verdict.raw)


@dataclass(frozen=True)
class CacheStats:
    path: Path
    #: judge preset name -> number of cached verdicts
    per_judge: dict[str, int]
    size_bytes: int

    @property
    def total(self) -> int:
        return sum(self.per_judge.values())


class JudgmentCache:
    """A SQLite file of verdicts; safe to share between threads and processes."""

    def __init__(self, path: Path, busy_timeout_s: float = 60.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path), timeout=busy_timeout_s, check_same_thread=False,
                                         isolation_level=None)
            self._open(busy_timeout_s)
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"{path}: cannot use the judgment cache ({exc}); set RLVR_BENCH_CACHE to a writable "
                              "folder, or pass --no-cache") from None

    def _open(self, busy_timeout_s: float) -> None:
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        self._retry_locked(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
        # NORMAL: a commit survives a killed process (the WAL is on disk); only an OS
        # crash can lose the last commits, which then are simply recomputed
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._retry_locked(lambda: self._conn.executescript(_SCHEMA))
        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _retry_locked(self, action: Any, attempts: int = 50) -> Any:
        # schema set-up can race with another process creating the same file
        for attempt in range(attempts):
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return None

    def get_many(self, keys: Iterable[str]) -> dict[str, Verdict]:
        """Cached verdicts for the keys that have one."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Verdict] = {}
        with self._lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                try:
                    rows = self._conn.execute(f"SELECT key, verdict FROM judgments WHERE key IN ({marks})",
                                              chunk).fetchall()
                except sqlite3.DatabaseError as exc:  # a damaged page: found only when it is read
                    raise self._corrupt(str(exc)) from None
                for key, text in rows:
                    try:
                        found[key] = verdict_from_json(json.loads(text), f"{self.path}: key {key[:12]}")
                    except (ValueError, TypeError, AttributeError, InputError) as exc:
                        raise self._corrupt(f"the verdict of key {key[:12]} is not valid: {exc}") from None
        return found

    def _corrupt(self, detail: str) -> ConfigError:
        return ConfigError(f"{self.path}: the judgment cache is corrupt ({detail}); delete it (or run `rlvr-bench "
                           "cache clear`) or pass --no-cache")

    def put_many(self, judge: str, verdicts: Mapping[str, Verdict]) -> int:
        """Store verdicts in one transaction (first writer wins); returns how many rows were new."""
        rows = [(key, judge, json.dumps(v.to_json(), allow_nan=False), time.time())
                for key, v in verdicts.items() if is_cacheable_verdict(v)]
        if not rows:
            return 0
        with self._lock:
            before = self._conn.total_changes
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(
                        "INSERT OR IGNORE INTO judgments (key, judge, verdict, created) VALUES (?, ?, ?, ?)", rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:  # a failed COMMIT (a full disk) has rolled back already:
                        self._conn.execute("ROLLBACK")  # a second ROLLBACK would hide its error
                    raise
            except sqlite3.OperationalError as exc:  # a read-only file or a full disk, not a bug
                raise ConfigError(f"{self.path}: cannot write to the judgment cache ({exc}); set RLVR_BENCH_CACHE "
                                  "to a writable folder, or pass --no-cache") from None
            return self._conn.total_changes - before

    def stats(self) -> CacheStats:
        with self._lock:
            rows = self._conn.execute("SELECT judge, COUNT(*) FROM judgments GROUP BY judge ORDER BY judge")
            per_judge = {judge: count for judge, count in rows}
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return CacheStats(path=self.path, per_judge=per_judge, size_bytes=size)

    def clear(self, judges: Sequence[str] | None = None) -> int:
        """Delete every cached verdict, or those of the named judges; returns how many were deleted."""
        with self._lock:
            before = self._conn.total_changes
            if judges:
                marks = ",".join("?" * len(judges))
                self._conn.execute(f"DELETE FROM judgments WHERE judge IN ({marks})", list(judges))
            else:
                self._conn.execute("DELETE FROM judgments")
            deleted = self._conn.total_changes - before
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if not judges:
            with self._lock:
                self._conn.execute("VACUUM")
        return deleted

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JudgmentCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_cache_path() -> Path:
    return cache_home() / "judgments.sqlite"


def default_cache() -> JudgmentCache:
    """The cache every command shares: ``<cache_home()>/judgments.sqlite``."""
    return JudgmentCache(default_cache_path())
