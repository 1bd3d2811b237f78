"""Packaging: the wheel's runtime dependencies are what its code imports, and the
top-level folders are the ones their tools claim.

`pyproject.toml`'s base dependencies are installed wherever the `lakehouse` wheel goes
(the Databricks job cluster, the Functions app's build, any reader of the lake), so a
tool only the tests or the commit hooks use (sqlfluff, ruff, ...) belongs in the `test`
extra. Read from the installed distributions' files and the source's import statements,
not from a list kept by hand.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

from lakehouse.paths import PROJECT_DIR

PYPROJECT = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
# Base dependencies no module imports by name, each with the reason it is still one.
NOT_IMPORTED = {
    # azure-monitor-opentelemetry's exporter runs on the SDK's meter provider; pinned here
    # so the versions the runner's metrics use resolve together.
    "opentelemetry-sdk",
}


def _imported_modules() -> set[str]:
    """Every module the package and the Functions app import, with its parents."""
    names: set[str] = set()
    for path in [*(PROJECT_DIR / "lakehouse").rglob("*.py"), *(PROJECT_DIR / "azure_functions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return {".".join(name.split(".")[:i]) for name in names for i in range(1, name.count(".") + 2)}


def _modules_of(distribution: str) -> set[str]:
    """The importable packages and modules a distribution installs (for the Azure SDKs,
    which share the `azure` namespace, the first level holding an `__init__.py`)."""
    modules: set[str] = set()
    for file in importlib.metadata.distribution(distribution).files or []:
        parts = file.parts
        if parts[0].endswith((".dist-info", ".data")) or ".." in parts:
            continue
        if file.name == "__init__.py":
            modules.add(".".join(parts[:-1]))
        elif len(parts) == 1 and file.suffix in (".py", ".so", ".pyd"):
            modules.add(file.name.split(".")[0])
    return {m for m in modules if not any(m.startswith(f"{other}.") for other in modules)}


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>!~ ;]", requirement, maxsplit=1)[0]


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    imported = _imported_modules()
    base = [_name(d) for d in PYPROJECT["project"]["dependencies"]]
    unused = sorted(d for d in base if d not in NOT_IMPORTED and not _modules_of(d) & imported)
    assert not unused, f"runtime dependencies no lakehouse module imports (move them to an extra): {unused}"


def test_the_sql_linter_is_a_test_tool_not_a_runtime_dependency() -> None:
    base = {_name(d).lower() for d in PYPROJECT["project"]["dependencies"]}
    test = {_name(d).lower() for d in PYPROJECT["project"]["optional-dependencies"]["test"]}
    assert "sqlfluff" not in base
    assert "sqlfluff" in test  # tests/python/test_sql_style.py and the pre-commit hook run it


def test_the_functions_app_is_in_a_folder_dbt_does_not_claim() -> None:
    """dbt 1.11 parses `functions/` (its default function-paths) as UDF definitions: the
    Functions app lives in `azure_functions/`, and dbt_project.yml needs no override."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert "function-paths" not in project
    assert not (PROJECT_DIR / "functions").exists()
    assert (PROJECT_DIR / "azure_functions" / "function_app.py").is_file()


def test_the_fast_tier_setup_needs_no_java(tmp_path: Path) -> None:
    """`bin/test --fast` runs `bin/setup --no-jvm`: on a machine without Java it installs
    the Python env (here already installed: a no-op) and succeeds; plain `bin/setup`,
    which the main command needs, still refuses with how to install Java."""
    path = tmp_path / "bin"
    path.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for tool in Path(folder).iterdir():
            if tool.name != "java" and not (path / tool.name).exists():
                (path / tool.name).symlink_to(tool)
    env = {"PATH": str(path), "HOME": str(tmp_path)}
    fast = subprocess.run(
        ["bin/setup", "--no-jvm"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    assert fast.returncode == 0, fast.stderr
    full = subprocess.run(["bin/setup"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False)
    assert full.returncode == 1
    assert "'java' is required" in full.stderr
