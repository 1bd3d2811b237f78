"""The registry of the lake's tables, derived from the dbt manifest: the one list.

- The lake's tables: the bronze source and every model of this project in a layer
  (bronze, silver, gold) materialized as a table (table or incremental: views and
  ephemeral models have no Delta folder), in layer order.
- Served models: the models marked `access: public` in their yml. Each has an
  enforced contract whose every column has a `data_type`; Synapse views are made
  of them, and the lake report shows them.
- Cosmos containers: the served models whose yml carries
  `meta: {cosmos: {partition_key: <column>}}`; the item id is the model's `unique_key`.

The manifest is `target/manifest.json` of the project (every `dbt` command writes
it); when it is missing or older than the project's files, `registry_manifest()` runs
`dbt parse`, which needs no engine. A served model's Delta folder, relative to the lake
root, is `<last folder of location_root>/<alias>/` (location_root is `<lake root>/<layer>`).
A string column whose values can exceed the views' varchar length (raw bodies,
JSON) can say so in its yml: `meta: {synapse_string_length: max}`.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lakehouse.paths import PROJECT_DIR

LAYERS = ("bronze", "silver", "gold")
TABLE_MATERIALIZATIONS = ("table", "incremental")
DEFAULT_MANIFEST = PROJECT_DIR / "target" / "manifest.json"


class ManifestError(ValueError):
    """The manifest is missing, or a served model lacks what the views need."""


@dataclass(frozen=True)
class ContractColumn:
    name: str
    data_type: str
    # Column meta `synapse_string_length` (1..8000 or "max") overrides the views' default.
    string_length: int | str | None = None


@dataclass(frozen=True)
class ServedModel:
    name: str
    schema: str
    folder: str  # the Delta table folder relative to the lake root, e.g. gold/gold_device_metrics_5m/
    columns: tuple[ContractColumn, ...]


def load_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ManifestError(f"no dbt manifest at {path}: run `lakehouse dbt parse` (or `dbt parse`) first")
    return json.loads(path.read_text())


@dataclass(frozen=True)
class LakeTable:
    layer: str
    name: str
    public: bool

    @property
    def qualified(self) -> str:
        return f"{self.layer}.{self.name}"


@dataclass(frozen=True)
class CosmosContainer:
    """A served gold model, synced to a Cosmos DB container of the same name."""

    model: str
    partition_key: str
    id_column: str
    layer: str = "gold"

    @property
    def container(self) -> str:
        return self.model

    @property
    def partition_key_path(self) -> str:
        return f"/{self.partition_key}"


def _project_models(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    project = manifest.get("metadata", {}).get("project_name")
    return [
        node
        for unique_id, node in manifest.get("nodes", {}).items()
        if node.get("resource_type", unique_id.split(".", 1)[0]) == "model"
        and (not project or node.get("package_name", project) == project)
        and node.get("config", {}).get("enabled", True)
    ]


def _is_table(node: dict[str, Any]) -> bool:
    return (
        node.get("schema") in LAYERS and node.get("config", {}).get("materialized", "table") in TABLE_MATERIALIZATIONS
    )


def _is_public(node: dict[str, Any]) -> bool:
    return node.get("access") == "public"


def lake_tables(manifest: dict[str, Any]) -> list[LakeTable]:
    """The bronze source and every table model, in layer order, then by name."""
    tables = [
        LakeTable(source["schema"], source.get("identifier") or source["name"], True)
        for source in manifest.get("sources", {}).values()
        if source.get("schema") in LAYERS
    ]
    tables += [
        LakeTable(node["schema"], node.get("alias") or node["name"], _is_public(node))
        for node in _project_models(manifest)
        if _is_table(node)
    ]
    return sorted(tables, key=lambda t: (LAYERS.index(t.layer), t.name))


def served_models(manifest: dict[str, Any]) -> list[ServedModel]:
    """The models marked `access: public`, sorted by (schema, name); each must be a
    table in a layer, with an enforced, fully typed contract."""
    models = []
    for node in _project_models(manifest):
        if not _is_public(node):
            continue
        if not _is_table(node):
            raise ManifestError(f"model {node['name']} is public but not a table in a layer ({', '.join(LAYERS)})")
        models.append(_served_model(node))
    return sorted(models, key=lambda m: (m.schema, m.name))


def cosmos_containers(manifest: dict[str, Any]) -> list[CosmosContainer]:
    """The served models with `meta: {cosmos: {partition_key: ...}}`, sorted by name."""
    containers = []
    for node in _project_models(manifest):
        cosmos = ((node.get("config", {}).get("meta") or node.get("meta") or {}).get("cosmos")) or {}
        if not cosmos:
            continue
        if not _is_public(node) or not node.get("config", {}).get("unique_key"):
            raise ManifestError(f"model {node['name']} is synced to Cosmos DB: it must be public, with a unique_key")
        containers.append(
            CosmosContainer(node["name"], cosmos["partition_key"], node["config"]["unique_key"], node["schema"])
        )
    return sorted(containers, key=lambda c: c.model)


def _project_changed_since(path: Path) -> bool:
    """Whether a file dbt parses (project, models, seeds' yml, snapshots) is newer than `path`."""
    built = path.stat().st_mtime
    sources = [
        PROJECT_DIR / "dbt_project.yml",
        *(
            f
            for folder in ("models", "seeds", "snapshots", "macros")
            for f in (PROJECT_DIR / folder).rglob("*")
            if f.is_file()
        ),
    ]
    return any(f.stat().st_mtime > built for f in sources)


@functools.cache
def registry_manifest(path: Path = DEFAULT_MANIFEST) -> dict[str, Any]:
    """The project's manifest (read once per process). The default one is written first
    by `dbt parse` (no engine needed) when it is missing or older than the project's files."""
    if path == DEFAULT_MANIFEST and (not path.is_file() or _project_changed_since(path)):
        from dbt.cli.main import dbtRunner

        os.environ.setdefault("DBT_TARGET", "local")
        done = dbtRunner().invoke(
            [
                "parse",
                "--quiet",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                str(path.parent),
            ]
        )
        if not done.success:
            raise ManifestError(f"dbt parse failed: {done.exception}")
    return load_manifest(path)


def _served_model(node: dict[str, Any]) -> ServedModel:
    name = node.get("alias") or node["name"]
    config = node.get("config", {})
    if not config.get("contract", {}).get("enforced"):
        raise ManifestError(
            f"model {name} has no enforced contract: add `config: {{contract: {{enforced: true}}}}` "
            "and a data_type for every column in its yml"
        )
    location_root = config.get("location_root")
    if not location_root:
        raise ManifestError(f"model {name} has no location_root, so it is not an external Delta table")
    columns = []
    for column in node.get("columns", {}).values():
        if not column.get("data_type"):
            raise ManifestError(f"column {column.get('name')} of model {name} has no data_type in its contract")
        length = (column.get("meta") or {}).get("synapse_string_length")
        columns.append(ContractColumn(column["name"], column["data_type"], length))
    if not columns:
        raise ManifestError(f"model {name} declares no columns")
    layer_folder = PurePosixPath(str(location_root).rstrip("/")).name
    return ServedModel(name=name, schema=node["schema"], folder=f"{layer_folder}/{name}/", columns=tuple(columns))
