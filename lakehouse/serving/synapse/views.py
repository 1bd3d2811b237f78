"""Synapse serverless SQL views over the silver and gold Delta folders, from dbt's manifest.

For each served model (lakehouse/tables.py) one view:

    CREATE OR ALTER VIEW [gold].[gold_device_metrics_5m]
    AS
    SELECT *
    FROM OPENROWSET(
        BULK 'gold/gold_device_metrics_5m/',
        DATA_SOURCE = 'lakehouse',
        FORMAT = 'DELTA'
    )
    WITH (
        [metric_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
        ...
    ) AS [rows];

typed from the model's contract (lakehouse/serving/synapse/types.py), plus the external data
source (LOCATION = the lake root on the account's DFS endpoint,
https://<account>.dfs.core.windows.net/<container>/<path>: the lake's own URL when the lake
is on Azure storage (`LakeLocation.dfs_url`), else the production lake's URL given with
--lake-url / SYNAPSE_LAKE_URL, or the location itself with --data-source-location /
SYNAPSE_DATA_SOURCE_LOCATION; optional database scoped CREDENTIAL) and the
schemas, each created only if missing. Names are validated and bracket-quoted;
every statement is parsed back (lakehouse/serving/synapse/sql_dialect.py) before it is
returned, so what is written or published is well-formed T-SQL.

Scripts are written as files separated by `GO` into target/synapse/:
00_external_data_source.sql, 01_schemas.sql, then <schema>.<model>.sql per view.
The folder's `.synapse-views.json` lists the files the generator wrote; a later
run removes those it no longer writes (a dropped model's view) and leaves every
other file of the folder alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.serving.synapse.types import quote_identifier, tsql_type
from lakehouse.storage.location import LakeLocation, LakeLocationError
from lakehouse.tables import DEFAULT_MANIFEST, ServedModel, load_manifest, served_models

DEFAULT_DATA_SOURCE = "lakehouse"
NEEDS_A_LOCATION = (
    "Synapse reads the lake from Azure storage: pass --lake-url abfss://<container>@<account>.dfs.core.windows.net/"
    "<path> (the production lake's URL; or set SYNAPSE_LAKE_URL), or --data-source-location "
    "https://<account>.dfs.core.windows.net/<container>/<path> (SYNAPSE_DATA_SOURCE_LOCATION)"
)
DEFAULT_OUT_DIR = PROJECT_DIR / "target" / "synapse"
WRITTEN_LIST = ".synapse-views.json"  # in the output folder: the files the generator wrote there
_LOCATION = re.compile(r"(https|abfss)://[A-Za-z0-9.\-]+(:[0-9]+)?(@[A-Za-z0-9.\-]+)?(/[A-Za-z0-9._~%\-/]*)?")


class LakeLocationMissing(ValueError):
    """The views need the lake's location on Azure storage, and none is known."""


def data_source_location(lake: Lake | None, *, lake_url: str | None = None, explicit: str | None = None) -> str | None:
    """The external data source's LOCATION: `explicit` (--data-source-location), else the
    https URL of `lake_url` (--lake-url: the production lake), else of the lake itself
    when it is on Azure storage; None for a local (or emulator) lake without either."""
    if explicit:
        return explicit
    if lake_url:
        location = LakeLocation.parse(lake_url)
        if location.is_local or location.is_emulator:
            raise LakeLocationError(
                f"--lake-url {lake_url}: not a lake on Azure storage (abfss://<container>@<account>"
                ".dfs.core.windows.net/<path> or wasbs://<container>@<account>.blob.core.windows.net/<path>)"
            )
        return location.dfs_url
    if lake is not None and not lake.is_local and not lake.location.is_emulator:
        return lake.location.dfs_url
    return None


def missing_location_message(lake: Lake | None) -> str:
    if lake is None:
        return f"the data source LOCATION is not known. {NEEDS_A_LOCATION}"
    where = "the storage emulator" if lake.location.is_emulator else "a local folder"
    return f"the lake {lake.root} is {where}, which Synapse cannot read. {NEEDS_A_LOCATION}"


@dataclass(frozen=True)
class SynapseSettings:
    data_source_location: str | None = None  # None: not known (a local lake and no --lake-url)
    data_source_name: str = DEFAULT_DATA_SOURCE
    credential: str | None = None
    string_length: int | str = 8000
    lake: Lake | None = None  # for the message when the location is missing

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, lake: Lake | None = None, **overrides: object) -> SynapseSettings:
        """Settings from SYNAPSE_* (SYNAPSE_DATA_SOURCE_LOCATION, SYNAPSE_LAKE_URL, ...); the
        location from the lake's URL when it is on Azure storage and neither is set."""
        values: dict[str, Any] = {
            "data_source_location": data_source_location(
                lake,
                lake_url=env.get("SYNAPSE_LAKE_URL") or None,
                explicit=env.get("SYNAPSE_DATA_SOURCE_LOCATION") or None,
            ),
            "data_source_name": env.get("SYNAPSE_DATA_SOURCE_NAME") or DEFAULT_DATA_SOURCE,
            "credential": env.get("SYNAPSE_DATA_SOURCE_CREDENTIAL") or None,
            "lake": lake,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def location_missing(self) -> bool:
        return not self.data_source_location


@dataclass(frozen=True)
class SqlScript:
    """One file of batches; each batch is sent on its own (T-SQL's `GO`)."""

    file_name: str
    batches: tuple[str, ...]

    def text(self) -> str:
        return "\nGO\n\n".join(self.batches) + "\nGO\n"


def _n_string(value: str) -> str:
    return "N'" + value.replace("'", "''") + "'"


def data_source_batch(settings: SynapseSettings) -> str:
    name = quote_identifier(settings.data_source_name, "data source name")
    location = settings.data_source_location
    if not location:
        raise LakeLocationMissing(missing_location_message(settings.lake))
    if not _LOCATION.fullmatch(location):
        raise ValueError(
            f"data source location {location!r} is not an https:// or abfss:// URL of the lake root "
            "(e.g. https://<account>.dfs.core.windows.net/<container>)"
        )
    options = [f"LOCATION = {_n_string(location)}"]
    if settings.credential:
        options.append(f"CREDENTIAL = {quote_identifier(settings.credential, 'credential name')}")
    return (
        f"IF NOT EXISTS (SELECT 1 FROM sys.external_data_sources WHERE name = {_n_string(settings.data_source_name)})\n"
        f"BEGIN\n"
        f"    CREATE EXTERNAL DATA SOURCE {name} WITH ({', '.join(options)});\n"
        f"END"
    )


def schema_batch(schema: str) -> str:
    # CREATE SCHEMA must be alone in its batch, hence dynamic SQL behind the guard.
    quoted = quote_identifier(schema, "schema name")
    return (
        f"IF SCHEMA_ID({_n_string(schema)}) IS NULL\n"
        f"BEGIN\n"
        f"    EXEC sp_executesql {_n_string(f'CREATE SCHEMA {quoted}')};\n"
        f"END"
    )


def view_batch(model: ServedModel, settings: SynapseSettings) -> str:
    where = f"model {model.name}: "
    view = f"{quote_identifier(model.schema, 'schema name')}.{quote_identifier(model.name, 'model name')}"
    quote_identifier(model.folder.split("/")[0], "layer folder")
    columns = ",\n".join(
        f"    {quote_identifier(c.name, f'column of {model.name}')} "
        + tsql_type(
            c.data_type, string_length=c.string_length or settings.string_length, where=f"{where}column {c.name}: "
        )
        for c in model.columns
    )
    data_source = settings.data_source_name.replace("'", "''")  # an identifier; validated above
    return (
        f"CREATE OR ALTER VIEW {view}\n"
        f"AS\n"
        f"SELECT *\n"
        f"FROM OPENROWSET(\n"
        f"    BULK '{model.folder}',\n"
        f"    DATA_SOURCE = '{data_source}',\n"
        f"    FORMAT = 'DELTA'\n"
        f")\n"
        f"WITH (\n"
        f"{columns}\n"
        f") AS [rows];"
    )


def generate_scripts(models: list[ServedModel], settings: SynapseSettings) -> list[SqlScript]:
    from lakehouse.serving.synapse.sql_dialect import parse_strict

    quote_identifier(settings.data_source_name, "data source name")
    scripts = [
        SqlScript("00_external_data_source.sql", (data_source_batch(settings),)),
        SqlScript("01_schemas.sql", tuple(schema_batch(s) for s in sorted({m.schema for m in models}))),
        *(SqlScript(f"{m.schema}.{m.name}.sql", (view_batch(m, settings),)) for m in models),
    ]
    for script in scripts:
        for batch in script.batches:
            parse_strict(batch)
    return scripts


def _previously_written(out_dir: Path) -> list[str]:
    try:
        names = json.loads((out_dir / WRITTEN_LIST).read_text()).get("files", [])
    except (FileNotFoundError, ValueError, AttributeError):
        return []
    # Only plain .sql names directly in the folder: a hand-edited list cannot point elsewhere.
    return [n for n in names if isinstance(n, str) and n.endswith(".sql") and Path(n).name == n]


def write_scripts(scripts: list[SqlScript], out_dir: Path) -> list[Path]:
    """Write the scripts into `out_dir`; remove only files an earlier run wrote and this one does not."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [script.file_name for script in scripts]
    for stale in set(_previously_written(out_dir)) - set(names):
        (out_dir / stale).unlink(missing_ok=True)
    paths = []
    for script in scripts:
        path = out_dir / script.file_name
        path.write_text(script.text())
        paths.append(path)
    (out_dir / WRITTEN_LIST).write_text(json.dumps({"files": names}, indent=2) + "\n")
    return paths


def write_synapse_views(
    manifest_path: Path = DEFAULT_MANIFEST,
    out_dir: Path = DEFAULT_OUT_DIR,
    settings: SynapseSettings | None = None,
    *,
    lake: Lake | None = None,
) -> list[Path]:
    """Generate the scripts from the manifest and write them for review; returns the files.
    Without `settings`, from the environment and `lake` (its URL when it is on Azure storage);
    raises LakeLocationMissing when no location is known."""
    models = served_models(load_manifest(manifest_path))
    settings = settings or SynapseSettings.from_env(lake.settings.environ if lake else {}, lake=lake)
    return write_scripts(generate_scripts(models, settings), out_dir)
