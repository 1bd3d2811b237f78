"""Sync gold to Cosmos DB from the Delta change data feed.

One container per gold model, in database $COSMOS_DATABASE (default `telemetry`),
created if missing; item `id` = metric_id; partition key /device_id (device
metrics) or /site_id (site metrics).

Per table, each run:
- reads the table's current version V (delta-rs, no Spark; the table by its lake
  URL: a local folder or Azure storage, lakehouse/storage/delta_rs.py);
- first sync of a container (no state), `--full`, or a table that was recreated
  (its Delta table id changed, or its version went back): upserts every row of
  the snapshot at V, then, unless the container was just created, deletes items
  whose id is not in it (one COUNT query shows whether there are any);
- otherwise reads the change feed after the last synced version up to V in
  chunks of `versions_per_chunk` versions, keeps the final state per id within a
  chunk (a window restated in several versions is sent once; a delete deletes),
  applies it, and records the chunk's last version - so memory follows a chunk,
  not the whole range;
- after every item of the table (or chunk) was written, records the version in
  `_serving/cosmos_state.json` under the lake root (atomically, through the lake's
  storage seam: a local file or a blob).
An interrupted run leaves the state at the last fully written version; the next
run resends that range (the writes are idempotent), so nothing is lost.

An item Cosmos refuses for itself (an id with / \\ ? # or over 1,023 bytes -
checked before sending - or a 400/409/413 answer) does not stop the sync: it is
appended with the reason to `_serving/cosmos_dead_letters.jsonl` under the lake root
(lakehouse/serving/cosmos/dead_letters.py), made durable before the version is recorded, and the
others go on. The whole sync holds the lake's sync lock, a flock or a blob lease
(lakehouse/serving/cosmos/sync_state.py):
a second sync waits up to `lock_timeout_s`, then fails saying another is running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lakehouse.paths import Lake
from lakehouse.serving.cosmos.connection import CosmosNotConfigured, CosmosSettings, RequestStats, open_cosmos_client
from lakehouse.serving.cosmos.dead_letters import DeadLetters
from lakehouse.serving.cosmos.delta_changes import (
    CDF_PROPERTY,
    DeltaSource,
    NetChangeStream,
    TableHead,
    is_delta_table,
    snapshot_batches,
    table_head,
    version_chunks,
)
from lakehouse.serving.cosmos.items import to_item
from lakehouse.serving.cosmos.sync_state import SyncState, SyncStateError, sync_lock, target_key
from lakehouse.serving.cosmos.writer import (
    Delete,
    Operation,
    Rejected,
    TransientRetry,
    Upsert,
    WriteCounts,
    WriteFailed,
    write_items,
)
from lakehouse.tables import CosmosContainer, cosmos_containers, registry_manifest

__all__ = [
    "CosmosContainer",
    "CosmosNotConfigured",
    "CosmosSyncFailed",
    "SyncReport",
    "sync_gold_to_cosmos",
]

log = logging.getLogger(__name__)


@dataclass
class ContainerReport:
    container: str
    mode: str  # full | incremental | unchanged | not built
    reason: str = ""
    from_version: int | None = None
    to_version: int | None = None
    change_rows_read: int = 0
    writes: WriteCounts = field(default_factory=WriteCounts)
    seconds: float = 0.0

    @property
    def items(self) -> int:
        return self.writes.items


@dataclass
class SyncReport:
    endpoint: str
    database: str
    containers: list[ContainerReport] = field(default_factory=list)
    seconds: float = 0.0
    request_charge: float = 0.0
    throttled: int = 0
    dead_letter_file: str = ""

    @property
    def items(self) -> int:
        return sum(c.items for c in self.containers)

    @property
    def dead_lettered(self) -> int:
        return sum(c.writes.rejected for c in self.containers)

    @property
    def items_per_second(self) -> float:
        busy = sum(c.seconds for c in self.containers if c.items)
        return self.items / busy if busy else 0.0


class CosmosSyncFailed(RuntimeError):
    """A container could not be synced; `report` holds what was done before."""

    def __init__(self, message: str, report: SyncReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class _Plan:
    spec: CosmosContainer
    key: str
    head: TableHead | None
    mode: str
    reason: str = ""
    after_version: int | None = None
    reset: bool = False  # the table went back: recording a lower version is intended


def _table(lake: Lake, spec: CosmosContainer) -> DeltaSource:
    """The container's gold table, as delta-rs and the storage seam reach it."""
    return DeltaSource.of(lake, f"{spec.layer}/{spec.model}")


def _plan(spec: CosmosContainer, lake: Lake, state: SyncState, key: str, full: bool) -> _Plan:
    path = _table(lake, spec)
    if not is_delta_table(path):
        return _Plan(spec, key, None, "not built")
    head = table_head(path)
    synced = state.get(key)
    if full:
        return _Plan(spec, key, head, "full", "--full")
    if synced is None:
        return _Plan(spec, key, head, "full", "first sync: snapshot load")
    if synced.delta_table_id != head.table_id:
        return _Plan(spec, key, head, "full", "the Delta table was recreated (new table id)")
    if head.version < synced.synced_version:
        return _Plan(
            spec,
            key,
            head,
            "full",
            f"the table is at v{head.version}, behind the synced v{synced.synced_version}",
            reset=True,
        )
    if head.version == synced.synced_version:
        return _Plan(spec, key, head, "unchanged", after_version=synced.synced_version)
    if not head.change_feed_enabled:
        raise ValueError(
            f"{path} has no change data feed: set the table property {CDF_PROPERTY} = true "
            f"(tblproperties in the model config), then sync with --full once"
        )
    return _Plan(spec, key, head, "incremental", after_version=synced.synced_version)


def _operations(
    spec: CosmosContainer, upserts: Iterable[dict[str, Any]], deletes: Iterable[dict[str, Any]]
) -> Iterator[Operation]:
    for row in upserts:
        yield Upsert(to_item(row, spec.id_column))
    for row in deletes:
        yield Delete(str(row[spec.id_column]), row[spec.partition_key])


@dataclass(frozen=True)
class _Target:
    """What one container's sync writes to: the container, its settings, and where refused items go."""

    container: Any
    plan: _Plan
    lake: Lake
    concurrency: int
    retry: TransientRetry
    dead_letters: DeadLetters

    def write(self, operations: Iterable[Operation], versions: str) -> WriteCounts:
        spec = self.plan.spec

        def rejected(refused: Rejected) -> None:
            self.dead_letters.add(
                refused,
                target=self.plan.key,
                table=f"{spec.layer}/{spec.model}",
                versions=versions,
                partition_key=spec.partition_key,
            )

        return write_items(
            self.container, operations, concurrency=self.concurrency, retry=self.retry, rejected=rejected
        )


def _ensure_container(database: Any, spec: CosmosContainer, database_name: str) -> tuple[Any, bool]:
    """The container (created if missing, partition key checked) and whether it was just created."""
    from azure.cosmos import PartitionKey
    from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceExistsError

    created = True
    try:
        container = database.create_container(
            id=spec.container, partition_key=PartitionKey(path=spec.partition_key_path)
        )
    except CosmosResourceExistsError:
        created = False
        container = database.get_container_client(spec.container)
    except CosmosHttpResponseError as exc:
        if exc.status_code != 403:
            raise
        # Entra ID data-plane roles cannot create containers; an existing one is fine.
        created = False
        container = database.get_container_client(spec.container)
        try:
            container.read()
        except CosmosHttpResponseError:
            raise PermissionError(
                f"not allowed to create container {spec.container!r} (Entra ID data-plane roles cannot create "
                f"containers): create it once with partition key {spec.partition_key_path}, e.g. `az cosmosdb sql "
                f"container create -a <account> -g <resource group> -d {database_name} -n {spec.container} "
                f"-p {spec.partition_key_path}`"
            ) from exc
    if not created:
        paths = container.read().get("partitionKey", {}).get("paths", [])
        if paths != [spec.partition_key_path]:
            raise ValueError(
                f"container {spec.container!r} has partition key {paths}, expected "
                f"[{spec.partition_key_path!r}]: delete it or point COSMOS_DATABASE elsewhere"
            )
    return container, created


def _sync_full(target: _Target, report: ContainerReport, *, new_container: bool) -> None:
    spec, head, container = target.plan.spec, target.plan.head, target.container
    assert head is not None
    path = _table(target.lake, spec)
    live_ids: set[str] = set()

    def snapshot_operations() -> Iterator[Operation]:
        for rows in snapshot_batches(path, head.version):
            report.change_rows_read += len(rows)
            for row in rows:
                live_ids.add(str(row[spec.id_column]))
            yield from _operations(spec, rows, ())

    written = target.write(snapshot_operations(), f"snapshot v{head.version}")
    if new_container:
        report.writes = written
        return
    # Items the snapshot no longer has (left by an earlier sync or another writer) go. Every live id is in the
    # container now (but the refused ones), so a count equal to theirs proves there are none (one query).
    [count] = container.query_items("SELECT VALUE COUNT(1) FROM c", enable_cross_partition_query=True)
    removed = WriteCounts()
    if count != len(live_ids) - written.rejected:
        existing = container.query_items(
            f"SELECT c.id, c.{spec.partition_key} FROM c", enable_cross_partition_query=True
        )
        orphans = (Delete(item["id"], item.get(spec.partition_key)) for item in existing if item["id"] not in live_ids)
        removed = target.write(orphans, f"snapshot v{head.version} (stale items)")
    report.writes = WriteCounts(
        written.upserted, removed.deleted, removed.already_absent, written.rejected + removed.rejected
    )


def _sync_incremental(target: _Target, state: SyncState, report: ContainerReport, versions_per_chunk: int) -> None:
    plan = target.plan
    spec, head = plan.spec, plan.head
    assert head is not None and plan.after_version is not None
    path = _table(target.lake, spec)
    for first, last in version_chunks(plan.after_version, head.version, versions_per_chunk):
        changes = NetChangeStream(path, spec.id_column, first_version=first, last_version=last)
        report.change_rows_read += changes.change_rows_read
        operations = (
            Upsert(to_item(c.row, spec.id_column))
            if c.live
            else Delete(str(c.row[spec.id_column]), c.row[spec.partition_key])
            for c in changes
        )
        try:
            report.writes = report.writes + target.write(operations, f"v{first}..v{last}")
        except WriteFailed as exc:
            report.writes = report.writes + exc.counts
            raise WriteFailed(str(exc), report.writes) from exc
        target.dead_letters.sync()
        state.commit(plan.key, table=f"{spec.layer}/{spec.model}", delta_table_id=head.table_id, version=last)


DEFAULT_RETRY = TransientRetry()


def sync_gold_to_cosmos(
    lake: Lake,
    *,
    settings: CosmosSettings | None = None,
    concurrency: int = 16,
    full: bool = False,
    containers: Sequence[CosmosContainer] | None = None,
    retry: TransientRetry = DEFAULT_RETRY,
    versions_per_chunk: int = 16,
    lock_timeout_s: float = 600.0,
) -> SyncReport:
    """Bring each gold container up to its table's current version; returns what was sent.

    Raises CosmosNotConfigured when COSMOS_ENDPOINT is unset (and no settings are
    given), CosmosSyncFailed when a container could not be brought up to date, or
    the state file is unreadable, or another sync held it past `lock_timeout_s`
    (then `__cause__` is the SyncStateError).
    """
    settings = settings or CosmosSettings.from_env(lake.settings.environ)
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    try:
        with sync_lock(lake, timeout_s=lock_timeout_s):
            return _sync_locked(
                lake,
                settings,
                concurrency=concurrency,
                full=full,
                containers=cosmos_containers(registry_manifest()) if containers is None else containers,
                retry=retry,
                versions_per_chunk=versions_per_chunk,
            )
    except SyncStateError as exc:  # before any container was touched
        raise CosmosSyncFailed(str(exc), SyncReport(endpoint=settings.endpoint, database=settings.database)) from exc


def _sync_locked(
    lake: Lake,
    settings: CosmosSettings,
    *,
    concurrency: int,
    full: bool,
    containers: Sequence[CosmosContainer],
    retry: TransientRetry,
    versions_per_chunk: int,
) -> SyncReport:
    started = time.monotonic()
    state = SyncState(lake)  # read under the lock: what the previous sync recorded
    dead_letters = DeadLetters(lake)
    report = SyncReport(endpoint=settings.endpoint, database=settings.database, dead_letter_file=str(dead_letters.path))
    stats = RequestStats()
    client: Any = None
    database: Any = None
    current = ""
    try:
        for spec in containers:
            current = spec.container
            key = target_key(settings.endpoint, settings.database, spec.container)
            plan = _plan(spec, lake, state, key, full)
            entry = ContainerReport(
                spec.container,
                plan.mode,
                plan.reason,
                from_version=None if plan.after_version is None else plan.after_version + 1,
                to_version=plan.head.version if plan.head else None,
            )
            report.containers.append(entry)
            if plan.mode in ("not built", "unchanged"):
                if plan.mode == "unchanged":
                    entry.from_version = None
                continue
            assert plan.head is not None
            if client is None:
                client = open_cosmos_client(settings, concurrency=concurrency, stats=stats)
                database = client.create_database_if_not_exists(settings.database)
            container, new_container = _ensure_container(database, spec, settings.database)
            target = _Target(container, plan, lake, concurrency, retry, dead_letters)
            t0 = time.monotonic()
            log.info("syncing %s: %s (%s)", spec.container, plan.mode, plan.reason or f"after v{plan.after_version}")
            try:
                if plan.mode == "full":
                    _sync_full(target, entry, new_container=new_container)
                    dead_letters.sync()
                    state.commit(
                        key,
                        table=f"{spec.layer}/{spec.model}",
                        delta_table_id=plan.head.table_id,
                        version=plan.head.version,
                        reset=plan.reset,
                    )
                else:
                    _sync_incremental(target, state, entry, versions_per_chunk)
            finally:
                entry.seconds = time.monotonic() - t0
            if entry.writes.rejected:
                log.warning(
                    "%s: %d items refused by Cosmos DB, set aside in %s",
                    spec.container,
                    entry.writes.rejected,
                    dead_letters.path,
                )
    except WriteFailed as exc:
        report.containers[-1].writes = exc.counts
        raise CosmosSyncFailed(
            f"sync of {current} stopped: {exc}; the state still holds its last completed "
            "version, so the next sync resends the rest",
            report,
        ) from exc
    except Exception as exc:
        raise CosmosSyncFailed(f"sync of {current} failed: {exc}", report) from exc
    finally:
        dead_letters.close()
        report.seconds = time.monotonic() - started
        report.request_charge = stats.request_charge
        report.throttled = stats.throttled
        if client is not None:
            client.close()
    return report


def cosmos_sync_step(lake: Lake) -> Callable[[], SyncReport] | None:
    """The sync as a runner step when COSMOS_ENDPOINT is set, else None."""
    if not lake.settings.environ.get("COSMOS_ENDPOINT"):
        return None
    return lambda: sync_gold_to_cosmos(lake)
