"""Judge presets (``judges/*.yaml``) and the backends that implement them.

A preset is data: a backend name and its parameters. A backend is a class,
imported lazily so that optional SDKs (openai, vllm) load only when chosen.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.assets import asset_dir
from rlvr_bench.errors import ConfigError, InputError, unknown_name
from rlvr_bench.judges.base import Judge, JudgeSpec
from rlvr_bench.records import read_yaml_mapping

#: backend name -> "module:Class"; the class takes a JudgeSpec and has a
#: classmethod ``check(spec) -> str | None`` giving the reason it cannot run.
BACKENDS: dict[str, str] = {
    "exact": "rlvr_bench.judges.rules:ExactJudge",
    "contains": "rlvr_bench.judges.rules:ContainsJudge",
    "jaccard": "rlvr_bench.judges.rules:JaccardJudge",
    "math": "rlvr_bench.judges.math_judge:MathJudge",
    "numeric": "rlvr_bench.judges.numeric:NumericJudge",
    "choice": "rlvr_bench.judges.choice:ChoiceJudge",
    "embed": "rlvr_bench.judges.embed:EmbeddingJudge",
    "minilm-classifier": "rlvr_bench.judges.minilm_classifier:MiniLMClassifierJudge",
    "cascade": "rlvr_bench.judges.composite:CascadeJudge",
    "majority": "rlvr_bench.judges.composite:MajorityJudge",
    "router": "rlvr_bench.judges.router:RouterJudge",
    "column": "rlvr_bench.judges.recorded:RecordedJudge",
    "hf": "rlvr_bench.judges.hf_backend:HFJudge",
    "openai": "rlvr_bench.judges.openai_backend:OpenAIJudge",
    "vllm": "rlvr_bench.judges.vllm_backend:VLLMJudge",
}


@dataclass(frozen=True)
class Preset:
    spec: JudgeSpec
    #: True when the judge needs nothing beyond this machine (no key, no server)
    offline: bool


def _load_preset(path: Path) -> Preset:
    data = read_yaml_mapping(path, "a judge preset")
    if "backend" not in data:
        raise InputError(f"{path}: missing field 'backend'")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise InputError(f"{path}: field 'params' must be a mapping")
    _refuse_literal_keys(path, params)
    spec = JudgeSpec(
        name=str(data.get("name", path.stem)),
        backend=str(data["backend"]),
        description=str(data.get("description", "")),
        params=params,
        source=path,
    )
    return Preset(spec=spec, offline=bool(data.get("offline", False)))


#: parameter names that would hold a secret; a preset names the variable instead (``api_key_env``)
_SECRET_PARAMS = ("api_key", "key", "token", "secret", "password", "authorization")


def _refuse_literal_keys(path: Path, params: dict[str, Any]) -> None:
    """A preset is shared, versioned and copied into run configs and reports: it must not hold a key."""
    from rlvr_bench.secrets import looks_like_a_key

    for name, value in params.items():
        if not isinstance(value, str) or name.endswith("_env"):
            continue
        if name.lower() in _SECRET_PARAMS or looks_like_a_key(value):
            raise InputError(f"{path}: field 'params.{name}' holds a key; put it in an environment variable and "
                             "name that variable with api_key_env (e.g. api_key_env: MY_API_KEY)")


def preset_paths() -> dict[str, Path]:
    """Bundled preset name -> YAML path."""
    folder = asset_dir("judges")
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def list_presets() -> list[Preset]:
    return [_load_preset(path) for path in preset_paths().values()]


def resolve_preset(name_or_path: str) -> Preset:
    """A bundled preset by name, the user's own preset file by path, or ``column:NAME`` (verdicts the
    data file already holds, :mod:`rlvr_bench.judges.recorded`)."""
    if name_or_path.startswith("column:"):
        from rlvr_bench.judges.recorded import recorded_spec

        return Preset(spec=recorded_spec(name_or_path), offline=True)
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return _load_preset(candidate)
    paths = preset_paths()
    if name_or_path not in paths:
        raise unknown_name("judge", name_or_path, paths)
    return _load_preset(paths[name_or_path])


def offline_presets() -> list[str]:
    return [preset.spec.name for preset in list_presets() if preset.offline]


def _backend_class(spec: JudgeSpec) -> Any:
    target = BACKENDS.get(spec.backend)
    if target is None:
        where = f" ({spec.source})" if spec.source else ""
        raise ConfigError(
            f"judge {spec.name!r}{where} needs backend {spec.backend!r}, which is not available; "
            f"available backends: {', '.join(sorted(BACKENDS))}"
        )
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def availability(spec: JudgeSpec) -> str | None:
    """None when the judge can run here, else a one-line reason saying what to set."""
    try:
        cls = _backend_class(spec)
    except ConfigError as exc:
        return str(exc)
    problem = parameter_problem(spec)
    if problem is not None:
        return problem
    reason: str | None = cls.check(spec)
    return reason


def parameter_problem(spec: JudgeSpec) -> str | None:
    """A preset parameter that is wrong wherever the judge runs (a mistyped number), else None; unlike a
    missing key or GPU, this makes a recipe invalid even where the judge is not meant to run."""
    from rlvr_bench.judges.model_judge import ModelJudge, param_problem

    cls = _backend_class(spec)
    return param_problem(spec) if isinstance(cls, type) and issubclass(cls, ModelJudge) else None


def build_judge(spec: JudgeSpec) -> Judge:
    """Instantiate a judge, raising ConfigError (one line) when it cannot run here."""
    reason = availability(spec)
    if reason is not None:
        raise ConfigError(reason)
    judge: Judge = _backend_class(spec)(spec)
    return judge


def judge(name_or_path: str) -> Judge:
    """The judge a preset name or preset file describes, built and ready (ConfigError when it cannot run)."""
    return build_judge(resolve_preset(name_or_path).spec)


def build_judges(names: list[str]) -> list[Judge]:
    """Resolve and check *every* judge before building any, so no work starts on a bad list."""
    specs = [resolve_preset(name).spec for name in names]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"judge {spec.name!r} is listed twice")
        seen.add(spec.name)
        reason = availability(spec)
        if reason is not None:
            raise ConfigError(reason)
    return [build_judge(spec) for spec in specs]
