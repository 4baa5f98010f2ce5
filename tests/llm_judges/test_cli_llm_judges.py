"""CLI paths of the model judges: offline agreement with the tiny judge, missing keys, cache, serve-judge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, stderr: str) -> str:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_agreement_with_the_tiny_judge_works_offline(llm_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("agreement", "--task", "starter", "--judges", "tiny,exact,embed",
                                   "--bootstrap", "20", "--out", str(out))
    assert code == 0, stderr
    judgments = [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()]
    tiny = [j for j in judgments if j["judge"] == "tiny"]
    assert len(tiny) == 72 and all(j["passed"] is not None for j in tiny)
    assert len({round(j["p_pass"], 4) for j in tiny}) > 10  # a soft score per response
    assert all(j["prompt_tokens"] > 50 and j["completion_tokens"] == 1 for j in tiny)
    # every tiny verdict is now cached (rule judges are not), so a re-run calls no model
    code, stdout, _ = run_cli("cache", "stats")
    assert code == 0 and "tiny" in stdout and "72" in stdout and "exact" not in stdout


@pytest.mark.parametrize(
    ("judges", "env", "fragment"),
    [
        ("gpt4o,exact", {}, "judge 'gpt4o' needs OPENAI_API_KEY: set it in the environment "
                            "(export OPENAI_API_KEY=...)"),
        ("exact,qwen72b", {}, "judge 'qwen72b' needs QWEN72B_BASE_URL: set it to an OpenAI-compatible endpoint"),
        ("exact,rm7b-endpoint", {}, "judge 'rm7b-endpoint' needs RM7B_BASE_URL"),
        ("rm7b,exact", {}, "judge 'rm7b' needs checkpoint virtuoussy/Qwen2.5-7B-Instruct-RLVR: not in the local "
                           "Hugging Face cache and HF_HUB_OFFLINE=1; set params.model to a local path"),
        ("exact,general-verifier", {}, "judge 'general-verifier' needs checkpoint TIGER-Lab/general-verifier"),
        ("qwen72b-vllm,exact", {}, "judge 'qwen72b-vllm' needs vllm (CUDA only)"),
    ],
)
def test_a_missing_key_endpoint_or_checkpoint_is_one_line_and_exit_2(
        judges: str, env: dict[str, str], fragment: str, llm_env: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "QWEN72B_BASE_URL", "RM7B_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    out = tmp_path / "run"
    line = one_line_error(*run_cli("agreement", "--judges", judges, "--out", str(out))[::2])
    assert fragment in line
    assert not out.exists()  # nothing started


def test_cache_clear(llm_env: Path) -> None:
    from rlvr_bench.judges.cache import default_cache
    from rlvr_bench.records import Verdict

    with default_cache() as cache:
        cache.put_many("a", {"k1": Verdict(passed=True, raw="YES"), "k2": Verdict(passed=False, raw="NO")})
        cache.put_many("b", {"k3": Verdict(passed=True, raw="YES")})
    assert run_cli("cache", "clear", "--judges", "a", "--yes")[:2] == (0, "deleted 2 cached verdicts\n")
    assert run_cli("cache", "clear", "--yes")[:2] == (0, "deleted 1 cached verdicts\n")
    code, stdout, _ = run_cli("cache", "stats")
    assert code == 0 and str(llm_env) in stdout.replace("\n", "")


def test_serve_judge_command_serves_openai_chat_with_logprobs(llm_env: Path) -> None:
    import os

    command = [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve-judge", "--port", "0",
               "--served-name", "tiny", "--device", "cpu", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "serving tiny at http://127.0.0.1:PORT/v1"
        assert line.startswith("serving tiny at http://127.0.0.1:"), process.stderr.read() if process.stderr else ""
        base = line.split(" at ")[1].strip()
        assert httpx.get(base.removesuffix("/v1") + "/health").json() == {"status": "ok"}
        assert httpx.get(base + "/models").json()["data"][0]["id"] == "tiny"
        reply = httpx.post(base + "/chat/completions", json={
            "model": "tiny", "messages": [{"role": "user", "content": "Is 2 + 2 = 4?"}], "max_tokens": 1,
            "logprobs": True, "top_logprobs": 5}).json()
        first = reply["choices"][0]["logprobs"]["content"][0]
        assert first["token"] == reply["choices"][0]["message"]["content"]
        assert len(first["top_logprobs"]) == 5 and first["top_logprobs"][0]["logprob"] <= 0
        assert reply["usage"]["completion_tokens"] == 1
        bad = httpx.post(base + "/chat/completions", json={"model": "tiny", "messages": "hello"})
        assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_importing_the_package_and_backends_loads_no_heavy_sdk() -> None:
    code = ("import sys, rlvr_bench, rlvr_bench.cli, rlvr_bench.judging, rlvr_bench.serve_judge\n"
            "import rlvr_bench.judges.openai_backend, rlvr_bench.judges.vllm_backend, rlvr_bench.judges.hf_backend\n"
            "import rlvr_bench.judges.cache, rlvr_bench.judges.tiny_judge, rlvr_bench.cli.llm_judges\n"
            "print(sorted(m for m in ('openai', 'vllm', 'torch', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_api_key_is_written_nowhere(llm_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    from llm_judge_helpers import FaultServer

    secret = f"sk-rlvr-test-{uuid.uuid4().hex}"
    preset = tmp_path / "stub-judge.yaml"
    preset.write_text("backend: openai\nparams:\n  model: stub\n  base_url_env: STUB_BASE_URL\n"
                      "  api_key_env: STUB_KEY\n", encoding="utf-8")
    monkeypatch.setenv("STUB_KEY", secret)
    out = tmp_path / "run"
    with FaultServer() as server:
        monkeypatch.setenv("STUB_BASE_URL", server.base_url)
        code, stdout, stderr = run_cli("agreement", "--task", "starter", "--judges", f"{preset},exact",
                                       "--bootstrap", "10", "--out", str(out))
        assert code == 0, stderr
        assert server.authorizations[0] == f"Bearer {secret}"  # the key was used...
    files = [p for folder in (out, llm_env) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.name == "judgments.sqlite" for p in files) and any(p.name == "config.json" for p in files)
    for path in files:  # ...and written nowhere: run directory, judgment cache (database and WAL)
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in stdout + stderr
    config = json.loads((out / "config.json").read_text())
    assert config["judges"][0]["params"]["api_key_env"] == "STUB_KEY"
