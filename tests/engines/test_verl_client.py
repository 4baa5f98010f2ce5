"""verl 0.9.1's own reward path (main_ppo config -> load_reward_manager -> NaiveRewardManager.run_single, sync
reward functions in the event loop's thread pool) on the rlvr-bench adapter, locally and through `serve`.

Defects of issue 14 covered here: (4) the documented config key was ignored by main_ppo; (5) the documented
`batch` reward manager does not exist; (6) list ground truths were stringified; (7) model judges called
from verl's thread pool at once; (8) the `url:` mode dropped the mode and made one request without retry.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from engine_clients import (
    TEMPLATES,
    doc_blocks,
    run_verl_samples,
    shell_commands,
    template_tokenizer,
    verl_cli_config,
    verl_config,
    verl_sample,
)
from probe_judges import SlowJudge

import rlvr_bench.judges.registry as registry
import rlvr_bench.verl_reward as verl_reward
from rlvr_bench.judges.base import Judge
from rlvr_bench.reward_server import RewardService, RunningServer, start_server

ADAPTER = verl_reward.__file__
TEMPLATE = TEMPLATES[0]
QUESTION = "A patient needs 5 mg/kg and weighs 70 kg. What is the dose in grams?"


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return template_tokenizer(TEMPLATE)


def _config(kwargs: dict[str, Any]) -> Any:
    """The documented verl YAML, with the adapter's real path and these reward_kwargs."""
    block = doc_blocks("yaml", "custom_reward_function")[0]
    documented = yaml.safe_load(block)
    documented["reward"]["custom_reward_function"]["path"] = ADAPTER
    documented["reward"]["custom_reward_function"]["reward_kwargs"] = kwargs
    return verl_config(json.dumps(documented))


def _samples(tokenizer: Any, cases: list[tuple[str, Any]]) -> list[Any]:
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False,
                                           add_generation_prompt=True)
    return [verl_sample(tokenizer, prompt, response, TEMPLATE.stop_texts, truth, {"question": QUESTION})
            for response, truth in cases]


def _scores(results: list[dict[str, Any]]) -> list[float]:
    return [float(r["reward_score"]) for r in results]


def test_the_documented_config_is_what_main_ppo_reads(tokenizer: Any) -> None:
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config = _config({"judge": "numeric"})
    assert get_custom_reward_fn(config) is not None, "verl would not call the adapter with the documented config"
    results = run_verl_samples(config, tokenizer, _samples(tokenizer, [("Final answer: 350 mg\n", "0.35 g"),
                                                                       ("Final answer: 3.5 g\n", "0.35 g")]))
    assert _scores(results) == [1.0, 0.0]
    assert results[0]["reward_extra_info"]["unscored"] == 0.0


def test_the_documented_main_ppo_command_line_parses_and_reaches_the_adapter(tokenizer: Any) -> None:
    commands = [c for block in doc_blocks("bash", "verl.trainer.main_ppo") for c in shell_commands(block)
                if "verl.trainer.main_ppo" in c]
    assert commands, "docs/training.md shows no verl launch command"
    for command in commands:
        overrides = command[command.index("verl.trainer.main_ppo") + 1:]
        config = verl_cli_config(overrides)  # an override naming a key verl does not have raises here
        assert config.reward.custom_reward_function.name == "compute_score"
        config.reward.custom_reward_function.path = ADAPTER  # the docs compute it with $(python -c ...)
        results = run_verl_samples(config, tokenizer, _samples(tokenizer, [("Final answer: 350 mg\n", "0.35 g")]))
        assert _scores(results) == [1.0]


def test_the_documented_reward_manager_exists() -> None:
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    text = "\n".join(doc_blocks("yaml", "custom_reward_function"))
    blocks = doc_blocks("yaml", "reward_manager")
    names = {yaml.safe_load(block)["reward"]["reward_manager"]["name"] for block in blocks}
    assert names and "batch" not in text
    for name in names:
        get_reward_manager_cls(name)  # raises for a manager verl does not have


@pytest.mark.parametrize("truth", [["0.35 g", "350 mg"], np.array(["1 kg", "350 mg"], dtype=object), 42, 0.35,
                                   np.int64(42)])
def test_ground_truths_of_any_type_are_judged(tokenizer: Any, truth: Any) -> None:
    answer = {42: "The answer is 42\n", 0.35: "Final answer: 0.350\n"}.get(truth, "Final answer: 350 mg\n") \
        if not isinstance(truth, (list, np.ndarray)) else "Final answer: 350 mg\n"
    results = run_verl_samples(_config({"judge": "numeric"}), tokenizer, _samples(tokenizer, [(answer, truth)]))
    assert _scores(results) == [1.0] and results[0]["reward_extra_info"]["unscored"] == 0.0


def test_a_null_ground_truth_is_flagged_not_a_crash(tokenizer: Any) -> None:
    results = run_verl_samples(_config({"judge": "numeric"}), tokenizer,
                               _samples(tokenizer, [("Final answer: 350 mg\n", None)]))
    assert _scores(results) == [0.0]
    assert results[0]["reward_extra_info"]["unscored"] == 1.0
    assert results[0]["reward_extra_info"]["unscored_label"] == 1.0


@pytest.fixture()
def probe(monkeypatch: pytest.MonkeyPatch) -> SlowJudge:
    """A judge that is not thread-safe and records overlapping calls, served to the adapter under its name."""
    judge = SlowJudge(delay_s=0.05, name="overlap-probe")
    real = registry.judge

    def build(name: str, *args: Any, **kwargs: Any) -> Judge:
        return judge if name == "overlap-probe" else real(name, *args, **kwargs)

    monkeypatch.setattr(registry, "judge", build)
    for cache in ("_BATCHERS", "_JUDGES"):
        if hasattr(verl_reward, cache):
            monkeypatch.setattr(verl_reward, cache, {})
    return judge


def test_model_judges_are_never_called_concurrently_by_verls_thread_pool(tokenizer: Any, probe: SlowJudge) -> None:
    cases = [(f"Final answer: {k}\n", str(k)) for k in range(24)]
    results = run_verl_samples(_config({"judge": "overlap-probe"}), tokenizer, _samples(tokenizer, cases))
    assert _scores(results) == [1.0] * 24
    assert probe.max_overlap == 1, f"{probe.max_overlap} judge calls ran at once"
    assert sum(probe.batch_sizes) == 24 and len(probe.batch_sizes) < 24  # concurrent calls merged into batches


@pytest.fixture()
def probe_server() -> Iterator[tuple[RunningServer, SlowJudge]]:
    judge = SlowJudge()
    running = start_server(RewardService(judge, "binary"))
    yield running, judge
    running.stop()


def test_url_mode_sends_the_question_and_the_mode(tokenizer: Any, probe_server: tuple[RunningServer, SlowJudge]
                                                  ) -> None:
    server, judge = probe_server
    config = _config({"url": f"{server.url}/get_reward", "mode": "soft"})
    results = run_verl_samples(config, tokenizer, _samples(tokenizer, [("Final answer: 350 mg\n", "350 mg"),
                                                                       ("Final answer: 0\n", ["1", "350 mg"])]))
    assert _scores(results) == [0.8, 0.1]  # the probe's soft scores: the mode reached the server
    assert {t.question for t in judge.seen} == {QUESTION}
    # verl's reward loop sends the samples concurrently, so the server sees them in any order
    assert sorted(t.final_step for t in judge.seen) == ["Final answer: 0", "Final answer: 0", "Final answer: 350 mg"]


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` POSTs, then forwards to the real server."""

    failures = 2
    target = ""
    seen = 0

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen += 1
        if type(self).seen <= self.failures:
            status, payload = 503, b"{}"
        else:
            reply = httpx.post(self.target, content=body, headers={"Content-Type": "application/json"})
            status, payload = reply.status_code, reply.content
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def test_url_mode_retries_with_bounded_backoff(probe_server: tuple[RunningServer, SlowJudge],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = probe_server
    handler = type("Flaky", (_Flaky,), {"target": f"{server.url}/get_reward", "seen": 0})
    front = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=front.serve_forever, daemon=True).start()
    monkeypatch.setattr(verl_reward, "SERVER_BACKOFF_FIRST_S", 0.05, raising=False)
    try:
        url = f"http://127.0.0.1:{front.server_address[1]}/get_reward"
        assert verl_reward.compute_score("s", "x\n7", "7", {"question": "Q"}, url=url)["score"] == 1.0
        assert handler.seen == 3
    finally:
        front.shutdown()
        front.server_close()
    # a server that stays down: the bounded retries end in a flagged fallback, not a crash
    monkeypatch.setattr(verl_reward, "SERVER_ATTEMPTS", 3, raising=False)
    down = verl_reward.compute_score("s", "x\n7", "7", None, url=url)
    assert down["score"] == 0.0 and down["unscored"] == 1.0
