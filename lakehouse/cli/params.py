"""Every option more than one command takes, defined once, and the typed values they
become (dbt-core's `cli/params.py` is the model).

An option group (`option_group`) is several click options that reach the command as
one frozen value, built once from click's values: `@simulator_options` gives the
command `simulator: SimulatorConfig`, `@capture_options` `capture: CaptureSettings`,
`@http_options` `http: HttpOptions`, `@blob_options` `blob: BlobOptions`,
`@eventhub_options` `eventhub: EventHubOptions`. No command takes `**kwargs`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lakehouse.cli.option_types import UTC_TIME, Duration
from lakehouse.ingestion.azure.retry import RetrySettings
from lakehouse.ingestion.capture.format import Codec
from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.sources.http import HttpSourceConfig
from lakehouse.ingestion.sources.simulator import FaultRates, SimulatorConfig
from lakehouse.paths import Lake

if TYPE_CHECKING:
    from lakehouse.ingestion.azure.producer import ProducerSettings

Decorator = Callable[[Any], Any]
T = TypeVar("T")


def options(*decorators: Decorator) -> Decorator:
    """Several click options as one decorator, in the order given."""

    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def option_group(name: str, build: Callable[..., T], *decorators: Decorator) -> Decorator:
    """The click options `decorators` as one typed value: click's values of these options
    are passed to `build` (by parameter name) and the command receives what it returns
    as its keyword argument `name`, instead of the options one by one."""
    probe: Any = options(*decorators)(lambda: None)
    names = [param.name for param in probe.__click_params__]

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = build(**{key: kwargs.pop(key) for key in names})
            return func(*args, **kwargs)

        decorated: Callable[..., Any] = options(*decorators)(command)
        return decorated

    return apply


def lake_of(ctx: click.Context) -> Lake:
    """The lake every command works on, resolved once by the root group (--lake, else
    $LAKEHOUSE_ROOT, else ./lake), with the settings of this process's environment
    (`lake.settings`), and passed from here to every layer."""
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


def default_start(period: timedelta) -> datetime:
    """The last whole 5 minutes (UTC) minus `period`."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 5) - period


def simulator_config(
    *, devices: int, interval: timedelta, duration: timedelta, start: datetime | None, seed: int, faults: bool
) -> SimulatorConfig:
    return SimulatorConfig(
        start=start.replace(tzinfo=UTC) if start else default_start(duration),
        duration=duration,
        devices=devices,
        interval=interval,
        seed=seed,
        faults=FaultRates() if faults else FaultRates.none(),
    )


simulator_options = option_group(
    "simulator",
    simulator_config,
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

# --------------------------------------------------------------------------- Capture files

window = click.option(
    "--window", "window_seconds", default=300, show_default=True, help="Capture window in seconds (Azure: 60..900)."
)
max_file_mb = click.option(
    "--max-file-mb", default=300, show_default=True, help="Size that closes a Capture file early (Azure: 10..500)."
)
codec = click.option("--codec", type=click.Choice(["deflate", "null"]), default="deflate", show_default=True)


def capture_settings(
    *,
    namespace: str,
    event_hub: str,
    partitions: int,
    window_seconds: int,
    max_file_mb: int,
    codec: Codec,
    empty_files: bool,
) -> CaptureSettings:
    return CaptureSettings(
        namespace=namespace,
        event_hub=event_hub,
        partitions=partitions,
        window_seconds=window_seconds,
        max_file_bytes=max_file_mb * 1024 * 1024,
        codec=codec,
        write_empty_files=empty_files,
    )


capture_options = option_group(
    "capture",
    capture_settings,
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


@dataclass(frozen=True)
class HttpOptions:
    """The HTTP source's options: how to read a page (`config(url)`) and how often to poll."""

    records_field: str
    next_field: str
    cursor_field: str
    device_field: str
    time_field: str
    id_field: str
    headers: tuple[str, ...]  # NAME:VALUE, as given (parsed by `config`, which says which one is wrong)
    max_attempts: int
    max_pages: int
    max_response_mb: float
    poll_interval: timedelta
    polls: int | None

    def config(self, url: str) -> HttpSourceConfig:
        headers = {}
        for item in self.headers:
            name, sep, value = item.partition(":")
            if not sep:
                raise click.BadParameter(f"{item!r} is not NAME:VALUE", param_hint="--header")
            headers[name.strip()] = value.strip()
        return HttpSourceConfig(
            url=url,
            records_field=self.records_field,
            next_field=self.next_field,
            cursor_field=self.cursor_field,
            device_field=self.device_field,
            time_field=self.time_field,
            id_field=self.id_field,
            headers=headers,
            max_attempts=self.max_attempts,
            max_pages=self.max_pages,
            max_response_bytes=int(self.max_response_mb * 1024 * 1024),
        )


http_options = option_group(
    "http",
    HttpOptions,
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


@dataclass(frozen=True)
class BlobOptions:
    """A Blob landing container, its local quarantine (None: the lake's) and its requests' retries."""

    container: str
    quarantine_dir: Path | None = None
    retry: RetrySettings = field(default_factory=RetrySettings)


def blob_settings(
    *,
    container: str,
    quarantine_dir: Path | None,
    retry_total: int,
    retry_backoff_factor: float,
    retry_backoff_max: float,
    connection_timeout: float,
    read_timeout: float,
) -> BlobOptions:
    retry = RetrySettings(
        retry_total=retry_total,
        retry_backoff_factor=retry_backoff_factor,
        retry_backoff_max=retry_backoff_max,
        connection_timeout=connection_timeout,
        read_timeout=read_timeout,
    )
    return BlobOptions(container, quarantine_dir, retry)


blob_options = option_group(
    "blob",
    blob_settings,
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


@dataclass(frozen=True)
class EventHubOptions:
    """The hub to send to (None: the one the environment names) and the producer's retries."""

    hub_name: str | None
    eh_retry_total: int
    eh_retry_backoff: float
    eh_retry_backoff_max: float
    send_timeout: float

    def producer_settings(self) -> ProducerSettings:
        from lakehouse.ingestion.azure.producer import ProducerSettings  # the Event Hubs SDK: only when sending

        return ProducerSettings(
            retry_total=self.eh_retry_total,
            retry_backoff_factor=self.eh_retry_backoff,
            retry_backoff_max=self.eh_retry_backoff_max,
            send_timeout=self.send_timeout,
        )


eventhub_options = option_group(
    "eventhub",
    EventHubOptions,
    hub_name,
    click.option("--eh-retry-total", default=3, show_default=True, help="SDK retries per connect/send."),
    click.option("--eh-retry-backoff", default=0.8, show_default=True, help="SDK exponential backoff factor, seconds."),
    click.option("--eh-retry-backoff-max", default=120.0, show_default=True, help="SDK longest wait between retries."),
    click.option(
        "--send-timeout", default=60.0, show_default=True, help="Seconds a batch send may take, retries included."
    ),
)
