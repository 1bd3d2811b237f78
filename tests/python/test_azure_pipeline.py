"""The Azure DevOps pipeline (azure-pipelines.yml), checked offline, and its slim CI selection
run for real on the local lake.

No Azure DevOps organisation is reachable here, so the pipeline file is checked for what it
promises: its triggers, stages and jobs; that the test job runs what the README says CI runs;
caches on the folders the project really uses; and that the slim job builds
`state:modified+ --defer --state` against the manifest the main branch publishes.

The deploy stages (dev -> staging -> prod, one template: .ci/azure-deploy-stage.yml) are
checked the same way, with the template expanded as Azure DevOps expands it: main only,
what-if before create against each environment's own parameters file, the deployment job
bound to its environment, the artifacts built once and downloaded by every stage, no
secret-looking literal, and every repository path the pipeline names present.

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
import os
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
CI_DOC = (PROJECT_DIR / "docs" / "ci.md").read_text()  # the README's CI chapter, moved to docs/
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


ENVIRONMENTS = ("dev", "staging", "prod")
DEPLOY_ARTIFACTS = {"functions-app", "dbt-bundle", "infra"}
MAIN_ONLY = (
    "and(succeeded(), eq(variables['Build.SourceBranch'], 'refs/heads/main'), "
    "ne(variables['Build.Reason'], 'PullRequest'))"
)
_PARAMETER = re.compile(r"\$\{\{\s*parameters\.(\w+)\s*\}\}")


def _render(node: Any, parameters: dict[str, Any]) -> Any:
    """A template's node with its `${{ parameters.x }}` replaced, as Azure DevOps expands it
    (the templates here use no other template expression; the test fails if one appears)."""
    if isinstance(node, dict):
        return {_render(k, parameters): _render(v, parameters) for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, parameters) for v in node]
    if isinstance(node, str):
        whole = _PARAMETER.fullmatch(node.strip())
        if whole:
            return parameters[whole.group(1)]
        text = _PARAMETER.sub(lambda m: str(parameters[m.group(1)]), node)
        assert "${{" not in text, f"a template expression the test does not expand: {text}"
        return text
    return node


def _stages() -> list[dict[str, Any]]:
    """The pipeline's stages, stage templates expanded with their parameters and defaults."""
    stages = []
    for entry in PIPELINE["stages"]:
        if "template" not in entry:
            stages.append(entry)
            continue
        template = yaml.safe_load((PROJECT_DIR / entry["template"]).read_text())
        declared = {p["name"]: p for p in template["parameters"]}
        given = entry.get("parameters", {})
        assert given.keys() <= declared.keys(), given.keys() - declared.keys()
        values = {name: given.get(name, p.get("default")) for name, p in declared.items()}
        assert None not in values.values(), f"parameters without a value: {values}"
        stages.extend(_render(template["stages"], values))
    return stages


def _template_parameters() -> dict[str, dict[str, Any]]:
    """The deploy stages' template parameters, by environment."""
    entries = [e["parameters"] for e in PIPELINE["stages"] if "template" in e]
    return {e["environment"]: e for e in entries}


def _stage(name: str) -> dict[str, Any]:
    (stage,) = [s for s in _stages() if s["stage"] == name]
    return stage


def _stage_jobs(stage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job.get("job") or job["deployment"]: job for job in stage["jobs"]}


def _jobs() -> dict[str, dict[str, Any]]:
    """The jobs of the test stage."""
    return _stage_jobs(_stage("test"))


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's steps; a deployment job's are its runOnce strategy's deploy hook."""
    if "deployment" in job:
        return list(job["strategy"]["runOnce"]["deploy"]["steps"])
    return list(job["steps"])


def _macros(text: str, variables: dict[str, Any]) -> str:
    """`$(NAME)` replaced by the stage's variables (others, the run's own, left as written)."""
    return re.sub(r"\$\((\w+)\)", lambda m: str(variables.get(m.group(1), m.group(0))), text)


def _az_commands(job: dict[str, Any], variables: dict[str, Any]) -> list[list[str]]:
    """The `az ...` command lines of a job's AzureCLI@2 scripts, in order, words split as the shell would."""
    found = []
    for step in _tasks(job, "AzureCLI@2"):
        for line in _macros(step["inputs"]["inlineScript"], variables).splitlines():
            if line.strip().startswith("az "):
                found.append(shlex.split(line.split("|")[0], comments=True))
    return found


def _tasks(job: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [step for step in _steps(job) if step.get("task") == name]


def _scripts(job: dict[str, Any]) -> list[str]:
    return [step["script"] for step in _steps(job) if "script" in step]


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
    stages = _stages()
    assert [stage["stage"] for stage in stages] == ["test", "deploy_dev", "deploy_staging", "deploy_prod"]
    # Each deploy stage waits for the one before it: test -> dev -> staging -> prod.
    assert "dependsOn" not in stages[0]
    assert [stage["dependsOn"] for stage in stages[1:]] == [stage["stage"] for stage in stages[:-1]]
    assert list(_jobs()) == ["test_suite", "slim_ci", "production_manifest", "package"]
    for stage in stages[1:]:
        assert list(_stage_jobs(stage)) == ["what_if", "deploy"]
    for job in [*_jobs().values(), *(_stage_jobs(stage)["deploy"] for stage in stages[1:])]:
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


# --- the deploy stages ----------------------------------------------------------------------------


def test_deploy_stages_run_on_main_only_never_for_a_pull_request() -> None:
    for env in ENVIRONMENTS:
        assert _stage(f"deploy_{env}")["condition"] == MAIN_ONLY
    # Nothing in the test stage deploys: its jobs hold no service connection.
    assert not any(_tasks(job, "AzureCLI@2") for job in _jobs().values())


def test_each_deploy_stage_runs_what_if_before_create_with_its_own_parameters() -> None:
    for env in ENVIRONMENTS:
        stage = _stage(f"deploy_{env}")
        variables, jobs = stage["variables"], _stage_jobs(stage)
        assert variables["ENVIRONMENT"] == env
        what_if, deploy = jobs["what_if"], jobs["deploy"]
        # The deployment job (the one the environment's approval gates) starts only after what-if.
        assert "deployment" not in what_if and "environment" not in what_if
        assert deploy["dependsOn"] == "what_if"
        template = ["--template-file", "infra/main.bicep", "--parameters", f"infra/params/{env}.parameters.json"]
        commands = {name: _az_commands(job, variables) for name, job in jobs.items()}
        (preview,) = [c for c in commands["what_if"] if c[:4] == ["az", "deployment", "group", "what-if"]]
        (create,) = [c for c in commands["deploy"] if c[:4] == ["az", "deployment", "group", "create"]]
        assert not [c for c in commands["what_if"] if c[:4] == ["az", "deployment", "group", "create"]]
        assert not [c for c in commands["deploy"] if c[:4] == ["az", "deployment", "group", "what-if"]]
        for command in (preview, create):
            at = command.index("--template-file")
            assert command[at : at + 4] == template, command
            assert command[command.index("--resource-group") + 1] == _template_parameters()[env]["resourceGroup"]
        # Both read the templates from this run's `infra` artifact.
        for job in (what_if, deploy):
            assert {"download": "current", "artifact": "infra"} in _steps(job)
            for task in _tasks(job, "AzureCLI@2"):
                if "deployment group" in task["inputs"]["inlineScript"]:
                    assert task["inputs"]["workingDirectory"] == "$(Pipeline.Workspace)/infra"
        # After create, in order: the Functions zip, the bundle (validated first), the smoke check.
        scripts = "\n".join(t["inputs"]["inlineScript"] for t in _tasks(deploy, "AzureCLI@2"))
        order = [
            "az deployment group create",
            "az functionapp deploy",
            "databricks bundle validate -t",
            "databricks bundle deploy -t",
            "az functionapp function list",
        ]
        positions = [scripts.index(command) for command in order]
        assert positions == sorted(positions)


def test_each_deployment_job_is_bound_to_its_environment() -> None:
    for env in ENVIRONMENTS:
        deploy = _stage_jobs(_stage(f"deploy_{env}"))["deploy"]
        assert deploy["environment"] == f"telemetry-{env}"
        assert list(deploy["strategy"]) == ["runOnce"]
    assert _stage_jobs(_stage("deploy_prod"))["deploy"]["environment"] == "telemetry-prod"


def test_deploys_sign_in_through_a_service_connection_per_environment() -> None:
    connections = set()
    for env in ENVIRONMENTS:
        expected = _template_parameters()[env]["serviceConnection"]
        connections.add(expected)
        for job in _stage_jobs(_stage(f"deploy_{env}")).values():
            for task in _tasks(job, "AzureCLI@2"):
                # A service connection must be known when the YAML is compiled: a name, not a macro.
                assert task["inputs"]["azureSubscription"] == expected
                assert task["inputs"]["scriptType"] == "bash"
                script = task["inputs"]["inlineScript"]
                assert script.startswith("set -euo pipefail\n")
                if "databricks " in script:  # the Databricks CLI takes its token from the Azure CLI
                    auth = re.search(r"DATABRICKS_AUTH_TYPE=(\S+)", script)
                    assert auth and auth.group(1) == "azure-cli"
    assert len(connections) == len(ENVIRONMENTS)


def test_every_environment_deploys_the_artifacts_built_once() -> None:
    stages = _stages()
    published = {
        (stage["stage"], name, t["inputs"]["artifact"])
        for stage in stages
        for name, job in _stage_jobs(stage).items()
        for t in _tasks(job, "PublishPipelineArtifact@1")
    }
    # Built in one job of the test stage, once per run; no deploy stage publishes or rebuilds.
    assert {p for p in published if p[2] in DEPLOY_ARTIFACTS} == {("test", "package", a) for a in DEPLOY_ARTIFACTS}
    assert {p[0] for p in published} == {"test"}
    package = _jobs()["package"]
    assert "condition" not in package  # PRs too: a package that no longer builds fails the PR
    rendered = []
    for env in ENVIRONMENTS:
        stage = _stage(f"deploy_{env}")
        jobs = _stage_jobs(stage)
        downloads = [s for s in _steps(jobs["deploy"]) if "download" in s]
        assert downloads == [{"download": "current", "artifact": a} for a in ("infra", "functions-app", "dbt-bundle")]
        assert {"checkout": "none"} in _steps(jobs["what_if"])
        text = json.dumps(stage)
        for build in ("pip install", "git archive", "az bicep build", "zip -"):
            assert build not in text, (env, build)
        assert "$(Pipeline.Workspace)/functions-app/functions.zip" in text
        # The three stages are one template: equal but for the names of the environment.
        names = _template_parameters()[env]
        text = text.replace("/dev/null", "<null>")
        for value in sorted({str(v) for v in names.values()} | {env}, key=len, reverse=True):
            text = re.sub(rf"{re.escape(value)}(?![a-z])", "<env>", text)  # not "dev" in "development"
        rendered.append(text)
    assert rendered[0] == rendered[1] == rendered[2]
    # What package publishes is what the stages read: the zip's path and the bundle's root.
    script = "\n".join(_scripts(package))
    assert '"$out/functions.zip"' in script and "functions-app" in script
    target = "--target azure_functions/.python_packages/lib/site-packages"
    assert f"pip install {target} -r azure_functions/requirements.txt\n" in script
    assert f"pip install {target} --no-deps ." in script


def test_pins_the_databricks_cli_of_the_bundle_schema() -> None:
    pins = dict(
        line.strip().strip('",').split("==")
        for line in (PROJECT_DIR / "pyproject.toml").read_text().splitlines()
        if line.strip().startswith('"databricks-bundles==')
    )
    for env in ENVIRONMENTS:
        assert _stage(f"deploy_{env}")["variables"]["DATABRICKS_CLI_VERSION"] == pins["databricks-bundles"]


SECRET_LIKE = {
    "storage or Event Hubs connection string": re.compile(r"(AccountKey|SharedAccessKey)=", re.I),
    "SAS signature": re.compile(r"[?&]sig=", re.I),
    "JWT": re.compile(r"eyJ[\w-]{10,}"),
    "private key": re.compile(r"-----BEGIN"),
    "Databricks token": re.compile(r"\bdapi[0-9a-f]{16,}"),
    "GUID (tenant, subscription or client id)": re.compile(
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I
    ),
    "long random-looking literal": re.compile(r"(?<![\w/.$-])(?=[\w+/=-]*\d)(?=[\w+/=-]*[A-Z])[\w+/=-]{32,}"),
    "password or secret assignment": re.compile(
        r"(password|secret|token|key)\s*[:=]\s*[\"']?(?!\$\()[\w+/=-]{8,}", re.I
    ),
}


def test_no_secret_looking_literal() -> None:
    texts = {name: (PROJECT_DIR / name).read_text() for name in ("azure-pipelines.yml", ".ci/azure-deploy-stage.yml")}
    for name, text in texts.items():
        for kind, pattern in SECRET_LIKE.items():
            hits = [m.group(0) for m in pattern.finditer(text)]
            assert not hits, f"{name}: {kind}: {hits}"
    # The one secret the pipeline uses is a macro reference mapped under `env:`.
    assert "DATABRICKS_TOKEN: $(DATABRICKS_TOKEN)" in texts["azure-pipelines.yml"]


_PATH = re.compile(r"(?<![\w$/.:-])(\.?[A-Za-z_][\w.-]*(?:/[\w.-]+)+/?|[\w.-]+\.(?:toml|ya?ml))(?![\w/])")
# Written by the pipeline itself, never in the repository.
GENERATED = {
    "target/manifest.json",
    "azure_functions/.python_packages/lib/site-packages",
    "azure_functions/.python_packages",
}


def _named_paths() -> set[str]:
    """The repository paths the pipeline and its template name: every string of the expanded
    pipeline, the stages' own `$(VARIABLES)` substituted, whose first part is a top-level
    entry of the repository."""
    roots = {p.name for p in PROJECT_DIR.iterdir()} - {"target", "dist", "lake", "logs", ".venv"}
    found: set[str] = set()

    def walk(node: Any, variables: dict[str, Any]) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value, variables)
        elif isinstance(node, list):
            for value in node:
                walk(value, variables)
        elif isinstance(node, str):
            for match in _PATH.finditer(_macros(node, variables)):
                path = match.group(1).rstrip("/")
                if path.split("/")[0] in roots and path not in GENERATED:
                    found.add(path)

    walk(PIPELINE, PIPELINE["variables"])
    for stage in _stages():
        walk(stage, {**PIPELINE["variables"], **stage.get("variables", {})})
    return found


def test_every_path_the_pipeline_names_exists() -> None:
    paths = _named_paths()
    assert {".ci/run", ".ci/azure-deploy-stage.yml", "bin/setup", "bin/lakehouse", "pyproject.toml"} <= paths
    expected = {f"infra/params/{env}.parameters.json" for env in ENVIRONMENTS}
    assert {"infra/main.bicep", "azure_functions/requirements.txt", *expected} <= paths
    missing = sorted(p for p in paths if not (PROJECT_DIR / p).exists())
    assert not missing


def test_the_ci_doc_explains_the_promotion() -> None:
    section = CI_DOC.split("## Promotion from dev to prod without stopping the flow", 1)[1].split("\n## ", 1)[0]
    for words in ("deploy_dev", "deploy_staging", "deploy_prod", "telemetry-prod", "what-if", "SIGTERM"):
        assert words in section, words


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
    # sibling: the silver rows earlier sends replaced, read by gold (deferred)
    f"model.{PROJECT}.int_silver_replaced_sends": "silver.int_silver_replaced_sends",
    # sibling, in the Synapse views exposure with gold (so `@state:modified` reaches it)
    f"model.{PROJECT}.silver_telemetry_quarantine": "silver.silver_telemetry_quarantine",
}
REGISTRY_TABLE = "reference.device_registry"  # the seed's table
# What dbt reads of a project (dbt_project.yml's paths); the copy holds nothing else.
PROJECT_FILES = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "tests/dbt", "analyses")


def _production_manifest(tmp: Path, lake: Lake) -> Path:
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
    os.environ.update(lake.env())  # production parses for its own lake (locations use env_var), as run_dbt does
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

    state = _production_manifest(tmp_path, lake)
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
