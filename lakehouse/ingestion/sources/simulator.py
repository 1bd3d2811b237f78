"""Device simulator: the reference plant (10,000 sensors every 30 s) with realistic faults.

Deterministic: the same configuration and seed give the same events, bytes and
order. Each reading becomes a JSON telemetry event (docs/contract.md, schema_version 1)
whose arrival (enqueued) time is its event time plus a network delay; faults are
drawn per reading at the configured rates:

- duplicate: the same event (same event_id and body) is sent again later (at-least-once)
- out_of_order: arrives 5 s to 2 min late, behind newer readings
- late: arrives 5 min to `late_max` late (capped at the end of the simulated period)
- malformed_json / missing_field / wrong_type / out_of_range: a bad body (one at most)
- extra_fields: unknown fields beside the contract's (schema drift, kept downstream)
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from lakehouse.ingestion.events import Event, iso_utc, utc
from lakehouse.ingestion.sources.device_fleet import fleet

BODY_FAULTS = ("malformed_json", "missing_field", "wrong_type", "out_of_range")
MEASURE_RANGES = {
    "temperature_c": (-50.0, 150.0),
    "humidity_pct": (0.0, 100.0),
    "pressure_hpa": (800.0, 1100.0),
    "battery_pct": (0.0, 100.0),
}


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per reading."""

    duplicate: float = 0.01
    out_of_order: float = 0.02
    late: float = 0.005
    malformed_json: float = 0.002
    missing_field: float = 0.002
    wrong_type: float = 0.002
    out_of_range: float = 0.002
    extra_fields: float = 0.01

    def __post_init__(self) -> None:
        for f in fields(self):
            if not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"fault rate {f.name} must be within 0..1")
        if sum(getattr(self, name) for name in BODY_FAULTS) > 1.0:
            raise ValueError("the body fault rates add up to more than 1")
        if self.out_of_order + self.late > 1.0:
            raise ValueError("out_of_order + late add up to more than 1")

    @classmethod
    def none(cls) -> FaultRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})


@dataclass(frozen=True)
class SimulatorConfig:
    start: datetime
    duration: timedelta = timedelta(hours=1)
    devices: int = 10_000
    interval: timedelta = timedelta(seconds=30)
    seed: int = 7
    faults: FaultRates = field(default_factory=FaultRates)
    late_max: timedelta = timedelta(hours=3)
    site_in_body_rate: float = 0.7

    @property
    def end(self) -> datetime:
        return utc(self.start) + self.duration


@dataclass
class Simulation:
    """The simulated stream (sorted by arrival) and what was injected into it."""

    config: SimulatorConfig
    events: list[Event]
    readings: int
    faults: Counter[str]

    @property
    def sends(self) -> int:
        return len(self.events)


def _body(reading: dict[str, object], fault: str | None, extra: bool, rng: random.Random) -> bytes:
    if fault == "missing_field":
        reading.pop(rng.choice(("event_id", "device_id", "ts")))
    elif fault == "wrong_type":
        name = rng.choice(("temperature_c", "humidity_pct", "battery_pct"))
        reading[name] = rng.choice((str(reading[name]), True, [reading[name]]))
    elif fault == "out_of_range":
        name = rng.choice(tuple(MEASURE_RANGES))
        low, high = MEASURE_RANGES[name]
        reading[name] = (
            round(high + rng.uniform(1, 500), 2) if rng.random() < 0.5 else round(low - rng.uniform(1, 500), 2)
        )
    if extra:
        reading["firmware"] = f"{rng.randint(1, 4)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}"
        reading["rssi_dbm"] = rng.randint(-95, -40)
    text = json.dumps(reading, separators=(",", ":"))
    if fault == "malformed_json":
        text = text[: rng.randint(1, len(text) - 1)]
    return text.encode()


def simulate(config: SimulatorConfig) -> Simulation:
    """Simulate the fleet over [start, start + duration)."""
    start, end = utc(config.start), config.end
    rng = random.Random(f"{config.seed}:{start.isoformat()}:{config.devices}")
    devices = fleet(config.devices)
    interval_ms = int(config.interval.total_seconds() * 1000)
    # Each device reports at its own phase within the interval, with a slow random walk.
    phase_ms = [rng.randrange(interval_ms) for _ in devices]
    state = [
        {"t": rng.uniform(15, 35), "h": rng.uniform(30, 60), "p": rng.uniform(990, 1030), "b": rng.uniform(60, 100)}
        for _ in devices
    ]
    f = config.faults
    body_thresholds = []
    acc = 0.0
    for name in BODY_FAULTS:
        acc += getattr(f, name)
        body_thresholds.append((acc, name))
    last_arrival = end - timedelta(milliseconds=1)
    events: list[Event] = []
    faults: Counter[str] = Counter()
    readings = 0
    tick = start
    while tick < end:
        for device, phase, s in zip(devices, phase_ms, state, strict=True):
            ts = tick + timedelta(milliseconds=phase)
            if ts >= end:
                continue
            readings += 1
            s["t"] += rng.gauss(0, 0.2)
            s["h"] = min(100.0, max(0.0, s["h"] + rng.gauss(0, 0.5)))
            s["p"] += rng.gauss(0, 0.3)
            s["b"] = max(0.0, s["b"] - rng.uniform(0, 0.01))
            reading: dict[str, object] = {
                "event_id": f"{device.device_id}-{int(ts.timestamp() * 1000)}",
                "device_id": device.device_id,
                "ts": iso_utc(ts),
                "temperature_c": round(s["t"], 2),
                "humidity_pct": round(s["h"], 2),
                "pressure_hpa": round(s["p"], 2),
                "battery_pct": round(s["b"], 2),
                "status": "ok" if s["t"] < 60 else "warn",
                "schema_version": 1,
            }
            if rng.random() < config.site_in_body_rate:
                reading["site_id"] = device.site_id
            draw = rng.random()
            fault = next((name for threshold, name in body_thresholds if draw < threshold), None)
            extra = rng.random() < f.extra_fields
            body = _body(reading, fault, extra, rng)
            timing = rng.random()
            if timing < f.late:
                delay = timedelta(seconds=rng.uniform(300, config.late_max.total_seconds()))
                kind = "late"
            elif timing < f.late + f.out_of_order:
                delay = timedelta(seconds=rng.uniform(5, 120))
                kind = "out_of_order"
            else:
                delay = timedelta(milliseconds=rng.uniform(50, 2000))
                kind = None
            arrival = min(ts + delay, last_arrival)
            props = {"source": "simulator", "content_type": "application/json"}
            events.append(Event(body, device.device_id, arrival, props))
            for injected in (fault, kind, "extra_fields" if extra else None):
                if injected:
                    faults[injected] += 1
            if rng.random() < f.duplicate:
                faults["duplicate"] += 1
                resend = min(arrival + timedelta(seconds=rng.uniform(1, 600)), last_arrival)
                events.append(Event(body, device.device_id, resend, props))
        tick += config.interval
    events.sort(key=lambda e: e.enqueued_time)
    return Simulation(config, events, readings, faults)
