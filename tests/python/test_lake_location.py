"""`Lake` and `LakeLocation` round-trip every lake form (no Spark, no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.paths import LOCAL_LAKES_DIR, Lake
from lakehouse.storage.credentials import StorageCredentials
from lakehouse.storage.hadoop import RETRIES, hadoop_settings
from lakehouse.storage.location import LakeLocation, LakeLocationError


@pytest.mark.parametrize(
    ("text", "url", "container", "account", "path"),
    [
        (
            "abfss://lake@acct.dfs.core.windows.net/",
            "abfss://lake@acct.dfs.core.windows.net",
            "lake",
            "acct",
            "",
        ),
        (
            "abfss://lake@acct.dfs.core.windows.net/plant/one/",
            "abfss://lake@acct.dfs.core.windows.net/plant/one",
            "lake",
            "acct",
            "plant/one",
        ),
        ("abfs://lake@acct.dfs.core.windows.net/x", "abfs://lake@acct.dfs.core.windows.net/x", "lake", "acct", "x"),
        (
            "wasbs://lake@acct.blob.core.windows.net/x",
            "wasbs://lake@acct.blob.core.windows.net/x",
            "lake",
            "acct",
            "x",
        ),
        ("wasb://lake@devstoreaccount1/", "wasb://lake@devstoreaccount1", "lake", "devstoreaccount1", ""),
        ("WASB://lake@DevStoreAccount1/a/b", "wasb://lake@devstoreaccount1/a/b", "lake", "devstoreaccount1", "a/b"),
    ],
)
def test_azure_urls_round_trip(text: str, url: str, container: str, account: str, path: str) -> None:
    location = LakeLocation.parse(text)
    assert (location.url, location.container, location.account, location.path) == (url, container, account, path)
    assert LakeLocation.parse(location.url) == location
    assert location.url_of("silver/silver_telemetry") == f"{url}/silver/silver_telemetry"
    assert location.blob_name("capture/a.avro") == "/".join(p for p in (path, "capture/a.avro") if p)
    lake = Lake.at(text)
    assert lake.root == url and not lake.is_local
    assert lake.table("gold", "g") == f"{url}/gold/g"
    assert lake.local == LOCAL_LAKES_DIR / location.slug()
    assert "://" not in str(lake.metastore) and str(lake.metastore).startswith(str(LOCAL_LAKES_DIR))


def test_local_folders_round_trip(tmp_path: Path) -> None:
    for text in (str(tmp_path / "lake"), f"file://{tmp_path}/lake", str(tmp_path / "lake") + "/"):
        lake = Lake.at(text)
        assert lake.root == str(tmp_path / "lake")
        assert lake.is_local and lake.local == tmp_path / "lake"
        assert lake.metastore == tmp_path / "lake" / "_metastore"
        assert lake.table("silver", "s") == f"{tmp_path}/lake/silver/s"
        assert Lake.at(lake.root) == lake
    volume = Lake.at("/Volumes/main/telemetry/lake")
    assert volume.is_local and volume.root == "/Volumes/main/telemetry/lake"


def test_remote_lake_local_side_can_be_given(tmp_path: Path) -> None:
    lake = Lake.at("wasb://lake@devstoreaccount1/p", local=tmp_path / "here")
    assert lake.local == tmp_path / "here" and lake.metastore == tmp_path / "here" / "_metastore"
    assert lake.env()["LAKEHOUSE_ROOT"] == "wasb://lake@devstoreaccount1/p"
    assert lake.env()["LAKEHOUSE_LOCAL_DIR"] == str(tmp_path / "here")


@pytest.mark.parametrize(
    "text",
    [
        "s3://bucket/lake",
        "abfss://acct.dfs.core.windows.net/x",
        "abfss://@acct.dfs.core.windows.net/x",
        "wasb://lake@devstoreaccount1/a/../b",
        "abfss://lake@acct.dfs.core.windows.net/x?sig=abc",
    ],
)
def test_unusable_urls_are_refused(text: str) -> None:
    with pytest.raises(LakeLocationError):
        LakeLocation.parse(text)


def test_synapse_endpoint_is_the_lakes_own() -> None:
    assert LakeLocation.parse("abfss://lake@acct.dfs.core.windows.net/plant").dfs_url == (
        "https://acct.dfs.core.windows.net/lake/plant"
    )
    assert (
        LakeLocation.parse("wasbs://lake@acct.blob.core.windows.net/").dfs_url
        == "https://acct.dfs.core.windows.net/lake"
    )
    assert (
        LakeLocation.parse("wasb://lake@devstoreaccount1/p").dfs_url == "http://127.0.0.1:10000/devstoreaccount1/lake/p"
    )


def test_credentials_never_reach_a_repr() -> None:
    key = "c2VjcmV0LWtleS1mb3ItdGVzdHM="  # pragma: allowlist secret
    credentials = StorageCredentials.from_env({"AZURE_STORAGE_KEY": key})
    lake = Lake.at("abfss://lake@acct.dfs.core.windows.net/", credentials=credentials)
    assert key not in repr(credentials) and key not in repr(lake) and key not in str(lake)
    assert repr(credentials) == "StorageCredentials(account key)"
    settings = hadoop_settings(lake.location, credentials)
    assert settings["spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net"] == key
    assert "fs[.]azure[.]account[.]key" in settings["spark.redaction.regex"]
    # Lakes compare by location: the same lake with other credentials is the same lake.
    assert lake == Lake.at("abfss://lake@acct.dfs.core.windows.net")


def test_identity_is_the_default_on_adls() -> None:
    settings = hadoop_settings(LakeLocation.parse("abfss://lake@acct.dfs.core.windows.net/"), StorageCredentials())
    assert settings["spark.hadoop.fs.azure.account.auth.type.acct.dfs.core.windows.net"] == "OAuth"
    assert settings["spark.hadoop.fs.azure.account.oauth.provider.type.acct.dfs.core.windows.net"].endswith(
        "MsiTokenProvider"
    )
    assert hadoop_settings(LakeLocation.parse("wasb://lake@devstoreaccount1/"), StorageCredentials()) == {
        "spark.redaction.regex": settings["spark.redaction.regex"],
        "spark.hadoop.fs.azure.storage.emulator.account.name": "devstoreaccount1",
        **RETRIES,
    }
