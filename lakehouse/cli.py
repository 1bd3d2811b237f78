"""`lakehouse`: simulate or replay telemetry, land Capture files, build the lake with dbt.

Every command works on one lake: --lake, else $LAKEHOUSE_ROOT, else ./lake.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ingestion.capture_store import LocalCaptureStore
from ingestion.lander import CaptureLander, CaptureSettings, LandingReport
from ingestion.simulator import SimulatorConfig, simulate
from lakehouse.cli_options import (
    capture_options,
    capture_settings,
    default_start,
    simulator_config,
    simulator_options,
    skip_landed_option,
)
from lakehouse.durations import Duration
from lakehouse.engine.errors import EngineError
from lakehouse.metastore_lock import MetastoreBusy, lake_lock
from lakehouse.paths import PROJECT_DIR, Lake

log = logging.getLogger("lakehouse")


def _lake(ctx: click.Context) -> Lake:
    return ctx.obj["lake"]


def _say_landing(report: LandingReport, seconds: float) -> None:
    click.echo(
        f"landed {report.records_written:,} records in {report.files_written:,} Capture files "
        f"({report.empty_files_written:,} empty, {report.bytes_written / 1e6:.1f} MB) in {seconds:.1f} s"
        + (f"; {report.events_already_landed:,} events were already landed and skipped" if report.events_already_landed else "")
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--lake", type=click.Path(file_okay=False, path_type=Path), envvar="LAKEHOUSE_ROOT",
              help="Lake root folder (default: ./lake in the repository).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def cli(ctx: click.Context, lake: Path | None, verbose: bool) -> None:
    """Telemetry lakehouse: Event Hubs Capture files -> bronze -> silver -> gold, with dbt on Spark.

    \b
    Start here:
      lakehouse demo                      simulate an hour, land it, dbt build, report
      lakehouse simulate --devices 500    land simulated telemetry into the lake
      lakehouse replay-csv readings.csv   land a CSV's rows as telemetry events
      lakehouse dbt build                 run any dbt command on the lake
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"lake": Lake.from_env(lake)}


@cli.command("simulate")
@simulator_options
@capture_options
@click.pass_context
def simulate_command(ctx: click.Context, **kw: Any) -> None:
    """Simulate the device fleet and land the events as Capture files in the lake.

    \b
    Examples:
      lakehouse simulate --devices 500 --duration 1h
      lakehouse simulate --devices 50 --start 2026-11-22T06:00 --duration 3h --no-faults
    """
    config = simulator_config(kw)
    land_simulation(_lake(ctx), config, capture_settings(kw))


def land_simulation(lake: Lake, config: SimulatorConfig, settings: CaptureSettings) -> LandingReport:
    t0 = time.monotonic()
    sim = simulate(config)
    click.echo(f"simulated {sim.readings:,} readings from {config.devices:,} devices, {config.start:%Y-%m-%d %H:%M} "
               f"to {config.end:%H:%M} UTC: {sim.sends:,} sends, faults {dict(sorted(sim.faults.items()))} "
               f"({time.monotonic() - t0:.1f} s)")
    t1 = time.monotonic()
    report = CaptureLander(LocalCaptureStore(lake.capture), settings).land(
        sim.events, start=config.start, end=config.end, progress=True)
    _say_landing(report, time.monotonic() - t1)
    return report


@cli.command("replay-csv")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--timestamp-column", default="ts", show_default=True, help="Column with the event time (ISO-8601).")
@click.option("--device-column", default="device_id", show_default=True, help="Column with the device id.")
@click.option("--speedup", type=float, help="Pace the replay in wall-clock time, N times faster than real.")
@skip_landed_option
@capture_options
@click.pass_context
def replay_csv_command(ctx: click.Context, csv_file: Path, timestamp_column: str, device_column: str,
                       speedup: float | None, skip_landed: bool, **capture: Any) -> None:
    """Replay a CSV's rows, in event-time order, as telemetry events landed in the lake.

    Columns map to the telemetry body by name (device_id, temperature_c, ...);
    others are kept as extra fields. Rows older than a partition's landed files are
    a backfill: landed now, after those files (rows landed before are not landed
    twice); --skip-landed skips them instead. Example: lakehouse replay-csv readings.csv --speedup 60
    """
    from ingestion.csv_replay import CsvReplayError, replay_csv

    settings = capture_settings(capture)
    t0 = time.monotonic()
    try:
        events = list(replay_csv(csv_file, timestamp_column=timestamp_column, device_column=device_column, speedup=speedup))
    except CsvReplayError as exc:
        raise click.ClickException(str(exc)) from exc
    report = CaptureLander(LocalCaptureStore(_lake(ctx).capture), settings).land(events, progress=True,
                                                                                  skip_landed=skip_landed)
    _say_landing(report, time.monotonic() - t0)


@cli.command("dbt", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def dbt_command(ctx: click.Context, dbt_args: tuple[str, ...]) -> None:
    """Run a dbt command (build, test, docs generate, ...) on the lake, in this process.

    `dbt build` first loads the Capture files not loaded yet into bronze, and checks
    only this run's rows (add --vars '{full_check: true}' to check whole tables).

    Example: lakehouse dbt build --select silver_telemetry+
    """
    from lakehouse.bronze_load import ensure_bronze_table
    from lakehouse.dbt_runner import DbtFailed, run_dbt
    from lakehouse.lake_build import build_lake
    from lakehouse.spark_session import spark_session

    lake = _lake(ctx)
    args = list(dbt_args) or ["build"]
    if args[:2] == ["docs", "serve"]:  # serves target/ only: no Spark, no lock held while it serves
        try:
            run_dbt(args, lake)
        except DbtFailed as exc:
            raise click.ClickException(str(exc)) from exc
        return
    with lake_lock(lake):
        try:
            if args[0] == "build":
                click.echo(build_lake(lake, args).bronze.line())
            else:
                ensure_bronze_table(spark_session(), lake)
                run_dbt(args, lake)
        except DbtFailed as exc:
            raise click.ClickException(str(exc)) from exc


@cli.command("load-bronze")
@click.option("--replay-from", type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
              help="Re-read the Capture files whose window ends at or after this time (UTC), with --replay-to.")
@click.option("--replay-to", type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
              help="End (exclusive) of the replayed range, UTC.")
@click.option("--event-hub", help="Replay only this event hub's files.")
@click.option("--full-sweep", is_flag=True,
              help="List the whole Capture tree, not only its recent hour folders (done every 6 h anyway).")
@click.option("--source", "source_format", type=click.Choice(["binaryFile", "cloudFiles"]), default="binaryFile",
              envvar="LAKEHOUSE_BRONZE_SOURCE", show_default=True,
              help="The stream's file source: Spark's own, or Auto Loader on Databricks.")
@click.pass_context
def load_bronze_command(ctx: click.Context, replay_from: datetime | None, replay_to: datetime | None,
                        event_hub: str | None, full_sweep: bool, source_format: str) -> None:
    """Load the Capture files not loaded yet into bronze (what `dbt build` does first).

    With --replay-from/--replay-to, re-read a time range of Capture files (by the
    window end in their path), for example after a fix: records bronze already
    holds are skipped, the others are added. A load lists only the hour folders from
    2 h before the newest it listed last time; --full-sweep lists the whole tree, to
    find at once a file landed late in an older folder. Bad files are set aside in
    <lake>/_bad_capture_files/ with a reason.

    \b
    Examples:
      lakehouse load-bronze
      lakehouse load-bronze --full-sweep
      lakehouse load-bronze --replay-from 2026-11-21T00:00 --replay-to 2026-11-21T06:00
    """
    from lakehouse.bronze_load import BronzeLoader
    from lakehouse.spark_session import spark_session

    if (replay_from is None) != (replay_to is None):
        raise click.UsageError("give both --replay-from and --replay-to, or neither")
    lake = _lake(ctx)
    with lake_lock(lake):
        loader = BronzeLoader(spark_session(), lake)
        if replay_from and replay_to:
            report = loader.replay(replay_from.replace(tzinfo=UTC), replay_to.replace(tzinfo=UTC), event_hub=event_hub)
        else:
            report = loader.load_new_files(full_sweep=full_sweep, source_format=source_format)
    click.echo(report.line())
    for bad in report.bad_files:
        click.echo(f"  set aside: {bad.path}: {bad.problem}")


@cli.command("run")
@click.option("--every", type=Duration(), default="5m", show_default=True, help="Cycle period.")
@click.option("--source", type=click.Choice(["simulate", "csv", "none"]), default="simulate", show_default=True,
              help="What each cycle lands first (none: Capture lands elsewhere, e.g. on Azure).")
@click.option("--devices", default=10_000, show_default=True, help="With --source simulate: fleet size.")
@click.option("--start", type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
              help="With --source simulate: where an empty lake starts (UTC; default now).")
@click.option("--catch-up", is_flag=True,
              help="With --source simulate: land one period per cycle and start the next at once (replay days fast).")
@click.option("--csv", "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --source csv: the CSV to replay.")
@click.option("--cycles", type=click.IntRange(min=1), help="Stop after this many cycles (default: run until SIGTERM).")
@click.option("--compact-every", default=12, show_default=True, type=click.IntRange(min=1),
              help="Compact (Delta OPTIMIZE) every N cycles.")
@click.pass_context
def run_command(ctx: click.Context, every: timedelta, source: str, devices: int, start: datetime | None,
                catch_up: bool, csv_file: Path | None, cycles: int | None, compact_every: int) -> None:
    """Run the lake continuously: each cycle lands, builds, syncs, compacts, logs.

    One Spark session stays warm. Each cycle appends a row to the run log
    (ops.run_log: records in, rows per layer, quarantined, seconds per step, files
    per table, freshness lag); with APPLICATIONINSIGHTS_CONNECTION_STRING set the
    same figures go to Azure Monitor. SIGTERM stops it between steps.

    \b
    Examples:
      lakehouse run --every 5m --devices 10000
      lakehouse run --source none --every 5m          # Capture lands on its own
      lakehouse run --catch-up --start 2026-11-21 --cycles 12 --devices 500
    """
    from lakehouse.feeds import CsvFeed, SimulatedFeed
    from lakehouse.runner import Runner, RunnerSettings

    lake = _lake(ctx)
    if source == "csv" and not csv_file:
        raise click.UsageError("--source csv needs --csv FILE")
    feed = {
        "simulate": lambda: SimulatedFeed(lake, devices, every, start=start.replace(tzinfo=UTC) if start else None,
                                          realtime=not catch_up),
        "csv": lambda: CsvFeed(lake, csv_file) if csv_file else None,
        "none": lambda: None,
    }[source]()
    settings = RunnerSettings(every=every, compact_every_cycles=compact_every, max_cycles=cycles, wait=not catch_up)
    with lake_lock(lake):
        records = Runner(lake, settings, land=feed, sync=_cosmos_sync_step(lake)).run()
    click.echo(f"{len(records)} cycles; the run log is ops.run_log ({lake.table('ops', 'run_log')})")


def _cosmos_sync_step(lake: Lake) -> Any:
    """The Cosmos DB sync as a runner step, when COSMOS_ENDPOINT is set."""
    import os

    if not os.environ.get("COSMOS_ENDPOINT"):
        return None
    from serving.cosmos_sync import sync_gold_to_cosmos

    return lambda: sync_gold_to_cosmos(lake)


@cli.command("demo")
@click.option("--devices", default=50, show_default=True, help="Fleet size.")
@click.option("--duration", type=Duration(), default="1h", show_default=True, help="Simulated period.")
@click.option("--seed", default=7, show_default=True)
@click.option("--docs/--no-docs", default=True, show_default=True, help="Generate the dbt docs site (lineage) after the build.")
@click.pass_context
def demo_command(ctx: click.Context, devices: int, duration: timedelta, seed: int, docs: bool) -> None:
    """The main job end to end: simulate (faults on), land, dbt build, docs, report.

    Run it again later and it lands the newer telemetry only and builds incrementally.
    """
    from lakehouse.dbt_runner import DbtFailed, run_dbt
    from lakehouse.lake_build import build_lake
    from lakehouse.lake_report import reconciliation, table_states
    from lakehouse.spark_session import spark_session

    lake = _lake(ctx)
    timings: dict[str, float] = {}
    with lake_lock(lake):
        t0 = time.monotonic()
        config = SimulatorConfig(start=default_start(duration), duration=duration, devices=devices, seed=seed)
        report = land_simulation(lake, config, CaptureSettings(write_empty_files=True))
        timings["simulate + land"] = time.monotonic() - t0
        try:
            built = build_lake(lake)
            timings.update(built.seconds)
            if docs:
                t1 = time.monotonic()
                run_dbt(["docs", "generate"], lake)
                timings["dbt docs generate"] = time.monotonic() - t1
        except DbtFailed as exc:
            raise click.ClickException(str(exc)) from exc
        states = table_states(lake)
        counts = reconciliation(spark_session())
    serving_notes = _serve_gold(lake)
    click.echo("")
    click.echo(f"lake: {lake.root}")
    click.echo(f"capture files landed this run: {report.files_written:,} ({report.records_written:,} records)")
    for state in states:
        click.echo(f"  {state.layer:<7} {state.model:<32} {state.rows:>10,} rows  (Delta version {state.version})")
    click.echo(
        f"reconciliation: bronze {counts['bronze']:,} = silver {counts['silver']:,} + quarantine "
        f"{counts['quarantine']:,} + duplicates {counts['duplicates']:,}"
        + ("" if counts["bronze"] == counts["silver"] + counts["quarantine"] + counts["duplicates"] else "  MISMATCH")
    )
    if docs:
        click.echo("docs site: target/index.html (serve it with: bin/lakehouse dbt docs serve)")
    for note in serving_notes:
        click.echo(note)
    click.echo("timings: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()))


def _serve_gold(lake: Lake) -> list[str]:
    """Write the Synapse view SQL (from the manifest the build wrote) and, when
    COSMOS_ENDPOINT is set, sync gold to Cosmos DB. Returns lines to print."""
    from serving.cosmos_connection import CosmosNotConfigured
    from serving.cosmos_sync import CosmosSyncFailed, sync_gold_to_cosmos
    from serving.synapse_views import write_synapse_views

    files = write_synapse_views(PROJECT_DIR / "target" / "manifest.json", PROJECT_DIR / "target" / "synapse")
    notes = [f"synapse serverless views: {len(files)} SQL files in target/synapse/ "
             "(publish with: bin/lakehouse serve synapse-views --publish)"]
    try:
        notes.extend(sync_gold_to_cosmos(lake).lines())
    except CosmosNotConfigured:
        notes.append("cosmos db: not configured, skipped. Set COSMOS_ENDPOINT (and COSMOS_KEY, or use "
                     "DefaultAzureCredential) to sync gold. Locally, the Cosmos DB emulator works, or the "
                     "SQL-API test server in tests/python/serving/cosmos_test_server.py (COSMOS_CA_CERT for its cert).")
    except CosmosSyncFailed as exc:
        raise click.ClickException(f"cosmos db sync failed: {exc}") from exc
    return notes


@cli.group("engine")
def engine_group() -> None:
    """The local cluster engine: the SQL endpoint the `cluster` dbt target uses.

    A Hive metastore in PostgreSQL (many clients share one catalog), a Spark
    standalone master with two workers and the Spark Thrift Server (HiveServer2)
    with Delta Lake and spark-avro, all on 127.0.0.1; data and logs under
    <lake>/_engine/. Then:

    \b
      DBT_TARGET=cluster lakehouse dbt build     the whole project on the cluster
      (beeline is in the PySpark wheel: .venv/lib/python3.11/site-packages/pyspark/bin/)
      beeline -u jdbc:hive2://127.0.0.1:10000 -e 'select * from gold.gold_site_metrics_1h'
    """


@engine_group.command("start")
@click.pass_context
def engine_start_command(ctx: click.Context) -> None:
    """Start the metastore database, the master, two workers and the Thrift server."""
    from lakehouse.engine import Engine, EngineAlreadyRunning, EngineError

    engine = Engine(_lake(ctx))
    t0 = time.monotonic()
    try:
        states = engine.start()
    except EngineAlreadyRunning as exc:
        click.echo(str(exc))
        return
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"engine started in {time.monotonic() - t0:.1f} s:")
    for state in states:
        click.echo(f"  {state.line()}")


@engine_group.command("stop")
@click.pass_context
def engine_stop_command(ctx: click.Context) -> None:
    """Stop every piece of the engine (its executors too)."""
    from lakehouse.engine import Engine

    stopped = Engine(_lake(ctx)).stop()
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "the engine was not running")


@engine_group.command("status")
@click.pass_context
def engine_status_command(ctx: click.Context) -> None:
    """Say which pieces run, where, and where their logs are (exit code 1 unless all run)."""
    from lakehouse.engine import Engine

    states = Engine(_lake(ctx)).status()
    for state in states:
        click.echo(state.line())
    ctx.exit(0 if all(s.running for s in states) else 1)


def _register_groups() -> None:
    from ingestion.azure_cli import azure
    from serving.cli import serve

    cli.add_command(azure)
    cli.add_command(serve)


_register_groups()


def main() -> None:
    try:
        cli(prog_name="lakehouse")
    except MetastoreBusy as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(3)
    except EngineError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
