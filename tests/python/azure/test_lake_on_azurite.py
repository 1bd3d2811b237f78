"""A lake on Azure storage, on this machine: `lakehouse --lake wasb://<container>@devstoreaccount1/`
on Azurite (127.0.0.1:10000, where Hadoop's WASB emulator mode connects), driven as a user
types it from a copy of the project (`release`).

Every Delta table is in the container (checked through the Blob API, not Spark); the
checkout holds only the lake's local side, `.lakes/<slug>` (the Derby metastore, the
warehouse folder, the driver's log), besides dbt's own target/ and logs/. Deleting that
local side loses nothing: the next command's session finds a new metastore and
registers the lake's tables from storage, and queries them.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.python.azure.azurite import Azurite
from tests.python.lake_helpers import (
    delta_tables_in_storage,
    emulator_lake,
    files_under,
    lakehouse,
    release,
)

pytestmark = pytest.mark.spark  # each command starts its own local Spark (not the session's)

# What dbt itself writes in the project it runs (its artifacts, log and user id), not lake data.
DBT_OWN = ("target/", "logs/", ".user.yml")


def _written_besides_the_lake(checkout: Path, before: set[str], local: Path) -> list[str]:
    side = str(local.relative_to(checkout)) + "/"
    return sorted(name for name in files_under(checkout) - before if not name.startswith((side, *DBT_OWN)))


def test_dbt_on_an_emulator_lake_writes_its_tables_to_the_container_and_survives_a_lost_metastore(
    azurite_lake_server: Azurite, tmp_path: Path
) -> None:
    checkout = release(tmp_path / "checkout")
    before = files_under(checkout)
    lake = emulator_lake(f"t-{uuid.uuid4().hex[:20]}", checkout)
    url = lake.root + "/"  # as a user types it

    lakehouse(checkout, "--lake", url, "dbt", "seed")  # the container is created on the way
    lakehouse(checkout, "--lake", url, "dbt", "snapshot")

    assert {"bronze/bronze_capture_events", "reference/device_registry", "snapshots/device_registry_snapshot"} <= (
        delta_tables_in_storage(lake)
    )
    assert (lake.metastore / "metastore_db").is_dir()  # the metastore is on this machine
    assert lake.local == checkout / ".lakes" / lake.location.slug()
    assert _written_besides_the_lake(checkout, before, lake.local) == []
    assert not (checkout / "lake").exists()

    # The local side is lost (another laptop, a clean checkout): the tables are registered again.
    shutil.rmtree(lake.local)
    shown = lakehouse(
        checkout,
        "--lake",
        url,
        "dbt",
        "show",
        "--inline",
        "select (select count(*) from reference.device_registry) as registry_rows, "
        "(select count(*) from snapshots.device_registry_snapshot) as snapshot_rows",
    )
    assert "registered its tables" in shown and "snapshots.device_registry_snapshot" in shown
    rows = [line for line in shown.splitlines() if line.startswith("|") and line.strip("|- ").replace("|", "").strip()]
    assert [cell.strip() for cell in rows[-1].strip("|").split("|")] == ["10000", "10000"], shown[-2000:]
    assert _written_besides_the_lake(checkout, before, lake.local) == []


@pytest.mark.xfail(
    reason="dbt build loads bronze first: needs the bronze helper's URL conversion (lake_build/bronze_load "
    "still use the removed Lake.state_file and local Paths); the lead merges it",
    strict=False,
)
def test_dbt_build_of_a_selection_on_an_emulator_lake(azurite_lake_server: Azurite, tmp_path: Path) -> None:
    checkout = release(tmp_path / "checkout")
    before = files_under(checkout)
    lake = emulator_lake(f"t-{uuid.uuid4().hex[:20]}", checkout)
    url = lake.root + "/"
    lakehouse(checkout, "--lake", url, "simulate", "--devices", "4", "--duration", "10m", "--start", "2026-05-01T06:00")
    lakehouse(
        checkout, "--lake", url, "dbt", "build", "--select", "device_registry", "--indirect-selection", "cautious"
    )
    assert {"bronze/bronze_capture_events", "reference/device_registry"} <= delta_tables_in_storage(lake)
    assert _written_besides_the_lake(checkout, before, lake.local) == []
