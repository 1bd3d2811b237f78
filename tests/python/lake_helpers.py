"""Helpers for tests that land data into the shared test lake and read tables back."""

from __future__ import annotations

import csv
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from lakehouse.ingestion.capture.lander import CaptureSettings, LandingReport, landed_records
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.landing import land_simulation as land
from lakehouse.ingestion.sources.simulator import FaultRates, Simulation, SimulatorConfig
from lakehouse.paths import PROJECT_DIR, Lake

# Every kind of fault at once, at rates a small test lake still reconciles by hand.
FAULTS = FaultRates(
    duplicate=0.03,
    out_of_order=0.03,
    late=0.02,
    malformed_json=0.01,
    missing_field=0.01,
    wrong_type=0.01,
    out_of_range=0.01,
    extra_fields=0.03,
)


def land_simulation(
    lake: Lake,
    *,
    hub: str,
    start: datetime,
    duration: timedelta,
    devices: int = 20,
    faults: FaultRates | None = None,
    seed: int = 7,
    partitions: int = 2,
) -> tuple[Simulation, LandingReport]:
    config = SimulatorConfig(
        start=start,
        duration=duration,
        devices=devices,
        seed=seed,
        faults=faults if faults is not None else FaultRates.none(),
    )
    settings = CaptureSettings(event_hub=hub, partitions=partitions, window_seconds=300, write_empty_files=True)
    landed = land(LocalCaptureStore(Path(lake.capture)), config, settings)
    return landed.simulation, landed.report


def capture_records(lake: Lake, hub: str) -> list[tuple[str, dict]]:
    """Every record of the hub's Capture files, read with fastavro (not Spark)."""
    return list(landed_records(LocalCaptureStore(Path(lake.capture)), f"telemetry-ns/{hub}/"))


def bronze_keys(spark: object, hub: str) -> list[tuple[int, int]]:
    rows = spark.sql(  # type: ignore[attr-defined]
        f"select partition_id, sequence_number from bronze.bronze_capture_events where event_hub = '{hub}'"
    ).collect()
    return sorted((r.partition_id, r.sequence_number) for r in rows)


def seed_registry() -> dict[str, str]:
    """device_id -> site_id, read from the registry seed's CSV itself."""
    with open(PROJECT_DIR / "seeds" / "device_registry.csv") as handle:
        return {row["device_id"]: row["site_id"] for row in csv.DictReader(handle)}


# A deployment of the project: the package and what it reads beside it (PROJECT_DIR is the
# folder above the package: the dbt project, its profiles, conf/log4j2.properties). Not the
# lake, the virtualenv, node_modules or dbt's target folder.
RELEASE = (
    "lakehouse",
    "conf",
    "dbt_project.yml",
    "profiles.yml",
    "profiles.example.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "analyses",
    "tests/dbt",
)


def release(to: Path) -> Path:
    """A copy of this checkout's project at `to` (its default lake is `to/lake`)."""
    for name in RELEASE:
        source, target = PROJECT_DIR / name, to / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return to


def cli_env(checkout: Path = PROJECT_DIR) -> dict[str, str]:
    """The environment of a `lakehouse` process as a user starts it: the machine's, with
    none of the project's variables (no LAKEHOUSE_ROOT: the lake comes from --lake or the
    default), running `checkout`'s package, its driver small enough for the test machine."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "DBT_"))}
    return {**clean, "PYTHONPATH": str(checkout), "PYTHONUNBUFFERED": "1", "LAKEHOUSE_SPARK_DRIVER_MEMORY": "1g"}


# --------------------------------------------------------------------------- a lake on Azurite


def lakehouse(checkout: Path, *args: str, timeout: float = 900) -> str:
    """`lakehouse <args>` run from `checkout` with its code, as a user starts it (`cli_env`);
    its output. Fails the test, with the output's end, when it exits non-zero."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli.main", *args],
        cwd=checkout,
        env=cli_env(checkout),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"`lakehouse {' '.join(args)}` exited {done.returncode}:\n{output[-4000:]}"
    return output


def emulator_lake(container: str, checkout: Path = PROJECT_DIR, path: str = "") -> Lake:
    """The lake at `wasb://<container>@devstoreaccount1/<path>` as the `lakehouse` of
    `checkout` sees it: its local side (metastore, logs) in `<checkout>/.lakes/<slug>`."""
    from lakehouse.storage.location import LakeLocation

    url = f"wasb://{container}@devstoreaccount1/{path}".rstrip("/")
    return Lake.at(url, local=checkout / ".lakes" / LakeLocation.parse(url).slug())


def blob_names(lake: Lake) -> list[str]:
    """Every blob under the lake's root (Blob API, keys relative to the root, hidden ones included)."""
    from lakehouse.storage.files import container_client

    client = container_client(lake.location, lake.credentials)
    if not client.exists():
        return []
    start = lake.location.blob_name("")
    return sorted(b.name[len(start) :].lstrip("/") for b in client.list_blobs(name_starts_with=start or None))


def delta_tables_in_storage(lake: Lake) -> set[str]:
    """`<layer>/<table>` of every folder in the lake's storage holding a `_delta_log/` commit."""
    return {
        "/".join(name.split("/")[:2])
        for name in blob_names(lake)
        if name.count("/") >= 3 and name.split("/")[2] == "_delta_log" and name.endswith(".json")
    }


def files_under(root: Path) -> set[str]:
    """Every file under `root`, relative (to compare what a command wrote)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
