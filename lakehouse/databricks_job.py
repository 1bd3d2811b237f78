"""The Databricks job's Python tasks (`databricks.yml`: `load_bronze`, `cosmos_sync`,
`reconcile_bronze`): the wheel's `lakehouse-job` entry point.

    lakehouse-job --lake abfss://lake@<account>.dfs.core.windows.net/ load-bronze --source cloudFiles
    lakehouse-job --lake abfss://lake@<account>.dfs.core.windows.net/ load-bronze --full-sweep --source binaryFile
    lakehouse-job --lake abfss://lake@<account>.dfs.core.windows.net/ cosmos-sync

The same code as `lakehouse load-bronze` and `lakehouse serve cosmos-sync` on a laptop
(`BronzeLoader`, `sync_gold_to_cosmos`), with what a job task needs around it:

- the lake is resolved once, here: `--lake`, else `$LAKEHOUSE_ROOT` (the bundle sets
  both to `${var.lake_url}`); a URL stays a URL (`Lake.at`), and there is no default
  lake (a wheel installed on a cluster has no repository to hold `./lake`);
- the lake's local side (logs; the metastore is Unity Catalog's) is `--local-dir`, else
  `$LAKEHOUSE_LOCAL_DIR`, else, on Databricks, a folder under the driver's temp folder
  (the wheel's own folder is site-packages);
- on Databricks the task uses the cluster's own Spark session
  (`Settings.on_databricks`): its access to the lake is the Unity Catalog
  external location over the lake container, so no storage setting is made here;
- `--source` defaults to `$LAKEHOUSE_BRONZE_SOURCE` (the job cluster sets `cloudFiles`:
  Auto Loader, its checkpoint at `lake.checkpoint("bronze_capture_files")`, a URL
  under the lake root).

`resolve()` parses the arguments into a `JobTask` without starting Spark (the bundle
test calls it); `main()` runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.cli.console import bronze_lines, sync_lines
from lakehouse.paths import LAKE_ROOT_ENV, LOCAL_DIR_ENV, Lake
from lakehouse.settings import Settings
from lakehouse.storage.credentials import StorageCredentials
from lakehouse.storage.location import LakeLocationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENTRY_POINT = "lakehouse-job"
SOURCE_ENV = "LAKEHOUSE_BRONZE_SOURCE"
SOURCE_FORMATS = ("binaryFile", "cloudFiles")


class JobUsageError(ValueError):
    """The task's arguments or environment do not name a usable lake or command."""


@dataclass(frozen=True)
class JobTask:
    """One task run: the command (`load-bronze`, `cosmos-sync`), the lake, its options."""

    command: str
    lake: Lake
    source_format: str = "binaryFile"
    full_sweep: bool = False
    concurrency: int = 16
    full: bool = False
    lock_timeout: float = 600.0


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The entry point's arguments; defaults that come from the environment read `env`."""
    root = argparse.ArgumentParser(
        prog=ENTRY_POINT, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root.add_argument(
        "--lake", help=f"the lake root: a folder or an abfss:// / wasb[s]:// URL (default: ${LAKE_ROOT_ENV})"
    )
    root.add_argument(
        "--local-dir", type=Path, help=f"this machine's side of a remote lake (default: ${LOCAL_DIR_ENV})"
    )
    commands = root.add_subparsers(dest="command", required=True)
    bronze = commands.add_parser("load-bronze", help="new Capture files into bronze (lakehouse load-bronze)")
    bronze.add_argument(
        "--source",
        dest="source_format",
        choices=SOURCE_FORMATS,
        default=env.get(SOURCE_ENV) or "binaryFile",
        help=f"cloudFiles: Auto Loader first (default: ${SOURCE_ENV}, else binaryFile)",
    )
    bronze.add_argument("--full-sweep", action="store_true", help="compare the whole Capture tree with bronze")
    cosmos = commands.add_parser("cosmos-sync", help="gold's change feed into Cosmos DB (lakehouse serve cosmos-sync)")
    cosmos.add_argument("--concurrency", type=int, default=16, help="parallel Cosmos requests (1..256)")
    cosmos.add_argument("--full", action="store_true", help="reload every container from its table's snapshot")
    cosmos.add_argument("--lock-timeout", type=float, default=600.0, help="seconds to wait for another sync")
    return root


def resolve_lake(url: str | None, env: Mapping[str, str], local_dir: Path | None = None) -> Lake:
    """The task's lake: `url`, else `$LAKEHOUSE_ROOT`; never a default folder."""
    root = (url or env.get(LAKE_ROOT_ENV, "")).strip()
    if not root:
        raise JobUsageError(f"no lake: give --lake <url> or set {LAKE_ROOT_ENV} (databricks.yml sets both)")
    if not local_dir and env.get(LOCAL_DIR_ENV):
        local_dir = Path(env[LOCAL_DIR_ENV])
    try:
        lake = Lake.at(root, credentials=StorageCredentials.from_env(env), settings=Settings.from_environment(env))
    except LakeLocationError as exc:
        raise JobUsageError(str(exc)) from exc
    if lake.is_local:
        return lake
    if local_dir is None and lake.settings.on_databricks:
        local_dir = Path(tempfile.gettempdir()) / "lakehouse" / lake.location.slug()
    return Lake.at(root, local=local_dir, credentials=lake.credentials, settings=lake.settings) if local_dir else lake


def resolve(argv: Sequence[str], env: Mapping[str, str] | None = None) -> JobTask:
    """The task `argv` names, on its lake: parsing only, no Spark, no storage request."""
    env = os.environ if env is None else env
    args = parser(env).parse_args(list(argv))
    lake = resolve_lake(args.lake, env, args.local_dir)
    if args.command == "load-bronze":
        return JobTask("load-bronze", lake, source_format=args.source_format, full_sweep=args.full_sweep)
    if not 1 <= args.concurrency <= 256:
        raise JobUsageError("--concurrency must be between 1 and 256")
    return JobTask("cosmos-sync", lake, concurrency=args.concurrency, full=args.full, lock_timeout=args.lock_timeout)


def job_session(lake: Lake) -> SparkSession:
    """The task's Spark session: on Databricks the cluster's own (its Unity Catalog
    metastore and its access to the lake), elsewhere the lake's session as the CLI's."""
    if lake.settings.on_databricks:
        from pyspark.sql import SparkSession

        return SparkSession.builder.getOrCreate()
    from lakehouse.spark.session import spark_session

    return spark_session(lake)


def run(task: JobTask) -> list[str]:
    """Run the task; returns the lines to print."""
    if task.command == "load-bronze":
        from lakehouse.pipeline.bronze_load import BronzeLoader
        from lakehouse.spark.metastore_lock import lake_lock

        with lake_lock(task.lake):  # nothing on Databricks (its metastore is shared)
            loader = BronzeLoader(job_session(task.lake), task.lake)
            report = loader.load_new_files(full_sweep=task.full_sweep, source_format=task.source_format)
        return bronze_lines(report, task.lake)
    from lakehouse.serving.cosmos.sync import sync_gold_to_cosmos

    sync = sync_gold_to_cosmos(
        task.lake, concurrency=task.concurrency, full=task.full, lock_timeout_s=task.lock_timeout
    )
    return sync_lines(sync)


def main(argv: Sequence[str] | None = None) -> None:
    from lakehouse.serving.cosmos.connection import CosmosNotConfigured
    from lakehouse.serving.cosmos.sync import CosmosSyncFailed

    try:
        task = resolve(sys.argv[1:] if argv is None else argv)
    except JobUsageError as exc:
        print(f"{ENTRY_POINT}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    print(f"{ENTRY_POINT} {task.command} on the lake at {task.lake.root} ({task.lake.credentials.kind})", flush=True)
    try:
        lines = run(task)
    except CosmosNotConfigured as exc:
        print(f"{ENTRY_POINT}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    except CosmosSyncFailed as exc:
        for line in sync_lines(exc.report) if exc.report.containers else []:
            print(line)
        print(f"{ENTRY_POINT}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
