"""Every part of the Azure deployment agrees with lakehouse/azure_names.json.

The names file is the one place the hubs, the consumer group, the Capture layout and
window, the storage containers, the Functions app's settings, the Key Vault secret and
the Cosmos DB database and containers are spelled. These tests fail when a part
spells one differently, or on its own:

- the Bicep templates (infra/): main.bicep loads the file and no template spells one
  of its names as a string literal; the Capture settings are taken from it; the
  parameter files give what main.bicep needs; the alerts query metrics the runner emits;
- the Python code: the Capture lander's defaults, the Capture path, the quarantine
  container, the Cosmos DB database;
- the dbt project: the Cosmos containers and partition keys from the manifest, and the
  Capture layout in the bronze source's description;
- the Functions app (azure_functions/): its triggers' hub, consumer group, connection and
  schedule setting, and the app settings main.bicep gives it.

No Azure, no Spark, no Bicep CLI: the templates are read as text (comments and
decorators stripped, then the quoted string literals), which is what a name spelled
twice would look like.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.azure_names import NAMES_FILE, azure_names
from lakehouse.paths import PROJECT_DIR

INFRA = PROJECT_DIR / "infra"
MAIN_BICEP = INFRA / "main.bicep"
TEMPLATES = sorted(INFRA.rglob("*.bicep"))
PARAMETER_FILES = sorted((INFRA / "params").glob("*.parameters.json"))
ENVIRONMENTS = ("dev", "staging", "prod")

NAMES: dict[str, Any] = azure_names()


# --- reading Bicep as text ---------------------------------------------------------


def _code(text: str) -> str:
    """The template without comments and without decorator lines (@description(...)),
    whose prose may mention a name without spelling a resource's name."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("@"):
            continue
        lines.append(_strip_line_comment(line))
    return "\n".join(lines)


def _strip_line_comment(line: str) -> str:
    in_string = False
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\" and in_string:
            i += 2
            continue
        if char == "'":
            in_string = not in_string
        elif not in_string and line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def _string_literals(code: str) -> list[str]:
    """The literal parts of every quoted string: interpolations (`${...}`) cut them apart."""
    literals: list[str] = []
    for match in re.finditer(r"'((?:[^'\\]|\\.)*)'", code):
        literals.extend(part for part in re.split(r"\$\{[^}]*\}", match.group(1)) if part)
    return literals


def _tokens(literal: str) -> set[str]:
    """The literal, and its words: runs of letters, digits, `-` and `_`, also cut at `__`
    (a `<connection>__<property>` app setting name)."""
    return {literal, *(t for t in re.split(r"[^A-Za-z0-9_\-]+|__", literal) if t)}


def _shared_names() -> dict[str, str]:
    """Each name the templates must take from the names file, with where it is in the file."""
    hubs = NAMES["event_hubs"]
    shared = {
        hubs["capture_hub"]: "event_hubs.capture_hub",
        hubs["http_hub"]: "event_hubs.http_hub",
        hubs["function_consumer_group"]: "event_hubs.function_consumer_group",
        NAMES["capture"]["archive_name_format"]: "capture.archive_name_format",
        NAMES["key_vault"]["http_token_secret"]: "key_vault.http_token_secret",  # pragma: allowlist secret
        NAMES["cosmos"]["database"]: "cosmos.database",
        NAMES["function_app"]["lander_function"]: "function_app.lander_function",
    }
    shared |= {name: f"storage.containers.{role}" for role, name in NAMES["storage"]["containers"].items()}
    shared |= {name: f"function_app.settings.{role}" for role, name in NAMES["function_app"]["settings"].items()}
    for container, partition_key in NAMES["cosmos"]["containers"].items():
        shared[container] = "cosmos.containers"
        shared[partition_key] = f"cosmos.containers.{container}"
    return shared


def literal_names_in(template: Path) -> list[str]:
    """Names of the names file that `template` spells as string literals."""
    shared = _shared_names()
    found = []
    for literal in _string_literals(_code(template.read_text())):
        for token in _tokens(literal):
            if token in shared:
                found.append(f"{token!r} ({shared[token]}) in {literal!r}")
    return found


# --- (a) the templates --------------------------------------------------------------


def test_the_templates_exist() -> None:
    assert MAIN_BICEP.is_file()
    assert len(TEMPLATES) > 1, "main.bicep and its modules under infra/modules/"
    assert sorted(p.name for p in PARAMETER_FILES) == sorted(f"{env}.parameters.json" for env in ENVIRONMENTS)


def test_main_loads_the_names_file() -> None:
    code = _code(MAIN_BICEP.read_text())
    loads = re.findall(r"var\s+names\s*=\s*loadJsonContent\('([^']+)'\)", code)
    assert loads, "main.bicep must read the shared names with var names = loadJsonContent('...azure_names.json')"
    assert (MAIN_BICEP.parent / loads[0]).resolve() == NAMES_FILE.resolve()


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(INFRA)))
def test_no_template_spells_a_shared_name(template: Path) -> None:
    found = literal_names_in(template)
    assert not found, (
        f"{template.relative_to(PROJECT_DIR)} spells names of lakehouse/azure_names.json as literals; "
        "take them from `names` (main.bicep) and pass them to modules as parameters: " + "; ".join(found)
    )


def test_every_name_group_reaches_the_templates() -> None:
    """main.bicep passes each group of names on (a template that stopped using one would
    pass the literal check while deploying without it)."""
    code = _code(MAIN_BICEP.read_text())
    expected = [
        "names.event_hubs.capture_hub",
        "names.event_hubs.http_hub",
        "names.event_hubs.function_consumer_group",
        "names.event_hubs.partitions",
        "names.event_hubs.retention_days",
        "names.key_vault.http_token_secret",
        "names.cosmos.database",
        "names.cosmos.containers",
        "names.function_app.default_schedule",
        "names.function_app.lander_function",
    ]
    expected += [f"containers.{role}" for role in NAMES["storage"]["containers"]]
    expected += [f"settingNames.{role}" for role in NAMES["function_app"]["settings"]]
    missing = [ref for ref in expected if not re.search(re.escape(ref) + r"\b", code)]
    assert not missing, f"main.bicep does not use: {missing}"


def test_capture_settings_come_from_the_names_file() -> None:
    main = _code(MAIN_BICEP.read_text())
    for key in NAMES["capture"]:
        assert re.search(rf"names\.capture\.{key}\b", main), f"main.bicep does not pass names.capture.{key} on"
    hubs_module = _code((INFRA / "modules" / "event-hubs.bicep").read_text())
    capture = re.search(r"captureDescription:\s*\{(.*?)\n    \}", hubs_module, flags=re.DOTALL)
    assert capture, "modules/event-hubs.bicep has no captureDescription"
    body = capture.group(1)
    for setting in ("encoding", "intervalInSeconds", "sizeLimitInBytes", "skipEmptyArchives", "archiveNameFormat"):
        value = re.search(rf"\b{setting}:\s*(\S+)", body)
        assert value, f"captureDescription sets no {setting}"
        assert value.group(1).startswith("capture."), f"{setting} is {value.group(1)}, not a capture parameter"
    numbers = {str(NAMES["capture"]["interval_seconds"]), str(NAMES["capture"]["size_limit_bytes"])}
    for template in TEMPLATES:
        spelled = numbers & set(re.findall(r"\b\d+\b", _code(template.read_text())))
        assert not spelled, f"{template.relative_to(PROJECT_DIR)} spells the Capture window as {spelled}"


def _bicep_parameters(template: Path) -> dict[str, bool]:
    """Parameter name -> whether it has a default."""
    return {
        m.group(1): m.group(2) is not None
        for m in re.finditer(r"^param\s+(\w+)\s+\w+(\s*=.*)?$", _code(template.read_text()), flags=re.MULTILINE)
    }


@pytest.mark.parametrize("parameter_file", PARAMETER_FILES, ids=lambda p: p.name)
def test_parameter_files_fit_main(parameter_file: Path) -> None:
    document = json.loads(parameter_file.read_text())
    assert document["$schema"].endswith("/deploymentParameters.json#")
    given = document["parameters"]
    declared = _bicep_parameters(MAIN_BICEP)
    assert not set(given) - set(declared), f"not parameters of main.bicep: {sorted(set(given) - set(declared))}"
    required = {name for name, has_default in declared.items() if not has_default}
    assert not required - set(given), f"{parameter_file.name} lacks {sorted(required - set(given))}"
    assert given["environmentName"]["value"] == parameter_file.name.split(".")[0]
    assert all("reference" not in value for value in given.values()), "no Key Vault references: no secret at all"


def test_alerts_query_metrics_the_runner_emits() -> None:
    metrics_source = (PROJECT_DIR / "lakehouse" / "operations" / "metrics.py").read_text()
    emitted = set(re.findall(r'create_(?:counter|gauge|histogram)\(\s*"([^"]+)"', metrics_source))
    alerts = (INFRA / "modules" / "monitoring.bicep").read_text()
    queried = set(re.findall(r'"(lakehouse\.[a-z_]+)"', alerts))
    assert queried, "monitoring.bicep queries no lakehouse.* metric"
    assert queried <= emitted, f"alerts on metrics metrics.py does not emit: {sorted(queried - emitted)}"
    runner_source = (PROJECT_DIR / "lakehouse" / "operations" / "runner.py").read_text()
    statuses = set(re.findall(r'record\.status = "(\w+)"', runner_source))
    assert "failed" in statuses and 'tostring(customDimensions.status) == "failed"' in alerts
    assert 'self.cycles.add(1, {"status": cycle.status})' in metrics_source


def test_the_deploy_stage_reads_outputs_main_declares() -> None:
    stage = (PROJECT_DIR / ".ci" / "azure-deploy-stage.yml").read_text()
    read = re.search(r"for name in ([\w ]+); do", stage)
    assert read, ".ci/azure-deploy-stage.yml no longer lists the outputs it reads"
    declared = set(re.findall(r"^output\s+(\w+)\s", _code(MAIN_BICEP.read_text()), flags=re.MULTILINE))
    assert set(read.group(1).split()) <= declared, f"main.bicep lacks {set(read.group(1).split()) - declared}"


# --- (b) the Python code ------------------------------------------------------------


def test_capture_lander_defaults_agree() -> None:
    from lakehouse.ingestion.capture.lander import CaptureSettings

    settings = CaptureSettings()
    assert settings.event_hub == NAMES["event_hubs"]["capture_hub"]
    assert settings.partitions == NAMES["event_hubs"]["partitions"]
    assert settings.window_seconds == NAMES["capture"]["interval_seconds"]
    assert settings.max_file_bytes == NAMES["capture"]["size_limit_bytes"]
    assert settings.write_empty_files is not NAMES["capture"]["skip_empty_archives"]


def test_capture_path_is_the_archive_name_format() -> None:
    from lakehouse.ingestion.capture.format import CapturePath

    end = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    hub = NAMES["event_hubs"]["capture_hub"]
    # Capture fills the format with zero-padded fields and adds the encoding's extension.
    expected = NAMES["capture"]["archive_name_format"].format(
        Namespace="telemetry-ns",
        EventHub=hub,
        PartitionId="3",
        Year="2026",
        Month="01",
        Day="02",
        Hour="03",
        Minute="04",
        Second="05",
    )
    assert str(CapturePath("telemetry-ns", hub, "3", end)) == f"{expected}.{NAMES['capture']['encoding'].lower()}"
    assert CapturePath.parse(f"{expected}.avro") == CapturePath("telemetry-ns", hub, "3", end)


def test_quarantine_container_agrees() -> None:
    from lakehouse.ingestion.azure.quarantine import quarantine_container_name

    containers = NAMES["storage"]["containers"]
    assert quarantine_container_name(containers["lake"]) == containers["quarantine"]


def test_capture_lands_in_the_lake_roots_capture_folder() -> None:
    """Capture writes into the lake container under the folder bronze reads: the lake
    root's `capture/` (`Lake.capture`; on Databricks the lake root is the lake container)."""
    from lakehouse.paths import Lake

    assert Lake.at("/lake").capture.rsplit("/", 1)[-1] == NAMES["capture"]["folder"]
    main = _code(MAIN_BICEP.read_text())
    assert "archiveNameFormat: '${names.capture.folder}/${names.capture.archive_name_format}'" in main
    assert "captureContainerName: containers.lake" in main


def test_cosmos_database_agrees() -> None:
    from lakehouse.serving.cosmos.connection import DEFAULT_DATABASE

    assert NAMES["cosmos"]["database"] == DEFAULT_DATABASE


# --- (c) the dbt project ------------------------------------------------------------


def test_cosmos_containers_agree_with_the_dbt_manifest() -> None:
    from lakehouse.tables import cosmos_containers, registry_manifest

    from_dbt = {c.container: c.partition_key_path for c in cosmos_containers(registry_manifest())}
    assert from_dbt == NAMES["cosmos"]["containers"]


def test_bronze_source_describes_the_capture_layout() -> None:
    sources = yaml.safe_load((PROJECT_DIR / "models" / "bronze" / "_bronze__sources.yml").read_text())
    description = "".join(sources["sources"][0]["description"].split())
    # The docs spell the time fields as a date format does; Capture names them in words.
    fields = {"Year": "YYYY", "Month": "MM", "Day": "DD", "Hour": "hh", "Minute": "mm", "Second": "ss"}
    layout = NAMES["capture"]["archive_name_format"]
    for field, spelled in fields.items():
        layout = layout.replace(f"{{{field}}}", f"{{{spelled}}}")
    assert f"{layout}.avro" in description, f"the bronze source's description does not give {layout}.avro"
    assert f"<lakeroot>/{NAMES['capture']['folder']}/" in description


# --- (d) the Functions app ----------------------------------------------------------


def test_functions_app_agrees() -> None:
    """The triggers' hub, consumer group, connection and schedule setting are the names
    file's; the app settings main.bicep gives are the ones the code reads."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("function_app", PROJECT_DIR / "azure_functions" / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bindings = {f.get_function_name(): json.loads(f.get_raw_bindings()[0]) for f in module.app.get_functions()}
    settings = NAMES["function_app"]["settings"]
    hub = bindings[NAMES["function_app"]["lander_function"]]
    assert hub["eventHubName"] == NAMES["event_hubs"]["http_hub"]
    assert hub["consumerGroup"] == NAMES["event_hubs"]["function_consumer_group"]
    assert hub["connection"] == settings["eventhub_connection"]
    assert bindings["poll_http_source"]["schedule"] == f"%{settings['http_schedule']}%"

    # Identity-based connections: the host's and the code's settings are the same names.
    main = _code(MAIN_BICEP.read_text())
    assert "name: '${settingNames.eventhub_connection}__fullyQualifiedNamespace'" in main
    assert "name: '${settingNames.storage_connection}__blobServiceUri'" in main
    from lakehouse.ingestion.azure.auth import functions_connection_env

    env = {
        f"{settings['eventhub_connection']}__fullyQualifiedNamespace": "ns.servicebus.windows.net",
        f"{settings['storage_connection']}__blobServiceUri": "https://acct.blob.core.windows.net",
    }
    resolved = functions_connection_env(
        env,
        storage=settings["storage_connection"],
        eventhub=settings["eventhub_connection"],
        eventhub_name=NAMES["event_hubs"]["http_hub"],
    )
    assert resolved["AZURE_STORAGE_ACCOUNT_URL"] == "https://acct.blob.core.windows.net"
    assert resolved["EVENTHUB_FULLY_QUALIFIED_NAMESPACE"] == "ns.servicebus.windows.net"
    # What the code reads, it reads through the names file.
    hops = (PROJECT_DIR / "lakehouse" / "ingestion" / "azure" / "function_hops.py").read_text()
    for role in ("http_url", "http_token", "capture_namespace"):
        assert f'setting("{role}")' in hops
    for role in ("lake", "function_state"):
        assert f'container("{role}")' in hops


def test_the_lander_alert_watches_the_lander_function() -> None:
    """The alert on the lander's failed executions queries the function the app registers
    (a renamed function would leave it silent), and that function retries a failed batch
    indefinitely: the host checkpoints only after its retries end."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("function_app", PROJECT_DIR / "azure_functions" / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions = {f.get_function_name(): f for f in module.app.get_functions()}
    lander = functions[NAMES["function_app"]["lander_function"]]
    assert (lander.get_settings_dict("retry_policy") or {})["max_retry_count"] == "-1"

    main = _code(MAIN_BICEP.read_text())
    assert "landerFunctionName: names.function_app.lander_function" in main
    assert "hubRetentionDays: names.event_hubs.retention_days" in main
    monitoring = _code((INFRA / "modules" / "monitoring.bicep").read_text())
    assert '\'requests | where name == "${landerFunctionName}" and success == false' in monitoring
