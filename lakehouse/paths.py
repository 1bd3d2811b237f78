"""Where things live: the repository (the dbt project) and the lake root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
LAKE_ROOT_ENV = "LAKEHOUSE_ROOT"


@dataclass(frozen=True)
class Lake:
    """The local lake: Capture files (bronze input), Delta tables per layer, metastore."""

    root: Path

    @classmethod
    def at(cls, root: str | Path | None = None) -> Lake:
        """The lake at `root`, else ./lake in the repository. The process environment is
        not consulted: the CLI resolves --lake (or $LAKEHOUSE_ROOT) once and passes the
        lake down to every layer."""
        return cls(Path(root or PROJECT_DIR / "lake").expanduser().resolve())

    @property
    def capture(self) -> Path:
        """Event Hubs Capture files: {namespace}/{hub}/{partition}/{Y}/{m}/{d}/{H}/{M}/{S}.avro."""
        return self.root / "capture"

    @property
    def metastore(self) -> Path:
        return self.root / "_metastore"

    @property
    def bad_capture_files(self) -> Path:
        """Capture files bronze could not read (zero bytes, not Avro, truncated, corrupt),
        each beside a `<name>.reason.json`, at its path relative to `capture/`."""
        return self.root / "_bad_capture_files"

    @property
    def quarantine(self) -> Path:
        """Capture files written while Blob storage was down, each with a JSON sidecar
        (the default of `lakehouse azure land`; `lakehouse azure redrive` lands them)."""
        return self.root / "_quarantine"

    def dead_letter_file(self, event_hub: str) -> Path:
        """Events an Event Hubs send gave up on (`lakehouse azure resend-dead-letters`)."""
        return self.root / "_dead_letters" / f"{event_hub}.jsonl"

    @property
    def cosmos_state(self) -> Path:
        """How far each gold table has been synced to Cosmos DB (and the sync's lock)."""
        return self.root / "_serving" / "cosmos_state.json"

    @property
    def cosmos_dead_letters(self) -> Path:
        """Items Cosmos DB refused, with the reason."""
        return self.root / "_serving" / "cosmos_dead_letters.jsonl"

    @property
    def warehouse(self) -> Path:
        """Spark's warehouse folder (every project table is external; this stays empty)."""
        return self.root / "_warehouse"

    @property
    def spark_log(self) -> Path:
        """The local Spark driver's own output (Ivy, log4j), unless a command runs with --verbose."""
        return self.root / "_logs" / "spark-driver.log"

    @property
    def engine(self) -> Path:
        """The cluster engine's settings, PostgreSQL data, logs and scratch (lakehouse/engine/)."""
        return self.root / "_engine"

    def state_file(self, name: str) -> Path:
        """Small state the lake's commands keep between runs."""
        return self.root / "_state" / name

    def checkpoint(self, name: str) -> Path:
        """A Structured Streaming checkpoint (which files a stream has read)."""
        return self.root / "_checkpoints" / name

    def table(self, layer: str, model: str) -> Path:
        """The folder of a model's external Delta table: <root>/<layer>/<model>/."""
        return self.root / layer / model

    def env(self) -> dict[str, str]:
        """Environment that points dbt at this lake (dbt's project and profile read the
        lake root with env_var()), set by the code that invokes dbt."""
        return {
            LAKE_ROOT_ENV: str(self.root),
            "LAKEHOUSE_PROJECT_DIR": str(PROJECT_DIR),
            "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        }
