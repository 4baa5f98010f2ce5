"""Hostile invocations that used to end in a traceback: each is one line on stderr and exit code 2.

Every case runs the real entry point (``rlvr_bench.cli.main``); numeric options are refused by the
option parser before any input is read or any judge is built; nothing is left at ``--out``.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import run_main

AGREEMENT = ["agreement", "--judges", "exact,contains", "--bootstrap", "20", "--no-cache"]




def one_error_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(("argv", "fragment"), [
    (["agreement", "--seed", "-1"], "--seed"),
    (["agreement", "--seed", str(2**40)], "--seed"),
    (["agreement", "--bootstrap", "1000000000"], "--bootstrap"),
    (["agreement", "--bootstrap", "-5"], "--bootstrap"),
    (["agreement", "--batch-size", "0"], "--batch-size"),
    (["verify", "--bins", "1000000"], "--bins"),
    (["verify", "--bins", "0"], "--bins"),
    (["verify", "--seed", "-1"], "--seed"),
    (["eval", "--policy", "x", "--judges", "exact", "--n-samples", "0"], "--n-samples"),
    (["eval", "--policy", "x", "--judges", "exact", "--bootstrap", "1000000000"], "--bootstrap"),
    (["train", "--recipe", "mini-quick", "--steps", "0"], "--steps"),
    (["train-and-eval", "--recipe", "mini-quick", "--steps", "0"], "--steps"),
    (["distill", "--teacher", "contains", "--bootstrap", "-5"], "--bootstrap"),
])
def test_numeric_options_are_bounded_before_any_work(argv: list[str], fragment: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # the work itself would fail the test: the parser must refuse first
    for target in ("rlvr_bench.pipelines.agreement.agreement", "rlvr_bench.pipelines.inputs.load_inputs",
                   "rlvr_bench.pipelines.verify.plan_verify", "rlvr_bench.training.matrix.train_and_eval",
                   "rlvr_bench.training.matrix.run_sft_start", "rlvr_bench.training.rl.run_training"):
        monkeypatch.setattr(target, _work_started)
    line = one_error_line(*run_main(argv, capsys)[::2])
    assert fragment in line
    assert list(tmp_path.iterdir()) == []  # no run directory, no staging folder


def _work_started(*args: object, **kwargs: object) -> None:
    raise AssertionError("work started before the options were checked")


@pytest.mark.parametrize("where", ["file", "devnull"])
def test_a_cache_setting_that_is_not_a_folder_is_one_line(where: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a-file" if where == "file" else Path("/dev/null")
    if where == "file":
        target.write_text("not a folder\n")
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(target))
    line = one_error_line(*run_main(["cache", "stats"], capsys)[::2])
    assert f"RLVR_BENCH_CACHE {target}: is not a folder" in line


@pytest.mark.parametrize(("content", "fragment"), [
    (b"\x00\x01garbage" * 100, "not a GGUF file"),
    (b"GGUF\x03\x00\x00\x00garbage", "cannot convert this GGUF file"),  # the magic, then a truncated header
])
def test_a_garbage_gguf_file_is_one_line(content: bytes, fragment: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(content)
    preset = tmp_path / "gguf-judge.yaml"
    preset.write_text(f"name: gguf-judge\nbackend: hf\nparams:\n  model: {gguf}\n", encoding="utf-8")
    if fragment == "not a GGUF file":  # found by the judge's check, before anything is built
        argv = ["agreement", "--judges", f"{preset},exact", "--out", str(tmp_path / "run")]
    else:  # found when the conversion reads the header
        argv = ["eval", "--policy", str(gguf), "--judges", "exact", "--limit", "1", "--out", str(tmp_path / "run")]
    line = one_error_line(*run_main(argv, capsys)[::2])
    assert str(gguf) in line and fragment in line
    assert not (tmp_path / "run").exists()


def test_a_full_disk_while_writing_the_run_is_one_line_and_leaves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import rlvr_bench.rundir as rundir

    def full(path: Path, rows: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(rundir, "write_jsonl", full)
    out = tmp_path / "runs" / "agreement"
    line = one_error_line(*run_main([*AGREEMENT, "--out", str(out)], capsys)[::2])
    assert "No space left on device" in line and ".jsonl" in line
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir()] == []  # no staging folder, no lock file


def test_train_and_eval_with_zero_steps_is_refused_before_sft(tmp_path: Path) -> None:
    from rlvr_bench.errors import UserError
    from rlvr_bench.training.matrix import MatrixRequest

    # the library refuses it too (the CLI's parser does first): a cell's recipe would only after SFT trained
    with pytest.raises(UserError, match="--steps must be at least 1"):
        MatrixRequest(recipe="mini-quick", out=tmp_path / "run", steps=0)


@pytest.mark.parametrize("device", ["/dev/zero", "fifo"])
def test_data_that_is_a_device_or_a_pipe_is_refused_before_reading(device: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(device)
    if device == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    began = time.monotonic()
    line = one_error_line(*run_main([*AGREEMENT, "--data", str(path)], capsys)[::2])
    assert f"{path}: not a regular file" in line
    assert time.monotonic() - began < 10  # refused, not read (a FIFO with no writer would block for ever)


def test_the_out_lock_refuses_a_second_writer_while_the_first_runs(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(  # another process holds the run directory's lock, as a running command does
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from rlvr_bench.rundir import RunLock; "
         f"lock = RunLock(Path({str(out)!r})); print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        line = one_error_line(*run_main([*AGREEMENT, "--out", str(out)], capsys)[::2])
        assert f"another rlvr-bench run (pid {holder.pid}) is writing this run directory now" in line
        assert not out.exists()
    finally:
        holder.communicate("", timeout=30)
    # released when its holder ends: the same command now writes the run
    code, _, err = run_main([*AGREEMENT, "--out", str(out)], capsys)
    assert code == 0, err
    assert (out / "results.json").is_file()
    assert not (tmp_path / f".{out.name}.lock").exists()


def test_a_lock_left_by_a_killed_run_does_not_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import time; from pathlib import Path; "
                               "from rlvr_bench.rundir import RunLock; "
                               f"RunLock(Path({str(out)!r})); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=30)
    assert (tmp_path / f".{out.name}.lock").exists()  # SIGKILL: no clean-up ran
    code, _, err = run_main([*AGREEMENT, "--out", str(out)], capsys)
    assert code == 0, err


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    code = "import sys; from rlvr_bench.cli import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **env}, cwd=cwd)


@pytest.mark.parametrize("command", [["tasks"], ["judges"], AGREEMENT])
def test_an_ascii_only_output_encoding_prints_instead_of_crashing(command: list[str], tmp_path: Path) -> None:
    # rich tables draw with box characters and the results use "—", "κ", "…": none of them is ASCII
    done = _cli(command, {"PYTHONIOENCODING": "ascii", "RLVR_BENCH_CACHE": str(tmp_path / "cache")}, tmp_path)
    stderr = done.stderr.decode("ascii", errors="replace")
    assert done.returncode == 0, stderr
    assert b"Traceback" not in done.stderr and b"UnicodeEncodeError" not in done.stderr
    done.stdout.decode("ascii")  # everything printed is ASCII (escaped where needed)


def test_quiet_and_json_are_options_of_every_command() -> None:
    import typer.main

    from rlvr_bench.cli import app

    group = typer.main.get_command(app)
    commands: dict[str, object] = {}

    def collect(prefix: str, command: object) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                collect(f"{prefix} {name}".strip(), sub)
        else:
            commands[prefix] = command

    collect("", group)
    assert {"agreement", "verify", "eval", "judge", "train", "train-and-eval", "distill", "report", "tasks",
            "judges", "cache stats", "cache clear"} <= set(commands)
    for name, command in commands.items():
        options = {opt for param in command.params for opt in param.opts}  # type: ignore[attr-defined]
        assert {"--quiet", "--json"} <= options, name


def test_json_puts_the_results_alone_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, stdout, err = run_main([*AGREEMENT, "--out", str(out), "--json"], capsys)
    assert code == 0, err
    document = json.loads(stdout)  # the whole of stdout is one JSON document
    assert document["run_dir"] == str(out)
    assert document["results"] == json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_quiet_prints_only_where_the_run_went(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, stdout, err = run_main([*AGREEMENT, "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert stdout == f"run directory: {out}\n"
    assert err == ""


def test_json_listings(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run_main(["tasks", "--json"], capsys)
    assert code == 0, err
    assert "starter" in {task["name"] for task in json.loads(stdout)["tasks"]}


def test_task_descriptions_are_cut_between_words() -> None:
    from rlvr_bench.cli.catalog import short_description
    from rlvr_bench.tasks import list_tasks

    text = "The bundled starter task: questions across chemistry, education and mathematics with graded answers"
    short = short_description(text, 40)
    assert len(short) <= 40 and short.endswith(" …")
    assert text.startswith(short[:-2]) and text[len(short) - 2] == " "  # the cut fell on a space
    for info in list_tasks():
        shown = short_description(info.description)
        words = " ".join(info.description.split())
        assert shown == words or (words.startswith(shown[:-2]) and words[len(shown) - 2] == " ")


def test_a_preset_file_that_does_not_exist_is_file_not_found(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(*run_main([*AGREEMENT[:1], "--judges", "my_judge.yaml,exact"], capsys)[::2])
    assert line == "error: my_judge.yaml: judge preset file not found"


def test_an_empty_judge_list_is_refused_not_every_judge(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(*run_main(["agreement", "--judges", ""], capsys)[::2])
    assert "--judges is empty" in line


def test_checkpoints_module_says_where_a_prepared_model_is(tmp_path: Path) -> None:
    env = {**os.environ, "RLVR_BENCH_CACHE": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "rlvr_bench.checkpoints"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"smol-verifier: {tmp_path / 'models' / 'smol-verifier'} (not prepared yet: "
                           "python -m rlvr_bench.checkpoints prepare smol-verifier)\n"
                           f"smollm2: {tmp_path / 'models' / 'smollm2'} (not prepared yet: "
                           "python -m rlvr_bench.checkpoints prepare smollm2)\n")
    folder = tmp_path / "models" / "smollm2"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "rlvr_bench_conversion.json").write_text('{"version": 1}')
    done = subprocess.run([sys.executable, "-m", "rlvr_bench.checkpoints", "where", "smollm2"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.stdout == f"smollm2: {folder} (prepared)\n"


def test_judge_reward_takes_a_preset_name() -> None:
    from rlvr_bench.errors import UserError
    from rlvr_bench.training.rewards import REQUIRED_COLUMNS, JudgeReward

    reward = JudgeReward("numeric")
    assert reward(prompts=["q", "q"], completions=["It is 4 m", "It is 5 m"], item_id=["a", "b"],
                  question=["How long?", "How long?"], reference=["400 cm", "400 cm"]) == [1.0, 0.0]
    assert REQUIRED_COLUMNS == ("item_id", "question", "reference")
    with pytest.raises(ValueError, match=r"lacks column.*item_id"):
        reward(prompts=["q"], completions=["4 m"], question=["q"], reference=["4 m"])
    with pytest.raises(UserError, match="unknown judge"):
        JudgeReward("no-such-judge")

