"""The bad-input battery: generated bad files and values against the real entry point (``rlvr-bench``).

Every case must end with exit code 2 and exactly one line on stderr, ``error: ...``, naming the
file (and line and field, where there is one) or the option; no traceback; the input files
byte-identical; nothing left behind next to ``--out``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from rlvr_bench.cli import main
from rlvr_bench.tasks import resolve_task_folder

TRIPLE = {"question": "What is 2 + 2?", "reference": "4", "response": "The answer is 4.", "label": True}


def _jsonl(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _copy_task(root: Path) -> Path:
    """The bundled starter task copied under ``root/starter`` (files only, so they can be mutated)."""
    source = resolve_task_folder("starter")
    folder = root / "starter"
    folder.mkdir()
    for path in source.iterdir():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join(f'*a{i - 1}' for _ in range(9))}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    """``make(root)`` writes the bad input under ``root`` and returns the command's arguments."""

    name: str
    make: Callable[[Path], list[str]]
    #: a fragment of the one error line
    expected: str


def _data(content: bytes, suffix: str = ".jsonl") -> Callable[[Path], list[str]]:
    def make(root: Path) -> list[str]:
        path = root / f"data{suffix}"
        path.write_bytes(content)
        return ["agreement", "--data", str(path), "--judges", "exact,contains", "--bootstrap", "0"]
    return make


def _task(mutate: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def make(root: Path) -> list[str]:
        folder = _copy_task(root)
        mutate(folder)
        return ["agreement", "--task", str(folder), "--judges", "exact,contains", "--bootstrap", "0"]
    return make


def _preset(text: str) -> Callable[[Path], list[str]]:
    def make(root: Path) -> list[str]:
        path = root / "mine.yaml"
        path.write_text(text, encoding="utf-8")
        return ["agreement", "--judges", f"exact,{path}", "--bootstrap", "0"]
    return make


def _run_with_judgments(line: dict[str, object]) -> Callable[[Path], list[str]]:
    def make(root: Path) -> list[str]:
        run = root / "run"
        assert main_quiet(["agreement", "--judges", "exact,contains", "--bootstrap", "0", "--out", str(run)]) == 0
        lines = (run / "judgments.jsonl").read_text(encoding="utf-8").splitlines()
        lines[1] = json.dumps({**json.loads(lines[1]), **line})
        (run / "judgments.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return ["report", str(run), "-o", str(root / "report.html")]
    return make


def main_quiet(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _append_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(path.read_bytes() + data)


CASES = [
    Case("jsonl invalid utf-8",
         _data(_jsonl([TRIPLE]) + b'{"question": "caf\xe9", "reference": "4", "response": "4"}\n'),
         "data.jsonl:2: not valid UTF-8"),
    Case("csv invalid utf-8", _data(b"question,reference,response\nWhat?,4,caf\xe9\n", ".csv"), "not valid UTF-8"),
    Case("lone surrogate", _data(b'{"question": "q", "reference": "4", "response": "\\ud800"}\n'),
         "data.jsonl:1: field 'response': text holds a lone surrogate"),
    Case("NaN reference", _data(b'{"question": "q", "reference": NaN, "response": "4"}\n'),
         "data.jsonl:1: NaN is not a JSON number"),
    Case("Infinity in metadata", _data(b'{"question": "q", "reference": "4", "response": "4", "x": {"y": Infinity}}\n'),
         "data.jsonl:1: Infinity is not a JSON number"),
    Case("deeply nested line", _data(b'{"question": "q", "reference": "4", "response": "4", "m": '
                                     + b"[" * 5000 + b"]" * 5000 + b"}\n"), "data.jsonl:1: JSON nested too deeply"),
    Case("csv another delimiter", _data(b"question;reference;response\nHow much, in total?;4;It is 4, I think\n",
                                        ".csv"), "data.csv:2: 3 fields, but the header has 1"),
    Case("ragged csv", _data(b"question,reference,response\nWhat?,4,four,extra\n", ".csv"),
         "data.csv:2: 4 fields, but the header has 3"),
    Case("response is a list", _data(_jsonl([{**TRIPLE, "response": ["6"]}])),
         "data.jsonl:1: field 'response' must be text, got list"),
    Case("id is a list", _data(_jsonl([{**TRIPLE, "id": [1]}])), "data.jsonl:1: field 'id' must be text, got list"),
    Case("domain is an object", _data(_jsonl([{**TRIPLE, "domain": {"a": 1}}])),
         "data.jsonl:1: field 'domain' must be text, got dict"),
    Case("null response", _data(_jsonl([{**TRIPLE, "response": None}])), "data.jsonl:1: field 'response' is null"),
    Case("task items invalid utf-8", _task(lambda f: _append_bytes(f / "items.jsonl", b'{"id": "\xff"}\n')),
         "items.jsonl:25: not valid UTF-8"),
    Case("task responses lone surrogate", _task(lambda f: _append_bytes(
        f / "responses.jsonl", b'{"id": "x", "item_id": "starter-med-01", "text": "\\udfff"}\n')),
         "responses.jsonl:73: field 'text': text holds a lone surrogate"),
    Case("task.yaml alias bomb", _task(lambda f: _append_bytes(f / "task.yaml", _alias_bomb().encode())),
         "task.yaml:14: YAML aliases (*name) are not supported"),
    Case("task.yaml over 1 MiB", _task(lambda f: _append_bytes(f / "task.yaml", b"# padding\n" * 120_000)),
         "task.yaml: 12"),
    Case("task.yaml invalid utf-8", _task(lambda f: _append_bytes(f / "task.yaml", b"extra: caf\xe9\n")),
         "task.yaml:13: not valid UTF-8"),
    Case("preset alias bomb", _preset("backend: exact\ndescription: x\n" + _alias_bomb()),
         "mine.yaml:4: YAML aliases (*name) are not supported"),
    Case("preset NaN timeout", _preset(yaml.safe_dump({"backend": "exact"}) + "params:\n  timeout_s: .nan\n"),
         "mine.yaml: field 'params.timeout_s': nan is not a usable number"),
    Case("openai preset top_logprobs text", _preset(yaml.safe_dump({"backend": "openai", "params": {
        "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_required": False, "top_logprobs": "abc"}})),
         "parameter 'top_logprobs' must be a whole number, got 'abc'"),
    Case("openai preset concurrency list", _preset(yaml.safe_dump({"backend": "openai", "params": {
        "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_required": False, "concurrency": [1]}})),
         "parameter 'concurrency' must be a whole number, got [1]"),
    Case("hf preset batch size text", _preset(yaml.safe_dump({"backend": "hf", "params": {
        "model": "rlvr-bench:tiny-judge", "batch_size": "x"}})), "parameter 'batch_size' must be a whole number"),
    Case("train dry run with a mistyped reward preset", lambda root: [
        "train", "--recipe", "mini-quick", "--dry-run", "--reward", _preset(yaml.safe_dump({"backend": "openai",
        "params": {"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_required": False,
                   "timeout_s": "soon"}}))(root)[2].split(",")[1] + ":binary"],
         "parameter 'timeout_s' must be a number >= 0, got 'soon'"),
    Case("run judgments latency text", _run_with_judgments({"latency_s": "abc"}),
         "judgments.jsonl:2: field 'latency_s' must be a number of seconds >= 0"),
    Case("run judgments token count", _run_with_judgments({"prompt_tokens": "many"}),
         "judgments.jsonl:2: field 'prompt_tokens' must be a count"),
    Case("batch size 0", lambda root: ["agreement", "--judges", "exact,contains", "--batch-size", "0"], "--batch-size"),
    Case("eval batch size 0", lambda root: ["eval", "--policy", "x", "--judges", "contains", "--batch-size", "0"],
         "--batch-size"),
    Case("serve port out of range", lambda root: ["serve", "--judge", "numeric", "--port", "99999"], "--port"),
    Case("max-unscored over 1", lambda root: ["verify", "--judges", "exact", "--max-unscored", "2"], "--max-unscored"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_and_exit_2(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a default run directory would appear here
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    argv = case.make(tmp_path)
    capsys.readouterr()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code = main_quiet([*argv, "--out", str(tmp_path / "out")] if argv[0] != "report" else argv)
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    assert case.expected in lines[0], lines[0]
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "cache" not in p.parts}
    assert {p: b for p, b in before.items() if "cache" not in p.parts} == after, "an input changed or a file appeared"
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_a_csv_field_over_128_kib_is_read_like_the_same_jsonl_row(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    long_answer = "x" * 200_000 + "\nThe answer is 4."
    (tmp_path / "data.csv").write_text(f'question,reference,response\nWhat is 2 + 2?,4,"{long_answer}"\n',
                                       encoding="utf-8")
    code = main_quiet(["agreement", "--data", str(tmp_path / "data.csv"), "--judges", "exact,contains",
                       "--bootstrap", "0", "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    responses = (tmp_path / "out" / "responses.jsonl").read_text(encoding="utf-8")
    assert json.loads(responses.splitlines()[0])["text"] == long_answer


def test_an_unusable_judgment_cache_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache file is a folder (what a read-only or broken cache location gives): one line, exit 2."""
    cache = tmp_path / "cache"
    (cache / "judgments.sqlite").mkdir(parents=True)
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(cache))
    preset = tmp_path / "remote.yaml"
    preset.write_text(yaml.safe_dump({"backend": "openai", "params": {
        "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_required": False, "max_retries": 0}}),
        encoding="utf-8")
    code = main_quiet(["agreement", "--judges", f"exact,{preset}", "--bootstrap", "0", "--out", str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith("judging")]
    assert code == 2 and len(lines) == 1 and "cannot use the judgment cache" in lines[0], lines
    assert not (tmp_path / "out").exists()
