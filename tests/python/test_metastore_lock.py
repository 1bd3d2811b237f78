"""A second command on the same lake stops at once with a message, not a Derby trace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lakehouse.metastore_lock import metastore_lock
from lakehouse.paths import PROJECT_DIR


def test_second_process_is_told_the_metastore_is_busy(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lakehouse = Path(sys.executable).with_name("lakehouse")
    with metastore_lock(lake / "_metastore"):
        result = subprocess.run([str(lakehouse), "--lake", str(lake), "dbt", "debug"], cwd=PROJECT_DIR,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert "in use by process" in result.stderr and "one process at a time" in result.stderr
    assert "XSDB6" not in result.stderr + result.stdout
