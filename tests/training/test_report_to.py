"""``--report-to``: trl's trackers for `train`, `train-and-eval` and `distill` (none by default)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app


def test_train_with_tensorboard_writes_event_files_with_the_reward_and_loss(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--recipe", "mini-quick", "--report-to", "tensorboard",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    events = sorted((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events, list(out.rglob("*tfevents*"))  # in the run directory, not under checkpoints/runs/<date>
    accumulator = EventAccumulator(str(out / "tensorboard"))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    assert {"train/reward", "train/loss"} <= tags, tags
    # the same values the run's own log holds, step for step
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    rewards = [(row["step"], row["reward_mean"]) for row in logged if "reward_mean" in row]
    assert len(rewards) == 2  # mini-quick: 2 RL steps, logged every step
    scalars = accumulator.Scalars("train/reward")
    assert [event.step for event in scalars] == [step for step, _ in rewards]
    assert [event.value for event in scalars] == pytest.approx([value for _, value in rewards])  # float32 there
    assert json.loads((out / "config.json").read_text())["recipe"]["train"]["report_to"] == ["tensorboard"]


def test_train_reports_to_no_tracker_by_default(tmp_path: Path) -> None:
    from rlvr_bench.training.recipes import load_recipe
    from rlvr_bench.training.rl import trl_config_kwargs

    _, kwargs = trl_config_kwargs(load_recipe("mini-quick"), tmp_path)
    assert kwargs["report_to"] == []
    _, kwargs = trl_config_kwargs(load_recipe("mini-quick").with_overrides(report_to=("wandb", "trackio")), tmp_path)
    assert kwargs["report_to"] == ["wandb", "trackio"]


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("none", ()), ("", ()), ("tensorboard", ("tensorboard",)), ("TensorBoard,none", None),
])
def test_report_to_values(value: str | None, expected: tuple[str, ...] | None) -> None:
    from rlvr_bench.training.trackers import parse_report_to

    if value == "TensorBoard,none":
        with pytest.raises(ValueError, match="unknown tracker 'none'"):
            parse_report_to(value)
        return
    assert parse_report_to(value) == expected


@pytest.mark.parametrize("command", [["train", "--recipe", "mini-quick"], ["train-and-eval", "--quick"],
                                     ["distill", "--teacher", "contains", "--generate", "4"]])
def test_an_unknown_or_missing_tracker_is_one_line_before_any_work(command: list[str], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    monkeypatch.chdir(tmp_path)
    for value, fragment in (("mlflow", "unknown tracker 'mlflow'"), ("wandb", "needs the wandb package")):
        result = CliRunner().invoke(app, [*command, "--report-to", value])
        assert result.exit_code == 2, result.output
        assert fragment in result.stderr
        assert list(tmp_path.iterdir()) == []


def test_distill_settings_carry_report_to() -> None:
    from rlvr_bench.training.distill_students import DistillSettings

    assert DistillSettings().report_to == ()
