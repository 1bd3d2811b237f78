"""The served models of a dbt manifest: external Delta tables with typed contracts.

A served model is a model of this project, in one of the served layers (schemas
silver and gold), materialized as a table (table or incremental: views and
ephemeral models have no Delta folder), with an enforced contract whose every
column has a `data_type`. Its Delta folder, relative to the lake root, is
`<last folder of location_root>/<alias>/` (location_root is `<lake root>/<layer>`).
A string column whose values can exceed the views' varchar length (raw bodies,
JSON) can say so in its yml: `meta: {synapse_string_length: max}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

SERVED_LAYERS = ("silver", "gold")
TABLE_MATERIALIZATIONS = ("table", "incremental")


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


def served_models(manifest: dict[str, Any], layers: tuple[str, ...] = SERVED_LAYERS) -> list[ServedModel]:
    """The manifest's served models, sorted by (schema, name): the silver and gold
    tables, but not intermediate models (`int_*`, dbt's convention), which are
    internal building blocks without a public contract."""
    project = manifest.get("metadata", {}).get("project_name")
    models = []
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type", unique_id.split(".", 1)[0]) != "model":
            continue
        if project and node.get("package_name", project) != project:
            continue
        config = node.get("config", {})
        if node.get("schema") not in layers or not config.get("enabled", True):
            continue
        if config.get("materialized", "table") not in TABLE_MATERIALIZATIONS or node["name"].startswith("int_"):
            continue
        models.append(_served_model(node))
    return sorted(models, key=lambda m: (m.schema, m.name))


def _served_model(node: dict[str, Any]) -> ServedModel:
    name = node.get("alias") or node["name"]
    config = node.get("config", {})
    if not config.get("contract", {}).get("enforced"):
        raise ManifestError(f"model {name} has no enforced contract: add `config: {{contract: {{enforced: true}}}}` "
                            "and a data_type for every column in its yml")
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
