"""How a build is planned, without Spark: the bronze merge's pruning predicate and the
dbt arguments of a run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.paths import Lake
from lakehouse.pipeline.bronze_load import _range_predicate, check_capture_file
from lakehouse.pipeline.lake_build import _whole_build, build_signature, dbt_build_args


def test_the_merge_reads_only_the_sequence_ranges_of_the_batch() -> None:
    ranges = [("ns", "hub", 0, 10, 19), ("ns", "hub", 0, 20, 29), ("ns", "hub", 0, 50, 59), ("ns", "o'hub", 1, 0, 4)]
    assert _range_predicate(ranges) == (
        "(t.namespace = 'ns' and t.event_hub = 'hub' and t.partition_id = 0 and "
        "(t.sequence_number between 10 and 29 or t.sequence_number between 50 and 59)) or "
        "(t.namespace = 'ns' and t.event_hub = 'o\\'hub' and t.partition_id = 1 "
        "and (t.sequence_number between 0 and 4))"
    )
    assert _range_predicate([]) == "false"


def test_a_build_gets_its_run_scope_and_leaves_out_what_is_current() -> None:
    args = dbt_build_args(["build"], first_load_id=7, full_check=False, exclude=["resource_type:seed"])
    assert args[:2] == ["build", "--vars"] and json.loads(args[2]) == {"run_first_load_id": 7}
    assert args[3:] == ["--exclude", "resource_type:seed"]
    merged = dbt_build_args(["build", "--vars", "{a: 1}"], first_load_id=None, full_check=True, exclude=[])
    assert json.loads(merged[2]) == {"a": 1, "full_check": True}
    selected = dbt_build_args(
        ["build", "--select", "silver_telemetry+"], first_load_id=None, full_check=False, exclude=["resource_type:seed"]
    )
    assert selected == ["build", "--select", "silver_telemetry+"]
    # The caller's own --exclude keeps what is current left out too (it would replace it).
    excluded = dbt_build_args(
        ["build", "--exclude", "gold_site_metrics_1h"],
        first_load_id=None,
        full_check=False,
        exclude=["resource_type:seed"],
    )
    assert excluded == ["build", "--exclude", "resource_type:seed", "gold_site_metrics_1h"]
    equals = dbt_build_args(["build", "--exclude=tag:x"], first_load_id=None, full_check=False, exclude=["a", "b"])
    assert equals == ["build", "--exclude", "a", "b", "tag:x"]


def test_file_checks_name_what_is_wrong() -> None:
    assert check_capture_file("a.avro", b"").problem.startswith("zero_bytes")  # type: ignore[union-attr]
    assert check_capture_file("a.avro", b"PAR1....").problem.startswith("not_avro")  # type: ignore[union-attr]
    assert check_capture_file("a.avro", b"Obj\x01\x00").problem.startswith("corrupt")  # type: ignore[union-attr]


def test_a_full_check_build_is_recognised_from_dbt_vars() -> None:
    """`dbt build --vars '{full_check: true}'` sweeps the whole Capture tree first."""
    from lakehouse.pipeline.lake_build import full_check_requested

    assert full_check_requested(["build", "--vars", "{full_check: true}"])
    assert full_check_requested(["build", "--vars", '{"full_check": true, "a": 1}'])
    assert not full_check_requested(["build", "--vars", "{full_check: false}"])
    assert not full_check_requested(["build"]) and not full_check_requested(["build", "--vars"])


def test_only_a_whole_build_may_be_skipped_and_its_vars_count() -> None:
    assert _whole_build(["build"]) and _whole_build(["build", "--vars", "{a: 1}"])
    for partial in (
        ["build", "--select", "silver_telemetry+"],
        ["build", "--full-refresh"],
        ["build", "--exclude-resource-type", "test"],
        ["build", "--vars"],
        ["run"],
        [],
    ):
        assert not _whole_build(partial), partial
    assert build_signature(["build"]) == build_signature(["build"])
    assert build_signature(["build"]) != build_signature(["build", "--vars", "{dedupe_horizon_hours: 48}"])


def test_parse_and_ls_get_the_options_of_a_build_they_take() -> None:
    from lakehouse.pipeline.lake_build import options_for

    build = ["-s", "gold_site_metrics_1h+", "other", "--full-refresh", "--vars", "{a: 1}", "--threads", "2"]
    build += ["--exclude", "resource_type:test", "resource_type:unit_test", "--target=local", "--fail-fast"]
    assert options_for("list", build) == [
        "-s",
        "gold_site_metrics_1h+",
        "other",
        "--vars",
        "{a: 1}",
        "--exclude",
        "resource_type:test",
        "resource_type:unit_test",
        "--target=local",
        "--fail-fast",
    ]
    assert options_for("parse", build) == ["--vars", "{a: 1}", "--threads", "2", "--target=local", "--fail-fast"]


@pytest.fixture
def environment_kept() -> Iterator[None]:
    """run_dbt exports the lake's variables for dbt's env_var(): put the environment back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.usefixtures("environment_kept")
def test_a_selected_build_loads_bronze_only_when_a_selected_node_reads_it(lake: Lake, tmp_path: Path) -> None:
    """dbt parses the project (no Spark); the selections are resolved by dbt's own `ls`.
    On the session's lake: a process whose Spark session belongs to one lake refuses dbt
    on another, and the Spark tests of the same pytest process may have started it."""
    from lakehouse.pipeline.lake_build import parse_project, reads_bronze

    target = str(tmp_path / "target")
    manifest = parse_project(lake, ["build"], target_path=target)

    def loads(*selection: str) -> bool:
        return reads_bronze(lake, ["build", *selection], manifest, target_path=target)

    assert loads()  # a build of the project
    assert loads("-s", "int_telemetry_validated")  # the model that reads bronze
    assert loads("-s", "+gold_site_metrics_1h", "--exclude", "resource_type:test")
    assert loads("--select", "bronze")  # bronze's own tests
    # No node selected (the source is none): the bronze load alone, as the Azure flow uses it.
    assert loads("--select", "bronze_capture_events", "--indirect-selection", "cautious")
    # A gold model and its tests: matches_full_refresh reads only bronze's largest load id.
    assert not loads("-s", "gold_site_metrics_1h", "--full-refresh")
    assert not loads("-s", "gold_site_metrics_1h+")
    assert not loads("-s", "silver_telemetry+")
    # A seed depends on macros only: selecting it loads nothing (and is no error).
    assert not loads("--select", "device_registry", "--indirect-selection", "cautious")
    assert loads("--select", "device_registry", "source:bronze", "--indirect-selection", "cautious")
