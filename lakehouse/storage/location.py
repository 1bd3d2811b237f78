"""The lake's location as a URL: parsed once, joined for every key under it.

Accepted forms (the lake root; a trailing slash is dropped):

- a local folder: `/data/lake`, `./lake`, `~/lake`, `file:///data/lake`; a Databricks
  volume path (`/Volumes/<catalog>/<schema>/<volume>/lake`) is a local folder to the
  driver (Databricks mounts volumes with FUSE) and to Spark;
- the Blob API: `wasb[s]://<container>@<account>.blob.core.windows.net/<path>`, or
  `wasb://<container>@devstoreaccount1/<path>` for the storage emulator (Azurite on
  127.0.0.1:10000, as Hadoop's WASB emulator mode connects);
- ADLS Gen2: `abfs[s]://<container>@<account>.dfs.core.windows.net/<path>`.

Keys are relative to the lake root and use `/` (`silver/silver_telemetry`,
`capture/ns/hub/0/2026/...`); `LakeLocation.url_of(key)` is the URL Spark reads a key by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

AZURE_SCHEMES = ("wasb", "wasbs", "abfs", "abfss")
EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_BLOB_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")  # `dbfs:/x`, `s3://b`, `file:///x` (not a bare folder)


class LakeLocationError(ValueError):
    """A lake URL this project cannot use (unknown scheme, no container or account)."""


@dataclass(frozen=True)
class LakeLocation:
    """A lake root: `scheme` is `file` or an Azure scheme; for Azure, `container`,
    `host` (the account's host as written: `acct.dfs.core.windows.net`, or
    `devstoreaccount1` for the emulator) and `path` inside the container (no slashes at
    either end, may be empty); for a local folder, `path` is absolute."""

    scheme: str
    path: str
    container: str = ""
    host: str = ""

    @classmethod
    def parse(cls, text: str | Path) -> LakeLocation:
        raw = str(text).strip()
        if not _SCHEME.match(raw):
            return cls("file", str(Path(raw).expanduser().resolve()))
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        if scheme == "file":
            return cls("file", str(Path(parts.path).expanduser().resolve()))
        if scheme not in AZURE_SCHEMES:
            raise LakeLocationError(
                f"lake {raw!r}: the scheme {scheme!r} is not supported; use a local folder, "
                "abfss://<container>@<account>.dfs.core.windows.net/<path> or "
                "wasb[s]://<container>@<account>.blob.core.windows.net/<path>"
            )
        if parts.query or parts.fragment:
            raise LakeLocationError(
                f"lake {scheme}://…: a lake URL carries no query (credentials go in the environment)"
            )
        container, at, host = parts.netloc.rpartition("@")
        if not at or not container or not host:
            raise LakeLocationError(
                f"lake {scheme}://{parts.netloc}: expected {scheme}://<container>@<account host>/<path>"
            )
        path = parts.path.strip("/")
        if any(segment in ("", ".", "..") for segment in path.split("/")) and path:
            raise LakeLocationError(f"lake {scheme}://{parts.netloc}/{path}: empty, '.' or '..' path segments")
        return cls(scheme, path, container, host.lower())

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def account(self) -> str:
        """The storage account's name (empty for a local lake)."""
        return self.host.split(".", 1)[0]

    @property
    def is_emulator(self) -> bool:
        """Whether this is the storage emulator's account (Azurite on 127.0.0.1:10000)."""
        return self.host == EMULATOR_ACCOUNT

    @property
    def url(self) -> str:
        """The lake root as Spark and dbt take it (no trailing slash)."""
        if self.is_local:
            return self.path
        tail = f"/{self.path}" if self.path else ""
        return f"{self.scheme}://{self.container}@{self.host}{tail}"

    def url_of(self, key: str) -> str:
        """The URL of `key` (relative to the lake root)."""
        key = key.strip("/")
        return f"{self.url.rstrip('/')}/{key}" if key else self.url

    def blob_name(self, key: str) -> str:
        """The blob name of `key` inside the container (Azure lakes)."""
        key = key.strip("/")
        return "/".join(part for part in (self.path, key) if part)

    @property
    def blob_endpoint(self) -> str:
        """The account's Blob service endpoint (every ADLS Gen2 account serves the Blob
        API too): what the Python side (azure-storage-blob) connects to."""
        if self.is_emulator:
            return EMULATOR_BLOB_ENDPOINT
        return f"https://{self.account}.blob.core.windows.net"

    @property
    def dfs_url(self) -> str:
        """The lake root as an https URL on the account's DFS endpoint, as Synapse
        serverless SQL and Fabric name it in an external data source:
        `abfss://c@a.dfs.core.windows.net/p` -> `https://a.dfs.core.windows.net/c/p`.
        For the emulator, its Blob endpoint (it has no DFS endpoint)."""
        if self.is_local:
            raise LakeLocationError(f"the lake at {self.path} is a local folder: it has no storage endpoint")
        base = (
            f"{EMULATOR_BLOB_ENDPOINT}/{self.container}"
            if self.is_emulator
            else f"https://{self.account}.dfs.core.windows.net/{self.container}"
        )
        return f"{base}/{self.path}" if self.path else base

    def slug(self) -> str:
        """A folder name for this lake's local side (metastore, logs) when the lake is remote."""
        parts = [self.scheme, self.account, self.container, *self.path.split("/")]
        return "-".join(p for p in parts if p)
