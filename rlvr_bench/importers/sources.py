"""Rows of a data source as (location, object): JSONL, JSON arrays, CSV/TSV, zips, datasets folders, the hub.

Every reader names ``file:line`` (or ``file:row N``) for each row, so that an error about a field
says where it is. A UTF-8 byte-order mark (Excel's "CSV UTF-8", Notepad) is skipped.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlvr_bench.errors import InputError, UserError
from rlvr_bench.records import iter_jsonl, open_text, parse_json_line, read_text

#: the longest CSV field read (bytes); csv's own default is 128 KiB
MAX_CSV_FIELD = 64 * 2**20
#: the largest member of a zip read into memory (MMLU-Pro's eval_results members are ~20 MB)
MAX_ZIP_MEMBER = 1 << 30
BOM = "\ufeff"

Rows = Iterator[tuple[str, dict[str, Any]]]


def iter_rows(path: Path, split: str | None = None) -> Rows:
    """(location "file:line", row) for every row of a JSONL, JSON, CSV/TSV, zip or datasets source.

    ``split`` chooses the split of a hub data set or a saved ``DatasetDict`` (``hf:ORG/NAME:SPLIT``
    in the path wins); files are filtered by split later, by the items' own ``split`` field.
    """
    text = str(path)
    if text.startswith("hf:"):
        yield from _iter_hf(text[3:], split)
        return
    if path.is_dir():
        yield from _iter_datasets_folder(path, split)
        return
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        yield from _iter_csv(path, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".zip":
        yield from _iter_zip(path)
    elif suffix == ".json" or _starts_with_array(path):
        yield from iter_json_array(read_text(path, "JSON file").lstrip(BOM), str(path))
    else:
        for line_no, obj in iter_jsonl(path):
            yield f"{path}:{line_no}", obj


def _starts_with_array(path: Path) -> bool:
    """Whether the first non-blank character is ``[`` (a JSON array saved as .jsonl or without suffix)."""
    with open_text(path, "file", binary=True) as handle:
        head = handle.read(4096).decode("utf-8", errors="replace").lstrip(BOM + " \t\r\n")
    return head.startswith("[")


def iter_json_array(text: str, name: str) -> Rows:
    """The objects of a JSON array, each located by the line it starts on; a JSON file holding
    one object per line (JSONL saved as .json) is read as JSONL. Each object is validated like a
    JSONL line (no NaN, no lone surrogates, bounded nesting)."""
    stripped = text.lstrip()
    if not stripped.startswith("["):
        for line_no, raw_line in enumerate(text.splitlines(), start=1):
            if raw_line.strip():
                yield f"{name}:{line_no}", parse_json_line(raw_line, f"{name}:{line_no}")
        return
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    line, counted_to = 1, 0
    while True:
        pos = _skip_space(text, pos)
        line, counted_to = line + text.count("\n", counted_to, pos), pos
        if pos < len(text) and text[pos] == "]":
            return
        where = f"{name}:{line}"
        try:
            _, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}:{exc.lineno}: malformed JSON ({exc.msg})") from None
        if text[pos] != "{":
            raise InputError(f"{where}: expected a JSON object in the array, got {text[pos:pos + 20]!r}")
        yield where, parse_json_line(text[pos:end], where)
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            raise InputError(f"{name}:{line + text.count(chr(10), counted_to, pos)}: malformed JSON "
                             "(expected ',' or ']')")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _iter_csv(path: Path, delimiter: str) -> Rows:
    """Rows of a CSV/TSV file with a header; ragged rows, bad quoting and invalid UTF-8 name their line."""
    # long answers (a JSONL row may hold any length) must not hit csv's 128 KiB default per field
    csv.field_size_limit(MAX_CSV_FIELD)
    kind = "TSV file" if delimiter == "\t" else "CSV file"
    open_text(path, kind).close()  # one-line reason when unreadable
    with path.open(encoding="utf-8-sig", newline="") as handle:
        # TSVs in the wild (OpenQA-eval) do not quote: a '"' inside a cell is text
        reader = csv.DictReader(handle, delimiter=delimiter,
                                quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        try:
            for row in reader:
                # the header is line 1; DictReader counts physical lines read so far
                where = f"{path}:{reader.line_num}"
                if None in row:
                    raise InputError(f"{where}: {len(reader.fieldnames or []) + len(row[None])} fields, but the header "
                                     f"has {len(reader.fieldnames or [])} (another delimiter, or an unquoted comma?)")
                yield where, {key: value for key, value in row.items() if value is not None}
        except UnicodeDecodeError:
            raise InputError(f"{path}:{reader.line_num + 1}: not valid UTF-8; save the file as UTF-8") from None
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None


def _iter_zip(path: Path) -> Rows:
    """The rows of every JSON/JSONL member of a zip (MMLU-Pro's ``eval_results``), located as zip/member:line."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a readable zip file ({exc})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")
                   and m.filename.lower().endswith((".json", ".jsonl"))]
        if not members:
            raise InputError(f"{path}: the zip holds no .json or .jsonl file")
        for member in members:
            if member.file_size > MAX_ZIP_MEMBER:
                raise InputError(f"{path}/{member.filename}: {member.file_size} bytes, more than {MAX_ZIP_MEMBER}")
            raw = archive.read(member)
            try:
                text = raw.decode("utf-8").lstrip(BOM)
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].count(b"\n") + 1
                raise InputError(f"{path}/{member.filename}:{line}: not valid UTF-8") from None
            yield from iter_json_array(text, f"{path}/{member.filename}")


def _iter_datasets_folder(path: Path, split: str | None) -> Rows:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{path}: not a saved `datasets` folder ({exc})") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split is not None and split not in loaded:
            raise UserError(f"{path}: no split {split!r} (splits: {', '.join(loaded)})")
        chosen = split or ("test" if "test" in loaded else next(iter(loaded)))
        loaded = loaded[chosen]
    for index, row in enumerate(loaded):
        yield f"{path}:row {index}", dict(row)


def _iter_hf(spec: str, split: str | None) -> Rows:
    """A hub data set, through ``datasets.load_dataset`` (offline or unknown: one line, exit 2)."""
    import datasets

    name, _, named_split = spec.partition(":")
    chosen = named_split or split or "train"
    try:
        loaded = datasets.load_dataset(name, split=chosen)
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise UserError(f"hf:{spec}: cannot load data set ({type(exc).__name__}: {first})") from None
    for index, row in enumerate(loaded):
        yield f"hf:{name}:{chosen}:row {index}", dict(row)

