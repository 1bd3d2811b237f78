"""Gold -> Cosmos DB from a lake on Azure storage (Azurite at 127.0.0.1:10000, the
emulator's address): the gold tables written there with delta-rs (no Spark), the sync's
state and lock in the container, nothing on the local disk."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from lakehouse.paths import Lake
from lakehouse.serving.cosmos.connection import CosmosSettings
from lakehouse.serving.cosmos.delta_changes import DeltaSource, net_changes
from lakehouse.serving.cosmos.sync import sync_gold_to_cosmos
from lakehouse.storage.delta_rs import table_uri_and_options
from tests.python.azure.azurite import Azurite
from tests.python.azure.conftest import raw_container
from tests.python.serving.gold_data import DEVICE_METRICS, GoldTable, container_items, device_row, expected_item

DEVICES = "gold_device_metrics_5m"


@pytest.fixture
def azure_lake(azurite_lake_server: Azurite, tmp_path: Path) -> Lake:
    name = f"lake-{uuid.uuid4().hex[:12]}"
    raw_container(azurite_lake_server.port, name).create_container()
    return Lake.at(f"wasb://{name}@devstoreaccount1/plant", local=tmp_path / "local")


def gold_table(lake: Lake, model: str) -> GoldTable:
    uri, options = table_uri_and_options(lake.location, lake.credentials, f"gold/{model}")
    return GoldTable(uri, DEVICE_METRICS, storage_options=options)


def test_the_delta_rs_uri_and_options_of_each_kind_of_lake(tmp_path: Path) -> None:
    from lakehouse.storage.credentials import EMULATOR_ACCOUNT_KEY, StorageCredentials

    local = Lake.at(tmp_path / "lake")
    assert table_uri_and_options(local.location, local.credentials, "gold/t") == (f"{tmp_path}/lake/gold/t", {})
    emulator = Lake.at("wasb://c@devstoreaccount1/p")
    assert table_uri_and_options(emulator.location, emulator.credentials, "gold/t") == (
        "az://c/p/gold/t",
        {"account_name": "devstoreaccount1", "account_key": EMULATOR_ACCOUNT_KEY, "use_emulator": "true"},
    )
    keyed = Lake.at("abfss://lake@acct.dfs.core.windows.net/", credentials=StorageCredentials(account_key="k"))
    assert table_uri_and_options(keyed.location, keyed.credentials, "gold/t") == (
        "az://lake/gold/t",
        {"account_name": "acct", "account_key": "k"},
    )
    sas = Lake.at("wasbs://lake@acct.blob.core.windows.net/x", credentials=StorageCredentials(sas_token="sv=1"))
    assert table_uri_and_options(sas.location, sas.credentials, "t")[1] == {"account_name": "acct", "sas_token": "sv=1"}
    principal = StorageCredentials(client_id="id", tenant_id="tn", client_secret="s")  # pragma: allowlist secret
    sp = Lake.at("abfss://lake@acct.dfs.core.windows.net/x", credentials=principal)
    assert table_uri_and_options(sp.location, sp.credentials, "t")[1] == {
        "account_name": "acct",
        "client_id": "id",
        "client_secret": "s",  # pragma: allowlist secret
        "tenant_id": "tn",
    }
    identity = Lake.at("abfss://lake@acct.dfs.core.windows.net/x")
    assert table_uri_and_options(identity.location, identity.credentials, "t")[1] == {
        "account_name": "acct"
    }  # object_store: managed identity


def test_gold_on_azure_storage_syncs_then_only_changes_are_sent(
    azure_lake: Lake,
    azurite_lake_server: Azurite,
    cosmos_settings: CosmosSettings,
    tmp_path: Path,
) -> None:
    devices = gold_table(azure_lake, DEVICES)
    rows = [device_row(d, w) for d in range(6) for w in range(4)]
    devices.create(rows)

    first = sync_gold_to_cosmos(azure_lake, settings=cosmos_settings, concurrency=4)

    entry = {c.container: c for c in first.containers}
    assert (entry[DEVICES].mode, entry[DEVICES].writes.upserted) == ("full", 24)
    assert entry["gold_site_metrics_1h"].mode == "not built"
    assert container_items(cosmos_settings, DEVICES) == {r["metric_id"]: expected_item(r) for r in rows}

    changed = [device_row(0, 0, revision=1), device_row(5, 3, revision=2), device_row(9, 0)]
    devices.merge(changed)  # v1
    devices.delete([device_row(2, 1)["metric_id"]])  # v2

    second = sync_gold_to_cosmos(azure_lake, settings=cosmos_settings, concurrency=4)

    [dev, _] = second.containers
    assert (dev.mode, dev.from_version, dev.to_version) == ("incremental", 1, 2)
    assert (dev.writes.upserted, dev.writes.deleted) == (3, 1)
    expected = {r["metric_id"]: r for r in rows}
    expected.update({r["metric_id"]: r for r in changed})
    expected.pop(device_row(2, 1)["metric_id"])
    assert container_items(cosmos_settings, DEVICES) == {k: expected_item(r) for k, r in expected.items()}

    # The state document lives in the container (read with the Blob API), under the lake's path.
    blobs = raw_container(azurite_lake_server.port, azure_lake.location.container)
    state = json.loads(blobs.download_blob("plant/_serving/cosmos_state.json").readall())
    [(_key, synced)] = [(k, v) for k, v in state["targets"].items() if k.endswith(f"/{DEVICES}")]
    assert synced["synced_version"] == 2 and synced["table"] == f"gold/{DEVICES}"
    assert blobs.get_blob_client("plant/_serving/cosmos_state.json.lock").exists()
    assert not blobs.get_blob_client("plant/_serving/cosmos_dead_letters.jsonl").exists()  # nothing refused
    # Nothing on the local disk: the lake's local side is not even created.
    assert not (tmp_path / "local").exists() or not any((tmp_path / "local").rglob("*"))

    third = sync_gold_to_cosmos(azure_lake, settings=cosmos_settings)
    assert [c.mode for c in third.containers] == ["unchanged", "not built"] and third.items == 0


def test_escaped_partition_folders_on_azure_storage_are_read_from_the_log(azure_lake: Lake) -> None:
    """Timestamp partitions (folders with %3A): the change feed read from the log, its
    log and data files through the storage seam, as on a local lake."""
    import pyarrow as pa
    from deltalake import write_deltalake

    uri, options = table_uri_and_options(azure_lake.location, azure_lake.credentials, "gold/t")
    rows = [device_row(d, w) for d in range(3) for w in range(2)]
    write_deltalake(
        uri,
        pa.Table.from_pylist(rows, schema=DEVICE_METRICS),
        partition_by=["window_start"],
        configuration={"delta.enableChangeDataFeed": "true"},
        storage_options=options,
    )
    folders = azure_lake.files.listing("gold/t").folders
    assert len(folders) == 2 and all("%3A" in name for name in folders)
    later = [device_row(4, 0)]
    write_deltalake(uri, pa.Table.from_pylist(later, schema=DEVICE_METRICS), mode="append", storage_options=options)

    source = DeltaSource.of(azure_lake, "gold/t")
    changes = net_changes(source, "metric_id", after_version=-1, to_version=1)
    assert {r["metric_id"]: r for r in changes.upserts} == {r["metric_id"]: r for r in rows + later}
    assert changes.deletes == []
