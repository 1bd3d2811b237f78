"""`lakehouse azurite start | stop | status`: the Blob emulator for a lake on this laptop
(`--lake wasb://<container>@devstoreaccount1/<path>`), on 127.0.0.1:10000."""

from __future__ import annotations

import click

from lakehouse.storage.azurite import LakeAzurite


@click.group("azurite")
def azurite() -> None:
    """Azurite (the Blob storage emulator) for an emulator lake, in the background.

    \b
    The laptop trial of a lake on Azure storage:
      lakehouse azurite start
      lakehouse --lake wasb://lake@devstoreaccount1/ demo
      lakehouse azurite stop
    Its blobs stay in .lakes/azurite between runs; the lake's metastore and logs are in
    .lakes/wasb-devstoreaccount1-<container>-<path>.
    """


@azurite.command("start")
def start_command() -> None:
    """Start Azurite on 127.0.0.1:10000 (nothing to do when it runs already)."""
    server = LakeAzurite()
    before = server.status()
    now = server.start()
    verb = "runs" if before.running else "started"
    click.echo(f"Azurite {verb} (pid {now.pid}) at {server.endpoint}; data in {server.location}, log {server.log_file}")


@azurite.command("stop")
def stop_command() -> None:
    """Stop the Azurite `start` started (its blobs stay in .lakes/azurite)."""
    server = LakeAzurite()
    click.echo("Azurite stopped" if server.stop() else f"no Azurite of {server.pid_file} is running")


@azurite.command("status")
def status_command() -> None:
    """Whether Azurite runs and answers on 127.0.0.1:10000 (exit 1 when it does not)."""
    server = LakeAzurite()
    state = server.status()
    if state.running:
        click.echo(f"Azurite runs (pid {state.pid}) at {server.endpoint}; data in {server.location}")
        return
    if state.answering:
        click.echo(f"a Blob service answers at {server.endpoint}, not the Azurite of {server.pid_file}")
        return
    click.echo("Azurite is not running (start it with `lakehouse azurite start`)")
    raise SystemExit(1)
