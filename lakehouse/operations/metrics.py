"""The runner's figures as OpenTelemetry metrics (to Azure Monitor when configured).

With APPLICATIONINSIGHTS_CONNECTION_STRING set (`Settings.app_insights`), `from_settings()` configures the
Azure Monitor OpenTelemetry distro and records through the global meter provider;
without it, metrics go nowhere. Tests pass a MeterProvider with an in-memory reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import metrics

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from lakehouse.pipeline.run_log import CycleRecord
    from lakehouse.settings import Settings

METER_NAME = "telemetry_lakehouse.runner"


class RunnerMetrics:
    def __init__(self, provider: MeterProvider | None = None) -> None:
        meter = (provider or metrics.get_meter_provider()).get_meter(METER_NAME)
        self.cycles = meter.create_counter("lakehouse.cycles", description="Runner cycles, by status")
        self.records_in = meter.create_counter("lakehouse.records_in", description="Records landed")
        self.rows_added = meter.create_counter("lakehouse.rows_added", description="Rows added, by table")
        self.quarantined = meter.create_counter("lakehouse.quarantined_records", description="Records quarantined")
        self.bad_files = meter.create_counter("lakehouse.bad_files", description="Capture files set aside")
        self.step_seconds = meter.create_histogram("lakehouse.step_seconds", unit="s", description="Seconds per step")
        self.freshness_lag = meter.create_gauge(
            "lakehouse.freshness_lag_seconds",
            unit="s",
            description="Now minus the newest enqueued time that reached gold",
        )
        self.files = meter.create_gauge("lakehouse.files_per_table", description="Data files per table")

    @classmethod
    def from_settings(cls, settings: Settings) -> RunnerMetrics:
        if settings.app_insights:
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor()  # reads the connection string from the environment
        return cls()

    def record(self, cycle: CycleRecord) -> None:
        self.cycles.add(1, {"status": cycle.status})
        self.records_in.add(cycle.records_in)
        for table, rows in cycle.rows_added.items():
            self.rows_added.add(rows, {"table": table})
        self.quarantined.add(cycle.quarantined_records)
        self.bad_files.add(cycle.bad_files)
        for step, seconds in cycle.step_seconds.items():
            self.step_seconds.record(seconds, {"step": step})
        if cycle.freshness_lag_seconds is not None:
            self.freshness_lag.set(cycle.freshness_lag_seconds)
        for table, files in cycle.files_per_table.items():
            self.files.set(files, {"table": table})
