"""A lake's Delta table as delta-rs (`deltalake`) opens it: its URI and storage options.

delta-rs reaches Azure through the Rust `object_store` crate, whose Azure settings
(https://docs.rs/object_store/latest/object_store/azure/enum.AzureConfigKey.html) are
passed as `storage_options`:

- local lake: the table's folder, no options;
- Azure lake (any of `wasb[s]://`, `abfs[s]://`): `az://<container>/<path>/<key>` with
  `account_name`, and
  - the emulator's account: `use_emulator=true` (object_store then connects to
    http://127.0.0.1:10000, or `$AZURITE_BLOB_STORAGE_URL`) with its well-known key;
  - an account key: `account_key`; a SAS: `sas_token`;
  - a service principal: `client_id`, `client_secret`, `tenant_id`;
  - identity (nothing configured): no credential option, so object_store uses the
    workload identity its environment configures (`AZURE_FEDERATED_TOKEN_FILE`) or the
    managed identity of the VM / App Service (IMDS; `client_id` when `AZURE_CLIENT_ID`
    names a user-assigned identity). For `az login` on a workstation, set
    `AZURE_USE_AZURE_CLI=true` (object_store reads its `AZURE_*` settings from the
    environment as well).

The options hold secrets: they go to delta-rs only, never to a log or a message.
"""

from __future__ import annotations

from lakehouse.storage.credentials import EMULATOR_ACCOUNT_KEY, StorageCredentials
from lakehouse.storage.location import LakeLocation


def table_uri_and_options(
    location: LakeLocation, credentials: StorageCredentials, key: str
) -> tuple[str, dict[str, str]]:
    """The delta-rs URI of the table at `key` (relative to the lake root at `location`)
    and its storage options (a lake's `location` and `credentials`)."""
    if location.is_local:
        return location.url_of(key), {}
    uri = f"az://{location.container}/{location.blob_name(key)}"
    options = {"account_name": location.account}
    if location.is_emulator:
        options.update(use_emulator="true", account_key=credentials.account_key or EMULATOR_ACCOUNT_KEY)
    elif credentials.account_key:
        options["account_key"] = credentials.account_key
    elif credentials.sas_token:
        options["sas_token"] = credentials.sas_token
    elif credentials.service_principal:
        options.update(
            client_id=credentials.client_id or "",
            client_secret=credentials.client_secret or "",
            tenant_id=credentials.tenant_id or "",
        )
    elif credentials.client_id:
        options["client_id"] = credentials.client_id  # a user-assigned managed identity
    return uri, options
