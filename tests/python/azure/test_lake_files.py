"""The lake's storage seam (`lakehouse.storage.files`), every operation on a local folder
and on an Azurite container (the Blob API), with the same assertions."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient, LinearRetry

from lakehouse.storage.files import BlobLakeFiles, LakeFiles, LocalLakeFiles, LockBusy, StorageError
from lakehouse.storage.location import LakeLocation
from tests.python.azure.azurite import Azurite
from tests.python.azure.conftest import raw_container


def blob_files(azurite: Azurite, container: str) -> BlobLakeFiles:
    """The seam on a container of the test's Azurite (the client carries its endpoint), with
    short retries (the storage SDK's default waits 15 s and more before each)."""
    location = LakeLocation.parse(f"wasb://{container}@devstoreaccount1/some/path")
    client = ContainerClient.from_connection_string(
        azurite.connection_string,
        container,
        retry_policy=LinearRetry(backoff=0.1, random_jitter_range=0.05, retry_total=1),
        connection_timeout=1,
        read_timeout=3,
    )
    return BlobLakeFiles(location, client)


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.servers)])  # blob: Azurite
def files(request: pytest.FixtureRequest, tmp_path: Path, container_name: str) -> LakeFiles:
    if request.param == "local":
        seam: LakeFiles = LocalLakeFiles(LakeLocation.parse(tmp_path / "lake"))
    else:
        seam = blob_files(request.getfixturevalue("azurite"), container_name)
    seam.ensure()
    seam.ensure()  # twice: an existing folder or container is fine
    return seam


def test_listing_is_one_level_and_skips_hidden_names(files: LakeFiles) -> None:
    for key in ("t/a.parquet", "t/b.json", "t/_delta_log/0.json", "t/.a.parquet.crc", "t/x=1/c.parquet", "t/_tmp/d"):
        files.create(key, b"12345")
    files.create("t/x=2/deeper/e", b"1")
    files.create("other/f", b"1")

    listing = files.listing("t")
    assert listing.folders == ["x=1", "x=2"]
    assert listing.files == {"a.parquet": 5, "b.json": 5}
    assert files.listing("").folders == ["other", "t"] and files.listing("").files == {}
    assert files.listing("t/_delta_log").files == {"0.json": 5}  # a hidden folder listed by name
    assert files.listing("missing").folders == [] and files.listing("missing").files == {}
    assert files.listing("t/a.parquet").files == {}  # a file is no folder


def test_walk_finds_every_file_below_a_prefix_but_hidden_ones(files: LakeFiles) -> None:
    for key in ("t/a", "t/x=1/b", "t/x=1/y/c", "t/_delta_log/0.json", "t/x=1/.c.crc", "tt/not-below"):
        files.create(key, b"ab")
    assert files.walk("t") == {"t/a": 2, "t/x=1/b": 2, "t/x=1/y/c": 2}
    assert files.walk("missing") == {}
    assert set(files.walk("")) == {"t/a", "t/x=1/b", "t/x=1/y/c", "tt/not-below"}


def test_create_refuses_a_second_create_and_put_replaces(files: LakeFiles) -> None:
    files.create("s/doc", b"first")
    with pytest.raises(FileExistsError, match="created once"):
        files.create("s/doc", b"second")
    assert files.read_bytes("s/doc") == b"first" and files.size("s/doc") == 5 and files.exists("s/doc")

    files.put("s/doc", b"replaced")
    files.put("s/new", b"")  # put creates too
    assert files.read_bytes("s/doc") == b"replaced" and files.read_bytes("s/new") == b""
    assert files.size("s/missing") is None and not files.exists("s/missing")
    with pytest.raises(FileNotFoundError):
        files.read_bytes("s/missing")


def test_move_and_delete(files: LakeFiles) -> None:
    files.create("in/a", b"payload")
    files.move("in/a", "out/sub/a")
    assert not files.exists("in/a") and files.read_bytes("out/sub/a") == b"payload"
    files.put("out/b", b"old")
    files.create("in/b", b"new")
    files.move("in/b", "out/b")  # onto an existing key: replaced
    assert files.read_bytes("out/b") == b"new"

    files.delete("out/sub/a")
    files.delete("out/sub/a")  # already gone: fine
    files.delete("never/was")
    assert not files.exists("out/sub/a")


def test_json_documents(files: LakeFiles) -> None:
    assert files.read_json("_state/missing.json") is None
    files.write_json("_state/doc.json", {"b": [1, 2], "a": "é"})
    files.write_json("_state/doc.json", {"version": 2})
    assert files.read_json("_state/doc.json") == {"version": 2}
    files.put("_state/torn.json", b'{"a": ')
    with pytest.raises(ValueError, match="Expecting value"):
        files.read_json("_state/torn.json")


def test_the_lock_excludes_a_second_holder_and_is_free_after_release(files: LakeFiles) -> None:
    taken, release, outcome = threading.Event(), threading.Event(), {}

    def holder() -> None:
        with files.lock("_serving/x.lock", timeout=5, what="the test lock"):
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert taken.wait(30)
        started = time.monotonic()
        busy = r"the test lock is held by another process.*waited 0\.5 s"
        with pytest.raises(LockBusy, match=busy), files.lock("_serving/x.lock", timeout=0.5, what="the test lock"):
            outcome["second"] = "held it"
        assert time.monotonic() - started >= 0.5 and "second" not in outcome
    finally:
        release.set()
        thread.join(30)
    with (
        files.lock("_serving/x.lock", timeout=5, what="the test lock"),  # free again
        files.lock("_serving/other.lock", timeout=0, what="another lock"),  # other keys are independent
    ):
        pass
    assert files.listing("_serving").files.keys() <= {"x.lock", "other.lock"}


def test_a_stopped_storage_fails_naming_it(azurite: Azurite, container_name: str) -> None:
    files = blob_files(azurite, container_name)
    files.ensure()
    files.put("k", b"1")
    azurite.stop()
    try:
        for operation in (
            lambda: files.read_bytes("k"),
            lambda: files.put("k", b"2"),
            lambda: files.create("k2", b"2"),
            lambda: files.listing(""),
            lambda: files.walk(""),
            lambda: files.size("k"),
            lambda: files.delete("k"),
            lambda: files.read_json("k"),
        ):
            with pytest.raises(StorageError, match=rf"storage {azurite.blob_endpoint}/{container_name} failed"):
                operation()
        with pytest.raises(StorageError, match=container_name), files.lock("l", timeout=0.5, what="the test lock"):
            pass
    finally:
        azurite.ensure_running()
    assert files.read_bytes("k") == b"1"


def test_a_missing_container_is_named_not_waited_on(azurite: Azurite, container_name: str) -> None:
    files = blob_files(azurite, container_name)  # never ensured
    assert files.listing("").files == {} and files.walk("") == {} and files.size("k") is None
    assert files.read_json("k") is None
    files.delete("k")
    with pytest.raises(StorageError, match=f"container {container_name} does not exist"):
        files.put("k", b"1")
    started = time.monotonic()
    missing = f"container {container_name} does not exist"
    with pytest.raises(StorageError, match=missing), files.lock("l", timeout=30, what="the test lock"):
        pass
    assert time.monotonic() - started < 10


def test_the_seams_client_retries_briefly() -> None:
    from lakehouse.storage.credentials import StorageCredentials
    from lakehouse.storage.files import container_client

    location = LakeLocation.parse("wasb://c@devstoreaccount1/p")
    policy = container_client(location, StorageCredentials())._config.retry_policy
    assert (policy.total_retries, policy.initial_backoff, policy.increment_base) == (3, 0.5, 2)
    quick = container_client(location, StorageCredentials(), retry_total=1, retry_backoff_factor=0.1)
    assert (quick._config.retry_policy.total_retries, quick._config.retry_policy.initial_backoff) == (1, 0.1)


def test_blob_keys_live_under_the_lake_path(azurite: Azurite, container_name: str) -> None:
    files = blob_files(azurite, container_name)
    files.ensure()
    files.create("gold/t/a", b"1")
    assert [b.name for b in raw_container(azurite.port, container_name).list_blobs()] == ["some/path/gold/t/a"]
    assert files.url("gold/t/a") == f"wasb://{container_name}@devstoreaccount1/some/path/gold/t/a"


def test_two_machines_never_write_one_lake_on_azure_storage_at_once(
    azurite_lake_server: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two metastores (two machines' local sides) on one lake URL: the second writer waits for
    the lake's writer lease, then says who holds it; once released, it gets it."""
    from lakehouse.paths import Lake
    from lakehouse.spark import metastore_lock

    url = f"wasb://w-{uuid.uuid4().hex[:12]}@devstoreaccount1/plant"
    first, second = Lake.at(url, local=tmp_path / "a"), Lake.at(url, local=tmp_path / "b")
    first.files.ensure()
    monkeypatch.setattr(metastore_lock, "WRITER_LOCK_WAIT_S", 1.0)
    with metastore_lock.lake_lock(first), pytest.raises(LockBusy, match="writer lease"):
        metastore_lock.lake_lock(second).__enter__()
    with metastore_lock.lake_lock(second):
        pass
