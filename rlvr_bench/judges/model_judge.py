"""What every generative (model) judge shares, whatever runs the model.

The hf, openai and vllm backends differ only in how they obtain the first
output token and its log-probabilities. Prompt rendering, verdict words, the
judgment-cache key, token usage and cost live here, once.

Preset parameters read here (all optional):

- ``prompt``: template name under ``judges/prompts/`` or a ``.txt`` path (default "verifier");
- ``verdict_words``: ``{positive: [YES], negative: [NO]}`` (default YES / NO);
- ``price_input_per_mtok`` / ``price_output_per_mtok``: US dollars per million
  prompt / completion tokens, for the cost per 1,000 verdicts.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.judges.prompting import PromptTemplate, RenderedPrompt, load_template
from rlvr_bench.judges.verdict_parsing import VerdictWords

#: parameters that change how fast or how robustly a judge runs, never what it says;
#: they are left out of the cache key so that tuning them keeps the cache valid
RUNTIME_PARAMS = frozenset({
    "concurrency", "max_retries", "timeout_s", "backoff_initial_s", "backoff_max_s", "max_retry_after_s",
    "batch_size", "max_batch_tokens", "price_input_per_mtok", "price_output_per_mtok",
    "api_key_env", "base_url_env", "gpu_memory_utilization", "threads", "prefix_reuse",
    # what dtype auto measured (timings vary run to run); the chosen dtype is in HFJudge.model_revision
    "dtype_measured",
})

#: how verdicts are read from a model (part of the cache key): 2 = multi-token verdict words, verdict mass
SCORING_VERSION = 2


def verdict_words_from_params(spec: JudgeSpec) -> VerdictWords:
    raw = spec.params.get("verdict_words")
    if raw is None:
        return VerdictWords()
    where = f"judge {spec.name!r}" + (f" ({spec.source})" if spec.source else "")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: params.verdict_words must be a mapping with 'positive' and 'negative' lists")
    words = {}
    for side in ("positive", "negative"):
        value = raw.get(side)
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(w, str) and w.strip() for w in values):
            raise ConfigError(f"{where}: params.verdict_words.{side} must be a non-empty list of words "
                              f"(quote Yes/No in YAML, which otherwise reads them as booleans)")
        words[side] = tuple(values)
    try:
        return VerdictWords(positive=words["positive"], negative=words["negative"])
    except ValueError as exc:
        raise ConfigError(f"{where}: params.verdict_words: {exc}") from None


@dataclass(frozen=True)
class Usage:
    """Token usage and cost of the verdicts a judge actually computed (cache hits excluded)."""

    verdicts: int
    prompt_tokens: int
    completion_tokens: int
    #: model calls made, including retries (API backends); batches for local backends
    calls: int
    retries: int
    #: US dollars; None when the preset gives no prices (local models)
    cost_usd: float | None
    cost_per_1k_verdicts_usd: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class UsageMeter:
    """Thread-safe running totals behind :class:`Usage`."""

    def __init__(self, price_input_per_mtok: float | None, price_output_per_mtok: float | None) -> None:
        self._prices = (price_input_per_mtok, price_output_per_mtok)
        self._lock = threading.Lock()
        self._verdicts = self._prompt = self._completion = self._calls = self._retries = 0

    def add(self, verdicts: int = 0, prompt_tokens: int | None = 0, completion_tokens: int | None = 0,
            calls: int = 0, retries: int = 0) -> None:
        with self._lock:
            self._verdicts += verdicts
            self._prompt += prompt_tokens or 0
            self._completion += completion_tokens or 0
            self._calls += calls
            self._retries += retries

    def snapshot(self) -> Usage:
        with self._lock:
            price_in, price_out = self._prices
            cost: float | None = None
            if price_in is not None or price_out is not None:
                cost = (self._prompt * (price_in or 0.0) + self._completion * (price_out or 0.0)) / 1e6
            per_1k = cost / self._verdicts * 1000 if cost is not None and self._verdicts else None
            return Usage(self._verdicts, self._prompt, self._completion, self._calls, self._retries, cost, per_1k)


#: the numeric parameters of the model backends and the type each must have (all >= 0); checked
#: before any judge is built, so a typo in a preset is one line, not a TypeError mid-run
NUMERIC_PARAMS: dict[str, type] = {
    "top_logprobs": int, "concurrency": int, "max_retries": int, "batch_size": int, "max_batch_tokens": int,
    "max_prompt_tokens": int, "threads": int, "timeout_s": float, "backoff_initial_s": float,
    "backoff_max_s": float, "max_retry_after_s": float, "followup_min_prob": float, "min_verdict_mass": float,
    "low_verdict_mass": float, "price_input_per_mtok": float, "price_output_per_mtok": float,
}


def param_problem(spec: JudgeSpec) -> str | None:
    """Why a model judge's numeric parameter is unusable (wrong type, negative, not finite), else None."""
    where = f"judge {spec.name!r}" + (f" ({spec.source})" if spec.source else "")
    for name, kind in NUMERIC_PARAMS.items():
        value = spec.params.get(name)
        if value is None:
            continue
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is int and not (number_ok and float(value).is_integer()):
            return f"{where}: parameter {name!r} must be a whole number, got {value!r}"
        if not number_ok or not math.isfinite(value) or value < 0:
            return f"{where}: parameter {name!r} must be a number >= 0, got {value!r}"
    return None


class ModelJudge(BaseJudge):
    """Base of the generative judges: renders prompts, keys the cache, meters usage."""

    soft = True
    #: verdicts of model judges are expensive and deterministic: judging.py caches them
    cacheable = True
    #: several acceptable references are listed in one prompt (prompting.reference_text), not judged one by one
    multi_reference = "all"

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        self.template: PromptTemplate = load_template(str(spec.params.get("prompt", "verifier")))
        self.words = verdict_words_from_params(spec)
        self.meter = UsageMeter(_price(spec, "price_input_per_mtok"), _price(spec, "price_output_per_mtok"))
        self._identity: str | None = None

    def render(self, triple: Triple) -> RenderedPrompt:
        return self.template.render(triple)

    def model_revision(self) -> str:
        """What identifies the weights beyond the spec (e.g. a local checkpoint's file stamps); "" if nothing."""
        return ""

    def cache_identity(self) -> str:
        """Hash of everything about the judge that can change a verdict (not the prompt)."""
        if self._identity is None:
            params = {k: v for k, v in self.spec.params.items() if k not in RUNTIME_PARAMS}
            canonical = json.dumps({"backend": self.spec.backend, "params": params, "model": self.model_revision(),
                                    "scoring": SCORING_VERSION}, sort_keys=True, default=str)
            self._identity = hashlib.sha256(canonical.encode()).hexdigest()
        return self._identity

    def cache_key(self, triple: Triple) -> str:
        """The judgment-cache key of one triple: hash of (judge identity, rendered prompt)."""
        joined = f"{self.cache_identity()}\n{self.render(triple).digest()}"
        return hashlib.sha256(joined.encode()).hexdigest()

    def usage(self) -> Usage:
        """Tokens, calls and cost of the verdicts computed so far (cache hits cost nothing)."""
        return self.meter.snapshot()


def _price(spec: JudgeSpec, key: str) -> float | None:
    value = spec.params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"judge {spec.name!r}: params.{key} must be a non-negative number (US$ per million tokens)")
    return float(value)


def checkpoint_reason(spec: JudgeSpec, model: str | None) -> str | None:
    """Why ``model`` (project name, local folder, .gguf file or hub id) cannot be loaded here, without
    loading it; None if it can."""
    from rlvr_bench.checkpoints import checkpoint_problem, hub_checkpoint_problem, is_named_or_gguf
    from rlvr_bench.judges.tiny_judge import TINY_JUDGE_REF

    if not model:
        return f"judge {spec.name!r} needs params.model: a local checkpoint folder or a Hugging Face hub id"
    if model == TINY_JUDGE_REF:
        return None  # built on first use
    if is_named_or_gguf(model):
        problem = checkpoint_problem(model)
        return None if problem is None else f"judge {spec.name!r}: {problem}"
    path = Path(model).expanduser()
    looks_local = path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1
    if path.exists() or looks_local:
        if (path / "config.json").is_file():
            return None
        return (f"judge {spec.name!r} needs checkpoint {model}: no config.json there; "
                f"set params.model to a folder saved with save_pretrained")
    revision = spec.params.get("revision")
    problem = hub_checkpoint_problem(model, str(revision) if revision else None)  # None: cached or downloadable
    return None if problem is None else (f"judge {spec.name!r} needs checkpoint {model}: {problem}; "
                                         "set params.model to a local path")
