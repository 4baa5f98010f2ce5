"""Where commands write: `--out` and `-o` never delete or replace anything that is not rlvr-bench's own.

A run directory is written only at a new path, an empty folder, or an earlier run
of the same command (replaced once the new run is complete). Every other
destination is refused with one line naming the path and exit code 2, before any
work: the case table below leaves every byte under the test's folder as it was,
and no hidden staging folder behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.errors import UserError
from rlvr_bench.rundir import CONFIG_FILE, RunWriter, run_command_at

runner = CliRunner()
AGREEMENT = ["agreement", "--judges", "exact,contains", "--bootstrap", "10", "--no-cache"]
VERIFIERBENCH_ROWS = [
    {"question": "Molar mass of water?", "gold_answer": "18.02 g/mol", "llm_response": "It is 18.02 g/mol.",
     "gold_judgment": "Correct", "domain": "chemistry"},
    {"question": "Molar mass of water?", "gold_answer": "18.02 g/mol", "llm_response": "About 20 g/mol",
     "gold_judgment": "Incorrect", "domain": "chemistry"},
]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root`` (hidden ones too): file bytes, or None for a folder or a link."""
    entries: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        entries[key] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return entries


def assert_one_line_error(result: object, fragment: str) -> None:
    code, stderr = result.exit_code, result.stderr  # type: ignore[attr-defined]
    assert code == 2, (code, stderr, getattr(result, "exception", None))
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder in which this process cannot create anything."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    # root ignores permission bits; sysfs refuses new entries even to root
    try:
        os.rmdir(tempfile.mkdtemp(dir="/sys"))
    except OSError:
        return Path("/sys")
    pytest.skip("running as root with no folder that refuses writes")


def _user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "sub" / "data.bin").write_bytes(bytes(range(256)))
    return folder


def _data_folder(tmp_path: Path) -> tuple[list[str], str]:
    folder = tmp_path / "data"
    folder.mkdir()
    data = folder / "vb.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in VERIFIERBENCH_ROWS))
    return ["--data", str(data), "--out", str(folder)], "not an rlvr-bench run directory"


def _existing_file(tmp_path: Path) -> tuple[list[str], str]:
    file = tmp_path / "results.txt"
    file.write_text("keep me\n")
    return ["--out", str(file)], "is an existing file"


def _under_a_file(tmp_path: Path) -> tuple[list[str], str]:
    (tmp_path / "results.txt").write_text("keep me\n")
    return ["--out", str(tmp_path / "results.txt" / "run")], "is a file, not a folder"


def _in_cwd(name: str, depth: int) -> Callable[[Path, pytest.MonkeyPatch], tuple[list[str], str]]:
    def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str]:
        work = tmp_path / "work"
        (work / "deeper").mkdir(parents=True)
        (work / "notes.txt").write_text("cwd file\n")
        monkeypatch.chdir(work / "deeper" if depth else work)
        return ["--out", name], "is the current folder or one above it"

    return build


def _symlink(tmp_path: Path) -> tuple[list[str], str]:
    target = _user_folder(tmp_path)
    (tmp_path / "link").symlink_to(target, target_is_directory=True)
    return ["--out", str(tmp_path / "link")], "is a symbolic link"


def _another_commands_run(tmp_path: Path) -> tuple[list[str], str]:
    run = tmp_path / "train-run"
    (run / "policy").mkdir(parents=True)
    (run / "policy" / "model.safetensors").write_bytes(b"\x00weights")
    (run / CONFIG_FILE).write_text(json.dumps({"command": "train", "versions": {"python": "3"}}))
    return ["--out", str(run)], "holds a run of `train`, not of `agreement`"


def _read_only_parent(tmp_path: Path) -> tuple[list[str], str]:
    return ["--out", str(unwritable_folder(tmp_path) / "run")], "cannot write in"


REFUSED: dict[str, Callable[..., tuple[list[str], str]]] = {
    "a folder of the user's": lambda tmp, _: (["--out", str(_user_folder(tmp))], "not an rlvr-bench run directory"),
    "the --data file's own folder": lambda tmp, _: _data_folder(tmp),
    "an existing file": lambda tmp, _: _existing_file(tmp),
    "a path under a file": lambda tmp, _: _under_a_file(tmp),
    "the current folder": _in_cwd(".", 0),
    "an empty --out (the current folder)": _in_cwd("", 0),
    "the folder above the current one": _in_cwd("..", 1),
    "a symbolic link": lambda tmp, _: _symlink(tmp),
    "another command's run": lambda tmp, _: _another_commands_run(tmp),
    "a read-only parent": lambda tmp, _: _read_only_parent(tmp),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_destinations_are_left_byte_identical(case: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    args, fragment = REFUSED[case](tmp_path, monkeypatch)
    before = snapshot(tmp_path)
    result = runner.invoke(app, [*AGREEMENT, *args])
    assert_one_line_error(result, fragment)
    assert snapshot(tmp_path) == before  # nothing touched, nothing left behind (no hidden staging)


# every command that writes a run refuses a folder of the user's before any work: the function that
# does the work is replaced by one that fails the test, and the policy file and the judgments run
# named below do not even exist
COMMANDS: dict[str, tuple[list[str], str]] = {
    "agreement": (AGREEMENT, "rlvr_bench.pipelines.agreement.agreement"),
    "verify": (["verify", "--judges", "exact,contains", "--bootstrap", "10", "--no-cache"],
               "rlvr_bench.pipelines.verify.plan_verify"),
    "eval": (["eval", "--policy", "responses:{missing}", "--judges", "contains"],
             "rlvr_bench.pipelines.evaluate.evaluate"),
    "train": (["train", "--recipe", "mini"], "rlvr_bench.training.rl.run_training"),
    "train-and-eval": (["train-and-eval", "--quick"], "rlvr_bench.training.matrix.train_and_eval"),
    "distill": (["distill", "--teacher", "contains", "--judgments", "{missing}"],
                "rlvr_bench.training.distill.run_distill"),
}


def _work_started(*args: object, **kwargs: object) -> None:
    raise AssertionError("the command started its work before checking --out")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_run_command_refuses_a_users_folder_before_any_work(command: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    args, work = COMMANDS[command]
    monkeypatch.setattr(work, _work_started)
    folder = _user_folder(tmp_path)
    before = snapshot(tmp_path)
    result = runner.invoke(app, [*(arg.format(missing=tmp_path / "missing.jsonl") for arg in args),
                                 "--out", str(folder)])
    assert_one_line_error(result, f"{folder}: is a folder that is not an rlvr-bench run directory")
    assert snapshot(tmp_path) == before


def test_distill_preset_out_never_replaces_a_users_file(tmp_path: Path) -> None:
    mine = tmp_path / "judges" / "mine.yaml"
    mine.parent.mkdir()
    mine.write_text("name: mine\nbackend: rule\n")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["distill", "--teacher", "contains", "--judgments", str(tmp_path / "missing"),
                                 "--preset-out", str(mine)])
    assert_one_line_error(result, f"{mine}: exists and is not a judge preset rlvr-bench wrote")
    assert snapshot(tmp_path) == before


def _agreement(out: Path, *extra: str) -> None:
    result = runner.invoke(app, [*AGREEMENT, *extra, "--out", str(out)])
    assert result.exit_code == 0, result.stderr


def test_a_new_nested_path_and_an_empty_folder_get_a_complete_run(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "run"
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (nested, empty):
        _agreement(out)
        assert run_command_at(out) == "agreement" and (out / "report.html").is_file()
        assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]


def test_an_earlier_run_of_the_same_command_is_replaced_without_leftovers(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _agreement(out, "--seed", "1")
    _agreement(out, "--seed", "2")
    assert json.loads((out / CONFIG_FILE).read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_staging_folders_of_killed_runs_are_cleaned_on_the_next_run(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(gone.stdout)
    stale = tmp_path / f".run.partial-{dead_pid}"
    (stale / "half").mkdir(parents=True)
    alive = tmp_path / f".run.partial-{os.getppid()}"  # a live process's staging is not ours to remove
    alive.mkdir()
    _agreement(tmp_path / "run")
    assert not stale.exists() and alive.is_dir()


def test_a_folder_that_appears_during_the_run_is_kept_and_so_is_the_finished_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    writer = RunWriter(out, "agreement", {"seed": 0})
    with pytest.raises(UserError, match=r"not an rlvr-bench run directory.*finished run was kept in"), writer:
        writer.write_results({"schema": "x"})
        out.mkdir()
        (out / "notes.txt").write_text("mine\n")  # the user took the name while we worked
        writer.commit()
    assert (out / "notes.txt").read_text() == "mine\n" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    kept = [p for p in tmp_path.iterdir() if p.name.startswith(".run.finished-")]
    assert len(kept) == 1 and json.loads((kept[0] / "results.json").read_text()) == {"schema": "x"}


def test_an_in_place_run_keeps_its_files_on_failure_and_its_start_time_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "matrix"
    writer = RunWriter(out, "train-and-eval", {"recipe": "mini"}, in_place=True)
    with pytest.raises(RuntimeError), writer:
        (writer.folder / "sft").mkdir()
        raise RuntimeError("killed half way")
    first = json.loads((out / CONFIG_FILE).read_text())
    assert {"command", "created", "versions", "git_revision", "recipe"} <= set(first)
    assert (out / "sft").is_dir()
    writer = RunWriter(out, "train-and-eval", {"recipe": "mini", "steps": 3}, in_place=True)
    assert writer.commit() == out
    resumed = json.loads((out / CONFIG_FILE).read_text())
    assert resumed["created"] == first["created"] and resumed["steps"] == 3 and (out / "sft").is_dir()


@pytest.fixture(scope="module")
def a_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-source") / "run"
    _agreement(out)
    return out


def _report_file_of_the_user(tmp_path: Path) -> tuple[str, str]:
    mine = tmp_path / "page.html"
    mine.write_text("<html>my own page</html>\n")
    return str(mine), "exists and is not a report rlvr-bench wrote"


REPORT_REFUSED: dict[str, Callable[[Path], tuple[str, str]]] = {
    "a file of the user's": _report_file_of_the_user,
    "a path under a file": lambda tmp: (str(_existing_file(tmp)[0][1] + "/x.html"), "is a file, not a folder"),
    "a read-only folder": lambda tmp: (str(unwritable_folder(tmp) / "x.html"), "cannot write in"),
}


@pytest.mark.parametrize("case", sorted(REPORT_REFUSED))
def test_report_out_refuses_what_is_not_a_report(case: str, a_run: Path, tmp_path: Path) -> None:
    target, fragment = REPORT_REFUSED[case](tmp_path)
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["report", str(a_run), "-o", target])
    assert_one_line_error(result, fragment)
    assert snapshot(tmp_path) == before


def test_report_out_replaces_an_earlier_report(a_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    for _ in range(2):
        result = runner.invoke(app, ["report", str(a_run), "-o", str(page)])
        assert result.exit_code == 0, result.stderr
    assert "rlvr-bench agreement: run" in page.read_text() and sorted(p.name for p in tmp_path.iterdir()) == [
        "page.html"]
