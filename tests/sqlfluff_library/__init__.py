"""Stand-ins for dbt's Jinja context when sqlfluff lints with its jinja templater.

sqlfluff's dbt builtins make `var()` return a placeholder string; our macros do
arithmetic on the window sizes, so `var` returns the project's real values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_VARS: dict[str, Any] = yaml.safe_load((Path(__file__).resolve().parents[2] / "dbt_project.yml").read_text())["vars"]


def var(name: str, default: Any = None) -> Any:
    return _VARS.get(name, default)
