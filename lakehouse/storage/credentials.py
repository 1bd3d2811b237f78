"""How a process authenticates to the lake's storage account, read once at the edge.

Identity first: with nothing configured, the Python side uses `DefaultAzureCredential`
(managed identity on Azure, `az login` or a service principal's `AZURE_CLIENT_ID` /
`AZURE_TENANT_ID` / `AZURE_CLIENT_SECRET` locally) and Spark uses the same service
principal over OAuth, or the VM's managed identity; on Databricks the cluster reaches the
lake through the Unity Catalog external location and needs none of this. An account key
(`AZURE_STORAGE_KEY`) or a SAS (`AZURE_STORAGE_SAS_TOKEN`) is used only when set. The
storage emulator's account (`devstoreaccount1`) uses its published well-known key.

Secrets are held out of `repr` and are only ever handed to the storage client or to
Spark's Hadoop settings (which Spark redacts, see `hadoop.REDACTION_REGEX`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ACCOUNT_KEY_ENV = "AZURE_STORAGE_KEY"  # pragma: allowlist secret
SAS_TOKEN_ENV = "AZURE_STORAGE_SAS_TOKEN"  # pragma: allowlist secret
CLIENT_ID_ENV = "AZURE_CLIENT_ID"
TENANT_ID_ENV = "AZURE_TENANT_ID"
CLIENT_SECRET_ENV = "AZURE_CLIENT_SECRET"  # pragma: allowlist secret

# Azurite's and the storage emulator's published development key (not a secret).
EMULATOR_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6"  # pragma: allowlist secret
    "IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # pragma: allowlist secret
)


@dataclass(frozen=True)
class StorageCredentials:
    """An account key, a SAS token, a service principal, or none (identity)."""

    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StorageCredentials:
        """The credentials the environment configures (the CLI calls this once)."""

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            account_key=get(ACCOUNT_KEY_ENV),
            sas_token=(get(SAS_TOKEN_ENV) or "").lstrip("?") or None,
            client_id=get(CLIENT_ID_ENV),
            tenant_id=get(TENANT_ID_ENV),
            client_secret=get(CLIENT_SECRET_ENV),
        )

    @property
    def kind(self) -> str:
        """What is used, for messages: `account key`, `SAS`, `service principal`, `identity`."""
        if self.account_key:
            return "account key"
        if self.sas_token:
            return "SAS"
        if self.service_principal:
            return "service principal"
        return "identity"

    @property
    def service_principal(self) -> bool:
        return bool(self.client_id and self.tenant_id and self.client_secret)

    def __repr__(self) -> str:
        return f"StorageCredentials({self.kind})"

    __str__ = __repr__
