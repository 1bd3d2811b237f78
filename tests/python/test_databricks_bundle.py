"""The Databricks Asset Bundle (databricks.yml), checked offline.

No workspace is reachable here, so `databricks bundle validate` cannot run. Instead
every resource is loaded into the bundle schema's own Python models (the
databricks-bundles package rejects unknown fields and wrong types), and the bundle's
references into this project are followed: the wheel's entry point and the
parameters it is given parse with the `lakehouse` CLI, the dbt commands name real
vars and the dbt target, the schemas are the ones dbt writes, and every variable
used is declared.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from typing import Any

import click
import pytest
import yaml
from databricks.bundles.external_locations import ExternalLocation
from databricks.bundles.jobs import Job
from databricks.bundles.schemas import Schema

from lakehouse.cli.main import cli
from lakehouse.paths import LAKE_ROOT_ENV, PROJECT_DIR

BUNDLE = yaml.safe_load((PROJECT_DIR / "databricks.yml").read_text())
PROJECT = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
PYPROJECT = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
MODELS = {"jobs": Job, "external_locations": ExternalLocation, "schemas": Schema}


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


def test_wheel_tasks_call_the_lakehouse_cli_with_options_it_has() -> None:
    package = PYPROJECT["project"]["name"].replace("-", "_")
    wheel_tasks = [(key, task["python_wheel_task"]) for key, task in _tasks() if "python_wheel_task" in task]
    assert len(wheel_tasks) == 3
    for key, task in wheel_tasks:
        assert task["package_name"] == package, key
        assert task["entry_point"] in PYPROJECT["project"]["scripts"], key
        command, args = _resolve(list(task["parameters"]))
        command.make_context(command.name, args)  # raises on an unknown option or a bad value


def test_the_cluster_environment_names_what_the_code_reads() -> None:
    cluster = BUNDLE["resources"]["jobs"]["lake_cycle"]["job_clusters"][0]["new_cluster"]
    env = cluster["spark_env_vars"]
    load_bronze, _ = _resolve(["load-bronze"])
    source = next(p for p in load_bronze.params if p.name == "source_format")
    assert LAKE_ROOT_ENV in env and source.envvar in env
    assert env[source.envvar] in source.type.choices  # type: ignore[attr-defined]
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
