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


def test_a_key_inside_a_response_is_in_no_run_file_and_no_report(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 26, defect 9: a response that prints a key (an ``sk-...`` token, the value of a ``*_API_KEY``
    variable) had it copied raw into judgments.jsonl's ``raw`` (the ``contains`` judge quotes the final
    step) and into report.html."""
    import shutil

    from rlvr_bench.tasks import resolve_task_folder

    value = "corp-internal-7f3a9c2e51"
    monkeypatch.setenv("MY_SERVICE_API_KEY", value)
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    task = tmp_path / "starter"
    shutil.copytree(resolve_task_folder("starter"), task)
    responses = (task / "responses.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(responses[0])
    first["text"] += f"\nTherefore, the answer is 450 mg (keys {KEY} {value})."
    responses[0] = json.dumps(first)
    (task / "responses.jsonl").write_text("\n".join(responses) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = runner.invoke(app, ["agreement", "--task", str(task), "--judges", "exact,contains", "--bootstrap", "0",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.stderr
    assert (out / "report.html").is_file()
    judgments = (out / "judgments.jsonl").read_text(encoding="utf-8")
    assert "found in" in judgments and "***" in judgments  # the verdict is kept, the keys are not
    leaked = [p for p in out.rglob("*") if p.is_file() and (KEY.encode() in p.read_bytes()
                                                            or value.encode() in p.read_bytes())]
    assert leaked == []


def test_redaction_keeps_files_writable_with_a_lone_surrogate() -> None:
    from rlvr_bench.records import Verdict

    written = json.dumps(Verdict(passed=None, raw="x \ud800 y", error=f"bad {KEY}").to_json(), ensure_ascii=False)
    written.encode("utf-8")  # a lone surrogate would make the run file's write fail
    assert KEY not in written and "\\\\ud800" in written
