"""The serving code against this repository's own dbt project (`dbt parse`, no Spark).

Skipped, saying why, until the silver and gold model files exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.paths import PROJECT_DIR
from lakehouse.serving.synapse.sql_dialect import OpenRowset, parse_strict
from lakehouse.serving.synapse.views import SynapseSettings, generate_scripts
from lakehouse.tables import cosmos_containers, lake_tables, served_models

MODEL_FILES = [
    PROJECT_DIR / "models" / "silver" / "_silver__models.yml",
    PROJECT_DIR / "models" / "gold" / "_gold__models.yml",
]
PROJECT = "telemetry_lakehouse"
# Contract types the project uses -> the T-SQL type as sqlglot prints it (a new type fails here on purpose).
EXPECTED_TSQL = {
    "string": "VARCHAR(8000)",
    "timestamp": "DATETIME2(7)",
    "double": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "boolean": "BIT",
    "array<string>": "VARCHAR(MAX)",
    "date": "DATE",
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    missing = [str(p.relative_to(PROJECT_DIR)) for p in MODEL_FILES if not p.exists()]
    if missing:
        pytest.skip(f"the silver/gold models are not written yet ({', '.join(missing)} missing)")
    target = tmp_path_factory.mktemp("dbt-parse")
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "LAKEHOUSE_ROOT": str(target / "lake"), "DBT_TARGET": "local"}
    done = subprocess.run(
        [
            str(dbt),
            "parse",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(target),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"dbt parse failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    return json.loads((target / "manifest.json").read_text())


def model_nodes(manifest: dict) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def test_views_cover_every_silver_and_gold_table_with_its_contract(manifest: dict) -> None:
    nodes = model_nodes(manifest)
    expected = {name for name, n in nodes.items() if n.get("access") == "public"}
    assert expected == {
        "silver_telemetry",
        "silver_telemetry_quarantine",
        "gold_device_metrics_5m",
        "gold_site_metrics_1h",
        "gold_window_restatements",
    }
    assert all(n.get("access") != "public" for name, n in nodes.items() if name.startswith("int_"))

    models = served_models(manifest)
    assert {m.name for m in models} == expected
    scripts = generate_scripts(models, SynapseSettings(data_source_location="https://acct.dfs.core.windows.net/lake"))
    for script in scripts:
        for batch in script.batches:
            [tree] = parse_strict(batch)
            rowset = tree.find(OpenRowset)
            if rowset is None:
                continue
            node = nodes[tree.this.name]
            assert rowset.this.name == f"{node['schema']}/{node['name']}/"
            declared = [c["name"] for c in node["columns"].values()]
            assert [c.name for c in rowset.args["columns"]] == declared
            for column, definition in zip(node["columns"].values(), rowset.args["columns"], strict=True):
                wanted = EXPECTED_TSQL[column["data_type"]]
                if (column.get("meta") or {}).get("synapse_string_length") == "max":
                    wanted = "VARCHAR(MAX)"
                assert definition.args["kind"].sql("tsql") == wanted, f"{node['name']}.{column['name']}"


def test_cosmos_containers_match_the_gold_contracts(manifest: dict) -> None:
    nodes = model_nodes(manifest)
    containers = cosmos_containers(manifest)
    assert {c.model: c.partition_key for c in containers} == {
        "gold_device_metrics_5m": "device_id",
        "gold_site_metrics_1h": "site_id",
    }
    for spec in containers:
        node = nodes[spec.model]
        assert node["config"]["contract"]["enforced"]
        assert node["config"].get("tblproperties", {}).get("delta.enableChangeDataFeed") in ("true", True)
        columns = node["columns"]
        assert columns[spec.id_column]["data_type"] == "string"
        assert columns[spec.partition_key]["data_type"] == "string"
        assert spec.id_column == node["config"]["unique_key"]


def test_exposures_put_synapse_and_cosmos_in_the_lineage(manifest: dict) -> None:
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {e["type"] for e in exposures.values()} == {"analysis", "application", "notebook", "ml"}
    synapse = exposures["synapse_serverless_views"]
    assert set(synapse["depends_on"]["nodes"]) == {f"model.{PROJECT}.{m.name}" for m in served_models(manifest)}
    cosmos = exposures["cosmos_gold_containers"]
    assert set(cosmos["depends_on"]["nodes"]) == {f"model.{PROJECT}.{s.model}" for s in cosmos_containers(manifest)}
    for exposure in exposures.values():
        assert exposure["owner"]["email"].endswith("@example.com") and exposure["owner"]["name"]
    # The lineage runs from bronze (loaded from the Capture files) to the exposures.
    parents = manifest["parent_map"]
    upstream, frontier = set(), {f"exposure.{PROJECT}.cosmos_gold_containers"}
    while frontier:
        node = frontier.pop()
        for parent in parents.get(node, []):
            if parent not in upstream:
                upstream.add(parent)
                frontier.add(parent)
    assert {f"source.{PROJECT}.bronze.bronze_capture_events", f"model.{PROJECT}.silver_telemetry"} <= upstream


def test_the_registry_lists_every_table_of_the_lake_in_layer_order(manifest: dict) -> None:
    tables = [t.qualified for t in lake_tables(manifest)]
    assert tables == [
        "bronze.bronze_capture_events",
        "silver.int_bronze_loads",
        "silver.int_silver_replaced_sends",
        "silver.int_telemetry_validated",
        "silver.silver_telemetry",
        "silver.silver_telemetry_quarantine",
        "gold.gold_device_metrics_5m",
        "gold.gold_site_metrics_1h",
        "gold.gold_window_restatements",
    ]
    public = {t.qualified for t in lake_tables(manifest) if t.public}
    assert public == set(tables) - {
        "silver.int_bronze_loads",
        "silver.int_silver_replaced_sends",
        "silver.int_telemetry_validated",
    }
