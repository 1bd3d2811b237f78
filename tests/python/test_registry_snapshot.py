"""The device registry snapshot keeps SCD2 history: a device moved to another site."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.spark


def test_a_site_change_closes_the_old_version_and_opens_a_new_one(spark: Any, run_dbt: Any) -> None:
    run_dbt("seed", "--select", "device_registry")
    run_dbt("snapshot", "--select", "device_registry_snapshot")
    try:
        spark.sql("update reference.device_registry set site_id = 'site-99' where device_id = 'dev-00007'")
        run_dbt("snapshot", "--select", "device_registry_snapshot")
        history = spark.sql(
            "select device_id, site_id, dbt_valid_from, dbt_valid_to from snapshots.device_registry_snapshot "
            "where device_id in ('dev-00007', 'dev-00008') order by device_id, dbt_valid_from"
        ).collect()
        old, new, untouched = history
        assert (old.device_id, old.site_id, new.site_id) == ("dev-00007", "site-07", "site-99")
        assert old.dbt_valid_to is not None and old.dbt_valid_to == new.dbt_valid_from
        assert new.dbt_valid_to is None
        assert (untouched.device_id, untouched.site_id, untouched.dbt_valid_to) == ("dev-00008", "site-08", None)
    finally:
        run_dbt("seed", "--select", "device_registry")  # restore the registry for later tests
