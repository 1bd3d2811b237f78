"""`lakehouse engine ...`: the local cluster engine behind the `cluster` dbt target."""

from __future__ import annotations

import time

import click

from lakehouse.cli.params import lake_of


@click.group("engine")
def engine() -> None:
    """The local cluster engine: the SQL endpoint the `cluster` dbt target uses.

    A Hive metastore in PostgreSQL (many clients share one catalog), a Spark
    standalone master with two workers and the Spark Thrift Server (HiveServer2)
    with Delta Lake and spark-avro, all on 127.0.0.1; data and logs under
    <lake>/_engine/. Every client presents the lake's engine secret
    (<lake>/_engine/conf/engine.secret, made at the first start, mode 0600): Spark
    applications in their conf, SQL clients as their password. Then:

    \b
      DBT_TARGET=cluster lakehouse dbt build     the whole project on the cluster
      (beeline is in the PySpark wheel: .venv/lib/python3.11/site-packages/pyspark/bin/)
      beeline -u jdbc:hive2://127.0.0.1:10000 -n lakehouse -w lake/_engine/conf/engine.secret \\
        -e 'select * from gold.gold_site_metrics_1h'
    """


@engine.command("start")
@click.pass_context
def engine_start_command(ctx: click.Context) -> None:
    """Start the metastore database, the master, two workers and the Thrift server."""
    from lakehouse.engine import Engine, EngineAlreadyRunning

    engine = Engine(lake_of(ctx))
    t0 = time.monotonic()
    try:
        states = engine.start()
    except EngineAlreadyRunning as exc:  # not a failure: say what runs
        click.echo(str(exc))
        return
    click.echo(f"engine started in {time.monotonic() - t0:.1f} s:")
    for state in states:
        click.echo(f"  {state.line()}")


@engine.command("stop")
@click.pass_context
def engine_stop_command(ctx: click.Context) -> None:
    """Stop every piece of the engine (its executors too)."""
    from lakehouse.engine import Engine

    stopped = Engine(lake_of(ctx)).stop()
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "the engine was not running")


@engine.command("status")
@click.pass_context
def engine_status_command(ctx: click.Context) -> None:
    """Say which pieces run, where, and where their logs are (exit code 1 unless all run)."""
    from lakehouse.engine import Engine

    states = Engine(lake_of(ctx)).status()
    for state in states:
        click.echo(state.line())
    ctx.exit(0 if all(s.running for s in states) else 1)
