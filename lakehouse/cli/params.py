"""Every option more than one command takes, defined once, and how options become
the configuration objects of the layers below (dbt-core's `cli/params.py` is the model)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from lakehouse.cli.option_types import UTC_TIME, Duration
from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.sources.simulator import FaultRates, SimulatorConfig
from lakehouse.paths import Lake

Decorator = Callable[[Any], Any]


def options(*decorators: Decorator) -> Decorator:
    """Several click options as one decorator, in the order given."""

    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def lake_of(ctx: click.Context) -> Lake:
    """The lake every command works on, resolved once by the root group (--lake, else
    $LAKEHOUSE_ROOT, else ./lake) and passed from here to every layer."""
    obj = ctx.find_root().obj
    if not (isinstance(obj, dict) and isinstance(obj.get("lake"), Lake)):
        raise click.UsageError("no lake: run the command as `lakehouse [--lake ROOT] COMMAND`")
    lake: Lake = obj["lake"]
    return lake


# --------------------------------------------------------------------------- the simulated fleet

devices = click.option(
    "--devices", default=10_000, show_default=True, help="Fleet size (the reference plant has 10,000)."
)
start = click.option(
    "--start", type=UTC_TIME, help="Period start, UTC (default: the last whole 5 minutes minus --duration)."
)
duration = click.option("--duration", type=Duration(), default="1h", show_default=True, help="Simulated period.")

simulator_options = options(
    devices,
    click.option(
        "--interval", type=Duration(), default="30s", show_default=True, help="Reporting interval per device."
    ),
    duration,
    start,
    click.option("--seed", default=7, show_default=True, help="Random seed: same seed, same bytes."),
    click.option(
        "--faults/--no-faults",
        default=True,
        show_default=True,
        help="Inject resends, late and bad events at the default rates.",
    ),
)


def default_start(period: timedelta) -> datetime:
    """The last whole 5 minutes (UTC) minus `period`."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 5) - period


def simulator_config(kw: dict[str, Any]) -> SimulatorConfig:
    """Pops the simulator options from a command's keyword arguments."""
    period: timedelta = kw.pop("duration")
    begin: datetime | None = kw.pop("start")
    return SimulatorConfig(
        start=begin.replace(tzinfo=UTC) if begin else default_start(period),
        duration=period,
        devices=kw.pop("devices"),
        interval=kw.pop("interval"),
        seed=kw.pop("seed"),
        faults=FaultRates() if kw.pop("faults") else FaultRates.none(),
    )


# --------------------------------------------------------------------------- Capture files

window = click.option(
    "--window", "window_seconds", default=300, show_default=True, help="Capture window in seconds (Azure: 60..900)."
)
max_file_mb = click.option(
    "--max-file-mb", default=300, show_default=True, help="Size that closes a Capture file early (Azure: 10..500)."
)
codec = click.option("--codec", type=click.Choice(["deflate", "null"]), default="deflate", show_default=True)

capture_options = options(
    click.option(
        "--namespace", default="telemetry-ns", show_default=True, help="Event Hubs namespace (first path level)."
    ),
    click.option("--event-hub", default="telemetry", show_default=True, help="Event hub name (second path level)."),
    click.option(
        "--partitions", default=4, show_default=True, help="Partitions of the hub; events route by device id."
    ),
    window,
    max_file_mb,
    codec,
    click.option(
        "--empty-files/--no-empty-files",
        default=True,
        show_default=True,
        help="Write header-only files for empty windows, as Azure does.",
    ),
)


def capture_settings(kw: dict[str, Any]) -> CaptureSettings:
    """Pops the Capture options from a command's keyword arguments."""
    return CaptureSettings(
        namespace=kw.pop("namespace"),
        event_hub=kw.pop("event_hub"),
        partitions=kw.pop("partitions"),
        window_seconds=kw.pop("window_seconds"),
        max_file_bytes=kw.pop("max_file_mb") * 1024 * 1024,
        codec=kw.pop("codec"),
        write_empty_files=kw.pop("empty_files"),
    )


skip_landed = click.option(
    "--skip-landed",
    is_flag=True,
    help="Skip events older than a partition's landed files (the old rule) instead of backfilling them: "
    "by default such events land now, after the last file, with the next sequence numbers, "
    "unless identical records are already landed.",
)

# --------------------------------------------------------------------------- sources

csv_file = click.option(
    "--csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The CSV to replay (with --source csv).",
)
timestamp_column = click.option(
    "--timestamp-column", default="ts", show_default=True, help="CSV column with the event time (ISO-8601)."
)
device_column = click.option(
    "--device-column", default="device_id", show_default=True, help="CSV column with the device id."
)

http_options = options(
    click.option(
        "--records-field", default="items", show_default=True, help="Where a page's records are (object responses)."
    ),
    click.option("--next-field", default="next", show_default=True, help="Next page URL field."),
    click.option(
        "--cursor-field", default="cursor", show_default=True, help="Cursor field (sent back as ?cursor=...)."
    ),
    click.option("--device-field", default="device_id", show_default=True, help="Record field with the device id."),
    click.option(
        "--time-field",
        default="ts",
        show_default=True,
        help="Record field with the event time (ISO-8601 or epoch s/ms).",
    ),
    click.option("--id-field", default="event_id", show_default=True, help="Record field with a stable event id."),
    click.option("--header", "headers", multiple=True, metavar="NAME:VALUE", help="Extra request header (repeatable)."),
    click.option("--max-attempts", default=5, show_default=True, help="Attempts per GET (429/5xx/connection errors)."),
    click.option(
        "--max-pages",
        default=1000,
        show_default=True,
        type=click.IntRange(1),
        help="Pages per poll, at most (a cursor API resumes after the last page taken).",
    ),
    click.option(
        "--max-response-mb",
        default=16.0,
        show_default=True,
        type=click.FloatRange(min=0, min_open=True),
        help="Size of one response, at most; a larger one fails the poll.",
    ),
    click.option("--poll-interval", type=Duration(), default="60s", show_default=True, help="Time between polls."),
    click.option("--polls", type=int, help="Stop after this many polls (default: poll until Ctrl-C)."),
)

# --------------------------------------------------------------------------- Azure

blob_options = options(
    click.option(
        "--container",
        default="capture",
        show_default=True,
        envvar="LAKEHOUSE_CAPTURE_CONTAINER",
        help="Blob container of the Capture files ($LAKEHOUSE_CAPTURE_CONTAINER).",
    ),
    click.option(
        "--quarantine-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Local quarantine for files written while storage is down (default: <lake>/_quarantine).",
    ),
    click.option(
        "--retry-total", default=8, show_default=True, help="Retries per request before a file is quarantined."
    ),
    click.option(
        "--retry-backoff",
        "retry_backoff_factor",
        default=0.8,
        show_default=True,
        help="Exponential backoff factor, seconds (waits 0, 2x, 4x, 8x ...).",
    ),
    click.option("--retry-backoff-max", default=60.0, show_default=True, help="Longest wait between retries, seconds."),
    click.option("--connection-timeout", default=20.0, show_default=True, help="Seconds to connect."),
    click.option("--read-timeout", default=60.0, show_default=True, help="Seconds to wait for a response."),
)

to_container = click.option("--to-container", help="Land into this Blob container instead of the local lake.")
hub_name = click.option(
    "--hub", "hub_name", help="Event hub name (default: $EVENTHUB_NAME or the connection string's EntityPath)."
)

eventhub_options = options(
    hub_name,
    click.option("--eh-retry-total", default=3, show_default=True, help="SDK retries per connect/send."),
    click.option("--eh-retry-backoff", default=0.8, show_default=True, help="SDK exponential backoff factor, seconds."),
    click.option("--eh-retry-backoff-max", default=120.0, show_default=True, help="SDK longest wait between retries."),
    click.option(
        "--send-timeout", default=60.0, show_default=True, help="Seconds a batch send may take, retries included."
    ),
)
