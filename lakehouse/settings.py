"""This process's configuration, read from its environment once, by an edge (the CLI,
the Functions app, the Databricks task), and passed down on the `Lake` (`lake.settings`).

Nothing else under `lakehouse/` reads the environment (tests/python/test_settings.py
scans for it). Two readers stay beside this one, on purpose: dbt's profile, which the
Python jobs render the way dbt does (`lakehouse.profile`: `DBT_TARGET` and its
`env_var()`s must be what dbt itself reads), and the environments built for child
processes (`{**os.environ, ...}` handed to a subprocess), which pass the environment
on rather than read it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

VERBOSE_ENV = "LAKEHOUSE_VERBOSE"  # "1": the JVM's own output (Ivy, log4j) goes to the console
DATABRICKS_RUNTIME_ENV = "DATABRICKS_RUNTIME_VERSION"  # set on every Databricks cluster
APP_INSIGHTS_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
PORT_ENVS = {
    "metastore": ("LAKEHOUSE_METASTORE_PORT", 15432),
    "master": ("LAKEHOUSE_SPARK_MASTER_PORT", 7077),
    "master_ui": ("LAKEHOUSE_SPARK_UI_PORT", 18080),
    "thrift": ("LAKEHOUSE_THRIFT_PORT", 10000),
}


@dataclass(frozen=True)
class EnginePorts:
    """The local cluster engine's ports on 127.0.0.1 (each moved by its variable in `PORT_ENVS`)."""

    metastore: int = 15432
    master: int = 7077
    master_ui: int = 18080
    thrift: int = 10000

    def worker_ui(self, index: int) -> int:
        return self.master_ui + 1 + index


@dataclass(frozen=True)
class Settings:
    """What the environment configures, typed. `environ` is the environment as read, for
    the clients of the Azure services, which look their variables up by name (storage and
    Event Hubs credentials, Cosmos DB, Synapse, the Functions app's settings, whose names
    `lakehouse/azure_names.json` gives): they read them there, never from `os.environ`.
    `Settings()` is a process with an empty environment (the defaults)."""

    on_databricks: bool = False
    verbose: bool = False
    spark_local_ip: str = "127.0.0.1"
    engine_ports: EnginePorts = EnginePorts()
    app_insights: bool = False  # APPLICATIONINSIGHTS_CONNECTION_STRING is set (the distro reads it)
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False, compare=False)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings `env` (default: this process's environment) configures; the one read."""
        env = os.environ if env is None else env
        ports = {name: int(env.get(var, default)) for name, (var, default) in PORT_ENVS.items()}
        return cls(
            on_databricks=DATABRICKS_RUNTIME_ENV in env,
            verbose=env.get(VERBOSE_ENV) == "1",
            spark_local_ip=env.get("SPARK_LOCAL_IP", "127.0.0.1"),
            engine_ports=EnginePorts(**ports),
            app_insights=bool(env.get(APP_INSIGHTS_ENV)),
            environ=MappingProxyType(dict(env)),
        )
