"""`lakehouse serve ...`: sync gold to Cosmos DB, generate/publish Synapse serverless views."""

from __future__ import annotations

import click


@click.group("serve")
def serve() -> None:
    """Expose gold to applications (Cosmos DB) and data scientists (Synapse serverless SQL)."""
