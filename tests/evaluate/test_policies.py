"""`--policy` specs: parsing, the checks that run before any work, and imported responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr_bench.errors import ConfigError, InputError, UserError
from rlvr_bench.policies import check_policy, parse_policy_spec, parse_policy_specs, read_policy_responses
from rlvr_bench.tasks import load_task


@pytest.mark.parametrize(("text", "name", "backend", "target", "base_url"), [
    ("runs/train/final", "final", "hf", "runs/train/final", None),
    ("./ckpt/", "ckpt", "hf", "./ckpt/", None),
    ("Qwen/Qwen2.5-7B-Instruct", "Qwen2.5-7B-Instruct", "hf", "Qwen/Qwen2.5-7B-Instruct", None),
    ("base=hf:Qwen/Qwen2.5-7B", "base", "hf", "Qwen/Qwen2.5-7B", None),
    ("openai:gpt-4o-mini", "gpt-4o-mini", "openai", "gpt-4o-mini", None),
    ("openai:Qwen/Qwen2.5-72B-Instruct@http://127.0.0.1:8000/v1", "Qwen2.5-72B-Instruct", "openai",
     "Qwen/Qwen2.5-72B-Instruct", "http://127.0.0.1:8000/v1"),
    ("rl=openai:policy@POLICY_URL", "rl", "openai", "policy", "POLICY_URL"),
    ("vllm:/models/rl-7b", "rl-7b", "vllm", "/models/rl-7b", None),
    ("responses:out/qwen72b.jsonl", "qwen72b", "responses", "out/qwen72b.jsonl", None),
    ("responses:out/answers.jsonl:qwen-72b", "qwen-72b", "responses", "out/answers.jsonl", None),
    ("big=responses:out/answers.jsonl", "big", "responses", "out/answers.jsonl", None),
])
def test_spec_grammar(text: str, name: str, backend: str, target: str, base_url: str | None) -> None:
    spec = parse_policy_spec(text)
    assert (spec.name, spec.backend, spec.target, spec.base_url, spec.raw) == (name, backend, target, base_url, text)


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty policy spec"),
    ("openai:", "nothing after 'openai:'"),
    ("openai:model@", "openai:MODEL@URL"),
    ("openai:model@not a url", "neither an http"),
])
def test_malformed_specs(text: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        parse_policy_spec(text)


def test_duplicate_names_must_be_disambiguated() -> None:
    with pytest.raises(UserError, match="name them with NAME=SPEC"):
        parse_policy_specs(["a/final", "b/final"])
    assert [s.name for s in parse_policy_specs(["x=a/final", "y=b/final"])] == ["x", "y"]


def test_checks_name_what_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="model folder not found"):
        check_policy(parse_policy_spec(str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        check_policy(parse_policy_spec(str(tmp_path / "empty")))
    # a hub id that is not cached cannot be fetched offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="nobody/no-such-model is not in the local Hugging Face cache"):
        check_policy(parse_policy_spec("nobody/no-such-model"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        check_policy(parse_policy_spec("openai:gpt-4o-mini"))
    monkeypatch.delenv("POLICY_URL", raising=False)
    with pytest.raises(ConfigError, match="set POLICY_URL"):
        check_policy(parse_policy_spec("openai:m@POLICY_URL"))
    monkeypatch.setenv("POLICY_URL", "http://127.0.0.1:9/v1")
    check_policy(parse_policy_spec("openai:m@POLICY_URL"))  # a local server needs no key
    with pytest.raises(InputError, match="responses file not found"):
        check_policy(parse_policy_spec(f"responses:{tmp_path / 'none.jsonl'}"))


def test_vllm_is_optional() -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(ConfigError, match=r"pip install 'rlvr-bench\[vllm\]'"):
        check_policy(parse_policy_spec("vllm:/models/x"))


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_imported_responses_become_samples(tmp_path: Path) -> None:
    items = load_task("starter").items
    file = _write(tmp_path / "big.jsonl", [
        {"item_id": items[0].id, "text": "Therefore, the answer is 450 mg.", "id": "x1"},
        {"item_id": items[0].id, "text": "Therefore, the answer is 45 mg."},
        {"item_id": items[1].id, "text": "A statin."},
    ])
    responses = read_policy_responses(parse_policy_spec(f"responses:{file}"), items)
    assert [r.id for r in responses] == [f"big/{items[0].id}/0", f"big/{items[0].id}/1", f"big/{items[1].id}/0"]
    assert [r.metadata["sample"] for r in responses] == [0, 1, 0]
    assert responses[0].metadata["original_id"] == "x1" and responses[0].source == "big"


@pytest.mark.parametrize(("row", "fragment"), [
    ({"item_id": "nope", "text": "x"}, ":2: field 'item_id': unknown item 'nope' (in test)"),
    ({"text": "x"}, ":2: missing field 'item_id'"),
    ({"item_id": "starter-med-01"}, ":2: missing field 'text'"),
    ({"item_id": "starter-med-01", "text": 3}, ":2: field 'text' must be str, got int"),
])
def test_bad_imported_rows(tmp_path: Path, row: dict[str, object], fragment: str) -> None:
    file = _write(tmp_path / "r.jsonl", [{"item_id": "starter-med-01", "text": "ok"}, row])
    with pytest.raises(InputError) as caught:
        read_policy_responses(parse_policy_spec(f"responses:{file}"), load_task("starter").items, " (in test)")
    assert str(caught.value) == f"{file}{fragment}"
