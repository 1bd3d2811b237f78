"""The package's layers import downwards only: the CLI on top, the shared base
(paths, the table registry) at the bottom. import-linter's layers contract
(`[tool.importlinter]` in pyproject.toml) checks every import, at module level or
inside a function; it is exhaustive, so a new top-level module must take a layer."""

from __future__ import annotations

import pytest
from importlinter.cli import lint_imports

from lakehouse.paths import PROJECT_DIR

PACKAGE = PROJECT_DIR / "lakehouse"


def test_no_import_runs_back_up(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = lint_imports(config_filename=str(PROJECT_DIR / "pyproject.toml"), no_cache=True, no_logo=True)
    assert exit_code == 0, capsys.readouterr().out


def test_only_lake_spells_the_folders_under_the_lake_root() -> None:
    import re

    folders = set(re.findall(r'"(_[a-z_]+)"', (PACKAGE / "paths.py").read_text()))
    assert {"_quarantine", "_serving", "_state", "_checkpoints", "_warehouse", "_metastore"} <= folders
    spelled = [
        f"{p.relative_to(PROJECT_DIR)}: {name}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "paths.py"
        for name in folders
        if f'"{name}"' in p.read_text() or f"'{name}'" in p.read_text()
    ]
    assert not spelled, spelled
