"""One build of the lake: load new Capture files into bronze, then `dbt build`.

The dbt run is told which bronze load is this run's first (`run_first_load_id`), so
its data tests check this run's rows; `full_check=True` (or `--vars '{full_check:
true}'` among the dbt arguments) checks whole tables, and its bronze load first
compares the whole Capture tree with bronze's file manifest (a full sweep). The
device registry seed and its snapshot are left out when their files have not
changed since the last successful build (dbt would otherwise reload the seed and
re-run the snapshot on every build).

A whole build (`dbt build`, at most with `--vars`) is skipped when there is nothing
for it to do: bronze's newest load id is the one the last successful whole build
started from, and the project's files, the vars, dbt's version and the reference data
are those it was built with. That record (`_state/dbt_build.json`, through the lake's
storage seam) is written only after dbt succeeded, and every dbt command that may
write a table removes it before it starts (dbt_runner), so a build that failed, or
died between bronze and dbt, is never taken for done. A full check always builds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import yaml

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.pipeline.bronze_load import BronzeLoader, BronzeLoadReport, latest_load_id
from lakehouse.pipeline.dbt_runner import BUILD_STATE, run_dbt
from lakehouse.pipeline.run_log import RunLog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

REFERENCE_FILES = ("seeds", "snapshots")
# What a build's result depends on besides the data (dbt_project.yml's paths).
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests/dbt", *REFERENCE_FILES)
DBT_PACKAGES = ("dbt-core", "dbt-spark")
REFERENCE_TABLE = "reference.device_registry"
REFERENCE_STATE = Lake.state_key("reference_data.json")  # the digest of the last build that loaded them


@dataclass
class BuildReport:
    bronze: BronzeLoadReport
    seconds: dict[str, float] = field(default_factory=dict)
    reference_data_reloaded: bool = True
    dbt_skipped: str | None = None  # why `dbt build` did not run (nothing new), when it did not

    def lines(self, lake: Lake) -> list[str]:
        """Bronze's lines, and whether dbt was skipped."""
        return [*self.bronze.lines(lake), *([f"dbt build skipped: {self.dbt_skipped}"] if self.dbt_skipped else [])]


def reference_data_digest() -> str:
    """A digest of the seed and snapshot files (CSV and YAML)."""
    digest = hashlib.sha256()
    for folder in REFERENCE_FILES:
        for path in sorted((PROJECT_DIR / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build_signature(args: Sequence[str]) -> str:
    """A digest of what a whole build's result depends on besides bronze: the dbt
    project's files, the versions of dbt, and the build's arguments (its vars)."""
    digest = hashlib.sha256()
    for name in PROJECT_FILES:
        top = PROJECT_DIR / name
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if path.is_file():
                digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    for package in DBT_PACKAGES:
        try:
            digest.update(f"{package}=={version(package)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{package} missing\0".encode())
    digest.update(json.dumps(list(args)).encode())
    return digest.hexdigest()


def _whole_build(args: Sequence[str]) -> bool:
    """`build`, with no other argument than `--vars`: a build of every node."""
    if not args or args[0] != "build":
        return False
    rest = list(args[1:])
    while rest[:1] == ["--vars"] and len(rest) >= 2:
        rest = rest[2:]
    return not rest


def _last_build(lake: Lake) -> dict[str, Any]:
    """What the last successful whole build recorded (empty when none did since the
    last dbt command that may have written tables)."""
    state = lake.files.read_json(BUILD_STATE)
    return state if isinstance(state, dict) else {}


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
    report.seconds.update({f"bronze: {step}": seconds for step, seconds in bronze.seconds.items()})
    t1 = time.monotonic()
    skip = _reference_data_current(lake, spark)
    report.reference_data_reloaded = not skip
    whole = _whole_build(dbt_args) and not full_check
    signature = build_signature(dbt_args) if whole else ""
    # Read before dbt runs: the newest load this build's models will have processed.
    latest = bronze.load_id if bronze.load_id is not None else latest_load_id(spark)
    last = _last_build(lake)
    if whole and skip and last.get("bronze_load_id") == latest and last.get("signature") == signature:
        report.dbt_skipped = (
            f"nothing new: the last build processed bronze up to load {latest}, "
            "with the same project files, vars and reference data"
        )
        report.seconds["nothing-new check"] = time.monotonic() - t1
        log.info("dbt build skipped: %s", report.dbt_skipped)
        return report
    t1 = time.monotonic()
    exclude = [
        *(["resource_type:seed", "resource_type:snapshot"] if skip else []),
        *([] if unit_tests else ["resource_type:unit_test"]),
    ]
    first_load_id = bronze.load_id
    built = last.get("bronze_load_id")
    if isinstance(built, int) and latest is not None and built < latest:
        # Loads since the last build that no build has run on (one died after bronze): checked too.
        first_load_id = built + 1
    run_dbt(
        dbt_build_args(dbt_args, first_load_id=first_load_id, full_check=full_check, exclude=exclude),
        lake,
        target_path=target_path,
    )
    report.seconds["dbt build"] = time.monotonic() - t1
    if not skip and not _selects(dbt_args):
        lake.files.write_json(REFERENCE_STATE, {"digest": reference_data_digest()})
    if whole:  # only now: every model has processed bronze up to `latest`
        lake.files.write_json(BUILD_STATE, {"bronze_load_id": latest, "signature": signature})
    return report
