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
    def from_env(cls, root: str | Path | None = None) -> Lake:
        """The lake at `root`, else $LAKEHOUSE_ROOT, else ./lake in the repository."""
        chosen = root or os.environ.get(LAKE_ROOT_ENV) or PROJECT_DIR / "lake"
        return cls(Path(chosen).expanduser().resolve())

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
        """Environment that points dbt and Spark at this lake."""
        return {
            LAKE_ROOT_ENV: str(self.root),
            "LAKEHOUSE_PROJECT_DIR": str(PROJECT_DIR),
            "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        }
