"""What the console shows: the project's own log lines, one per step; Spark's, py4j's,
Ivy's and the Azure SDKs' only with --verbose (never a secret, nor a request's query
string: `redaction`); no colour codes unless on a terminal."""

from __future__ import annotations

import logging
import os
import sys

from lakehouse.ingestion.azure.redaction import install_log_filters
from lakehouse.spark.session import VERBOSE_ENV

# Libraries that log every request, connection or JVM call at INFO.
CHATTY_LOGGERS = ("py4j", "azure", "urllib3", "pyspark")


def configure_console(*, verbose: bool) -> None:
    install_log_filters()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(message)s" if not verbose else "%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    if not sys.stdout.isatty():
        os.environ.setdefault("DBT_USE_COLORS", "false")  # dbt writes ANSI colours otherwise
