"""The dbt project's layout (dbt Labs' "How we structure our dbt projects"), checked on
the files, without dbt: one macro or generic test per file, named after it, and each
documented in yml with its arguments as the macro declares them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from lakehouse.paths import PROJECT_DIR

MACROS = PROJECT_DIR / "macros"
GENERIC_TESTS = PROJECT_DIR / "tests" / "dbt" / "generic"
_BLOCK = re.compile(r"{%-?\s*(macro|test)\s+(\w+)\s*\(([^)]*)\)")


def blocks(path: Path) -> list[tuple[str, str, list[str]]]:
    """(kind, name, argument names) of each macro or test block of a file."""
    return [
        (kind, name, [arg.split("=")[0].strip() for arg in args.split(",") if arg.strip()])
        for kind, name, args in _BLOCK.findall(path.read_text())
    ]


def documented(yml: Path) -> dict[str, dict]:
    return {entry["name"]: entry for entry in yaml.safe_load(yml.read_text())["macros"]}


def test_one_macro_per_file_named_after_it() -> None:
    for path in sorted(MACROS.glob("*.sql")):
        names = [name for kind, name, _ in blocks(path) if kind == "macro"]
        # An adapter's implementation of a dispatched macro may sit in its dispatcher's file.
        others = [name for name in names if name != path.stem and not name.endswith(f"__{path.stem}")]
        assert path.stem in names and not others, f"{path.relative_to(PROJECT_DIR)} defines {names}"


def test_one_generic_test_per_file_named_after_it() -> None:
    for path in sorted(GENERIC_TESTS.glob("*.sql")):
        assert [(kind, name) for kind, name, _ in blocks(path)] == [("test", path.stem)], path.name


def test_every_macro_is_documented_with_its_arguments() -> None:
    docs = documented(MACROS / "_macros.yml")
    macros = {name: args for path in MACROS.glob("*.sql") for _, name, args in blocks(path)}
    assert sorted(docs) == sorted(macros), "macros/_macros.yml lists exactly the macros of macros/"
    for name, args in macros.items():
        assert docs[name].get("description"), f"{name} has no description"
        listed = docs[name].get("arguments", [])
        assert [a["name"] for a in listed] == args, f"{name}: documented arguments differ from {args}"
        assert all(a.get("description") for a in listed), f"{name}: an argument has no description"


def test_every_generic_test_is_documented() -> None:
    docs = documented(GENERIC_TESTS / "_generic_tests.yml")
    tests = sorted(f"test_{path.stem}" for path in GENERIC_TESTS.glob("*.sql"))
    assert sorted(docs) == tests
    assert all(docs[name].get("description") for name in tests)
