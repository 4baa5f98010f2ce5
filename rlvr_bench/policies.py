"""Policy specs: what ``--policy`` accepts, checked before any work, and built into backends.

Grammar (an optional ``NAME=`` prefix names the row in every table; without it
the name is the folder, model or file name):

| spec | backend |
|---|---|
| ``PATH``, ``HUB_ORG/NAME``, ``hf:PATH_OR_ID`` | transformers: local folder or hub id (:class:`HFPolicy`) |
| ``smollm2``, ``FILE.gguf`` | the same: a project checkpoint name or a GGUF file (:mod:`rlvr_bench.checkpoints`) |
| ``openai:MODEL@URL`` | OpenAI-compatible server, e.g. ``http://127.0.0.1:8000/v1`` (vLLM, ``transformers serve``) |
| ``openai:MODEL@ENV_VAR`` | the same, with the URL read from the environment variable ENV_VAR |
| ``openai:MODEL`` | the OpenAI API (or ``OPENAI_BASE_URL``); needs the API key variable |
| ``vllm:PATH_OR_ID`` | vLLM offline inference (optional extra, CUDA) |
| ``responses:FILE.jsonl[:NAME]`` | answers produced elsewhere (see :func:`read_policy_responses`) |

An imported responses file has JSONL rows with ``item_id`` and ``text`` (``id``
optional); several rows for one item are several samples.

The API key is read from the variable named by ``api_key_env`` (default
``OPENAI_API_KEY``) and never written to a run directory; a server at another
URL without a key gets the placeholder key "EMPTY" (what vLLM expects).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.errors import ConfigError, InputError, UserError
from rlvr_bench.generation import HFPolicy, OpenAIPolicy, Policy, VLLMPolicy
from rlvr_bench.records import Item, Response, iter_jsonl

BACKENDS = ("hf", "openai", "vllm", "responses")
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.+\-]*)=(.+)$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class PolicySpec:
    """One ``--policy`` value, parsed (nothing loaded or contacted yet)."""

    name: str
    #: one of :data:`BACKENDS`
    backend: str
    #: model folder / hub id (hf, vllm), served model name (openai) or responses file
    target: str
    #: openai: a literal URL or the name of the variable that holds it; None = the OpenAI API
    base_url: str | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
    #: the spec as given on the command line
    raw: str = ""

    @property
    def generates(self) -> bool:
        """False for imported responses (nothing to generate)."""
        return self.backend != "responses"

    def resolved_base_url(self) -> str | None:
        if self.base_url is None:
            return os.environ.get("OPENAI_BASE_URL") or None
        if self.base_url.startswith(("http://", "https://")):
            return self.base_url
        value = os.environ.get(self.base_url)
        if not value:
            raise ConfigError(f"policy {self.name!r}: set {self.base_url} to the server URL (e.g. http://127.0.0.1:8000/v1)")
        return value

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "backend": self.backend, "target": self.target, "spec": self.raw}
        if self.backend == "openai":
            data["base_url"] = self.base_url
            data["api_key_env"] = self.api_key_env
        return data


def _tail(text: str) -> str:
    return Path(text.rstrip("/")).name or text


def parse_policy_spec(text: str, api_key_env: str = DEFAULT_API_KEY_ENV) -> PolicySpec:
    """Parse one ``--policy`` value (see the module docstring); raises UserError on a malformed spec."""
    raw = text.strip()
    if not raw:
        raise UserError("--policy: empty policy spec")
    name: str | None = None
    body = raw
    match = _NAME.match(raw)
    if match and not raw.startswith(("responses:", "openai:", "hf:", "vllm:")):
        name, body = match.group(1), match.group(2)
    backend, sep, rest = body.partition(":")
    if not sep or backend not in BACKENDS:
        backend, rest = "hf", body
    if not rest:
        raise UserError(f"--policy {raw!r}: nothing after '{backend}:'")
    base_url: str | None = None
    if backend == "responses":
        path, _, suffix = rest.rpartition(":")
        if path and suffix and not suffix.endswith((".jsonl", ".json")) and "/" not in suffix:
            rest, name = path, name or suffix
        target, default_name = rest, Path(rest).stem
    elif backend == "openai":
        model, at, url = rest.partition("@")
        if not model or (at and not url):
            raise UserError(f"--policy {raw!r}: expected openai:MODEL@URL or openai:MODEL@ENV_VAR")
        if at and not url.startswith(("http://", "https://")) and not _ENV_VAR.match(url):
            raise UserError(f"--policy {raw!r}: {url!r} is neither an http(s) URL nor an environment variable name")
        target, base_url, default_name = model, url or None, _tail(model)
    else:
        target, default_name = rest, _tail(rest)
    return PolicySpec(name=name or default_name, backend=backend, target=target, base_url=base_url,
                      api_key_env=api_key_env, raw=raw)


def parse_policy_specs(texts: Sequence[str], api_key_env: str = DEFAULT_API_KEY_ENV) -> list[PolicySpec]:
    """Parse every spec and reject duplicate names (the name keys every table and response id)."""
    specs = [parse_policy_spec(text, api_key_env) for text in texts]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            raise UserError(f"policy name {spec.name!r} is used by {seen[spec.name]!r} and {spec.raw!r}; "
                            f"name them with NAME=SPEC")
        seen[spec.name] = spec.raw
    return specs


def check_hf_model(name: str, model_ref: str) -> None:
    """ConfigError (one line) unless ``model_ref`` is a checkpoint the one loader can use here: a project
    name that is installed (``smollm2``), an existing ``.gguf`` file, a model folder, or a hub id
    transformers can resolve. Nothing is converted or loaded."""
    from rlvr_bench.checkpoints import checkpoint_problem, is_named_or_gguf

    if is_named_or_gguf(model_ref):
        problem = checkpoint_problem(model_ref)
        if problem is not None:
            raise ConfigError(f"policy {name!r}: {problem}")
        return
    path = Path(model_ref).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"policy {name!r}: {model_ref} is not a model folder (no config.json)")
        return
    looks_like_path = model_ref.startswith((".", "/", "~")) or model_ref.count("/") != 1
    if looks_like_path:
        raise ConfigError(f"policy {name!r}: model folder not found: {model_ref}")
    from rlvr_bench.checkpoints import hub_checkpoint_problem

    problem = hub_checkpoint_problem(model_ref)  # before transformers, whose hub retries take 30-50 s
    if problem is not None:
        raise ConfigError(f"policy {name!r}: {model_ref} is {problem}; give a local model folder")
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(model_ref)
    except Exception as exc:  # offline, missing or gated: one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"policy {name!r}: cannot load {model_ref!r} (not a local folder; hub: {first})") from None


def check_policy(spec: PolicySpec) -> None:
    """Raise a one-line UserError when the policy cannot run here (missing folder, key, package)."""
    if spec.backend == "hf":
        check_hf_model(spec.name, spec.target)
    elif spec.backend == "vllm":
        VLLMPolicy.check(spec.name)
    elif spec.backend == "openai":
        base_url = spec.resolved_base_url()
        if base_url is None and not os.environ.get(spec.api_key_env):
            raise ConfigError(f"policy {spec.name!r} uses the OpenAI API: set {spec.api_key_env} "
                              f"(or give a server URL: openai:MODEL@http://host:port/v1)")
    elif spec.backend == "responses" and not Path(spec.target).is_file():
        raise InputError(f"{spec.target}: responses file not found (policy {spec.name!r})")


def build_policy(spec: PolicySpec, batch_size: int = 8, concurrency: int = 8, timeout_s: float = 120.0) -> Policy:
    """The backend for a spec that generates (not ``responses``); call :func:`check_policy` first."""
    if spec.backend == "hf":
        return HFPolicy(spec.name, spec.target, batch_size=batch_size)
    if spec.backend == "vllm":
        return VLLMPolicy(spec.name, spec.target)
    if spec.backend == "openai":
        return OpenAIPolicy(spec.name, spec.target, spec.resolved_base_url(), os.environ.get(spec.api_key_env),
                            concurrency=concurrency, timeout_s=timeout_s)
    raise ValueError(f"policy {spec.name!r} ({spec.backend}) does not generate")


def read_policy_responses(spec: PolicySpec, items: Sequence[Item], where: str = "") -> list[Response]:
    """Responses of an imported policy, as run responses: one per row, ids ``NAME/ITEM/k``.

    Every ``item_id`` must name one of ``items`` (``where`` says which task and split they are, for
    the error); rows for one item are its samples 0, 1, ... in file order.
    """
    path = Path(spec.target)
    known = {item.id for item in items}
    samples: dict[str, int] = {}
    responses: list[Response] = []
    for line_no, obj in iter_jsonl(path):
        at = f"{path}:{line_no}"
        item_id = obj.get("item_id")
        if item_id is None or isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
            raise InputError(f"{at}: missing field 'item_id'" if item_id is None else
                             f"{at}: field 'item_id' must be str or int, got {type(item_id).__name__}")
        item_id = str(item_id)
        if item_id not in known:
            raise InputError(f"{at}: field 'item_id': unknown item {item_id!r}{where}")
        text = obj.get("text")
        if not isinstance(text, str):
            raise InputError(f"{at}: missing field 'text'" if text is None else
                             f"{at}: field 'text' must be str, got {type(text).__name__}")
        k = samples.get(item_id, 0)
        samples[item_id] = k + 1
        metadata: dict[str, Any] = {"policy": spec.name, "sample": k, "imported_from": str(path)}
        if obj.get("id") is not None:
            metadata["original_id"] = str(obj["id"])
        responses.append(Response(id=f"{spec.name}/{item_id}/{k}", item_id=item_id, text=text, source=spec.name,
                                  metadata=metadata))
    if not responses:
        raise InputError(f"{path}: no responses")
    return responses
