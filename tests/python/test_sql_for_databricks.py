"""Databricks readiness, checked offline: every node's compiled SQL parses as Databricks
SQL, and no model relies on what only dbt-spark's local session sets.

dbt-spark's `session` method turns ANSI mode off; Databricks SQL warehouses (and Spark
4 by default) run with it on, where a bad cast or an overflow raises instead of
giving null. So each model's full-refresh SQL runs on the test lake twice, ANSI off
and on, and must give the same rows: bad input has to be handled by the model's own
`try_` functions, not by a session setting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot
from pyspark.errors import PySparkException
from sqlglot import exp

from lakehouse.ingestion.sources.simulator import FaultRates
from lakehouse.paths import Lake
from tests.python.lake_helpers import land_simulation

pytestmark = pytest.mark.spark
SESSION_ONLY = (exp.Set, exp.Cache, exp.Uncache)


@pytest.fixture(scope="module")
def compiled(lake: Lake, spark: Any, run_dbt: Any) -> dict[str, tuple[str, str]]:
    """unique_id -> (resource type, compiled SQL) of every node, full-refresh form,
    after a build that includes half an hour of faulty input of its own."""
    faults = FaultRates(
        duplicate=0.05, malformed_json=0.05, missing_field=0.05, wrong_type=0.05, out_of_range=0.05, extra_fields=0.05
    )
    land_simulation(
        lake,
        hub="databricks-readiness",
        start=datetime(2026, 6, 1, 6, tzinfo=UTC),
        duration=timedelta(minutes=30),
        devices=6,
        faults=faults,
    )
    # Every seed, snapshot and model, no tests; the seed and snapshot only when their files
    # changed since the lake's last build of them (build_lake leaves them out otherwise).
    run_dbt("build", "--exclude-resource-type", "test", "unit_test")
    result = run_dbt("compile", "--full-refresh")
    nodes = {
        r.node.unique_id: (str(r.node.resource_type), r.node.compiled_code)
        for r in result.results
        if getattr(r.node, "compiled_code", None)
    }
    assert any(kind == "model" for kind, _ in nodes.values()), "nothing compiled"
    return nodes


def test_every_compiled_node_parses_as_databricks_sql(compiled: dict[str, tuple[str, str]]) -> None:
    failures, session_only = {}, {}
    for unique_id, (_, sql) in compiled.items():
        try:
            statements = sqlglot.parse(sql, read="databricks", error_level=sqlglot.ErrorLevel.RAISE)
        except sqlglot.errors.ParseError as exc:
            failures[unique_id] = str(exc)[:300]
            continue
        found = [type(node).__name__ for s in statements if s for node in s.find_all(*SESSION_ONLY)]
        if found:
            session_only[unique_id] = found
    assert not failures, failures
    assert not session_only, session_only
    kinds = sorted({kind for kind, _ in compiled.values()})
    assert {"model", "test"} <= set(kinds), kinds


def test_models_give_the_same_rows_with_ansi_mode_on(spark: Any, compiled: dict[str, tuple[str, str]]) -> None:
    models = {uid: sql for uid, (kind, sql) in compiled.items() if kind == "model"}
    differ, raised, rows = [], {}, {}
    try:
        for unique_id, sql in sorted(models.items()):
            spark.conf.set("spark.sql.ansi.enabled", "false")
            off = spark.sql(sql)
            columns = off.columns
            rows_off = sorted(map(repr, off.collect()))
            rows[unique_id.rsplit(".", 1)[-1]] = len(rows_off)
            spark.conf.set("spark.sql.ansi.enabled", "true")
            try:
                rows_on = sorted(map(repr, spark.sql(sql).select(*columns).collect()))
            except PySparkException as exc:  # an ANSI error: what Databricks would raise
                raised[unique_id] = f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            if rows_on != rows_off:
                differ.append(unique_id)
    finally:
        spark.conf.set("spark.sql.ansi.enabled", "false")
    assert not raised, raised
    assert not differ, differ
    assert len(models) >= 7
    assert rows["silver_telemetry"] and rows["silver_telemetry_quarantine"], rows  # not a vacuous comparison
