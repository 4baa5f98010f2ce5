"""Run metadata: what ran, with which versions and git revision, which judges (specs), and what they cost."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from rlvr_bench.report.formatting import is_number
from rlvr_bench.report.sections import Section, run_schema
from rlvr_bench.rundir import Run

#: config keys shown in the header or the judge table, not repeated under "settings"
_SHOWN_KEYS = {"command", "created", "versions", "git_revision", "judges", "task"}


#: a parameter tree for display: (key, text) leaves and (key, subtree) branches
ParamTree = list[tuple[str, "str | ParamTree"]]


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _spec_text(spec: Mapping[str, Any]) -> str:
    """A nested judge spec (a composite judge's part) on one line: ``math: timeout_s=5.0, float_rounding=6``."""
    params = spec.get("params") or {}
    head = str(spec.get("name", "?"))
    if spec.get("backend") and spec.get("backend") != spec.get("name"):
        head += f" ({spec['backend']})"
    if isinstance(params, Mapping) and params:
        head += ": " + ", ".join(f"{key}={_param_text(value)}" for key, value in params.items())
    return head


def param_tree(params: Any) -> ParamTree:
    """Judge parameters as a readable tree instead of a JSON blob: scalars as ``key value``, mappings nested,
    lists of judge specs (a composite's parts) one line per part, other lists comma-joined."""
    tree: ParamTree = []
    if not isinstance(params, Mapping):
        return tree
    for key, value in params.items():
        if isinstance(value, Mapping):
            tree.append((str(key), param_tree(value) or "{}"))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) and "name" in v for v in value):
            tree.append((str(key), [(str(index + 1), _spec_text(v)) for index, v in enumerate(value)]))
        elif isinstance(value, list):
            tree.append((str(key), ", ".join(_param_text(v) for v in value)))
        else:
            tree.append((str(key), _param_text(value)))
    return tree


def judge_specs(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The judge specs of a config (a list of spec objects, or names only), as display rows."""
    rows = []
    for spec in config.get("judges") or []:
        if isinstance(spec, Mapping):
            params = spec.get("params") or {}
            rows.append({"name": str(spec.get("name", "?")), "backend": str(spec.get("backend", "")),
                         "description": str(spec.get("description", "")), "fingerprint": spec.get("fingerprint"),
                         "params": param_tree(params)})
        else:
            rows.append({"name": str(spec), "backend": "", "description": "", "fingerprint": None, "params": []})
    return rows


def judge_costs(run: Run) -> list[dict[str, Any]]:
    """Per judge: verdicts, unscored share and reasons, latency and tokens.

    Read from ``results["judge_summary"]`` when the command wrote one, otherwise
    summed from the run's judgments. Latency is seconds per verdict; total time
    is latency x verdicts (judges run in batches, so this is the share of batch
    wall time, not a sum of request round trips).
    """
    summary = run.results.get("judge_summary")
    if isinstance(summary, list) and summary:
        rows = []
        for entry in summary:
            if not isinstance(entry, Mapping):
                continue
            n = entry.get("n")
            latency = entry.get("mean_latency_s")
            rows.append({
                "judge": str(entry.get("judge", "?")), "n": n, "n_unscored": entry.get("n_unscored"),
                "unscored_reasons": dict(entry.get("unscored_reasons") or {}), "mean_latency_s": latency,
                "total_time_s": latency * n if is_number(latency) and is_number(n) else None,
                "prompt_tokens": entry.get("prompt_tokens"), "completion_tokens": entry.get("completion_tokens"),
            })
        return rows
    grouped: dict[str, list[Any]] = defaultdict(list)
    for judgment in run.judgments:
        grouped[judgment.judge].append(judgment.verdict)
    rows = []
    for judge, verdicts in grouped.items():
        total = sum(v.latency_s for v in verdicts)
        rows.append({
            "judge": judge, "n": len(verdicts), "n_unscored": sum(v.passed is None for v in verdicts),
            "unscored_reasons": dict(Counter((v.error or "").split(":")[0] for v in verdicts if v.passed is None)),
            "mean_latency_s": total / len(verdicts), "total_time_s": total,
            "prompt_tokens": sum(v.prompt_tokens or 0 for v in verdicts),
            "completion_tokens": sum(v.completion_tokens or 0 for v in verdicts),
        })
    return rows


def _task_text(task: Any) -> str:
    if isinstance(task, Mapping):
        name = task.get("task") or task.get("name") or task.get("path") or ""
        split = task.get("split")
        return f"{name} (split {split})" if split else str(name)
    return "" if task is None else str(task)


def _settings(config: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Scalar settings as (key, value) rows, and nested ones as (key, pretty JSON) for collapsed display."""
    scalars, nested = [], []
    for key, value in config.items():
        if key in _SHOWN_KEYS:
            continue
        if isinstance(value, Mapping | list):
            nested.append((key, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)))
        else:
            scalars.append((key, "—" if value is None else str(value)))
    return scalars, nested


def build(run: Run) -> Section:
    config = run.config
    task = config.get("task")
    description = task.get("description") if isinstance(task, Mapping) else None
    scalars, nested = _settings(config)
    costs = judge_costs(run)
    return Section(
        key="metadata",
        title="Run metadata",
        template="sections/metadata.html.j2",
        context={
            "command": str(config.get("command", "?")),
            "schema": run_schema(run) or "unknown",
            "created": config.get("created"),
            "git_revision": config.get("git_revision"),
            "task": _task_text(task),
            "task_description": description,
            "versions": sorted((str(k), str(v)) for k, v in (config.get("versions") or {}).items()),
            "judges": judge_specs(config),
            "costs": costs,
            "has_tokens": any((row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0) for row in costs),
            "settings": scalars,
            "nested_settings": nested,
            "warnings": [str(w) for w in run.results.get("warnings") or []],
            "counts": {"items": len(run.items), "responses": len(run.responses), "judgments": len(run.judgments)},
        },
    )
