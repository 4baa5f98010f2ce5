"""verl adapter: ``compute_score`` for verl's custom reward function, backed by an rlvr-bench judge.

In a verl (0.9) ``main_ppo`` config the function sits under ``reward:``::

    reward:
      reward_manager:
        name: naive                # verl's registry: naive, dapo, gdpo, rate_limited, remote
      custom_reward_function:
        # python -c "import rlvr_bench.verl_reward as m; print(m.__file__)" prints the path
        path: /path/to/site-packages/rlvr_bench/verl_reward.py
        name: compute_score
        reward_kwargs:
          judge: numeric           # any preset or preset file; or set RLVR_BENCH_JUDGE
          mode: binary             # or soft; or set RLVR_BENCH_REWARD_MODE
          # url: http://127.0.0.1:8000/get_reward   # a running `rlvr-bench serve` instead of a local judge
          #   (several comma-separated URLs: replicas, rotated, a failed attempt tries the next one)

A sample means what it means to the reward server (:mod:`rlvr_bench.reward_rows`): the whole
``solution_str`` without trailing EOS / end-of-turn texts, ``ground_truth`` as the reference (a
string, a number, or a list of acceptable references: passes when any passes) and
``extra_info["question"]`` (when the data set provides it) as the question.

The result is ``{"score": reward, "unscored": 0 or 1, "unscored_label": 0 or 1}``: verl needs a
number, so a sample that cannot be judged (a judge failure or an error on that sample alone, a null
or empty ground truth, the judge not answering within :data:`LOCAL_TIMEOUT_S`, the server
unreachable after bounded retries) scores ``unscored_reward`` (0.0) and is flagged; verl keeps the
extra keys per sample (``reward_extra_info``: logged, and dumped with ``trainer.rollout_data_dir``),
and the reason is logged here as a warning. verl 0.9.1 has no per-sample loss mask a reward function
can set, so an unscored sample is trained on with ``unscored_reward``: watch the ``unscored`` rate.

verl's reward managers call ``compute_score`` from a thread pool, one task per sample. Local judges
are not thread-safe, so every call goes through one :class:`~rlvr_bench.reward_server.BatchingJudge`
per judge: one worker thread judges, and concurrent calls are merged into batches.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import Triple
from rlvr_bench.records import Verdict
from rlvr_bench.reward_batching import (
    Abandoned,
    BatchingJudge,
    DegradingCache,
    QueueFull,
    WorkerDied,
    open_judgment_cache,
)
from rlvr_bench.reward_rows import RewardRow, judge_rows, label_row, strip_special_texts
from rlvr_bench.training.rewards import REWARD_MODES, protocol_rewards

log = logging.getLogger(__name__)

_BATCHERS: dict[str, BatchingJudge] = {}
_LOCK = threading.Lock()
#: attempts of one request to the reward server in ``url:`` mode, and the longest pause between two
SERVER_ATTEMPTS = 6
SERVER_BACKOFF_FIRST_S = 0.5
SERVER_BACKOFF_MAX_S = 8.0
#: how long one verl sample may wait for a local judge before it falls back (s)
LOCAL_TIMEOUT_S = 600.0


def _settings(judge: str | None, mode: str | None) -> tuple[str, str]:
    name = judge or os.environ.get("RLVR_BENCH_JUDGE")
    if not name:
        raise ConfigError("no judge for the verl reward: pass reward_kwargs.judge or set RLVR_BENCH_JUDGE")
    return name, _mode(mode)


def _mode(mode: str | None) -> str:
    chosen = mode or os.environ.get("RLVR_BENCH_REWARD_MODE", "binary")
    if chosen not in REWARD_MODES:
        raise ConfigError(f"reward mode must be one of {', '.join(REWARD_MODES)}, got {chosen!r}")
    return chosen


def _batcher(name: str) -> BatchingJudge:
    """One judge per process (a model judge loads its weights once), judged by one worker thread."""
    with _LOCK:
        if name not in _BATCHERS:
            from rlvr_bench.judges.registry import judge

            built = judge(name)
            cache = DegradingCache(open_judgment_cache) if built.cacheable else None  # bypassed if it cannot be written
            _BATCHERS[name] = BatchingJudge(built, max_batch=256, max_wait_s=0.002, cache=cache)
        return _BATCHERS[name]


def verl_rows(solution_strs: Sequence[str], ground_truths: Sequence[Any], extra_infos: Sequence[Any]
              ) -> list[RewardRow]:
    """One row per sample: the solution without trailing special texts, each acceptable reference of the
    ground truth, and the question, answer type and domain from ``extra_info`` (verl data sets carry the
    item's fields there)."""
    rows = []
    for index, (solution, truth, info) in enumerate(zip(solution_strs, ground_truths, extra_infos, strict=True)):
        fields = info if isinstance(info, dict) else {}
        rows.append(label_row(strip_special_texts(str(solution)), str(fields.get("question") or ""), truth,
                              f"sample {index}: ground_truth", str(fields.get("answer_type") or "text"),
                              str(fields.get("domain") or "")))
    return rows


def verl_triples(solution_strs: Sequence[str], ground_truths: Sequence[Any], extra_infos: Sequence[Any]
                 ) -> list[Triple]:
    """The triples :func:`verl_rows` judges, in order (one per acceptable reference; none for a refused row)."""
    return [t for row in verl_rows(solution_strs, ground_truths, extra_infos) for t in row.triples]


_ROTATION = itertools.count()


def _post_with_retries(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to ``url`` (several comma-separated URLs: replicas; calls rotate over them and a failed
    attempt moves to the next one, so a dead replica costs one attempt, not the sample). Connection errors,
    5xx and 429 are retried with exponential backoff (bounded); a 4xx other than 429 raises at once (the
    request itself is wrong)."""
    import httpx

    urls = [u.strip() for u in url.split(",") if u.strip()]
    first = next(_ROTATION)
    pause = SERVER_BACKOFF_FIRST_S
    for attempt in range(1, SERVER_ATTEMPTS + 1):
        target = urls[(first + attempt - 1) % len(urls)]
        try:
            reply = httpx.post(target, json=body, timeout=180.0)
            if reply.status_code < 500 and reply.status_code != 429:
                reply.raise_for_status()
                data: dict[str, Any] = reply.json()
                return data
            problem = f"HTTP {reply.status_code}"
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if attempt == SERVER_ATTEMPTS:
            raise ConnectionError(f"reward server {url}: {problem} after {attempt} attempts")
        if len(urls) > 1 and attempt < len(urls):
            log.warning("reward server %s: %s (attempt %d of %d); trying the next URL", target, problem, attempt,
                        SERVER_ATTEMPTS)
            continue  # another replica at once: no pause
        log.warning("reward server %s: %s (attempt %d of %d); retrying in %.1f s", target, problem, attempt,
                    SERVER_ATTEMPTS, pause)
        time.sleep(pause)
        pause = min(pause * 2, SERVER_BACKOFF_MAX_S)
    raise AssertionError("unreachable")


def _refused(row: RewardRow, unscored_reward: float) -> dict[str, float]:
    log.warning("verl reward fallback %g: %s", unscored_reward, row.refusal)
    return {"score": unscored_reward, "unscored": 1.0, "unscored_label": 1.0}


def _scores_from_server(url: str, rows: Sequence[RewardRow], mode: str | None, unscored_reward: float
                        ) -> list[dict[str, float]]:
    """The request OpenRLHF sends (query = prompt + response, the question as the prompt), each label an
    object with the item's fields and all its references, and the mode, so the server judges the very
    rows a local judge would (refused rows are answered here, the same way)."""
    sent = [row for row in rows if row.refusal is None]
    body: dict[str, Any] = {
        "query": [row.triples[0].question + row.triples[0].response for row in sent],
        "prompts": [row.triples[0].question for row in sent],
        "labels": [{"reference": list(row.triples[0].references) if row.triples[0].aliases
                    else row.triples[0].reference, "question": row.triples[0].question,
                    "answer_type": row.triples[0].answer_type, "domain": row.triples[0].domain} for row in sent]}
    if mode is not None or os.environ.get("RLVR_BENCH_REWARD_MODE"):
        body["mode"] = _mode(mode)
    try:
        data: dict[str, Any] = (_post_with_retries(url, body) if sent
                                else {"rewards": [], "extra_logs": {"unscored": []}})
    except ConnectionError as exc:
        log.warning("%s: %d samples fall back to %g, flagged unscored", exc, len(sent), unscored_reward)
        data = {"rewards": [unscored_reward] * len(sent), "extra_logs": {"unscored": [1.0] * len(sent)}}
    logs = data["extra_logs"]
    answers = iter(zip(data["rewards"], logs["unscored"], logs.get("unscored_label", [0.0] * len(sent)),
                       strict=True))
    scores = []
    for row in rows:
        if row.refusal is not None:
            scores.append(_refused(row, unscored_reward))
        else:
            reward, flag, label_flag = next(answers)
            scores.append({"score": float(reward), "unscored": float(flag), "unscored_label": float(label_flag)})
    return scores


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Any] | None = None, judge: str | None = None, mode: str | None = None,
                        url: str | None = None, unscored_reward: float = 0.0, **_: Any) -> list[dict[str, float]]:
    """Scores for several samples at once (for callers that hold a batch; verl itself calls
    :func:`compute_score` per sample)."""
    del data_sources  # one judge for every source; route sources to different judges in verl if needed
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    rows = verl_rows(solution_strs, ground_truths, infos)
    server = url or os.environ.get("RLVR_BENCH_REWARD_URL")
    if server:
        return _scores_from_server(server, rows, mode, unscored_reward)
    name, chosen_mode = _settings(judge, mode)
    batcher = _batcher(name)
    try:
        verdicts = judge_rows(rows, lambda triples: batcher.judge_now(triples, LOCAL_TIMEOUT_S))
    except (TimeoutError, QueueFull, Abandoned, WorkerDied) as exc:
        if isinstance(exc, WorkerDied):
            with _LOCK:  # the next call starts a fresh worker
                _BATCHERS.pop(name, None)
        why = f"the judge did not answer within {LOCAL_TIMEOUT_S:g} s" if isinstance(exc, TimeoutError) else str(exc)
        verdicts = [Verdict(passed=None, error=row.refusal or why) for row in rows]
    rewards, unscored = protocol_rewards(verdicts, chosen_mode, unscored_reward)
    for verdict, flag in zip(verdicts, unscored, strict=True):
        if flag:
            log.warning("verl reward fallback %g: %s", unscored_reward, verdict.error)
    return [{"score": reward, "unscored": flag, "unscored_label": float(row.refusal is not None)}
            for reward, flag, row in zip(rewards, unscored, rows, strict=True)]


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  judge: str | None = None, mode: str | None = None, url: str | None = None,
                  **kwargs: Any) -> dict[str, float]:
    """verl's custom reward function signature: one response, one score (extra keys go to reward_extra_info)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], judge, mode, url,
                               **kwargs)[0]
