"""The file operations bronze does on the lake, in one place: list the Capture files of
some hour folders with their sizes, move a bad file aside with its reason, list what
is set aside, and name a file by the URL Spark reads it by (and back).

Paths are relative to `capture/` (`{Namespace}/{EventHub}/{PartitionId}/{YYYY}/{MM}/{DD}/{hh}/{mm}/{ss}.avro`),
as bronze's file manifest keeps them. Every operation goes through the lake's storage
seam (`lake.files`: a local folder or a Blob container), by key relative to the lake
root. Names starting with `.` or `_` are skipped, as Spark's file listing skips them
(the lander's temp files and lock files are hidden).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from lakehouse.paths import BAD_CAPTURE_FILES, CAPTURE, Lake

REASON_SUFFIX = ".reason.json"
_DEPTH = 9  # ns/hub/partition/YYYY/MM/DD/hh/mm/ss.avro


def list_capture_files(lake: Lake, hour_folders: Iterable[str], *, sweep: bool = False) -> dict[str, int]:
    """Every Capture file in the given hour folders (`ns/hub/partition/YYYY/MM/DD/hh`),
    by relative path, with its size in bytes; whatever its modification time.

    One prefix listing per hour folder (on Blob storage, a flat listing of the hour's
    `mm/ss.avro` blobs); `sweep` (the full sweep, which lists every hour folder) lists
    the whole Capture tree once instead and keeps the given folders' files."""
    wanted = set(hour_folders)
    if not wanted:
        return {}
    if sweep:
        listed = lake.files.walk(CAPTURE)
        return {
            path: size
            for key, size in listed.items()
            if _is_capture_path(path := key[len(CAPTURE) + 1 :]) and "/".join(path.split("/")[:7]) in wanted
        }
    files: dict[str, int] = {}
    for folder in sorted(wanted):
        for key, size in lake.files.walk(f"{CAPTURE}/{folder}").items():
            path = key[len(CAPTURE) + 1 :]
            if _is_capture_path(path) and path.startswith(f"{folder}/"):
                files[path] = size
    return dict(sorted(files.items()))


def _is_capture_path(path: str) -> bool:
    return path.endswith(".avro") and path.count("/") == _DEPTH - 1


def capture_file_size(lake: Lake, relative: str) -> int | None:
    """The size of a Capture file, None when it is not in the tree."""
    return lake.files.size(f"{CAPTURE}/{relative}")


def capture_file_uri(lake: Lake, relative: str) -> str:
    """The URL Spark reads the file by (a local lake: its absolute path)."""
    return lake.url(f"{CAPTURE}/{relative}")


def capture_relative(lake: Lake, uri: str) -> str:
    """The path under `capture/` of a Capture file as Spark names it: the lake's URL of
    it, or Spark's form of that (`file:/...` or `file:///...` for a local lake, possibly
    %-escaped; `wasb://container@account/...` for a lake on Blob storage). Raises
    ValueError for a file outside the lake's Capture tree."""
    base = _capture_path_part(lake)
    parts = urlsplit(uri)
    scheme = parts.scheme.lower() if "://" in uri or uri.startswith("file:") else ""
    if lake.is_local:
        if scheme not in ("", "file"):
            raise ValueError(f"{uri} is not in the lake's Capture tree {lake.capture}")
        candidates = [uri] if not scheme else [parts.path, unquote(parts.path)]
    else:
        container, _, host = parts.netloc.rpartition("@")
        same_store = (
            scheme == lake.location.scheme
            and container == lake.location.container
            and host.lower().split(".", 1)[0] == lake.location.account
        )
        if not same_store:
            raise ValueError(f"{uri} is not in the lake's Capture tree {lake.capture}")
        candidates = [parts.path, unquote(parts.path)]
    for path in candidates:
        if path.startswith(base):
            return path[len(base) :]
    raise ValueError(f"{uri} is not in the lake's Capture tree {lake.capture}")


def _capture_path_part(lake: Lake) -> str:
    """The path part of the capture folder's URL, with a trailing slash."""
    if lake.is_local:
        return f"{lake.location.path.rstrip('/')}/{CAPTURE}/"
    return f"/{lake.location.blob_name(CAPTURE)}/"


def set_aside(lake: Lake, relative: str, note: dict[str, Any]) -> None:
    """Move a Capture file to `_bad_capture_files/` at the same relative path, with
    `note` (why) written beside it first."""
    target = f"{BAD_CAPTURE_FILES}/{relative}"
    lake.files.write_json(target + REASON_SUFFIX, note)
    lake.files.move(f"{CAPTURE}/{relative}", target)


def set_aside_files(lake: Lake) -> dict[str, dict[str, Any]]:
    """The files in `_bad_capture_files/`, by relative path, with their reason notes
    (empty when a note is missing or unreadable)."""
    listed = lake.files.walk(BAD_CAPTURE_FILES)
    found: dict[str, dict[str, Any]] = {}
    for key in sorted(listed):
        if key.endswith(".avro"):
            note = _note(lake, key + REASON_SUFFIX) if key + REASON_SUFFIX in listed else {}
            found[key[len(BAD_CAPTURE_FILES) + 1 :]] = note
    return found


def _note(lake: Lake, key: str) -> dict[str, Any]:
    try:
        note = lake.files.read_json(key)
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}
