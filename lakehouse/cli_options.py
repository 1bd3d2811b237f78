"""Command-line options shared by `lakehouse` and `lakehouse azure`: the simulated
fleet and the Capture settings, and how they become configuration objects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ingestion.lander import CaptureSettings
from ingestion.simulator import FaultRates, SimulatorConfig
from lakehouse.durations import Duration


def options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator, in the order given."""

    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


simulator_options = options(
    click.option("--devices", default=10_000, show_default=True, help="Fleet size (the reference plant has 10,000)."),
    click.option("--interval", type=Duration(), default="30s", show_default=True, help="Reporting interval per device."),
    click.option("--duration", type=Duration(), default="1h", show_default=True, help="Simulated period."),
    click.option("--start", type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
                 help="Period start, UTC (default: the last whole 5 minutes minus --duration)."),
    click.option("--seed", default=7, show_default=True, help="Random seed: same seed, same bytes."),
    click.option("--faults/--no-faults", default=True, show_default=True,
                 help="Inject resends, late and bad events at the default rates."),
)

capture_options = options(
    click.option("--namespace", default="telemetry-ns", show_default=True, help="Event Hubs namespace (first path level)."),
    click.option("--event-hub", default="telemetry", show_default=True, help="Event hub name (second path level)."),
    click.option("--partitions", default=4, show_default=True, help="Partitions of the hub; events route by device id."),
    click.option("--window", "window_seconds", default=300, show_default=True, help="Capture window in seconds (Azure: 60..900)."),
    click.option("--max-file-mb", default=300, show_default=True, help="Size that closes a Capture file early (Azure: 10..500)."),
    click.option("--codec", type=click.Choice(["deflate", "null"]), default="deflate", show_default=True),
    click.option("--empty-files/--no-empty-files", default=True, show_default=True,
                 help="Write header-only files for empty windows, as Azure does."),
)


skip_landed_option = click.option(
    "--skip-landed", is_flag=True,
    help="Skip events older than a partition's landed files (the old rule) instead of backfilling them: "
         "by default such events land now, after the last file, with the next sequence numbers, "
         "unless identical records are already landed.")


def default_start(duration: timedelta) -> datetime:
    """The last whole 5 minutes (UTC) minus `duration`."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 5) - duration


def simulator_config(kw: dict[str, Any]) -> SimulatorConfig:
    """Pops the simulator options from a command's keyword arguments."""
    duration: timedelta = kw.pop("duration")
    start: datetime | None = kw.pop("start")
    return SimulatorConfig(
        start=start.replace(tzinfo=UTC) if start else default_start(duration), duration=duration,
        devices=kw.pop("devices"), interval=kw.pop("interval"), seed=kw.pop("seed"),
        faults=FaultRates() if kw.pop("faults") else FaultRates.none(),
    )


def capture_settings(kw: dict[str, Any]) -> CaptureSettings:
    """Pops the Capture options from a command's keyword arguments."""
    return CaptureSettings(
        namespace=kw.pop("namespace"), event_hub=kw.pop("event_hub"), partitions=kw.pop("partitions"),
        window_seconds=kw.pop("window_seconds"), max_file_bytes=kw.pop("max_file_mb") * 1024 * 1024,
        codec=kw.pop("codec"), write_empty_files=kw.pop("empty_files"),
    )
