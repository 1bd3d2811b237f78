"""`lakehouse azure ...`: Event Hubs producers and consumer lander, HTTP source, Blob landing."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lakehouse.cli import params
from lakehouse.cli.option_types import Duration
from lakehouse.cli.params import (
    BlobOptions,
    EventHubOptions,
    HttpOptions,
    blob_options,
    capture_options,
    eventhub_options,
    http_options,
    lake_of,
    simulator_options,
)
from lakehouse.ingestion.azure.blob_store import BlobCaptureStore
from lakehouse.ingestion.azure.blobs import BlobStoreError
from lakehouse.ingestion.capture.format import Codec
from lakehouse.ingestion.capture.lake_store import capture_store
from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.capture.store import CaptureStore
from lakehouse.ingestion.events import Event
from lakehouse.ingestion.sources.simulator import SimulatorConfig

if TYPE_CHECKING:
    from lakehouse.ingestion.sources.batches import CsvSource


def _blob_store(ctx: click.Context, blob: BlobOptions) -> BlobCaptureStore:
    """The Blob store `blob` names, with the credentials of the lake's settings (the environment)."""
    from lakehouse.ingestion.azure.blob_store import blob_capture_store_from_env

    lake = lake_of(ctx)
    return blob_capture_store_from_env(
        blob.container,
        quarantine_dir=blob.quarantine_dir or lake.quarantine,
        env=lake.settings.environ,
        **asdict(blob.retry),
    )


def _landing_store(ctx: click.Context, to_container: str | None) -> CaptureStore:
    return _blob_store(ctx, BlobOptions(to_container)) if to_container else capture_store(lake_of(ctx))


def _producer(ctx: click.Context, eventhub: EventHubOptions, dead_letter: Path | None) -> Any:
    """(client, producer, dead-letter path) for the hub `eventhub` names."""
    from lakehouse.ingestion.azure.producer import producer_from_env

    settings = eventhub.producer_settings()
    return producer_from_env(settings, lake_of(ctx), hub_name=eventhub.hub_name, dead_letter=dead_letter)


# --------------------------------------------------------------------------- group


@click.group("azure", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def azure() -> None:
    """Azure paths: send to Event Hubs, land Capture files in Blob/ADLS, sync them down.

    \b
    Credentials come from the environment only:
      Blob:       AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_SAS_URL,
                  or AZURE_STORAGE_ACCOUNT_URL (+ AZURE_STORAGE_SAS_TOKEN, else
                  DefaultAzureCredential / managed identity)
      Event Hubs: EVENTHUB_CONNECTION_STRING (+ EVENTHUB_NAME unless EntityPath=),
                  or EVENTHUB_FULLY_QUALIFIED_NAMESPACE + EVENTHUB_NAME (DefaultAzureCredential)

    \b
    Typical flows:
      lakehouse azure land --devices 500 --duration 1h     simulate -> Blob container
      lakehouse azure sync                                 Blob -> ./lake/capture
      lakehouse dbt build --select bronze                  build from the synced files
      lakehouse azure send --source simulate               simulate -> Event Hubs
      lakehouse azure consume --checkpoint-container ckpt  Event Hubs -> Capture files
      lakehouse azure redrive                              quarantine -> landing
    """
    # The SDKs log every request and response at INFO; keep the output to what
    # happened (our own log lines), unless `lakehouse -v` asked for debug logs.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("azure").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- Blob


@azure.command("land")
@simulator_options
@capture_options
@blob_options
@click.pass_context
def land_command(ctx: click.Context, simulator: SimulatorConfig, capture: CaptureSettings, blob: BlobOptions) -> None:
    """Simulate the fleet and land Capture files in a Blob container.

    Files that cannot be written after the retries go to quarantine (the
    `<container>-quarantine` container, or --quarantine-dir when storage is down);
    `lakehouse azure redrive` lands them later. Landing again is idempotent.

    \b
    Examples:
      export AZURE_STORAGE_CONNECTION_STRING='...'
      lakehouse azure land --devices 500 --duration 1h --container capture
      lakehouse azure land --start 2026-11-22T10:00 --duration 30m --retry-total 3 --retry-backoff 0.2
    """
    from lakehouse.ingestion.landing import land_simulation

    store = _blob_store(ctx, blob)
    t1 = time.monotonic()
    try:
        landed = land_simulation(store, simulator, capture, progress=True)
    except BlobStoreError as exc:  # with what to do next, which only this command knows
        raise click.ClickException(
            f"{exc}\nFiles written so far are landed or quarantined; run the same command "
            "again when storage is back (landing resumes), then `lakehouse azure redrive`."
        ) from exc
    seconds, report = time.monotonic() - t1, landed.report
    click.echo(
        f"simulated {landed.simulation.sends:,} sends from {simulator.devices:,} devices, "
        f"{simulator.start:%Y-%m-%d %H:%M} to {simulator.end:%H:%M} UTC"
    )
    stats = store.stats
    click.echo(
        f"landed {report.records_written:,} records in {report.files_written:,} files "
        f"({report.bytes_written / 1e6:.1f} MB) to {store.describe('')} in {seconds:.1f} s: "
        f"{report.files_written / seconds:,.1f} files/s, {report.records_written / seconds:,.0f} events/s; "
        f"{len(store.retry_log.events)} retries"
        + (f"; {report.events_already_landed:,} events were already landed" if report.events_already_landed else "")
    )
    quarantined = stats.quarantined_in_container + stats.quarantined_locally
    if quarantined:
        raise click.ClickException(
            f"{quarantined} files were quarantined ({stats.quarantined_in_container} in the "
            f"quarantine container, {stats.quarantined_locally} locally); run "
            "`lakehouse azure redrive` once storage is healthy"
        )


@azure.command("sync")
@click.option("--prefix", default="", help="Only blobs under this Capture path prefix, e.g. telemetry-ns/telemetry/.")
@blob_options
@click.pass_context
def sync_command(ctx: click.Context, prefix: str, blob: BlobOptions) -> None:
    """Download landed Capture files from Blob into the lake's capture/ folder.

    Files already present with the same size and MD5 are skipped; downloads are
    checked against the blob's Content-MD5 and written atomically.

    \b
    Examples:
      lakehouse azure sync --container capture
      lakehouse --lake /data/lake azure sync --prefix telemetry-ns/telemetry/
    """
    from lakehouse.ingestion.azure.blob_sync import sync_to_lake

    lake = lake_of(ctx)
    if not lake.is_local:
        raise click.UsageError(
            f"`azure sync` copies Capture blobs into a local lake's capture/ folder; the lake at {lake.root} "
            "is on Azure storage: land into it directly (`lakehouse --lake URL azure land`, or point Event Hubs "
            "Capture at its container's capture/ folder)"
        )
    store = _blob_store(ctx, blob)
    report = sync_to_lake(store, Path(lake.capture), prefix, progress=True)
    click.echo(
        f"synced {store.describe(prefix)} -> {lake.capture}: {len(report.downloaded):,} downloaded "
        f"({report.bytes_downloaded / 1e6:.1f} MB), {report.skipped:,} already present, {report.seconds:.1f} s"
    )
    if report.refused:
        raise click.ClickException(
            f"{len(report.refused)} blobs were refused: their names would leave "
            f"{lake.capture}: " + ", ".join(map(repr, report.refused))
        )


@azure.command("redrive")
@click.option("--prefix", default="", help="Only quarantined files under this Capture path prefix.")
@blob_options
@click.pass_context
def redrive_command(ctx: click.Context, prefix: str, blob: BlobOptions) -> None:
    """Move quarantined Capture files to their real paths in the landing container.

    Reads both the `<container>-quarantine` container and the local quarantine
    folder. A file whose real path already holds the same bytes just leaves
    quarantine; different bytes are reported as a conflict and left alone.

    \b
    Examples:
      lakehouse azure redrive --container capture
      lakehouse azure redrive --quarantine-dir /var/lib/lakehouse/quarantine
    """
    store = _blob_store(ctx, blob)
    for entry in store.quarantined(prefix):
        click.echo(f"  {entry.where:<9} {entry.path}  ({entry.reason})")
    report = store.redrive(prefix, progress=True)
    click.echo(
        f"redrive: {len(report.landed)} landed, {len(report.already_landed)} were already landed, "
        f"{len(report.conflicts)} conflicts left in quarantine"
    )
    if report.conflicts:
        raise click.ClickException("conflicting files stay in quarantine: " + ", ".join(report.conflicts))


# --------------------------------------------------------------------------- HTTP


@azure.command("poll-http")
@click.argument("url")
@http_options
@capture_options
@params.to_container
@click.pass_context
def poll_http_command(
    ctx: click.Context, url: str, to_container: str | None, http: HttpOptions, capture: CaptureSettings
) -> None:
    """Poll a third-party HTTP GET endpoint and land its records as Capture files.

    Follows `next` links or `cursor` fields, waits out 429 Retry-After, backs off
    on 5xx and connection errors. Each page's events are landed before the next
    page is requested (local lake by default, or --to-container), stamped with the
    time received; a cursor API's next poll resumes after the last landed page.
    Headers (--header) go only to the URL's own scheme, host and port: a `next`
    link or redirect elsewhere fails the poll.

    \b
    Examples:
      lakehouse azure poll-http https://api.example.com/v1/readings --polls 1
      lakehouse azure poll-http https://api.example.com/v1/readings --poll-interval 5m \\
          --records-field data --time-field observed_at --header "Authorization: Bearer $TOKEN"
    """
    from lakehouse.ingestion.capture.lander import CaptureLander
    from lakehouse.ingestion.landing import land_http_polls
    from lakehouse.ingestion.sources.http import HttpPoller

    poller = HttpPoller(http.config(url))
    lander = CaptureLander(_landing_store(ctx, to_container), capture)
    polls = land_http_polls(poller, lander, interval_seconds=http.poll_interval.total_seconds(), polls=http.polls)
    try:
        for landed in polls:
            click.echo(
                f"poll: {landed.records:,} records landed in {landed.files} files"
                if landed.records
                else "poll: no new records"
            )
    except KeyboardInterrupt:
        click.echo("stopped")


# --------------------------------------------------------------------------- Event Hubs


def _event_batches(
    source: str, simulator: SimulatorConfig, csv: CsvSource | None, http: HttpOptions, url: str | None
) -> Iterable[list[Event]]:
    """The chosen source's event batches (one per page for http)."""
    from lakehouse.ingestion.sources.batches import HttpSource, event_batches

    chosen: SimulatorConfig | CsvSource | HttpSource
    if source == "simulate":
        chosen = simulator
    elif source == "csv":
        if csv is None:
            raise click.UsageError("--source csv needs --csv FILE")
        chosen = csv
    else:
        if url is None:
            raise click.UsageError("--source http needs --url URL")
        chosen = HttpSource(http.config(url), http.poll_interval, http.polls)
    return event_batches(chosen)


@azure.command("send")
@click.option("--source", type=click.Choice(["simulate", "csv", "http"]), default="simulate", show_default=True)
@params.csv_file
@params.timestamp_column
@params.device_column
@click.option("--url", help="Endpoint for --source http.")
@click.option(
    "--dead-letter",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dead-letter file (default: <lake>/_dead_letters/<hub>.jsonl).",
)
@simulator_options
@http_options
@eventhub_options
@click.pass_context
def send_command(
    ctx: click.Context,
    source: str,
    csv_file: Path | None,
    timestamp_column: str,
    device_column: str,
    url: str | None,
    dead_letter: Path | None,
    simulator: SimulatorConfig,
    http: HttpOptions,
    eventhub: EventHubOptions,
) -> None:
    """Send a source's events to Event Hubs, keyed by device id.

    Events are packed into the largest batches the hub allows (one partition key
    per batch), sent with the SDK's retries and exponential backoff; if a send
    still fails, everything unsent goes to the dead-letter file and the command
    exits with an error naming it (send it later with `resend-dead-letters`).

    \b
    Examples:
      export EVENTHUB_CONNECTION_STRING='Endpoint=sb://<ns>.servicebus.windows.net/;...;EntityPath=telemetry'
      lakehouse azure send --source simulate --devices 500 --duration 1h
      lakehouse azure send --source csv --csv readings.csv
      lakehouse azure send --source http --url https://api.example.com/v1/readings --polls 10
    """
    from lakehouse.ingestion.sources.batches import CsvSource

    csv = CsvSource(csv_file, timestamp_column, device_column) if csv_file else None
    client, producer, path = _producer(ctx, eventhub, dead_letter)
    failed = 0
    with client:
        for events in _event_batches(source, simulator, csv, http, url):
            report = producer.send(events, progress=True)
            click.echo(report.summary())
            failed += report.events_dead_lettered
            if report.error:
                break
    if failed:
        raise click.ClickException(
            f"{failed:,} events were not sent and are in {path}; "
            f"send them later with `lakehouse azure resend-dead-letters {path}`"
        )


@azure.command("resend-dead-letters")
@click.argument("dead_letter_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@eventhub_options
@click.pass_context
def resend_command(ctx: click.Context, dead_letter_file: Path, eventhub: EventHubOptions) -> None:
    """Send a dead-letter file's events again; sent events leave the file.

    If nothing can be sent the file is left exactly as it was.

    \b
    Example:
      lakehouse azure resend-dead-letters lake/_dead_letters/telemetry.jsonl
    """
    from lakehouse.ingestion.azure.dead_letters import DeadLetterFile
    from lakehouse.ingestion.azure.producer import resend_dead_letters

    client, producer, _ = _producer(ctx, eventhub, dead_letter_file)
    with client:
        report = resend_dead_letters(DeadLetterFile(dead_letter_file), producer, progress=True)
    click.echo(f"resent {report.sent:,} of {report.letters:,} dead letters; {report.send.summary()}")
    if report.kept:
        raise click.ClickException(f"{report.kept:,} events are still in {dead_letter_file}")


@azure.command("consume")
@click.option("--consumer-group", default="$Default", show_default=True)
@click.option(
    "--checkpoint-container", required=True, help="Blob container for checkpoints (same storage account variables)."
)
@params.to_container
@click.option("--window", "window_seconds", default=300, show_default=True, help="Capture window in seconds.")
@click.option("--max-file-mb", default=300, show_default=True, help="Size that closes a Capture file early.")
@click.option("--codec", type=click.Choice(["deflate", "null"]), default="deflate", show_default=True)
@click.option("--duration", type=Duration(), help="Stop after this long (default: until Ctrl-C).")
@click.option(
    "--from-start/--from-latest",
    default=True,
    show_default=True,
    help="Where to begin when a partition has no checkpoint yet.",
)
@click.option(
    "--idle-grace",
    type=Duration(),
    default="30s",
    show_default=True,
    help="Close a quiet window this long after its end.",
)
@params.hub_name
@click.pass_context
def consume_command(
    ctx: click.Context,
    consumer_group: str,
    checkpoint_container: str,
    to_container: str | None,
    window_seconds: int,
    max_file_mb: int,
    codec: Codec,
    duration: timedelta | None,
    from_start: bool,
    idle_grace: timedelta,
    hub_name: str | None,
) -> None:
    """Land an Event Hub as Capture files, for hubs without Capture enabled.

    Each partition's events are cut into capture windows by the hub's enqueued
    time and written with the hub's partition id, sequence numbers and offsets;
    the checkpoint moves only after a window's file is written (at-least-once).

    \b
    Examples:
      lakehouse azure consume --checkpoint-container checkpoints --duration 10m
      lakehouse azure consume --checkpoint-container checkpoints --to-container capture --window 60
    """
    from lakehouse.ingestion.azure.auth import checkpoint_store, eventhub_consumer, eventhub_target
    from lakehouse.ingestion.azure.consumer_lander import EventHubsCaptureLander

    environ = lake_of(ctx).settings.environ
    target = eventhub_target(environ, eventhub_name=hub_name)
    checkpoints = checkpoint_store(checkpoint_container, environ)
    settings = CaptureSettings(
        namespace=target.namespace_name,
        event_hub=target.eventhub_name,
        window_seconds=window_seconds,
        max_file_bytes=max_file_mb * 1024 * 1024,
        codec=codec,
    )
    store = _landing_store(ctx, to_container)
    client = eventhub_consumer(target, consumer_group, checkpoints)
    lander = EventHubsCaptureLander(store, settings, idle_grace=idle_grace)
    click.echo(
        f"consuming {target.namespace_name}/{target.eventhub_name} ({consumer_group}) into "
        f"{store.describe('')}; Ctrl-C to stop"
    )
    report = lander.run(client, duration=duration, starting_position="-1" if from_start else "@latest")
    click.echo(
        f"wrote {report.files_written:,} Capture files with {report.records_written:,} records, "
        f"{report.checkpoints:,} checkpoints"
    )
