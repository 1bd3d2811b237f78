"""The file operations bronze does on the lake, in one place: list the Capture files of
some hour folders with their sizes, move a bad file aside with its reason, and list
what is set aside.

Paths are relative to `capture/` (`{Namespace}/{EventHub}/{PartitionId}/{YYYY}/{MM}/{DD}/{hh}/{mm}/{ss}.avro`),
as bronze's file manifest keeps them. Names starting with `.` or `_` are skipped, as
Spark's file listing skips them (the lander's temp files and lock files are hidden).
The lake is a local folder today; an object store would replace this module only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lakehouse.paths import Lake

REASON_SUFFIX = ".reason.json"


def list_capture_files(lake: Lake, hour_folders: Iterable[str]) -> dict[str, int]:
    """Every Capture file in the given hour folders (`ns/hub/partition/YYYY/MM/DD/hh`),
    by relative path, with its size in bytes; whatever its modification time."""
    files: dict[str, int] = {}
    for folder in hour_folders:
        for minute in _entries(lake.capture / folder, directories=True):
            for entry in _entries(lake.capture / folder / minute.name, directories=False):
                if entry.name.endswith(".avro"):
                    files[f"{folder}/{minute.name}/{entry.name}"] = entry.stat().st_size
    return files


def capture_file_size(lake: Lake, relative: str) -> int | None:
    """The size of a Capture file, None when it is not in the tree."""
    try:
        return (lake.capture / relative).stat().st_size
    except FileNotFoundError:
        return None


def capture_file_uri(lake: Lake, relative: str) -> str:
    """The path Spark reads the file by."""
    return str(lake.capture / relative)


def set_aside(lake: Lake, relative: str, note: dict[str, Any]) -> None:
    """Move a Capture file to `_bad_capture_files/` at the same relative path, with
    `note` (why) written beside it first."""
    target = lake.bad_capture_files / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.with_name(target.name + REASON_SUFFIX).write_text(json.dumps(note, indent=2) + "\n")
    (lake.capture / relative).replace(target)


def set_aside_files(lake: Lake) -> dict[str, dict[str, Any]]:
    """The files in `_bad_capture_files/`, by relative path, with their reason notes
    (empty when a note is missing or unreadable)."""
    found: dict[str, dict[str, Any]] = {}
    root = lake.bad_capture_files
    if not root.exists():
        return found
    for path in sorted(root.rglob("*.avro")):
        if path.is_file() and not path.name.startswith((".", "_")):
            found[path.relative_to(root).as_posix()] = _note(path.with_name(path.name + REASON_SUFFIX))
    return found


def _note(path: Path) -> dict[str, Any]:
    try:
        note = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}


def _entries(folder: Path, *, directories: bool) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                (
                    e
                    for e in entries
                    if not e.name.startswith((".", "_")) and (e.is_dir() if directories else e.is_file())
                ),
                key=lambda e: e.name,
            )
    except FileNotFoundError:
        return []
