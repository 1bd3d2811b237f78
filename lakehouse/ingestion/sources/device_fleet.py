"""The reference plant's device fleet: ids, sites and models, shared by the simulator
and the device registry seed (`seeds/device_registry.csv`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

FLEET_SIZE = 10_000
SITES = 50
MODELS = ("TH-100", "TH-200", "PX-300")


@dataclass(frozen=True, slots=True)
class Device:
    index: int

    @property
    def device_id(self) -> str:
        return f"dev-{self.index:05d}"

    @property
    def site_id(self) -> str:
        return f"site-{self.index % SITES:02d}"

    @property
    def model(self) -> str:
        return MODELS[self.index % len(MODELS)]

    @property
    def installed_at(self) -> datetime:
        return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=self.index % 8760)


def fleet(size: int) -> list[Device]:
    if not 1 <= size <= FLEET_SIZE:
        raise ValueError(f"the registry covers 1..{FLEET_SIZE} devices, not {size}")
    return [Device(i) for i in range(size)]
