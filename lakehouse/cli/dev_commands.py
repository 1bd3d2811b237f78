"""`lakehouse dev`: one warm Spark session that rebuilds a selection each time a project file is saved."""

from __future__ import annotations

import time
from pathlib import Path

import click

from lakehouse.cli.console import build_lines
from lakehouse.cli.lake_commands import ready
from lakehouse.cli.params import lake_of
from lakehouse.paths import PROJECT_DIR
from lakehouse.spark.metastore_lock import lake_lock

# What a dbt build reads from the project: a save in any of them starts a rebuild.
WATCHED = ("models", "macros", "tests/dbt", "seeds", "snapshots", "analyses", "dbt_project.yml")


def project_files() -> dict[Path, tuple[int, int]]:
    """(modification time, size) of every file the build reads from the project."""
    state: dict[Path, tuple[int, int]] = {}
    for name in WATCHED:
        top = PROJECT_DIR / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if path.is_file():
                stat = path.stat()
                state[path] = (stat.st_mtime_ns, stat.st_size)
    return state


def changed_files(before: dict[Path, tuple[int, int]], after: dict[Path, tuple[int, int]]) -> list[str]:
    """The project files added, removed or saved between two states, relative to the project."""
    return sorted(
        str(path.relative_to(PROJECT_DIR))
        for path in before.keys() | after.keys()
        if before.get(path) != after.get(path)
    )


def wait_for_change(poll: float) -> list[str]:
    """Block until a project file changes; return the changed files once a poll sees no further change
    (an editor's save may write a file in several steps)."""
    start = project_files()
    while True:
        time.sleep(poll)
        now = project_files()
        if now != start:
            while True:
                time.sleep(poll)
                settled = project_files()
                if settled == now:
                    return changed_files(start, now)
                now = settled


@click.command("dev", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--builds",
    type=click.IntRange(min=1),
    help="Stop after this many builds (default: until Ctrl-C).",
)
@click.option("--poll", type=float, default=0.25, show_default=True, help="Seconds between looks at the project files.")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def dev_command(ctx: click.Context, builds: int | None, poll: float, dbt_args: tuple[str, ...]) -> None:
    """Rebuild a selection each time you save a model: one warm Spark session.

    Runs `dbt build DBT_ARGS` on the lake now, then again each time a file under
    models/, macros/, tests/dbt/, seeds/, snapshots/ or dbt_project.yml is saved.
    Spark starts once; dbt parses only the files that changed (partial parsing).
    Like `lakehouse dbt build`, it loads new Capture files into bronze first only
    when a selected node reads bronze. A failed build is reported and the loop
    keeps watching. The lake is held (its lock) until you stop it with Ctrl-C.

    \b
    Examples:
      lakehouse dev -s gold_site_metrics_1h --full-refresh   # an incremental model: rebuild it whole
      lakehouse dev -s silver_telemetry+
    """
    from lakehouse.pipeline.dbt_runner import DbtFailed
    from lakehouse.pipeline.lake_build import build_lake
    from lakehouse.profile import embedded_metastore
    from lakehouse.spark.session import spark_session

    args = ["build", *dbt_args]
    lake = ready(lake_of(ctx))
    done = 0
    with lake_lock(lake):
        # The local target: dbt's session too (on the engine, the Thrift server works).
        if embedded_metastore(lake.settings):
            t0 = time.monotonic()
            spark_session(lake)
            click.echo(f"spark started in {time.monotonic() - t0:.1f} s")
        while True:
            t0 = time.monotonic()
            try:
                report = build_lake(lake, args)
            except DbtFailed as exc:
                outcome = f"FAILED ({exc})"
            else:
                outcome = "ok (" + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()) + ")"
                for line in build_lines(report, lake):
                    click.echo(line)
            done += 1
            click.echo(f"build {done}: {outcome} in {time.monotonic() - t0:.1f} s")
            if builds is not None and done >= builds:
                return
            click.echo(f"watching {', '.join(WATCHED)} for saves (Ctrl-C to stop)")
            try:
                changed = wait_for_change(poll)
            except KeyboardInterrupt:
                return
            click.echo(f"changed: {', '.join(changed)}")
