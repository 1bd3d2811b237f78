"""The lake is one value, resolved by the CLI (`--lake`, else $LAKEHOUSE_ROOT, else ./lake)
and passed to every layer: the Spark session, the bronze loader and dbt work on the lake
the command names, never on one the process environment or the checkout implies.

The end-to-end test drives `lakehouse` as a user types it, with no LAKEHOUSE_ROOT in the
environment, in a copy of the project whose default lake (`<checkout>/lake`) is built:
`--lake <another folder>` builds that folder's own metastore and tables and leaves the
default lake byte-for-byte unchanged. A process whose session belongs to one lake
refuses another.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lakehouse.cli.main import cli
from lakehouse.cli.params import lake_of
from lakehouse.ingestion.capture.lander import landed_records
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.profile import local_spark_conf
from tests.python import expected_lake as ex
from tests.python.lake_helpers import lakehouse, release, seed_registry

_lakehouse = lakehouse


def _digest(root: Path) -> dict[str, str]:
    """Every file under `root` (the metastore's included), by content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.spark
def test_the_lake_option_builds_that_lake_and_leaves_the_default_lake_unchanged(spark: Any, tmp_path: Path) -> None:
    checkout = release(tmp_path / "checkout")
    default, other = Lake.at(checkout / "lake"), Lake.at(tmp_path / "other-lake")
    simulate = ("simulate", "--devices", "4", "--duration", "10m")
    # Bronze (a selected bronze source loads it, with its tests) and the seed.
    build = ("dbt", "build", "--select", "device_registry", "source:bronze", "--indirect-selection", "cautious")
    # The checkout's default lake, landed and built without --lake.
    _lakehouse(checkout, *simulate, "--start", "2026-05-01T06:00", "--seed", "1")
    _lakehouse(checkout, *build)
    assert (default.metastore / "metastore_db").is_dir()
    assert (Path(default.table("bronze", "bronze_capture_events")) / "_delta_log").is_dir()
    before = _digest(Path(default.root))

    _lakehouse(checkout, "--lake", str(other.root), *simulate, "--start", "2026-05-02T06:00", "--seed", "2")
    _lakehouse(checkout, "--lake", str(other.root), *build)

    assert _digest(Path(default.root)) == before  # not a byte of the default lake changed
    assert (other.metastore / "metastore_db").is_dir()  # the other lake has its own metastore
    landed = sorted(ex.capture_record_id(p, r) for p, r in landed_records(LocalCaptureStore(Path(other.capture))))
    assert landed
    bronze = spark.read.format("delta").load(str(other.table("bronze", "bronze_capture_events")))
    assert sorted(r.capture_record_id for r in bronze.select("capture_record_id").collect()) == landed
    registry = spark.read.format("delta").load(str(other.table("reference", "device_registry")))
    assert {r.device_id: r.site_id for r in registry.collect()} == seed_registry()


@pytest.mark.spark
def test_a_process_whose_session_belongs_to_one_lake_refuses_another(spark: Any, lake: Lake, tmp_path: Path) -> None:
    from lakehouse.pipeline.dbt_runner import run_dbt
    from lakehouse.spark.session import LakeMismatch, spark_session

    assert spark_session(lake) is spark
    other = Lake.at(tmp_path / "other-lake")
    with pytest.raises(LakeMismatch, match=f"belongs to the lake at {lake.root}"):
        spark_session(other)
    with pytest.raises(LakeMismatch, match=f"cannot work on the lake at {other.root}"):
        run_dbt(["ls"], other)
    assert not Path(other.root).exists()


def test_the_cli_resolves_the_lake_once_and_nothing_below_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "from-the-environment"
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(elsewhere))
    assert Lake.at() == Lake.at(PROJECT_DIR / "lake")  # below the CLI, the environment is not read
    named = Lake.at(tmp_path / "named")
    conf = local_spark_conf(named)
    assert conf["spark.sql.warehouse.dir"] == f"{named.root}/_warehouse"
    assert f"databaseName={named.root}/_metastore/metastore_db" in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert str(elsewhere) not in str(conf)
    assert "spark.sql.warehouse.dir" not in local_spark_conf()  # no lake: only what holds for every lake

    seen: list[Lake] = []

    @cli.command("which-lake")
    def which_lake() -> None:
        import click

        seen.append(lake_of(click.get_current_context()))

    try:
        assert CliRunner().invoke(cli, ["which-lake"]).exit_code == 0  # $LAKEHOUSE_ROOT, read by the CLI
        assert CliRunner().invoke(cli, ["--lake", str(named.root), "which-lake"]).exit_code == 0
        assert CliRunner().invoke(cli, ["which-lake"], env={"LAKEHOUSE_ROOT": None}).exit_code == 0
        remote = ["--lake", "abfss://lake@acct.dfs.core.windows.net/prod/", "--local-dir", str(tmp_path / "side")]
        keyed = {"LAKEHOUSE_ROOT": None, "AZURE_STORAGE_KEY": "a2V5"}  # pragma: allowlist secret
        assert CliRunner().invoke(cli, [*remote, "which-lake"], env=keyed).exit_code == 0
        bad = CliRunner().invoke(cli, ["--lake", "s3://bucket/lake", "which-lake"])
        assert bad.exit_code == 2 and "Invalid value for '--lake'" in bad.output and "not supported" in bad.output
    finally:
        cli.commands.pop("which-lake")
    assert seen[:3] == [Lake.at(elsewhere), named, Lake.at(PROJECT_DIR / "lake")]
    # A URL, its local side from --local-dir, the credentials read once from the environment.
    assert seen[3].root == "abfss://lake@acct.dfs.core.windows.net/prod"
    assert seen[3].local == tmp_path / "side"
    assert seen[3].credentials.account_key == "a2V5"  # pragma: allowlist secret
    assert seen[3].spark_conf()["spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net"] == "a2V5"
