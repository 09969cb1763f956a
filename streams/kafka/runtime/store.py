"""The customer table's local store, per partition: read one partition back, write records.

Faust's table API works per key within a stream event; the worker needs two things it does
not offer: all records of *one* partition (to rebuild that partition's engine after table
recovery) and writing a batch of records of a known partition outside an event (at commit,
see :mod:`streams.kafka.runtime.commit`). Table recovery
(:mod:`streams.kafka.runtime.restore`) also writes whole batches of changelog records into a
partition. Both stores Faust ships keep that
information, in private attributes this module alone touches:

* RocksDB (rocksdict): one database per partition (``_db_for_partition``), plus
  ``_key_index`` (key -> partition) for lookups outside an event;
* memory: one dict (``data``) plus ``_key_partition`` (key -> partition), which Faust fills
  during recovery and uses to drop revoked partitions' keys; we keep it up to date for our
  own writes too.

Keys and values are bytes: the table is declared with ``key_type=bytes, value_type=bytes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from faust.stores import memory, rocksdb


def partition_records(store: Any, partition: int) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) the store holds for ``partition``."""
    if isinstance(store, rocksdb.Store):
        yield from store._visible_items(store._db_for_partition(partition))
    elif isinstance(store, memory.Store):
        data = store.data
        keys = [key for key, p in store._key_partition.items() if p == partition]
        for key in keys:
            value = data.get(key)
            if value is not None:
                yield key, value
    else:  # pragma: no cover - settings only allow the two above
        raise TypeError(f"unsupported table store {type(store).__name__}")


def write_records(store: Any, partition: int, records: Iterable[tuple[bytes, bytes]]) -> None:
    """Put records of ``partition`` into the local store (the changelog is written apart)."""
    if isinstance(store, rocksdb.Store):
        db = store._db_for_partition(partition)
        index = store._key_index
        for key, value in records:
            db.put(key, value)
            index[key] = partition
    elif isinstance(store, memory.Store):
        data, where = store.data, store._key_partition
        for key, value in records:
            data[key] = value
            where[key] = partition
    else:  # pragma: no cover
        raise TypeError(f"unsupported table store {type(store).__name__}")


def restore_records(
    store: Any, partition: int, records: Iterable[tuple[bytes, bytes | None]]
) -> None:
    """Apply changelog records of ``partition`` to the local store (table recovery).

    A None value is a deletion. RocksDB gets one ``WriteBatch`` for all of them, as Faust's
    own ``apply_changelog_batch`` does; the key index is left alone, as Faust leaves it.
    """
    if isinstance(store, rocksdb.Store):
        from rocksdict import WriteBatch  # only the RocksDB store needs rocksdict

        batch = WriteBatch(raw_mode=True)
        for key, value in records:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        store._db_for_partition(partition).write(batch)
    elif isinstance(store, memory.Store):
        data, where = store.data, store._key_partition
        for key, value in records:
            if value is None:
                data.pop(key, None)
                where.pop(key, None)
            else:
                data[key] = value
                where[key] = partition
    else:  # pragma: no cover
        raise TypeError(f"unsupported table store {type(store).__name__}")
