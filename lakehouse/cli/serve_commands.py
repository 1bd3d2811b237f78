"""`lakehouse serve ...`: sync gold to Cosmos DB, generate/publish Synapse serverless views."""

from __future__ import annotations

from pathlib import Path

import click

from lakehouse.cli.console import sync_lines
from lakehouse.cli.option_types import StringLength
from lakehouse.cli.params import lake_of


@click.group("serve")
def serve() -> None:
    """Expose gold to applications (Cosmos DB) and data scientists (Synapse serverless SQL).

    \b
      lakehouse serve cosmos-sync                 gold changes -> Cosmos DB containers
      lakehouse serve synapse-views               views SQL -> target/synapse/ for review
      lakehouse serve synapse-views --publish     ... and run it on Synapse
    """


@serve.command("cosmos-sync")
@click.option(
    "--concurrency", default=16, show_default=True, type=click.IntRange(1, 256), help="Parallel Cosmos requests."
)
@click.option("--full", is_flag=True, help="Reload every container from its table's snapshot (and drop stale items).")
@click.option(
    "--lock-timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for another cosmos-sync of the same lake to finish before failing.",
)
@click.pass_context
def cosmos_sync_command(ctx: click.Context, concurrency: int, full: bool, lock_timeout: float) -> None:
    """Upsert gold changes (Delta change feed since the last sync) into Cosmos DB.

    Configured by COSMOS_ENDPOINT, COSMOS_KEY (else DefaultAzureCredential),
    COSMOS_DATABASE (default telemetry). Progress is kept in
    <lake>/_serving/cosmos_state.json; the first sync loads the snapshot. Items
    Cosmos DB refuses (e.g. an id with / \\ ? #) are set aside with the reason in
    <lake>/_serving/cosmos_dead_letters.jsonl and the sync goes on.
    """
    from lakehouse.serving.cosmos.sync import CosmosSyncFailed, sync_gold_to_cosmos

    try:
        report = sync_gold_to_cosmos(lake_of(ctx), concurrency=concurrency, full=full, lock_timeout_s=lock_timeout)
    except CosmosSyncFailed as exc:  # what was synced before the failure, then the error (main.ERRORS)
        if exc.report.containers:
            for line in sync_lines(exc.report):
                click.echo(line)
        raise
    for line in sync_lines(report):
        click.echo(line)


@serve.command("synapse-views")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="dbt manifest.json (default: target/manifest.json; run `lakehouse dbt parse` first).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the SQL files (default: target/synapse).",
)
@click.option(
    "--data-source-location",
    envvar="SYNAPSE_DATA_SOURCE_LOCATION",
    help="The data source LOCATION itself: https://<account>.dfs.core.windows.net/<container>/<path> "
    "[SYNAPSE_DATA_SOURCE_LOCATION]. Default: the URL of --lake-url, else of the lake when it is on Azure storage.",
)
@click.option(
    "--lake-url",
    envvar="SYNAPSE_LAKE_URL",
    help="The production lake's URL (abfss://<container>@<account>.dfs.core.windows.net/<path>), for a local "
    "lake: the data source reads it [SYNAPSE_LAKE_URL].",
)
@click.option("--data-source-name", envvar="SYNAPSE_DATA_SOURCE_NAME", default="lakehouse", show_default=True)
@click.option(
    "--credential",
    envvar="SYNAPSE_DATA_SOURCE_CREDENTIAL",
    help="Database scoped credential for the data source (default: none, the caller's identity).",
)
@click.option(
    "--string-length",
    type=StringLength(),
    default="8000",
    show_default=True,
    help="varchar length of string columns (1..8000), or 'max'.",
)
@click.option("--publish", is_flag=True, help="Also run the SQL on Synapse (pyodbc or the dbt target `synapse`).")
@click.pass_context
def synapse_views_command(
    ctx: click.Context,
    manifest: Path | None,
    out: Path | None,
    data_source_location: str | None,
    lake_url: str | None,
    data_source_name: str,
    credential: str | None,
    string_length: int | str,
    publish: bool,
) -> None:
    """Generate Synapse serverless views over the silver and gold Delta folders from the dbt contracts."""
    from lakehouse.serving.synapse.publish import publish as publish_scripts
    from lakehouse.serving.synapse.views import (
        DEFAULT_MANIFEST,
        DEFAULT_OUT_DIR,
        SynapseSettings,
        generate_scripts,
        write_scripts,
    )
    from lakehouse.serving.synapse.views import data_source_location as location_of
    from lakehouse.tables import load_manifest, served_models

    lake = lake_of(ctx)
    try:
        settings = SynapseSettings(
            data_source_location=location_of(lake, lake_url=lake_url, explicit=data_source_location),
            data_source_name=data_source_name,
            credential=credential,
            string_length=string_length,
            lake=lake,
        )
        models = served_models(load_manifest(manifest or DEFAULT_MANIFEST))
        scripts = generate_scripts(models, settings)
    except ValueError as exc:  # the options, the lake or a contract cannot be served (the errors here all are)
        raise click.ClickException(str(exc)) from exc
    paths = write_scripts(scripts, out or DEFAULT_OUT_DIR)
    click.echo(
        f"{len(models)} views ({', '.join(f'{m.schema}.{m.name}' for m in models)}) in {len(paths)} files "
        f"under {paths[0].parent}"
    )
    if publish:
        how = publish_scripts(scripts, settings, lake)
        click.echo(f"published through {how}")
