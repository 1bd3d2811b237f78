"""The Azure Functions app (Python v2 programming model): the hop between the
third-party HTTP endpoint, Event Hubs and Blob storage.

- `poll_http_source` (timer, `%HTTP_POLL_SCHEDULE%`): polls the endpoint from the
  cursor kept in Blob and sends what is new to the HTTP hub.
- `land_http_hub` (Event Hubs trigger, many events per call): lands the HTTP hub,
  which has no Capture, as Capture-format Avro in the lake container's `capture/`
  folder, beside what Event Hubs Capture writes for the device hub. The host
  checkpoints after a call returns; a failed write raises and the retry policy
  below calls again with backoff, without end: the host writes no checkpoint until
  the retries are over, so a batch that did not land is never checkpointed. The
  partition waits while the hub keeps its events (`event_hubs.retention_days` in
  lakehouse/azure_names.json), and the `function-lander-failing` alert
  (infra/modules/monitoring.bicep) fires once its executions have failed for 15
  minutes. A new instance (a restart, a moved partition) starts over from the last
  checkpoint, so the batch is delivered again; nothing is ever written to the
  instance's own disk.

Thin on purpose: the work is in `lakehouse.ingestion.azure.function_hops`. Names
(hub, consumer group, connection settings) come from `lakehouse/azure_names.json`;
connections are identity-based (`EVENTHUB__fullyQualifiedNamespace`,
`LAKE_STORAGE__blobServiceUri`, the app's managed identity).
"""

from __future__ import annotations

import functools
import logging

import azure.functions as func

from lakehouse.azure_names import azure_names, setting
from lakehouse.ingestion.azure import function_hops
from lakehouse.ingestion.azure.batch_lander import BatchLander
from lakehouse.settings import Settings

# The Event Hubs trigger's retries: 5 s doubling to 5 min, then every 5 min until the batch
# lands (-1: retry indefinitely; the checkpoint waits for the retries to end).
MAX_RETRIES = -1

app = func.FunctionApp()
names = azure_names()


@functools.cache
def _settings() -> Settings:
    """The app settings, read once per instance (the one place the app reads its environment)."""
    return Settings.from_environment()


@functools.cache
def _http_hop() -> function_hops.HttpHop:
    return function_hops.http_hop(_settings().environ)


@functools.cache
def _lander() -> BatchLander:
    return function_hops.capture_lander(_settings().environ)


@app.function_name("poll_http_source")
@app.timer_trigger(arg_name="timer", schedule=f"%{setting('http_schedule')}%", use_monitor=True)
def poll_http_source(timer: func.TimerRequest) -> None:
    if timer.past_due:
        logging.info("the poll is late; it resumes from the saved cursor")
    _http_hop().tick()


@app.function_name(names["function_app"]["lander_function"])
@app.event_hub_message_trigger(
    arg_name="events",
    event_hub_name=names["event_hubs"]["http_hub"],
    connection=setting("eventhub_connection"),
    consumer_group=names["event_hubs"]["function_consumer_group"],
    cardinality=func.Cardinality.MANY,
    data_type=func.DataType.BINARY,
)
@app.retry(
    strategy="exponential_backoff",
    max_retry_count=str(MAX_RETRIES),
    minimum_interval="00:00:05",
    maximum_interval="00:05:00",
)
def land_http_hub(events: list[func.EventHubEvent], context: func.Context) -> None:
    retry = context.retry_context
    if retry is not None and retry.retry_count:
        logging.warning("retry %d of a batch that has not landed; the hub keeps its events", retry.retry_count)
    _lander().land(events)
