"""The `lakehouse` group: the lake every command works on, the console's verbosity,
every command group, and the exit codes of the errors below the CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from lakehouse.cli import lake_commands
from lakehouse.cli.azure_commands import azure
from lakehouse.cli.azurite_commands import azurite
from lakehouse.cli.console import configure_console
from lakehouse.cli.dev_commands import dev_command
from lakehouse.cli.engine_commands import engine
from lakehouse.cli.serve_commands import serve
from lakehouse.engine.errors import EngineError
from lakehouse.paths import Lake
from lakehouse.spark.metastore_lock import MetastoreBusy
from lakehouse.spark.session import LakeMismatch
from lakehouse.storage.credentials import StorageCredentials
from lakehouse.storage.files import LockBusy, StorageError
from lakehouse.storage.location import LakeLocationError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--lake",
    metavar="FOLDER|URL",
    envvar="LAKEHOUSE_ROOT",
    help="Lake root: a folder, or abfss://<container>@<account>.dfs.core.windows.net/<path>, "
    "wasb[s]://<container>@<account>.blob.core.windows.net/<path>, wasb://<container>@devstoreaccount1/<path> "
    "(Azurite: `lakehouse azurite start`). Default: $LAKEHOUSE_ROOT, else ./lake in the repository. "
    "Credentials: AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, a service principal (AZURE_CLIENT_ID, "
    "AZURE_TENANT_ID, AZURE_CLIENT_SECRET), else the machine's identity.",
)
@click.option(
    "--local-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LAKEHOUSE_LOCAL_DIR",
    help="This machine's side of a lake on Azure storage: its metastore, warehouse, logs, engine files and "
    "local quarantine (default: <repository>/.lakes/<scheme>-<account>-<container>-<path>; "
    "a local lake keeps them in its own folder).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging, with Spark's, py4j's and the Azure SDKs' own.")
@click.pass_context
def cli(ctx: click.Context, lake: str | None, local_dir: Path | None, verbose: bool) -> None:
    """Telemetry lakehouse: Event Hubs Capture files -> bronze -> silver -> gold, with dbt on Spark.

    \b
    Start here:
      lakehouse demo                      simulate an hour, land it, dbt build, report
      lakehouse simulate --devices 500    land simulated telemetry into the lake
      lakehouse replay-csv readings.csv   land a CSV's rows as telemetry events
      lakehouse dbt build                 run any dbt command on the lake
      lakehouse dev -s MODEL              rebuild a model and its tests on each save (warm Spark)
    """
    configure_console(verbose=verbose)
    ctx.obj = {"lake": resolve_lake(lake, local_dir)}


def resolve_lake(root: str | None, local_dir: Path | None) -> Lake:
    """The lake the command line names, with the storage credentials of this process's
    environment (read here, once; nothing below the CLI reads them). A local lake's
    local side is its own folder (`local_dir` applies to a remote lake only)."""
    try:
        return Lake.at(root or None, local=local_dir, credentials=StorageCredentials.from_env(os.environ))
    except LakeLocationError as exc:
        raise click.BadParameter(str(exc), param_hint="'--lake' / $LAKEHOUSE_ROOT") from exc


for command in (
    lake_commands.simulate_command,
    lake_commands.replay_csv_command,
    lake_commands.dbt_command,
    lake_commands.load_bronze_command,
    lake_commands.run_command,
    lake_commands.demo_command,
    dev_command,
    engine,
    azure,
    azurite,
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
    except (EngineError, StorageError, LockBusy) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
