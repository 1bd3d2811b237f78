"""Where things live: the repository (the dbt project) and the lake (a folder or a URL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from lakehouse.settings import Settings
from lakehouse.storage.credentials import StorageCredentials
from lakehouse.storage.files import LakeFiles, lake_files
from lakehouse.storage.hadoop import hadoop_settings
from lakehouse.storage.location import LakeLocation

PROJECT_DIR = Path(__file__).resolve().parents[1]
LAKE_ROOT_ENV = "LAKEHOUSE_ROOT"
LOCAL_DIR_ENV = "LAKEHOUSE_LOCAL_DIR"


CAPTURE = "capture"
BAD_CAPTURE_FILES = "_bad_capture_files"
STATE = "_state"
SERVING = "_serving"
CHECKPOINTS = "_checkpoints"
LOCAL_LAKES_DIR = PROJECT_DIR / ".lakes"


@dataclass(frozen=True)
class Lake:
    """A lake: its `location` (a local folder or an Azure storage URL) holds the Capture
    files (bronze input), the Delta tables per layer, the state documents and the bad
    files; its `local` folder on this machine holds what never goes to object storage:
    the metastore, the warehouse folder, the logs, the engine's files and the lander's
    local quarantine. For a local lake both are the same folder.

    Every layer gets the lake passed in; `files` is its storage seam
    (`lakehouse.storage.files`), `credentials` how this process reaches the storage,
    `settings` what this process's environment configures (`lakehouse.settings`)."""

    location: LakeLocation
    local: Path
    credentials: StorageCredentials = field(default_factory=StorageCredentials, compare=False)
    settings: Settings = field(default_factory=Settings, compare=False)

    @classmethod
    def at(
        cls,
        root: str | Path | None = None,
        *,
        local: Path | None = None,
        credentials: StorageCredentials | None = None,
        settings: Settings | None = None,
    ) -> Lake:
        """The lake at `root` (a folder or a URL), else ./lake in the repository. A remote
        lake's local side is `local`, else `<repository>/.lakes/<scheme>-<account>-<container>-<path>`.
        The process environment is not consulted: the CLI resolves --lake (or
        $LAKEHOUSE_ROOT), the credentials and the settings once and passes the lake down."""
        location = LakeLocation.parse(root or PROJECT_DIR / "lake")
        if location.is_local:
            here = Path(location.path)
        else:
            here = Path(local).expanduser().resolve() if local else LOCAL_LAKES_DIR / location.slug()
        return cls(location, here, credentials or StorageCredentials(), settings or Settings())

    @property
    def root(self) -> str:
        """The lake root's URL (a local lake: its absolute folder), as Spark and dbt take it."""
        return self.location.url

    @property
    def is_local(self) -> bool:
        return self.location.is_local

    @cached_property
    def files(self) -> LakeFiles:
        """The storage seam for this lake's files (keys relative to the lake root)."""
        return lake_files(self.location, self.credentials)

    def url(self, key: str) -> str:
        """The URL of a key under the lake root."""
        return self.location.url_of(key)

    @property
    def capture(self) -> str:
        """Event Hubs Capture files: {namespace}/{hub}/{partition}/{Y}/{m}/{d}/{H}/{M}/{S}.avro (key `capture`)."""
        return self.url(CAPTURE)

    @property
    def bad_capture_files(self) -> str:
        """Capture files bronze could not read (zero bytes, not Avro, truncated, corrupt),
        each beside a `<name>.reason.json`, at its path relative to `capture/` (key `_bad_capture_files`)."""
        return self.url(BAD_CAPTURE_FILES)

    def table(self, layer: str, model: str) -> str:
        """The location of a model's external Delta table: <root>/<layer>/<model>."""
        return self.url(f"{layer}/{model}")

    def checkpoint(self, name: str) -> str:
        """A Structured Streaming checkpoint (Auto Loader on Databricks)."""
        return self.url(f"{CHECKPOINTS}/{name}")

    @staticmethod
    def state_key(name: str) -> str:
        """Small state documents the lake's commands keep between runs (through `files`)."""
        return f"{STATE}/{name}"

    writer_lock_key = f"{STATE}/writer.lock"  # one writer at a time on a lake in Azure storage (a lease)
    cosmos_state_key = f"{SERVING}/cosmos_state.json"  # how far each gold table has been synced to Cosmos DB
    cosmos_lock_key = f"{SERVING}/cosmos_state.json.lock"  # one sync at a time (a lease on Blob storage)
    cosmos_dead_letters_key = f"{SERVING}/cosmos_dead_letters.jsonl"  # items Cosmos DB refused, with the reason

    # This machine's side of the lake.
    @property
    def metastore(self) -> Path:
        return self.local / "_metastore"

    @property
    def quarantine(self) -> Path:
        """Capture files written while Blob storage was down, each with a JSON sidecar
        (the default of `lakehouse azure land`; `lakehouse azure redrive` lands them)."""
        return self.local / "_quarantine"

    def dead_letter_file(self, event_hub: str) -> Path:
        """Events an Event Hubs send gave up on (`lakehouse azure resend-dead-letters`)."""
        return self.local / "_dead_letters" / f"{event_hub}.jsonl"

    @property
    def warehouse(self) -> Path:
        """Spark's warehouse folder (every project table is external; this stays empty)."""
        return self.local / "_warehouse"

    @property
    def spark_log(self) -> Path:
        """The local Spark driver's own output (Ivy, log4j), unless a command runs with --verbose."""
        return self.local / "_logs" / "spark-driver.log"

    @property
    def engine(self) -> Path:
        """The cluster engine's settings, PostgreSQL data, logs and scratch (lakehouse/engine/)."""
        return self.local / "_engine"

    def spark_conf(self) -> dict[str, str]:
        """Spark settings to reach the lake's storage (its credentials; empty for a local lake)."""
        return hadoop_settings(self.location, self.credentials)

    def env(self) -> dict[str, str]:
        """Environment that points dbt at this lake (dbt's project and profile read the
        lake root and its local side with env_var()), set by the code that invokes dbt."""
        return {
            LAKE_ROOT_ENV: self.root,
            LOCAL_DIR_ENV: str(self.local),
            "LAKEHOUSE_PROJECT_DIR": str(PROJECT_DIR),
            "SPARK_LOCAL_IP": self.settings.spark_local_ip,
        }
