"""Which hour folders a bronze load lists: bounded by the path's time, swept whole now and then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse.paths import Lake
from lakehouse.pipeline import capture_discovery
from lakehouse.pipeline.capture_discovery import CAPTURE_GLOB, FULL_SWEEP_EVERY, CaptureDiscovery
from lakehouse.storage.files import LakeFiles

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
P0 = "ns/hub/0"


def _land(capture: Path, partition: str, start: datetime, hours: int) -> None:
    """One empty file per hour folder (the listing does not open files)."""
    for hour in range(hours):
        t = start + timedelta(hours=hour)
        path = capture / partition / f"{t:%Y/%m/%d/%H}/05/00.avro"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def _discovery(capture: Path) -> CaptureDiscovery:
    """The planner on the lake whose `capture/` is `capture`, its state in `_state/`."""
    return CaptureDiscovery(Lake.at(capture.parent).files, Lake.state_key("bronze_discovery.json"))


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every folder the planner lists (its key under the lake root)."""
    reads: list[str] = []
    real = capture_discovery._subdirs

    def spy(files: LakeFiles, key: str) -> list[str]:
        reads.append(key.strip("/"))
        return real(files, key)

    monkeypatch.setattr(capture_discovery, "_subdirs", spy)
    return reads


def _folders(glob: str | None) -> list[str]:
    assert glob is not None and glob.startswith("{") and glob.endswith("}/*/*.avro")
    return glob[1 : -len("}/*/*.avro")].split(",")


def test_first_load_sweeps_then_loads_list_only_recent_hour_folders(capture_dir: Path, listed: list[str]) -> None:
    _land(capture_dir, P0, datetime(2026, 10, 1, tzinfo=UTC), 24 * 30)  # a month, 2026-10-01 00h .. 10-30 23h
    discovery = _discovery(capture_dir)

    first = discovery.plan(now=NOW)
    assert (first.glob, first.full_sweep, first.newest_hours) == (CAPTURE_GLOB, True, {P0: "2026/10/30/23"})
    discovery.record(first, now=NOW)

    listed.clear()
    second = discovery.plan(now=NOW + timedelta(minutes=5))
    assert not second.full_sweep
    assert _folders(second.glob) == [f"{P0}/2026/10/30/{h}" for h in (21, 22, 23)]
    # Only the folders that can hold those hours are read: not the month's other 29 days.
    read = {key.removeprefix("capture/") for key in listed}
    assert not any(r.startswith(f"{P0}/2026/10/") and r != f"{P0}/2026/10/30" and r.count("/") >= 5 for r in read)
    assert len(listed) <= 3 + 4 + 3  # partitions' folders, the walk down to the day, the 3 hours


def test_after_an_outage_every_hour_since_the_last_listing_is_listed(capture_dir: Path) -> None:
    _land(capture_dir, P0, datetime(2026, 10, 30, 20, tzinfo=UTC), 4)  # 20h .. 23h
    discovery = _discovery(capture_dir)
    discovery.record(discovery.plan(now=NOW), now=NOW)
    _land(capture_dir, P0, datetime(2026, 10, 31, 0, tzinfo=UTC), 30)  # 30 hours later, across a month end
    plan = discovery.plan(now=NOW + timedelta(hours=1))
    expected = [datetime(2026, 10, 30, 21, tzinfo=UTC) + timedelta(hours=h) for h in range(3 + 30)]
    assert _folders(plan.glob) == [f"{P0}/{t:%Y/%m/%d/%H}" for t in expected]
    assert plan.newest_hours == {P0: "2026/11/01/05"}


def test_a_new_partition_is_listed_whole_and_the_sweep_comes_back(capture_dir: Path) -> None:
    _land(capture_dir, P0, datetime(2026, 10, 30, 20, tzinfo=UTC), 4)
    discovery = _discovery(capture_dir)
    discovery.record(discovery.plan(now=NOW), now=NOW)
    _land(capture_dir, "ns/other-hub/3", datetime(2026, 10, 1, tzinfo=UTC), 2)
    plan = discovery.plan(now=NOW + FULL_SWEEP_EVERY - timedelta(seconds=1))
    assert _folders(plan.glob) == [
        *(f"{P0}/2026/10/30/{h}" for h in (21, 22, 23)),
        "ns/other-hub/3/2026/10/01/00",
        "ns/other-hub/3/2026/10/01/01",
    ]
    assert discovery.plan(now=NOW + FULL_SWEEP_EVERY).full_sweep
    assert discovery.plan(full_sweep=True, now=NOW).glob == CAPTURE_GLOB


def test_an_empty_tree_lists_nothing_after_its_first_sweep(capture_dir: Path) -> None:
    discovery = _discovery(capture_dir)
    discovery.record(discovery.plan(now=NOW), now=NOW)
    assert discovery.plan(now=NOW).glob is None
