"""`lakehouse azure ...`: Event Hubs producers and consumer lander, HTTP source, Blob landing."""

from __future__ import annotations

import click


@click.group("azure")
def azure() -> None:
    """Azure paths: send to Event Hubs, land Capture files in Blob/ADLS, sync them down."""
