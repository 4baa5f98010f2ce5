"""verl adapter: ``compute_score`` for ``custom_reward_function``, backed by an rlvr-bench judge.

In a verl config::

    custom_reward_function:
      # python -c "import rlvr_bench.verl_reward as m; print(m.__file__)" prints the path
      path: /path/to/site-packages/rlvr_bench/verl_reward.py
      name: compute_score          # or compute_score_batch with reward_model.reward_manager=batch
      reward_kwargs:
        judge: numeric             # any preset or preset file; or set RLVR_BENCH_JUDGE
        mode: binary               # or soft; or set RLVR_BENCH_REWARD_MODE
        # url: http://127.0.0.1:8000/get_reward   # use a running `rlvr-bench serve` instead of a local judge

The judge sees what it sees in ``verify``: the whole ``solution_str`` (every judge
reads its final step itself), ``ground_truth`` as the reference and
``extra_info["question"]`` (when the data set provides it) as the question. The
result is ``{"score": reward, "unscored": 0 or 1}``: verl needs a number, so a
judge failure scores 0.0 and is flagged ``unscored = 1`` (verl logs extra keys per
sample; :func:`rlvr_bench.training.rewards.protocol_rewards`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judging import judge_triples
from rlvr_bench.training.rewards import REWARD_MODES, protocol_rewards

_JUDGES: dict[str, Judge] = {}
_LOCK = threading.Lock()


def _settings(judge: str | None, mode: str | None) -> tuple[str, str]:
    name = judge or os.environ.get("RLVR_BENCH_JUDGE")
    if not name:
        raise ConfigError("no judge for the verl reward: pass reward_kwargs.judge or set RLVR_BENCH_JUDGE")
    chosen_mode = mode or os.environ.get("RLVR_BENCH_REWARD_MODE", "binary")
    if chosen_mode not in REWARD_MODES:
        raise ConfigError(f"reward mode must be one of {', '.join(REWARD_MODES)}, got {chosen_mode!r}")
    return name, chosen_mode


def _judge(name: str) -> Judge:
    """One judge instance per process (a model judge loads its weights once)."""
    with _LOCK:
        if name not in _JUDGES:
            from rlvr_bench.judges.registry import judge

            _JUDGES[name] = judge(name)
        return _JUDGES[name]


def _question(extra_info: Any) -> str:
    return str(extra_info.get("question", "")) if isinstance(extra_info, dict) else ""


def _scores_from_server(url: str, questions: Sequence[str], solutions: Sequence[str], references: Sequence[str]
                        ) -> list[dict[str, float]]:
    """The same request OpenRLHF sends (query = prompt + response), with the question as the prompt,
    so the server judges the same triple as a local judge would (its own judge and mode apply)."""
    import httpx

    body = {"query": [q + s for q, s in zip(questions, solutions, strict=True)], "prompts": list(questions),
            "labels": list(references)}
    reply = httpx.post(url, json=body, timeout=180.0)
    reply.raise_for_status()
    data = reply.json()
    return [{"score": float(r), "unscored": float(u)} for r, u in zip(data["rewards"], data["extra_logs"]["unscored"],
                                                                     strict=True)]


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Any] | None = None, judge: str | None = None, mode: str | None = None,
                        url: str | None = None, **_: Any) -> list[dict[str, float]]:
    """Scores for a batch (verl's ``BatchRewardManager`` signature)."""
    del data_sources  # one judge for every source; route sources to different judges in verl if needed
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    questions = [_question(info) for info in infos]
    references = [str(g) for g in ground_truths]
    server = url or os.environ.get("RLVR_BENCH_REWARD_URL")
    if server:
        return _scores_from_server(server, questions, solution_strs, references)
    name, chosen_mode = _settings(judge, mode)
    triples = [Triple(q, ref, solution) for q, ref, solution in zip(questions, references, solution_strs, strict=True)]
    rewards, unscored = protocol_rewards(judge_triples(_judge(name), triples), chosen_mode)
    return [{"score": reward, "unscored": flag} for reward, flag in zip(rewards, unscored, strict=True)]


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  judge: str | None = None, mode: str | None = None, url: str | None = None,
                  **kwargs: Any) -> dict[str, float]:
    """verl's ``custom_reward_function`` signature: one response, one score."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], judge, mode, url,
                               **kwargs)[0]
