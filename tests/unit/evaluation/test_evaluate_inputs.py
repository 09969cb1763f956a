"""Truth parsing, the order tap and the evaluated population, on hand-built inputs."""

from __future__ import annotations

import io
import math

import numpy as np
import orjson
import pytest

from evaluation.inputs import DAY, OrderLog, OrderTap, read_truth
from evaluation.population import build_population
from models.decisions import format_time
from tests.builders import EPOCH as T0
from tests.builders import day, email_json, line, order_json

CUTOFF = day(100)


def at(n: float) -> str:
    """RFC 3339 time ``n`` days after 2025-01-01."""
    stamp = format_time(day(n))
    assert stamp is not None
    return stamp


def truth_line(customer: str, churned_day: float | None, interval: float = 10.0) -> bytes:
    record = {
        "customer_id": customer,
        "churned": churned_day is not None,
        "churned_at": None if churned_day is None else at(churned_day),
        "cause": None if churned_day is None else "habit_lapse",
        "mean_interval_days": interval,
        "kind": "regular",
    }
    return orjson.dumps(record) + b"\n"


def order(customer: str, day: float, n: int, status: str = "placed") -> bytes:
    return line(
        order_json(
            event_id=f"{customer}-{n}-{status}",
            customer_id=customer,
            order_id=f"{customer}-o{n}",
            occurred_at=at(day),
            status=status,
        )
    )


def tap(lines: list[bytes], horizon_days: float = 30.0) -> tuple[OrderLog, list[bytes]]:
    log = OrderLog(CUTOFF, CUTOFF + horizon_days * DAY)
    passed = list(OrderTap(io.BytesIO(b"".join(lines)), log))
    return log, passed


def test_read_truth_keeps_churn_time_cause_and_interval() -> None:
    truth = read_truth([truth_line("a", 50.0, 7.5), b"\n", truth_line("b", None)])
    assert truth["a"].churned_at == T0 + 50 * DAY
    assert truth["a"].cause == "habit_lapse"
    assert truth["a"].mean_interval_days == 7.5
    assert truth["b"].churned_at == math.inf
    assert truth["b"].cause is None


@pytest.mark.parametrize(
    "bad",
    [b"{not json", b'{"churned": false, "mean_interval_days": 3}', truth_line("x", None, 0.0)],
)
def test_read_truth_names_the_bad_line(bad: bytes) -> None:
    with pytest.raises(ValueError, match="truth line 2"):
        read_truth([truth_line("a", None), bad])


def test_tap_passes_every_line_and_splits_orders_at_the_cutoff() -> None:
    lines = [
        order("a", 10, 1),
        line(email_json(customer_id="a", occurred_at=at(11))),
        order("a", 20, 2),
        order("a", 20.5, 2, status="cancelled"),  # not a purchase
        order("a", 100, 3),  # exactly at the cutoff: before
        order("b", 105, 1),  # in the horizon
        order("c", 131, 1),  # after the horizon (30 days)
    ]
    log, passed = tap(lines)
    assert passed == lines
    assert log.sorted_before() == {"a": [T0 + 10 * DAY, T0 + 20 * DAY, CUTOFF]}
    assert log.in_horizon == {"b"}
    assert log.newest_order_at == T0 + 131 * DAY


def test_population_labels_rfm_and_exclusions_by_hand() -> None:
    lines = [
        order("a", 10, 1),
        order("a", 30, 2),
        order("a", 70, 3),
        order("b", 40, 1),
        order("b", 120, 2),  # b orders in the horizon
        order("stranger", 50, 1),  # not in the truth
    ]
    truth = read_truth(
        [
            truth_line("a", 80.0),  # churned before the cutoff
            truth_line("b", 150.0),  # churns after the cutoff: not churned *by* it
            truth_line("late", None),  # joined after the cutoff: no order before it
        ]
    )
    log, _ = tap(lines)
    population, exclusions = build_population(truth, log, horizon_days=30.0)

    assert population.ids == ["a", "b"]
    assert population.churned.tolist() == [True, False]
    assert population.no_order.tolist() == [True, False]
    x, t_x, age = population.rfm()
    assert x.tolist() == [2.0, 0.0]
    assert t_x.tolist() == [60.0, 0.0]
    assert age.tolist() == [90.0, 60.0]
    assert population.recency_days().tolist() == [30.0, 60.0]
    mean = population.observed_mean_interval_days()
    assert mean[0] == 30.0 and np.isnan(mean[1])
    assert exclusions.in_truth == 3
    assert exclusions.no_order_before_cutoff == 1
    assert exclusions.not_in_truth == 1
