"""The lake's location and credentials as Spark's Hadoop settings (`spark.hadoop.*`).

WASB (`wasb[s]://`, hadoop-azure's Blob driver) and ABFS (`abfs[s]://`, ADLS Gen2) read
their account's key, SAS or OAuth settings from the Hadoop configuration. The emulator's
account uses WASB's emulator mode (Azurite on 127.0.0.1:10000). With no key, SAS or
service principal configured, ABFS uses the machine's managed identity; on Databricks the
cluster's own access (Unity Catalog external location) applies and nothing is set.
Spark redacts these keys in its UI and logs (`REDACTION_REGEX` adds them to Spark's own).
"""

from __future__ import annotations

from lakehouse.storage.credentials import StorageCredentials
from lakehouse.storage.location import LakeLocation

HADOOP_AZURE_PACKAGE = "org.apache.hadoop:hadoop-azure:3.4.1"  # PySpark 4.0.1's Hadoop
# Spark's default (secret|password|token|access.key) plus the Azure drivers' key and SAS settings.
REDACTION_REGEX = r"(?i)secret|password|token|access[.]key|fs[.]azure[.]account[.]key|fs[.]azure[.]sas"


# Both drivers' request retries (WASB's and ABFS's share the keys), bounded: their defaults
# (30 attempts, backoff up to 30-90 s) keep a build waiting a quarter of an hour or more on
# unreachable storage. Six attempts with backoff from 1 s to 8 s ride out a throttled or
# restarting endpoint within a minute, then the build fails naming the storage; the next
# cycle, or a rerun, resumes.
RETRIES = {
    "spark.hadoop.fs.azure.io.retry.max.retries": "6",
    "spark.hadoop.fs.azure.io.retry.min.backoff.interval": "1000",
    "spark.hadoop.fs.azure.io.retry.backoff.interval": "1000",
    "spark.hadoop.fs.azure.io.retry.max.backoff.interval": "8000",
}


def hadoop_settings(location: LakeLocation, credentials: StorageCredentials) -> dict[str, str]:
    """Spark settings that let the session read and write `location` (empty for a local lake)."""
    if location.is_local:
        return {}
    conf = {"spark.redaction.regex": REDACTION_REGEX, **RETRIES}
    account, host = location.account, location.host
    if location.is_emulator:
        conf["spark.hadoop.fs.azure.storage.emulator.account.name"] = account
        return conf
    if location.scheme.startswith("wasb"):
        blob_host = f"{account}.blob.core.windows.net"
        if credentials.account_key:
            conf[f"spark.hadoop.fs.azure.account.key.{blob_host}"] = credentials.account_key
        elif credentials.sas_token:
            conf[f"spark.hadoop.fs.azure.sas.{location.container}.{blob_host}"] = credentials.sas_token
        return conf
    dfs_host = host if host.endswith(".dfs.core.windows.net") else f"{account}.dfs.core.windows.net"
    prefix = "spark.hadoop.fs.azure"
    if credentials.account_key:
        conf[f"{prefix}.account.key.{dfs_host}"] = credentials.account_key
    elif credentials.sas_token:
        conf[f"{prefix}.account.auth.type.{dfs_host}"] = "SAS"
        conf[f"{prefix}.sas.token.provider.type.{dfs_host}"] = "org.apache.hadoop.fs.azurebfs.sas.FixedSASTokenProvider"
        conf[f"{prefix}.sas.fixed.token.{dfs_host}"] = credentials.sas_token
    elif credentials.service_principal:
        conf[f"{prefix}.account.auth.type.{dfs_host}"] = "OAuth"
        conf[f"{prefix}.account.oauth.provider.type.{dfs_host}"] = (
            "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"
        )
        conf[f"{prefix}.account.oauth2.client.id.{dfs_host}"] = credentials.client_id or ""
        conf[f"{prefix}.account.oauth2.client.secret.{dfs_host}"] = credentials.client_secret or ""
        conf[f"{prefix}.account.oauth2.client.endpoint.{dfs_host}"] = (
            f"https://login.microsoftonline.com/{credentials.tenant_id}/oauth2/token"
        )
    else:  # the VM's or the container's managed identity
        conf[f"{prefix}.account.auth.type.{dfs_host}"] = "OAuth"
        conf[f"{prefix}.account.oauth.provider.type.{dfs_host}"] = (
            "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider"
        )
    return conf
