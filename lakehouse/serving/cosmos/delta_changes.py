"""What changed in a Delta table, read with delta-rs (no Spark).

`NetChangeStream` reads the change data feed of a version range and keeps, per
key, only the row's final state at the end of the range: the latest version that
touched the key decides; in that version an insert or update_postimage (the row
as written) wins over a delete (a replace-where or MERGE that deletes and
re-inserts a window in one commit leaves the row present). update_preimage rows
are ignored. So a window restated in several versions is sent once.

It streams, in two passes over the feed's record batches: the first reads only
the key, change type and version columns and picks each key's winning change;
the second reads whole rows batch by batch and yields the winners. Memory follows
the number of keys changed in the range (a few hundred bytes each), not the rows.
The sync reads a long range in chunks of versions, applying each chunk before
reading the next: per-chunk net changes applied in version order leave the same
final state as the net change of the whole range. (`net_changes` collects a
range into lists, for small ranges and tests.)

A range whose files delta-rs cannot open (Spark's escaped partition folders, as
a timestamp partition has: see `_change_feed_from_log`) is read from the log here
instead, with the same columns.

`snapshot_batches` streams the rows of one version of the table. It reads through
delta-rs' DataFusion engine, which applies deletion vectors (Spark on Databricks
writes them by default; `DeltaTable.to_pyarrow_dataset()` refuses such tables).

A table is a `DeltaSource`: the lake's storage seam and the table's key in it (for the
log files read here) and the URI and storage options delta-rs opens it by
(`lakehouse.storage.delta_rs`), so a lake on Azure storage reads the same way as a
local one. A plain folder (`str` or `Path`) is accepted too: a local table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.storage.files import BlobLakeFiles, LakeFiles, LocalLakeFiles
from lakehouse.storage.location import LakeLocation

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from lakehouse.paths import Lake

CDF_PROPERTY = "delta.enableChangeDataFeed"
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
_LIVE = {"insert": 1, "update_postimage": 1, "delete": 0}


class ChangeFeedUnavailable(RuntimeError):
    """The table's change data feed cannot serve the requested versions."""


@dataclass(frozen=True)
class TableHead:
    version: int
    table_id: str
    change_feed_enabled: bool


@dataclass(frozen=True)
class NetChanges:
    """Final state per key over a version range: rows to upsert, rows whose key is gone."""

    upserts: list[dict[str, Any]]
    deletes: list[dict[str, Any]]
    change_rows_read: int


@dataclass(frozen=True)
class Change:
    """A key's final state: `live` -> upsert `row`; else the key is gone (`row` as it was)."""

    live: bool
    row: dict[str, Any]


@dataclass(frozen=True)
class DeltaSource:
    """A Delta table: `files` and `key` reach its files through the storage seam, `uri`
    and `storage_options` are how delta-rs opens it (the options may hold secrets)."""

    files: LakeFiles
    key: str
    uri: str
    storage_options: dict[str, str] = dataclass_field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, lake: Lake, key: str) -> DeltaSource:
        """The table at `key` (e.g. `gold/gold_device_metrics_5m`) of `lake`."""
        from lakehouse.storage.delta_rs import table_uri_and_options

        uri, options = table_uri_and_options(lake.location, lake.credentials, key)
        return cls(lake.files, key.strip("/"), uri, options)

    @classmethod
    def local(cls, path: str | Path) -> DeltaSource:
        location = LakeLocation.parse(path)
        return cls(LocalLakeFiles(location), "", location.path)

    def sub(self, name: str) -> str:
        """The key of `name` (relative to the table) in `files`."""
        return f"{self.key}/{name}" if self.key else name

    def open(self, version: int | None = None) -> DeltaTable:
        from deltalake import DeltaTable

        return DeltaTable(self.uri, version=version, storage_options=self.storage_options or None)

    def __str__(self) -> str:
        return self.files.url(self.key)


TableLike = DeltaSource | str | Path


def _source(table: TableLike) -> DeltaSource:
    return table if isinstance(table, DeltaSource) else DeltaSource.local(table)


def is_delta_table(table: TableLike) -> bool:
    source = _source(table)
    listing = source.files.listing(source.sub("_delta_log"))
    return bool(listing.files or listing.folders)


def table_head(table: TableLike) -> TableHead:
    delta = _source(table).open()
    metadata = delta.metadata()
    enabled = str(metadata.configuration.get(CDF_PROPERTY, "false")).lower() == "true"
    return TableHead(version=delta.version(), table_id=str(metadata.id), change_feed_enabled=enabled)


class NetChangeStream:
    """The net changes of versions `first_version`..`last_version`, each key once (iterate once)."""

    def __init__(self, table: TableLike, key: str, *, first_version: int, last_version: int) -> None:
        self.source, self.key = _source(table), key
        self.first_version, self.last_version = first_version, last_version
        self.change_rows_read = 0
        self._winners: dict[Any, tuple[int, int]] = {}  # key -> (version, rank) of its final change
        for batch in self._batches([key, "_change_type", "_commit_version"]):
            self.change_rows_read += batch.num_rows
            for value, kind, version in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
                rank = _LIVE.get(kind)
                if rank is None:  # update_preimage
                    continue
                current = self._winners.get(value)
                if current is None or (version, rank) > current:
                    self._winners[value] = (version, rank)

    def __len__(self) -> int:
        return len(self._winners)

    def __iter__(self) -> Iterator[Change]:
        pending = self._winners
        for batch in self._batches(None):
            keys = batch.column(self.key).to_pylist()
            kinds = batch.column("_change_type").to_pylist()
            versions = batch.column("_commit_version").to_pylist()
            chosen = [pending.get(k) == (v, _LIVE.get(kind)) for k, kind, v in zip(keys, kinds, versions, strict=True)]
            if not any(chosen):
                continue
            rows = _plain_types(batch).filter(pa.array(chosen)).drop_columns(list(CDF_COLUMNS)).to_pylist()
            for row, kind in zip(rows, [k for k, c in zip(kinds, chosen, strict=True) if c], strict=True):
                if pending.pop(row[self.key], None) is not None:  # a duplicate of an already yielded change: skip
                    yield Change(_LIVE[kind] == 1, row)

    def _batches(self, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        try:
            commits = _commits(self.source, self.first_version, self.last_version)
            if any("%" in action.path for commit in commits for action in commit.actions):
                yield from _change_feed_from_log(self.source, commits, columns)  # delta-rs would miss these files
                return
            reader = self.source.open().load_cdf(
                starting_version=self.first_version, ending_version=self.last_version, columns=columns
            )
            for batch in reader:
                yield pa.record_batch(batch)
        except Exception as exc:  # delta-rs raises its own error types for missing/vacuumed CDC files
            raise ChangeFeedUnavailable(
                f"cannot read the change data feed of {self.source} for versions {self.first_version}.."
                f"{self.last_version} ({exc}); if old files were vacuumed or the feed was enabled later, resync it "
                "from the snapshot with --full"
            ) from exc


def _plain_types(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with string/binary views (DataFusion's output) as plain strings/binaries: pyarrow filters those."""
    views = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}
    if not any(field.type in views for field in batch.schema):
        return batch
    return batch.cast(pa.schema([field.with_type(views.get(field.type, field.type)) for field in batch.schema]))


def version_chunks(after_version: int, to_version: int, versions_per_chunk: int) -> Iterator[tuple[int, int]]:
    """(first, last) version ranges covering after_version+1 .. to_version in order."""
    if versions_per_chunk < 1:
        raise ValueError("versions_per_chunk must be at least 1")
    for first in range(after_version + 1, to_version + 1, versions_per_chunk):
        yield first, min(first + versions_per_chunk - 1, to_version)


def net_changes(table: TableLike, key: str, *, after_version: int, to_version: int) -> NetChanges:
    """Net effect of versions after_version+1 .. to_version, one entry per key, as lists."""
    if to_version <= after_version:
        return NetChanges([], [], 0)
    stream = NetChangeStream(table, key, first_version=after_version + 1, last_version=to_version)
    upserts: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    for change in stream:
        (upserts if change.live else deletes).append(change.row)
    return NetChanges(upserts, deletes, stream.change_rows_read)


def snapshot_batches(table: TableLike, version: int, *, batch_rows: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    """The rows of `version` of the table, in lists of at most `batch_rows`."""
    from deltalake import QueryBuilder

    reader = QueryBuilder().register("snapshot", _source(table).open(version)).execute("SELECT * FROM snapshot")
    for batch in reader:
        rows = pa.record_batch(batch).to_pylist()
        for start in range(0, len(rows), batch_rows):
            yield rows[start : start + batch_rows]


# The change feed read from the log, for files delta-rs cannot open.
#
# Delta log paths are URI-encoded; Spark names partition folders with its own
# %XX escapes, so a timestamp partition is the folder `window_hour=2026-03-05
# 09%3A00%3A00`, logged as `window_hour=2026-03-05%2009%253A00%253A00`. delta-rs
# (up to 1.6.6, the latest release) decodes that path for `load_cdf` and then
# builds an object-store path from it, which escapes the `%` again: it opens
# `...09%253A00%253A00/...`, which does not exist, and the whole read fails
# (its snapshot reads are not affected). For a range with such a path, the feed
# is read here as the protocol defines it: per commit, its `cdc` files if it has
# any, else its `add` files as inserts and `remove` files as deletes (dataChange
# ones), with the partition values and `_commit_version`/`_commit_timestamp`
# added as delta-rs adds them. A commit that changed rows only through deletion
# vectors (no cdc files) is refused here (ChangeFeedUnavailable: resync with
# --full), as is a table with column mapping; Spark writes cdc files for dbt's
# MERGE with the change feed on. Guarded by tests/python/test_silver_gold_change_feed.py.


@dataclass(frozen=True)
class _FileAction:
    kind: str  # add | remove | cdc
    uri: str  # as logged: URI-encoded, relative to the table or absolute (a shallow clone's)
    partition_values: dict[str, str | None]
    data_change: bool
    deletion_vector: bool

    @property
    def path(self) -> str:
        """The path decoded once: the file's real name (Spark's own %XX escapes kept)."""
        from urllib.parse import unquote

        return unquote(self.uri)


@dataclass(frozen=True)
class _Commit:
    version: int
    timestamp_ms: int
    actions: list[_FileAction]


def _commits(table: TableLike, first_version: int, last_version: int) -> list[_Commit]:
    """The commits' file actions, read from the log files through the storage seam."""
    import json

    source = _source(table)
    commits = []
    for version in range(first_version, last_version + 1):
        log_key = source.sub(f"_delta_log/{version:020d}.json")
        timestamp_ms: int | None = None
        actions = []
        for line in source.files.read_bytes(log_key).decode("utf-8").splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
                logged = info.get("inCommitTimestamp") or info.get("timestamp")
                timestamp_ms = int(logged) if logged else timestamp_ms
            for kind in ("add", "remove", "cdc"):
                if kind in action:
                    entry = action[kind]
                    actions.append(
                        _FileAction(
                            kind,
                            entry["path"],
                            entry.get("partitionValues") or {},
                            bool(entry.get("dataChange", True)),
                            bool(entry.get("deletionVector")),
                        )
                    )
        if timestamp_ms is None:  # no commitInfo timestamp: the log file's time, as the protocol allows
            timestamp_ms = _modified_ms(source.files, log_key)
        commits.append(_Commit(version, timestamp_ms, actions))
    return commits


def _modified_ms(files: LakeFiles, key: str) -> int:
    """When the file at `key` was last written (ms since the epoch)."""
    if isinstance(files, BlobLakeFiles):
        properties = files.container.get_blob_client(files.location.blob_name(key)).get_blob_properties()
        return int(properties.last_modified.timestamp() * 1000)
    if isinstance(files, LocalLakeFiles):
        return int((files.root / key).stat().st_mtime * 1000)
    raise ChangeFeedUnavailable(f"{files.url(key)}: cannot tell when the commit was written")


def _change_feed_from_log(
    table_like: TableLike, commits: list[_Commit], columns: list[str] | None, *, batch_rows: int = 65_536
) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    source = _source(table_like)
    table = source.open(commits[-1].version)
    metadata = table.metadata()
    if str(metadata.configuration.get("delta.columnMapping.mode", "none")) != "none":
        raise ChangeFeedUnavailable("column mapping is not supported where delta-rs cannot open the change files")
    schema = pa.schema(table.schema().to_arrow())
    partitions = set(metadata.partition_columns)
    cdf_schema = pa.schema(
        [  # as delta-rs orders them: the data columns, the partition columns, the feed's own
            *(f for f in schema if f.name not in partitions),
            *(f for f in schema if f.name in partitions),
            pa.field("_change_type", pa.string()),
            pa.field("_commit_version", pa.uint64()),
            pa.field("_commit_timestamp", pa.timestamp("ms")),
        ]
    )
    wanted = list(columns) if columns is not None else cdf_schema.names
    out = pa.schema([cdf_schema.field(name) for name in wanted])
    data_columns = [n for n in wanted if n in schema.names and n not in partitions]

    for commit in commits:
        changes = [a for a in commit.actions if a.kind == "cdc"]
        if not changes:
            changes = [a for a in commit.actions if a.kind in ("add", "remove") and a.data_change]
            if any(a.deletion_vector for a in changes):
                raise ChangeFeedUnavailable(
                    f"version {commit.version} changes rows through deletion vectors in files delta-rs cannot open"
                )
        for action in changes:
            file = pq.ParquetFile(_data_file(source, action.uri))
            read = [*data_columns, "_change_type"] if action.kind == "cdc" else data_columns
            for batch in file.iter_batches(batch_size=batch_rows, columns=read):
                n = batch.num_rows
                fixed = {
                    "_change_type": pa.array([{"add": "insert", "remove": "delete"}.get(action.kind)] * n, pa.string()),
                    "_commit_version": pa.array([commit.version] * n, pa.uint64()),
                    "_commit_timestamp": pa.array([commit.timestamp_ms] * n, pa.timestamp("ms")),
                }
                arrays = []
                for field in out:
                    if field.name in read:
                        arrays.append(batch.column(field.name).cast(field.type))
                    elif field.name in partitions:
                        if field.name not in action.partition_values:
                            raise ChangeFeedUnavailable(f"{action.path} has no value for partition {field.name}")
                        value = _partition_value(action.partition_values[field.name], field.type)
                        arrays.append(pa.array([value] * n, field.type))
                    else:
                        arrays.append(fixed[field.name])
                yield pa.record_batch(arrays, schema=out)


def _data_file(source: DeltaSource, uri: str) -> pa.BufferReader | Path:
    """A file of the table from its logged path, decoded exactly once: a path relative to
    the table (read through the storage seam), or an absolute URI: a shallow clone's,
    a local file (`file:///...`, `file:/...` or `/...`) of a local lake, or a URL under
    the lake's own root on Azure storage. Remote files are read whole (a Delta data
    file of a gold table: a few MB)."""
    from urllib.parse import unquote, urlparse
    from urllib.request import url2pathname

    url = urlparse(uri)
    if not url.scheme and not uri.startswith("/"):
        return pa.BufferReader(source.files.read_bytes(source.sub(unquote(uri))))
    location = source.files.location
    if location.is_local:
        if url.scheme not in ("", "file") or url.netloc not in ("", "localhost"):
            raise ChangeFeedUnavailable(f"{unquote(uri)} is not a local file")
        return Path(url2pathname(url.path))  # url2pathname decodes the %XX escapes
    key = _key_under(location, uri)
    if key is None:
        raise ChangeFeedUnavailable(f"{unquote(uri)} is not under the lake's root {location.url}")
    return pa.BufferReader(source.files.read_bytes(key))


def _key_under(location: LakeLocation, uri: str) -> str | None:
    """The key (relative to the lake root) of an absolute Azure URI in the lake's account
    and container (any of the wasb/abfs schemes, or object_store's `az://<container>/`)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(uri)
    if parts.scheme == "az":
        container, account, path = parts.netloc, location.account, parts.path
    elif parts.scheme in ("wasb", "wasbs", "abfs", "abfss"):
        container, _, host = parts.netloc.rpartition("@")
        account, path = host.split(".", 1)[0], parts.path
    else:
        return None
    name = unquote(path).strip("/")
    prefix = location.path
    if container != location.container or account != location.account:
        return None
    if prefix and not name.startswith(prefix + "/"):
        return None
    return name[len(prefix) + 1 :] if prefix else name


def _partition_value(raw: str | None, kind: pa.DataType) -> Any:
    """A partition value as the log writes it (a string; timestamps in UTC, with or without `T`/`Z`)."""
    from datetime import UTC, datetime

    if raw is None:
        return None
    if pa.types.is_timestamp(kind):
        value = datetime.fromisoformat(raw)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return raw
    if raw == "":
        return None
    return pa.array([raw], pa.string()).cast(kind)[0].as_py()
