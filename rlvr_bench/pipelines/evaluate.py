"""`rlvr-bench eval`: generate with each policy, judge its responses, report accuracy with CIs.

For every policy (a model to sample from, or responses imported from a file)
and every held-out item (of a task's split, or of a data file), ``n_samples``
responses are generated; every judge gives a verdict on each response. The
results give, per policy and judge, accuracy, mean@n and pass@n overall and
per domain with clustered-bootstrap CIs (resampling questions); for each pair
of policies the paired difference with a paired bootstrap CI and McNemar's
test on the same items; and with several judges, their agreement on these
responses. Generation, judging and statistics are the one engine of
:mod:`rlvr_bench.pipelines.engine`, shared with training's evaluations.

How each policy is asked: a checkpoint saved by rlvr-bench carries its prompt
and generation settings (:mod:`rlvr_bench.prompting`), so a trained policy is
asked exactly as its run asked it; other policies get the task's generation
defaults where its task.yaml declares them (``generation:``, e.g. a short
``max_new_tokens`` for short answers), else the study's chat prompt
(:data:`~rlvr_bench.generation.DEFAULT_SYSTEM_PROMPT`) and the default
settings. Settings given explicitly (``GenerationOverrides``, the command's
flags) replace any of these.

Everything (task or data file, split, policies, judges, files) is checked
before the first token is generated, and the run directory appears only when
the run finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rlvr_bench.errors import InputError, UserError
from rlvr_bench.generation import GenerationProgress, HFPolicy, Policy
from rlvr_bench.judges.base import Judge
from rlvr_bench.judges.registry import build_judges
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED, FailureBudget, ProgressCallback
from rlvr_bench.pipelines.engine import RESULTS_SCHEMA as RESULTS_SCHEMA
from rlvr_bench.pipelines.engine import eval_results as eval_results
from rlvr_bench.pipelines.engine import generate_responses
from rlvr_bench.pipelines.engine import judge_all as judge_all
from rlvr_bench.policies import PolicySpec, build_policy, check_policy, parse_policy_specs, read_policy_responses
from rlvr_bench.prompting import GenerationOverrides, GenerationSettings, PromptFormat, read_policy_settings
from rlvr_bench.records import Item, Judgment, Response
from rlvr_bench.rundir import RunWriter, default_run_path
from rlvr_bench.tasks import SPLITS, TaskInfo, load_task

DEFAULT_SPLIT = "test"


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation returns: the results.json content, the records behind it and the run directory."""

    results: dict[str, Any]
    items: list[Item]
    responses: list[Response]
    judgments: list[Judgment]
    run_dir: Path | None

    @property
    def policies(self) -> list[str]:
        names: list[str] = self.results["policies"]
        return names

    def accuracy(self, policy: str, judge: str | None = None, domain: str | None = None) -> dict[str, Any]:
        """``{estimate, ci_low, ci_high, n}`` of one policy under one judge (default: the primary judge)."""
        entry = self.results["per_policy"][policy]["by_judge"][judge or self.results["primary_judge"]]
        metric: dict[str, Any] = (entry["by_domain"][domain] if domain else entry)["accuracy"]
        return metric


# ------------------------------------------------------------------ the pipeline


@dataclass(frozen=True)
class _Entry:
    name: str
    description: dict[str, Any]
    spec: PolicySpec | None
    backend: Policy | None
    settings: GenerationSettings


def policy_settings(spec: PolicySpec, overrides: GenerationOverrides,
                    task_defaults: GenerationSettings | None = None) -> GenerationSettings:
    """How ``spec`` is asked: its checkpoint's own settings (a folder saved by rlvr-bench), else the task's
    defaults (task.yaml ``generation:``), else the built-in defaults, with every explicitly given setting
    replacing them."""
    saved = read_policy_settings(spec.target) if spec.backend in ("hf", "vllm") and Path(spec.target).is_dir() else None
    settings = overrides.apply(saved or task_defaults)
    if settings.prompt.kind == "template" and spec.backend == "openai":
        raise UserError(f"policy {spec.name!r}: a text-template prompt needs the hf or vllm backend "
                        "(a chat endpoint takes messages); give --system-prompt to ask it in chat form")
    return settings


def _policy_entries(policies: Sequence[PolicySpec | Policy], overrides: GenerationOverrides,
                    concurrency: int, task_defaults: GenerationSettings | None = None) -> list[_Entry]:
    entries = []
    for policy in policies:
        if isinstance(policy, PolicySpec):
            check_policy(policy)
            settings = policy_settings(policy, overrides, task_defaults)
            backend = build_policy(policy, settings.batch_size, concurrency) if policy.generates else None
            description = {**policy.to_json(), **(backend.describe() if backend else {})}
            entries.append(_Entry(policy.name, description, policy, backend, settings))
        else:
            settings = overrides.apply(task_defaults)
            if isinstance(policy, HFPolicy):  # a ready backend batches as it was built to
                settings = replace(settings, batch_size=policy.batch_size)
            entries.append(_Entry(policy.name, {"name": policy.name, **policy.describe()}, None, policy, settings))
    names = [entry.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserError(f"policy name {duplicates[0]!r} is used twice; name policies with NAME=SPEC")
    for entry in entries:
        if entry.backend is not None:
            entry.description["generation"] = entry.settings.to_json()
            if entry.settings.n_samples > 1 and entry.settings.sampling.greedy:
                raise UserError(f"policy {entry.name!r}: several samples per question need --temperature > 0 "
                                "(greedy samples are identical)")
    return entries


def _check_arguments(items: Sequence[Item], policies: Sequence[Any], judges: Sequence[Any],
                     overrides: GenerationOverrides, n_bootstrap: int, split: str | None) -> None:
    if not items:
        raise UserError("no items to evaluate" + (f" in split {split!r}" if split else ""))
    if not policies:
        raise UserError("give at least one policy (--policy PATH)")
    if not judges:
        raise UserError("give at least one judge (e.g. --judges contains)")
    if overrides.n_samples is not None and overrides.n_samples < 1:
        raise UserError(f"--n-samples must be >= 1, got {overrides.n_samples}")
    if overrides.batch_size is not None and overrides.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {overrides.batch_size}")
    if n_bootstrap < 0:
        raise UserError("--bootstrap must be >= 0")


def evaluate_policies(
    policies: Sequence[PolicySpec | Policy],
    items: Sequence[Item],
    judges: Sequence[str] | Sequence[Judge],
    generation: GenerationOverrides | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    out: Path | None = None,
    write: bool = True,
    concurrency: int = 8,
    judge_batch_size: int = 64,
    task_source: Mapping[str, Any] | None = None,
    split: str | None = DEFAULT_SPLIT,
    on_generate: GenerationProgress | None = None,
    on_judge: ProgressCallback | None = None,
    max_unscored: float = DEFAULT_MAX_UNSCORED,
) -> EvalResult:
    """Generate (or import), judge and score every policy on ``items``; see the module docstring.

    ``policies`` are parsed specs (checked here: folders, keys, packages, responses files) or
    ready backends (e.g. ``HFPolicy.from_model`` on a model in memory); ``judges`` preset names
    (or paths) or built judges, the first being the primary judge of summaries; ``generation``
    the settings given explicitly (each replaces every policy's own); ``task_source`` describes the
    items (from :func:`load_eval_items`; its ``generation_defaults`` apply to policies without
    settings of their own). ``seed`` seeds the
    bootstrap. Raises a one-line UserError before any generation when something cannot run, and
    stops when a judge fails on more than ``max_unscored`` of the responses.
    """
    budget = FailureBudget(max_unscored)
    overrides = generation or GenerationOverrides()
    _check_arguments(items, policies, judges, overrides, n_bootstrap, split)
    built: list[Judge] = (build_judges([str(j) for j in judges]) if all(isinstance(j, str) for j in judges)
                          else [j for j in judges if not isinstance(j, str)])
    if len(built) != len(judges):
        raise UserError("give judges either all as names or all as built judges")
    entries = _policy_entries(policies, overrides, concurrency, task_generation_settings(task_source))
    where = _where(task_source, split)
    imported = {e.name: read_policy_responses(e.spec, items, where) for e in entries if e.spec and not e.spec.generates}

    generating = [e for e in entries if e.backend is not None]
    common = _common_generation(generating)
    config = {"task": dict(task_source or {}), "split": split, "policies": [e.description for e in entries],
              "judges": [judge.spec.to_json() for judge in built], "generation": common,
              "n_bootstrap": n_bootstrap, "seed": seed, "max_unscored": max_unscored}
    writer = RunWriter(out or default_run_path("eval"), "eval", config) if write else None
    try:
        responses: list[Response] = []
        domain_of = {item.id: item.domain for item in items}
        for entry in entries:
            if entry.name in imported:
                responses.extend(_with_domain(r, domain_of[r.item_id]) for r in imported[entry.name])
                continue
            assert entry.backend is not None
            responses.extend(generate_responses(entry.backend, items, entry.settings, on_generate))
            close = getattr(entry.backend, "close", None)
            if entry.spec is not None and callable(close):
                close()  # a model we loaded from a spec is not needed again: free it before loading the next
        judgments = judge_all(built, items, responses, judge_batch_size, on_judge, budget)
        names = [judge.name for judge in built]
        results_json = eval_results(items, responses, judgments, [e.name for e in entries], names, n_bootstrap, seed,
                                    policy_info={e.name: e.description for e in entries},
                                    context={"task": dict(task_source or {}), "split": split, "generation": common})
        run_dir = None
        if writer is not None:
            writer.write_items(items)
            writer.write_responses(responses)
            writer.write_judgments(judgments)
            writer.write_results(results_json)
            run_dir = writer.commit()
    except BaseException:
        if writer is not None:
            writer.__exit__(Exception, None, None)
        raise
    if run_dir is not None:
        from rlvr_bench.report import write_run_report

        write_run_report(run_dir)
    return EvalResult(results_json, list(items), responses, judgments, run_dir)


def _where(source: Mapping[str, Any] | None, split: str | None) -> str:
    """Where the items came from, for an imported response naming another item."""
    if source and source.get("data"):
        return f" (not in {source['data']})"
    return f" (not in task {source.get('task')!r}, split {split!r})" if source else ""


def _common_generation(entries: Sequence[_Entry]) -> dict[str, Any]:
    """The generation settings of the run: the policies' own when they agree; otherwise the most samples
    per question and ``differs_per_policy`` (each policy's are in its entry)."""
    settings = [entry.settings.to_json() for entry in entries]
    if settings and all(s == settings[0] for s in settings):
        return settings[0]
    return {"n_samples": max((s["n_samples"] for s in settings), default=1), "differs_per_policy": True}


def _with_domain(response: Response, domain: str) -> Response:
    return replace(response, metadata={**response.metadata, "domain": domain})


def load_eval_items(task: str | None = "starter", split: str | None = DEFAULT_SPLIT, data: Path | None = None,
                    data_format: str | None = None) -> tuple[list[Item], dict[str, Any]]:
    """Items to evaluate on and their description for the run config: one split of a task (held out by
    default), or every item of a data file (``--data``, any format of :mod:`rlvr_bench.importers`; its
    responses, if any, are not used; ``data_format`` names its layout, default: chosen by content)."""
    if data is not None:
        if task:
            raise UserError("give either --task or --data, not both")
        from rlvr_bench.importers import import_file
        from rlvr_bench.pipelines.inputs import check_data_path

        items, _, description = import_file(check_data_path(data), data_format)
        return items, {"data": str(data), "format": description}
    if split is not None and split not in SPLITS:
        raise UserError(f"unknown split {split!r} (one of {', '.join(SPLITS)})")
    loaded = load_task(task or "starter")
    items = loaded.items_in(split)
    if not items:
        raise UserError(f"task {loaded.name!r} has no items in split {split!r}")
    source: dict[str, Any] = {"task": loaded.name, "path": str(loaded.info.path), "split": split}
    defaults = read_task_generation(loaded.info)
    if defaults:
        source["generation_defaults"] = defaults
    return items, source


#: what a task.yaml's ``generation:`` mapping may set, and the type of each value
TASK_GENERATION_FIELDS: dict[str, type] = {"system_prompt": str, "max_new_tokens": int}


def read_task_generation(info: TaskInfo) -> dict[str, Any]:
    """A task's generation defaults (task.yaml ``generation:``), validated; {} when it declares none.

    A short-answer task can say that answers need few tokens (``max_new_tokens``) and ask for them
    in its own words (``system_prompt``); a checkpoint's own settings and explicit flags still win.
    """
    raw = info.extra.get("generation")
    if raw is None:
        return {}
    path = info.path / "task.yaml"
    if not isinstance(raw, dict):
        raise InputError(f"{path}: field 'generation' must be a mapping of {', '.join(TASK_GENERATION_FIELDS)}")
    for key, value in raw.items():
        kind = TASK_GENERATION_FIELDS.get(str(key))
        if kind is None:
            raise InputError(f"{path}: field 'generation.{key}': unknown setting "
                             f"(known: {', '.join(TASK_GENERATION_FIELDS)})")
        if isinstance(value, bool) or not isinstance(value, kind) or (isinstance(value, int) and value < 1):
            expected = "a whole number >= 1" if kind is int else "text"
            raise InputError(f"{path}: field 'generation.{key}' must be {expected}, got {value!r}")
    return dict(raw)


def task_generation_settings(source: Mapping[str, Any] | None) -> GenerationSettings | None:
    """The built-in defaults with the task's ``generation_defaults`` (see :func:`read_task_generation`)."""
    defaults = (source or {}).get("generation_defaults")
    if not defaults:
        return None
    prompt = PromptFormat.chat(defaults["system_prompt"]) if "system_prompt" in defaults else None
    return GenerationOverrides(prompt=prompt, max_new_tokens=defaults.get("max_new_tokens")).apply(None)


def evaluate(
    policies: Sequence[str],
    judges: Sequence[str],
    task: str | None = None,
    split: str | None = DEFAULT_SPLIT,
    api_key_env: str = "OPENAI_API_KEY",
    limit: int | None = None,
    data: Path | None = None,
    data_format: str | None = None,
    **kwargs: Any,
) -> EvalResult:
    """:func:`evaluate_policies` from command-line values: policy spec strings, judge names, a task name
    or a data file (``data``; then ``task`` must be None).

    ``limit`` keeps the first ``limit`` items (a quick look, not a result to report). Other keyword
    arguments go to :func:`evaluate_policies`.
    """
    specs = parse_policy_specs(policies, api_key_env)
    items, source = load_eval_items(task, split, data, data_format)
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be >= 1, got {limit}")
        items = items[:limit]
    return evaluate_policies(specs, items, judges, task_source=source, split=None if data else split, **kwargs)
