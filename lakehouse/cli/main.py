"""The `lakehouse` group: the lake every command works on, the console's verbosity,
every command group, and the exit codes of the errors below the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lakehouse.cli import lake_commands
from lakehouse.cli.azure_commands import azure
from lakehouse.cli.console import configure_console
from lakehouse.cli.engine_commands import engine
from lakehouse.cli.serve_commands import serve
from lakehouse.engine.errors import EngineError
from lakehouse.paths import Lake
from lakehouse.spark.metastore_lock import MetastoreBusy
from lakehouse.spark.session import LakeMismatch


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--lake",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LAKEHOUSE_ROOT",
    help="Lake root folder (default: $LAKEHOUSE_ROOT, else ./lake in the repository).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging, with Spark's, py4j's and the Azure SDKs' own.")
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
    configure_console(verbose=verbose)
    ctx.obj = {"lake": Lake.at(lake)}


for command in (
    lake_commands.simulate_command,
    lake_commands.replay_csv_command,
    lake_commands.dbt_command,
    lake_commands.load_bronze_command,
    lake_commands.run_command,
    lake_commands.demo_command,
    engine,
    azure,
    serve,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli(prog_name="lakehouse")
    except MetastoreBusy as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(3)
    except LakeMismatch as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except EngineError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
