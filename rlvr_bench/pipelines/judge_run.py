"""`rlvr-bench judge RUN_DIR`: generate once, judge many times.

Adds judges to a finished eval run, and/or policies whose responses were
produced elsewhere (``responses:FILE.jsonl``, e.g. a large baseline), without
generating anything: new judges see every stored response, every judge sees the
new responses, and the results are recomputed from the run's records. The run
directory is rewritten atomically (the old one stays until the new one is
complete), and ``config.json`` lists what was added under ``updates``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlvr_bench.errors import UserError
from rlvr_bench.judges.base import Judge, JudgeSpec
from rlvr_bench.judges.registry import build_judge, build_judges, resolve_preset
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED, FailureBudget, ProgressCallback
from rlvr_bench.pipelines.evaluate import RESULTS_SCHEMA, EvalResult, _with_domain, eval_results, judge_all
from rlvr_bench.policies import check_policy, parse_policy_specs, read_policy_responses
from rlvr_bench.rundir import RunWriter, load_run

#: config fields RunWriter writes afresh; the generating run's values are kept under "generated"
_FRESH = ("command", "created", "versions", "git_revision")


def _stored_judge(entry: dict[str, Any]) -> JudgeSpec:
    return JudgeSpec(name=str(entry["name"]), backend=str(entry["backend"]),
                     description=str(entry.get("description", "")), params=dict(entry.get("params") or {}))


def judge_run(
    run_dir: Path,
    judges: Sequence[str] = (),
    add_policies: Sequence[str] = (),
    api_key_env: str = "OPENAI_API_KEY",
    n_bootstrap: int | None = None,
    seed: int | None = None,
    judge_batch_size: int = 64,
    on_judge: ProgressCallback | None = None,
    max_unscored: float = DEFAULT_MAX_UNSCORED,
) -> EvalResult:
    """Add ``judges`` (preset names or files) and imported ``add_policies`` to an eval run, in place.

    Everything is checked first (run directory, judges, responses files and their item ids);
    judges already in the run are a UserError, as is a call that adds nothing.
    """
    run = load_run(run_dir)
    if run.config.get("command") != "eval" or run.results.get("schema") != RESULTS_SCHEMA:
        raise UserError(f"{run_dir}: not an eval run (judge adds judges to a run written by `rlvr-bench eval`)")
    if not judges and not add_policies:
        raise UserError("nothing to add: give --judges and/or --policy responses:FILE.jsonl")
    stored = [_stored_judge(entry) for entry in run.config.get("judges", [])]
    stored_names = [spec.name for spec in stored]
    for name in judges:
        preset_name = resolve_preset(name).spec.name
        if preset_name in stored_names:
            raise UserError(f"judge {preset_name!r} is already in {run_dir}")
    new_judges: list[Judge] = build_judges(list(judges)) if judges else []

    specs = parse_policy_specs(add_policies, api_key_env)
    existing_policies: list[str] = list(run.results.get("policies", []))
    for spec in specs:
        if spec.generates:
            raise UserError(f"--policy {spec.raw!r}: judge adds imported responses only (responses:FILE.jsonl); "
                            "use `rlvr-bench eval` to generate")
        if spec.name in existing_policies:
            raise UserError(f"policy {spec.name!r} is already in {run_dir}; name it with NAME=responses:FILE")
        check_policy(spec)
    split = run.results.get("split")
    task = (run.results.get("task") or {}).get("task")
    where = f" (not in the run's items: task {task!r}, split {split!r})"
    domain_of = {item.id: item.domain for item in run.items}
    imported = [_with_domain(r, domain_of[r.item_id])
                for spec in specs for r in read_policy_responses(spec, run.items, where)]
    # the run's own judges must judge the new responses, so they must be able to run here too
    old_judges: list[Judge] = [build_judge(spec) for spec in stored] if imported else []

    judgments = list(run.judgments)
    budget = FailureBudget(max_unscored)
    if new_judges:
        judgments += judge_all(new_judges, run.items, run.responses, judge_batch_size, on_judge, budget)
    if imported:
        judgments += judge_all([*old_judges, *new_judges], run.items, imported, judge_batch_size, on_judge, budget)
    responses = [*run.responses, *imported]
    judge_names = [*stored_names, *(judge.name for judge in new_judges)]
    policy_names = [*existing_policies, *(spec.name for spec in specs)]
    n_bootstrap = int(run.config.get("n_bootstrap", 1000)) if n_bootstrap is None else n_bootstrap
    seed = int(run.config.get("seed", 0)) if seed is None else seed
    policy_info = {name: {k: v for k, v in entry.items() if k not in ("n_responses", "errors", "by_judge")}
                   for name, entry in run.results.get("per_policy", {}).items()}
    policy_info.update({spec.name: spec.to_json() for spec in specs})
    context: dict[str, Any] = {key: run.results[key] for key in ("task", "split", "generation") if key in run.results}
    results = eval_results(run.items, responses, judgments, policy_names, judge_names, n_bootstrap, seed,
                           policy_info=policy_info, context=context)

    config = {key: value for key, value in run.config.items() if key not in _FRESH}
    # when, with which versions and revision the responses were generated (the first run, not the last update)
    config["generated"] = run.config.get("generated") or {key: run.config.get(key) for key in _FRESH[1:]}
    config["judges"] = [*run.config.get("judges", []), *(judge.spec.to_json() for judge in new_judges)]
    config["policies"] = [*run.config.get("policies", []), *(spec.to_json() for spec in specs)]
    config["n_bootstrap"], config["seed"] = n_bootstrap, seed
    config["updates"] = [*run.config.get("updates", []), {
        "command": "judge",
        "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "added_judges": [judge.name for judge in new_judges],
        "added_policies": [spec.name for spec in specs],
    }]
    with RunWriter(Path(run_dir), "eval", config) as writer:
        writer.write_items(run.items)
        writer.write_responses(responses)
        writer.write_judgments(judgments)
        writer.write_results(results)
        path = writer.commit()
    from rlvr_bench.report import write_run_report

    write_run_report(path)
    return EvalResult(results, run.items, responses, judgments, path)
