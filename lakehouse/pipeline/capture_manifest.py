"""Bronze's own record of the Capture files it has processed: `bronze.bronze_capture_files`.

One row per file each time bronze processes it: its path relative to `capture/`, its
size, its record count, and the outcome, `loaded` (its records were merged; those
bronze already held were skipped), `empty` (a valid file with no records) or
`set_aside` (moved to `_bad_capture_files/`, with the reason). A listed file is new
unless a `loaded` or `empty` row has its path and size: its modification time never
counts, so a file restored with old times, or put back at a path bronze saw before
(a repaired file, a different size, or one that was set aside), is new again.

The loader appends a file's row after the merge of its records has committed (a
crash in between only processes the file again: the merge is insert-only on the
record key) and a bad file's row before it moves the file (a crash in between leaves
the file in the tree, where the next run finds it again). The table is partitioned by
the day of the file's hour folder, so a load reads only the rows of the days it lists.

A lake bronze loaded before the manifest existed gets it derived once, on first use:
every `capture_file_path` bronze holds (with the file's size now) and every file in
`_bad_capture_files/`. Files that added no row (empty windows, re-landed duplicates)
are not in bronze, so they are processed once more and recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote

from lakehouse.paths import Lake
from lakehouse.pipeline.capture_tree import capture_file_size, set_aside_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CAPTURE_FILES_TABLE = "bronze.bronze_capture_files"
BRONZE_TABLE = "bronze.bronze_capture_events"  # the records (bronze_load.py writes them)
OUTCOMES = ("loaded", "empty", "set_aside")
_COLUMNS = (
    ("capture_path", "string"),
    ("hour_folder", "string"),
    ("bytes", "bigint"),
    ("records", "bigint"),
    ("outcome", "string"),
    ("reason", "string"),
    ("load_id", "bigint"),
    ("processed_at", "timestamp"),
    ("capture_day", "string"),
)
# The Capture path under `capture/`, at the end of bronze's capture_file_path (a URI).
_RELATIVE = r"([^/]+/[^/]+/[^/]+/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{2}[.]avro)$"


@dataclass(frozen=True)
class ProcessedFile:
    """One file's row: `path` relative to `capture/`; `bytes` None when unknown."""

    path: str
    bytes: int | None
    records: int
    outcome: str
    reason: str | None = None
    load_id: int | None = None


def hour_folder(path: str) -> str:
    """`ns/hub/partition/YYYY/MM/DD/hh` of a relative Capture path."""
    return "/".join(path.split("/")[:7])


def _day(folder: str) -> str:
    return "-".join(folder.split("/")[3:6])


class CaptureManifest:
    """Reads and appends bronze's file manifest, in one lake's Spark session."""

    def __init__(self, spark: SparkSession, lake: Lake) -> None:
        self.spark = spark
        self.lake = lake

    @property
    def location(self) -> str:
        return str(self.lake.table("bronze", "bronze_capture_files"))

    def ensure(self) -> None:
        """Create the table (derived from bronze on a lake loaded before it) and register it."""
        from delta.tables import DeltaTable

        if not DeltaTable.isDeltaTable(self.spark, self.location):
            # The table's first commit holds the derived rows: a crash before it leaves no table.
            self._frame(self._derived()).write.format("delta").partitionBy("capture_day").save(self.location)
        self.spark.sql("create schema if not exists bronze")
        self.spark.sql(f"create table if not exists {CAPTURE_FILES_TABLE} using delta location '{self.location}'")

    def done(self, folders: Sequence[str] | None) -> set[tuple[str, int]]:
        """(path, bytes) of the files loaded or found empty: in `folders` only, or all (None)."""
        where = "outcome <> 'set_aside' and bytes is not null"
        if folders is not None:
            if not folders:
                return set()
            days = sorted({_day(f) for f in folders})
            where += f" and capture_day in ({_literals(days)}) and hour_folder in ({_literals(sorted(folders))})"
        rows = self.spark.sql(f"select distinct capture_path, bytes from {CAPTURE_FILES_TABLE} where {where}")
        return {(r.capture_path, int(r.bytes)) for r in rows.collect()}

    def ever_loaded(self, paths: Iterable[str]) -> set[str]:
        """Those of `paths` a `loaded` or `empty` row has (at any size)."""
        wanted = sorted(set(paths))
        if not wanted:
            return set()
        rows = self.spark.sql(
            f"select distinct capture_path from {CAPTURE_FILES_TABLE} "
            f"where outcome <> 'set_aside' and capture_path in ({_literals(wanted)})"
        ).collect()
        return {r.capture_path for r in rows}

    def record(self, files: Sequence[ProcessedFile]) -> None:
        """Append one row per file."""
        if files:
            self._frame(files).writeTo(CAPTURE_FILES_TABLE).append()

    def _frame(self, files: Sequence[ProcessedFile]) -> DataFrame:
        now = datetime.now(UTC)
        rows = [
            (f.path, hour_folder(f.path), f.bytes, f.records, f.outcome, f.reason, f.load_id, now, _day(f.path))
            for f in files
        ]
        return self.spark.createDataFrame(rows, ", ".join(f"{name} {kind}" for name, kind in _COLUMNS))

    def _derived(self) -> list[ProcessedFile]:
        """The rows of a lake loaded before the manifest: bronze's files and the set-aside ones."""
        derived = []
        if self.spark.catalog.tableExists(BRONZE_TABLE):
            rows = self.spark.sql(
                f"select regexp_extract(capture_file_path, '{_RELATIVE}', 1) as path, count(*) as records, "
                f"max(load_id) as load_id from {BRONZE_TABLE} group by 1"
            ).collect()
            for row in rows:
                path = unquote(row.path)
                if path:
                    size = capture_file_size(self.lake, path)
                    derived.append(ProcessedFile(path, size, int(row.records), "loaded", load_id=row.load_id))
        for path, note in set_aside_files(self.lake).items():
            size = note.get("bytes")
            derived.append(
                ProcessedFile(path, size if isinstance(size, int) else None, 0, "set_aside", note.get("reason"))
            )
        return derived


def _literals(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)
