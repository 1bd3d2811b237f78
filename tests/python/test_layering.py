"""The package's layers import downwards only: the CLI on top, the shared base
(paths, the table registry) at the bottom. import-linter's layers contract
(`[tool.importlinter]` in pyproject.toml) checks every import, at module level or
inside a function; it is exhaustive, so a new top-level module must take a layer."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from lakehouse.paths import PROJECT_DIR

PACKAGE = PROJECT_DIR / "lakehouse"


def test_no_import_runs_back_up() -> None:
    """In a process of its own, as a user runs it: import-linter's CLI configures logging
    with dictConfig, which disables every logger that exists (dbt's console logger among
    them), so run in pytest's process it silenced dbt for the tests after it."""
    existing = logging.getLogger("stdout_log")  # dbt's console logger's name
    lint = Path(sys.executable).with_name("lint-imports")
    found = subprocess.run(
        [str(lint), str(PROJECT_DIR / "pyproject.toml"), "--no-cache"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stdout + found.stderr
    assert "Contracts: 1 kept, 0 broken" in found.stdout
    assert not existing.disabled


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
