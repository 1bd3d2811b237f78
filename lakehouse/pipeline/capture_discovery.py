"""Which hour folders of the Capture tree bronze lists this run.

Listing the whole Capture tree costs one directory read per folder (Capture writes
`{Namespace}/{EventHub}/{PartitionId}/{YYYY}/{MM}/{DD}/{hh}/{mm}/{ss}.avro`), so it
grows with history: on a month of the plant, about 50 s before any data is read. The
path carries the time, so a run lists, per partition, only the hour folders from
`LOOKBACK` before the newest hour it listed last time up to the newest there is: a few
prefix listings per partition (through the lake's storage seam, `lake.files.listing`:
one delimiter listing per folder on Blob storage), whatever the history. A partition
never listed before is listed whole.

A file that lands in an hour folder older than that (a consumer catching up after
more than `LOOKBACK` down, a copy of old files) is found by the full sweep: the
first run, every `FULL_SWEEP_EVERY`, `lakehouse load-bronze --full-sweep` and the
full-check build; or at once by a replay of its time range. Bronze's file manifest
(`capture_manifest`) decides which listed files are new, by path and size, never by
modification time, so a file listed twice is loaded once. A run whose listing is the
one the last run recorded once it had processed every file of it (a digest of paths
and sizes, in the state document) has nothing new, and does not read the manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lakehouse.paths import CAPTURE
from lakehouse.storage.files import LakeFiles

LOOKBACK = timedelta(hours=2)
FULL_SWEEP_EVERY = timedelta(hours=6)
# Capture files are {Namespace}/{EventHub}/{PartitionId}/{YYYY}/{MM}/{DD}/{hh}/{mm}/{ss}.avro.
CAPTURE_GLOB = "/".join(["*"] * 8 + ["*.avro"])
_HOUR_FORMAT = "%Y/%m/%d/%H"


@dataclass(frozen=True)
class DiscoveryPlan:
    """What this run lists: its hour folders (`ns/hub/partition/YYYY/MM/DD/hh`) and
    the same as a `glob` (relative to the capture root; None when there is nothing to
    list), whether it is a full sweep, and each partition's newest hour folder, to
    record once the run has loaded what it listed."""

    glob: str | None
    full_sweep: bool
    newest_hours: dict[str, str] = field(default_factory=dict)
    folders: tuple[str, ...] = ()
    done_listing: str | None = None  # what the last run recorded: listing_digest() of files it had processed

    @property
    def hour_folders(self) -> int:
        return len(self.folders)


class CaptureDiscovery:
    """Plans each run's listing from the state the last successful run recorded: the
    JSON document at `state_key` (e.g. `_state/bronze_discovery.json`); the Capture tree
    is at `capture` (a key), both in `files`, the lake's storage seam."""

    def __init__(self, files: LakeFiles, state_key: str, capture: str = CAPTURE) -> None:
        self.files = files
        self.state_key = state_key
        self.capture = capture.strip("/")

    def plan(self, *, full_sweep: bool = False, now: datetime | None = None) -> DiscoveryPlan:
        state = self._state()
        last_sweep = state.get("full_sweep_at")
        now = now or datetime.now(UTC)
        sweep = full_sweep or last_sweep is None or now - datetime.fromisoformat(last_sweep) >= FULL_SWEEP_EVERY
        recorded: dict[str, str] = state.get("newest_hours", {})
        newest: dict[str, str] = {}
        folders: list[str] = []
        for partition in self._partitions():
            bound = None if sweep or partition not in recorded else _hours_before(recorded[partition], LOOKBACK)
            hours = _hour_folders(self.files, f"{self.capture}/{partition}", bound)
            newest[partition] = max([*hours, recorded.get(partition, "")])
            folders += [f"{partition}/{hour}" for hour in hours]
        if sweep:
            return DiscoveryPlan(CAPTURE_GLOB, True, newest, tuple(folders))
        done = state.get("done_listing")
        if not folders:
            return DiscoveryPlan(None, False, newest, done_listing=done)
        return DiscoveryPlan("{" + ",".join(folders) + "}/*/*.avro", False, newest, tuple(folders), done)

    def record(self, plan: DiscoveryPlan, *, now: datetime | None = None, done_listing: str | None = None) -> None:
        """Remember what a run listed, once it has loaded it; `done_listing`, the
        listing_digest() of the listed files that are now processed (loaded or empty)."""
        state = self._state()
        state["newest_hours"] = {**state.get("newest_hours", {}), **plan.newest_hours}
        state["done_listing"] = done_listing
        if plan.full_sweep:
            state["full_sweep_at"] = (now or datetime.now(UTC)).isoformat()
        self.files.write_json(self.state_key, state)  # replaced whole: readers see the old or the new

    def _state(self) -> dict[str, Any]:
        state = self.files.read_json(self.state_key)
        return state if isinstance(state, dict) else {}

    def _partitions(self) -> list[str]:
        """`namespace/hub/partition` of every partition folder."""
        found = [""]
        for _ in range(3):
            found = [
                f"{prefix}{child}/" for prefix in found for child in _subdirs(self.files, f"{self.capture}/{prefix}")
            ]
        return [p.rstrip("/") for p in found]


def listing_digest(files: dict[str, int]) -> str:
    """A digest of a listing (relative path -> size)."""
    digest = hashlib.sha256()
    for path, size in sorted(files.items()):
        digest.update(f"{path}\0{size}\n".encode())
    return digest.hexdigest()


def _hour_folders(files: LakeFiles, partition: str, bound: str | None) -> list[str]:
    """The `YYYY/MM/DD/hh` folders of a partition (a key) at or after `bound` (all when
    None), listing only the year, month and day folders that can hold them."""
    found = [""]
    for _ in range(4):
        keys = [f"{prefix}{child}" for prefix in found for child in _subdirs(files, f"{partition}/{prefix}")]
        found = [f"{key}/" for key in keys if bound is None or key >= bound[: len(key)]]
    return [key.rstrip("/") for key in found]


def _hours_before(hour: str, span: timedelta) -> str:
    return (datetime.strptime(hour, _HOUR_FORMAT) - span).strftime(_HOUR_FORMAT)


def _subdirs(files: LakeFiles, key: str) -> list[str]:
    """The visible sub-folders of `key` (one listing; none when it does not exist)."""
    return sorted(files.listing(key.strip("/")).folders)
