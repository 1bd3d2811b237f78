"""The names the Azure deployment shares, read from `azure_names.json` beside this module.

One file states them: the Event Hubs hubs and consumer group, the Capture file-name
format and window, the storage containers, the Functions app's setting names and its
lander function's name (the alert on its failures queries it), the Key Vault secret
and the Cosmos DB database and containers with their partition keys.
`infra/main.bicep` loads the same file (`loadJsonContent`), so a template cannot
spell a name differently; `tests/python/test_azure_names.py` checks that the Functions
app, the dbt sources and the serving code agree with it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

NAMES_FILE = Path(__file__).with_name("azure_names.json")


@functools.cache
def azure_names() -> dict[str, Any]:
    """The parsed names file (read once)."""
    names: dict[str, Any] = json.loads(NAMES_FILE.read_text())
    return names


def container(role: str) -> str:
    """The storage container for `role`: lake, quarantine or function_state."""
    name: str = azure_names()["storage"]["containers"][role]
    return name


def setting(role: str) -> str:
    """The Functions app setting (or connection prefix) name for `role`."""
    name: str = azure_names()["function_app"]["settings"][role]
    return name
