"""Run directories: the one place every command writes its results.

A run directory holds the fully resolved config (with package versions and the
git revision), the inputs it used (``items.jsonl``, ``responses.jsonl``), the
verdicts (``judgments.jsonl``) and ``results.json``; the report renders from
these alone, so a run can be re-rendered and compared without re-running a model.

A run is assembled in a sibling temp folder and moved into place at the end,
so an interrupted or failed command never leaves a half-written run directory.
Only a new path, an empty folder or an earlier run of the same command is ever
written: anything else at ``--out`` is the user's and is refused before any work.

This module is persistence only: it never renders the report (the commands do
that after writing, with :mod:`rlvr_bench.report`), so the report can depend on
it without an import cycle.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rlvr_bench import __version__
from rlvr_bench.assets import repo_root
from rlvr_bench.errors import InputError, UserError
from rlvr_bench.records import (
    Item,
    Judgment,
    Response,
    item_to_json,
    read_items,
    read_judgments,
    read_responses,
    response_to_json,
    write_jsonl,
)

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
ITEMS_FILE = "items.jsonl"
RESPONSES_FILE = "responses.jsonl"
JUDGMENTS_FILE = "judgments.jsonl"

_TRACKED_PACKAGES = (
    "numpy", "scipy", "pandas", "torch", "transformers", "trl", "tokenizers",
    "sentence-transformers", "math-verify", "pint", "openai", "vllm", "lm-eval",
)


def package_versions() -> dict[str, str]:
    """Versions of rlvr-bench and the libraries whose behaviour shapes results."""
    versions = {"python": platform.python_version(), "rlvr-bench": __version__}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str | None:
    """The checkout's commit (with "-dirty" when it has local changes), or None outside git."""
    root = repo_root()
    if root is None or not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def default_run_path(command: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{command}-{stamp}"


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default, allow_nan=False) + "\n",
                   encoding="utf-8")
    tmp.replace(path)


def run_command_at(path: Path) -> str | None:
    """The command that wrote the run directory at ``path``, or None when it is not one.

    A run directory is recognised by its ``config.json``: a JSON object with the ``command``
    and ``versions`` that every :class:`RunWriter` records.
    """
    config = Path(path) / CONFIG_FILE
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("command"), str) and isinstance(data.get("versions"), dict):
        return data["command"]
    return None


def check_run_destination(path: Path, command: str) -> None:
    """Raise a one-line UserError unless a ``command`` run may be written at ``path``.

    Allowed: a new path (its missing parent folders are created), an empty folder, or a
    run directory an earlier ``command`` run wrote (replaced when the new run is complete,
    or resumed by commands that resume). Anything else is the user's and is left alone:
    a file, a folder with other contents, another command's run, a symbolic link, the
    current folder or one above it. Call it before any work starts.
    """
    path = Path(path)
    if path.is_symlink():
        raise UserError(f"{path}: is a symbolic link; give the run directory's own path")
    resolved = path.resolve()
    here = Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise UserError(f"{path}: is the current folder or one above it; give a new folder name for the run")
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{path}: is an existing file, not a run directory; give a new folder name for the run")
        found = run_command_at(path)
        if found is None and not _is_empty_folder(path):
            raise UserError(f"{path}: is a folder that is not an rlvr-bench run directory (no {CONFIG_FILE}); "
                            "its files are left alone: give a new or empty folder")
        if found is not None and found != command:
            raise UserError(f"{path}: holds a run of `{found}`, not of `{command}`; it is left alone: "
                            "give another folder")
    _check_parent_writable(path)


def _is_empty_folder(path: Path) -> bool:
    try:
        return not any(path.iterdir())
    except OSError:  # a folder we cannot list is not known to be empty
        return False


def check_output_file(path: Path, ours: Callable[[Path], bool], what: str) -> None:
    """Raise a one-line UserError unless a file may be written at ``path`` (``report -o``, ``--preset-out``).

    Allowed: a new file (missing parent folders are created) or an earlier file of ours
    (``ours(path)`` is true: e.g. a report rlvr-bench rendered), which is replaced. A folder,
    or a file that is not ours, is refused; ``what`` names the kind of file in the message.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file name for the {what}")
    if path.exists() and not ours(path):
        raise UserError(f"{path}: exists and is not a {what} rlvr-bench wrote; it is left alone: give a new file name")
    _check_parent_writable(path)


def _check_parent_writable(path: Path) -> None:
    """The nearest existing folder above ``path`` is a folder this process may create entries in."""
    ancestor = path.resolve().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{path}: {ancestor} is a file, not a folder")
    # permission bits do not tell (root, read-only mounts, ACLs): creating an entry does
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".rlvr-bench-write-check-", dir=ancestor))
    except OSError as exc:
        raise UserError(f"{path}: cannot write in {ancestor}: {exc.strerror or exc}") from None


def run_config(command: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config a run records: the command, when it began, package versions, git revision, then ``config``."""
    return {
        "command": command,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "git_revision": git_revision(),
        **config,
    }


def _cannot_write(path: Path, exc: OSError) -> UserError:
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return UserError(f"{path}: cannot write the run directory: {exc.strerror or exc}{where}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_staging(path: Path) -> None:
    """Remove the staging folders (``.NAME.partial-PID``, ``.NAME.old-PID``) that killed runs left next to ``path``."""
    parent = path.parent
    if not parent.is_dir():
        return
    for kind in ("partial", "old"):
        for stale in parent.glob(f".{glob.escape(path.name)}.{kind}-*"):
            pid = stale.name.rpartition("-")[2]
            if pid.isdigit() and (int(pid) == os.getpid() or not _process_alive(int(pid))):
                shutil.rmtree(stale, ignore_errors=True)


class RunLock:
    """An exclusive lock on a run directory's path, held from the start of a run until it is committed.

    A second command writing the same ``--out`` while one runs is refused at once (one line naming the
    process that holds it) instead of both running and the last silently replacing the other. The lock
    is ``flock`` on ``.NAME.lock`` beside the run, so a killed process releases it by dying; the file is
    removed on release.
    """

    def __init__(self, path: Path) -> None:
        import fcntl

        self.file = path.with_name(f".{path.name}.lock")
        self.file.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise UserError(f"{path}: another rlvr-bench run (pid {holder}) is writing this run directory now; "
                                "wait for it to finish or give another --out") from None
            try:  # the holder before us may have removed the file after we opened it: lock the current one
                same = os.fstat(fd).st_ino == os.stat(self.file).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.file.unlink()
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None


class RunWriter:
    """Writes one run directory: pure I/O (rendering the report is the command's next step).

    Staged (the default): the run is built in a sibling temp folder and :meth:`commit` moves it
    into place, replacing an earlier run of the same command; on an exception (use it as a
    context manager) the temp folder is removed and nothing appears at ``path``. In place
    (``in_place=True``): files go straight to ``path`` and are kept when the command fails, for
    runs that resume (train-and-eval) or that several processes share (distributed training).
    Only the ``primary`` process checks the destination and writes ``config.json``.

    The destination is checked first (:func:`check_run_destination`): a file, a folder of the
    user's or another command's run is refused with a one-line UserError, and so is a place
    that cannot be written.
    """

    def __init__(self, path: Path, command: str, config: Mapping[str, Any], *, in_place: bool = False,
                 primary: bool = True) -> None:
        self.path = Path(path)
        self.command = command
        self.in_place = in_place
        self.primary = primary
        self._keep_staging = False
        self.config = run_config(command, config)
        self.lock: RunLock | None = None
        if primary:
            check_run_destination(self.path, command)
            self.lock = RunLock(self.path)
        if in_place:
            self.staging = self.path
            self.config = {**self.config, **_earlier_start(self.path, command)}
        else:
            remove_stale_staging(self.path)
            self.staging = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        try:
            self.staging.mkdir(parents=True, exist_ok=in_place)
            if primary:
                write_json(self.staging / CONFIG_FILE, self.config)
        except OSError as exc:
            if not in_place:
                shutil.rmtree(self.staging, ignore_errors=True)
            self._unlock()
            raise _cannot_write(self.path, exc) from None

    def _unlock(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and not self.in_place and not self._keep_staging and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
        if exc_type is not None:
            self._unlock()

    @property
    def folder(self) -> Path:
        """Where files go while the run is being written."""
        return self.staging

    def write_items(self, items: Iterable[Item]) -> None:
        write_jsonl(self.staging / ITEMS_FILE, (item_to_json(i) for i in items))

    def write_responses(self, responses: Iterable[Response]) -> None:
        write_jsonl(self.staging / RESPONSES_FILE, (response_to_json(r) for r in responses))

    def write_judgments(self, judgments: Iterable[Judgment]) -> None:
        write_jsonl(self.staging / JUDGMENTS_FILE, (j.to_json() for j in judgments))

    def write_results(self, results: Mapping[str, Any]) -> None:
        write_json(self.staging / RESULTS_FILE, results)

    def write_judged_run(self, items: Iterable[Item], responses: Iterable[Response], judgments: Iterable[Judgment],
                         results: Mapping[str, Any]) -> Path:
        """Write the inputs, verdicts and results of a judging command, then :meth:`commit`."""
        self.write_items(items)
        self.write_responses(responses)
        self.write_judgments(judgments)
        self.write_results(results)
        return self.commit()

    def commit(self) -> Path:
        """Move the finished run into place (replacing an earlier run of the same command); returns its path.

        The destination is checked again, since the run may have taken hours: if something of the
        user's appeared there meanwhile, it is left alone and the finished run stays in the staging
        folder, named in the error.
        """
        try:
            return self._commit()
        finally:
            self._unlock()

    def _commit(self) -> Path:
        if self.in_place:
            return self.path
        try:
            check_run_destination(self.path, self.command)
        except UserError as exc:
            kept = self.staging.with_name(f".{self.path.name}.finished-{os.getpid()}")
            self.staging.rename(kept)
            self.staging, self._keep_staging = kept, True
            raise UserError(f"{exc}; the finished run was kept in {kept}") from None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
                self.path.rename(old)
                self.staging.rename(self.path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                self.staging.rename(self.path)
        except OSError as exc:
            raise _cannot_write(self.path, exc) from None
        return self.path


def _earlier_start(path: Path, command: str) -> dict[str, Any]:
    """``created`` of the run being resumed at ``path`` (a resumed run began when it first began)."""
    if run_command_at(path) != command:
        return {}
    try:
        created = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8")).get("created")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return {"created": created} if isinstance(created, str) else {}


@dataclass(frozen=True)
class Run:
    """A finished run directory loaded back: config, inputs, verdicts and results."""

    path: Path
    config: dict[str, Any]
    results: dict[str, Any]
    items: list[Item]
    responses: list[Response]
    judgments: list[Judgment]

    def judgments_frame(self) -> Any:
        """One row per judgment, joined with its item and response (a pandas DataFrame)."""
        import pandas as pd

        items = {i.id: i for i in self.items}
        responses = {r.id: r for r in self.responses}
        rows = []
        for j in self.judgments:
            item, response = items.get(j.item_id), responses.get(j.response_id)
            rows.append({
                "judge": j.judge,
                "item_id": j.item_id,
                "response_id": j.response_id,
                "domain": item.domain if item else None,
                "answer_type": item.answer_type if item else None,
                "label": response.label if response else None,
                "variant": response.variant if response else None,
                "passed": j.verdict.passed,
                "p_pass": j.verdict.p_pass,
                "error": j.verdict.error,
                "latency_s": j.verdict.latency_s,
            })
        return pd.DataFrame(rows)


def require_run_directory(path: str | Path) -> Path:
    """``path`` as a Path when it holds a ``config.json``; else a one-line InputError."""
    folder = Path(path)
    if not (folder / CONFIG_FILE).is_file():
        raise InputError(f"{folder}: not a run directory (no {CONFIG_FILE})")
    return folder


def load_run(path: str | Path) -> Run:
    """Load a run directory; a missing or malformed file is a one-line InputError."""
    folder = require_run_directory(path)

    def _json(name: str) -> dict[str, Any]:
        file = folder / name
        if not file.is_file():
            return {}
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{file}:{exc.lineno}: malformed JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise InputError(f"{file}: expected a JSON object")
        return data

    items = read_items(folder / ITEMS_FILE) if (folder / ITEMS_FILE).is_file() else []
    responses = read_responses(folder / RESPONSES_FILE) if (folder / RESPONSES_FILE).is_file() else []
    judgments = read_judgments(folder / JUDGMENTS_FILE) if (folder / JUDGMENTS_FILE).is_file() else []
    return Run(folder, _json(CONFIG_FILE), _json(RESULTS_FILE), items, responses, judgments)
