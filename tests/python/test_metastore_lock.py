"""A second command on the same lake stops at once with a message, not a Derby trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.settings import Settings
from lakehouse.spark.metastore_lock import MetastoreBusy, lake_lock, metastore_lock


def test_second_process_is_told_the_metastore_is_busy(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lakehouse = Path(sys.executable).with_name("lakehouse")
    with metastore_lock(lake / "_metastore"):
        result = subprocess.run(
            [str(lakehouse), "--lake", str(lake), "dbt", "debug"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 3
    assert f"in use by process {os.getpid()}." in result.stderr and "one process at a time" in result.stderr
    assert "XSDB6" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"DBT_TARGET": "local"}, True),
        ({"DBT_TARGET": "cluster"}, False),
        ({"DATABRICKS_RUNTIME_VERSION": "17.3"}, False),
    ],
)
def test_only_the_embedded_metastore_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], refused: bool
) -> None:
    """A shared metastore (the engine's, Databricks') takes many processes: no lock there."""
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    lake = Lake.at(tmp_path / "lake", settings=Settings.from_environment())  # as the CLI reads it
    with metastore_lock(lake.metastore):  # flock: a second open of the lock file conflicts, even in one process
        if refused:
            with pytest.raises(MetastoreBusy), lake_lock(lake):
                pass
        else:
            with lake_lock(lake):
                pass
