"""Churnwatch's Prometheus metrics, read back from a fresh registry per test."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from models.churn_rate import MEASURES, ChurnLedger
from models.customer import STATUS_NAMES
from models.decisions import DECISION_TYPES, Decision
from models.engine import Engine
from models.parse import REJECTION_CODES
from models.policy import DAY, Policy
from streams.metrics import (
    DEFAULT_INPUT_TOPICS,
    EVENT_TYPES,
    STATUS_TRANSITIONS,
    BatchTally,
    BulkHistogram,
    ChurnwatchMetrics,
    create_metrics,
    exposition,
)
from streams.records import ledger_from_record, ledger_to_record
from tests.builders import a_call, an_email, an_order, day

OPERATIONS_DOC = Path(__file__).resolve().parents[3] / "docs" / "operations.md"

# Gauges that count things (customers, events, entries, partitions) or are a 0/1 flag:
# Prometheus wants no unit suffix on them. Every other gauge must carry its unit.
UNITLESS_GAUGES = {
    "churnwatch_customers_tracked",
    "churnwatch_customers_active_at_month_start",
    "churnwatch_customers_lost_at_month_start",
    "churnwatch_customers_acquired_in_month",
    "churnwatch_customers_lost_in_month",
    "churnwatch_customers_recovered_in_month",
    "churnwatch_events_pending",
    "churnwatch_deadlines_scheduled",
    "churnwatch_partitions_assigned",
    "churnwatch_table_recovery_complete",
    # Money in the shop's own currency, which Prometheus has no base unit for.
    "churnwatch_value_flagged_in_month",
}
GAUGE_UNITS = ("_seconds", "_ratio", "_messages", "_bytes")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ChurnwatchMetrics:
    return create_metrics(registry, process_collectors=False)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


# The scenarios below are timed for this policy (c2 at risk by day 61, both lost by day
# 400); pinning it keeps them independent of tuning of the defaults.
POLICY = Policy(
    lost_risk=0.9,
    interval_window=8,
    prior_dropout_rate_days=200.0,
    on_rhythm_share=0.45,
    at_risk_risk=0.1,
    at_risk_lead_intervals=2.0,
)


def a_busy_engine() -> tuple[Engine, list[Decision]]:
    """Two customers, one duplicate, deadlines that fire: c2 at risk by day 61."""
    engine = Engine(POLICY)
    decisions: list[Decision] = []
    for event in (
        an_order("c1", day(0), event_id="a"),
        an_order("c2", day(1), event_id="d"),
        an_order("c1", day(30), event_id="b"),
        an_order("c1", day(60), event_id="c"),
        an_order("c1", day(60), event_id="c"),  # the duplicate
    ):
        outcome = engine.process(event)
        assert isinstance(outcome, list)
        decisions += outcome
    decisions += engine.advance(day(61))
    return engine, decisions


# -- start-up -------------------------------------------------------------------------------


def test_every_contract_series_exists_at_zero_after_start_up(registry, metrics) -> None:
    for topic in DEFAULT_INPUT_TOPICS:
        for event_type in EVENT_TYPES:
            assert (
                value(
                    registry,
                    "churnwatch_events_consumed_total",
                    topic=topic,
                    event_type=event_type,
                )
                == 0.0
            )
    for reason in (*REJECTION_CODES, "key_mismatch", "invalid_tick"):
        assert value(registry, "churnwatch_events_rejected_total", reason=reason) == 0.0
    for kind in DECISION_TYPES:
        assert value(registry, "churnwatch_decisions_published_total", type=kind) == 0.0
    for before, after in STATUS_TRANSITIONS:
        assert (
            value(
                registry,
                "churnwatch_customers_transitioned_total",
                from_status=before,
                to_status=after,
            )
            == 0.0
        )
    for status in STATUS_NAMES:
        assert value(registry, "churnwatch_customers_tracked", status=status) == 0.0
    for name in (
        "churnwatch_deadlines_fired_total",
        "churnwatch_deadlines_skipped_total",
        "churnwatch_duplicates_ignored_total",
        "churnwatch_rebalances_completed_total",
        "churnwatch_partitions_assigned",
        "churnwatch_table_recovery_complete",
        "churnwatch_batch_process_duration_seconds_count",
        "churnwatch_event_time_lag_seconds_count",
        "churnwatch_event_time_lag_seconds_sum",
    ):
        assert value(registry, name) == 0.0, name


def test_topics_from_the_settings_label_the_consumed_counter(registry) -> None:
    create_metrics(registry, input_topics={"shop.orders": "order"}, process_collectors=False)
    assert (
        value(registry, "churnwatch_events_consumed_total", topic="shop.orders", event_type="call")
        == 0.0
    )
    assert (
        value(registry, "churnwatch_events_consumed_total", topic="orders", event_type="order")
        is None
    )


def test_worker_info_says_how_the_worker_runs(registry) -> None:
    create_metrics(
        registry, clock="event", processing_guarantee="at_least_once", process_collectors=False
    )
    samples = [s for m in registry.collect() if m.name == "churnwatch_worker" for s in m.samples]
    assert len(samples) == 1
    assert samples[0].value == 1.0
    assert samples[0].labels["clock"] == "event"
    assert samples[0].labels["processing_guarantee"] == "at_least_once"
    assert samples[0].labels["version"]


def test_metrics_go_to_the_given_registry_only(registry) -> None:
    create_metrics(registry, process_collectors=False)
    assert REGISTRY.get_sample_value("churnwatch_partitions_assigned") is None
    other = CollectorRegistry()
    create_metrics(other, process_collectors=False)  # no duplicate-name clash
    assert value(other, "churnwatch_partitions_assigned") == 0.0


def test_process_collectors_are_added_to_the_given_registry(registry) -> None:
    create_metrics(registry)
    assert value(registry, "process_cpu_seconds_total") is not None
    assert value(registry, "process_start_time_seconds") is not None


# -- the hot path's tally ---------------------------------------------------------------------


def test_flush_adds_consumed_and_rejected_counts_and_clears_the_tally(registry, metrics) -> None:
    tally = BatchTally()
    tally.accepted("orders", an_order(at=day(0)))
    tally.accepted("orders", an_order(at=day(0)))
    tally.accepted("calls", a_call(at=day(0)))
    tally.accepted("email-events", an_email(at=day(0)))
    tally.refused("invalid_json")
    tally.refused("key_mismatch")
    tally.refused("key_mismatch")

    metrics.flush(tally, now=day(0) + 10)
    metrics.flush(tally, now=day(0) + 10)  # cleared: adds nothing

    consumed = "churnwatch_events_consumed_total"
    assert value(registry, consumed, topic="orders", event_type="order") == 2.0
    assert value(registry, consumed, topic="calls", event_type="call") == 1.0
    assert value(registry, consumed, topic="email-events", event_type="email") == 1.0
    rejected = "churnwatch_events_rejected_total"
    assert value(registry, rejected, reason="invalid_json") == 1.0
    assert value(registry, rejected, reason="key_mismatch") == 2.0
    assert value(registry, "churnwatch_event_time_lag_seconds_count") == 4.0
    assert value(registry, "churnwatch_event_time_lag_seconds_sum") == 40.0
    assert tally.consumed == {} and tally.rejected == {} and tally.event_times == []


def test_event_time_lag_buckets_reach_days(registry, metrics) -> None:
    tally = BatchTally()
    tally.accepted("orders", an_order(at=day(0)))  # 3 days old
    tally.accepted("orders", an_order(at=day(3) - 30))  # 30 s old
    metrics.flush(tally, now=day(3))
    bucket = "churnwatch_event_time_lag_seconds_bucket"
    assert value(registry, bucket, le="60.0") == 1.0
    assert value(registry, bucket, le="172800.0") == 1.0
    assert value(registry, bucket, le="604800.0") == 2.0
    assert value(registry, bucket, le="+Inf") == 2.0


def test_bulk_histogram_matches_prometheus_histogram() -> None:
    bounds = (1.0, 5.0, 60.0)
    values = [-3.0, 0.5, 1.0, 1.0001, 5.0, 59.0, 60.0, 61.0, 1e9]
    bulk_registry, plain_registry = CollectorRegistry(), CollectorRegistry()
    bulk = BulkHistogram("lag_seconds", "Lag.", bounds)
    bulk_registry.register(bulk)
    bulk.observe_all(values)
    plain = Histogram("lag_seconds", "Lag.", buckets=bounds, registry=plain_registry)
    for v in values:
        plain.observe(v)
    for le in ("1.0", "5.0", "60.0", "+Inf"):
        expected = plain_registry.get_sample_value("lag_seconds_bucket", {"le": le})
        assert bulk_registry.get_sample_value("lag_seconds_bucket", {"le": le}) == expected, le
    for suffix in ("_count", "_sum"):
        expected = plain_registry.get_sample_value(f"lag_seconds{suffix}")
        assert bulk_registry.get_sample_value(f"lag_seconds{suffix}") == expected


def test_processing_time_is_a_histogram_in_seconds(registry, metrics) -> None:
    metrics.observe_processing(0.003)
    metrics.observe_processing(0.2)
    bucket = "churnwatch_batch_process_duration_seconds_bucket"
    assert value(registry, bucket, le="0.005") == 1.0
    assert value(registry, bucket, le="0.25") == 2.0
    assert value(registry, "churnwatch_batch_process_duration_seconds_sum") == pytest.approx(0.203)


# -- the engine --------------------------------------------------------------------------------


def test_observe_engine_turns_engine_counters_into_counter_increments(registry, metrics) -> None:
    engine, decisions = a_busy_engine()
    assert engine.duplicates == 1 and engine.wakeups >= 1 and engine.stale_wakeups >= 1

    metrics.observe_engine(0, engine, decisions)
    assert value(registry, "churnwatch_duplicates_ignored_total") == engine.duplicates
    assert value(registry, "churnwatch_deadlines_fired_total") == engine.wakeups
    assert value(registry, "churnwatch_deadlines_skipped_total") == engine.stale_wakeups

    fired_before = engine.wakeups
    later = engine.advance(day(400))
    assert engine.wakeups > fired_before
    metrics.observe_engine(0, engine, later)
    # The counter grows by the increase, not by the engine's new total.
    assert value(registry, "churnwatch_deadlines_fired_total") == engine.wakeups
    assert value(registry, "churnwatch_duplicates_ignored_total") == 1.0


def test_observe_engine_is_idempotent(registry, metrics) -> None:
    engine, decisions = a_busy_engine()
    metrics.observe_engine(0, engine, decisions)
    before = {
        name: value(registry, name)
        for name in (
            "churnwatch_duplicates_ignored_total",
            "churnwatch_deadlines_fired_total",
            "churnwatch_deadlines_skipped_total",
        )
    }
    metrics.observe_engine(0, engine)
    metrics.observe_engine(0, engine)
    assert {name: value(registry, name) for name in before} == before
    assert value(registry, "churnwatch_decisions_published_total", type="at_risk") == 1.0
    assert value(registry, "churnwatch_customers_tracked", status="at_risk") == 1.0


def test_partitions_count_separately_and_add_up(registry, metrics) -> None:
    first, first_decisions = a_busy_engine()
    second, second_decisions = a_busy_engine()
    metrics.observe_engine(0, first, first_decisions)
    metrics.observe_engine(1, second, second_decisions)
    assert value(registry, "churnwatch_duplicates_ignored_total") == 2.0
    assert value(registry, "churnwatch_customers_tracked", status="active") == 2.0
    assert value(registry, "churnwatch_customers_tracked", status="at_risk") == 2.0


def test_a_new_engine_on_a_partition_counts_from_its_own_zero(registry, metrics) -> None:
    old, decisions = a_busy_engine()
    metrics.observe_engine(0, old, decisions)
    rebuilt = Engine(POLICY)  # after a rebalance: restored from the table, counters at zero
    rebuilt.restore(list(old.customers.values()), old.watermark)

    metrics.observe_engine(0, rebuilt)
    assert value(registry, "churnwatch_deadlines_fired_total") == old.wakeups
    assert value(registry, "churnwatch_customers_tracked", status="at_risk") == 1.0

    later = rebuilt.advance(day(400))
    assert rebuilt.wakeups > 0
    metrics.observe_engine(0, rebuilt, later)
    assert value(registry, "churnwatch_deadlines_fired_total") == old.wakeups + rebuilt.wakeups


def test_customers_by_status_follow_the_decisions(registry, metrics) -> None:
    engine, decisions = a_busy_engine()
    metrics.observe_engine(0, engine, decisions)
    assert value(registry, "churnwatch_customers_tracked", status="active") == 1.0
    assert value(registry, "churnwatch_customers_tracked", status="at_risk") == 1.0

    lost = engine.advance(day(400))  # both lost
    metrics.observe_engine(0, engine, lost)
    assert value(registry, "churnwatch_customers_tracked", status="lost") == 2.0
    assert value(registry, "churnwatch_customers_tracked", status="at_risk") == 0.0

    back = engine.process(an_order("c2", day(401), event_id="z"))
    assert isinstance(back, list)
    back += engine.advance(day(402))  # c2 recovered
    metrics.observe_engine(0, engine, back)

    tracked = {
        status: value(registry, "churnwatch_customers_tracked", status=status)
        for status in STATUS_NAMES
    }
    assert tracked == {"active": 1.0, "at_risk": 0.0, "lost": 1.0}
    assert sum(s.status != 0 for s in engine.customers.values()) == 1  # the truth
    moved = "churnwatch_customers_transitioned_total"
    assert value(registry, moved, from_status="active", to_status="at_risk") == 2.0
    assert value(registry, moved, from_status="at_risk", to_status="lost") == 2.0
    assert value(registry, moved, from_status="lost", to_status="active") == 1.0
    published = "churnwatch_decisions_published_total"
    assert value(registry, published, type="at_risk") == 2.0
    assert value(registry, published, type="lost") == 2.0
    assert value(registry, published, type="recovered") == 1.0


def test_partition_gauges_show_the_engine(registry, metrics) -> None:
    engine = Engine(POLICY)
    metrics.observe_engine(3, engine)  # before the first event: no watermark yet
    assert value(registry, "churnwatch_watermark_timestamp_seconds", partition="3") is None
    assert value(registry, "churnwatch_events_pending", partition="3") == 0.0

    engine.process(an_order("c1", day(10)))  # within the lateness: buffered
    metrics.observe_engine(3, engine)
    assert value(registry, "churnwatch_events_pending", partition="3") == 1.0
    assert value(registry, "churnwatch_watermark_timestamp_seconds", partition="3") == (
        engine.watermark
    )
    assert value(registry, "churnwatch_deadlines_scheduled", partition="3") == float(
        engine.scheduled_wakes()
    )


# -- partitions, recovery, lag ------------------------------------------------------------------


def test_assignment_creates_and_revocation_removes_partition_series(registry, metrics) -> None:
    engine, decisions = a_busy_engine()
    metrics.assign([0, 1])
    metrics.observe_engine(0, engine, decisions)
    metrics.set_consumer_lag("orders", 0, 12)
    metrics.set_recovery_progress(0, 1.0)
    metrics.set_recovery_complete(True)
    assert value(registry, "churnwatch_partitions_assigned") == 2.0
    assert value(registry, "churnwatch_table_recovery_progress_ratio", partition="1") == 0.0
    assert value(registry, "churnwatch_table_recovery_complete") == 1.0
    assert value(registry, "churnwatch_customers_tracked", status="at_risk") == 1.0

    metrics.assign([1])  # partition 0 moved to another worker

    for name in (
        "churnwatch_watermark_timestamp_seconds",
        "churnwatch_events_pending",
        "churnwatch_deadlines_scheduled",
        "churnwatch_table_recovery_progress_ratio",
    ):
        assert value(registry, name, partition="0") is None, name
    assert (
        value(registry, "churnwatch_consumer_lag_messages", topic="orders", partition="0") is None
    )
    assert value(registry, "churnwatch_customers_tracked", status="at_risk") == 0.0
    assert value(registry, "churnwatch_partitions_assigned") == 1.0
    assert value(registry, "churnwatch_rebalances_completed_total") == 2.0
    assert value(registry, "churnwatch_table_recovery_complete") == 0.0  # recovering again


CHURN_GAUGES = {
    "active_at_start": "churnwatch_customers_active_at_month_start",
    "lost_at_start": "churnwatch_customers_lost_at_month_start",
    "new": "churnwatch_customers_acquired_in_month",
    "lost": "churnwatch_customers_lost_in_month",
    "recovered": "churnwatch_customers_recovered_in_month",
}


def a_ledger_engine(start: float, customers: int) -> Engine:
    """``customers`` who order twice, a month apart, then fall silent until day 200."""
    engine = Engine(POLICY)
    engine.ledger = ChurnLedger(POLICY)
    for n in range(customers):
        engine.process(an_order(f"c{n}", start + n, event_id=f"a{n}"))
    for n in range(customers):
        engine.process(an_order(f"c{n}", start + n + 30 * DAY, event_id=f"b{n}"))
    engine.advance(day(200))
    return engine


def churn_value(registry: CollectorRegistry, measure: str, month: str, segment: str) -> float:
    found = value(registry, CHURN_GAUGES[measure], month=month, segment=segment)
    return -1.0 if found is None else found


def test_churn_rate_gauges_sum_the_partitions_and_follow_them(registry, metrics) -> None:
    first, second = a_ledger_engine(day(0), 3), a_ledger_engine(day(40), 2)
    assert first.ledger is not None and second.ledger is not None
    metrics.assign([0, 1])
    metrics.observe_engine(0, first)
    metrics.observe_engine(1, second)
    expected: Counter[tuple[str, str, str]] = Counter()
    for ledger in (first.ledger, second.ledger):
        for row in ledger.rows():
            for measure in MEASURES:
                expected[row.month, row.segment, measure] += getattr(row, measure)
    assert sum(expected[key] for key in expected if key[2] == "lost") == 5  # all five lapse
    for (month, segment, measure), count in expected.items():
        assert churn_value(registry, measure, month, segment) == count
    # Partition 1 moves away: only partition 0's counts remain.
    metrics.assign([0])
    for row in first.ledger.rows():
        for measure in MEASURES:
            assert churn_value(registry, measure, row.month, row.segment) == getattr(row, measure)
    # Its new owner restores the same ledger from the table and reports the same counts.
    restored = Engine(POLICY)
    restored.restore(list(second.customers.values()), second.watermark)
    restored.ledger = ledger_from_record(ledger_to_record(second.ledger), POLICY)
    metrics.assign([0, 1])
    metrics.observe_engine(1, restored)
    for (month, segment, measure), count in expected.items():
        assert churn_value(registry, measure, month, segment) == count
    # Partition 0 moves away: January, which only it had seen, loses its series.
    metrics.assign([1])
    assert churn_value(registry, "new", "2025-01", "bronze") == -1.0
    assert churn_value(registry, "new", "2025-02", "bronze") == 2.0


def test_recovery_progress_and_lag_are_kept_in_range(registry, metrics) -> None:
    metrics.set_recovery_progress(2, 1.7)
    metrics.set_consumer_lag("calls", 2, -5)
    assert value(registry, "churnwatch_table_recovery_progress_ratio", partition="2") == 1.0
    assert value(registry, "churnwatch_consumer_lag_messages", topic="calls", partition="2") == 0.0


# -- names and documentation ------------------------------------------------------------------


def _families(registry: CollectorRegistry) -> dict[str, str]:
    """Exposed family name -> type (counters carry their ``_total``, info its ``_info``)."""
    names = {}
    for family in registry.collect():
        name = family.name
        if family.type == "counter":
            name += "_total"
        elif family.type == "info":
            name += "_info"
        names[name] = family.type
    return names


def test_names_follow_the_convention(registry, metrics) -> None:
    families = _families(registry)
    assert len(families) >= 18
    for name, kind in families.items():
        assert re.fullmatch(r"churnwatch_[a-z]+(_[a-z]+)+", name), name
        if kind == "counter":
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name
        if kind == "gauge" and name not in UNITLESS_GAUGES:
            assert name.endswith(GAUGE_UNITS), f"{name} has no unit suffix"
        if kind == "info":
            assert name.endswith("_info"), name
    samples = [s.name for family in registry.collect() for s in family.samples]
    assert all(name.startswith("churnwatch_") for name in samples)


def test_exposition_is_prometheus_text(registry, metrics) -> None:
    body, content_type = exposition(registry)
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert "# TYPE churnwatch_events_consumed_total counter" in text
    assert 'churnwatch_decisions_published_total{type="lost"} 0.0' in text


def test_every_metric_is_in_the_operations_reference(registry, metrics) -> None:
    reference = OPERATIONS_DOC.read_text()
    for name in _families(registry):
        assert f"`{name}`" in reference, f"{name} missing from docs/operations.md"


# -- the deploy files use what is exported --------------------------------------------------

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "churnwatch.json"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry can expose, labelled families with no child included."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", ())]


def test_alerts_and_dashboard_use_only_exported_metrics(registry) -> None:
    create_metrics(registry)
    exported = exported_names(registry)
    texts = [(DEPLOY / "prometheus" / "alerts.yml").read_text(), *dashboard_queries()]
    used = {name for text in texts for name in re.findall(r"\b(?:churnwatch|process)_\w+", text)}
    assert used, "no metric found in the deploy files"
    assert used <= exported, f"not exported: {sorted(used - exported)}"


def test_dashboard_shows_what_operators_need() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = " ".join(dashboard_queries())
    for needed in (
        "churnwatch_events_consumed_total",  # throughput
        "churnwatch_consumer_lag_messages",
        "churnwatch_batch_process_duration_seconds_bucket",  # latency
        "churnwatch_decisions_published_total",
        "churnwatch_customers_tracked",
        "churnwatch_events_rejected_total",  # dead letters
        "churnwatch_watermark_timestamp_seconds",
        "churnwatch_customers_active_at_month_start",  # churn and recovery rate by segment
        "churnwatch_customers_lost_at_month_start",
        "churnwatch_customers_acquired_in_month",
        "churnwatch_customers_lost_in_month",
        "churnwatch_customers_recovered_in_month",
    ):
        assert needed in queries, needed
    datasource = (
        DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    ).read_text()
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"] if "datasource" in panel}
    assert uids == {"${datasource}"}  # any Prometheus data source, picked by a variable
    assert "type: prometheus" in datasource
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
