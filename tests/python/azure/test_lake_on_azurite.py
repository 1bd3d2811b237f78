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

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from lakehouse.paths import Lake
from lakehouse.storage.azurite import EMULATOR_PORT
from tests.python.azure.azurite import Azurite, connection_string
from tests.python.lake_helpers import (
    blob_names,
    cli_env,
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


# Columns that number or time a run (which load, when): they differ between two lakes built
# in other steps; every other column must be equal, row for row.
RUN_COLUMNS = (
    "load_id",
    "loaded_at",
    "bronze_load_id",
    "replaced_in_load_id",
    "silver_version",
    "capture_file_path",  # the file's URL: wasb://… in one lake, a folder in the other
    "capture_file_modified_at",
)
TABLES = (
    "bronze/bronze_capture_events",
    "silver/silver_telemetry",
    "silver/silver_telemetry_quarantine",
    "gold/gold_device_metrics_5m",
    "gold/gold_site_metrics_1h",
)
# Landed one after another: the first is built on both lakes and compared; the second's build
# is killed with SIGKILL and rerun; the third's loses its storage and is rerun.
SLICES = (("2026-11-20T00:00", "30m"), ("2026-11-20T00:30", "10m"), ("2026-11-20T00:40", "10m"))


def _simulate(checkout: Path, url: str, start: str, duration: str) -> None:
    lakehouse(checkout, "--lake", url, "simulate", "--devices", "30", "--partitions", "2", "--start", start,
              "--duration", duration, "--seed", "11")  # fmt: skip


def _container(lake: Lake) -> ContainerClient:
    return BlobServiceClient.from_connection_string(connection_string(EMULATOR_PORT)).get_container_client(
        lake.location.container
    )


def _copy_capture_files(lake: Lake, to: Path) -> int:
    """Copy the lake's Capture blobs that `to` lacks into the local lake `to` (Blob API); how many."""
    client, start = _container(lake), lake.location.blob_name("capture") + "/"
    copied = 0
    for blob in client.list_blobs(name_starts_with=start):
        target = to / "capture" / blob.name[len(start) :]
        if not target.exists() and not (to / "_bad_capture_files" / blob.name[len(start) :]).exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.download_blob(blob.name).readall())
            copied += 1
    return copied


def _start_build(checkout: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli.main", "--lake", url, "dbt", "build"],
        cwd=checkout,
        env=cli_env(checkout),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until(process: subprocess.Popen[str], text: str, timeout: float = 600) -> str:
    """The process's output up to the line holding `text` (a dbt node starting), or fail."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (line := process.stdout.readline()):
        seen.append(line)
        if text in line:
            return "".join(seen)
    process.kill()
    raise AssertionError(f"{text!r} did not appear:\n{''.join(seen)[-3000:]}")


def _rows(spark: Any, url: str) -> list[tuple[Any, ...]]:
    """A table's rows but its run columns, sorted; read with Spark by URL."""
    frame = spark.read.format("delta").load(url)
    keep = [c for c in frame.columns if c not in RUN_COLUMNS]
    return sorted((tuple(r) for r in frame.select(*keep).collect()), key=repr)


@pytest.fixture
def wasb_spark(spark: Any) -> Any:
    """The tests' shared session (its own lake), reading `wasb://…@devstoreaccount1` tables by URL."""
    spark.sparkContext._jsc.hadoopConfiguration().set("fs.azure.storage.emulator.account.name", "devstoreaccount1")
    return spark


def test_a_lake_on_azurite_builds_what_a_local_lake_builds_and_survives_kills_and_outages(
    azurite_lake_server: Azurite, wasb_spark: Any, tmp_path: Path
) -> None:
    checkout = release(tmp_path / "checkout")
    before, before_tmp = files_under(checkout), files_under(tmp_path)
    lake = emulator_lake(f"e2e-{uuid.uuid4().hex[:12]}", checkout, "plant")
    url, local_lake = lake.root + "/", tmp_path / "local-lake"

    # Land through the Blob lander into the container; corrupt one file; copy the files to a local lake.
    _simulate(checkout, url, *SLICES[0])
    client, capture = _container(lake), lake.location.blob_name("capture") + "/"
    sizes = {b.name: b.size for b in client.list_blobs(name_starts_with=capture)}
    assert sizes, "simulate landed no Capture blob in the container"
    corrupt = sorted(name for name, size in sizes.items() if size > 2000)[3]
    whole = client.download_blob(corrupt).readall()
    client.upload_blob(corrupt, whole[: len(whole) // 2], overwrite=True)  # a truncated Capture file
    assert _copy_capture_files(lake, local_lake) == len(sizes)

    lakehouse(checkout, "--lake", url, "dbt", "build")
    lakehouse(checkout, "--lake", str(local_lake), "dbt", "build")

    # The corrupt blob is set aside in the container with its reason; its neighbours loaded.
    relative = corrupt[len(capture) :]
    names = set(blob_names(lake))
    assert f"capture/{relative}" not in names
    assert f"_bad_capture_files/{relative}" in names
    note = json.loads(
        client.download_blob(lake.location.blob_name(f"_bad_capture_files/{relative}.reason.json")).readall()
    )
    assert note, "the set-aside file has no reason"
    assert set(TABLES) <= delta_tables_in_storage(lake)
    # Nothing on this machine but the lake's local side (metastore, logs) and dbt's own files.
    assert _written_besides_the_lake(checkout, before, lake.local) == []
    outside = sorted(p for p in files_under(tmp_path) - before_tmp if not p.startswith(("checkout/", "local-lake/")))
    assert outside == [], outside
    for table in TABLES:
        assert _rows(wasb_spark, lake.table(*table.split("/"))) == _rows(wasb_spark, str(local_lake / table)), table

    # A second build with nothing new adds nothing; a replay of the slice adds nothing either.
    bronze = _rows(wasb_spark, lake.table("bronze", "bronze_capture_events"))
    gold = _rows(wasb_spark, lake.table("gold", "gold_device_metrics_5m"))
    lakehouse(checkout, "--lake", url, "dbt", "build")
    lakehouse(
        checkout, "--lake", url, "load-bronze", "--replay-from", "2026-11-20T00:00", "--replay-to", "2026-11-20T00:30"
    )
    assert _rows(wasb_spark, lake.table("bronze", "bronze_capture_events")) == bronze
    assert _rows(wasb_spark, lake.table("gold", "gold_device_metrics_5m")) == gold

    # SIGKILL in the middle of a build (dbt at silver), then a rerun.
    _simulate(checkout, url, *SLICES[1])
    build = _start_build(checkout, url)
    _read_until(build, "silver_telemetry")
    time.sleep(3)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait(timeout=60)
    lakehouse(checkout, "--lake", url, "dbt", "build")

    # Azurite stopped in the middle of a build: a clear error naming the storage; a rerun once it is back.
    _simulate(checkout, url, *SLICES[2])
    build = _start_build(checkout, url)
    try:
        _read_until(build, "silver_telemetry")
        azurite_lake_server.stop()
        output = build.communicate(timeout=900)[0]
    finally:
        azurite_lake_server.ensure_running()
    assert build.returncode != 0, output[-3000:]
    assert "127.0.0.1:10000" in output or "devstoreaccount1" in output, output[-3000:]
    lakehouse(checkout, "--lake", url, "dbt", "build")

    # The local lake gets the same two slices and one build: the two lakes are equal again.
    assert _copy_capture_files(lake, local_lake) > 0
    lakehouse(checkout, "--lake", str(local_lake), "dbt", "build")
    for table in TABLES:
        assert _rows(wasb_spark, lake.table(*table.split("/"))) == _rows(wasb_spark, str(local_lake / table)), table
