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


def verl_triples(solution_strs: Sequence[str], ground_truths: Sequence[Any], extra_infos: Sequence[Any]
                 ) -> list[Triple]:
    """What the judge sees for each sample: the whole solution, the ground truth as the reference, and the
    question, answer type and domain from ``extra_info`` (verl data sets carry the item's fields there)."""
    triples = []
    for solution, truth, info in zip(solution_strs, ground_truths, extra_infos, strict=True):
        fields = info if isinstance(info, dict) else {}
        triples.append(Triple(str(fields.get("question", "")), str(truth), solution,
                              str(fields.get("answer_type") or "text"), str(fields.get("domain") or "")))
    return triples


def _scores_from_server(url: str, triples: Sequence[Triple]) -> list[dict[str, float]]:
    """The request OpenRLHF sends (query = prompt + response), with each label an object carrying the
    item's fields, so the server judges the very triple a local judge would (with its own judge and mode)."""
    import httpx

    body = {"query": [t.response for t in triples], "prompts": [""] * len(triples),
            "labels": [{"reference": t.reference, "question": t.question, "answer_type": t.answer_type,
                        "domain": t.domain} for t in triples]}
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
    triples = verl_triples(solution_strs, ground_truths, infos)
    server = url or os.environ.get("RLVR_BENCH_REWARD_URL")
    if server:
        return _scores_from_server(server, triples)
    name, chosen_mode = _settings(judge, mode)
    rewards, unscored = protocol_rewards(judge_triples(_judge(name), triples), chosen_mode)
    return [{"score": reward, "unscored": flag} for reward, flag in zip(rewards, unscored, strict=True)]


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  judge: str | None = None, mode: str | None = None, url: str | None = None,
                  **kwargs: Any) -> dict[str, float]:
    """verl's ``custom_reward_function`` signature: one response, one score."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], judge, mode, url,
                               **kwargs)[0]
