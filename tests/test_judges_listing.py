"""`rlvr-bench judges` tells the truth, and a checkpoint the hub cannot give fails in one line, fast.

"The hub cannot be reached" is made real and local: ``HF_ENDPOINT`` points at a port on 127.0.0.1
where nothing listens (connection refused at once), or at a socket that accepts and never answers
(the probe's timeout). ``HF_HUB_OFFLINE`` is unset, as on a user's machine without hub access.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import run_main


@pytest.fixture()
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed when the block ends: nothing listens there


@pytest.fixture()
def silent_server() -> Iterator[int]:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


@pytest.fixture()
def no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port: int) -> str:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "OPENAI_API_KEY", "RM7B_BASE_URL", "QWEN72B_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    endpoint = f"http://127.0.0.1:{closed_port}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    return endpoint


def test_judges_says_rm7b_is_not_available_and_why(no_hub: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run_main(["judges", "--json"], capsys)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(stdout)["judges"]}
    for name in ("rm7b", "general-verifier", "compass-verifier", "cascade-rules-rm7b"):
        assert rows[name]["available"] is False, name
        assert f"the hub ({no_hub}) cannot be reached" in rows[name]["reason"], rows[name]["reason"]
    assert rows["gpt4o"]["available"] is False and "OPENAI_API_KEY" in rows["gpt4o"]["reason"]
    # the offline judges run here; "in the default set" is a separate fact (tiny runs offline, is not in it)
    for name in ("exact", "contains", "numeric", "tiny", "choice", "auto"):
        assert rows[name]["available"] is True, rows[name]["reason"]
    assert rows["exact"]["default_set"] is True and rows["tiny"]["default_set"] is False


def test_the_judges_table_shows_brackets_and_the_default_set_column(no_hub: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run_main(["judges"], capsys)
    assert code == 0, err
    flat = " ".join(stdout.split())  # the table wraps long cells
    assert "in default set" in flat
    assert "rlvr-bench[vllm]" in flat  # rich markup would have swallowed [vllm]
    assert "cannot be reached" in flat


def test_an_endpoint_judge_whose_endpoint_does_not_answer_is_not_available(
        no_hub: str, closed_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RM7B_BASE_URL", f"http://127.0.0.1:{closed_port}/v1")
    code, stdout, err = run_main(["judges", "--json"], capsys)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(stdout)["judges"]}
    assert rows["rm7b-endpoint"]["available"] is False
    assert f"the endpoint http://127.0.0.1:{closed_port}/v1 does not answer" in rows["rm7b-endpoint"]["reason"]


@pytest.mark.parametrize("hub", ["refused", "silent"])
def test_a_missing_checkpoint_is_one_line_within_seconds(hub: str, no_hub: str, silent_server: int,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    if hub == "silent":
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent_server}")
    out = tmp_path / "run"
    began = time.monotonic()
    code, _, err = run_main(["agreement", "--judges", "rm7b,exact", "--out", str(out)], capsys)
    elapsed = time.monotonic() - began
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: judge 'rm7b' needs checkpoint virtuoussy/Qwen2.5-7B-Instruct-RLVR: not in "
                               "the local Hugging Face cache and the hub (http://127.0.0.1:")
    assert elapsed < 10, elapsed  # huggingface_hub's own retries took 31-52 s
    assert not out.exists()


def test_a_hub_policy_that_cannot_be_had_is_one_line_within_seconds(no_hub: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    code, _, err = run_main(["eval", "--policy", "base=Qwen/Qwen2.5-7B-Instruct", "--judges", "exact",
                             "--out", str(tmp_path / "run")], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "policy 'base': Qwen/Qwen2.5-7B-Instruct is not in the local Hugging Face cache" in lines[0]
    assert time.monotonic() - began < 10


def test_with_hf_hub_offline_the_reason_names_it(no_hub: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run_main(["agreement", "--judges", "rm7b,exact", "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert "not in the local Hugging Face cache and HF_HUB_OFFLINE=1" in err


def test_a_cached_checkpoint_needs_no_hub(no_hub: str, tmp_path: Path) -> None:
    from rlvr_bench.checkpoints import hub_checkpoint_problem

    snapshot = tmp_path / "empty-hub-cache" / "models--someone--model" / "snapshots" / "abc123"
    assert hub_checkpoint_problem("someone/model") is not None
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert hub_checkpoint_problem("someone/model") is None


def test_the_hub_is_probed_once_per_process(no_hub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from rlvr_bench import checkpoints

    calls: list[str] = []
    real_head = httpx.head

    def counting_head(url: str, **kwargs: object) -> httpx.Response:
        calls.append(url)
        return real_head(url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx, "head", counting_head)
    monkeypatch.setenv("HF_ENDPOINT", no_hub + "/probe-once")  # a URL no other test probed (the cache is per URL)
    for _ in range(3):
        assert checkpoints.hub_problem() is not None
    assert len(calls) == 1
