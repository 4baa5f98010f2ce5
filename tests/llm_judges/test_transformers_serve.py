"""The openai backend against `transformers serve`, a real server that ignores `logprobs`.

The verdict then comes from the output text alone: same pass/fail as the local
hf backend (both greedy on the same model), ``p_pass=None`` and a note saying why.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm_judge_helpers import synthetic_triples

from rlvr_bench.judges.base import JudgeSpec
from rlvr_bench.judges.openai_backend import OpenAIJudge

TRANSFORMERS_CLI = Path(sys.executable).parent / "transformers"  # the CLI installed next to this python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def transformers_server(tiny_judge_path: Path) -> Iterator[str]:
    cli = str(TRANSFORMERS_CLI) if TRANSFORMERS_CLI.exists() else shutil.which("transformers")
    if cli is None:
        pytest.skip("the transformers CLI is not installed")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        pytest.skip('transformers serve needs pip install "transformers[serving]"')
    port = free_port()
    process = subprocess.Popen([cli, "serve", str(tiny_judge_path), "--host", "127.0.0.1", "--port", str(port),
                                "--device", "cpu"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited: {process.stderr.read() if process.stderr else ''}")
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("transformers serve did not come up within 120 s")
        yield base + "/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_a_server_without_logprobs_still_gives_text_verdicts(transformers_server: str, tiny_hf_judge: Any,
                                                             tiny_judge_path: Path) -> None:
    spec = JudgeSpec("tf-serve", "openai", params={"model": str(tiny_judge_path), "base_url": transformers_server,
                                                   "api_key_required": False, "concurrency": 4, "timeout_s": 60})
    triples = synthetic_triples(6, seed=4)
    remote = OpenAIJudge(spec).judge_batch(triples)
    local = tiny_hf_judge.judge_batch(triples)
    for there, here in zip(remote, local, strict=True):
        assert there.p_pass is None
        assert there.error == "no soft score: the server returned no log-probabilities"
        assert (there.passed, there.raw) == (here.passed, here.raw)
        assert there.prompt_tokens == here.prompt_tokens
