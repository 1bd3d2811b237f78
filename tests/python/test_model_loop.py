"""The analytics engineer's loop as a user drives it: `lakehouse dev` keeps one Spark
session warm and rebuilds a gold model, with its tests, each time its file is saved;
a selected build of gold loads no bronze."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.python.lake_helpers import cli_env, lakehouse, release

MODEL = "gold_site_metrics_1h"
UPSTREAM_MODELS = "+" + MODEL


def site_windows(lake: Path) -> dict[tuple[str, object], int]:
    """(site_id, window_start) -> event_count of the gold table, read by delta-rs from its folder (not Spark)."""
    from deltalake import DeltaTable

    rows = DeltaTable(str(lake / "gold" / MODEL)).to_pyarrow_table(columns=["site_id", "window_start", "event_count"])
    return {(r["site_id"], r["window_start"]): r["event_count"] for r in rows.to_pylist()}


class DevLoop:
    """`lakehouse dev` running in its own process; its output read line by line."""

    def __init__(self, checkout: Path, *args: str) -> None:
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lakehouse.cli.main", *args],
            cwd=checkout,
            env=cli_env(checkout),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def until(self, prefix: str) -> list[str]:
        """The lines up to and including the first one that starts with `prefix`."""
        assert self.process.stdout is not None
        start = len(self.output)
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith(prefix):
                return self.output[start:]
        pytest.fail(f"`lakehouse dev` ended before {prefix!r}:\n{''.join(self.output[-80:])}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=60)


@pytest.fixture
def dev_loop() -> Iterator[list[DevLoop]]:
    loops: list[DevLoop] = []
    yield loops
    for loop in loops:
        loop.stop()


@pytest.mark.spark
def test_dev_rebuilds_a_saved_gold_model_and_its_tests_without_loading_bronze(
    tmp_path: Path, dev_loop: list[DevLoop]
) -> None:
    checkout = release(tmp_path / "project")
    lake = tmp_path / "lake"
    lakehouse(checkout, "--lake", str(lake), "simulate", "--devices", "8", "--duration", "30m", "--no-faults")
    # The model and what it reads, without the tests (a user's lake after a build).
    out = lakehouse(
        checkout,
        "--lake",
        str(lake),
        "dbt",
        "build",
        "-s",
        UPSTREAM_MODELS,
        "--exclude",
        "resource_type:test",
        "resource_type:unit_test",
    )
    assert "rows added (load 1)" in out
    built = site_windows(lake)
    sites = sorted({site for site, _ in built})
    assert len(sites) > 1 and all(count > 0 for count in built.values())
    # New Capture files: a selected build of gold alone must not load them (nothing selected reads bronze).
    lakehouse(checkout, "--lake", str(lake), "simulate", "--devices", "8", "--duration", "10m", "--no-faults")

    model_file = checkout / "models" / "gold" / f"{MODEL}.sql"
    original = model_file.read_text()
    loop = DevLoop(
        checkout, "--lake", str(lake), "dev", "-s", MODEL, "--full-refresh", "--builds", "3", "--poll", "0.2"
    )
    dev_loop.append(loop)
    first = "".join(loop.until("watching"))
    assert "build 1: ok" in first
    assert "bronze: not loaded" in first
    assert "1 of 5 START sql incremental model gold.gold_site_metrics_1h" in first  # the model, then its 4 tests
    assert site_windows(lake) == built

    # Save an edit that leaves one site out: the rebuilt table lacks it, and the model's
    # tests ran on the rebuilt table (the full-refresh comparison fails on the missing windows).
    dropped = sites[0]
    edited = original.replace("    from events\n", f"    from events\n    where site_id <> '{dropped}'\n")
    assert edited != original
    model_file.write_text(edited)
    second = "".join(loop.until("build 2"))
    assert f"changed: models/gold/{MODEL}.sql" in second
    assert "build 2: FAILED" in second
    assert "FAIL" in second and f"matches_full_refresh_{MODEL}_site" in second
    assert site_windows(lake) == {key: count for key, count in built.items() if key[0] != dropped}

    # Put it back: the loop rebuilds it, its tests pass and the table is as built.
    loop.until("watching")
    model_file.write_text(original)
    third = "".join(loop.until("build 3"))
    assert "build 3: ok" in third
    assert site_windows(lake) == built
    assert loop.process.wait(timeout=120) == 0  # --builds 3: done
