"""One build of the lake: load new Capture files into bronze, then `dbt build`.

The dbt run is told which bronze load is this run's first (`run_first_load_id`), so
its data tests check this run's rows; `full_check=True` (or `--vars '{full_check:
true}'` among the dbt arguments) checks whole tables, and its bronze load first
compares the whole Capture tree with bronze's file manifest (a full sweep). The
device registry seed and its snapshot are left out when their files have not
changed since the last successful build (dbt would otherwise reload the seed and
re-run the snapshot on every build).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import yaml

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.pipeline.bronze_load import BronzeLoader, BronzeLoadReport
from lakehouse.pipeline.dbt_runner import run_dbt
from lakehouse.pipeline.run_log import RunLog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REFERENCE_FILES = ("seeds", "snapshots")
REFERENCE_TABLE = "reference.device_registry"
REFERENCE_STATE = Lake.state_key("reference_data.json")  # the digest of the last build that loaded them


@dataclass
class BuildReport:
    bronze: BronzeLoadReport
    seconds: dict[str, float] = field(default_factory=dict)
    reference_data_reloaded: bool = True


def reference_data_digest() -> str:
    """A digest of the seed and snapshot files (CSV and YAML)."""
    digest = hashlib.sha256()
    for folder in REFERENCE_FILES:
        for path in sorted((PROJECT_DIR / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _reference_data_current(lake: Lake, spark: SparkSession) -> bool:
    state = lake.files.read_json(REFERENCE_STATE)
    if not isinstance(state, dict) or not spark.catalog.tableExists(REFERENCE_TABLE):
        return False
    return bool(state.get("digest") == reference_data_digest())


def dbt_build_args(
    args: Sequence[str], *, first_load_id: int | None, full_check: bool, exclude: Sequence[str] = ()
) -> list[str]:
    """`args` with this run's vars added (merged into any --vars given) and, unless
    the caller selects or excludes nodes itself, `exclude` left out."""
    args = list(args)
    extra: dict[str, object] = {}
    if first_load_id is not None:
        extra["run_first_load_id"] = first_load_id
    if full_check:
        extra["full_check"] = True
    if extra:
        if "--vars" in args:
            at = args.index("--vars") + 1
            args[at] = json.dumps({**(yaml.safe_load(args[at]) or {}), **extra})
        else:
            args += ["--vars", json.dumps(extra)]
    if exclude and "--exclude" not in args and not _selects(args):
        args += ["--exclude", *exclude]
    return args


def full_check_requested(args: Sequence[str]) -> bool:
    """Whether dbt's `--vars` among `args` set `full_check` true."""
    if "--vars" not in args or args.index("--vars") + 1 >= len(args):
        return False
    given = yaml.safe_load(args[args.index("--vars") + 1])
    return isinstance(given, dict) and given.get("full_check") is True


def _selects(args: Sequence[str]) -> bool:
    return any(a in ("--select", "-s", "--selector", "-m", "--models") for a in args)


def build_lake(
    lake: Lake,
    dbt_args: Sequence[str] = ("build",),
    *,
    full_check: bool = False,
    unit_tests: bool = True,
    loaded_at: datetime | None = None,
    target_path: str | None = None,
) -> BuildReport:
    """Load new Capture files into bronze, then run `dbt <dbt_args>` on the lake.
    A full check sweeps the whole Capture tree first. `unit_tests=False` leaves dbt's
    unit tests out (they test the SQL, not the data: the continuous runner skips them)."""
    from lakehouse.spark.session import spark_session

    spark = spark_session(lake)
    RunLog(spark, lake).ensure()  # a dbt source, tested by every build
    t0 = time.monotonic()
    full_check = full_check or full_check_requested(dbt_args)
    bronze = BronzeLoader(spark, lake, loaded_at=loaded_at).load_new_files(full_sweep=full_check)
    report = BuildReport(bronze, {"bronze": time.monotonic() - t0})
    skip = _reference_data_current(lake, spark)
    report.reference_data_reloaded = not skip
    t1 = time.monotonic()
    exclude = [
        *(["resource_type:seed", "resource_type:snapshot"] if skip else []),
        *([] if unit_tests else ["resource_type:unit_test"]),
    ]
    run_dbt(
        dbt_build_args(dbt_args, first_load_id=bronze.load_id, full_check=full_check, exclude=exclude),
        lake,
        target_path=target_path,
    )
    report.seconds["dbt build"] = time.monotonic() - t1
    if not skip and not _selects(dbt_args):
        lake.files.write_json(REFERENCE_STATE, {"digest": reference_data_digest()})
    return report
