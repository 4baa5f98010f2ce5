"""A key echoed back by a server never reaches a file: the eval policy path and the judge path both redact."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.secrets import looks_like_a_key, redact

runner = CliRunner()
KEY = "sk-test-0123456789abcdefghijklmnop"


@pytest.fixture()
def echoing_server() -> Iterator[str]:
    """An OpenAI-compatible URL whose every answer is a 401 that echoes the request's headers."""
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"error": {"message": f"invalid key; you sent {dict(self.headers)}",
                                         "type": "invalid_request_error"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _files_hold_key(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]


def test_an_echoed_key_is_in_no_file_of_an_eval_run(echoing_server: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    result = runner.invoke(app, ["eval", "--policy", f"openai:m@{echoing_server}", "--judges", "contains",
                                 "--limit", "3", "--bootstrap", "0", "--max-unscored", "1", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    responses = (out / "responses.jsonl").read_text(encoding="utf-8")
    assert "401" in responses or "invalid key" in responses  # the failure itself is recorded
    assert _files_hold_key(out) == [] and KEY not in result.stdout + result.stderr


def test_an_echoed_key_is_in_no_file_of_a_judge_run(echoing_server: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", KEY)
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    preset = tmp_path / "echo.yaml"
    preset.write_text(yaml.safe_dump({"backend": "openai", "params": {
        "model": "m", "base_url": echoing_server, "api_key_env": "MY_JUDGE_KEY", "max_retries": 0}}),
        encoding="utf-8")
    out = tmp_path / "run"
    result = runner.invoke(app, ["agreement", "--judges", f"exact,{preset}", "--bootstrap", "0",
                                 "--max-unscored", "1", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert _files_hold_key(out) == [] and _files_hold_key(tmp_path / "cache") == []


@pytest.mark.parametrize("text", [f"Authorization: Bearer {KEY}", f"key={KEY}", "hf_abcdefghijklmnopqrstuv",
                                  "ghp_abcdefghijklmnopqrstuvwxyz0123"])
def test_token_shapes_are_redacted(text: str) -> None:
    assert "***" in redact(text) and KEY not in redact(text)


def test_a_preset_with_a_literal_key_is_refused(tmp_path: Path) -> None:
    preset = tmp_path / "literal.yaml"
    preset.write_text(yaml.safe_dump({"backend": "openai", "params": {"model": "m", "api_key": KEY}}),
                      encoding="utf-8")
    result = runner.invoke(app, ["agreement", "--judges", f"exact,{preset}", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "holds a key" in result.stderr and "api_key_env" in result.stderr and KEY not in result.stderr
    assert not (tmp_path / "run").exists()
    assert looks_like_a_key(KEY) and not looks_like_a_key("gpt-4o-2024-08-06")
