"""The dbt SQL is lower-case and linted by sqlfluff (jinja templater, .sqlfluff)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lakehouse.paths import PROJECT_DIR

# Every folder of dbt SQL (dbt_project.yml's model, macro, test, analysis and snapshot paths).
LINTED_PATHS = ["models", "macros", "tests/dbt", "analyses", "snapshots"]


def test_sqlfluff_lint_passes() -> None:
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    result = subprocess.run(
        [str(sqlfluff), "lint", *LINTED_PATHS, "--nocolor", "--processes", "2"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
