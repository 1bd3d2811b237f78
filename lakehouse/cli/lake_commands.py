"""`lakehouse simulate | replay-csv | dbt | load-bronze | run | demo`: land telemetry and build the lake."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from lakehouse.cli import params
from lakehouse.cli.console import bronze_lines, build_lines, served_lines
from lakehouse.cli.option_types import UTC_TIME, Duration
from lakehouse.cli.params import capture_options, lake_of, simulator_options
from lakehouse.ingestion.capture.lake_store import capture_store
from lakehouse.ingestion.capture.lander import (
    CaptureLander,
    CaptureSettings,
    LandingReport,
)
from lakehouse.ingestion.landing import land_simulation
from lakehouse.ingestion.sources.simulator import SimulatorConfig
from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.spark.metastore_lock import lake_lock


def _say_landing(report: LandingReport, seconds: float) -> None:
    click.echo(
        f"landed {report.records_written:,} records in {report.files_written:,} Capture files "
        f"({report.empty_files_written:,} empty, {report.bytes_written / 1e6:.1f} MB) in {seconds:.1f} s"
        + (
            f"; {report.events_already_landed:,} events were already landed and skipped"
            if report.events_already_landed
            else ""
        )
    )


@click.command("simulate")
@simulator_options
@capture_options
@click.pass_context
def simulate_command(ctx: click.Context, simulator: SimulatorConfig, capture: CaptureSettings) -> None:
    """Simulate the device fleet and land the events as Capture files in the lake.

    \b
    Examples:
      lakehouse simulate --devices 500 --duration 1h
      lakehouse simulate --devices 50 --start 2026-11-22T06:00 --duration 3h --no-faults
    """
    _land_simulation(lake_of(ctx), simulator, capture)


def ready(lake: Lake) -> Lake:
    """The lake, its folder or container created when missing (`lakehouse --lake
    wasb://lake@devstoreaccount1/ demo` on a fresh Azurite makes the container)."""
    lake.files.ensure()
    return lake


def _land_simulation(lake: Lake, config: SimulatorConfig, settings: CaptureSettings) -> LandingReport:
    t0 = time.monotonic()
    landed = land_simulation(capture_store(ready(lake)), config, settings, progress=True)
    sim = landed.simulation
    click.echo(
        f"simulated {sim.readings:,} readings from {config.devices:,} devices, {config.start:%Y-%m-%d %H:%M} "
        f"to {config.end:%H:%M} UTC: {sim.sends:,} sends, faults {dict(sorted(sim.faults.items()))}"
    )
    _say_landing(landed.report, time.monotonic() - t0)
    return landed.report


@click.command("replay-csv")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@params.timestamp_column
@params.device_column
@click.option("--speedup", type=float, help="Pace the replay in wall-clock time, N times faster than real.")
@params.skip_landed
@capture_options
@click.pass_context
def replay_csv_command(
    ctx: click.Context,
    csv_file: Path,
    timestamp_column: str,
    device_column: str,
    speedup: float | None,
    skip_landed: bool,
    capture: CaptureSettings,
) -> None:
    """Replay a CSV's rows, in event-time order, as telemetry events landed in the lake.

    Columns map to the telemetry body by name (device_id, temperature_c, ...);
    others are kept as extra fields. Rows older than a partition's landed files are
    a backfill: landed now, after those files (rows landed before are not landed
    twice); --skip-landed skips them instead. Example: lakehouse replay-csv readings.csv --speedup 60
    """
    from lakehouse.ingestion.sources.csv_replay import replay_csv

    t0 = time.monotonic()
    events = list(replay_csv(csv_file, timestamp_column=timestamp_column, device_column=device_column, speedup=speedup))
    report = CaptureLander(capture_store(ready(lake_of(ctx))), capture).land(
        events, progress=True, skip_landed=skip_landed
    )
    _say_landing(report, time.monotonic() - t0)


@click.command("dbt", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def dbt_command(ctx: click.Context, dbt_args: tuple[str, ...]) -> None:
    """Run a dbt command (build, test, docs generate, ...) on the lake, in this process.

    `dbt build` first loads the Capture files not loaded yet into bronze (with
    --select, only when a selected node reads bronze: a gold model rebuilt after an
    edit loads nothing), and checks only this run's rows (add --vars '{full_check:
    true}' to check whole tables; its bronze load then compares the whole Capture
    tree with bronze's file manifest). To rebuild a model on every save, with Spark
    kept warm: lakehouse dev -s MODEL.

    Example: lakehouse dbt build --select silver_telemetry+
    """
    from dbt.cli.main import cli as dbt_cli

    from lakehouse.pipeline.bronze_load import ensure_bronze_table
    from lakehouse.pipeline.dbt_runner import run_dbt
    from lakehouse.pipeline.lake_build import build_lake
    from lakehouse.spark.session import spark_session

    args = list(dbt_args) or ["build"]
    if not args[0].startswith("-") and args[0] not in dbt_cli.commands:
        raise click.BadParameter(
            f"{args[0]!r} is not a dbt command; dbt has: {', '.join(sorted(dbt_cli.commands))}", param_hint="DBT_ARGS"
        )
    lake = lake_of(ctx)
    if args[:2] == ["docs", "serve"]:  # serves target/ only: no Spark, no lock held while it serves
        run_dbt(args, lake)
        return
    with lake_lock(ready(lake)):
        if args[0] == "build":
            for line in build_lines(build_lake(lake, args), lake):
                click.echo(line)
        else:
            ensure_bronze_table(spark_session(lake), lake)
            run_dbt(args, lake)


@click.command("load-bronze")
@click.option(
    "--replay-from",
    type=UTC_TIME,
    help="Re-read the Capture files whose window ends at or after this time (UTC), with --replay-to.",
)
@click.option("--replay-to", type=UTC_TIME, help="End (exclusive) of the replayed range, UTC.")
@click.option("--event-hub", help="Replay only this event hub's files.")
@click.option(
    "--full-sweep",
    is_flag=True,
    help="Compare the whole Capture tree with bronze, not only its recent hour folders (done every 6 h anyway).",
)
@click.option(
    "--source",
    "source_format",
    type=click.Choice(["binaryFile", "cloudFiles"]),
    default="binaryFile",
    envvar="LAKEHOUSE_BRONZE_SOURCE",
    show_default=True,
    help="binaryFile: the listing compared with bronze's file manifest; cloudFiles: Auto Loader first (Databricks).",
)
@click.pass_context
def load_bronze_command(
    ctx: click.Context,
    replay_from: datetime | None,
    replay_to: datetime | None,
    event_hub: str | None,
    full_sweep: bool,
    source_format: str,
) -> None:
    """Load the Capture files not loaded yet into bronze (what `dbt build` does first).

    With --replay-from/--replay-to, re-read a time range of Capture files (by the
    window end in their path), for example after a fix: records bronze already
    holds are skipped, the others are added. A load lists only the hour folders from
    2 h before the newest it listed last time and loads every file there that bronze's
    file manifest lacks (by path and size, whatever its modification time);
    --full-sweep does so for the whole tree, to find at once a file landed late in an
    older folder or put back repaired, and lists the files still set aside. Bad files
    are set aside in <lake>/_bad_capture_files/ with a reason.

    \b
    Examples:
      lakehouse load-bronze
      lakehouse load-bronze --full-sweep
      lakehouse load-bronze --replay-from 2026-11-21T00:00 --replay-to 2026-11-21T06:00
    """
    from lakehouse.pipeline.bronze_load import BronzeLoader
    from lakehouse.spark.session import spark_session

    if (replay_from is None) != (replay_to is None):
        raise click.UsageError("give both --replay-from and --replay-to, or neither")
    lake = ready(lake_of(ctx))
    with lake_lock(lake):
        loader = BronzeLoader(spark_session(lake), lake)
        if replay_from and replay_to:
            report = loader.replay(replay_from.replace(tzinfo=UTC), replay_to.replace(tzinfo=UTC), event_hub=event_hub)
        else:
            report = loader.load_new_files(full_sweep=full_sweep, source_format=source_format)
    for line in bronze_lines(report, lake):
        click.echo(line)


@click.command("run")
@click.option("--every", type=Duration(), default="5m", show_default=True, help="Cycle period.")
@click.option(
    "--source",
    type=click.Choice(["simulate", "csv", "none"]),
    default="simulate",
    show_default=True,
    help="What each cycle lands first (none: Capture lands elsewhere, e.g. on Azure).",
)
@params.devices
@click.option("--start", type=UTC_TIME, help="With --source simulate: where an empty lake starts (UTC; default now).")
@click.option(
    "--catch-up",
    is_flag=True,
    help="With --source simulate: land one period per cycle and start the next at once (replay days fast).",
)
@params.csv_file
@click.option("--cycles", type=click.IntRange(min=1), help="Stop after this many cycles (default: run until SIGTERM).")
@click.option(
    "--compact-every",
    default=12,
    show_default=True,
    type=click.IntRange(min=1),
    help="Compact (Delta OPTIMIZE) every N cycles.",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    every: timedelta,
    source: str,
    devices: int,
    start: datetime | None,
    catch_up: bool,
    csv_file: Path | None,
    cycles: int | None,
    compact_every: int,
) -> None:
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
    from lakehouse.operations.feeds import CsvFeed, SimulatedFeed
    from lakehouse.operations.runner import Runner, RunnerSettings
    from lakehouse.serving.cosmos.sync import cosmos_sync_step

    lake = ready(lake_of(ctx))
    if source == "csv" and not csv_file:
        raise click.UsageError("--source csv needs --csv FILE")
    feed = {
        "simulate": lambda: SimulatedFeed(
            lake, devices, every, start=start.replace(tzinfo=UTC) if start else None, realtime=not catch_up
        ),
        "csv": lambda: CsvFeed(lake, csv_file) if csv_file else None,
        "none": lambda: None,
    }[source]()
    settings = RunnerSettings(every=every, compact_every_cycles=compact_every, max_cycles=cycles, wait=not catch_up)
    with lake_lock(lake):
        records = Runner(lake, settings, land=feed, sync=cosmos_sync_step(lake)).run()
    click.echo(f"{len(records)} cycles; the run log is ops.run_log ({lake.table('ops', 'run_log')})")


@click.command("demo")
@click.option("--devices", default=50, show_default=True, help="Fleet size.")
@click.option("--duration", type=Duration(), default="1h", show_default=True, help="Simulated period.")
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--docs/--no-docs", default=True, show_default=True, help="Generate the dbt docs site (lineage) after the build."
)
@click.pass_context
def demo_command(ctx: click.Context, devices: int, duration: timedelta, seed: int, docs: bool) -> None:
    """The main job end to end: simulate (faults on), land, dbt build, docs, report.

    Run it again later and it lands the newer telemetry only and builds incrementally.
    """
    from lakehouse.pipeline.dbt_runner import run_dbt
    from lakehouse.pipeline.lake_build import build_lake
    from lakehouse.pipeline.lake_report import reconciliation, table_states
    from lakehouse.serving.cosmos.sync import CosmosSyncFailed
    from lakehouse.serving.gold import serve_gold
    from lakehouse.spark.session import spark_session

    lake = ready(lake_of(ctx))
    timings: dict[str, float] = {}
    with lake_lock(lake):
        t0 = time.monotonic()
        config = SimulatorConfig(start=params.default_start(duration), duration=duration, devices=devices, seed=seed)
        report = _land_simulation(lake, config, CaptureSettings(write_empty_files=True))
        timings["simulate + land"] = time.monotonic() - t0
        built = build_lake(lake)
        timings.update(built.seconds)
        if docs:
            t1 = time.monotonic()
            run_dbt(["docs", "generate"], lake)
            timings["dbt docs generate"] = time.monotonic() - t1
        states = table_states(lake)
        counts = reconciliation(spark_session(lake))
    try:
        served = serve_gold(lake, PROJECT_DIR / "target")
    except CosmosSyncFailed as exc:  # the demo says which step failed
        raise click.ClickException(f"cosmos db sync failed: {exc}") from exc
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
    for line in served_lines(served, PROJECT_DIR / "target"):
        click.echo(line)
    click.echo("timings: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()))
