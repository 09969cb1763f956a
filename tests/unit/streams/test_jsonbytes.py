"""Held JSON bytes: the same bytes as orjson's, in an allocation of their own size."""

from __future__ import annotations

import sys

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.jsonbytes import dumps_held

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=40,
)


@given(json_values)
def test_the_bytes_are_orjsons(value: object) -> None:
    assert dumps_held(value) == orjson.dumps(value)


def test_a_record_holds_no_more_than_its_length() -> None:
    record = ["c1", 1742001517.0283186, [2.6, 3.1], None, "ed28c9c67c357656", 0, False] * 4
    held = dumps_held(record)
    # A bytes object is its header plus its length (plus the terminating NUL).
    assert sys.getsizeof(held) == sys.getsizeof(b"") + len(held)
