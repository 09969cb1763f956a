"""Every private attribute of faust-streaming, mode-streaming and aiokafka the worker relies on.

The batch drain, the commit hook, the exactly-once fixes, the table store access, the
table restore and the metrics read or replace attributes that are not part of Faust's
public API (the reasons are in :mod:`streams.kafka.runtime.drain`,
:mod:`streams.kafka.runtime.commit`, :mod:`streams.kafka.runtime.fixes`,
:mod:`streams.kafka.runtime.store`, :mod:`streams.kafka.runtime.restore` and
:mod:`streams.kafka.operations.observe`). A release may rename or drop any of them without
notice, so pyproject.toml bounds these libraries to the tested minor series and a unit test
checks this list against the installed versions (docs/upgrading.md). Add an entry here
whenever the worker starts using another one.

An attribute exists when the owner class (or a base class) defines it, or assigns it to
``self`` (or declares it) in its source: most of them are instance attributes set in
``__init__``, which only a running worker would have.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Internal:
    """One private attribute: where it is defined, and which of our modules uses it."""

    owner: str  # "module:Class"
    attribute: str
    used_by: str

    def __str__(self) -> str:
        return f"{self.owner}.{self.attribute} (used by {self.used_by})"


_CONSUMER = "faust.transport.consumer:Consumer"
_FIXES = "streams.kafka.runtime.fixes"

INTERNALS: tuple[Internal, ...] = (
    Internal("faust.app.base:App", "_new_consumer", "streams.kafka.app"),
    Internal(_CONSUMER, "_drain_messages", "streams.kafka.runtime.drain"),
    Internal(_CONSUMER, "_wait_next_records", "streams.kafka.runtime.drain"),
    Internal(_CONSUMER, "_get_active_partitions", "streams.kafka.runtime.drain"),
    Internal(_CONSUMER, "_buffered_partitions", "streams.kafka.runtime.drain"),
    Internal(_CONSUMER, "_read_offset", "streams.kafka.runtime.drain"),
    Internal(_CONSUMER, "_add_gap", "streams.kafka.runtime.drain"),
    Internal(_CONSUMER, "_to_message", "streams.kafka.runtime.drain"),
    Internal(
        _CONSUMER,
        "_committed_offset",
        "streams.kafka.runtime.drain, streams.kafka.operations.observe",
    ),
    Internal(_CONSUMER, "_acked", "streams.kafka.runtime.drain, streams.kafka.runtime.fixes"),
    Internal(_CONSUMER, "_acked_index", "streams.kafka.runtime.drain, streams.kafka.runtime.fixes"),
    Internal(_CONSUMER, "_n_acked", "streams.kafka.runtime.drain"),
    Internal(_CONSUMER, "_commit_every", "streams.kafka.runtime.drain"),
    Internal(_CONSUMER, "_commit_offsets", "streams.kafka.runtime.commit"),
    Internal(_CONSUMER, "_new_offset", "streams.kafka.runtime.fixes"),
    Internal("mode.services:Service", "_stopped", "streams.kafka.runtime.drain"),
    Internal("faust.stores.rocksdb:Store", "_db_for_partition", "streams.kafka.runtime.store"),
    Internal("faust.stores.rocksdb:Store", "_visible_items", "streams.kafka.runtime.store"),
    Internal("faust.stores.rocksdb:Store", "_key_index", "streams.kafka.runtime.store"),
    Internal("faust.stores.memory:Store", "_key_partition", "streams.kafka.runtime.store"),
    Internal(
        "faust.tables.recovery:Recovery", "_build_highwaters", "streams.kafka.runtime.restore"
    ),
    Internal("faust.tables.recovery:Recovery", "_build_offsets", "streams.kafka.runtime.restore"),
    Internal(
        "faust.transport.drivers.aiokafka:Producer",
        "_transaction_producers",
        "streams.kafka.runtime.fixes",
    ),
    Internal(
        "aiokafka.producer.producer:AIOKafkaProducer", "_txn_manager", "streams.kafka.runtime.fixes"
    ),
    Internal("faust.transport.consumer:ThreadDelegateConsumer", "_thread", _FIXES),
    Internal(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread",
        "_create_worker_consumer",
        _FIXES,
    ),
    Internal("aiokafka.consumer.consumer:AIOKafkaConsumer", "_fetch_max_wait_ms", _FIXES),
)


def resolve(owner: str) -> type:
    """The class named ``module:Class``."""
    module_name, _, class_name = owner.partition(":")
    found = getattr(importlib.import_module(module_name), class_name)
    if not isinstance(found, type):
        raise TypeError(f"{owner} is not a class")
    return found


def defines(cls: type, attribute: str) -> bool:
    """Whether ``cls`` or a base class defines, declares or assigns ``attribute``."""
    if hasattr(cls, attribute):
        return True
    assigned = re.compile(rf"self\.{re.escape(attribute)}\s*(:[^=\n]*)?=[^=]")
    declared = re.compile(rf"^\s+{re.escape(attribute)}\s*:", re.M)
    for base in cls.__mro__:
        if attribute in getattr(base, "__annotations__", {}):
            return True
        try:
            source = inspect.getsource(base)
        except (OSError, TypeError):  # builtins and C extensions have no Python source
            continue
        if assigned.search(source) or declared.search(source):
            return True
    return False


def missing_internals(internals: tuple[Internal, ...] = INTERNALS) -> list[str]:
    """One line per internal that the installed libraries lack (empty: all present)."""
    missing = []
    for internal in internals:
        try:
            cls = resolve(internal.owner)
        except (ImportError, AttributeError, TypeError) as exc:
            missing.append(f"{internal}: owner not found ({exc})")
            continue
        if not defines(cls, internal.attribute):
            missing.append(f"{internal}: attribute not found")
    return missing
