"""What the console shows: the project's own log lines, one per step; Spark's, py4j's,
Ivy's and the Azure SDKs' only with --verbose (never a secret, nor a request's query
string: `redaction`); no colour codes unless on a terminal. And the lines the commands
print for the reports of the layers below, which return data, not text."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.ingestion.azure.redaction import install_log_filters
from lakehouse.settings import VERBOSE_ENV

if TYPE_CHECKING:
    from lakehouse.paths import Lake
    from lakehouse.pipeline.bronze_load import BronzeLoadReport
    from lakehouse.pipeline.lake_build import BuildReport
    from lakehouse.serving.cosmos.sync import ContainerReport, SyncReport
    from lakehouse.serving.gold import GoldServed

# Libraries that log every request, connection or JVM call at INFO.
CHATTY_LOGGERS = ("py4j", "azure", "urllib3", "pyspark")


def configure_console(*, verbose: bool) -> None:
    install_log_filters()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(message)s" if not verbose else "%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    if not sys.stdout.isatty():
        os.environ.setdefault("DBT_USE_COLORS", "false")  # dbt writes ANSI colours otherwise


# --------------------------------------------------------------------------- what the commands print


def bronze_lines(report: BronzeLoadReport, lake: Lake) -> list[str]:
    """A bronze load: the summary line, each file set aside this run, and what a full sweep
    found still set aside, with the command that loads it once repaired."""
    bad = f", {len(report.bad_files)} bad files set aside" if report.bad_files else ""
    listed = "the whole Capture tree" if report.full_sweep else "recent hour folders"
    lines = [
        f"bronze ({listed}): {report.files:,} new Capture files, {report.records:,} records, "
        f"{report.rows_added:,} rows added "
        f"(load {report.load_id if report.load_id is not None else '-'}), "
        f"{report.duplicate_keys:,} duplicate keys skipped{bad}",
        *(f"  set aside: {file.path}: {file.problem}" for file in report.bad_files),
    ]
    if report.still_set_aside:
        from lakehouse.pipeline.bronze_load import still_set_aside_message

        lines.append(still_set_aside_message(lake, len(report.still_set_aside)))
        lines += [f"  not loaded: {path}: {reason}" for path, reason in report.still_set_aside.items()]
    return lines


def build_lines(report: BuildReport, lake: Lake) -> list[str]:
    """A build: bronze's lines (or why it loaded nothing), and whether dbt was skipped."""
    lines = (
        bronze_lines(report.bronze, lake)
        if report.bronze_loaded
        else ["bronze: not loaded (no selected node reads it; a build of its readers or `lakehouse load-bronze` does)"]
    )
    return [*lines, *([f"dbt build skipped: {report.dbt_skipped}"] if report.dbt_skipped else [])]


def _container_line(container: ContainerReport) -> str:
    if container.mode == "not built":
        return f"  {container.container:<28} not built yet (no Delta table), skipped"
    if container.from_version is None:
        versions = f"v{container.to_version}"
    else:
        versions = f"v{container.from_version}..v{container.to_version}"
    writes = container.writes
    return (
        f"  {container.container:<28} {container.mode:<11} {versions:<10} {writes.upserted:>9,} upserted "
        f"{writes.deleted + writes.already_absent:>7,} deleted"
        + (f" {writes.rejected:>5,} dead-lettered" if writes.rejected else "")
        + (f"  ({container.reason})" if container.reason else "")
    )


def sync_lines(report: SyncReport) -> list[str]:
    """A Cosmos DB sync: the target, a line per container, the totals, the items set aside."""
    lines = [
        f"Cosmos DB {report.endpoint} database {report.database}:",
        *(_container_line(c) for c in report.containers),
        f"{report.items:,} items in {report.seconds:.1f} s ({report.items_per_second:,.0f} items/s while writing), "
        f"{report.request_charge:,.1f} RU"
        + (f", {report.throttled:,} throttled responses retried" if report.throttled else ""),
    ]
    if report.dead_lettered:
        lines.append(
            f"WARNING: {report.dead_lettered:,} items were refused by Cosmos DB and set aside with the reason in "
            f"{report.dead_letter_file}"
        )
    return lines


def served_lines(served: GoldServed, target: Path) -> list[str]:
    """Gold served after the demo's build: the Synapse views' files, the Cosmos DB sync."""
    if served.synapse_not_written is None:
        lines = [
            f"synapse serverless views: {len(served.synapse_files)} SQL files in {target.name}/synapse/ "
            "(publish with: bin/lakehouse serve synapse-views --publish)"
        ]
    else:
        lines = [f"synapse serverless views: not written: {served.synapse_not_written}"]
    if served.cosmos is None:
        lines.append(
            "cosmos db: not configured, skipped. Set COSMOS_ENDPOINT (and COSMOS_KEY, or use "
            "DefaultAzureCredential) to sync gold. Locally, the Cosmos DB emulator works, or the "
            "SQL-API test server in tests/python/serving/cosmos_test_server.py (COSMOS_CA_CERT for its cert)."
        )
    else:
        lines += sync_lines(served.cosmos)
    return lines
