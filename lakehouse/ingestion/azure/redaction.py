"""Secrets never reach a log: SAS tokens, account keys and Authorization values are
cut from messages and from the Azure SDK loggers' records, and urllib3's lines (the
target of every request, `-v`) lose their query strings whole: a vendor's `token=`,
`api_key=` or a Functions key's `code=` may be any parameter.

The filters are installed when this module is imported (the Azure modules import it)
and by `install_log_filters()`, which the CLI's console configuration calls.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

# SAS signatures, account keys and Authorization values; a SAS URL's whole query string.
_SECRET_PATTERNS = [
    (re.compile(r"\?([^\s'\"<>]*?(?:sig|sv|se|sp)=[^\s'\"<>]*)"), "?<redacted>"),
    (re.compile(r"(?i)\b(sig|AccountKey|SharedAccessKey|SharedAccessSignature)=[^;&\s'\"<>]+"), r"\1=<redacted>"),
    (
        re.compile(
            r"(?i)(Authorization['\"]?\s*[:=]\s*['\"]?)(?:SharedKey|Bearer|SharedAccessSignature)?\s*[^\s'\",}]+"
        ),
        r"\1<redacted>",
    ),
]


# A URL's or request target's query string, up to the next space or quote.
_QUERY_STRING = re.compile(r"\?[^\s'\"<>)]+")


def redact(text: str) -> str:
    """`text` without SAS tokens, account keys or Authorization values."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def without_query_strings(text: str) -> str:
    """`text` with each query string it quotes cut to `?...`, secrets redacted as well."""
    return redact(_QUERY_STRING.sub("?...", text))


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message with `clean` (default `redact`)."""

    def __init__(self, clean: Callable[[str], str] = redact) -> None:
        super().__init__()
        self.clean = clean

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.clean(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_REDACTING_FILTER = RedactingFilter()
_QUERY_FILTER = RedactingFilter(without_query_strings)
# A logger's own filters see its records only, so each logger that may quote a secret is named.
# urllib3 logs every request's target (path and query string) at DEBUG, retries and redirects too.
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")
# The SDK loggers and ours may quote SAS URLs in messages.
_AZURE_LOGGERS = (
    "azure.core.pipeline.policies._universal",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.core.pipeline.policies._retry",
    "azure.storage.blob._shared.policies",
    "lakehouse.ingestion.azure.blob_store",
    "lakehouse.ingestion.azure.blob_container",
    "lakehouse.ingestion.azure.blob_lease",
    "lakehouse.ingestion.azure.blobs",
    "lakehouse.ingestion.azure.quarantine",
    "lakehouse.ingestion.azure.retry",
    "lakehouse.ingestion.azure.blob_sync",
)


def install_log_filters() -> None:
    """Put the filters on the loggers above (idempotent: a logger keeps one of each)."""
    for name in _URLLIB3_LOGGERS:
        logging.getLogger(name).addFilter(_QUERY_FILTER)
    for name in _AZURE_LOGGERS:
        logging.getLogger(name).addFilter(_REDACTING_FILTER)


install_log_filters()
