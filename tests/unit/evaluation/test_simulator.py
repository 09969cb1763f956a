"""Tests of the customer-behaviour simulator: contract, determinism, rates and churn story."""

from __future__ import annotations

import io
import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import orjson
import pytest

from evaluation import simulator
from evaluation.simulator import CAUSES, KINDS, SimulationSpec, SimulationSummary, simulate

SPEC = SimulationSpec(customers=3000, days=365, seed=7)
SMALL = SimulationSpec(customers=300, days=100, seed=11)
END = SPEC.start + timedelta(days=SPEC.days)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

Event = dict[str, Any]


@dataclass
class Run:
    summary: SimulationSummary
    event_bytes: bytes
    truth_bytes: bytes
    events: list[Event]
    truth: dict[str, Event]

    def by_customer(self) -> dict[str, list[Event]]:
        grouped: dict[str, list[Event]] = defaultdict(list)
        for event in self.events:
            grouped[event["customer_id"]].append(event)
        return grouped


def run_simulation(spec: SimulationSpec) -> Run:
    events_out, truth_out = io.BytesIO(), io.BytesIO()
    summary = simulate(spec, events_out, truth_out)
    event_bytes, truth_bytes = events_out.getvalue(), truth_out.getvalue()
    events = [orjson.loads(line) for line in event_bytes.splitlines()]
    truth = {row["customer_id"]: row for row in map(orjson.loads, truth_bytes.splitlines())}
    return Run(summary, event_bytes, truth_bytes, events, truth)


@pytest.fixture(scope="module")
def run() -> Run:
    return run_simulation(SPEC)


@pytest.fixture(scope="module")
def customers(run: Run) -> dict[str, list[Event]]:
    return run.by_customer()


def at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def placed_order_times(events: list[Event]) -> list[datetime]:
    return [
        at(e["occurred_at"])
        for e in events
        if e["event_type"] == "order" and e.get("status", "placed") == "placed"
    ]


def coefficient_of_variation(times: list[datetime]) -> float:
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    return statistics.pstdev(gaps) / statistics.mean(gaps)


def share(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def normalised(weights: tuple[float, ...]) -> list[float]:
    return [weight / sum(weights) for weight in weights]


# ---------------------------------------------------------------------------------------------
# The event contract, checked by hand

COMMON = {"event_type", "event_id", "customer_id", "occurred_at"}
ORDER_FIELDS = COMMON | {"order_id", "amount", "currency", "status"}
EMAIL_FIELDS = COMMON | {"action", "campaign_id"}
CALL_FIELDS = COMMON | {"direction", "outcome", "reason", "resolved"}
EMAIL_ACTIONS = {"sent", "opened", "clicked", "unsubscribed", "bounced"}
CALL_REASONS = {"inquiry", "complaint", "support", "sales", "other"}


def contract_errors(event: Event) -> list[str]:
    errors = [
        f"{name} must be a non-empty string"
        for name in ("event_id", "customer_id")
        if not isinstance(event.get(name), str) or not event[name]
    ]
    if isinstance(event.get("customer_id"), str) and len(event["customer_id"]) > 128:
        errors.append("customer_id longer than 128")
    if not isinstance(event.get("occurred_at"), str) or not RFC3339.match(event["occurred_at"]):
        errors.append("occurred_at is not RFC 3339 UTC")
    checks = {"order": order_errors, "email": email_errors, "call": call_errors}
    check = checks.get(event.get("event_type", ""))
    return errors + (check(event) if check else ["unknown event_type"])


def order_errors(event: Event) -> list[str]:
    errors = [f"unexpected field {name}" for name in set(event) - ORDER_FIELDS]
    amount = event.get("amount")
    if not isinstance(event.get("order_id"), str) or not event["order_id"]:
        errors.append("order_id must be a non-empty string")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
        errors.append("amount must be a number >= 0")
    elif round(amount, 2) != amount:
        errors.append("amount has more than 2 decimals")
    if not isinstance(event.get("currency"), str) or not re.fullmatch(
        "[A-Z]{3}", event["currency"]
    ):
        errors.append("currency must be 3 capital letters")
    if event.get("status", "placed") not in {"placed", "cancelled", "refunded"}:
        errors.append("bad status")
    return errors


def email_errors(event: Event) -> list[str]:
    errors = [f"unexpected field {name}" for name in set(event) - EMAIL_FIELDS]
    if event.get("action") not in EMAIL_ACTIONS:
        errors.append("bad action")
    if "campaign_id" in event and not isinstance(event["campaign_id"], str):
        errors.append("campaign_id must be a string")
    return errors


def call_errors(event: Event) -> list[str]:
    errors = [f"unexpected field {name}" for name in set(event) - CALL_FIELDS]
    if event.get("direction") not in {"inbound", "outbound"}:
        errors.append("bad direction")
    if event.get("outcome") not in {"answered", "missed", "voicemail"}:
        errors.append("bad outcome")
    if event.get("reason") not in CALL_REASONS:
        errors.append("bad reason")
    if "resolved" in event and (
        not isinstance(event["resolved"], bool) or event["reason"] not in {"complaint", "support"}
    ):
        errors.append("resolved must be a bool on complaint or support calls")
    return errors


def test_every_event_follows_the_contract(run: Run) -> None:
    problems = [(event, errors) for event in run.events if (errors := contract_errors(event))]
    assert run.events
    assert problems[:3] == []


def test_every_event_type_and_value_occurs(run: Run) -> None:
    seen = Counter(
        (e["event_type"], e.get("action") or e.get("reason") or e.get("status", "placed"))
        for e in run.events
    )
    expected_emails = {("email", action) for action in EMAIL_ACTIONS}
    expected_calls = {("call", reason) for reason in CALL_REASONS}
    expected_orders = {("order", status) for status in ("placed", "cancelled", "refunded")}
    assert expected_emails | expected_calls | expected_orders <= set(seen)


def test_events_are_lines_sorted_by_time_with_unique_ids(run: Run) -> None:
    times = [e["occurred_at"] for e in run.events]
    ids = [e["event_id"] for e in run.events]
    assert run.event_bytes.endswith(b"\n")
    assert run.event_bytes.count(b"\n") == len(run.events)
    assert times == sorted(times)
    assert len(set(ids)) == len(ids)
    assert at(times[0]) >= SPEC.start
    assert at(times[-1]) < END


def test_cancellations_and_refunds_follow_their_placed_order(run: Run) -> None:
    placed = {}
    follow_ups = 0
    for event in run.events:
        if event["event_type"] != "order":
            continue
        status = event.get("status", "placed")
        if status == "placed":
            placed[event["order_id"]] = event
            continue
        follow_ups += 1
        original = placed[event["order_id"]]
        assert (original["customer_id"], original["amount"]) == (
            event["customer_id"],
            event["amount"],
        )
    assert 0.005 < share(follow_ups, len(placed)) < 0.03


# ---------------------------------------------------------------------------------------------
# Determinism and bookkeeping


def test_same_spec_gives_identical_bytes_and_another_seed_does_not() -> None:
    first, again = run_simulation(SMALL), run_simulation(SMALL)
    other = run_simulation(replace(SMALL, seed=12))
    assert first.event_bytes and first.truth_bytes
    assert (first.event_bytes, first.truth_bytes) == (again.event_bytes, again.truth_bytes)
    assert first.event_bytes != other.event_bytes
    assert first.truth_bytes != other.truth_bytes


def test_output_does_not_depend_on_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = run_simulation(SMALL)
    monkeypatch.setattr(simulator, "_BLOCK_CUSTOMERS", 7)
    assert run_simulation(SMALL).event_bytes == reference.event_bytes


def test_progress_counts_up_to_the_events_written() -> None:
    reported: list[int] = []
    summary = simulate(SMALL, io.BytesIO(), io.BytesIO(), progress=reported.append)
    assert reported == sorted(reported)
    assert reported[-1] == summary.events > 0


def test_summary_agrees_with_the_outputs(run: Run) -> None:
    churned = [row for row in run.truth.values() if row["churned"]]
    assert run.summary.customers == len(run.truth) == SPEC.customers
    assert run.summary.events == len(run.events)
    assert run.summary.churned == len(churned)
    assert run.summary.by_cause == {c: sum(r["cause"] == c for r in churned) for c in CAUSES}
    assert run.summary.by_kind == {
        k: sum(r["kind"] == k for r in run.truth.values()) for k in KINDS
    }
    assert run.summary.by_event_type == dict(Counter(e["event_type"] for e in run.events))


def test_truth_is_one_consistent_line_per_customer_in_id_order(run: Run) -> None:
    ids = list(run.truth)
    assert ids == sorted(ids) and len(ids) == SPEC.customers
    for row in run.truth.values():
        assert row["kind"] in KINDS
        assert isinstance(row["privacy_proxy"], bool)
        assert RFC3339.match(row["joined_at"])
        if row["churned"]:
            assert row["cause"] in CAUSES
            assert SPEC.start <= at(row["churned_at"]) < END
            assert at(row["churned_at"]) >= at(row["joined_at"])
        else:
            assert row["cause"] is None and row["churned_at"] is None


@pytest.mark.parametrize(
    "bad",
    [
        {"customers": -1},
        {"days": 0},
        {"start": datetime(2025, 1, 1)},
        {"annual_churn_probability": 1.0},
        {"privacy_proxy_share": 1.5},
        {"habit_lapse_share": -0.1},
        {"irregular_share": 0.0, "regular_share": 0.0, "drifting_share": 0.0},
    ],
)
def test_spec_rejects_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(SMALL, **bad)


# ---------------------------------------------------------------------------------------------
# Rates and shares match the parameters


def test_churn_cause_and_kind_shares_match_the_knobs(run: Run) -> None:
    rows = list(run.truth.values())
    churned = [row for row in rows if row["churned"]]
    causes = Counter(row["cause"] for row in churned)
    kinds = Counter(row["kind"] for row in rows)
    assert 0.28 < share(len(churned), len(rows)) < 0.42
    for cause, expected in zip(CAUSES, normalised(SPEC.cause_weights), strict=True):
        assert share(causes[cause], len(churned)) == pytest.approx(expected, abs=0.05), cause
    for kind, expected in zip(KINDS, normalised(SPEC.kind_weights), strict=True):
        assert share(kinds[kind], len(rows)) == pytest.approx(expected, abs=0.03), kind


def test_customers_join_over_time_and_act_only_after_joining(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    joined = {cid: at(row["joined_at"]) for cid, row in run.truth.items()}
    existing = sum(when < SPEC.start for when in joined.values())
    assert share(existing, len(joined)) == pytest.approx(SPEC.existing_share, abs=0.04)
    for cid, events in customers.items():
        assert at(events[0]["occurred_at"]) >= joined[cid].replace(microsecond=0)


def test_regular_customers_reorder_regularly_and_irregular_ones_do_not(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    spread: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for cid, row in run.truth.items():
        orders = placed_order_times(customers.get(cid, []))
        if not row["churned"] and len(orders) >= 6:
            spread[row["kind"]].append(coefficient_of_variation(orders))
    assert statistics.median(spread["regular"]) < 0.4
    assert statistics.median(spread["irregular"]) > 0.7
    assert len(spread["regular"]) > 100 and len(spread["irregular"]) > 100


def test_proxy_customers_open_every_mail_others_do_not(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    open_rate: dict[bool, list[float]] = {True: [], False: []}
    for cid, row in run.truth.items():
        actions = Counter(e.get("action") for e in customers.get(cid, []))
        delivered = actions["sent"] - actions["bounced"]
        if delivered >= 5:
            open_rate[row["privacy_proxy"]].append(actions["opened"] / delivered)
    proxied = len(open_rate[True]) / (len(open_rate[True]) + len(open_rate[False]))
    assert proxied == pytest.approx(SPEC.privacy_proxy_share, abs=0.04)
    assert min(open_rate[True]) >= 0.95
    assert statistics.mean(open_rate[False]) < 0.6


def test_resolved_complaints_make_customers_more_loyal(run: Run) -> None:
    def churn_rate(resolved: bool | None) -> float:
        group = [row for row in run.truth.values() if row["complaint_resolved"] is resolved]
        return share(sum(row["churned"] for row in group), len(group))

    overall = share(run.summary.churned, SPEC.customers)
    assert churn_rate(True) < 0.7 * overall
    assert churn_rate(False) > 0.5
    assert churn_rate(None) == pytest.approx(overall, abs=0.05)


def test_truth_carries_what_the_oracle_needs(run: Run) -> None:
    start = SPEC.start.isoformat().replace("+00:00", "Z")
    hazard = -math.log1p(-SPEC.annual_churn_probability)
    for row in run.truth.values():
        assert row["observed_from"] == max(row["joined_at"], start)
        assert row["churn_hazard_per_year"] == pytest.approx(hazard, abs=1e-6)
        assert row["hazard_ratio_after_resolution"] == SPEC.resolved_hazard_ratio
        if row["complaint_resolved"] is True:
            assert row["complaint_resolved_at"] >= row["complaint_at"]
        else:
            assert row["complaint_resolved_at"] is None


# ---------------------------------------------------------------------------------------------
# Truth is consistent with the events: the churn story


def test_nobody_orders_calls_in_or_clicks_after_churning(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    def engages(event: Event) -> bool:
        placed = event["event_type"] == "order" and event.get("status", "placed") == "placed"
        return placed or event.get("action") == "clicked" or event.get("direction") == "inbound"

    churners = [row for row in run.truth.values() if row["churned"]]
    for row in churners:
        late = [
            e
            for e in customers.get(row["customer_id"], [])
            if engages(e) and at(e["occurred_at"]) >= at(row["churned_at"])
        ]
        assert late == [], row["customer_id"]
    assert len(churners) > 500


def test_active_customers_keep_ordering(run: Run, customers: dict[str, list[Event]]) -> None:
    """Non-churners present all year still order near the end of the period."""
    gaps_in_intervals: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for cid, row in run.truth.items():
        if row["churned"] or at(row["joined_at"]) >= SPEC.start:
            continue
        orders = placed_order_times(customers.get(cid, []))
        gap = (END - orders[-1]) / timedelta(days=row["mean_interval_days"]) if orders else math.inf
        gaps_in_intervals[row["kind"]].append(gap)
    assert max(gaps_in_intervals["regular"]) < 2.5
    # a Poisson buyer's gap since the last order is exponential: mean one interval
    assert statistics.median(gaps_in_intervals["irregular"]) < 1.0
    assert (
        share(
            sum(g < 3 for g in gaps_in_intervals["irregular"]), len(gaps_in_intervals["irregular"])
        )
        > 0.9
    )
    assert len(gaps_in_intervals["regular"]) > 200 and len(gaps_in_intervals["irregular"]) > 300


def test_service_failure_churners_complain_unresolved_shortly_before(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    for row in run.truth.values():
        if row["cause"] != "service_failure":
            continue
        churned_at = at(row["churned_at"])
        calls = [e for e in customers[row["customer_id"]] if e["event_type"] == "call"]
        complaints = [e for e in calls if e["reason"] == "complaint"]
        assert complaints and all(e.get("resolved") is not True for e in complaints)
        lead = churned_at - at(complaints[0]["occurred_at"])
        assert timedelta(0) <= lead <= timedelta(days=14)
        assert not any(e["direction"] == "outbound" and e["reason"] == "support" for e in calls)


def test_resolved_complaints_show_a_resolution_in_the_calls(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    resolved = [row for row in run.truth.values() if row["complaint_resolved"] is True]
    for row in resolved:
        calls = [e for e in customers[row["customer_id"]] if e["event_type"] == "call"]
        complaint = next(e for e in calls if e["reason"] == "complaint")
        after = [e for e in calls if e["occurred_at"] >= complaint["occurred_at"]]
        assert any(e.get("resolved") is True for e in after), row["customer_id"]
    assert len(resolved) > 30


def test_declining_value_churners_spend_less_before_leaving(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    def late_over_early_spend(cause: str) -> float:
        ratios: list[float] = []
        for row in run.truth.values():
            amounts = [
                float(e["amount"])
                for e in customers.get(row["customer_id"], [])
                if e["event_type"] == "order" and "status" not in e
            ]
            if row["cause"] == cause and len(amounts) >= 6:
                ratios.append(statistics.mean(amounts[-2:]) / statistics.mean(amounts[:-3]))
        return statistics.median(ratios)

    assert late_over_early_spend("declining_value") < 0.8
    assert late_over_early_spend("habit_lapse") > 0.9


def test_disengaged_churners_stop_clicking_weeks_before_leaving(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    def clicks_in_last_month_share(cause: str) -> float:
        late = total = 0
        for row in run.truth.values():
            if row["cause"] != cause:
                continue
            month_before = at(row["churned_at"]) - timedelta(days=28)
            for e in customers.get(row["customer_id"], []):
                if e.get("action") == "clicked":
                    total += 1
                    late += at(e["occurred_at"]) >= month_before
        return share(late, total)

    assert clicks_in_last_month_share("disengagement") < 0.5 * clicks_in_last_month_share(
        "habit_lapse"
    )


def test_gone_external_churners_mail_bounces(run: Run, customers: dict[str, list[Event]]) -> None:
    def bounce_share_after_churn(cause: str) -> float:
        counts: Counter[str] = Counter()
        for row in run.truth.values():
            if row["cause"] == cause:
                for e in customers.get(row["customer_id"], []):
                    if e["event_type"] == "email" and e["occurred_at"] >= row["churned_at"]:
                        counts[e["action"]] += 1
        return share(counts["bounced"], counts["sent"])

    assert bounce_share_after_churn("external") > 0.2
    assert bounce_share_after_churn("habit_lapse") < 0.02


def test_inquiries_before_churn_rarely_lead_to_an_order(
    run: Run, customers: dict[str, list[Event]]
) -> None:
    followed: dict[bool, list[bool]] = {True: [], False: []}
    for cid, events in customers.items():
        churned_at = run.truth[cid]["churned_at"]
        orders = placed_order_times(events)
        for e in events:
            if e["event_type"] != "call" or e["reason"] != "inquiry":
                continue
            called_at = at(e["occurred_at"])
            churning = churned_at is not None and at(churned_at) - called_at < timedelta(days=60)
            ordered = any(timedelta(0) < o - called_at <= timedelta(hours=48) for o in orders)
            followed[churning].append(ordered)
    assert len(followed[True]) > 100
    assert statistics.mean(followed[True]) < statistics.mean(followed[False]) - 0.2


def test_empty_population_writes_nothing() -> None:
    events_out, truth_out = io.BytesIO(), io.BytesIO()
    summary = simulate(replace(SMALL, customers=0), events_out, truth_out)
    assert (summary.events, summary.churned, events_out.getvalue(), truth_out.getvalue()) == (
        0,
        0,
        b"",
        b"",
    )


def test_one_day_from_an_odd_start_stays_inside_the_period() -> None:
    start = datetime(2025, 6, 30, 13, 45, 10, 500_000, tzinfo=UTC)
    spec = replace(SMALL, days=1, start=start)
    result = run_simulation(spec)
    times = [at(e["occurred_at"]) for e in result.events]
    assert times == sorted(times) and len(times) > 100
    assert start.replace(microsecond=0) <= times[0] and times[-1] < start + timedelta(days=1)
