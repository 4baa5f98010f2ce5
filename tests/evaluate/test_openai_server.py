"""A real OpenAI-compatible policy server (`transformers serve`) on 127.0.0.1 as an eval policy (slow)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rlvr_bench.pipelines.evaluate import evaluate
from rlvr_bench.prompting import GenerationOverrides

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served_policy(memorizing_policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = Path(sys.executable).with_name("transformers")
    if not executable.exists():
        pytest.skip("transformers CLI not installed")
    port = _free_port()
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([str(executable), "serve", str(memorizing_policy), "--host", "127.0.0.1", "--port",
                               str(port), "--device", "cpu", "--dtype", "float32"], stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"transformers serve did not start (exit {server.poll()}); see {log.name}")
            time.sleep(0.5)
        yield f"{url}/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_served_policy_answers_like_the_local_one(served_policy: str, memorizing_policy: Path) -> None:
    result = evaluate([f"served=openai:{memorizing_policy}@{served_policy}", f"local={memorizing_policy}"],
                      ["contains"], task="starter", limit=8, generation=GenerationOverrides(max_new_tokens=24),
                      n_bootstrap=100, write=False, concurrency=2)
    texts: dict[str, dict[str, str]] = {"served": {}, "local": {}}
    for response in result.responses:
        assert "error" not in response.metadata, response.metadata
        texts[response.source][response.item_id] = response.text
    # the server renders the same chat template and decodes greedily: the same answers
    assert texts["served"] == texts["local"] and len(texts["served"]) == 8
    assert result.accuracy("served") == result.accuracy("local")
    served = next(r for r in result.responses if r.source == "served")
    assert served.metadata["prompt_tokens"] > 0 and served.metadata["finish_reason"] == "stop"
