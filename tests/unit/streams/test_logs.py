"""Worker logs: one JSON object per line (or text), secrets masked whatever logs them."""

from __future__ import annotations

import io
import logging
import logging.config
import sys
from collections.abc import Iterator

import orjson
import pytest

from streams.logs import MASK, JsonFormatter, TextFormatter, logging_config

SECRET = "s3cr3t-pa$$word"


def a_record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "streams.kafka.test", logging.WARNING, __file__, 1, message, args, None
    )
    record.created = 1_735_689_600.25  # 2025-01-01T00:00:00.250Z
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_record_is_one_json_object_with_time_level_logger_and_message() -> None:
    line = JsonFormatter().format(a_record("partition %d rebuilt", 3))
    assert "\n" not in line
    assert orjson.loads(line) == {
        "time": "2025-01-01T00:00:00.250Z",
        "level": "warning",
        "logger": "streams.kafka.test",
        "message": "partition 3 rebuilt",
    }


def test_extra_fields_are_kept_and_objects_are_not_dumped() -> None:
    class Payload:
        def __str__(self) -> str:
            return "private details"

    line = JsonFormatter().format(a_record("x", customer_id="c-1", partition=2, thing=Payload()))
    entry = orjson.loads(line)
    assert entry["customer_id"] == "c-1" and entry["partition"] == 2
    assert entry["thing"] == "Payload"  # its type, never its contents


def test_an_exception_is_one_field_of_the_same_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = a_record("failed")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["exception"].startswith("Traceback") and "ValueError: boom" in entry["exception"]


def test_secrets_are_masked_in_message_extras_and_tracebacks() -> None:
    formatter = JsonFormatter(secrets=[SECRET])
    try:
        raise RuntimeError(f"login failed with {SECRET}")
    except RuntimeError:
        record = a_record("config: %s", {"sasl_plain_password": SECRET}, note=f"pw={SECRET}")
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert SECRET not in line
    entry = orjson.loads(line)
    assert MASK in entry["message"] and MASK in entry["note"] and MASK in entry["exception"]


def test_text_format_is_one_readable_line() -> None:
    line = TextFormatter(secrets=[SECRET]).format(a_record("password is %s", SECRET))
    assert line == f"2025-01-01T00:00:00.250Z WARNING streams.kafka.test: password is {MASK}"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_config_applies_level_format_and_masking_to_every_logger(
    fmt: str, restored_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    logging.config.dictConfig(logging_config("info", fmt, secrets=[SECRET]))
    logging.getLogger("kafka.admin.client").debug("configuration: %s", SECRET)  # below info
    logging.getLogger("kafka.admin.client").info("configuration: %s", SECRET)
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 1
    assert SECRET not in lines[0] and MASK in lines[0]
    if fmt == "json":
        assert orjson.loads(lines[0])["logger"] == "kafka.admin.client"
