"""The repository's habits: the pre-commit hooks are valid and run the pinned tools of
the project's .venv (ruff, mypy, sqlfluff, detect-secrets) with no hook fetched from GitHub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from lakehouse.paths import PROJECT_DIR

CONFIG = PROJECT_DIR / ".pre-commit-config.yaml"


def test_the_pre_commit_config_is_valid_and_local() -> None:
    pre_commit = Path(sys.executable).with_name("pre-commit")
    done = subprocess.run(
        [str(pre_commit), "validate-config", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    repos = yaml.safe_load(CONFIG.read_text())["repos"]
    assert [r["repo"] for r in repos] == ["local"]
    hooks = {h["id"]: h for h in repos[0]["hooks"]}
    assert {"ruff", "ruff-format", "mypy", "sqlfluff", "detect-secrets"} <= hooks.keys()
    for hook in hooks.values():
        tool = hook["entry"].split()[0]
        assert tool.startswith(".venv/bin/") and (Path(sys.executable).parent / Path(tool).name).exists(), tool
