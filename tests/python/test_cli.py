"""The command line's front door: every top-level command explains itself, and a bad
option value is refused with a clear message and exit code 2 (click's usage error),
before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.cli.main import cli

COMMANDS = ("simulate", "replay-csv", "dbt", "load-bronze", "run", "demo", "dev", "engine", "azure", "azurite", "serve")


def test_the_group_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cli {command}") and len(result.output.splitlines()) > 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--duration", "5x"], "'5x' is not a duration like 90s, 30m, 1h or 1h30m"),
        (["simulate", "--codec", "zstd"], "'zstd' is not one of 'deflate', 'null'"),
        (["replay-csv", "no-such-file.csv"], "File 'no-such-file.csv' does not exist"),
        (["dbt", "biuld"], "'biuld' is not a dbt command"),
        (["load-bronze", "--replay-from", "yesterday"], "'yesterday' does not match the formats"),
        (["run", "--every", "often"], "'often' is not a duration"),
        (["run", "--source", "kafka"], "'kafka' is not one of 'simulate', 'csv', 'none'"),
        (["demo", "--devices", "many"], "'many' is not a valid integer"),
        (["serve", "synapse-views", "--string-length", "9000"], "9000 is not in 1..8000"),
        (["azure", "send", "--source", "mqtt"], "'mqtt' is not one of 'simulate', 'csv', 'http'"),
    ],
)
def test_a_bad_option_value_is_a_usage_error(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "lake").exists()  # refused before anything ran
