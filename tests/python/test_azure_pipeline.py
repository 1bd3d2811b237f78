"""The Azure DevOps pipeline (azure-pipelines.yml), checked offline, and its slim CI selection
run for real on the local lake.

No Azure DevOps organisation is reachable here, so the pipeline file is checked for what it
promises: its triggers, stages and jobs; that the test job runs what the README says CI runs;
caches on the folders the project really uses; and that the slim job builds
`state:modified+ --defer --state` against the manifest the main branch publishes.

The slim selection itself is run locally: a "production" manifest is parsed from a copy of
this project in which one model (int_bronze_loads) differs, and the current project is built
against it with the pipeline's commands. The nodes that ran must be exactly that model and
everything downstream of it (computed from the manifest's child_map), and its upstream and
sibling models must not be rebuilt (absent from run_results.json, Delta versions unchanged).
That test runs after the other Spark tests (marker `after_lake_builds`) and builds on the
session's lake as they left it: the pipeline's stand-in for production's tables is built
only when they are missing (the test run alone).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.profile import local_spark_conf

PIPELINE = yaml.safe_load((PROJECT_DIR / "azure-pipelines.yml").read_text())
README = (PROJECT_DIR / "README.md").read_text()
PROD_STATE = "$(Pipeline.Workspace)/prod-state"
PROJECT = "telemetry_lakehouse"
SLIM = ["--select", "state:modified+", "--defer"]
STAND_IN = [
    "--select",
    "@state:modified",
    "--exclude",
    "state:modified+",
    "--exclude-resource-type",
    "test",
    "unit_test",
]


def _jobs() -> dict[str, dict[str, Any]]:
    return {job["job"]: job for stage in PIPELINE["stages"] for job in stage["jobs"]}


def _tasks(job: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("task") == name]


def _scripts(job: dict[str, Any]) -> list[str]:
    return [step["script"] for step in job["steps"] if "script" in step]


def _commands(script: str) -> Iterator[list[str]]:
    """The script's command lines, split as the shell would (comments and blank lines left out)."""
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            yield words


def _readme_test_commands() -> tuple[str, str]:
    """From the README's command block: the test command, and what it says CI runs
    (the line `bin/test   # the test suite (what CI runs: .ci/run)`)."""
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL):
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if "test suite" in comment:
                ci = re.search(r"what CI runs: ([^\s)]+)", comment)
                assert ci, line
                return command.strip(), ci.group(1)
    raise AssertionError("the README names no test command in a bash block")


def test_triggers_on_main_and_on_every_pull_request_to_main() -> None:
    assert PIPELINE["trigger"]["branches"]["include"] == ["main"]
    assert PIPELINE["pr"]["branches"]["include"] == ["main"]
    assert "paths" not in PIPELINE["pr"] and "exclude" not in PIPELINE["pr"]["branches"]


def test_names_its_stages_and_jobs() -> None:
    assert [stage["stage"] for stage in PIPELINE["stages"]] == ["test"]
    assert list(_jobs()) == ["test_suite", "slim_ci", "production_manifest"]
    for job in _jobs().values():
        assert job["displayName"] and job["pool"]["vmImage"] in ("ubuntu-22.04", "ubuntu-latest")
        assert [t["inputs"]["versionSpec"] for t in _tasks(job, "UsePythonVersion@0")] == ["3.11"]


def test_the_test_job_runs_what_the_readme_says_ci_runs() -> None:
    command, ci = _readme_test_commands()
    assert (command, ci) == ("bin/test", ".ci/run")
    job = _jobs()["test_suite"]
    assert job["timeoutInMinutes"] >= 60  # the suite takes ~25 minutes
    assert [s.strip() for s in _scripts(job)] == [ci]
    # .ci/run ends by running the README's test command unchanged (no extra pytest arguments).
    lines = [ln.strip() for ln in (PROJECT_DIR / ci).read_text().splitlines()]
    assert [ln for ln in lines if ln and not ln.startswith("#")][-1] == f"exec {command}"


def test_the_test_job_publishes_junit_results() -> None:
    job = _jobs()["test_suite"]
    step = next(s for s in job["steps"] if "script" in s)
    option = step["env"]["PYTEST_ADDOPTS"]
    assert option.startswith("--junitxml=")
    (publish,) = _tasks(job, "PublishTestResults@2")
    assert publish["condition"] == "succeededOrFailed()"
    assert publish["inputs"]["testResultsFormat"] == "JUnit"
    assert publish["inputs"]["testResultsFiles"] == option.removeprefix("--junitxml=")


def test_caches_the_pip_and_ivy_folders_the_project_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = PIPELINE["variables"]
    for name in ("test_suite", "slim_ci"):
        paths = {t["inputs"]["path"] for t in _tasks(_jobs()[name], "Cache@2")}
        assert paths == {"$(PIP_CACHE_DIR)", "$(LAKEHOUSE_IVY_DIR)"}
    # The Ivy folder is where Spark resolves its jars: the local target's spark.jars.ivy.
    monkeypatch.setenv("LAKEHOUSE_IVY_DIR", variables["LAKEHOUSE_IVY_DIR"])
    assert local_spark_conf()["spark.jars.ivy"] == variables["LAKEHOUSE_IVY_DIR"]
    assert variables["PIP_CACHE_DIR"].startswith("$(Pipeline.Workspace)/")


def test_slim_job_builds_state_modified_against_the_manifest_main_publishes() -> None:
    jobs = _jobs()
    slim, manifest = jobs["slim_ci"], jobs["production_manifest"]
    assert slim["condition"] == "eq(variables['Build.Reason'], 'PullRequest')"
    assert "refs/heads/main" in manifest["condition"] and manifest["dependsOn"] == "test_suite"

    (publish,) = _tasks(manifest, "PublishPipelineArtifact@1")
    assert publish["inputs"]["targetPath"] == "target/manifest.json"
    (*_, parse) = [c for s in _scripts(manifest) for c in _commands(s)]
    assert parse == [".venv/bin/dbt", "parse", "--target-path", "target"]

    (download,) = _tasks(slim, "DownloadPipelineArtifact@2")
    assert download["inputs"] == {
        "source": "specific",
        "project": "$(System.TeamProjectId)",
        "pipeline": "$(System.DefinitionId)",
        "runVersion": "latestFromBranch",
        "branchName": "refs/heads/main",
        "artifact": publish["inputs"]["artifact"],
        "path": PROD_STATE,
    }
    dbt = [c for s in _scripts(slim) for c in _commands(s) if "build" in c]
    # The slim build, on the local target (through the lakehouse CLI, which loads bronze first)
    # and on the Databricks dev target (plain dbt).
    slim_builds = [c for c in dbt if c[c.index("build") :] == ["build", *SLIM, "--state", PROD_STATE]]
    assert [c[: c.index("build")] for c in slim_builds] == [["bin/lakehouse", "dbt"], [".venv/bin/dbt"]]
    assert {"state:modified+", "--defer", "--state"} <= set(slim_builds[0])
    # Locally, the stand-in for production's tables first (the same selection the Spark test runs).
    stand_in = [c for c in dbt if c not in slim_builds]
    assert stand_in == [["bin/lakehouse", "dbt", "build", *STAND_IN, "--state", PROD_STATE]]


def test_leaves_a_place_for_the_deploy_stages() -> None:
    text = (PROJECT_DIR / "azure-pipelines.yml").read_text()
    assert re.search(r"# Deploy stages go here.*dev -> staging -> prod", text)


# --- the slim selection on the local lake --------------------------------------------------------

MODIFIED = f"model.{PROJECT}.int_bronze_loads"
# Written out by hand from the models' refs: int_bronze_loads (one row per bronze load, gold's
# watermark) feeds the three gold models, which also read silver_telemetry.
DOWNSTREAM_MODELS = {
    f"model.{PROJECT}.{m}" for m in ("gold_device_metrics_5m", "gold_site_metrics_1h", "gold_window_restatements")
}
UNTOUCHED = {  # model -> its table: unchanged models the stand-in builds and the slim build never rebuilds
    f"model.{PROJECT}.int_telemetry_validated": "silver.int_telemetry_validated",  # upstream
    f"model.{PROJECT}.silver_telemetry": "silver.silver_telemetry",  # sibling, read by gold (deferred)
    # sibling, in the Synapse views exposure with gold (so `@state:modified` reaches it)
    f"model.{PROJECT}.silver_telemetry_quarantine": "silver.silver_telemetry_quarantine",
}
REGISTRY_TABLE = "reference.device_registry"  # the seed's table
# What dbt reads of a project (dbt_project.yml's paths); the copy holds nothing else.
PROJECT_FILES = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "tests/dbt", "analyses")


def _production_manifest(tmp: Path) -> Path:
    """`dbt parse` of a copy of this project in which int_bronze_loads.sql differs (an extra
    comment): the manifest of a production run made before this change. Returns the state
    folder holding only manifest.json, as the pipeline downloads it."""
    from dbt.cli.main import dbtRunner

    copy = tmp / "production"
    for name in PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        elif source.exists():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy / name)
    shutil.copy(PROJECT_DIR / "profiles.example.yml", copy / "profiles.yml")
    model = copy / "models" / "silver" / "int_bronze_loads.sql"
    model.write_text("{#- production's version, before this change -#}\n" + model.read_text())
    result = dbtRunner().invoke(
        [
            "parse",
            "--project-dir",
            str(copy),
            "--profiles-dir",
            str(copy),
            "--target-path",
            str(tmp / "production-target"),
            "--log-path",
            str(tmp / "logs"),
        ]
    )
    assert result.success, result.exception
    state = tmp / "prod-state"
    state.mkdir()
    shutil.copy(tmp / "production-target" / "manifest.json", state / "manifest.json")
    return state


def _descendants(child_map: dict[str, list[str]], node: str) -> set[str]:
    found: set[str] = set()
    todo = [node]
    while todo:
        for child in child_map.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _delta_version(spark: Any, table: str) -> int:
    return int(spark.sql(f"describe history {table} limit 1").first()["version"])


def _selected(lake: Lake, target: Path, *selection: str) -> set[str]:
    """The nodes a `dbt build` of `selection` would run, as `dbt ls` lists them (nothing runs;
    sources and exposures, which a build lists but runs nothing for, left out)."""
    from lakehouse.pipeline.dbt_runner import run_dbt

    listed = run_dbt(
        ["ls", *selection, "--output", "json", "--output-keys", "unique_id"], lake, target_path=str(target)
    )
    ids = {json.loads(line)["unique_id"] for line in listed}  # type: ignore[attr-defined]
    return {i for i in ids if not i.startswith(("source.", "exposure."))}


@pytest.mark.spark
@pytest.mark.after_lake_builds
def test_slim_build_runs_the_changed_model_and_its_downstream_only(lake: Lake, spark: Any, tmp_path: Path) -> None:
    # The run_dbt fixture's `build` is build_lake (the bronze load, then dbt: what `bin/lakehouse
    # dbt build` does in the slim job), but it returns build_lake's report, not dbt's results, and
    # dbt writes run_results.json into the fixture's private target folder. build_lake passes
    # --select/--exclude/--defer/--state through unchanged (it adds only --vars), so the test
    # calls build_lake itself with a target folder of its own and reads run_results.json there.
    from lakehouse.pipeline.lake_build import build_lake

    state = _production_manifest(tmp_path)
    production = json.loads((state / "manifest.json").read_text())
    # Exposures are downstream too, but nothing runs for them (no-op in run_results.json).
    expected = {n for n in _descendants(production["child_map"], MODIFIED) if not n.startswith("exposure.")}
    expected.add(MODIFIED)
    assert expected >= DOWNSTREAM_MODELS and not expected & UNTOUCHED.keys()

    def build(*selection: str) -> dict[str, str]:
        target = tmp_path / f"target-{len(list(tmp_path.glob('target-*')))}"
        build_lake(lake, ["build", *selection, "--state", str(state)], target_path=str(target))
        results = json.loads((target / "run_results.json").read_text())["results"]
        return {r["unique_id"]: r["status"] for r in results if r["status"] != "no-op"}

    # The pipeline's local stand-in for production: the unchanged models and seed the slim build
    # reads, without their tests.
    stand_in = {*UNTOUCHED, f"seed.{PROJECT}.device_registry"}
    assert _selected(lake, tmp_path / "ls-target", *STAND_IN, "--state", str(state)) == stand_in
    # Their tables are the session lake's when the other Spark tests built it (they run first);
    # alone, on an empty lake, the stand-in builds them, as in the pipeline.
    if not all(spark.catalog.tableExists(t) for t in (*UNTOUCHED.values(), REGISTRY_TABLE)):
        assert set(build(*STAND_IN)) == stand_in
    versions = {table: _delta_version(spark, table) for table in UNTOUCHED.values()}

    ran = build(*SLIM)
    assert ran.keys() == expected
    assert set(ran.values()) <= {"success", "pass"}, {k: v for k, v in ran.items() if v not in ("success", "pass")}
    assert {n for n in ran if n.startswith("model.")} == {MODIFIED, *DOWNSTREAM_MODELS}
    assert not ran.keys() & UNTOUCHED.keys()
    # Not rebuilt: their tables have no new Delta version.
    assert {table: _delta_version(spark, table) for table in UNTOUCHED.values()} == versions
