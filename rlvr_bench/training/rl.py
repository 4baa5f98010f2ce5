"""One RLVR run from a recipe: data, policy (with SFT warm start), trl GRPO / RLOO, evaluation before and after.

The run directory holds ``config.json`` (resolved recipe, versions, git
revision), ``log.jsonl`` (one row per logged step: reward mean/std, KL,
completion length, zero-variance groups, reward-hacking agreement),
``exploration_judgments.jsonl`` (every judgment made during exploration),
``checkpoints/`` and ``policy/`` (the final policy), ``sft_policy/`` for a tiny
warm start, the evaluation inputs and verdicts (``items.jsonl``,
``responses.jsonl``, ``judgments.jsonl``) and ``results.json`` (accuracy
before and after per domain with CIs, the paired difference, wall times).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.checkpoints import checkpoint_problem, quiet_progress, resolve_checkpoint
from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import Judge
from rlvr_bench.judges.registry import availability, judge, parameter_problem, resolve_preset
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED, FailureBudget
from rlvr_bench.pipelines.engine import PolicyEvaluation
from rlvr_bench.prompting import PromptFormat
from rlvr_bench.records import Item
from rlvr_bench.rundir import RunWriter
from rlvr_bench.training.evaluation import (
    evaluate_model,
    evaluation_table,
    paired_difference,
    recipe_generation,
    recipe_prompt,
    save_policy_settings,
)
from rlvr_bench.training.exploration import ExplorationLog, exploration_file
from rlvr_bench.training.recipes import Recipe
from rlvr_bench.training.rewards import JudgeReward

#: ``results["schema"]``: the report renders training curves and the before/after table for it
RESULTS_SCHEMA = "rlvr-bench/train/v1"
LOG_FILE = "log.jsonl"
#: trl log keys copied to the step log, renamed for readers who do not know trl
LOG_KEYS = {
    "reward": "reward_mean", "reward_std": "reward_std", "kl": "kl", "completions/mean_length": "completion_length",
    "frac_reward_zero_std": "frac_zero_std_groups", "loss": "loss", "learning_rate": "learning_rate",
    "grad_norm": "grad_norm", "entropy": "entropy", "completions/clipped_ratio": "clipped_ratio",
}

Say = Callable[[str], None]


@dataclass(frozen=True)
class TrainingData:
    """Items for RL (``train``) and for evaluation (``evaluation``); procedural problems when generated."""

    train: list[Item]
    evaluation: list[Item]
    procedural_train: list[Any]


# ---------------------------------------------------------------- data


def load_training_data(recipe: Recipe) -> TrainingData:
    data = recipe.data
    if data.source == "procedural":
        from rlvr_bench.training.procedural import generate_splits

        sizes = data.procedural
        splits = generate_splits(sizes.seed, sizes.test_per_domain, sizes.validation_per_domain,
                                 sizes.train_per_domain)
        items = splits.items()
        problems: list[Any] = splits.train
    elif data.is_hub:
        items, problems = hub_items(data.source.removeprefix("hf:"), data.train_split), []
    else:
        from rlvr_bench.tasks import load_task

        items, problems = load_task(data.source).items, []
    train = [item for item in items if item.split == data.train_split]
    evaluation = [item for item in items if item.split == data.eval_split][: data.max_eval_items]
    if not train:
        raise ConfigError(f"data source {data.source!r} has no items in split {data.train_split!r}")
    return TrainingData(train, evaluation, problems)


def chat_rows_to_items(rows: Sequence[dict[str, Any]], split: str, domain: str = "multi-subject") -> list[Item]:
    """Rows in the study's format (``query`` = chat messages, ``label`` = reference) as items.

    The question is the last user message; the full message list is kept in
    ``metadata["messages"]`` and becomes the (conversational) prompt.
    """
    items = []
    for index, row in enumerate(rows):
        messages = row.get("query")
        if not isinstance(messages, list) or not messages:
            raise ConfigError(f"row {index}: field 'query' must be a non-empty list of chat messages")
        question = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")
        items.append(Item(id=str(row.get("id", index)), domain=str(row.get("domain") or domain), question=question,
                          reference=str(row.get("label", "")), split=split, metadata={"messages": messages}))
    return items


def hub_items(dataset_id: str, split: str) -> list[Item]:  # pragma: no cover - needs the hub
    from datasets import load_dataset

    return chat_rows_to_items(list(load_dataset(dataset_id, split="train")), split)


def rl_dataset_rows(items: Sequence[Item], prompt: PromptFormat) -> list[dict[str, Any]]:
    """trl dataset rows: the prompt (the recipe's, :func:`recipe_prompt`: the one evaluation asks too) plus
    every column the judge reward needs."""
    rows = []
    for item in items:
        rows.append({"prompt": prompt.prompt(item), "item_id": item.id, "question": item.question,
                     "reference": item.reference, "aliases": list(item.aliases), "answer_type": item.answer_type,
                     "domain": item.domain})
    return rows


# ---------------------------------------------------------------- trl configuration


def trl_config_kwargs(recipe: Recipe, output_dir: Path) -> tuple[str, dict[str, Any]]:
    """(trainer name, keyword arguments of GRPOConfig / RLOOConfig) for a recipe."""
    train, runtime = recipe.train, recipe.runtime
    layout = recipe.batch_layout()
    kwargs: dict[str, Any] = {
        "output_dir": str(output_dir),
        "max_steps": train.steps,
        "learning_rate": train.learning_rate,
        "lr_scheduler_type": train.lr_scheduler,
        "warmup_steps": int(train.warmup_ratio * train.steps),
        "weight_decay": train.weight_decay,
        "max_grad_norm": train.max_grad_norm,
        "per_device_train_batch_size": layout["per_device_train_batch_size"],
        "gradient_accumulation_steps": layout["gradient_accumulation_steps"],
        "steps_per_generation": layout["steps_per_generation"],
        "temperature": train.temperature,
        "max_completion_length": train.max_completion_length,
        "logging_steps": train.logging_steps,
        "save_strategy": "steps" if train.save_steps else "no",
        "save_steps": train.save_steps or 500,
        "report_to": list(train.report_to),
        "seed": recipe.seed,
        "use_cpu": runtime.device == "cpu",
        "bf16": runtime.bf16,
        "activation_checkpointing": train.gradient_checkpointing,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "use_vllm": runtime.use_vllm,
        **recipe.algorithm.trl_settings(),
    }
    if runtime.use_vllm:
        kwargs["vllm_mode"] = runtime.vllm_mode
        if runtime.vllm_server_base_url:
            kwargs["vllm_server_base_url"] = runtime.vllm_server_base_url
    if not recipe.policy.is_tiny:
        kwargs["model_init_kwargs"] = {"dtype": recipe.policy.dtype}
    return recipe.algorithm.trainer, kwargs


def build_trl_config(trainer: str, kwargs: dict[str, Any]) -> Any:
    """Instantiate trl's config, turning its ValueErrors (what to change) into ConfigError."""
    from trl import GRPOConfig, RLOOConfig

    cls = GRPOConfig if trainer == "grpo" else RLOOConfig
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"trl {cls.__name__} rejects the recipe: {exc}") from None


def launch_command(recipe: Recipe) -> str:
    """How to start the run (accelerate for multi-process recipes)."""
    target = recipe.source.stem if recipe.source else recipe.name
    if recipe.runtime.num_processes == 1 and not recipe.runtime.accelerate_config:
        return f"rlvr-bench train --recipe {target}"
    config = f" --config_file {resolve_accelerate_config(recipe)}" if recipe.runtime.accelerate_config else ""
    return (f"accelerate launch{config} --num_processes {recipe.runtime.num_processes} "
            f"$(which rlvr-bench) train --recipe {target}")


def resolve_accelerate_config(recipe: Recipe) -> Path:
    from rlvr_bench.assets import asset_dir

    name = recipe.runtime.accelerate_config or ""
    path = Path(name)
    if not path.is_absolute():
        path = (recipe.source.parent if recipe.source else asset_dir("training")) / name
    if not path.is_file():
        raise ConfigError(f"runtime.accelerate_config: {path} not found")
    return path


def dry_run(recipe: Recipe) -> dict[str, Any]:
    """Resolve and validate everything a run needs without loading weights or data."""
    report: dict[str, Any] = {"recipe": recipe.name, "source": str(recipe.source) if recipe.source else None}
    judges = {"reward": recipe.reward.judge, "reference": recipe.reward.evaluation_judge}
    report["judges"] = {}
    for role, name in judges.items():
        spec = resolve_preset(name).spec  # unknown names fail here
        problem = parameter_problem(spec)  # and so do mistyped parameters, on any machine
        if problem is not None:
            raise ConfigError(problem)
        report["judges"][role] = {"name": spec.name, "backend": spec.backend,
                                  "available_here": availability(spec) is None,
                                  "note": availability(spec)}
    if recipe.data.source not in ("procedural",) and not recipe.data.is_hub:
        from rlvr_bench.tasks import resolve_task_folder

        report["data"] = str(resolve_task_folder(recipe.data.source))
    else:
        report["data"] = recipe.data.source
    if not recipe.policy.is_tiny:
        problem = checkpoint_problem(recipe.policy.source)  # a named checkpoint not installed here
        if problem is not None:
            raise ConfigError(f"policy.source: {problem}")
        report["policy"] = recipe.policy.source
    if recipe.runtime.accelerate_config:
        report["accelerate_config"] = str(resolve_accelerate_config(recipe))
    trainer, kwargs = trl_config_kwargs(recipe, Path("checkpoints"))
    # trl checks the batch arithmetic and algorithm settings in __post_init__; GPU-only switches are
    # checked against this machine's hardware there, so validate them as if on CPU
    check_kwargs = {**kwargs, "use_cpu": True, "bf16": False, "use_vllm": False}
    build_trl_config(trainer, check_kwargs)
    report.update(trainer=trainer, trl_config=kwargs, batch_layout=recipe.batch_layout(),
                  launch=launch_command(recipe))
    return report


# ---------------------------------------------------------------- the run


def reset_peak_rss() -> None:
    """Start this process's peak-memory count afresh (Linux: ``clear_refs`` 5), so that each run of a matrix, which
    shares one process, reports its own peak; elsewhere the count keeps the process's peak so far."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def peak_rss_gb() -> float | None:
    """Peak resident memory since :func:`reset_peak_rss` (GB; None where ``/proc`` does not say)."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024**2, 2)
    return None


def _step_log_callback(path: Path, say: Say, every: int) -> Any:
    from transformers import TrainerCallback

    class StepLog(TrainerCallback):
        """Appends each trl log row to ``log.jsonl`` with readable names (keeping every trl key); says a
        one-line summary every ``every`` steps."""

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if not logs or not state.is_world_process_zero:
                return
            row: dict[str, Any] = {"step": state.global_step}
            for key, value in logs.items():
                row[LOG_KEYS.get(key, key)] = value
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            if "reward_mean" in row and (state.global_step % every == 0 or state.global_step == 1):
                agreement = row.get("reward_hacking/agreement")
                say(f"step {state.global_step}/{state.max_steps}: reward {row['reward_mean']:.3f} "
                    f"(zero-variance groups {row.get('frac_zero_std_groups', float('nan')):.2f}), "
                    f"length {row.get('completion_length', float('nan')):.1f}"
                    + (f", agreement with reference {agreement:.3f}" if agreement is not None else ""))

    return StepLog()


def _checkpoint_settings_callback(recipe: Recipe) -> Any:
    from transformers import TrainerCallback

    class CheckpointSettings(TrainerCallback):
        """Writes the recipe's prompt and evaluation settings into every checkpoint trl saves, so an
        intermediate checkpoint describes itself like the final policy."""

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                save_policy_settings(folder, recipe)

    return CheckpointSettings()


def _judge(name: str) -> Judge:
    return judge(name)


def _tiny_policy(recipe: Recipe, data: TrainingData, folder: Path, say: Say) -> tuple[Any, Any, dict[str, Any]]:
    """Build the tokenizer and tiny model; run the SFT warm start when the recipe has one."""
    from rlvr_bench.training.procedural import Problem
    from rlvr_bench.training.sft import run_sft, sft_examples
    from rlvr_bench.training.tiny_models import build_tiny_policy, parameter_count, save_policy, train_tokenizer

    template = recipe.data.prompt_template
    problems: list[Problem] = data.procedural_train
    if problems:
        corpus_rows = sft_examples(problems, min(5000, 5 * len(problems)), template, recipe.seed)
        corpus = [row["prompt"] + row["completion"] for row in corpus_rows]
    else:
        corpus = [template.format(question=i.question) + i.reference for i in data.train]
    tokenizer = train_tokenizer(corpus, recipe.policy.tiny.vocab_size)
    tokenizer.model_max_length = recipe.policy.tiny.max_position_embeddings
    model = build_tiny_policy(recipe.policy.tiny, tokenizer, recipe.seed)
    info: dict[str, Any] = {"parameters": parameter_count(model), "vocab_size": len(tokenizer)}
    say(f"tiny policy: {info['parameters']:,} parameters, vocabulary {len(tokenizer)}")
    if recipe.sft is not None:
        examples = sft_examples(problems, recipe.sft.steps * recipe.sft.batch_size, template, recipe.seed + 1,
                                recipe.sft.flaw_scale)
        say(f"SFT warm start: {recipe.sft.steps} steps x {recipe.sft.batch_size} demonstrations")
        info["sft"] = run_sft(model, tokenizer, examples, recipe.sft, folder / "sft_work", recipe.seed)
        save_policy(model, tokenizer, folder / "sft_policy", recipe.policy.tiny)
        save_policy_settings(folder / "sft_policy", recipe)
        say(f"SFT done in {info['sft']['wall_time_s']} s (loss {info['sft']['first_loss']} -> "
            f"{info['sft']['final_loss']})")
    return model, tokenizer, info


def _evaluation(recipe: Recipe, phase: str, model: Any, tokenizer: Any, items: Sequence[Item], judge: Judge,
                ) -> tuple[PolicyEvaluation, dict[str, Any]]:
    """The held-out evaluation of one phase ("start" or "rl"), asked as the recipe asks; and its table."""
    evaluation = evaluate_model(phase, model, tokenizer, items, judge, recipe_generation(recipe))
    return evaluation, evaluation_table(evaluation, items, judge.name, recipe.eval.bootstrap_samples, recipe.seed)


def _headline(table: dict[str, Any]) -> str:
    accuracy = table["accuracy"]["all"]["accuracy"]
    return f"{accuracy['estimate']:.3f} [{accuracy['ci_low']:.3f}, {accuracy['ci_high']:.3f}] (n={accuracy['n']})"


def _tensorboard_into(trainer: Any, folder: Path) -> None:
    """TensorBoard event files (``--report-to tensorboard``) go into the run directory's ``tensorboard/``,
    not ``checkpoints/runs/<date>``: transformers reads its folder from TENSORBOARD_LOGGING_DIR only."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and not os.environ.get("TENSORBOARD_LOGGING_DIR"):
            callback.logging_dir = str(folder)


def run_training(recipe: Recipe, out: Path, say: Say = print,
                 max_unscored: float = DEFAULT_MAX_UNSCORED) -> dict[str, Any]:
    """Run a recipe end to end and write its run directory at ``out``; returns ``results.json``'s content.

    Training stops (:class:`~rlvr_bench.errors.TooManyUnscored`) once the reward judge has failed on
    more than ``max_unscored`` of the completions it judged: a reward that mostly fails trains nothing.
    """
    import datasets
    import torch

    datasets.disable_progress_bars()
    began, cpu_began = time.perf_counter(), time.process_time()
    reset_peak_rss()
    if recipe.runtime.threads:
        torch.set_num_threads(recipe.runtime.threads)
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    reward_judge = _judge(recipe.reward.judge)
    reference_judge = _judge(recipe.reward.evaluation_judge) if recipe.reward.reference_judge else reward_judge
    reward = JudgeReward(reward_judge, recipe.reward.mode, reference_judge if recipe.reward.reference_judge else None,
                         budget=FailureBudget(max_unscored))  # log attached below
    data = load_training_data(recipe)
    say(f"data: {len(data.train)} train items, {len(data.evaluation)} evaluation items ({recipe.data.eval_split})")
    config = {"recipe": recipe.to_json(), "trainer": recipe.algorithm.trainer, "batch_layout": recipe.batch_layout()}
    results: dict[str, Any] = {"schema": RESULTS_SCHEMA, "recipe": recipe.name, "seed": recipe.seed,
                               "reward": str(recipe.reward.choice),
                               "reference_judge": reference_judge.name, "algorithm": recipe.algorithm.name}
    with _run_writer(out, config) as writer:
        folder = writer.folder
        reward.exploration_log = ExplorationLog(folder / exploration_file(_rank()))
        evaluations: dict[str, PolicyEvaluation] = {}
        evaluate = recipe.eval.enabled and bool(data.evaluation)
        if recipe.policy.is_tiny:
            model, tokenizer, results["policy"] = _tiny_policy(recipe, data, folder, say)
        else:
            # trl loads a hub / folder policy itself (dtype, DeepSpeed ZeRO-3 init); a copy for the
            # before-RL evaluation is loaded and dropped first
            # a project name (smollm2) or a .gguf file becomes its converted folder first
            model, tokenizer = resolve_checkpoint(recipe.policy.source), None
            if evaluate:
                from rlvr_bench.training.tiny_models import load_policy

                with quiet_progress():
                    model_copy, tokenizer = load_policy(model, recipe.policy.dtype)
                evaluations["start"], results["before"] = _evaluation(recipe, "start", model_copy, tokenizer,
                                                                      data.evaluation, reference_judge)
                del model_copy
        if evaluate and "start" not in evaluations:
            evaluations["start"], results["before"] = _evaluation(recipe, "start", model, tokenizer,
                                                                  data.evaluation, reference_judge)
        if "before" in results:
            say(f"accuracy before RL ({reference_judge.name}): {_headline(results['before'])}")
        trainer_name, kwargs = trl_config_kwargs(recipe, folder / "checkpoints")
        trl_config = build_trl_config(trainer_name, kwargs)
        with quiet_progress():  # trl loads a checkpoint policy itself; the run has its own progress lines
            trainer = _trainer(trainer_name, model, tokenizer, reward, trl_config,
                               rl_dataset_rows(data.train, recipe_prompt(recipe)), folder, say)
        trainer.add_callback(_checkpoint_settings_callback(recipe))
        _tensorboard_into(trainer, folder / "tensorboard")
        say(f"RL: {recipe.algorithm.name} for {recipe.train.steps} steps, reward {recipe.reward.choice}")
        rl_began, rl_cpu_began = time.perf_counter(), time.process_time()
        trainer.train()
        results["rl_wall_time_s"] = round(time.perf_counter() - rl_began, 1)
        # CPU seconds of this process: on a shared machine wall time measures the neighbours too
        results["rl_cpu_time_s"] = round(time.process_time() - rl_cpu_began, 1)
        say(f"RL done in {results['rl_wall_time_s']} s")
        with quiet_progress():
            trainer.save_model(str(folder / "policy"))
        tokenizer = trainer.processing_class
        if trainer.accelerator.is_main_process:
            tokenizer.save_pretrained(str(folder / "policy"))
            save_policy_settings(folder / "policy", recipe)  # `eval --policy` then asks it as this run did
        model = trainer.model
        if evaluations:
            evaluations["rl"], results["after"] = _evaluation(recipe, "rl", model, tokenizer, data.evaluation,
                                                              reference_judge)
            results["difference"] = paired_difference(evaluations["start"], evaluations["rl"], data.evaluation,
                                                      reference_judge.name, recipe.eval.bootstrap_samples,
                                                      recipe.seed)
            say(f"accuracy after RL: {_headline(results['after'])}")
            diff = results["difference"]["all"]["difference"]
            say(f"paired difference: {diff['estimate']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]")
            writer.write_items(data.evaluation)
            writer.write_responses([r for e in evaluations.values() for r in e.responses])
            writer.write_judgments([j for e in evaluations.values() for j in e.judgments])
        results["exploration_judgments"] = reward.exploration_log.rows_written
        results["wall_time_s"] = round(time.perf_counter() - began, 1)
        results["cpu_time_s"] = round(time.process_time() - cpu_began, 1)
        results["peak_rss_gb"] = peak_rss_gb()
        if _rank() == 0:
            writer.write_results(results)
        path = writer.commit()
    if _rank() == 0:
        from rlvr_bench.report import write_run_report

        write_run_report(path)
    return results


def _rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def _run_writer(out: Path, config: dict[str, Any]) -> RunWriter:
    """The run's writer. A multi-process (accelerate) run is written in place: the processes share one
    checkpoint folder, which a per-process staging folder cannot give; only rank 0 writes ``config.json``
    (and, in :func:`run_training`, every file other than checkpoints and its own exploration log)."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return RunWriter(out, "train", config, in_place=True, primary=_rank() == 0)
    return RunWriter(out, "train", config)


def _rank_file(name: str) -> str:
    rank = _rank()
    return name if rank == 0 else name.replace(".jsonl", f".rank{rank}.jsonl")


def _trainer(name: str, model: Any, tokenizer: Any, reward: JudgeReward, config: Any, rows: list[dict[str, Any]],
             folder: Path, say: Say) -> Any:
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOTrainer, RLOOTrainer

    cls = GRPOTrainer if name == "grpo" else RLOOTrainer
    every = max(1, config.max_steps // 20)
    if tokenizer is not None:
        tokenizer.padding_side = "left"
    trainer = cls(model=model, reward_funcs=[reward], args=config, train_dataset=Dataset.from_list(rows),
                  processing_class=tokenizer, callbacks=[_step_log_callback(folder / LOG_FILE, say, every)])
    trainer.remove_callback(PrinterCallback)  # the step log and `say` replace raw dict printing
    return trainer
