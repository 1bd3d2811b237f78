"""The Azure Functions app (azure_functions/function_app.py), called through the azure-functions types.

The functions run as the worker runs them: the app module is imported from its
folder (a fresh import is a restarted instance), Event Hubs batches are decoded by
the worker's own converter (`EventHubTriggerConverter`, cardinality many, binary)
from the trigger metadata the host sends, and the timer gets a `func.TimerRequest`.
Storage is Azurite; the HTTP source is the local test API. No Event Hubs runs
here (its emulator is a container image): the timer's producer client is the
SDK's real `EventDataBatch` packing with a recording `send_batch`, and the host's
part of a failed call is played by the test: it calls again with the retry count
(the app's policy retries without end), writes no checkpoint before a call
returns, and a new instance gets the batch again from the last checkpoint.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import azure.functions as func
import pytest
from azure.eventhub import EventDataBatch
from azure.eventhub.exceptions import EventHubError
from azure.functions import meta
from azure.functions._abc import TraceContext
from azure.functions.eventhub import EventHubTriggerConverter
from azure.functions.timer import TimerRequest

from lakehouse.azure_names import azure_names
from lakehouse.ingestion.azure import function_hops
from lakehouse.ingestion.azure.batch_lander import BatchLander
from lakehouse.ingestion.azure.blobs import BlobStoreError
from lakehouse.ingestion.capture.format import CapturePath, decode_capture_file
from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.paths import PROJECT_DIR
from tests.python.azure.azurite import Azurite
from tests.python.azure.conftest import blobs, raw_container
from tests.python.azure.scripted_http import TelemetryApi

APP_DIR = PROJECT_DIR / "azure_functions"
NAMES = azure_names()
HUB = NAMES["event_hubs"]["http_hub"]
LAKE = NAMES["storage"]["containers"]["lake"]
FOLDER = NAMES["capture"]["folder"] + "/"
STATE = NAMES["storage"]["containers"]["function_state"]
NAMESPACE = "evhns-test"
T0 = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
TOKEN = "api-token-never-stored"  # pragma: allowlist secret


def load_app() -> ModuleType:
    """A fresh import of the app, as a new instance of the worker makes it."""
    spec = importlib.util.spec_from_file_location("function_app", APP_DIR / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Azurite:
    """The app settings of a local run: the lake's storage on Azurite (a connection string
    stands in for `LAKE_STORAGE__blobServiceUri`), the hub by its namespace."""
    for name in (LAKE, f"{LAKE}-quarantine", STATE):
        client = raw_container(azurite.port, name)
        if client.exists():
            client.delete_container()
    settings = NAMES["function_app"]["settings"]
    monkeypatch.setenv(settings["storage_connection"], azurite.connection_string)
    namespace_setting = f"{settings['eventhub_connection']}__fullyQualifiedNamespace"
    monkeypatch.setenv(namespace_setting, f"{NAMESPACE}.servicebus.windows.net")
    monkeypatch.setenv(settings["capture_namespace"], NAMESPACE)
    for unset in ("LAKEHOUSE_ROOT", "LAKEHOUSE_QUARANTINE_DIR"):  # a Function has no lake root (the Bicep sets none)
        monkeypatch.delenv(unset, raising=False)
    return azurite


# --------------------------------------------------------------------------- the app's shape


def test_the_app_lists_both_triggers_with_their_bindings() -> None:
    functions = {f.get_function_name(): f for f in load_app().app.get_functions()}
    assert set(functions) == {"poll_http_source", "land_http_hub"}

    (timer,) = [json.loads(b) for b in functions["poll_http_source"].get_raw_bindings()]
    assert timer == {
        "direction": "IN",
        "type": "timerTrigger",
        "name": "timer",
        "schedule": "%HTTP_POLL_SCHEDULE%",
        "useMonitor": True,
    }
    (hub,) = [json.loads(b) for b in functions["land_http_hub"].get_raw_bindings()]
    assert hub == {
        "direction": "IN",
        "type": "eventHubTrigger",
        "name": "events",
        "eventHubName": "telemetry-http",
        "consumerGroup": "function-lander",
        "connection": "EVENTHUB",  # identity-based: EVENTHUB__fullyQualifiedNamespace
        "cardinality": "MANY",
        "dataType": "BINARY",
    }
    assert retry_policy(load_app()) == {
        "setting_name": "retry_policy",
        "strategy": "exponential_backoff",
        "max_retry_count": "-1",  # retry indefinitely: the host checkpoints only after the retries end
        "minimum_interval": "00:00:05",
        "maximum_interval": "00:05:00",
    }

    host = json.loads((APP_DIR / "host.json").read_text())
    hubs = host["extensions"]["eventHubs"]
    assert hubs["batchCheckpointFrequency"] == 1  # a checkpoint after every call: a redelivery is one batch
    assert hubs["initialOffsetOptions"]["type"] == "fromStart"  # a new consumer group starts at the oldest event


def test_no_setting_file_of_the_app_holds_a_key_or_connection_string() -> None:
    for path in APP_DIR.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".txt", ".py"):
            text = path.read_text()
            for secret_marker in ("AccountKey=", "SharedAccessKey=", "SharedAccessSignature", "sig="):
                assert secret_marker not in text, f"{path.name} holds {secret_marker}"


def _pins(lines: list[str]) -> dict[str, str]:
    pins = [line.split("#")[0].strip().strip('",') for line in lines]
    return dict(p.split("==") for p in pins if "==" in p)


def test_the_app_needs_only_its_requirements_pinned_as_the_project_pins_them() -> None:
    requirements = _pins((APP_DIR / "requirements.txt").read_text().splitlines())
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    pinned = _pins([*project["dependencies"], *project["optional-dependencies"]["test"]])
    assert {name: pinned[name] for name in requirements} == requirements

    # What importing the app loads, outside the standard library and the project's package
    # (the Azure SDKs share the `azure` namespace: told apart by their second level).
    script = (
        "import sys, json; before = set(sys.modules); import function_app; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=APP_DIR, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    azure_sdks = {".".join(m.split(".")[:2]) for m in loaded if m.startswith("azure.")}
    assert azure_sdks <= {"azure.functions", "azure.eventhub", "azure.storage", "azure.identity", "azure.core"}
    dists = importlib.metadata.packages_distributions()
    tops = {m.split(".")[0] for m in loaded} - set(sys.stdlib_module_names) - {"azure", "lakehouse", "function_app"}
    imported = {d.lower() for top in tops for d in dists.get(top, [])}
    # Besides the pinned ones, only what they bring themselves (requests', the Azure SDKs', azure-functions').
    brought = {
        "certifi",
        "charset-normalizer",
        "idna",
        "urllib3",
        "cryptography",
        "cffi",
        "typing-extensions",
        "typing_extensions",
        "isodate",
        "werkzeug",
        "markupsafe",
        "chardet",
        "lz4",
    }
    assert imported - {name.lower() for name in requirements} - brought == set()


# --------------------------------------------------------------------------- Event Hubs trigger


def retry_policy(app: ModuleType) -> dict[str, Any]:
    """The retry policy the worker hands the host for the Event Hubs trigger."""
    (lander,) = [f for f in app.app.get_functions() if f.get_function_name() == "land_http_hub"]
    policy = lander.get_settings_dict("retry_policy")
    assert policy is not None
    return dict(policy)


class Context(func.Context):
    """The invocation context the worker passes: only the retry attempt matters here
    (`max_retry_count` as the host reports the app's policy: -1, retry indefinitely)."""

    def __init__(self, retry_count: int, max_retry_count: int = -1) -> None:
        self._retry = SimpleNamespace(retry_count=retry_count, max_retry_count=max_retry_count, exception=None)

    invocation_id = property(lambda self: "test")
    thread_local_storage = property(lambda self: threading.local)
    function_name = property(lambda self: "land_http_hub")
    function_directory = property(lambda self: str(APP_DIR))
    trace_context = property(lambda self: TraceContext("", "", {}))
    retry_context = property(lambda self: self._retry)


def sent_event(seq: int, spacing: timedelta = timedelta(seconds=20)) -> dict[str, Any]:
    """One event as the host describes it: body, system and application properties
    (by default 15 events a 5-minute window)."""
    enqueued = T0 + spacing * seq
    return {
        "body": json.dumps({"event_id": f"h{seq}", "device_id": f"dev-{seq % 3}", "temperature_c": seq}).encode(),
        "system": {
            "SequenceNumber": seq,
            "Offset": 1000 + 100 * seq,
            "PartitionKey": f"dev-{seq % 3}",
            "EnqueuedTimeUtc": enqueued.isoformat().replace("+00:00", "Z"),
            "x-opt-sequence-number": seq,
            "x-opt-offset": str(1000 + 100 * seq),
        },
        "properties": {"source": "http", "schema_version": 1},
        "partition": "0",
    }


def delivered(events: list[dict[str, Any]]) -> list[func.EventHubEvent]:
    """A batch decoded by the worker's converter from what the host sends."""
    trigger_metadata = {
        "PartitionContext": meta.Datum(
            json.dumps(
                {
                    "ConsumerGroup": "function-lander",
                    "EventHubName": HUB,
                    "FullyQualifiedNamespace": f"{NAMESPACE}.servicebus.windows.net",
                    "PartitionId": events[0]["partition"],
                }
            ),
            "json",
        ),
        "SystemPropertiesArray": meta.Datum(json.dumps([e["system"] for e in events]), "json"),
        "PropertiesArray": meta.Datum(json.dumps([e["properties"] for e in events]), "json"),
    }
    data = meta.Datum(SimpleNamespace(bytes=[e["body"] for e in events]), "collection_bytes")
    batch = EventHubTriggerConverter.decode(data, trigger_metadata=trigger_metadata)
    assert isinstance(batch, list)
    return batch


def capture_blobs(port: int, container: str = LAKE) -> dict[str, bytes]:
    """The blobs under the lake's capture folder, by path below it (nothing lands elsewhere)."""
    found = blobs(port, container)
    assert all(path.startswith(FOLDER) for path in found)
    return {path.removeprefix(FOLDER): data for path, data in found.items()}


def landed(port: int) -> dict[str, list[dict[str, Any]]]:
    """Every Capture file in the lake's capture folder, decoded, by path."""
    return {path: list(decode_capture_file(data)) for path, data in capture_blobs(port).items()}


def assert_landed_once(port: int, sequence_numbers: range) -> None:
    assert_files_hold_once(landed(port), sequence_numbers)


def assert_files_hold_once(files: dict[str, list[dict[str, Any]]], sequence_numbers: range) -> None:
    """Each sent event is in exactly one file, whole; files are named in the Capture layout,
    in increasing order, each after every record it holds."""
    records = [r for path in sorted(files) for r in files[path]]
    assert [r["SequenceNumber"] for r in records] == list(sequence_numbers)
    for r in records:
        want = sent_event(r["SequenceNumber"])
        assert r["Body"] == want["body"]
        assert r["Offset"] == str(want["system"]["Offset"])
        assert r["Properties"] == {"source": "http", "schema_version": 1}
        assert r["SystemProperties"]["x-opt-partition-key"] == want["system"]["PartitionKey"]
    for path, file_records in files.items():
        where = CapturePath.parse(path)
        assert (where.namespace, where.event_hub, where.partition_id) == (NAMESPACE, HUB, "0")
        newest = max(datetime.strptime(r["EnqueuedTimeUtc"], "%m/%d/%Y %I:%M:%S %p") for r in file_records)
        assert newest.replace(tzinfo=UTC) < where.window_end


def test_a_redelivered_batch_lands_nothing_twice(app_env: Azurite) -> None:
    events = [sent_event(seq) for seq in range(40)]
    app = load_app()
    app.land_http_hub(delivered(events[:25]), Context(0))
    first = set(capture_blobs(app_env.port))
    app.land_http_hub(delivered(events[:25]), Context(0))  # redelivered to the same instance
    assert set(capture_blobs(app_env.port)) == first

    restarted = load_app()  # a new instance knows nothing but the files
    restarted.land_http_hub(delivered(events[10:40]), Context(0))  # from an older checkpoint
    restarted.land_http_hub(delivered(events[30:40]), Context(0))
    assert_landed_once(app_env.port, range(40))
    assert not blobs(app_env.port, f"{LAKE}-quarantine")


def test_batches_within_one_second_land_as_files_named_one_after_another(app_env: Azurite) -> None:
    events = [sent_event(seq, spacing=timedelta(milliseconds=100)) for seq in range(30)]  # 3 s in all
    app = load_app()
    for start in range(0, 30, 4):  # the batches end and start inside the same seconds
        app.land_http_hub(delivered(events[start : start + 4]), Context(0))
    assert len(capture_blobs(app_env.port)) == 8
    assert_landed_once(app_env.port, range(30))


class ListingStore(LocalCaptureStore):
    """A local store that records the prefixes it is asked to list."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.listed: list[str] = []

    def list_files(self, prefix: str) -> list[str]:
        self.listed.append(prefix)
        return super().list_files(prefix)


def test_a_new_instance_reads_the_hours_of_its_batch_not_the_history(tmp_path: Path) -> None:
    store = ListingStore(tmp_path)
    settings = CaptureSettings(namespace=NAMESPACE, event_hub=HUB)
    events = [sent_event(seq, spacing=timedelta(hours=1)) for seq in range(24 * 30)]  # a month, hourly
    BatchLander(store, settings).land(delivered(events[:-10]))
    store.listed.clear()

    # A new instance given the month's last events: it lists the hours around them only.
    report = BatchLander(store, settings).land(delivered(events[-12:]))
    assert (report.already_landed, report.records_written) == (2, 10)
    assert 1 <= len(store.listed) <= 14  # the batch spans 11 hours, one more each side
    first_listed = min(store.listed).removeprefix(f"{NAMESPACE}/{HUB}/0/")
    batch_start = T0 + timedelta(hours=len(events) - 12)
    assert datetime.strptime(first_listed, "%Y/%m/%d/%H/").replace(tzinfo=UTC) >= batch_start - timedelta(hours=1)
    files = {path: list(decode_capture_file(store.read_file(path))) for path in store.list_files("")}
    assert_files_hold_once(files, range(len(events)))


def test_a_blob_outage_raises_and_the_retry_lands_everything(app_env: Azurite) -> None:
    events = [sent_event(seq) for seq in range(30)]
    app = load_app()
    app.land_http_hub(delivered(events[:10]), Context(0))
    app_env.stop()
    try:
        with pytest.raises(BlobStoreError, match="failed after retries"):
            app.land_http_hub(delivered(events[10:]), Context(0))
    finally:
        app_env.ensure_running()
    app.land_http_hub(delivered(events[10:]), Context(1))  # the host's retry, same batch
    assert_landed_once(app_env.port, range(30))


def files_under(*roots: Path) -> dict[Path, tuple[int, int]]:
    """Every file under `roots` (bytecode caches aside), with its size and modification time."""
    found = {}
    for root in roots:
        for path in root.rglob("*") if root.exists() else ():
            if path.is_file() and "__pycache__" not in path.parts:
                stat = path.stat()
                found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


def test_while_storage_is_unreachable_every_attempt_raises_and_nothing_is_written_locally(
    app_env: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, temp = tmp_path / "cwd", tmp_path / "temp"
    cwd.mkdir()
    temp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    # The deployed package (the app, the project's modules, the lake folder beside them), the cwd, the temp folder.
    watched = (APP_DIR, PROJECT_DIR / "lakehouse", PROJECT_DIR / "lake", cwd, temp)
    events = [sent_event(seq) for seq in range(40)]
    app = load_app()
    max_retries = int(retry_policy(app)["max_retry_count"])
    app.land_http_hub(delivered(events[:10]), Context(0, max_retries))  # landed; the host checkpoints after event 9
    before = files_under(*watched)
    app_env.stop()
    try:
        for retry_count in (0, 1, 8, 1000):  # 8 was the last attempt of the old policy
            with pytest.raises(BlobStoreError, match="failed after retries"):
                app.land_http_hub(delivered(events[10:30]), Context(retry_count, max_retries))
        restarted = load_app()  # the host restarts during the retries: the retry count starts again
        with pytest.raises(BlobStoreError, match="failed after retries"):
            restarted.land_http_hub(delivered(events[10:30]), Context(0, max_retries))
    finally:
        app_env.ensure_running()
    assert files_under(*watched) == before
    assert not blobs(app_env.port, f"{LAKE}-quarantine")
    assert [r["SequenceNumber"] for f in landed(app_env.port).values() for r in f] == list(range(10))

    # No call returned, so no checkpoint was written: the next instance gets the batch again
    # from the last checkpoint (with what came since), and lands each event once.
    load_app().land_http_hub(delivered(events[10:40]), Context(0, max_retries))
    assert_landed_once(app_env.port, range(40))


# --------------------------------------------------------------------------- timer


class RecordingHub:
    """The producer client's part the app uses: the SDK's own batches, sends recorded;
    `fail_sends` sends fail first, as a hub that went away."""

    def __init__(self, fail_sends: int = 0) -> None:
        self.sent: list[bytes] = []
        self.fail_sends = fail_sends

    def create_batch(self, partition_key: str | None = None, max_size_in_bytes: int | None = None) -> EventDataBatch:
        return EventDataBatch(max_size_in_bytes=max_size_in_bytes or 1024 * 1024, partition_key=partition_key)

    def send_batch(self, batch: EventDataBatch, timeout: float | None = None) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise EventHubError("the hub went away (injected)")
        self.sent.extend(b"".join(e.body) for e in batch._internal_events)


def api_record(i: int) -> dict[str, Any]:
    return {"event_id": f"r{i}", "device_id": f"dev-{i % 4}", "ts": (T0 + timedelta(seconds=i)).isoformat()}


@pytest.fixture
def api() -> Iterator[TelemetryApi]:
    server = TelemetryApi(pages=[[api_record(i) for i in range(p * 5, p * 5 + 5)] for p in range(3)])
    yield server
    server.close()


def _timer_app(monkeypatch: pytest.MonkeyPatch, api: TelemetryApi, hub: RecordingHub) -> ModuleType:
    monkeypatch.setenv("HTTP_SOURCE_URL", f"{api.base}/cursor")
    monkeypatch.setenv("HTTP_SOURCE_TOKEN", TOKEN)
    monkeypatch.setattr(function_hops, "producer_client", lambda env: hub)
    return load_app()


def _sent_ids(hub: RecordingHub) -> list[str]:
    """The ids sent, in id order (batches are packed per partition key), repeats kept."""
    return sorted((json.loads(body)["event_id"] for body in hub.sent), key=lambda i: int(i[1:]))


def test_the_timer_resumes_from_its_cursor_after_a_restart(
    app_env: Azurite, api: TelemetryApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = RecordingHub()
    _timer_app(monkeypatch, api, hub).poll_http_source(TimerRequest())
    assert _sent_ids(hub) == [f"r{i}" for i in range(15)]

    api.pages.append([api_record(i) for i in range(15, 19)])  # new data while the app restarts
    restarted = _timer_app(monkeypatch, api, hub)
    restarted.poll_http_source(TimerRequest(past_due=True))
    restarted.poll_http_source(TimerRequest())  # nothing new
    assert _sent_ids(hub) == [f"r{i}" for i in range(19)]  # each once

    cursor = blobs(app_env.port, STATE)[NAMES["function_app"]["http_cursor_blob"]]
    assert json.loads(cursor)["cursor"] == "4"
    assert TOKEN.encode() not in cursor and b"127.0.0.1" not in cursor  # no credential, no URL


def test_a_failed_send_leaves_the_cursor_before_the_page(
    app_env: Azurite, api: TelemetryApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = RecordingHub(fail_sends=1)
    app = _timer_app(monkeypatch, api, hub)
    with pytest.raises(Exception, match="the cursor stays before it"):
        app.poll_http_source(TimerRequest())
    assert hub.sent == []
    app.poll_http_source(TimerRequest())  # the next tick
    assert _sent_ids(hub) == [f"r{i}" for i in range(15)]
