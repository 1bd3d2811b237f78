"""The device simulator: deterministic, and faults at the configured rates."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.sources.simulator import FaultRates, SimulatorConfig, simulate

START = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _land(config: SimulatorConfig, root: Path) -> dict[str, bytes]:
    sim = simulate(config)
    CaptureLander(LocalCaptureStore(root), CaptureSettings(write_empty_files=True)).land(
        sim.events, start=config.start, end=config.end
    )
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.avro"))}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    config = SimulatorConfig(start=START, duration=timedelta(minutes=20), devices=30, seed=11)
    first, second = _land(config, tmp_path / "a"), _land(config, tmp_path / "b")
    assert first and first == second
    other = _land(SimulatorConfig(start=START, duration=timedelta(minutes=20), devices=30, seed=12), tmp_path / "c")
    assert other != first


def test_readings_follow_the_fleet_and_interval() -> None:
    sim = simulate(SimulatorConfig(start=START, duration=timedelta(minutes=10), devices=7, faults=FaultRates.none()))
    assert sim.readings == 7 * 20 == sim.sends
    bodies = [json.loads(e.body or b"") for e in sim.events]
    assert len({b["event_id"] for b in bodies}) == sim.readings
    assert Counter(b["device_id"] for b in bodies) == {f"dev-{i:05d}": 20 for i in range(7)}
    for event, body in zip(sim.events, bodies, strict=True):
        ts = datetime.fromisoformat(body["ts"].replace("Z", "+00:00"))
        assert START <= ts <= event.enqueued_time < START + timedelta(minutes=10)


def _classify(body: bytes | None) -> set[str]:
    try:
        doc = json.loads(body or b"")
    except ValueError:
        return {"malformed_json"}
    kinds = set()
    if not {"event_id", "device_id", "ts"} <= doc.keys():
        kinds.add("missing_field")
    measures = {
        "temperature_c": (-50, 150),
        "humidity_pct": (0, 100),
        "pressure_hpa": (800, 1100),
        "battery_pct": (0, 100),
    }
    for name, (low, high) in measures.items():
        value = doc.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            kinds.add("wrong_type")
        elif value is not None and not low <= value <= high:
            kinds.add("out_of_range")
    if {"firmware", "rssi_dbm"} & doc.keys():
        kinds.add("extra_fields")
    return kinds


def test_fault_rates_are_within_tolerance() -> None:
    rates = FaultRates(
        duplicate=0.05,
        out_of_order=0.05,
        late=0.03,
        malformed_json=0.02,
        missing_field=0.02,
        wrong_type=0.02,
        out_of_range=0.02,
        extra_fields=0.04,
    )
    sim = simulate(SimulatorConfig(start=START, duration=timedelta(hours=1), devices=100, faults=rates, seed=3))
    n = sim.readings
    assert n == 12_000
    # Observed from the bytes (independently of the simulator's own counters).
    seen: Counter[str] = Counter()
    ids: Counter[bytes] = Counter()
    late = ooo = 0
    for event in sim.events:
        ids[event.body or b""] += 1
    for body, count in ids.items():
        for kind in _classify(body):
            seen[kind] += 1
        seen["duplicate"] += count - 1
    for event in {e.body: e for e in reversed(sim.events)}.values():  # first send of each body
        try:
            ts = datetime.fromisoformat(json.loads(event.body or b"")["ts"].replace("Z", "+00:00"))
        except (ValueError, KeyError):
            continue
        delay = (event.enqueued_time - ts).total_seconds()
        late += delay >= 300
        ooo += 5 <= delay < 300
    seen["late"], seen["out_of_order"] = late, ooo
    for kind in (
        "duplicate",
        "malformed_json",
        "missing_field",
        "wrong_type",
        "out_of_range",
        "extra_fields",
        "late",
        "out_of_order",
    ):
        p = getattr(rates, kind)
        tolerance = 5 * math.sqrt(n * p * (1 - p))
        assert abs(seen[kind] - n * p) <= tolerance, (kind, seen[kind], n * p)


def test_the_registry_seed_is_the_simulated_fleet() -> None:
    """The seed's rows are the fleet the simulator sends from (device, site, model, installed)."""
    import csv

    from lakehouse.ingestion.sources.device_fleet import FLEET_SIZE, fleet
    from lakehouse.paths import PROJECT_DIR

    with open(PROJECT_DIR / "seeds" / "device_registry.csv", newline="") as handle:
        seed = [tuple(row.values()) for row in csv.DictReader(handle)]
    expected = [(d.device_id, d.site_id, d.model, f"{d.installed_at:%Y-%m-%d %H:%M:%S}") for d in fleet(FLEET_SIZE)]
    assert seed == expected
