"""The population model: its defaults, validation and JSON document."""

from __future__ import annotations

import dataclasses
import math

import orjson
import pytest

from models.policy import Policy
from models.population import MODEL_FORMAT, PopulationModel
from streams.errors import UsageError
from streams.model_file import encode_model, load_model
from tests.schemas import assert_valid


def test_without_a_fit_the_model_is_the_policys_starting_prior() -> None:
    policy = Policy()
    model = PopulationModel.from_policy(policy)
    assert math.isclose(math.exp(model.interval_mean), policy.prior_median_interval_days)
    assert model.dropout_shape == policy.prior_dropout_shape
    assert model.interval_distribution == policy.interval_distribution
    assert model.complaint_odds == policy.complaint_odds
    assert model.customers == 0 and model.fitted_until is None


def test_the_document_round_trips_and_matches_its_schema(tmp_path) -> None:
    model = dataclasses.replace(
        PopulationModel.from_policy(Policy()),
        interval_distribution="lognormal",
        complaint_odds=9.5,
        customers=1234,
        fitted_until=1_767_225_600.0,
    )
    document = model.to_dict()
    assert document["format"] == MODEL_FORMAT
    assert_valid("population-model", document)
    path = tmp_path / "model.json"
    path.write_bytes(encode_model(model))
    assert load_model(path) == model
    assert load_model(None) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something/else"}, "not a population model"),
        ({"dropout_shape": -1.0}, "dropout_shape must be a positive number"),
        ({"complaint_odds": 0.5}, "complaint_odds must be >= 1"),
        ({"interval_distribution": "gamma"}, "interval_distribution"),
        ({"surprise": 1}, "unknown keys"),
    ],
)
def test_an_unusable_model_file_is_refused_with_a_clear_message(tmp_path, change, message):
    document = {**PopulationModel.from_policy(Policy()).to_dict(), **change}
    path = tmp_path / "model.json"
    path.write_bytes(orjson.dumps(document))
    with pytest.raises(UsageError, match=message):
        load_model(path)


def test_a_missing_or_broken_file_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_model(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UsageError, match="not JSON"):
        load_model(tmp_path / "bad.json")
