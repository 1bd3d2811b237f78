"""The `lakehouse` group: the lake every command works on (with the settings of this
process's environment, read here once), the console's verbosity, every command group,
and the exit codes of the errors below the CLI (`ERRORS`, the one place they are mapped)."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lakehouse.cli import lake_commands
from lakehouse.cli.azure_commands import azure
from lakehouse.cli.azurite_commands import azurite
from lakehouse.cli.console import configure_console
from lakehouse.cli.dev_commands import dev_command
from lakehouse.cli.engine_commands import engine
from lakehouse.cli.serve_commands import serve
from lakehouse.paths import Lake
from lakehouse.settings import Settings
from lakehouse.storage.credentials import StorageCredentials
from lakehouse.storage.location import LakeLocationError

# The errors of the layers below that end a command with a message, not a traceback: the
# first entry whose class the error is an instance of gives the exit code. Classes by
# name, looked up among the modules imported so far (a module not imported raised
# nothing), so that naming them costs the CLI's start no import.
ERRORS: tuple[tuple[str, int], ...] = (
    ("lakehouse.spark.metastore_lock:MetastoreBusy", 3),  # another process holds the embedded metastore
    ("lakehouse.spark.session:LakeMismatch", 2),  # this process's session belongs to another lake
    ("lakehouse.engine.errors:EngineError", 1),
    ("lakehouse.storage.files:StorageError", 1),
    ("lakehouse.storage.files:LockBusy", 1),
    ("lakehouse.storage.azurite:AzuriteError", 1),
    ("lakehouse.pipeline.dbt_runner:DbtFailed", 1),
    ("lakehouse.tables:ManifestError", 1),
    ("lakehouse.ingestion.sources.csv_replay:CsvReplayError", 1),
    ("lakehouse.ingestion.azure.auth:AzureConfigError", 1),
    ("lakehouse.ingestion.azure.blob_store:BlobStoreError", 1),
    ("lakehouse.ingestion.capture.store:LockTimeout", 1),
    ("lakehouse.ingestion.capture.store:CaptureConflictError", 1),
    ("lakehouse.ingestion.landing:PollFailed", 1),
    ("lakehouse.serving.cosmos.connection:CosmosNotConfigured", 1),
    ("lakehouse.serving.cosmos.sync:CosmosSyncFailed", 1),
    ("lakehouse.serving.synapse.publish:SynapseNotConfigured", 1),
    ("lakehouse.serving.synapse.types:UnsupportedType", 1),
    ("lakehouse.serving.synapse.types:UnsafeIdentifier", 1),
)


def exit_code_of(error: BaseException) -> int | None:
    """The exit code `ERRORS` gives `error`, None when it is not one of them (a bug: a traceback)."""
    for name, code in ERRORS:
        module, _, cls = name.partition(":")
        kind = getattr(sys.modules.get(module), cls, None)
        if isinstance(kind, type) and isinstance(error, kind):
            return code
    return None


class CommandFailed(click.ClickException):
    """An error of the layers below, as click shows it: `Error: <message>`, its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it from the instance


class LakehouseGroup(click.Group):
    """The root group: a command's error listed in `ERRORS` ends it with its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            code = exit_code_of(exc)
            if code is None:
                raise
            raise CommandFailed(str(exc), code) from exc


@click.group(cls=LakehouseGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    settings = Settings.from_environment(os.environ)
    ctx.obj = {"lake": resolve_lake(lake, local_dir, replace(settings, verbose=settings.verbose or verbose))}


def resolve_lake(root: str | None, local_dir: Path | None, settings: Settings) -> Lake:
    """The lake the command line names, with the storage credentials and the settings of
    this process's environment (read here, once; nothing below the CLI reads them). A
    local lake's local side is its own folder (`local_dir` applies to a remote lake only)."""
    try:
        credentials = StorageCredentials.from_env(settings.environ)
        return Lake.at(root or None, local=local_dir, credentials=credentials, settings=settings)
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
    cli(prog_name="lakehouse")


if __name__ == "__main__":
    main()
