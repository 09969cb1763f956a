"""schemas/asyncapi.json: a valid AsyncAPI 3.0 document that describes the topics as the code
writes them (names, keys, headers, payload schemas)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from config.settings import Settings
from models.parse import REJECTION_CODES, Rejected
from streams.kafka import wire
from tests.schemas import assert_valid

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
DOCUMENT = json.loads((SCHEMAS / "asyncapi.json").read_text())
OFFICIAL = SCHEMAS / "vendor" / "asyncapi-3.0.0.schema.json"
OFFICIAL_SHA256 = "abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f"


def official_validator() -> Draft7Validator:
    schema = json.loads(OFFICIAL.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def test_the_vendored_asyncapi_schema_is_the_official_one() -> None:
    assert hashlib.sha256(OFFICIAL.read_bytes()).hexdigest() == OFFICIAL_SHA256
    assert json.loads(OFFICIAL.read_text())["title"] == "AsyncAPI 3.0.0 schema."


def test_the_document_is_valid_asyncapi_3() -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in official_validator().iter_errors(DOCUMENT)
    ]
    assert not errors, errors


def test_the_validation_has_teeth() -> None:
    validator = official_validator()
    wrong_verb = copy.deepcopy(DOCUMENT)
    wrong_verb["operations"]["publishLost"]["action"] = "publish"  # AsyncAPI 2's verb
    assert not validator.is_valid(wrong_verb)
    unknown_field = copy.deepcopy(DOCUMENT)
    unknown_field["channels"]["ticks"]["topic"] = "churnwatch.ticks"
    assert not validator.is_valid(unknown_field)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_reference_resolves() -> None:
    refs = _refs(DOCUMENT)
    assert refs
    for ref in refs:
        if ref.startswith("#/"):
            node: Any = DOCUMENT
            for part in ref[2:].split("/"):
                assert part in node, ref
                node = node[part]
        else:
            path = SCHEMAS / ref
            assert path.is_file(), ref
            Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_every_topic_is_a_channel_with_its_default_name() -> None:
    settings = Settings()
    addresses = {channel["address"] for channel in DOCUMENT["channels"].values()}
    assert addresses == set(settings.topic_names())
    for channel in DOCUMENT["channels"].values():
        setting = channel["description"].split("setting `")[1].split("`")[0]
        assert getattr(settings, setting) == channel["address"]
        assert channel["bindings"]["kafka"]["partitions"] == settings.partitions


def test_decisions_are_cloudevents_keyed_by_customer() -> None:
    decision = DOCUMENT["components"]["messages"]["decision"]
    header = decision["headers"]["properties"]["content-type"]["const"]
    assert header.encode() == wire.CLOUDEVENTS_CONTENT_TYPE == decision["contentType"].encode()
    for name in ("atRisk", "lost", "recovered"):
        assert "decision" in DOCUMENT["channels"][name]["messages"]


def test_dead_letter_headers_are_the_ones_the_worker_writes() -> None:
    headers = DOCUMENT["components"]["messages"]["deadLetter"]["headers"]
    rejection = Rejected("invalid_json", "not JSON")
    written = wire.dead_letter_headers([("trace", b"1")], rejection, "orders", 3, 42)
    ours = [(name, value.decode()) for name, value in written[1:]]
    assert [name for name, _ in ours] == headers["required"]
    assert Draft202012Validator(headers).is_valid(dict(ours))
    codes = headers["properties"]["churnwatch.code"]["enum"]
    assert set(codes) == {*REJECTION_CODES, wire.KEY_MISMATCH, wire.INVALID_TICK}


@pytest.mark.parametrize(
    "tick", [wire.WallTick(1740830400.5), wire.AdvanceTick(1740830400.0, {"orders": 17})]
)
def test_ticks_match_their_schema(tick: wire.Tick) -> None:
    encoded = json.loads(wire.encode_tick(tick))
    assert_valid("tick", encoded)
    assert wire.decode_tick(wire.encode_tick(tick)) == tick
