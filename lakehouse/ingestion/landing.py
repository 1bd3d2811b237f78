"""Sources landed as Capture files into a store: the simulated fleet (the one way
every command, benchmark and test does it) and the polls of an HTTP endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings, LandingReport
from lakehouse.ingestion.capture.store import CaptureStore
from lakehouse.ingestion.sources.http import HttpPoller, HttpSourceError
from lakehouse.ingestion.sources.simulator import Simulation, SimulatorConfig, simulate


@dataclass(frozen=True)
class SimulatedLanding:
    simulation: Simulation
    report: LandingReport


def land_simulation(
    store: CaptureStore, config: SimulatorConfig, settings: CaptureSettings | None = None, *, progress: bool = False
) -> SimulatedLanding:
    """The simulated period's events, landed with Capture's windows from its start to its end
    (empty windows too when `settings.write_empty_files`)."""
    simulation = simulate(config)
    report = CaptureLander(store, settings or CaptureSettings()).land(
        simulation.events, start=config.start, end=config.end, progress=progress
    )
    return SimulatedLanding(simulation, report)


@dataclass
class PollLanding:
    """What one poll of an HTTP source landed."""

    records: int = 0
    files: int = 0


class PollFailed(RuntimeError):
    """A poll failed after landing part of its pages (`landed`); the cause is `__cause__`."""

    def __init__(self, message: str, landed: PollLanding) -> None:
        super().__init__(message)
        self.landed = landed


def land_http_polls(
    poller: HttpPoller, lander: CaptureLander, *, interval_seconds: float, polls: int | None = None
) -> Iterator[PollLanding]:
    """Polls the source every `interval_seconds` (`polls` times, or forever) and lands
    each page before the next is requested, stamped with the time received. Each
    landing ends one second after its last event, and a later page's events are
    kept at or after the previous landing's end, so no window is written twice.
    Yields what each poll landed; raises `PollFailed` when a poll fails."""
    landed_until: datetime | None = None
    for poll in poller.poll_forever(interval_seconds, polls=polls):
        landing = PollLanding()
        try:
            for page in poll:  # one page: landed before the next page is requested
                if not page:
                    continue
                events = (
                    page
                    if landed_until is None
                    else [
                        e if e.enqueued_time >= landed_until else replace(e, enqueued_time=landed_until) for e in page
                    ]
                )
                end = max(e.enqueued_time for e in events).replace(microsecond=0) + timedelta(seconds=1)
                landing.files += lander.land(events, end=end).files_written
                landed_until = end
                landing.records += len(events)
        except HttpSourceError as exc:
            raise PollFailed(
                f"{exc}\n({landing.records:,} records of this poll were landed before it failed)", landing
            ) from exc
        yield landing
