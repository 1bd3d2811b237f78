"""CSV replay: rows become telemetry events in event-time order."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakehouse.ingestion.sources.csv_replay import CsvReplayError, replay_csv


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_rows_become_events_in_event_time_order(tmp_path: Path) -> None:
    csv_file = _write(
        tmp_path / "r.csv",
        (
            "ts,device_id,temperature_c,status,note\n"
            "2026-11-22T10:00:05Z,dev-2,21.5,ok,\n"
            "2026-11-22T10:00:01Z,dev-1,19,warn,door open\n"
            "2026-11-22T10:00:03Z,dev-1,abc,ok,\n"
        ),
    )
    events = list(replay_csv(csv_file))
    bodies = [json.loads(e.body or b"") for e in events]
    assert [b["ts"] for b in bodies] == [
        "2026-11-22T10:00:01.000Z",
        "2026-11-22T10:00:03.000Z",
        "2026-11-22T10:00:05.000Z",
    ]
    assert bodies[0] == {
        "event_id": "dev-1-1795341601000",
        "device_id": "dev-1",
        "ts": "2026-11-22T10:00:01.000Z",
        "temperature_c": 19.0,
        "status": "warn",
        "note": "door open",
    }
    assert bodies[1]["temperature_c"] == "abc"  # kept as written: silver quarantines it as wrong_type
    assert "note" not in bodies[2]
    assert [e.partition_key for e in events] == ["dev-1", "dev-1", "dev-2"]
    assert events[0].enqueued_time == datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)


def test_speedup_paces_the_replay(tmp_path: Path) -> None:
    csv_file = _write(
        tmp_path / "r.csv", "ts,device_id\n2026-11-22T10:00:00Z,a\n2026-11-22T10:01:00Z,a\n2026-11-22T10:01:30Z,a\n"
    )
    sleeps: list[float] = []
    list(replay_csv(csv_file, speedup=60, sleep=sleeps.append))
    assert sleeps == [1.0, 0.5]


def test_bad_csv_gets_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CsvReplayError, match="no column 'ts'"):
        list(replay_csv(_write(tmp_path / "a.csv", "time,device_id\nx,y\n")))
    with pytest.raises(CsvReplayError, match="row 3: timestamp 'soon'"):
        list(replay_csv(_write(tmp_path / "b.csv", "ts,device_id\n2026-11-22T10:00:00Z,a\nsoon,b\n")))


def test_a_csv_that_is_not_utf8_gets_a_clear_error(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    data = "ts,device_id,note\n2026-11-22T10:00:00Z,a,ok\n2026-11-22T10:00:01Z,b,caf\u00e9\n".encode("latin-1")
    latin1.write_bytes(data)
    offset = data.index(0xE9)  # the first non-UTF-8 byte, on line 3
    with pytest.raises(CsvReplayError, match=re.escape(f"{latin1}: line 3, byte {offset}: b'\\xe9' is not UTF-8")):
        list(replay_csv(latin1))
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffts,device_id\n2026-11-22T10:00:00Z,a\n".encode())  # a UTF-8 BOM is fine
    assert [e.partition_key for e in replay_csv(bom)] == ["a"]
