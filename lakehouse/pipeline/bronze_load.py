"""Bronze: load the Capture files that have not been loaded yet into the bronze Delta table.

Bronze's own file manifest (`capture_manifest`, the table `bronze.bronze_capture_files`)
says which Capture files it has processed, by path and size. Each run lists only the
recent hour folders of the tree (`capture_discovery`: the path carries the time; the
full sweep, every 6 h, on `--full-sweep` and in the full-check build, lists the whole
tree), compares what it lists with the manifest rows of those folders, and reads the
files that are missing with a batch read, whatever their modification times: a file
restored with old times, copied with `cp -p` or `rsync -a`, or put back repaired at a
path bronze saw before, loads like a new one. On Databricks, Auto Loader
(`LAKEHOUSE_BRONZE_SOURCE=cloudFiles`: file events, no listing) loads new files first
and the same comparison then catches what it skipped. `replay` re-reads a time range
of files.

Every file read is checked before Spark decodes it: a zero-byte, non-Avro, truncated
or corrupt file, or one that is not in the Capture schema, is moved to
`<lake>/_bad_capture_files/` beside a `.reason.json` and reported; its neighbours
load. Every file operation goes through the lake's storage seam (`lake.files`: a local
folder or a Blob container alike) and Spark reads the files by their URL (`lake.capture`).
A full sweep reports every file still set aside, with what loads it. Records are
merged into bronze on their key (namespace, event hub, partition, sequence number),
insert-only: a key seen twice among new files, or already in bronze, is
loaded once and counted. The merge reads only bronze files whose sequence-number
range overlaps the batch's (Delta data skipping), so its cost follows the batch, not
history.

Each run that adds rows stamps them with one `load_id`, one more than the largest
in bronze: the monotonic batch identity the dbt models hand work on by (never the
wall clock).
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import fastavro

from lakehouse.ingestion.capture.format import CAPTURE_SCHEMA, CapturePath, parse_enqueued_time
from lakehouse.paths import Lake
from lakehouse.pipeline.capture_discovery import CAPTURE_GLOB, CaptureDiscovery, listing_digest
from lakehouse.pipeline.capture_manifest import BRONZE_TABLE, CaptureManifest, ProcessedFile
from lakehouse.pipeline.capture_tree import (
    capture_file_uri,
    capture_relative,
    list_capture_files,
    set_aside,
    set_aside_files,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

KEY = ("namespace", "event_hub", "partition_id", "sequence_number")
_PROPERTY_MAP = "map<string, struct<member0: bigint, member1: double, member2: string, member3: binary>>"
BRONZE_COLUMNS = (
    ("capture_record_id", "string"),
    ("namespace", "string"),
    ("event_hub", "string"),
    ("partition_id", "int"),
    ("sequence_number", "bigint"),
    ("capture_offset", "string"),
    ("enqueued_time_utc", "string"),
    ("enqueued_at", "timestamp"),
    ("system_properties", _PROPERTY_MAP),
    ("properties", _PROPERTY_MAP),
    ("body", "binary"),
    ("capture_file_path", "string"),
    ("capture_file_modified_at", "timestamp"),
    ("load_id", "bigint"),
    ("loaded_at", "timestamp"),
    ("enqueued_hour", "timestamp"),
)
BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length bigint, content binary"
_PATH_PARTS = r"([^/]+)/([^/]+)/([^/]+)/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{2}[.]avro$"
# Azure writes EnqueuedTimeUtc as `M/d/yyyy h:mm:ss a` (UTC); ISO-8601 is tolerated.
_ENQUEUED_AT = "coalesce(to_timestamp(enqueued_time_utc, 'M/d/yyyy h:mm:ss a'), to_timestamp(enqueued_time_utc))"
FILES_PER_BATCH = 2000  # files per check and merge
DISCOVERY_STATE = Lake.state_key("bronze_discovery.json")
_CAPTURE_FIELDS = [(f["name"], json.dumps(f["type"], sort_keys=True)) for f in CAPTURE_SCHEMA["fields"]]


@dataclass(frozen=True)
class FileCheck:
    """One new Capture file: its size, what is wrong with it (None when fine), and for a
    good one its record count, sequence-number range and last enqueued time."""

    path: str
    length: int
    records: int
    problem: str | None
    first_sequence: int | None = None
    last_sequence: int | None = None
    last_enqueued: str | None = None

    @property
    def partition(self) -> tuple[str, str, int]:
        """(namespace, event hub, partition id), from the path."""
        parsed = CapturePath.parse(self.path)
        return parsed.namespace, parsed.event_hub, int(parsed.partition_id)


@dataclass
class BronzeLoadReport:
    """What one load did. `load_id` is None when no row was added; `bad_files` are
    given by their path under `capture/`; `still_set_aside` (found by a full sweep)
    are the files in `_bad_capture_files/` bronze has never loaded, with their reason."""

    load_id: int | None = None
    files: int = 0
    records: int = 0
    rows_added: int = 0
    duplicate_keys: int = 0
    bad_files: list[FileCheck] = field(default_factory=list)
    max_enqueued_at: datetime | None = None
    full_sweep: bool = False
    still_set_aside: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # by step: list, check, merge, ...

    def timed(self, step: str, started: float) -> None:
        """Add the seconds since `started` (time.monotonic()) to `step`."""
        self.seconds[step] = self.seconds.get(step, 0.0) + time.monotonic() - started


def still_set_aside_message(lake: Lake, count: int) -> str:
    return (
        f"WARNING: {count:,} Capture files are set aside in {lake.bad_capture_files} and not in bronze: "
        f"repair each, move it back to the same path under {lake.capture}, then run "
        f"`lakehouse --lake {lake.root} load-bronze --full-sweep`"
    )


def check_capture_file(path: str, data: bytes) -> FileCheck:
    """Decode a whole Capture file; say what is wrong with it, if anything."""
    if not data:
        return FileCheck(path, 0, 0, "zero_bytes: an empty file is not an Avro object container")
    if data[:4] != b"Obj\x01":
        return FileCheck(path, len(data), 0, "not_avro: no Avro object container header")
    try:
        reader = fastavro.reader(io.BytesIO(data))
        schema = cast(dict[str, Any], reader.writer_schema or {})
        fields = [(f.get("name"), json.dumps(f.get("type"), sort_keys=True)) for f in schema.get("fields", [])]
        if fields != _CAPTURE_FIELDS:
            return FileCheck(path, len(data), 0, "not_capture_schema: the file's Avro schema is not EventData's")
        records, enqueued = 0, None
        first: int | None = None
        last: int | None = None
        for record in (cast(dict[str, Any], r) for r in reader):
            sequence = record["SequenceNumber"]
            first = sequence if first is None else min(first, sequence)
            last = sequence if last is None else max(last, sequence)
            enqueued = record["EnqueuedTimeUtc"]  # Capture appends in enqueue order
            records += 1
    except Exception as exc:  # noqa: BLE001 - fastavro raises several types for truncated or corrupt data
        return FileCheck(path, len(data), 0, f"corrupt: {type(exc).__name__}: {exc}"[:500])
    return FileCheck(path, len(data), records, None, first, last, enqueued)


def ensure_bronze_table(spark: SparkSession, lake: Lake) -> None:
    """Create the bronze schema and table (external Delta, partitioned by enqueued hour) if missing."""
    spark.sql("create schema if not exists bronze")
    columns = ", ".join(f"{name} {kind}" for name, kind in BRONZE_COLUMNS)
    spark.sql(
        f"create table if not exists {BRONZE_TABLE} ({columns}) using delta partitioned by (enqueued_hour) "
        f"location '{lake.table('bronze', 'bronze_capture_events')}'"
    )


class BronzeLoader:
    """Loads new Capture files of one lake into bronze, in the given Spark session."""

    def __init__(self, spark: SparkSession, lake: Lake, *, loaded_at: datetime | None = None) -> None:
        self.spark = spark
        self.lake = lake
        self.loaded_at = loaded_at  # tests set it to simulate a clock step
        self.report = BronzeLoadReport()
        self.manifest = CaptureManifest(spark, lake)
        self._processed: set[str] = set()  # this load's files now in the manifest as loaded or empty

    def load_new_files(self, *, source_format: str = "binaryFile", full_sweep: bool = False) -> BronzeLoadReport:
        """Load every Capture file of this run's hour folders (`full_sweep`: of the
        whole tree) that bronze's manifest lacks; a full sweep also reports the files
        still set aside. `cloudFiles` runs Auto Loader over the tree first."""
        t0 = time.monotonic()
        self._ensure()
        self.report.timed("ensure tables", t0)
        t0 = time.monotonic()
        discovery = CaptureDiscovery(self.lake.files, DISCOVERY_STATE)
        plan = discovery.plan(full_sweep=full_sweep)
        self.report.full_sweep = plan.full_sweep
        if source_format == "cloudFiles":
            self._auto_loader()
        listed = list_capture_files(self.lake, plan.folders, sweep=plan.full_sweep)
        self.report.timed("list", t0)
        if not plan.full_sweep and plan.done_listing == listing_digest(listed):
            new: dict[str, int] = {}  # every file listed was processed by the run that recorded it
        else:
            t0 = time.monotonic()
            done = self.manifest.done(None if plan.full_sweep else plan.folders)
            self.report.timed("manifest lookup", t0)
            new = {path: size for path, size in listed.items() if (path, size) not in done}
        self._processed.clear()
        self._process(new)
        t0 = time.monotonic()
        if plan.full_sweep:
            self._find_still_set_aside()
        # Recorded after the files' manifest rows: only files processed (loaded or empty) count.
        processed = {p: s for p, s in listed.items() if p not in new or p in self._processed}
        discovery.record(plan, done_listing=None if plan.full_sweep else listing_digest(processed))
        self.report.timed("record", t0)
        return self.report

    def replay(self, start: datetime, end: datetime, *, event_hub: str | None = None) -> BronzeLoadReport:
        """Re-read the Capture files whose window ends in [start, end): what bronze lacks is added."""
        self._ensure()
        discovery = CaptureDiscovery(self.lake.files, DISCOVERY_STATE)
        listed = list_capture_files(self.lake, discovery.plan(full_sweep=True).folders, sweep=True)
        self._process(
            {
                path: size
                for path, size in listed.items()
                if start <= CapturePath.parse(path).window_end < end
                and (event_hub is None or path.split("/")[1] == event_hub)
            }
        )
        return self.report

    def _ensure(self) -> None:
        self.lake.files.ensure()  # the lake's folder or container
        ensure_bronze_table(self.spark, self.lake)
        self.manifest.ensure()

    def _auto_loader(self) -> None:
        """Databricks Auto Loader over the whole tree (file events or its own listing),
        availableNow; what it skips, the manifest comparison after it loads."""
        stream = (
            self.spark.readStream.schema(BINARY_FILE_SCHEMA)
            .format("cloudFiles")
            .option("cloudFiles.format", "binaryFile")
            .option("ignoreMissingFiles", "true")
            .option("maxFilesPerTrigger", FILES_PER_BATCH)
            .load(f"{self.lake.capture}/{CAPTURE_GLOB}")
        )
        query = (
            stream.writeStream.foreachBatch(lambda batch, _batch_id: self._check_and_load(batch, []))
            .option("checkpointLocation", self.lake.checkpoint("bronze_capture_files"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()

    def _process(self, files: dict[str, int]) -> None:
        """Check and load `files` (relative path -> size), a batch read per
        FILES_PER_BATCH. A zero-byte file gives Spark no split, so no row: it is
        checked from the listing. The other files are decoded once, by Spark's Avro
        reader, for their per-file figures (the merge reads them again); only when that
        read fails (a truncated, corrupt or foreign file among them, or one gone since
        the listing) is each file of the batch checked on its own (`check_capture_file`),
        so that the bad ones are set aside with their reason and their neighbours load."""
        paths = sorted(files)
        for at in range(0, len(paths), FILES_PER_BATCH):
            chunk = paths[at : at + FILES_PER_BATCH]
            readable = [capture_file_uri(self.lake, p) for p in chunk if files[p]]
            empty = [check_capture_file(capture_file_uri(self.lake, p), b"") for p in chunk if not files[p]]
            checked = self._read_at_once(readable, files) if readable else []
            if checked is None:  # a file failed: check each
                frame = self.spark.read.format("binaryFile").option("ignoreMissingFiles", "true").load(readable)
                self._check_and_load(frame, empty)
            else:
                self._load([*empty, *checked])

    def _read_at_once(self, uris: list[str], sizes: dict[str, int]) -> list[FileCheck] | None:
        """Each file's record count, sequence-number range and last enqueued time, from
        one Avro read of them all; None when the read fails on any of them."""
        from pyspark.sql import functions as F

        t0 = time.monotonic()
        try:
            rows = (
                self.spark.read.format("avro")
                .option("avroSchema", json.dumps(CAPTURE_SCHEMA))
                .load(uris)
                .groupBy(F.col("_metadata.file_path").alias("path"))
                .agg(
                    F.count("*").alias("records"),
                    F.min("SequenceNumber").alias("first"),
                    F.max("SequenceNumber").alias("last"),
                    F.max_by("EnqueuedTimeUtc", "SequenceNumber").alias("last_enqueued"),
                )
                .collect()
            )
        except Exception as exc:  # noqa: BLE001 - Spark raises its own wrapper of the reader's error
            log.info("one read of %d Capture files failed, checking each: %s", len(uris), str(exc)[:300])
            return None
        finally:
            self.report.timed("read", t0)
        stats = {self._relative(r.path): r for r in rows}
        checked = []
        for uri in uris:
            relative = self._relative(uri)
            row = stats.get(relative)
            if row is None:  # a valid file with no record (an empty window)
                checked.append(FileCheck(uri, sizes[relative], 0, None))
            else:
                checked.append(
                    FileCheck(uri, sizes[relative], int(row.records), None, row.first, row.last, row.last_enqueued)
                )
        return checked

    def _check_and_load(self, files: DataFrame | None, checked: list[FileCheck]) -> None:
        """Check every file on its own (fastavro, on the executors), then load them."""
        t0 = time.monotonic()
        if files is not None:
            checks = files.select("path", "content").rdd.map(
                lambda row: check_capture_file(row.path, bytes(row.content or b""))
            )
            checked = [*checked, *checks.collect()]
        self.report.timed("check", t0)
        self._load(checked)

    def _load(self, checked: list[FileCheck]) -> None:
        """Set the bad files aside, merge the good ones' records, and record each file
        in the manifest."""
        self.report.files += len(checked)
        bad = [c for c in checked if c.problem]
        if bad:  # recorded first: a crash before the move leaves the file in the tree, to be found again
            self.manifest.record(
                [ProcessedFile(self._relative(c.path), c.length, 0, "set_aside", c.problem) for c in bad]
            )
            for check in bad:
                self._set_aside(check)
        good = [c for c in checked if not c.problem]
        t0 = time.monotonic()
        load_id = self._merge([c for c in good if c.records]) if any(c.records for c in good) else None
        self.report.timed("merge", t0)
        t0 = time.monotonic()
        self.manifest.record(
            [
                ProcessedFile(
                    self._relative(c.path),
                    c.length,
                    c.records,
                    "loaded" if c.records else "empty",
                    load_id=load_id if c.records else None,
                )
                for c in good
            ]
        )
        self._processed.update(self._relative(c.path) for c in good)
        self.report.timed("record", t0)

    def _relative(self, path: str) -> str:
        """The path under `capture/` of a file as Spark names it (`file:/...`, `wasb://...`)."""
        return capture_relative(self.lake, path)

    def _set_aside(self, check: FileCheck) -> None:
        """Move a bad file out of the Capture tree, with a reason note beside it."""
        relative = self._relative(check.path)
        note = {
            "path": relative,
            "bytes": check.length,
            "reason": check.problem,
            "set_aside_at": datetime.now(UTC).isoformat(),
        }
        set_aside(self.lake, relative, note)
        self.report.bad_files.append(FileCheck(relative, check.length, check.records, check.problem))
        log.warning("bad Capture file %s set aside in %s: %s", relative, self.lake.bad_capture_files, check.problem)

    def _find_still_set_aside(self) -> None:
        """The files in `_bad_capture_files/` bronze never loaded, reported loudly."""
        notes = set_aside_files(self.lake)
        loaded = self.manifest.ever_loaded(notes)
        self.report.still_set_aside = {
            path: str(note.get("reason") or "no reason note") for path, note in notes.items() if path not in loaded
        }
        if self.report.still_set_aside:
            log.warning("%s", still_set_aside_message(self.lake, len(self.report.still_set_aside)))

    def _records(self, paths: list[str]) -> DataFrame:
        from pyspark.sql import functions as F

        raw = (
            self.spark.read.format("avro")
            .option("avroSchema", json.dumps(CAPTURE_SCHEMA))
            .load(paths)
            .select(
                F.col("_metadata.file_path").alias("capture_file_path"),
                F.col("_metadata.file_modification_time").alias("capture_file_modified_at"),
                F.col("SequenceNumber").alias("sequence_number"),
                F.col("Offset").alias("capture_offset"),
                F.col("EnqueuedTimeUtc").alias("enqueued_time_utc"),
                F.col("SystemProperties").alias("system_properties"),
                F.col("Properties").alias("properties"),
                F.col("Body").alias("body"),
            )
        )
        return (
            raw.withColumn("namespace", F.regexp_extract("capture_file_path", _PATH_PARTS, 1))
            .withColumn("event_hub", F.regexp_extract("capture_file_path", _PATH_PARTS, 2))
            .withColumn("partition_id", F.regexp_extract("capture_file_path", _PATH_PARTS, 3).cast("int"))
            .withColumn("enqueued_at", F.expr(_ENQUEUED_AT))
            .withColumn("enqueued_hour", F.date_trunc("hour", "enqueued_at"))
            .withColumn("capture_record_id", F.concat_ws("/", *KEY))
        )

    def _merge(self, files: list[FileCheck]) -> int:
        """Insert the records of `files` whose key bronze lacks; returns the load id
        their rows carry. The file checks give the batch's sequence ranges, so the
        merge reads only bronze files that could hold its keys, and Spark decodes the
        Avro once, in the merge."""
        from delta.tables import DeltaTable
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        records = self._records([f.path for f in files])
        ranges = [
            (*f.partition, f.first_sequence, f.last_sequence)
            for f in files
            if f.first_sequence is not None and f.last_sequence is not None
        ]  # files with records
        if _overlapping(ranges):  # a key in two new files: keep the first file's record
            first = Window.partitionBy(*KEY).orderBy("capture_file_path")
            records = records.withColumn("_rank", F.row_number().over(first)).where("_rank = 1").drop("_rank")
        load_id = self._load_id()
        loaded_at = F.lit(self.loaded_at) if self.loaded_at else F.current_timestamp()
        batch = (
            records.withColumn("load_id", F.lit(load_id))
            .withColumn("loaded_at", loaded_at)
            .select(*[name for name, _ in BRONZE_COLUMNS])
        )
        matches = " and ".join(f"t.{k} = s.{k}" for k in KEY)
        metrics = (
            DeltaTable.forName(self.spark, BRONZE_TABLE)
            .alias("t")
            .merge(batch.alias("s"), f"{matches} and ({_range_predicate(ranges)})")
            .whenNotMatchedInsertAll()
            .execute()
            .first()
        )
        added = int(metrics["num_inserted_rows"]) if metrics else 0
        read = sum(f.records for f in files)
        self.report.records += read
        self.report.rows_added += added
        self.report.duplicate_keys += read - added
        if added:
            self.report.load_id = load_id
        latest = max(parse_enqueued_time(f.last_enqueued) for f in files if f.last_enqueued)
        if self.report.max_enqueued_at is None or latest > self.report.max_enqueued_at:
            self.report.max_enqueued_at = latest
        return load_id

    def _load_id(self) -> int:
        """This run's batch identity: one more than bronze's largest."""
        if self.report.load_id is not None:
            return self.report.load_id
        return (latest_load_id(self.spark) or 0) + 1


def latest_load_id(spark: SparkSession) -> int | None:
    """Bronze's largest load id, None when it has no row (Delta answers from its log's file statistics)."""
    latest = spark.sql(f"select max(load_id) from {BRONZE_TABLE}").collect()[0][0]
    return None if latest is None else int(latest)


def _overlapping(ranges: Iterable[tuple[str, str, int, int, int]]) -> bool:
    """Whether two files of one partition share a sequence number."""
    by_partition: dict[tuple[str, str, int], list[tuple[int, int]]] = {}
    for namespace, hub, partition, lo, hi in ranges:
        by_partition.setdefault((namespace, hub, partition), []).append((lo, hi))
    for spans in by_partition.values():
        spans.sort()
        if any(later[0] <= earlier[1] for earlier, later in itertools.pairwise(spans)):
            return True
    return False


def _range_predicate(ranges: Iterable[tuple[str, str, int, int, int]]) -> str:
    """Bronze rows that could share a key with the batch: per partition, its files'
    sequence-number ranges, adjacent ones joined. Literal bounds, so Delta skips files."""
    by_partition: dict[tuple[str, str, int], list[tuple[int, int]]] = {}
    for namespace, hub, partition, lo, hi in ranges:
        by_partition.setdefault((namespace, hub, partition), []).append((lo, hi))
    terms = []
    for (namespace, hub, partition), spans in sorted(by_partition.items()):
        merged: list[list[int]] = []
        for lo, hi in sorted(spans):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        bounds = " or ".join(f"t.sequence_number between {lo} and {hi}" for lo, hi in merged)
        terms.append(
            f"(t.namespace = {_quote(namespace)} and t.event_hub = {_quote(hub)} "
            f"and t.partition_id = {partition} and ({bounds}))"
        )
    return " or ".join(terms) or "false"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
