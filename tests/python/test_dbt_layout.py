"""The dbt project's layout (dbt Labs' "How we structure our dbt projects"), checked on
the files, without dbt: macros grouped by concern, a file a concern whose first comment
names the macros it holds (overrides of dbt's and dbt-spark's macros one file each,
named after the macro, in macros/adapters/), one generic test per file named after it,
and each documented in yml with its arguments as the macro declares them, under a
comment naming its file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from lakehouse.paths import PROJECT_DIR

MACROS = PROJECT_DIR / "macros"
ADAPTERS = MACROS / "adapters"
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


def macro_files() -> dict[Path, list[str]]:
    """Each macro file of macros/ (and its subfolders) and the macros it defines."""
    return {path: [name for kind, name, _ in blocks(path) if kind == "macro"] for path in sorted(MACROS.rglob("*.sql"))}


def test_an_override_has_a_file_named_after_it() -> None:
    for path, names in macro_files().items():
        if path.parent == ADAPTERS:
            # An adapter's implementation of a dispatched macro may sit in its dispatcher's file.
            others = [name for name in names if name != path.stem and not name.endswith(f"__{path.stem}")]
            assert path.stem in names and not others, f"{path.relative_to(PROJECT_DIR)} defines {names}"
        else:
            assert path.parent == MACROS, f"{path.relative_to(PROJECT_DIR)}: macros/ or macros/adapters/ only"


def test_a_concern_file_names_its_macros_first() -> None:
    for path, names in macro_files().items():
        if path.parent == MACROS:
            header = path.read_text().split("-#}", 1)[0]
            assert header.startswith("{#-") and "Holds:" in header, f"{path.name} opens with what it holds"
            # The list ends at the first full stop.
            listed = re.findall(r"\w+", header.split("Holds:", 1)[1].split(".", 1)[0])
            assert listed == names, f"{path.name} holds {names}, its first comment says {listed}"
            assert not any(name.startswith("spark__") for name in names), f"{path.name}: overrides go in adapters/"


def test_the_yml_names_each_macros_file() -> None:
    """Each macro's entry in _macros.yml sits under a comment naming its file."""
    defined_in = {name: path for path, names in macro_files().items() for name in names}
    section = None
    for line in (MACROS / "_macros.yml").read_text().splitlines():
        if comment := re.match(r"  # (macros/[^\s:,]+)", line):
            section = comment.group(1)
        elif entry := re.match(r"  - name: (\w+)", line):
            path = defined_in[entry.group(1)].relative_to(PROJECT_DIR).as_posix()
            expected = "macros/adapters/<macro>.sql" if path.startswith("macros/adapters/") else path
            assert section == expected, f"{entry.group(1)} is in {path}, listed under {section}"


def test_one_generic_test_per_file_named_after_it() -> None:
    for path in sorted(GENERIC_TESTS.glob("*.sql")):
        assert [(kind, name) for kind, name, _ in blocks(path)] == [("test", path.stem)], path.name


def test_every_macro_is_documented_with_its_arguments() -> None:
    docs = documented(MACROS / "_macros.yml")
    macros = {name: args for path in MACROS.rglob("*.sql") for _, name, args in blocks(path)}
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
