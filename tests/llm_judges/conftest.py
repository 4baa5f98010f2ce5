"""Shared fixtures for the model-judge tests.

The tiny judge (a 2-layer YES/NO verifier trained on CPU, about 30 s) is built
once: into the project's default model cache, so later sessions reuse it
(``RLVR_BENCH_CACHE`` set by the caller wins). Each test that runs judges gets
its own empty cache folder (``llm_env``) in which ``models/tiny-judge`` links to
that build, so judgment caches never leak between tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_judge_path() -> Path:
    from rlvr_bench.judges.tiny_judge import ensure_tiny_judge

    return ensure_tiny_judge()


@pytest.fixture()
def llm_env(tmp_path: Path, tiny_judge_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh RLVR_BENCH_CACHE for this test, holding a link to the session's tiny judge."""
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "tiny-judge").symlink_to(tiny_judge_path, target_is_directory=True)
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def tiny_hf_judge(tiny_judge_path: Path) -> object:
    """The `tiny` preset built once (hf backend, cpu)."""
    from rlvr_bench.judges.base import JudgeSpec
    from rlvr_bench.judges.hf_backend import HFJudge

    spec = JudgeSpec("tiny", "hf", params={"model": str(tiny_judge_path), "prompt": "verifier", "device": "cpu",
                                           "dtype": "float32", "batch_size": 16, "threads": 1})
    return HFJudge(spec)


@pytest.fixture(scope="session")
def judge_server(tiny_judge_path: Path) -> Iterator[object]:
    """serve-judge on 127.0.0.1 (a free port) serving the tiny judge as model "tiny"."""
    from rlvr_bench.serve_judge import JudgeServer, JudgeService

    server = JudgeServer(JudgeService(str(tiny_judge_path), served_name="tiny", device="cpu", dtype="float32",
                                      threads=1))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The converted SmolLM2-135M-Instruct checkpoint. `make test` installs and converts it first, so a
    missing model is an error here (ConfigError saying what to run), never a skip."""
    from rlvr_bench.checkpoints import resolve_checkpoint

    return Path(resolve_checkpoint("smollm2"))


@pytest.fixture(scope="session")
def smollm2_judge(smollm2_path: Path) -> object:
    """The `smollm2` preset's model in float32 (exact comparisons), 2 threads."""
    from rlvr_bench.judges.base import JudgeSpec
    from rlvr_bench.judges.hf_backend import HFJudge

    spec = JudgeSpec("smollm2", "hf", params={"model": str(smollm2_path), "prompt": "verifier", "device": "cpu",
                                              "dtype": "float32", "batch_size": 8})
    return HFJudge(spec)


@pytest.fixture()
def smollm2_env(tmp_path: Path, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh RLVR_BENCH_CACHE (empty judgment cache) whose models/smollm2 links to the converted model."""
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "smollm2").symlink_to(smollm2_path, target_is_directory=True)
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(cache))
    return cache
