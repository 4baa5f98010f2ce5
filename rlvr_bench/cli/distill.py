"""`rlvr-bench distill`: train a small verifier on a teacher judge's verdicts and measure how well it imitates it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rlvr_bench.cli.app import app, console, emit_json, err_console, say_written, split_names, user_errors_exit_2
from rlvr_bench.cli.train import ReportTo, tensorboard_folder
from rlvr_bench.errors import ConfigError
from rlvr_bench.rundir import check_output_file, check_run_destination, default_run_path


def _fmt(block: dict[str, Any] | None, digits: int = 3) -> str:
    if not block or block.get("estimate") is None:
        return "—"
    text = f"{block['estimate']:.{digits}f}"
    if block.get("ci_low") is not None and block.get("ci_high") is not None:
        text += f" [{block['ci_low']:.2f}, {block['ci_high']:.2f}]"
    return text


def print_results(results: dict[str, Any]) -> None:
    head = results["held_out"]["student_vs_teacher"]
    data = results["data"]
    table = Table(title=f"Students vs teacher {results['teacher']} on held-out questions "
                        f"({head['n']} responses, {head['n_questions']} questions; 95% CI, bootstrap over questions)")
    table.add_column("student")
    for column in ("Cohen's kappa", "accuracy", "AUROC", "FPR", "FNR", "AC1", "unscored", "teacher YES rate"):
        table.add_column(column, justify="right")
    rows = [(results["student"]["name"], head)]
    rows += [(c["name"], c["student_vs_teacher"]) for c in results["held_out"].get("compared_students", [])]
    for name, block in rows:
        table.add_row(name, _fmt(block["cohen_kappa"]), _fmt(block["accuracy"]), _fmt(block.get("auroc")),
                      _fmt(block["false_positive_rate"]),
                      _fmt(block["false_negative_rate"]), _fmt(block["gwet_ac1"]), str(block["n_unscored"]),
                      _fmt(block["teacher_yes_rate"]))
    console.print(table)
    agreement = results["held_out"]["agreement"]
    judges = agreement["judges"]
    if len(judges) > 2:
        pairwise = agreement["overall"]["pairwise"]
        others = Table(title="Held-out agreement with the other judges (Cohen's kappa, n)")
        others.add_column("judge")
        for column in ("vs student", "vs teacher"):
            others.add_column(column, justify="right")
        kappas = pairwise["cohen_kappa"]
        for j in range(2, len(judges)):
            cells = []
            for i in (0, 1):
                block = {key: kappas[key][i][j] for key in ("estimate", "ci_low", "ci_high")}
                cells.append(f"{_fmt(block)} (n={pairwise['n_scored'][i][j]})")
            others.add_row(judges[j], *cells)
        console.print(others)
    dropped = data["n_teacher_unscored_dropped"] + data["n_without_teacher_dropped"]
    console.print(f"train: {data['train']['n_examples']} examples / {data['train']['n_questions']} questions "
                  f"(teacher YES rate {data['train']['teacher_yes_rate']:.3f}, balance {data['balance']}); "
                  f"dropped {dropped} without a scored teacher verdict; "
                  f"training {results['training']['wall_time_s']} s",
                  markup=False)
    verdict = "meets" if results["meets_target"] else "does not meet"
    console.print(f"kappa {verdict} the target of {results['target_kappa']}", markup=False)
    console.print(f"judge preset: {results['student']['preset']}", markup=False)


@app.command()
@user_errors_exit_2
def distill(
    teacher: Annotated[str, typer.Option("--teacher", help="The judge whose verdicts the student learns (its name in "
                                                           "the runs, or a preset when generating data).")],
    student: Annotated[str, typer.Option(
        "--student", help="tiny (a small llama built here), minilm-classifier (a head on MiniLM embeddings), smollm2 "
                          "(SmolLM2-135M-Instruct, installed by make install), or a local checkpoint folder / .gguf "
                          "file / hub id (e.g. Qwen/Qwen2.5-7B-Instruct).")] = "tiny",
    judgments: Annotated[list[str] | None, typer.Option(
        "--judgments", help="Run directory with the teacher's verdicts (judgments.jsonl or a train run's "
                            "exploration_judgments.jsonl); repeat or comma-separate for several.")] = None,
    data: Annotated[list[str] | None, typer.Option(
        "--data", help="Labelled data file(s) in any layout --data reads elsewhere (EVOUNA, OpenQA-eval, TinyV, "
                       "VerifierBench, ...); repeat or comma-separate. With --teacher column:label the student "
                       "learns the files' gold (human) labels.")] = None,
    generate: Annotated[int, typer.Option(
        "--generate", help="Also generate N procedural questions with exploration-like responses, judged by the "
                           "teacher.")] = 0,
    responses_per_question: Annotated[int, typer.Option(
        "--responses-per-question", help="Generated responses per question.")] = 4,
    compare: Annotated[str | None, typer.Option(
        "--compare", help="Comma-separated student kinds (minilm-classifier, tiny) also trained, with their default "
                          "settings, on the same training questions and judged on the same held-out ones.")] = None,
    also: Annotated[str | None, typer.Option(
        "--also", help="Comma-separated judges that also judge the held-out responses, for comparison.")] = None,
    held_out: Annotated[float, typer.Option("--held-out", help="Share of questions held out for evaluation.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, the data generator and training.")] = 0,
    prompt: Annotated[str, typer.Option(
        "--prompt", help="Verifier prompt template of a generative student (judges/prompts/NAME.txt or a file).")
    ] = "verifier",
    name: Annotated[str | None, typer.Option("--name", help="The student judge's name.")] = None,
    preset_out: Annotated[Path | None, typer.Option(
        "--preset-out", help="Also write the student's preset here, e.g. judges/NAME.yaml.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Optimiser steps (default: from --epochs).")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Passes over the training set.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Examples per device per step.")] = None,
    grad_accum: Annotated[int | None, typer.Option("--grad-accum", help="Gradient accumulation steps.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    lr_scheduler: Annotated[str | None, typer.Option(
        "--lr-scheduler", help="transformers scheduler: cosine, linear, constant_with_warmup (any saved checkpoint "
                               "is then a fair stopping point), ...")] = None,
    balance: Annotated[str | None, typer.Option(
        "--balance", help="none, or oversample (repeat minority-verdict examples to balance YES and NO).")] = None,
    head: Annotated[str | None, typer.Option("--head", help="minilm-classifier head: mlp or logistic.")] = None,
    max_length: Annotated[int | None, typer.Option(
        "--max-length", help="Longest training example in tokens; longer ones are dropped (counted).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads.")] = None,
    max_train_examples: Annotated[int | None, typer.Option(
        "--max-train-examples", help="Train on a seeded sample of at most this many examples.")] = None,
    lora_rank: Annotated[int | None, typer.Option(
        "--lora-rank", min=1, help="Train LoRA adapters of this rank instead of every weight (checkpoint students).")
    ] = None,
    lora_layers: Annotated[int | None, typer.Option(
        "--lora-layers", min=1, help="LoRA on the top N transformer blocks only (the rest frozen; default all).")
    ] = None,
    save_steps: Annotated[int | None, typer.Option(
        "--save-steps", min=1, help="Save a resumable checkpoint every N steps; rerunning with the same --out "
                                    "resumes.")] = None,
    group_by_length: Annotated[bool | None, typer.Option(
        "--group-by-length/--no-group-by-length", help="Batch examples of similar length (less padding; default on "
                                                       "for checkpoint students).")] = None,
    curve: Annotated[int, typer.Option(
        "--curve", min=0, max=1_000_000, help="Judge every saved LoRA checkpoint on up to N held-out examples: "
                                              "quality against training rows seen.")] = 0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, max=100_000,
                                           help="Bootstrap resamples for the CIs.")] = 1000,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/distill-<time>).")] = None,
    report_to: ReportTo = None,
) -> None:
    """Distill a verifier from a teacher judge's YES/NO verdicts (SFT on the verdict word's tokens) and evaluate it."""
    from rlvr_bench.training.distill import DistillRequest, is_distilled_preset, run_distill
    from rlvr_bench.training.distill_students import default_settings
    from rlvr_bench.training.trackers import parse_report_to

    runs = tuple(Path(p) for value in (judgments or []) for p in (split_names(value) or []))
    data_files = tuple(Path(p) for value in (data or []) for p in (split_names(value) or []))
    if int(os.environ.get("RANK", "0") or 0) == 0:  # other processes of a distributed run write no files
        if out is not None:
            check_run_destination(out, "distill")
        if preset_out is not None:
            check_output_file(preset_out, is_distilled_preset, "judge preset")
    try:
        settings = default_settings(student, steps=steps, epochs=epochs, batch_size=batch_size,
                                    gradient_accumulation_steps=grad_accum, learning_rate=lr, balance=balance,
                                    lr_scheduler=lr_scheduler,
                                    head=head, max_length=max_length, threads=threads,
                                    max_train_examples=max_train_examples, lora_rank=lora_rank,
                                    lora_layers=lora_layers, save_steps=save_steps,
                                    group_by_length=group_by_length)
        trackers = parse_report_to(report_to)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    import dataclasses

    settings = dataclasses.replace(settings, report_to=trackers or ())
    run_path = out or default_run_path("distill")
    if "tensorboard" in settings.report_to:  # trl's work folder is removed after training: log beside the run
        tensorboard_folder(run_path.with_name(f"{run_path.name}-tensorboard"))
    import datasets
    import transformers

    # progress goes through one line per logged step; library progress bars would interleave with it
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    request = DistillRequest(teacher=teacher, student=student, out=run_path, inputs=runs,
                             data_files=data_files, curve_examples=curve,
                             generate_questions=generate, responses_per_question=responses_per_question,
                             also_judges=tuple(split_names(also) or ()), held_out_fraction=held_out, seed=seed,
                             prompt=prompt, name=name, preset_out=preset_out, n_bootstrap=bootstrap,
                             settings=settings, compare_students=tuple(split_names(compare) or ()))
    results = run_distill(request, say=lambda text: err_console.print(text, markup=False, highlight=False,
                                                                        soft_wrap=True))
    if results:
        print_results(results)
        emit_json({"run_dir": str(request.out), "results": results})
        say_written("run directory", request.out)
