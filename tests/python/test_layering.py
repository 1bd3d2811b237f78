"""The package's layers import downwards only: the CLI on top, the shared base
(paths, the table registry) at the bottom. Any import, at module level or inside
a function, from a lower layer to a higher one fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from lakehouse.paths import PROJECT_DIR

PACKAGE = PROJECT_DIR / "lakehouse"
# Higher numbers may import lower (or equal) ones, never the other way.
LAYERS = {
    "cli": 5,
    "databricks_job": 5,  # the Databricks job's entry point, beside the CLI
    "operations": 4,
    "pipeline": 3,
    "serving": 3,
    "ingestion": 2,
    "spark": 2,
    "engine": 1,
    "paths": 0,
    "profile": 0,
    "tables": 0,
    "azure_names": 0,
    "settings": 0,  # what the environment configures, read once by an edge (tests/python/test_settings.py)
    "storage": 0,  # the lake's location, credentials and files seam (lakehouse.paths builds on it)
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "lakehouse"}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PROJECT_DIR).with_suffix("").parts)


def test_every_module_belongs_to_a_layer() -> None:
    modules = [_module(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]
    assert modules and not [m for m in modules if _layer(m) not in LAYERS]


def test_no_import_runs_back_up() -> None:
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        if path.name == "__init__.py" and module == "lakehouse":
            continue
        for imported in _imports(path):
            if LAYERS[_layer(imported)] > LAYERS[_layer(module)]:
                upward.append(f"{module} -> {imported}")
    assert not upward, upward


def test_ingestion_and_serving_never_import_the_cli() -> None:
    offenders = [
        f"{_module(p)} -> {m}"
        for folder in ("ingestion", "serving")
        for p in (PACKAGE / folder).rglob("*.py")
        for m in _imports(p)
        if _layer(m) == "cli"
    ]
    assert not offenders, offenders


def test_only_lake_spells_the_folders_under_the_lake_root() -> None:
    import re

    folders = set(re.findall(r'"(_[a-z_]+)"', (PACKAGE / "paths.py").read_text()))
    assert {"_quarantine", "_serving", "_state", "_checkpoints", "_warehouse", "_metastore"} <= folders
    spelled = [
        f"{_module(p)}: {name}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "paths.py"
        for name in folders
        if f'"{name}"' in p.read_text() or f"'{name}'" in p.read_text()
    ]
    assert not spelled, spelled
