"""Gold -> Cosmos DB sync against a real Cosmos SQL-API server (see conftest.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.cli.console import sync_lines
from lakehouse.paths import Lake
from lakehouse.serving.cosmos.connection import CosmosNotConfigured, CosmosSettings
from lakehouse.serving.cosmos.sync import CosmosSyncFailed, SyncReport, sync_gold_to_cosmos
from lakehouse.serving.cosmos.writer import TransientRetry
from tests.python.serving.conftest import settings_for
from tests.python.serving.cosmos_test_server import EMULATOR_KEY, TlsFiles
from tests.python.serving.fault_proxy import FaultProxy
from tests.python.serving.gold_data import (
    DEVICE_METRICS,
    SITE_METRICS,
    GoldTable,
    container_items,
    device_row,
    expected_item,
    site_row,
)

DEVICES = "gold_device_metrics_5m"
SITES = "gold_site_metrics_1h"
FAST_RETRY = TransientRetry(attempts=2, first_backoff_s=0.01)


def device_table(lake: Lake, devices: int = 12, windows: int = 6) -> GoldTable:
    table = GoldTable(lake.table("gold", DEVICES), DEVICE_METRICS)
    table.create(device_row(d, w) for d in range(devices) for w in range(windows))
    return table


def site_table(lake: Lake, sites: int = 3, hours: int = 4) -> GoldTable:
    table = GoldTable(lake.table("gold", SITES), SITE_METRICS)
    table.create(site_row(s, h) for s in range(sites) for h in range(hours))
    return table


def assert_container_matches(settings: CosmosSettings, container: str, table: GoldTable) -> None:
    actual = container_items(settings, container)
    expected = {key: expected_item(row) for key, row in table.rows.items()}
    assert actual.keys() == expected.keys()
    assert actual == expected


def state(lake: Lake) -> dict:
    document = lake.files.read_json(Lake.cosmos_state_key)
    assert document is not None, "no sync state"
    return document


def synced_versions(lake: Lake) -> dict[str, int]:
    return {key.rsplit("/", 1)[-1]: entry["synced_version"] for key, entry in state(lake)["targets"].items()}


def test_first_sync_loads_the_snapshot_then_nothing_is_resent(gold_lake: Lake, cosmos_settings: CosmosSettings) -> None:
    devices, sites = device_table(gold_lake), site_table(gold_lake)
    devices.merge([device_row(0, 0, revision=1), device_row(0, 9)])  # v1: history before the first sync

    first = sync_gold_to_cosmos(gold_lake, settings=cosmos_settings, concurrency=4)

    by_name = {c.container: c for c in first.containers}
    assert by_name[DEVICES].mode == "full" and by_name[DEVICES].writes.upserted == len(devices.rows) == 73
    assert by_name[SITES].mode == "full" and by_name[SITES].writes.upserted == len(sites.rows) == 12
    assert first.items == 85 and first.request_charge >= 85  # the server charges 1 RU per request
    assert_container_matches(cosmos_settings, DEVICES, devices)
    assert_container_matches(cosmos_settings, SITES, sites)
    assert synced_versions(gold_lake) == {DEVICES: 1, SITES: 0}

    second = sync_gold_to_cosmos(gold_lake, settings=cosmos_settings, concurrency=4)
    assert second.items == 0
    assert [c.mode for c in second.containers] == ["unchanged", "unchanged"]
    assert second.request_charge == 0  # not even a connection


def test_restated_windows_overwrite_and_each_item_is_sent_once(
    gold_lake: Lake, cosmos_settings: CosmosSettings
) -> None:
    devices = device_table(gold_lake)
    sync_gold_to_cosmos(gold_lake, settings=cosmos_settings, concurrency=4)

    devices.merge([device_row(1, 2, revision=1), device_row(2, 2, revision=1)])  # v1 restates 2 windows
    devices.merge([device_row(1, 2, revision=2), device_row(3, 6), device_row(4, 6)])  # v2 restates one again, adds 2
    devices.replace_where(
        "device_id = 'dev-00005'",  # v3 deletes + re-inserts
        [device_row(5, w, revision=3) for w in range(6)],
        removed=[device_row(5, w)["metric_id"] for w in range(6)],
    )
    devices.delete([device_row(6, 0)["metric_id"]])  # v4 deletes a window

    report = sync_gold_to_cosmos(gold_lake, settings=cosmos_settings, concurrency=4)

    [entry, _sites] = report.containers
    assert (entry.mode, entry.from_version, entry.to_version) == ("incremental", 1, 4)
    # windows (1,2) and (2,2) restated (once each, though (1,2) changed twice), 2 new, 6 replaced, 1 deleted:
    # 11 operations for 21 change rows
    assert (entry.writes.upserted, entry.writes.deleted) == (10, 1)
    assert entry.change_rows_read == 4 + 4 + 12 + 1
    assert_container_matches(cosmos_settings, DEVICES, devices)
    assert container_items(cosmos_settings, DEVICES)[device_row(1, 2)["metric_id"]]["event_count"] == 12
    assert synced_versions(gold_lake)[DEVICES] == 4


def test_items_are_partitioned_by_device_and_by_site(gold_lake: Lake, cosmos_settings: CosmosSettings) -> None:
    from azure.cosmos import CosmosClient
    from azure.cosmos.documents import SSLConfiguration

    device_table(gold_lake, devices=2, windows=1)
    site_table(gold_lake, sites=1, hours=1)
    sync_gold_to_cosmos(gold_lake, settings=cosmos_settings)

    with CosmosClient(
        cosmos_settings.endpoint,
        cosmos_settings.key,
        connection_verify=str(cosmos_settings.ca_cert),
        ssl_config=SSLConfiguration(),
    ) as client:
        database = client.get_database_client(cosmos_settings.database)
        # The containers the gold models' yml asks for (meta.cosmos.partition_key).
        for name, partition_key in {DEVICES: "device_id", SITES: "site_id"}.items():
            container = database.get_container_client(name)
            assert container.read()["partitionKey"]["paths"] == [f"/{partition_key}"]
        item = database.get_container_client(DEVICES).read_item("dev-00001_20261122T0000Z", partition_key="dev-00001")
        assert item["temperature_c_avg"] == 21.0 and item["window_start"] == "2026-11-22T00:00:00.0000000Z"
        site = database.get_container_client(SITES).read_item("site-000_20261122T0000Z", partition_key="site-000")
        assert site["device_count"] == 5


def test_a_sync_interrupted_by_the_server_resumes_without_loss(
    gold_lake: Lake, cosmos_server, fault_proxy: FaultProxy
) -> None:
    settings = settings_for(fault_proxy.endpoint, cosmos_server.tls, "resume")
    devices, sites = device_table(gold_lake, devices=40, windows=5), site_table(gold_lake)
    sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=4)
    before = synced_versions(gold_lake)

    devices.merge(device_row(d, w, revision=1) for d in range(40) for w in range(3, 5))  # 80 restated
    devices.merge(device_row(d, 5) for d in range(40))  # 40 new
    sites.merge([site_row(0, 0, revision=1)])
    fault_proxy.fail_writes_after(50)

    with pytest.raises(CosmosSyncFailed) as failed:
        sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=4, retry=FAST_RETRY)

    assert "resends the rest" in str(failed.value)
    written = failed.value.report.containers[0].writes.upserted
    assert 50 <= written < 120
    assert synced_versions(gold_lake) == before  # nothing committed for the interrupted range
    changed = {device_row(d, w)["metric_id"] for d in range(40) for w in range(3, 6)}
    in_cosmos = container_items(settings, DEVICES)
    assert sum(in_cosmos.get(key) == expected_item(devices.rows[key]) for key in changed) == written

    fault_proxy.heal()
    resumed = sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=4)

    [dev, site] = resumed.containers
    assert (dev.mode, dev.from_version, dev.to_version, dev.writes.upserted) == ("incremental", 1, 2, 120)
    assert (site.mode, site.writes.upserted) == ("incremental", 1)
    assert_container_matches(settings, DEVICES, devices)
    assert_container_matches(settings, SITES, sites)
    assert synced_versions(gold_lake) == {DEVICES: 2, SITES: 1}


def test_throttling_is_retried_after_the_time_the_server_asks_for(
    gold_lake: Lake, cosmos_server, fault_proxy: FaultProxy
) -> None:
    settings = settings_for(fault_proxy.endpoint, cosmos_server.tls, "throttled")
    devices = device_table(gold_lake, devices=10, windows=2)
    fault_proxy.throttle_next(6, retry_after_ms=300)

    report = sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=3)

    assert report.throttled == 6 and report.items == 20
    assert_container_matches(settings, DEVICES, devices)
    writes = fault_proxy.item_writes()
    throttled = [w for w in writes if w.status == 429]
    assert len(throttled) == 6
    for refused in throttled:
        retry = next(w for w in writes if w.item_id == refused.item_id and w.at > refused.at)
        assert retry.at - refused.at >= 0.29, f"{refused.item_id} retried after {retry.at - refused.at:.3f} s"


def test_a_recreated_table_is_resynced_whole_and_stale_items_go(
    gold_lake: Lake, cosmos_settings: CosmosSettings
) -> None:
    device_table(gold_lake, devices=5, windows=4)
    sync_gold_to_cosmos(gold_lake, settings=cosmos_settings)
    shutil.rmtree(gold_lake.table("gold", DEVICES))
    rebuilt = device_table(gold_lake, devices=3, windows=2)  # a full refresh into an empty folder: new table id
    rebuilt.merge([device_row(0, 0, revision=2)])

    report = sync_gold_to_cosmos(gold_lake, settings=cosmos_settings)

    [entry, _] = report.containers
    assert entry.mode == "full" and "recreated" in entry.reason
    assert (entry.writes.upserted, entry.writes.deleted) == (6, 14)
    assert_container_matches(cosmos_settings, DEVICES, rebuilt)


def test_full_resends_everything(gold_lake: Lake, cosmos_settings: CosmosSettings) -> None:
    devices = device_table(gold_lake, devices=3, windows=3)
    sync_gold_to_cosmos(gold_lake, settings=cosmos_settings)
    report = sync_gold_to_cosmos(gold_lake, settings=cosmos_settings, full=True)
    assert report.containers[0].mode == "full" and report.items == 9
    assert_container_matches(cosmos_settings, DEVICES, devices)


def test_without_an_endpoint_the_sync_says_what_to_set(gold_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.cli.main import cli

    for name in ("COSMOS_ENDPOINT", "COSMOS_KEY", "COSMOS_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CosmosNotConfigured, match="set COSMOS_ENDPOINT") as raised:
        sync_gold_to_cosmos(gold_lake)
    assert "COSMOS_KEY" in str(raised.value) and "DefaultAzureCredential" in str(raised.value)

    result = CliRunner().invoke(cli, ["--lake", str(gold_lake.root), "serve", "cosmos-sync"])
    assert result.exit_code != 0 and "set COSMOS_ENDPOINT" in result.output


def test_cli_syncs_and_reports_throughput(
    gold_lake: Lake, cosmos_settings: CosmosSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.cli.main import cli

    device_table(gold_lake, devices=4, windows=2)
    monkeypatch.setenv("COSMOS_ENDPOINT", cosmos_settings.endpoint)
    monkeypatch.setenv("COSMOS_KEY", cosmos_settings.key or "")
    monkeypatch.setenv("COSMOS_DATABASE", cosmos_settings.database)
    monkeypatch.setenv("COSMOS_CA_CERT", str(cosmos_settings.ca_cert))

    result = CliRunner().invoke(cli, ["--lake", str(gold_lake.root), "serve", "cosmos-sync", "--concurrency", "2"])

    assert result.exit_code == 0, result.output
    assert "gold_device_metrics_5m" in result.output and "8 upserted" in result.output
    assert "items/s" in result.output and " RU" in result.output
    assert "not built yet" in result.output  # the site table does not exist in this lake


def test_settings_come_from_the_environment(tls_files: TlsFiles) -> None:
    settings = CosmosSettings.from_env(
        {"COSMOS_ENDPOINT": "https://acct.documents.azure.com:443/", "COSMOS_CA_CERT": str(tls_files.cert)}
    )
    assert settings.uses_entra_id and settings.database == "telemetry"
    keyed = CosmosSettings.from_env({"COSMOS_ENDPOINT": "https://a/", "COSMOS_KEY": "k", "COSMOS_DATABASE": "d"})
    assert dataclasses.astuple(keyed)[:3] == ("https://a/", "k", "d")
    with pytest.raises(CosmosNotConfigured, match="https:// URL"):
        CosmosSettings.from_env({"COSMOS_ENDPOINT": "acct.documents.azure.com"})


def test_deleting_an_item_that_is_already_gone_counts_as_done(cosmos_settings: CosmosSettings) -> None:
    from azure.cosmos import PartitionKey

    from lakehouse.serving.cosmos.connection import RequestStats, open_cosmos_client
    from lakehouse.serving.cosmos.writer import Delete, Upsert, write_items

    client = open_cosmos_client(cosmos_settings, concurrency=2, stats=RequestStats())
    container = client.create_database_if_not_exists(cosmos_settings.database).create_container_if_not_exists(
        "c", partition_key=PartitionKey(path="/device_id")
    )
    counts = write_items(container, [Upsert({"id": "a", "device_id": "d"}), Delete("gone", "d")], concurrency=2)
    assert (counts.upserted, counts.deleted, counts.already_absent) == (1, 0, 1)
    client.close()


# --------------------------------------------------------------------------- nothing lost, nothing leaked


def dead_letters(lake: Lake) -> list[dict]:
    if not lake.files.exists(Lake.cosmos_dead_letters_key):
        return []
    return [json.loads(line) for line in lake.files.read_bytes(Lake.cosmos_dead_letters_key).splitlines()]


def bad_device_row(device_id: str, window: int = 0, *, revision: int = 0) -> dict:
    row = device_row(0, window, revision=revision)
    return {**row, "device_id": device_id, "metric_id": row["metric_id"].replace("dev-00000", device_id)}


def test_items_cosmos_refuses_are_dead_lettered_and_the_sync_goes_on(
    gold_lake: Lake, cosmos_server, fault_proxy: FaultProxy
) -> None:
    settings = settings_for(fault_proxy.endpoint, cosmos_server.tls, "refused")
    slash = bad_device_row("dev/evil")  # an id with / : refused before sending
    long_id = bad_device_row("d" * 1100)  # over 1,023 bytes: refused before sending
    tab = bad_device_row("dev\t1")  # a tab: the SDK itself refuses it (ValueError) before sending
    refused = device_row(7, 0)  # the service answers 400 for this one
    devices = GoldTable(gold_lake.table("gold", DEVICES), DEVICE_METRICS)
    devices.create([*(device_row(d, w) for d in range(3) for w in range(2)), slash, long_id, tab])
    first = sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=2, retry=FAST_RETRY)

    devices.merge([device_row(0, 0, revision=1), refused, bad_device_row("dev/evil", revision=1)])  # v1
    fault_proxy.refuse_items({refused["metric_id"]: 400})
    second = sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=2, retry=FAST_RETRY)
    third = sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=2, retry=FAST_RETRY)

    bad_ids = {slash["metric_id"], long_id["metric_id"], tab["metric_id"], refused["metric_id"]}
    assert (first.containers[0].writes.upserted, first.containers[0].writes.rejected) == (6, 3)
    assert (second.containers[0].writes.upserted, second.containers[0].writes.rejected) == (1, 2)
    assert "2 items were refused" in sync_lines(second)[-1]
    assert [c.mode for c in third.containers] == ["unchanged", "not built"] and third.items == 0
    assert synced_versions(gold_lake) == {DEVICES: 1}  # the version advanced past the refused items
    in_cosmos = container_items(settings, DEVICES)
    assert in_cosmos == {k: expected_item(r) for k, r in devices.rows.items() if k not in bad_ids}
    # Nothing invalid was sent; the 400 one was sent once (a refusal is not retried).
    sent = [w.item_id for w in fault_proxy.item_writes()]
    assert not (bad_ids - {refused["metric_id"]}) & set(sent) and sent.count(refused["metric_id"]) == 1

    letters = dead_letters(gold_lake)
    # Each refused item once (within one sync they come in completion order).
    assert sorted((d["versions"], d["operation"], d["id"], d["partition_key"], d["status"] or 0) for d in letters) == [
        ("snapshot v0", "upsert", long_id["metric_id"], "d" * 1100, 0),
        ("snapshot v0", "upsert", tab["metric_id"], "dev\t1", 0),
        ("snapshot v0", "upsert", slash["metric_id"], "dev/evil", 0),
        ("v1..v1", "upsert", refused["metric_id"], refused["device_id"], 400),
        ("v1..v1", "upsert", slash["metric_id"], "dev/evil", 0),
    ]
    by_version_and_id = {(d["versions"], d["id"]): d for d in letters}
    assert "contains /" in by_version_and_id[("snapshot v0", slash["metric_id"])]["reason"]
    assert "1,023" in by_version_and_id[("snapshot v0", long_id["metric_id"])]["reason"]
    assert by_version_and_id[("v1..v1", refused["metric_id"])]["reason"].startswith("HTTP 400")
    assert by_version_and_id[("v1..v1", slash["metric_id"])]["item"] == expected_item(devices.rows[slash["metric_id"]])
    assert all(d["target"].endswith(f"/refused/{DEVICES}") and d["table"] == f"gold/{DEVICES}" for d in letters)


def test_a_refusal_that_is_not_about_the_item_stops_the_sync(
    gold_lake: Lake, cosmos_server, fault_proxy: FaultProxy
) -> None:
    settings = settings_for(fault_proxy.endpoint, cosmos_server.tls, "forbidden")
    devices = device_table(gold_lake, devices=2, windows=2)
    fault_proxy.refuse_items({device_row(1, 1)["metric_id"]: 403})  # auth: every item would fail alike
    with pytest.raises(CosmosSyncFailed, match="resends the rest"):
        sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=1, retry=FAST_RETRY)
    assert not gold_lake.files.exists(Lake.cosmos_state_key) and dead_letters(gold_lake) == []
    fault_proxy.refuse_items({})
    sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=1)
    assert_container_matches(settings, DEVICES, devices)


def test_two_concurrent_syncs_take_turns_and_never_move_the_version_back(
    gold_lake: Lake, cosmos_server, fault_proxy: FaultProxy
) -> None:
    import threading

    settings = settings_for(fault_proxy.endpoint, cosmos_server.tls, "concurrent")
    devices = device_table(gold_lake, devices=3, windows=2)
    sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=1)
    devices.merge([device_row(0, 0, revision=1)])  # v1
    fault_proxy.hold_first_write()
    outcomes: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=1)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            outcomes[name] = exc

    first = threading.Thread(target=run, args=("first",))
    first.start()  # plans v1, its write is held
    assert fault_proxy.held.wait(timeout=30)
    devices.merge([device_row(0, 0, revision=2), device_row(1, 1, revision=2)])  # v2
    second = threading.Thread(target=run, args=("second",))
    second.start()
    second.join(timeout=2.0)  # without a lock it would be done now
    fault_proxy.release()
    first.join(timeout=60)
    second.join(timeout=60)

    assert all(isinstance(r, SyncReport) for r in outcomes.values()), outcomes
    assert synced_versions(gold_lake) == {DEVICES: 2}
    assert_container_matches(settings, DEVICES, devices)  # revision 2 of (0, 0), not the first sync's revision 1
    first_report, second_report = outcomes["first"], outcomes["second"]
    assert isinstance(first_report, SyncReport) and isinstance(second_report, SyncReport)
    assert (first_report.containers[0].from_version, first_report.containers[0].to_version) == (1, 1)
    assert (second_report.containers[0].from_version, second_report.containers[0].to_version) == (2, 2)  # waited


def test_the_state_never_moves_back_and_a_held_lock_fails_clearly(gold_lake: Lake) -> None:
    from lakehouse.serving.cosmos.sync_state import SyncState, SyncStateError, sync_lock

    early, late = SyncState(gold_lake), SyncState(gold_lake)  # two runs that read the state before either wrote it
    late.commit("t/db/c", table="gold/x", delta_table_id="id-1", version=5)
    with pytest.raises(SyncStateError, match="refusing to move t/db/c back from v5 to v3"):
        early.commit("t/db/c", table="gold/x", delta_table_id="id-1", version=3)
    early.commit("t/db/c", table="gold/x", delta_table_id="id-2", version=0)  # a recreated table starts over
    early.commit("t/db/other", table="gold/y", delta_table_id="id-3", version=1)
    on_disk = state(gold_lake)["targets"]
    assert {k: (v["delta_table_id"], v["synced_version"]) for k, v in on_disk.items()} == {
        "t/db/c": ("id-2", 0),
        "t/db/other": ("id-3", 1),
    }

    settings = CosmosSettings(endpoint="https://127.0.0.1:9/", key="k")
    busy = r"another cosmos-sync is running on this lake .*pid \d+.*waited 0.2 s"
    with sync_lock(gold_lake, timeout_s=1), pytest.raises(CosmosSyncFailed, match=busy) as failed:
        sync_gold_to_cosmos(gold_lake, settings=settings, lock_timeout_s=0.2)
    assert isinstance(failed.value.__cause__, SyncStateError)


def test_a_corrupt_state_file_fails_with_the_file_and_the_way_out(
    gold_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.cli.main import cli

    state_file = Path(gold_lake.url(Lake.cosmos_state_key))
    state_file.parent.mkdir(parents=True)
    state_file.write_text('{"format": 1, "targets": {"a/b/c": {"table": ')  # torn by a full disk
    monkeypatch.setenv("COSMOS_ENDPOINT", "https://127.0.0.1:9/")
    monkeypatch.setenv("COSMOS_KEY", "k")
    result = CliRunner().invoke(cli, ["--lake", str(gold_lake.root), "serve", "cosmos-sync"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert f"{state_file} is not a readable sync state" in result.output
    assert f"mv {state_file} {state_file}.bad" in result.output and "Traceback" not in result.output


def test_http_endpoints_only_on_loopback_and_the_key_is_never_printed() -> None:
    for endpoint in ("http://127.0.0.1:8081/", "http://localhost:8081/", "http://[::1]:8081/", "http://127.8.9.10/"):
        assert CosmosSettings.from_env({"COSMOS_ENDPOINT": endpoint}).endpoint == endpoint
    for endpoint in ("http://acct.documents.azure.com:443/", "http://10.0.0.5:8081/", "http://127.0.0.1.nip.io/"):
        with pytest.raises(
            CosmosNotConfigured, match=r"must be an https:// URL.*only for a local emulator on loopback"
        ):
            CosmosSettings.from_env({"COSMOS_ENDPOINT": endpoint})
    settings = CosmosSettings.from_env({"COSMOS_ENDPOINT": "https://a/", "COSMOS_KEY": EMULATOR_KEY})
    assert settings.key == EMULATOR_KEY and EMULATOR_KEY not in repr(settings) and "key=" not in repr(settings)


def test_changes_are_applied_in_version_chunks_with_progress_saved_after_each(
    gold_lake: Lake, cosmos_server, fault_proxy: FaultProxy
) -> None:
    settings = settings_for(fault_proxy.endpoint, cosmos_server.tls, "chunks")
    devices = device_table(gold_lake, devices=4, windows=2)
    sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=2)
    a, b = device_row(0, 0)["metric_id"], device_row(1, 1)["metric_id"]
    devices.merge([device_row(0, 0, revision=1)])  # v1: a
    devices.merge([device_row(0, 0, revision=2)])  # v2: a again (same chunk as v1)
    devices.delete([b])  # v3: b deleted
    devices.merge([device_row(1, 1, revision=4), device_row(0, 0, revision=4)])  # v4: b back, a again
    devices.merge([device_row(2, 0, revision=5)])  # v5
    fault_proxy.fail_writes_after(2)  # chunk v1..v2 (1 write) and v3..v4 (2 writes): the second one's last fails

    with pytest.raises(CosmosSyncFailed):
        sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=1, retry=FAST_RETRY, versions_per_chunk=2)
    assert synced_versions(gold_lake) == {DEVICES: 2}  # chunk v1..v2 was applied and recorded
    # Chunk v1..v2 reached Cosmos: a holds revision 2, or 4 when chunk v3..v4 wrote a
    # before the write that failed (the order of a chunk's writes is not fixed).
    assert container_items(settings, DEVICES)[a]["event_count"] in (12, 14)

    fault_proxy.heal()
    resumed = sync_gold_to_cosmos(gold_lake, settings=settings, concurrency=1, versions_per_chunk=2)
    entry = resumed.containers[0]
    assert (entry.from_version, entry.to_version, entry.writes.upserted, entry.writes.deleted) == (3, 5, 3, 0)
    assert synced_versions(gold_lake) == {DEVICES: 5}
    assert_container_matches(settings, DEVICES, devices)


def test_a_resent_range_does_not_dead_letter_an_item_twice(gold_lake: Lake) -> None:
    from lakehouse.serving.cosmos.dead_letters import DeadLetters
    from lakehouse.serving.cosmos.writer import Rejected, Upsert

    def letter(run: DeadLetters, revision: int) -> None:
        item = expected_item(bad_device_row("dev/evil", revision=revision))
        run.add(
            Rejected(Upsert(item), None, "the id contains /"),
            target="h/db/c",
            table="gold/t",
            versions="v1..v2",
            partition_key="device_id",
        )
        run.sync()
        run.close()

    for revision in (0, 0, 1, 1, 0):  # an interrupted run's range resent; then changed; then back as it was
        letter(DeadLetters(gold_lake), revision)
    assert [d["item"]["event_count"] for d in dead_letters(gold_lake)] == [10, 11, 10]
