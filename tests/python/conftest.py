"""Shared fixtures: one lake, one Spark session and one dbt target for the whole run.

Spark's embedded Derby metastore belongs to one JVM, so every Spark test works on
the same lake, in order; tests that add data land it under their own event hub
name and assert on their own rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lakehouse.paths import Lake
from lakehouse.spark.metastore_lock import metastore_lock
from tests.python.azure.azurite import Azurite

RunDbt = Callable[..., object]


# Fixtures that start a server from node_modules (Azurite, the Cosmos SQL-API test server).
SERVER_FIXTURES = frozenset({"azurite", "azurite_lake_server", "cosmos_server"})

# The suite's tiers, by marker (a test is in the first that matches): `bin/test --fast` runs
# the last one only.
TIERS = ("engine", "servers", "spark")
FAST_TIER = "fast (no JVM, no server)"
_tier_of: dict[str, str] = {}  # test id -> its tier, set at collection


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "servers: starts a test server from npm (Azurite, Cosmos); set from the fixtures a test uses"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a server fixture are marked `servers` (the fast tier leaves them out:
    `bin/test --fast`). Tests marked `after_lake_builds` run last (otherwise in order): they
    reuse the tables the other Spark tests built in the session's lake instead of building
    their own."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
        _tier_of[item.nodeid] = next((tier for tier in TIERS if item.get_closest_marker(tier)), FAST_TIER)
    items.sort(key=lambda item: item.get_closest_marker("after_lake_builds") is not None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Seconds per tier and per file (setup, call and teardown of the tests that ran), to see
    where the suite's time goes; --durations lists the slowest tests."""
    tiers: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    files: dict[str, float] = defaultdict(float)
    for reports in terminalreporter.stats.values():
        for report in reports:
            if not isinstance(report, pytest.TestReport):
                continue
            tier = tiers[_tier_of.get(report.nodeid, FAST_TIER)]
            tier[0] += report.when == "call" or (report.when == "setup" and report.outcome != "passed")
            tier[1] += report.duration
            files[report.nodeid.split("::")[0]] += report.duration
    if not tiers:
        return
    terminalreporter.write_sep("=", "seconds per tier")
    for name in (*TIERS, FAST_TIER):
        if name in tiers:
            count, seconds = tiers[name]
            terminalreporter.write_line(f"{seconds:8.1f} s  {int(count):4d} tests  {name}")
    terminalreporter.write_sep("=", "seconds per file (the slowest 15)")
    for path, seconds in sorted(files.items(), key=lambda item: -item[1])[:15]:
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")


@pytest.fixture(scope="session")
def azurite_lake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite on 127.0.0.1:10000, where Hadoop's WASB emulator mode connects: for lakes at
    `wasb://<container>@devstoreaccount1/<path>` (a fresh container per test). One for the
    whole session, here, so the Azure and the serving tests share it (two cannot both
    have the port). Fails at once,
    saying so, when the port is taken (`lakehouse azurite start`, another test run, the
    engine's Thrift server)."""
    from lakehouse.storage.azurite import EMULATOR_PORT, port_in_use

    if port_in_use(EMULATOR_PORT):
        pytest.fail(
            f"127.0.0.1:{EMULATOR_PORT} is in use: the Azurite lake tests need it (the WASB emulator mode "
            "connects only there). Stop what listens there (`lakehouse azurite stop`, another test run) and rerun."
        )
    server = Azurite(tmp_path_factory.mktemp("azurite-lake"), port=EMULATOR_PORT)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The session's lake, passed to every layer explicitly (nothing exports LAKEHOUSE_ROOT:
    code that read it from the environment would fail here)."""
    return Lake.at(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="session")
def spark(lake: Lake) -> Iterator[object]:
    from lakehouse.spark.session import spark_session

    with metastore_lock(lake.metastore):
        yield spark_session(lake)


@pytest.fixture(scope="session")
def run_dbt(lake: Lake, spark: object, tmp_path_factory: pytest.TempPathFactory) -> RunDbt:
    """`run_dbt("build")` on the test lake, in this process: `build` loads new Capture
    files into bronze first, as `lakehouse dbt build` does (keyword arguments go to
    build_lake); other commands go straight to dbt."""
    from lakehouse.pipeline.dbt_runner import run_dbt as invoke
    from lakehouse.pipeline.lake_build import build_lake

    target = str(tmp_path_factory.mktemp("dbt-target"))

    def run(*args: str, **build: object) -> object:
        if args and args[0] == "build":
            return build_lake(lake, args, target_path=target, **build)  # type: ignore[arg-type]
        return invoke(list(args), lake, target_path=target)

    return run


@pytest.fixture
def capture_dir(tmp_path: Path) -> Path:
    """A scratch capture root for tests that do not need Spark."""
    return tmp_path / "capture"
