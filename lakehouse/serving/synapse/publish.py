"""Run the generated Synapse scripts: through pyodbc, or through the `synapse` dbt target.

- SYNAPSE_ODBC_CONNECTION_STRING set: pyodbc, one `execute` per batch, autocommit.
- else SYNAPSE_SERVER set (what the `synapse` output of profiles.yml needs, with
  SYNAPSE_DATABASE and the SYNAPSE_AUTHENTICATION settings): `dbt run-operation
  run_query --target synapse` (dbt's built-in macro) with one statement that runs
  each batch through sp_executesql, so CREATE VIEW / CREATE SCHEMA still get a
  batch of their own.
- else: SynapseNotConfigured, saying what to set (the files were written anyway).
Both come with pyproject.toml's `synapse` extra (pyodbc through dbt-fabric, and
dbt-synapse), which `bin/setup` does not install; pyodbc needs unixODBC and the
Microsoft ODBC Driver 18 on the machine.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence

from lakehouse.paths import Lake
from lakehouse.serving.synapse.views import SqlScript, SynapseSettings, missing_location_message

NOT_CONFIGURED = (
    "Synapse is not configured for --publish: set SYNAPSE_ODBC_CONNECTION_STRING (e.g. 'Driver={ODBC Driver 18 for "
    "SQL Server};Server=<workspace>-ondemand.sql.azuresynapse.net;Database=telemetry;"
    "Authentication=ActiveDirectoryServicePrincipal;UID=<client id>;PWD=<secret>'), or SYNAPSE_SERVER (plus "
    "SYNAPSE_DATABASE and SYNAPSE_AUTHENTICATION / SYNAPSE_TENANT_ID / SYNAPSE_CLIENT_ID / SYNAPSE_CLIENT_SECRET) "
    "to publish through the dbt target `synapse`."
)


class SynapseNotConfigured(RuntimeError):
    """Publishing was asked for but no Synapse connection is configured."""


def _batches(scripts: Sequence[SqlScript]) -> list[str]:
    return [batch for script in scripts for batch in script.batches]


def single_statement(batches: Sequence[str]) -> str:
    """All batches as one T-SQL statement (each through sp_executesql), ending in a result set."""
    calls = "\n".join("EXEC sp_executesql N'" + batch.replace("'", "''") + "';" for batch in batches)
    return f"SET NOCOUNT ON;\n{calls}\nSELECT 1 AS published;"


def publish_with_odbc(connection_string: str, batches: Sequence[str]) -> None:
    try:  # a native extension that needs unixODBC: loaded only to publish
        pyodbc = importlib.import_module("pyodbc")
    except ImportError as exc:
        raise SynapseNotConfigured(
            f"pyodbc cannot load ({exc}): install the `synapse` extra (.venv/bin/pip install -e '.[synapse]'), "
            "unixODBC and the Microsoft ODBC Driver 18 for SQL Server"
        ) from exc
    connection = pyodbc.connect(connection_string, autocommit=True)
    try:
        cursor = connection.cursor()
        for batch in batches:
            cursor.execute(batch)
    finally:
        connection.close()


def publish_with_dbt(batches: Sequence[str], lake: Lake) -> None:
    from lakehouse.pipeline.dbt_runner import run_dbt

    args = json.dumps({"sql": single_statement(batches)})
    run_dbt(["run-operation", "run_query", "--args", args, "--target", "synapse"], lake)


def publish(
    scripts: Sequence[SqlScript], settings: SynapseSettings, lake: Lake, env: Mapping[str, str] | None = None
) -> str:
    """Run the scripts on Synapse; returns how they were sent."""
    env = lake.settings.environ if env is None else env
    if settings.location_missing:
        raise SynapseNotConfigured(missing_location_message(settings.lake))
    if env.get("SYNAPSE_ODBC_CONNECTION_STRING"):
        publish_with_odbc(env["SYNAPSE_ODBC_CONNECTION_STRING"], _batches(scripts))
        return "pyodbc (SYNAPSE_ODBC_CONNECTION_STRING)"
    if env.get("SYNAPSE_SERVER"):
        publish_with_dbt(_batches(scripts), lake)
        return f"dbt target synapse ({env['SYNAPSE_SERVER']})"
    raise SynapseNotConfigured(NOT_CONFIGURED)
