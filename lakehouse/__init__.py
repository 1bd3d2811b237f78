"""Telemetry lakehouse: local lake layout, Spark session, dbt runner and the CLI."""
