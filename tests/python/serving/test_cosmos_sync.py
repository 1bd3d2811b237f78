"""Gold -> Cosmos DB sync against a real Cosmos SQL-API server (see conftest.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from click.testing import CliRunner

from lakehouse.paths import Lake
from serving.cosmos_connection import CosmosNotConfigured, CosmosSettings
from serving.cosmos_sync import GOLD_CONTAINERS, CosmosSyncFailed, sync_gold_to_cosmos
from serving.cosmos_writer import TransientRetry
from tests.python.serving.conftest import settings_for
from tests.python.serving.cosmos_test_server import TlsFiles
from tests.python.serving.fault_proxy import FaultProxy
from tests.python.serving.gold_data import (
    DEVICE_METRICS, SITE_METRICS, GoldTable, container_items, device_row, expected_item, site_row,
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
    return json.loads((lake.root / "_serving" / "cosmos_state.json").read_text())


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


def test_restated_windows_overwrite_and_each_item_is_sent_once(gold_lake: Lake, cosmos_settings: CosmosSettings) -> None:
    devices = device_table(gold_lake)
    sync_gold_to_cosmos(gold_lake, settings=cosmos_settings, concurrency=4)

    devices.merge([device_row(1, 2, revision=1), device_row(2, 2, revision=1)])       # v1 restates 2 windows
    devices.merge([device_row(1, 2, revision=2), device_row(3, 6), device_row(4, 6)])  # v2 restates one again, adds 2
    devices.replace_where("device_id = 'dev-00005'",                                   # v3 deletes + re-inserts
                          [device_row(5, w, revision=3) for w in range(6)],
                          removed=[device_row(5, w)["metric_id"] for w in range(6)])
    devices.delete([device_row(6, 0)["metric_id"]])                                    # v4 deletes a window

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

    with CosmosClient(cosmos_settings.endpoint, cosmos_settings.key, connection_verify=str(cosmos_settings.ca_cert),
                      ssl_config=SSLConfiguration()) as client:
        database = client.get_database_client(cosmos_settings.database)
        for spec in GOLD_CONTAINERS:
            container = database.get_container_client(spec.container)
            assert container.read()["partitionKey"]["paths"] == [f"/{spec.partition_key}"]
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
    devices.merge(device_row(d, 5) for d in range(40))                                  # 40 new
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


def test_a_recreated_table_is_resynced_whole_and_stale_items_go(gold_lake: Lake, cosmos_settings: CosmosSettings) -> None:
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
    from lakehouse.cli import cli

    for name in ("COSMOS_ENDPOINT", "COSMOS_KEY", "COSMOS_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CosmosNotConfigured, match="set COSMOS_ENDPOINT") as raised:
        sync_gold_to_cosmos(gold_lake)
    assert "COSMOS_KEY" in str(raised.value) and "DefaultAzureCredential" in str(raised.value)

    result = CliRunner().invoke(cli, ["--lake", str(gold_lake.root), "serve", "cosmos-sync"])
    assert result.exit_code != 0 and "set COSMOS_ENDPOINT" in result.output


def test_cli_syncs_and_reports_throughput(gold_lake: Lake, cosmos_settings: CosmosSettings,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.cli import cli

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
    settings = CosmosSettings.from_env({"COSMOS_ENDPOINT": "https://acct.documents.azure.com:443/",
                                        "COSMOS_CA_CERT": str(tls_files.cert)})
    assert settings.uses_entra_id and settings.database == "telemetry"
    keyed = CosmosSettings.from_env({"COSMOS_ENDPOINT": "https://a/", "COSMOS_KEY": "k", "COSMOS_DATABASE": "d"})
    assert dataclasses.astuple(keyed)[:3] == ("https://a/", "k", "d")
    with pytest.raises(CosmosNotConfigured, match="https:// URL"):
        CosmosSettings.from_env({"COSMOS_ENDPOINT": "acct.documents.azure.com"})


def test_deleting_an_item_that_is_already_gone_counts_as_done(cosmos_settings: CosmosSettings) -> None:
    from azure.cosmos import PartitionKey

    from serving.cosmos_connection import RequestStats, open_cosmos_client
    from serving.cosmos_writer import Delete, Upsert, write_items

    client = open_cosmos_client(cosmos_settings, concurrency=2, stats=RequestStats())
    container = client.create_database_if_not_exists(cosmos_settings.database).create_container_if_not_exists(
        "c", partition_key=PartitionKey(path="/device_id"))
    counts = write_items(container, [Upsert({"id": "a", "device_id": "d"}), Delete("gone", "d")], concurrency=2)
    assert (counts.upserted, counts.deleted, counts.already_absent) == (1, 0, 1)
    client.close()
