"""The environment is read once, at an edge (the CLI, the Databricks task; the Functions
app lives outside the package), into `lakehouse.settings.Settings`, and passed down on
the lake: no other module under lakehouse/ reads `os.environ` or `os.getenv`.

Writing the environment is not reading it: setting a variable (`os.environ[k] = v`,
`update`, `setdefault`, `pop`) for dbt or for a child process, and handing this
process's environment on to a child (`env={**os.environ, ...}`), are allowed anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lakehouse.cli.main import ERRORS, cli, exit_code_of
from lakehouse.cli.params import lake_of
from lakehouse.paths import PROJECT_DIR
from lakehouse.settings import EnginePorts, Settings

PACKAGE = PROJECT_DIR / "lakehouse"
# The modules that may read the environment, and why.
READERS = {
    "lakehouse/settings.py": "the settings, read once",
    "lakehouse/cli/main.py": "the CLI's edge: builds the settings and the lake's credentials",
    "lakehouse/databricks_job.py": "the Databricks task's edge",
    "lakehouse/profile.py": "dbt's profile, rendered as dbt renders it (DBT_TARGET, its env_var()s)",
}
WRITES = {"update", "setdefault", "pop", "clear"}


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in ("environ", "environb") and _is_os(node.value)


def _is_os(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "os"


def _passed_to_a_child(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """`{**os.environ, ...}` given as a call's `env=`, or assigned to `env`."""
    display = parents.get(node)
    if not (isinstance(display, ast.Dict) and None in display.keys):
        return False
    holder = parents.get(display)
    if isinstance(holder, ast.keyword):
        return holder.arg == "env"
    if isinstance(holder, ast.Assign):
        return all(isinstance(t, ast.Name) and t.id == "env" for t in holder.targets)
    return False


def environment_reads(source: str) -> list[int]:
    """The lines of `source` that read the process environment."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if {a.name for a in node.names} & {"environ", "environb", "getenv", "getenvb"}:
                lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr in ("getenv", "getenvb") and _is_os(node.value):
            lines.append(node.lineno)
        elif _is_environ(node):
            parent = parents.get(node)
            if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store | ast.Del):
                continue  # os.environ[k] = v / del os.environ[k]
            if isinstance(parent, ast.Attribute) and parent.attr in WRITES:
                continue  # os.environ.update(...) and the like
            if _passed_to_a_child(node, parents):
                continue
            lines.append(node.lineno)
    return sorted(lines)


def test_no_module_below_the_edges_reads_the_environment() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_DIR)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if str(path.relative_to(PROJECT_DIR)) not in READERS
        for line in environment_reads(path.read_text())
    ]
    assert not offenders, f"read the environment in lakehouse.settings (or at an edge) instead: {offenders}"
    assert all((PROJECT_DIR / path).is_file() for path in READERS)


def test_the_scan_tells_a_read_from_a_write() -> None:
    reads = """
import os
from os import getenv
a = os.environ.get("A")
b = os.getenv("B")
c = "C" in os.environ
d = os.environ["D"]
e = {**os.environ}
f = os.environ if a else {}
"""
    writes = """
import os
os.environ["A"] = "1"
del os.environ["A"]
os.environ.update({"B": "2"})
os.environ.setdefault("C", "3")
env = {**os.environ, "D": "4"}
run(["x"], env={**os.environ, "E": "5"})
"""
    assert environment_reads(reads) == [3, 4, 5, 6, 7, 8, 9]
    assert environment_reads(writes) == []


def test_settings_from_an_environment() -> None:
    env = {
        "DATABRICKS_RUNTIME_VERSION": "17.3",
        "LAKEHOUSE_VERBOSE": "1",
        "SPARK_LOCAL_IP": "10.0.0.5",
        "LAKEHOUSE_METASTORE_PORT": "25432",
        "LAKEHOUSE_SPARK_MASTER_PORT": "27077",
        "LAKEHOUSE_SPARK_UI_PORT": "28080",
        "LAKEHOUSE_THRIFT_PORT": "20000",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x",
        "COSMOS_ENDPOINT": "https://a/",
    }
    settings = Settings.from_environment(env)
    assert settings == Settings(
        on_databricks=True,
        verbose=True,
        spark_local_ip="10.0.0.5",
        engine_ports=EnginePorts(metastore=25432, master=27077, master_ui=28080, thrift=20000),
        app_insights=True,
    )
    assert settings.environ["COSMOS_ENDPOINT"] == "https://a/"
    assert Settings.from_environment({}) == Settings()
    assert Settings().engine_ports == EnginePorts(metastore=15432, master=7077, master_ui=18080, thrift=10000)
    assert "InstrumentationKey" not in repr(settings)


def test_the_cli_reads_the_environment_once_and_passes_the_settings_down_on_the_lake(tmp_path: Path) -> None:
    seen: list[Settings] = []

    @cli.command("which-settings")
    def which_settings() -> None:
        seen.append(lake_of(click.get_current_context()).settings)

    try:
        env = {"LAKEHOUSE_THRIFT_PORT": "12345", "DATABRICKS_RUNTIME_VERSION": None, "COSMOS_ENDPOINT": "https://c/"}
        done = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), "which-settings"], env=env)
        assert done.exit_code == 0, done.output
    finally:
        cli.commands.pop("which-settings")
    assert seen[0].engine_ports.thrift == 12345 and not seen[0].on_databricks
    assert seen[0].environ["COSMOS_ENDPOINT"] == "https://c/"


def test_every_error_the_cli_maps_is_an_exception_class() -> None:
    import importlib

    for name, code in ERRORS:
        module, _, cls = name.partition(":")
        kind = getattr(importlib.import_module(module), cls)
        assert isinstance(kind, type) and issubclass(kind, Exception) and code in (1, 2, 3), name


@pytest.mark.parametrize(
    ("module", "cls", "code"),
    [
        ("lakehouse.spark.metastore_lock", "MetastoreBusy", 3),
        ("lakehouse.spark.session", "LakeMismatch", 2),
        ("lakehouse.pipeline.dbt_runner", "DbtFailed", 1),
        ("lakehouse.engine.errors", "EngineAlreadyRunning", 1),  # a subclass of EngineError
    ],
)
def test_an_error_below_ends_the_command_with_its_exit_code_and_message(
    tmp_path: Path, module: str, cls: str, code: int
) -> None:
    import importlib

    error = getattr(importlib.import_module(module), cls)("what went wrong")

    @cli.command("fails")
    def fails() -> None:
        raise error

    try:
        done = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), "fails"])
    finally:
        cli.commands.pop("fails")
    assert (done.exit_code, done.output) == (code, "Error: what went wrong\n")
    assert isinstance(done.exception, SystemExit)


def test_an_error_not_in_the_table_is_a_traceback(tmp_path: Path) -> None:
    assert exit_code_of(KeyError("x")) is None

    @cli.command("breaks")
    def breaks() -> None:
        raise KeyError("a bug")

    try:
        done = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), "breaks"])
    finally:
        cli.commands.pop("breaks")
    assert done.exit_code == 1 and isinstance(done.exception, KeyError)
