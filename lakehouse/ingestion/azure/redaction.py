"""Secrets never reach a log: SAS tokens, account keys and Authorization values are
cut from messages and from the Azure SDK loggers' records."""

from __future__ import annotations

import logging
import re

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


def redact(text: str) -> str:
    """`text` without SAS tokens, account keys or Authorization values."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message without secrets (see `redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_REDACTING_FILTER = RedactingFilter()
# urllib3 logs every request line with its query string (a SAS) at DEBUG; the SDK
# loggers may quote URLs in messages. A logger's own filters see its records only.
for _name in (
    "urllib3.connectionpool",
    "azure.core.pipeline.policies._universal",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.core.pipeline.policies._retry",
    "azure.storage.blob._shared.policies",
    "lakehouse.ingestion.azure.blob_store",
    "lakehouse.ingestion.azure.retry",
    "lakehouse.ingestion.azure.blob_sync",
):
    logging.getLogger(_name).addFilter(_REDACTING_FILTER)
