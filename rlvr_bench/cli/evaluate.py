"""`rlvr-bench eval` (generate, judge, score policies) and `rlvr-bench judge` (add judges or imported rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rlvr_bench.cli.app import (
    DataFormat,
    MaxUnscored,
    app,
    console,
    emit_json,
    say_written,
    split_names,
    user_errors_exit_2,
)
from rlvr_bench.cli.limits import Bootstrap, check_preset_files
from rlvr_bench.cli.progress import generation_progress
from rlvr_bench.errors import UserError
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED
from rlvr_bench.policies import parse_policy_specs
from rlvr_bench.prompting import GenerationOverrides, PromptFormat
from rlvr_bench.rundir import check_run_destination

#: rlvr_bench.pipelines.evaluate.DEFAULT_SPLIT (the pipelines load when a command runs: quick failures)
DEFAULT_SPLIT = "test"


def _fmt(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _metric_cell(metric: dict[str, Any]) -> str:
    if metric.get("estimate") is None:
        return f"— (n={metric.get('n', 0)})"
    ci = f" [{_fmt(metric['ci_low'], 2)}, {_fmt(metric['ci_high'], 2)}]" if metric.get("ci_low") is not None else ""
    return f"{_fmt(metric['estimate'])}{ci} n={metric['n']}"


def print_accuracy_tables(results: dict[str, Any]) -> None:
    """Per judge: rows = all items and each domain, columns = policies; accuracy [95% CI] and n scored."""
    policies, n_samples = results["policies"], results.get("generation", {}).get("n_samples", 1)
    for judge in results["judges"]:
        table = Table(title=f"Accuracy judged by {judge} (95% CI, bootstrap over questions)")
        table.add_column("domain")
        for policy in policies:
            table.add_column(policy, justify="right")
        rows: list[tuple[str, str]] = [("all", "accuracy")]
        if n_samples > 1:
            rows += [("all", "mean_at_n"), ("all", "pass_at_n")]
        rows += [(domain, "accuracy") for domain in results["domains"]]
        for domain, metric in rows:
            label = domain if metric == "accuracy" else f"{domain} {metric.replace('_at_n', f'@{n_samples}')}"
            cells = []
            for policy in policies:
                entry = results["per_policy"][policy]["by_judge"][judge]
                cells.append(_metric_cell((entry if domain == "all" else entry["by_domain"][domain])[metric]))
            table.add_row(label, *cells)
        console.print(table)
    for policy in policies:
        errors = results["per_policy"][policy]["errors"]
        unscored = ", ".join(f"{judge} {count}" for judge, count in errors["unscored"].items())
        if errors["generation"] or errors["missing_items"] or any(errors["unscored"].values()):
            console.print(f"{policy}: {errors['generation']} failed generations, {errors['missing_items']} items "
                          f"without a response; unscored: {unscored}", highlight=False)


def print_comparisons(results: dict[str, Any]) -> None:
    if not results["comparisons"]:
        return
    table = Table(title="Paired differences A - B on the same questions (95% paired bootstrap CI; McNemar on sample 1)")
    for column in ("A", "B", "judge", "A - B", "A only right", "B only right", "McNemar p"):
        table.add_column(column, justify="left" if column in ("A", "B", "judge") else "right")
    for row in results["comparisons"]:
        test = row["mcnemar"]
        table.add_row(row["policy_a"], row["policy_b"], row["judge"], _metric_cell(row["difference"]),
                      str(test["a_only_correct"]), str(test["b_only_correct"]),
                      f"{_fmt(test['p_value'], 4)} ({test['method']})")
    console.print(table)


def print_eval(results: dict[str, Any], run_dir: Path | None) -> None:
    print_accuracy_tables(results)
    print_comparisons(results)
    if results.get("judge_agreement"):
        from rlvr_bench.cli.agreement import print_kappa_matrix
        from rlvr_bench.pipelines.agreement import low_mass_warnings

        console.print("Judge agreement on these responses:")
        print_kappa_matrix(results["judge_agreement"])
        for warning in low_mass_warnings(results["judge_agreement"]["judge_summary"]):
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    emit_json({"run_dir": None if run_dir is None else str(run_dir), "results": results})
    say_written("run directory", run_dir)


def _judge_names(values: list[str] | None) -> list[str]:
    names = [name for value in values or [] for name in split_names(value) or []]
    check_preset_files(names)
    return names


def generation_overrides(n_samples: int | None, temperature: float | None, top_p: float | None,
                         max_new_tokens: int | None, stop: list[str] | None, seed: int | None, batch_size: int | None,
                         system_prompt: str | None, system_prompt_file: Path | None,
                         prompt_template: str | None) -> GenerationOverrides:
    """The generation flags that were given (each replaces every policy's own setting)."""
    given = [name for name, value in (("--system-prompt", system_prompt), ("--system-prompt-file", system_prompt_file),
                                      ("--prompt-template", prompt_template)) if value is not None]
    if len(given) > 1:
        raise UserError(f"give one of {' and '.join(given)}, not both")
    prompt: PromptFormat | None = None
    if system_prompt_file is not None:
        if not system_prompt_file.is_file():
            raise UserError(f"{system_prompt_file}: file not found")
        prompt = PromptFormat.chat(system_prompt_file.read_text(encoding="utf-8").strip())
    elif system_prompt is not None:
        prompt = PromptFormat.chat(system_prompt)
    elif prompt_template is not None:
        if "{question}" not in prompt_template:
            raise UserError("--prompt-template must contain '{question}'")
        prompt = PromptFormat.text_template(prompt_template.replace("\\n", "\n"))
    overrides = GenerationOverrides(prompt=prompt, n_samples=n_samples, temperature=temperature, top_p=top_p,
                                    max_new_tokens=max_new_tokens, seed=seed, stop=tuple(stop) if stop else None,
                                    batch_size=batch_size)
    overrides.apply(None)  # bad values (a negative temperature) fail here, in one line
    return overrides


@app.command("eval")
@user_errors_exit_2
def eval_command(
    policy: Annotated[list[str], typer.Option(
        "--policy", "-p", help="A policy: smollm2 (the installed SmolLM2-135M-Instruct), a .gguf file, a model "
        "folder or hub id; openai:MODEL@URL; vllm:PATH; "
        "responses:FILE.jsonl[:NAME]. Prefix NAME= to name it. Repeat to compare policies. A checkpoint "
        "saved by rlvr-bench is asked with its own prompt and generation settings unless flags below say otherwise.")],
    judges: Annotated[list[str] | None, typer.Option(
        "--judges", "--judge", "-j", help="Judge presets or preset files, comma-separated or repeated; "
        "the first is the primary judge.")] = None,
    task: Annotated[str | None, typer.Option(help="Bundled task name or task folder (default: starter).")] = None,
    data: Annotated[Path | None, typer.Option(
        help="Evaluate on the items of this data file instead of a task (JSONL/CSV/datasets folder; "
        "see `rlvr-bench agreement --help`).")] = None,
    data_format: DataFormat = None,
    split: Annotated[str, typer.Option(help="Split of the task to evaluate (train/validation/test).")] = DEFAULT_SPLIT,
    n_samples: Annotated[int | None, typer.Option(
        "--n-samples", "-n", min=1, max=10_000,
        help="Samples per question (mean@n, pass@n). Default: the policy's own, else 1.")] = None,
    temperature: Annotated[float | None, typer.Option(
        help="Sampling temperature; 0 = greedy. Default: the policy's own, else 0.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling mass in (0, 1]. Default: 1.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(
        min=1, max=1_000_000,
        help="Generated tokens per response. Default: the policy's own, else the task's (task.yaml "
        "generation:), else 512.")] = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop string (repeatable).")] = None,
    seed: Annotated[int | None, typer.Option(
        min=0, max=2**32 - 1,
        help="Seed of sampling (default: the policy's own, else 0) and of the bootstrap (default 0).")] = None,
    system_prompt: Annotated[str | None, typer.Option(
        help="Ask every policy in chat form with this system prompt ('' for none). Default: the policy's own "
        "prompt, else the task's, else the study's instruction to end with 'Therefore, the answer is ...'.")] = None,
    system_prompt_file: Annotated[Path | None, typer.Option(help="Read the system prompt from this file.")] = None,
    prompt_template: Annotated[str | None, typer.Option(
        help="Ask every policy this text prompt, '{question}' replaced and \\n a line break (no chat "
        "template; hf and vllm backends).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Prompts per generate call (hf backend). Default: the policy's own, else 8.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1024, help="Parallel requests (openai backend).")] = 8,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key (openai).")] = (
        "OPENAI_API_KEY"),
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions (a quick look).")] = None,
    bootstrap: Bootstrap = 1000,
    out: Annotated[Path | None, typer.Option(help="Run directory to write (default: runs/eval-<time>).")] = None,
    max_unscored: MaxUnscored = DEFAULT_MAX_UNSCORED,
) -> None:
    """Generate with each policy, judge its responses, report accuracy per domain with CIs and paired comparisons."""
    names = _judge_names(judges)
    if not names:
        raise UserError("give at least one judge: --judges contains (see `rlvr-bench judges`)")
    if out is not None:  # before any model loads
        check_run_destination(out, "eval")
    overrides = generation_overrides(n_samples, temperature, top_p, max_new_tokens, stop, seed, batch_size,
                                     system_prompt, system_prompt_file, prompt_template)
    # cheap checks first, so a typo fails before any model loads
    specs = parse_policy_specs(policy, api_key_env)
    from rlvr_bench.pipelines.evaluate import evaluate, load_eval_items

    items, _ = load_eval_items(task, split, data, data_format)
    n_items = min(len(items), limit) if limit else len(items)
    generating = sum(1 for spec in specs if spec.generates)
    per_item = max(n_samples or 1, 1)
    with generation_progress(n_items * generating, n_items * per_item * len(specs) * len(names)) as (on_gen,
                                                                                                    on_judge):
        result = evaluate(policy, names, task=task, split=split, data=data, data_format=data_format,
                          api_key_env=api_key_env, limit=limit,
                          generation=overrides, n_bootstrap=bootstrap, seed=seed or 0, out=out,
                          concurrency=concurrency, on_generate=on_gen, on_judge=on_judge, max_unscored=max_unscored)
    print_eval(result.results, result.run_dir)


@app.command("judge")
@user_errors_exit_2
def judge_command(
    run_dir: Annotated[Path, typer.Argument(help="An eval run directory.")],
    judges: Annotated[list[str] | None, typer.Option(
        "--judges", "--judge", "-j", help="Judges to add, comma-separated or repeated.")] = None,
    policy: Annotated[list[str] | None, typer.Option(
        "--policy", "-p", help="Imported responses to add as a policy row: responses:FILE.jsonl[:NAME].")] = None,
    bootstrap: Annotated[int | None, typer.Option(min=0, max=100_000,
                                                  help="Bootstrap resamples (default: the run's).")] = None,
    max_unscored: MaxUnscored = DEFAULT_MAX_UNSCORED,
) -> None:
    """Add judges (and imported responses) to an eval run without generating again; recompute its results."""
    names = _judge_names(judges)
    from rlvr_bench.pipelines.judge_run import judge_run

    with generation_progress(0, 0) as (_, on_judge):
        result = judge_run(run_dir, names, policy or [], n_bootstrap=bootstrap, on_judge=on_judge,
                           max_unscored=max_unscored)
    print_eval(result.results, result.run_dir)
