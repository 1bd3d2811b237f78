"""The data contract lives in the repository (docs/contract.md), and says what the code does.

No JVM, no dbt run: the validation model is rendered with plain Jinja (the project's
macros loaded from macros/, everything dbt would supply rendered as empty), and the
reason codes it can emit are read off the rendered SQL, independently of the page.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import jinja2
import yaml

from lakehouse.paths import PROJECT_DIR

CONTRACT = PROJECT_DIR / "docs" / "contract.md"
VALIDATION_MODEL = PROJECT_DIR / "models" / "silver" / "int_telemetry_validated.sql"


class _Empty(jinja2.Undefined):
    """What dbt would supply (config, ref, source, is_incremental, ...): callable, renders empty."""

    def __call__(self, *args: Any, **kwargs: Any) -> _Empty:
        return self

    def __getattr__(self, name: str) -> _Empty:
        return self

    def __str__(self) -> str:
        return ""


class _Returned(Exception):
    def __init__(self, value: object) -> None:
        self.value = value


def _return(value: object) -> None:
    raise _Returned(value)


def _dbt_jinja() -> jinja2.Environment:
    """A Jinja environment holding every macro of macros/, each returning what dbt's would."""
    env = jinja2.Environment(undefined=_Empty, extensions=["jinja2.ext.do"])
    env.globals["return"] = _return

    def as_dbt_macro(macro: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return macro(*args, **kwargs)
            except _Returned as returned:
                return returned.value

        return call

    for path in sorted((PROJECT_DIR / "macros").rglob("*.sql")):
        module = env.from_string(path.read_text()).module
        for name in dir(module):
            if isinstance(getattr(module, name), jinja2.runtime.Macro):
                env.globals[name] = as_dbt_macro(getattr(module, name))
    return env


def emitted_reason_codes() -> list[str]:
    """The reason codes the validation model's SQL can emit, in rule order."""
    sql = _dbt_jinja().from_string(VALIDATION_MODEL.read_text()).render()
    return re.findall(r"\bthen\s+'([a-z_]+(?::[a-z_]+)?)'", sql)


def documented_reason_codes() -> list[str]:
    """The first column of the reason-code table under docs/contract.md's `### Reason codes`."""
    section = CONTRACT.read_text().split("### Reason codes", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


def test_the_contract_documents_every_reason_code_the_validation_model_emits() -> None:
    emitted = emitted_reason_codes()
    # Written out by hand as a floor: the rendering found the loops' codes, not only the literals.
    assert {"empty_body", "not_json", "missing_ts", "out_of_range:battery_pct", "bad_schema_version"} <= set(emitted)
    assert len(emitted) == len(set(emitted)) == 25
    assert documented_reason_codes() == emitted


def test_the_quarantine_accepts_exactly_the_emitted_reason_codes() -> None:
    models = yaml.safe_load((PROJECT_DIR / "models" / "silver" / "_silver__models.yml").read_text())["models"]
    (quarantine,) = [m for m in models if m["name"] == "silver_telemetry_quarantine"]
    (reason,) = [c for c in quarantine["columns"] if c["name"] == "reason"]
    # The accepted codes are a Delta CHECK constraint of the contract: `reason in ('a', 'b', ...)`.
    (check,) = [c["expression"] for c in reason["constraints"] if c.get("name") == "reason_accepted"]
    assert re.fullmatch(r"\s*reason in \((\s*'[^']+',?)+\s*\)\s*", check), check
    assert sorted(re.findall(r"'([^']+)'", check)) == sorted(emitted_reason_codes())


def test_no_tracked_file_names_a_contract_outside_the_repository() -> None:
    """A clone holds nothing beside the repository: every reference to the design of
    record names docs/contract.md, none a design file in a folder beside the clone."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_DIR, capture_output=True, check=True).stdout
    outside = re.compile(r"DESIGN\.md|\.\./shared\b")
    naming = [
        name
        for name in tracked.decode().split("\0")
        if name and (PROJECT_DIR / name).is_file() and outside.search((PROJECT_DIR / name).read_text(errors="replace"))
    ]
    assert not naming
    assert CONTRACT.is_file()
