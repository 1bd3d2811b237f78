"""Synapse serverless views generated from a dbt manifest (a hand-written fixture here)."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from lakehouse.serving.synapse.publish import SynapseNotConfigured, publish, single_statement
from lakehouse.serving.synapse.sql_dialect import OpenRowset, SynapseServerless, parse_strict
from lakehouse.serving.synapse.types import UnsafeIdentifier, UnsupportedType, tsql_type
from lakehouse.serving.synapse.views import SynapseSettings, generate_scripts, write_synapse_views
from lakehouse.tables import ManifestError, served_models

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "manifest.json"
GOLDEN = HERE / "golden"
SETTINGS = SynapseSettings(data_source_location="https://lakehouseacct.dfs.core.windows.net/lake")
HOSTILE = "x]; drop table y --"

# The test's own statement of the mapping (the contract types the models use), as
# sqlglot prints the parsed types (it spells T-SQL's int as INTEGER).
UTF8 = "COLLATE Latin1_General_100_BIN2_UTF8"
EXPECTED_TSQL = {
    "string": f"VARCHAR(8000) {UTF8}",
    "timestamp": "DATETIME2(7)",
    "double": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "boolean": "BIT",
}


def manifest() -> dict:
    return json.loads(FIXTURE.read_text())


def batches_of(text: str) -> list[str]:
    return [b.strip() for b in re.split(r"^GO$", text, flags=re.MULTILINE) if b.strip()]


def test_generated_sql_matches_the_golden_files(tmp_path: Path) -> None:
    written = write_synapse_views(FIXTURE, tmp_path / "synapse", SETTINGS)
    if os.environ.get("UPDATE_GOLDEN"):
        for stale in GOLDEN.glob("*.sql"):
            stale.unlink()
        for path in written:
            (GOLDEN / path.name).write_text(path.read_text())
    assert (
        sorted(p.name for p in written)
        == sorted(p.name for p in GOLDEN.glob("*.sql"))
        == [
            "00_external_data_source.sql",
            "01_schemas.sql",
            "gold.gold_device_metrics_5m.sql",
            "gold.gold_site_metrics_1h.sql",
            "silver.silver_telemetry.sql",
            "silver.silver_telemetry_quarantine.sql",
        ]
    )
    for path in written:
        assert path.read_text() == (GOLDEN / path.name).read_text(), f"{path.name} differs (UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.sql")), ids=lambda p: p.name)
def test_every_statement_parses_as_tsql(golden: Path) -> None:
    for batch in batches_of(golden.read_text()):
        # Fully parsed, nothing left as an opaque Command (sp_executesql literals included).
        trees = sqlglot.parse(batch, read=SynapseServerless, error_level=ErrorLevel.RAISE)
        assert trees and not any(isinstance(n, exp.Command) for t in trees for n in t.walk())
        parse_strict(batch)
        if "OPENROWSET" not in batch:
            # sqlglot's own T-SQL dialect parses these too (it lacks OPENROWSET(BULK ...) only).
            assert sqlglot.parse(batch, read="tsql", error_level=ErrorLevel.RAISE)


def test_view_columns_match_the_model_contracts() -> None:
    contracts = {
        n["name"]: n
        for n in manifest()["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] in ("silver", "gold") and n["config"]["materialized"] != "view"
    }
    views = {}
    for script in generate_scripts(served_models(manifest()), SETTINGS):
        for batch in script.batches:
            [tree] = parse_strict(batch)
            if isinstance(tree, exp.Create) and tree.kind == "VIEW":
                views[tree.this.name] = tree
    assert views.keys() == contracts.keys()
    for name, view in views.items():
        node = contracts[name]
        assert view.this.db == node["schema"]
        rowset = view.find(OpenRowset)
        assert rowset.this.name == f"{node['schema']}/{name}/"
        assert {o.name.upper(): o.args["value"].name for o in rowset.args["options"]} == {
            "DATA_SOURCE": "lakehouse",
            "FORMAT": "DELTA",
        }
        columns = [
            (c.name, c.args["kind"].sql("tsql") + "".join(f" {k.sql('tsql')}" for k in c.args.get("constraints") or []))
            for c in rowset.args["columns"]
        ]
        expected = [
            (
                c["name"],
                f"VARCHAR(MAX) {UTF8}"
                if (c.get("meta") or {}).get("synapse_string_length") == "max"
                else EXPECTED_TSQL[c["data_type"]],
            )
            for c in node["columns"].values()
        ]
        assert columns == expected


def test_data_source_has_the_location_and_an_optional_credential() -> None:
    [plain] = generate_scripts([], SETTINGS)[0].batches
    assert "LOCATION = N'https://lakehouseacct.dfs.core.windows.net/lake'" in plain and "CREDENTIAL" not in plain
    with_credential = SynapseSettings(
        data_source_location="abfss://lake@acct.dfs.core.windows.net", credential="lake_msi"
    )
    [batch] = generate_scripts([], with_credential)[0].batches
    assert "CREDENTIAL = [lake_msi]" in batch
    parse_strict(batch)


@pytest.mark.parametrize(
    ("spark_type", "tsql"),
    [
        ("string", f"varchar(8000) {UTF8}"),
        ("timestamp", "datetime2(7)"),
        ("double", "float"),
        ("float", "real"),
        ("bigint", "bigint"),
        ("int", "int"),
        ("integer", "int"),
        ("boolean", "bit"),
        ("decimal(12,3)", "decimal(12, 3)"),
        ("DECIMAL(38, 0)", "decimal(38, 0)"),
        ("decimal", "decimal(10, 0)"),
        ("date", "date"),
        ("binary", "varbinary(max)"),
        ("tinyint", "smallint"),
        ("array<string>", f"varchar(max) {UTF8}"),
        ("map<string,int>", f"varchar(max) {UTF8}"),
    ],
)
def test_spark_types_map_to_tsql(spark_type: str, tsql: str) -> None:
    assert tsql_type(spark_type) == tsql


@pytest.mark.parametrize("spark_type", ["interval day", "variant", "geometry", "decimal(40,2)", "array<string", "void"])
def test_unknown_types_fail_clearly(spark_type: str) -> None:
    broken = manifest()
    broken["nodes"]["model.telemetry_lakehouse.gold_site_metrics_1h"]["columns"]["event_count"]["data_type"] = (
        spark_type
    )
    with pytest.raises(UnsupportedType, match="model gold_site_metrics_1h: column event_count"):
        generate_scripts(served_models(broken), SETTINGS)


def test_string_length_is_configurable() -> None:
    models = served_models(manifest())
    [view] = generate_scripts(models, dataclasses.replace(SETTINGS, string_length=200))[2].batches
    assert f"[metric_id] varchar(200) {UTF8}" in view
    [view] = generate_scripts(models, dataclasses.replace(SETTINGS, string_length="max"))[2].batches
    assert f"[metric_id] varchar(max) {UTF8}" in view
    with pytest.raises(ValueError, match=r"1..8000"):
        generate_scripts(models, dataclasses.replace(SETTINGS, string_length=9000))


def _rename_model(data: dict, old: str, new: str) -> dict:
    node = data["nodes"][f"model.telemetry_lakehouse.{old}"]
    node["name"] = node["alias"] = new
    return data


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda m: _rename_model(m, "gold_site_metrics_1h", HOSTILE),
        lambda m: m["nodes"]["model.telemetry_lakehouse.gold_site_metrics_1h"]["columns"].update(
            {HOSTILE: {"name": HOSTILE, "data_type": "string"}}
        ),
        lambda m: m["nodes"]["model.telemetry_lakehouse.gold_site_metrics_1h"]["columns"].update(
            {"ok": {"name": "a b", "data_type": "string"}}
        ),
        lambda m: _rename_model(m, "gold_site_metrics_1h", "x" * 129),
    ],
    ids=["model", "column", "column-with-space", "too-long"],
)
def test_hostile_names_are_rejected(corrupt) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(manifest())
    corrupt(data)
    with pytest.raises(UnsafeIdentifier, match="not a plain identifier"):
        generate_scripts(served_models(data), SETTINGS)


@pytest.mark.parametrize(
    "settings",
    [
        SynapseSettings(data_source_location=SETTINGS.data_source_location, data_source_name=HOSTILE),
        SynapseSettings(data_source_location=SETTINGS.data_source_location, credential=HOSTILE),
    ],
    ids=["data-source", "credential"],
)
def test_hostile_settings_are_rejected(settings: SynapseSettings) -> None:
    with pytest.raises(UnsafeIdentifier):
        generate_scripts(served_models(manifest()), settings)


@pytest.mark.parametrize(
    "location",
    [
        "https://acct.dfs.core.windows.net/lake'; DROP VIEW x --",
        "ftp://acct/lake",
        "https://acct.dfs.core.windows.net/a b",
    ],
)
def test_bad_locations_are_rejected(location: str) -> None:
    with pytest.raises(ValueError, match="not an https:// or abfss:// URL"):
        generate_scripts([], SynapseSettings(data_source_location=location))


def test_models_without_a_typed_contract_fail_clearly() -> None:
    data = manifest()
    data["nodes"]["model.telemetry_lakehouse.silver_telemetry"]["config"]["contract"]["enforced"] = False
    with pytest.raises(ManifestError, match="silver_telemetry has no enforced contract"):
        served_models(data)
    data = manifest()
    data["nodes"]["model.telemetry_lakehouse.silver_telemetry"]["columns"]["status"]["data_type"] = None
    with pytest.raises(ManifestError, match="column status of model silver_telemetry has no data_type"):
        served_models(data)


def test_the_parser_catches_malformed_sql() -> None:
    [view] = generate_scripts(served_models(manifest()), SETTINGS)[2].batches
    for broken in (
        view.replace("datetime2(7),", "datetime2(7)", 1),
        view.replace("BULK '", "BULK "),
        "EXEC sp_executesql N'CREATE SCHEMA [gold'",
        "CREATE EXTERNAL DATA SOURCE [x] WITH (LOCATION 'a')",
    ):
        with pytest.raises(SqlglotError):
            parse_strict(broken)


def test_dbt_publish_sends_every_batch_in_one_statement() -> None:
    scripts = generate_scripts(served_models(manifest()), SETTINGS)
    statement = single_statement([b for s in scripts for b in s.batches])
    trees = parse_strict(statement)  # parses the sp_executesql literals, nested ones included
    assert sum(isinstance(t, exp.ExecuteSql) for t in trees) == 1 + 2 + 4


def test_publish_without_a_connection_says_what_to_set(tmp_path: Path) -> None:
    from lakehouse.paths import Lake

    scripts = generate_scripts(served_models(manifest()), SETTINGS)
    with pytest.raises(SynapseNotConfigured, match="SYNAPSE_ODBC_CONNECTION_STRING"):
        publish(scripts, SETTINGS, Lake.at(tmp_path), env={})
    with pytest.raises(SynapseNotConfigured, match="SYNAPSE_DATA_SOURCE_LOCATION"):
        publish(scripts, SynapseSettings(), Lake.at(tmp_path), env={"SYNAPSE_SERVER": "x"})


def test_cli_writes_the_views(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.cli.main import cli

    for name in ("SYNAPSE_ODBC_CONNECTION_STRING", "SYNAPSE_SERVER", "SYNAPSE_DATA_SOURCE_LOCATION"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "synapse"
    args = [
        "--lake",
        str(tmp_path / "lake"),
        "serve",
        "synapse-views",
        "--manifest",
        str(FIXTURE),
        "--out",
        str(out),
        "--data-source-location",
        SETTINGS.data_source_location,
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "4 views" in result.output and "gold.gold_device_metrics_5m" in result.output
    assert (out / "gold.gold_device_metrics_5m.sql").read_text() == (
        GOLDEN / "gold.gold_device_metrics_5m.sql"
    ).read_text()

    published = CliRunner().invoke(cli, [*args, "--publish"])
    assert published.exit_code != 0 and "SYNAPSE_ODBC_CONNECTION_STRING" in published.output

    missing = CliRunner().invoke(cli, [*args[:4], "--manifest", str(tmp_path / "none.json")])
    assert missing.exit_code != 0 and "dbt parse" in missing.output


def test_out_over_a_folder_of_other_sql_keeps_them_and_removes_only_what_it_wrote(tmp_path: Path) -> None:
    from lakehouse.cli.main import cli

    out = tmp_path / "models" / "gold"
    out.mkdir(parents=True)
    theirs = {
        "gold_device_metrics_5m.sql": "select 1 as a\n",
        "gold.gold_site_metrics_1h.sql.bak": "x\n",
        "notes.sql": "-- mine\n",
    }
    for name, text in theirs.items():
        (out / name).write_text(text)
    args = [
        "--lake",
        str(tmp_path / "lake"),
        "serve",
        "synapse-views",
        "--out",
        str(out),
        "--data-source-location",
        SETTINGS.data_source_location,
    ]
    first = CliRunner().invoke(cli, [*args, "--manifest", str(FIXTURE)])
    assert first.exit_code == 0, first.output
    generated = {p.name for p in GOLDEN.glob("*.sql")}
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == generated | set(theirs)

    # A model leaves the project: its view file goes, nothing else does.
    data = manifest()
    del data["nodes"]["model.telemetry_lakehouse.gold_site_metrics_1h"]
    smaller = tmp_path / "manifest.json"
    smaller.write_text(json.dumps(data))
    second = CliRunner().invoke(cli, [*args, "--manifest", str(smaller)])
    assert second.exit_code == 0, second.output
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == (
        generated - {"gold.gold_site_metrics_1h.sql"}
    ) | set(theirs)
    assert all((out / name).read_text() == text for name, text in theirs.items())


@pytest.mark.parametrize(
    ("value", "message"), [("abc", "'abc' is not a number"), ("0", "not in 1..8000"), ("9000", "not in 1..8000")]
)
def test_a_bad_string_length_is_a_usage_error(tmp_path: Path, value: str, message: str) -> None:
    from lakehouse.cli.main import cli

    result = CliRunner().invoke(
        cli,
        [
            "--lake",
            str(tmp_path / "lake"),
            "serve",
            "synapse-views",
            "--manifest",
            str(FIXTURE),
            "--out",
            str(tmp_path / "out"),
            "--string-length",
            value,
        ],
    )
    assert result.exit_code == 2 and "Invalid value for '--string-length'" in result.output and message in result.output
    assert not (tmp_path / "out").exists()


def test_the_data_source_is_the_lakes_own_url_on_azure_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.cli.main import cli
    from lakehouse.paths import Lake

    for name in ("SYNAPSE_DATA_SOURCE_LOCATION", "SYNAPSE_LAKE_URL"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "synapse"
    lake = Lake.at("abfss://lake@acct.dfs.core.windows.net/plant")
    write_synapse_views(FIXTURE, out, lake=lake)

    texts = {p.name: p.read_text() for p in out.glob("*.sql")}
    assert "LOCATION = N'https://acct.dfs.core.windows.net/lake/plant'" in texts["00_external_data_source.sql"]
    for model in ("gold_device_metrics_5m", "gold_site_metrics_1h"):
        assert f"BULK 'gold/{model}/'" in texts[f"gold.{model}.sql"]
    assert "BULK 'silver/silver_telemetry/'" in texts["silver.silver_telemetry.sql"]
    assert not any("ACCOUNT" in t or "CONTAINER" in t for t in texts.values())  # no placeholder remains
    settings = SynapseSettings.from_env({}, lake=Lake.at("wasbs://c@acct2.blob.core.windows.net/p/q"))
    assert settings.data_source_location == "https://acct2.dfs.core.windows.net/c/p/q"

    # A local lake: the production lake's URL given, or a clear failure (no SQL written).
    base = ["serve", "synapse-views", "--manifest", str(FIXTURE), "--out", str(out)]
    local = ["--lake", str(tmp_path / "lake"), *base]
    given = CliRunner().invoke(cli, [*local, "--lake-url", "abfss://prod@acct3.dfs.core.windows.net/"])
    assert given.exit_code == 0, given.output
    assert "N'https://acct3.dfs.core.windows.net/prod'" in (out / "00_external_data_source.sql").read_text()
    (out / "00_external_data_source.sql").unlink()
    refused = CliRunner().invoke(cli, local)
    assert refused.exit_code == 1 and "is a local folder, which Synapse cannot read" in refused.output
    assert "--lake-url abfss://" in refused.output and not (out / "00_external_data_source.sql").exists()
    emulator = CliRunner().invoke(cli, [*local, "--lake-url", "wasb://c@devstoreaccount1/p"])
    assert emulator.exit_code == 1 and "not a lake on Azure storage" in emulator.output
