"""The Databricks Asset Bundle (databricks.yml), checked offline.

No workspace is reachable here, so `databricks bundle validate` cannot run. Instead
every resource is loaded into the bundle schema's own Python models (the
databricks-bundles package rejects unknown fields and wrong types), and the bundle's
references into this project are followed: the wheel's entry point
(`lakehouse-job`, lakehouse/databricks_job.py) parses the parameters it is given into
a task on a non-local lake when the lake variable is an `abfss://` URL (no Spark
starts), its commands have the `lakehouse` CLI's options, the dbt commands name real
vars and the dbt target, the schemas are the ones dbt writes, and every variable used
is declared.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from databricks.bundles.external_locations import ExternalLocation
from databricks.bundles.jobs import Job
from databricks.bundles.schemas import Schema

from lakehouse import databricks_job
from lakehouse.cli.main import cli
from lakehouse.databricks_job import ENTRY_POINT, SOURCE_ENV, SOURCE_FORMATS, JobUsageError, resolve
from lakehouse.paths import LAKE_ROOT_ENV, PROJECT_DIR

BUNDLE = yaml.safe_load((PROJECT_DIR / "databricks.yml").read_text())
PROJECT = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
PYPROJECT = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
MODELS = {"jobs": Job, "external_locations": ExternalLocation, "schemas": Schema}
LAKE_VARIABLE = "${var.lake_url}"
ABFSS_LAKE = "abfss://lake@acct.dfs.core.windows.net/"
# A job cluster's environment: the bundle's spark_env_vars with the variable given, and
# the variable Databricks Runtime sets (lakehouse.settings.Settings.on_databricks).
CLUSTER_ENV = {LAKE_ROOT_ENV: ABFSS_LAKE, SOURCE_ENV: "cloudFiles", "DATABRICKS_RUNTIME_VERSION": "17.3"}


def _tasks() -> Iterator[tuple[str, dict[str, Any]]]:
    for job_name, job in BUNDLE["resources"]["jobs"].items():
        for task in job["tasks"]:
            yield f"{job_name}.{task['task_key']}", task


def _resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    """The `lakehouse` subcommand that `args` name, and the arguments left for it."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="lakehouse")
    while isinstance(command, click.Group):
        name, found, args = command.resolve_command(ctx, args)
        assert found is not None, name
        command, ctx = found, click.Context(found, info_name=name, parent=ctx)
    return command, args


def test_every_resource_loads_into_the_bundle_schema_models() -> None:
    loaded = {
        kind: {name: MODELS[kind].from_dict(spec) for name, spec in BUNDLE["resources"][kind].items()}
        for kind in MODELS
    }
    assert set(loaded["jobs"]) == {"lake_cycle", "nightly_full_check"}
    assert {t.task_key for t in loaded["jobs"]["lake_cycle"].tasks} == {"load_bronze", "dbt_build", "cosmos_sync"}
    assert [t.task_key for t in loaded["jobs"]["nightly_full_check"].tasks] == ["reconcile_bronze", "full_check"]
    assert set(BUNDLE["targets"]) == {"dev", "staging", "prod"}


def test_the_schema_models_reject_what_the_workspace_would() -> None:
    job = dict(BUNDLE["resources"]["jobs"]["lake_cycle"], max_concurent_runs=1)
    with pytest.raises(ValueError, match="max_concurent_runs"):
        Job.from_dict(job)


def test_every_variable_used_is_declared_and_every_declared_one_used() -> None:
    text = (PROJECT_DIR / "databricks.yml").read_text()
    used = set(re.findall(r"\$\{var\.([a-z_]+)\}", text))
    assert used == set(BUNDLE["variables"])


def _wheel_tasks() -> list[tuple[str, dict[str, Any]]]:
    return [(key, task["python_wheel_task"]) for key, task in _tasks() if "python_wheel_task" in task]


def _given(parameters: list[str], lake_url: str = ABFSS_LAKE) -> list[str]:
    """A task's parameters as the job passes them, with the lake variable given."""
    return [p.replace(LAKE_VARIABLE, lake_url) for p in parameters]


def test_wheel_tasks_call_the_job_entry_point_with_the_lake_variable() -> None:
    package = PYPROJECT["project"]["name"].replace("-", "_")
    wheel_tasks = _wheel_tasks()
    assert {key for key, _ in wheel_tasks} == {
        "lake_cycle.load_bronze",
        "lake_cycle.cosmos_sync",
        "nightly_full_check.reconcile_bronze",
    }
    assert PYPROJECT["project"]["scripts"][ENTRY_POINT] == f"{databricks_job.__name__}:main"
    assert "abfss://" in BUNDLE["variables"]["lake_url"]["description"]
    for key, task in wheel_tasks:
        assert task["package_name"] == package, key
        assert task["entry_point"] == ENTRY_POINT, key
        parameters = list(task["parameters"])
        assert parameters[:2] == ["--lake", LAKE_VARIABLE], key  # the lake is the abfss:// variable


def _assert_abfss_lake(task: databricks_job.JobTask) -> None:
    lake = task.lake
    assert not lake.is_local
    assert (lake.location.scheme, lake.location.container, lake.location.account) == ("abfss", "lake", "acct")
    assert lake.root == "abfss://lake@acct.dfs.core.windows.net"
    # Every lake location the tasks hand to Spark or the storage seam is a URL string, never a Path.
    for where in (lake.root, lake.capture, lake.table("gold", "gold_device_metrics_5m"), lake.checkpoint("bronze")):
        assert isinstance(where, str) and not isinstance(where, Path)
        assert where.startswith("abfss://lake@acct.dfs.core.windows.net"), where
    assert (
        lake.checkpoint("bronze_capture_files")
        == "abfss://lake@acct.dfs.core.windows.net/_checkpoints/bronze_capture_files"
    )
    # Its local side (logs) is on the driver's disk, not in the wheel's site-packages.
    assert not lake.local.is_relative_to(PROJECT_DIR), lake.local
    # On the cluster the lake is reached by its identity (the Unity Catalog external location): no key, no SAS.
    assert lake.credentials.kind == "identity"


def test_the_wheel_tasks_parameters_resolve_to_the_abfss_lake_without_spark() -> None:
    tasks = {key: resolve(_given(task["parameters"]), CLUSTER_ENV) for key, task in _wheel_tasks()}
    for task in tasks.values():
        _assert_abfss_lake(task)
    bronze = tasks["lake_cycle.load_bronze"]
    assert (bronze.command, bronze.source_format, bronze.full_sweep) == ("load-bronze", "cloudFiles", False)
    nightly = tasks["nightly_full_check.reconcile_bronze"]
    assert (nightly.command, nightly.source_format, nightly.full_sweep) == ("load-bronze", "binaryFile", True)
    assert tasks["lake_cycle.cosmos_sync"].command == "cosmos-sync"


def test_the_lake_comes_from_the_environment_once_when_no_argument_names_it() -> None:
    from_env = resolve(["load-bronze"], CLUSTER_ENV)
    _assert_abfss_lake(from_env)
    assert from_env.source_format == "cloudFiles"  # $LAKEHOUSE_BRONZE_SOURCE, as the job cluster sets it
    # --lake wins over the environment.
    other = resolve(["--lake", "abfss://other@acct2.dfs.core.windows.net/lake", "cosmos-sync"], CLUSTER_ENV)
    assert other.lake.root == "abfss://other@acct2.dfs.core.windows.net/lake"
    with pytest.raises(JobUsageError, match="no lake"):
        resolve(["load-bronze"], {})
    with pytest.raises(JobUsageError, match="not supported"):
        resolve(["--lake", "s3://bucket/lake", "load-bronze"], {})


def test_the_job_entry_points_commands_have_the_clis_options() -> None:
    """`lakehouse-job` runs what `lakehouse load-bronze` and `lakehouse serve cosmos-sync` run:
    every option it takes is one the CLI's command takes, with the same choices."""
    parser = databricks_job.parser({})
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == {"load-bronze", "cosmos-sync"}
    for name, cli_args in (("load-bronze", ["load-bronze"]), ("cosmos-sync", ["serve", "cosmos-sync"])):
        command, _ = _resolve(cli_args)
        cli_options = {opt: p for p in command.params for opt in p.opts}
        for action in subparsers[name]._actions:
            for option in action.option_strings:
                if option in ("-h", "--help"):
                    continue
                assert option in cli_options, (name, option)
                if action.choices:
                    assert tuple(action.choices) == tuple(cli_options[option].type.choices), (name, option)  # type: ignore[attr-defined]
    load_bronze, _ = _resolve(["load-bronze"])
    source = next(p for p in load_bronze.params if p.name == "source_format")
    assert source.envvar == SOURCE_ENV and tuple(source.type.choices) == SOURCE_FORMATS  # type: ignore[attr-defined]


def test_on_databricks_the_task_uses_the_clusters_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """No local session, no storage settings: the cluster's session reaches the lake
    through Unity Catalog's external location."""
    from pyspark.sql import SparkSession

    calls: list[str] = []

    class Builder:
        def config(self, *args: object) -> Builder:
            calls.append("config")
            return self

        def getOrCreate(self) -> str:
            calls.append("getOrCreate")
            return "the cluster's session"

    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    monkeypatch.setattr(SparkSession, "builder", Builder())
    task = resolve(_given(["--lake", LAKE_VARIABLE, "load-bronze"]), CLUSTER_ENV)
    assert databricks_job.job_session(task.lake) == "the cluster's session"
    assert calls == ["getOrCreate"]


def test_the_cluster_environment_names_what_the_code_reads() -> None:
    for job in BUNDLE["resources"]["jobs"].values():
        env = job["job_clusters"][0]["new_cluster"]["spark_env_vars"]
        assert env[LAKE_ROOT_ENV] == LAKE_VARIABLE
        assert env[SOURCE_ENV] in SOURCE_FORMATS
    cluster = BUNDLE["resources"]["jobs"]["lake_cycle"]["job_clusters"][0]["new_cluster"]
    env = cluster["spark_env_vars"]
    profile = yaml.safe_load((PROJECT_DIR / "profiles.example.yml").read_text())
    assert env["DBT_TARGET"] in profile[PROJECT["profile"]]["outputs"]


def test_dbt_tasks_run_dbt_commands_with_the_projects_vars() -> None:
    dbt_tasks = [(key, task["dbt_task"]) for key, task in _tasks() if "dbt_task" in task]
    assert len(dbt_tasks) == 2
    for key, task in dbt_tasks:
        for command in task["commands"]:
            args = shlex.split(command)
            assert args[0] == "dbt" and args[1] in {"build", "source", "run", "test"}, (key, command)
            if "--vars" in args:
                given = yaml.safe_load(args[args.index("--vars") + 1])
                assert set(given) <= set(PROJECT["vars"]), (key, given)


def test_the_bundle_creates_the_schemas_dbt_writes() -> None:
    def schemas(config: Any) -> Iterator[str]:
        if isinstance(config, dict):
            for key, value in config.items():
                if key in ("+schema", "schema") and isinstance(value, str):
                    yield value
                else:
                    yield from schemas(value)
        elif isinstance(config, list):
            for item in config:
                yield from schemas(item)

    written = set(schemas(PROJECT.get("models"))) | set(schemas(PROJECT.get("seeds")))
    for path in [*PROJECT_DIR.glob("snapshots/*.yml"), *PROJECT_DIR.glob("models/**/_*__sources.yml")]:
        written |= set(schemas(yaml.safe_load(path.read_text())))
    declared = {spec["name"] for spec in BUNDLE["resources"]["schemas"].values()}
    assert written == declared


def test_dbt_environments_install_the_databricks_extra() -> None:
    """The dbt tasks' environments install `pyproject.toml`'s `databricks` extra and the
    project's dbt-core pin, nothing else; every dbt task runs in one of them."""
    project = PYPROJECT["project"]
    core = [d for d in project["dependencies"] if d.startswith("dbt-core==")]
    want = sorted(core + project["optional-dependencies"]["databricks"])
    for job_name, job in BUNDLE["resources"]["jobs"].items():
        environments = {e["environment_key"]: sorted(e["spec"]["dependencies"]) for e in job.get("environments", [])}
        for key, task in ((t["task_key"], t) for t in job["tasks"] if "dbt_task" in t):
            assert environments.get(task.get("environment_key")) == want, (job_name, key)


def test_the_wheel_does_not_bring_spark_onto_databricks_compute() -> None:
    """The job cluster installs the wheel without extras: Databricks Runtime has its own
    Spark, Delta Lake and (in the dbt environment) adapter, so none is a base dependency."""
    base = {re.split(r"[\[=<>!~ ]", d, maxsplit=1)[0].lower() for d in PYPROJECT["project"]["dependencies"]}
    assert not base & {"pyspark", "delta-spark", "dbt-spark", "dbt-databricks"}, base
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"dbt-spark", "pyspark", "delta-spark"} <= {re.split(r"[\[=]", d, maxsplit=1)[0] for d in extras["spark"]}
