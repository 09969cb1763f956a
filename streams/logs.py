"""The worker's logging: one JSON object per line (or plain text), secrets masked.

:func:`logging_config` builds the ``logging.config.dictConfig`` dictionary the worker hands
to Faust's worker (``faust.Worker(logging_config=...)``), which applies it instead of its
own coloured console format. Every record goes to stderr through one handler:

* ``json`` (default): ``{"time", "level", "logger", "message"}``, plus ``exception`` with
  the traceback, plus any ``extra=`` fields of simple type (``partition``, ``customer_id``,
  ...). One line per record, so log shippers need no multi-line parsing.
* ``text``: ``time level logger: message`` for people at a terminal.

What is logged: Churnwatch's own code names customers by ``customer_id`` only and never
logs message payloads (rejected messages go to the dead-letter topic, not to the log).
Secrets (the SASL password) are replaced by ``**********`` in every record, whatever
library wrote it: kafka-python logs its whole configuration at debug level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

MASK = "**********"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
_SIMPLE = (str, int, float, bool, type(None))


class _Masking(logging.Formatter):
    """A formatter that replaces every secret in its output."""

    def __init__(self, fmt: str | None = None, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self._secrets = [secret for secret in secrets if secret]

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class JsonFormatter(_Masking):
    """One JSON object per record: time (UTC, ms), level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = self.mask(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = self.mask(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.mask(self.formatStack(record.stack_info))
        return orjson.dumps(entry, default=_plain).decode()


class TextFormatter(_Masking):
    """``2025-01-01T00:00:00.000Z info streams.kafka.run: worker started``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s", secrets)

    def format(self, record: logging.LogRecord) -> str:
        return f"{_utc(record.created)} {self.mask(super().format(record))}"


def _utc(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _plain(value: Any) -> Any:
    """JSON for an ``extra=`` value orjson cannot encode: its str (never its repr's guts)."""
    return str(value) if isinstance(value, _SIMPLE) else type(value).__name__


def logging_config(level: str, fmt: str, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A ``dictConfig`` dictionary: everything at ``level`` and above to stderr in ``fmt``."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    numeric = logging.getLevelName(level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"churnwatch": {"()": formatter, "secrets": list(secrets)}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "churnwatch",
                "level": numeric,
            }
        },
        "root": {"level": numeric, "handlers": ["stderr"]},
    }
