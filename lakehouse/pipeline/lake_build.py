"""One build of the lake: load new Capture files into bronze, then `dbt build`.

The dbt run is told which bronze load is this run's first (`run_first_load_id`), so
its data tests check this run's rows; `full_check=True` (or `--vars '{full_check:
true}'` among the dbt arguments) checks whole tables, and its bronze load first
compares the whole Capture tree with bronze's file manifest (a full sweep). The
device registry seed and its snapshot are left out when their files have not
changed since the last successful build (dbt would otherwise reload the seed and
re-run the snapshot on every build).

The project is parsed once per build, with the caller's own vars only (not this run's
`run_first_load_id`), so dbt's partial parsing holds from one build to the next; the
build runs on that manifest. A build that selects nodes loads bronze only when a
selected node reads it (a bronze source table): rebuilding a gold model after an edit
does not load Capture files its selection would not carry past bronze.

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

import click
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
    bronze_loaded: bool = True
    dbt_skipped: str | None = None  # why `dbt build` did not run (nothing new), when it did not


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
    the caller selects nodes itself, `exclude` left out too (added to the caller's own
    --exclude, which would otherwise replace it)."""
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
    if exclude and not _selects(args):
        args = [part for arg in args for part in (arg.split("=", 1) if arg.startswith("--exclude=") else [arg])]
        if "--exclude" in args:
            at = args.index("--exclude") + 1
            args[at:at] = exclude
        else:
            args += ["--exclude", *exclude]
    return args


def full_check_requested(args: Sequence[str]) -> bool:
    """Whether dbt's `--vars` among `args` set `full_check` true."""
    if "--vars" not in args or args.index("--vars") + 1 >= len(args):
        return False
    given = yaml.safe_load(args[args.index("--vars") + 1])
    return isinstance(given, dict) and given.get("full_check") is True


def _selects(args: Sequence[str]) -> bool:
    return any(a.split("=")[0] in ("--select", "-s", "--selector", "-m", "--models") for a in args)


def _excludes(args: Sequence[str]) -> bool:
    return any(a.split("=")[0] == "--exclude" for a in args)


def options_for(command: str, args: Sequence[str]) -> list[str]:
    """The options among `args` (dbt build's, after the command name) that `dbt <command>`
    takes too, with their values (`parse` gets the vars and the target, `ls` the selection)."""
    from dbt.cli.main import cli

    def by_name(name: str) -> dict[str, click.Parameter]:
        return {opt: p for p in cli.commands[name].params for opt in p.opts}

    given, wanted = by_name("build"), by_name(command)
    kept: list[str] = []
    keep = False
    takes = 0  # how many more values the current option takes (-1: any number)
    for arg in args:
        if arg.startswith("-") and arg.split("=")[0] in given:
            option = given[arg.split("=")[0]]
            keep = arg.split("=")[0] in wanted
            flag = isinstance(option, click.Option) and (option.is_flag or option.count)
            takes = 0 if flag or "=" in arg else (-1 if option.nargs == -1 or getattr(option, "multiple", False) else 1)
        elif takes == 0:
            keep = True  # a positional argument
        else:
            takes -= 1
        if keep:
            kept.append(arg)
    return kept


def parse_project(lake: Lake, args: Sequence[str], *, target_path: str | None = None) -> object:
    """`dbt parse` with the vars and target among `args` (the manifest dbt returns)."""
    return run_dbt(["parse", *options_for("parse", args[1:])], lake, target_path=target_path)


def reads_bronze(lake: Lake, args: Sequence[str], manifest: Any, *, target_path: str | None = None) -> bool:
    """Whether `dbt <args>` runs a node that reads a bronze source table (always, unless
    it selects nodes): a model that reads it, or a test of bronze itself (not the tests
    that read bronze's largest load id for their run scope). Only then does loading new
    Capture files first change what it builds."""
    if not _selects(args):
        return True
    bronze = {uid for uid, source in manifest.sources.items() if source.source_name == "bronze"}
    listed = run_dbt(
        ["ls", *options_for("list", args[1:]), "--log-level", "none", "--output", "json", "--output-keys", "unique_id"],
        lake,
        target_path=target_path,
        manifest=manifest,
    )
    selected = {json.loads(line)["unique_id"] for line in listed}  # type: ignore[attr-defined]

    def reads(node: Any) -> bool:
        needs = set(getattr(node.depends_on, "nodes", ()))  # a seed depends on macros only
        if node.resource_type == "test":  # a test of bronze itself; others read it only for the run's scope
            return bool(needs) and needs <= bronze
        return bool(needs & bronze)

    # A selection of no node (`--select bronze_capture_events`: the source is not a node) is a bronze load alone.
    return (
        not selected
        or bool(selected & bronze)
        or any(reads(manifest.nodes[uid]) for uid in selected if uid in manifest.nodes)
    )


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
    from lakehouse.profile import embedded_metastore
    from lakehouse.spark.session import spark_session

    full_check = full_check or full_check_requested(dbt_args)
    seconds: dict[str, float] = {}
    manifest: object | None = None
    if _selects(dbt_args):  # only a selection needs the manifest to know whether it reads bronze
        t0 = time.monotonic()
        manifest = parse_project(lake, dbt_args, target_path=target_path)
        seconds["dbt parse"] = time.monotonic() - t0
        load_bronze = reads_bronze(lake, dbt_args, manifest, target_path=target_path)
    else:
        load_bronze = True
    skip = False
    bronze = BronzeLoadReport()
    spark: SparkSession | None = None
    # The local target's session is dbt's own too; on the engine, a build that loads no
    # bronze needs no Spark application of its own (dbt talks to the Thrift server).
    if load_bronze or embedded_metastore(lake.settings):
        spark = spark_session(lake)
        RunLog(spark, lake).ensure()  # a dbt source, tested by every build
        t0 = time.monotonic()
        if load_bronze:
            bronze = BronzeLoader(spark, lake, loaded_at=loaded_at).load_new_files(full_sweep=full_check)
            seconds.update({f"bronze: {step}": s for step, s in bronze.seconds.items()})
        seconds["bronze"] = time.monotonic() - t0
        skip = _reference_data_current(lake, spark)
    report = BuildReport(bronze, seconds, reference_data_reloaded=not skip, bronze_loaded=load_bronze)
    t1 = time.monotonic()
    whole = spark is not None and _whole_build(dbt_args) and not full_check
    signature, latest, first_load_id = "", None, bronze.load_id
    if whole and spark is not None:
        signature = build_signature(dbt_args)
        # Read before dbt runs: the newest load this build's models will have processed.
        latest = bronze.load_id if bronze.load_id is not None else latest_load_id(spark)
        last = _last_build(lake)
        if skip and last.get("bronze_load_id") == latest and last.get("signature") == signature:
            report.dbt_skipped = (
                f"nothing new: the last build processed bronze up to load {latest}, "
                "with the same project files, vars and reference data"
            )
            report.seconds["nothing-new check"] = time.monotonic() - t1
            log.info("dbt build skipped: %s", report.dbt_skipped)
            return report
        built = last.get("bronze_load_id")
        if isinstance(built, int) and latest is not None and built < latest:
            # Loads since the last build that no build has run on (one died after bronze): checked too.
            first_load_id = built + 1
    if manifest is None:
        t0 = time.monotonic()
        manifest = parse_project(lake, dbt_args, target_path=target_path)
        report.seconds["dbt parse"] = time.monotonic() - t0
    t1 = time.monotonic()
    exclude = [
        *(["resource_type:seed", "resource_type:snapshot"] if skip else []),
        *([] if unit_tests else ["resource_type:unit_test"]),
    ]
    run_dbt(
        dbt_build_args(dbt_args, first_load_id=first_load_id, full_check=full_check, exclude=exclude),
        lake,
        target_path=target_path,
        manifest=manifest,
    )
    report.seconds["dbt build"] = time.monotonic() - t1
    if not skip and not _selects(dbt_args) and not _excludes(dbt_args):
        lake.files.write_json(REFERENCE_STATE, {"digest": reference_data_digest()})
    if whole:  # only now: every model has processed bronze up to `latest`
        lake.files.write_json(BUILD_STATE, {"bronze_load_id": latest, "signature": signature})
    return report
