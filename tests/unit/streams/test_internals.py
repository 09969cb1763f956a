"""The private Faust and mode attributes the worker relies on exist in the installed versions."""

from __future__ import annotations

import dataclasses
import re
from importlib.metadata import version
from pathlib import Path

from streams.kafka.runtime.internals import INTERNALS, Internal, missing_internals

KAFKA_PACKAGE = Path(__file__).resolve().parents[3] / "streams" / "kafka"


def test_every_internal_the_worker_uses_exists() -> None:
    missing = missing_internals()
    installed = ", ".join(
        f"{name} {version(name)}" for name in ("faust-streaming", "mode-streaming", "aiokafka")
    )
    assert not missing, (
        f"the installed {installed} lack private attributes the worker relies on; "
        "exactly-once and the batch drain may break (docs/upgrading.md):\n  " + "\n  ".join(missing)
    )


def test_a_renamed_attribute_is_reported_with_its_owner_and_user() -> None:
    renamed = dataclasses.replace(INTERNALS[1], attribute="_drain_messages_renamed")
    gone = Internal(
        "faust.transport.consumer:NoSuchConsumer", "_acked", "streams.kafka.runtime.drain"
    )
    assert missing_internals((renamed, gone, INTERNALS[2])) == [
        "faust.transport.consumer:Consumer._drain_messages_renamed "
        "(used by streams.kafka.runtime.drain): attribute not found",
        "faust.transport.consumer:NoSuchConsumer._acked (used by streams.kafka.runtime.drain): "
        "owner not found (module 'faust.transport.consumer' has no attribute "
        "'NoSuchConsumer')",
    ]


def test_every_private_attribute_used_on_faust_objects_is_listed() -> None:
    # Names such as consumer._acked in streams/kafka/*.py: each must be in INTERNALS.
    used: set[str] = set()
    pattern = re.compile(r"\b(?:consumer|fetcher|thread|store|super\(\))\.(_[a-z]\w*)")
    for path in KAFKA_PACKAGE.glob("*.py"):
        if path.name != "internals.py":
            used |= set(pattern.findall(path.read_text()))
    listed = {internal.attribute for internal in INTERNALS}
    assert used, "the pattern found no private attribute use at all"
    assert used <= listed, f"not in streams/kafka/runtime/internals.py: {sorted(used - listed)}"
