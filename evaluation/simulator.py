"""Deterministic customer-behaviour simulator with ground truth, for ``churnwatch simulate``.

This module owns the synthetic workload Churnwatch is evaluated on. It invents a population of
customers, lets them order, read (or ignore) weekly emails and make or take phone calls, lets
some of them churn for one of five causes, and writes two JSON Lines byte streams:

* the input events (orders, emails, calls) in the public event contract, globally sorted by
  ``occurred_at`` (ties broken by the bytes of the line, so deterministically);
* the ground truth, one line per customer in ``customer_id`` order: whether, when and why the
  customer churned within the simulated period, plus the behavioural parameters drawn for it.

The behaviour model:

* Purchase rhythm: ``irregular`` customers order as a Poisson process whose rate is
  gamma-distributed across customers (the Pareto/NBD purchase model, mean intervals clamped to
  14-120 days); ``regular`` reorderers have gamma-distributed intervals with a mean of 7-60 days
  and a high shape of 8-30 (coefficient of variation 0.18-0.35); ``drifting`` customers have
  gamma intervals (shape 2-5) whose mean lengthens or shortens by 40-110 % (log scale) a year.
* Churn: a constant hazard calibrated by ``annual_churn_probability``, lowered after a resolved
  complaint (``resolved_hazard_ratio``); each churner gets one cause drawn from the cause shares.
  ``habit_lapse`` and ``external`` churners simply stop ordering at ``churned_at``;
  ``service_failure`` churners file an unresolved complaint 2-14 days before leaving;
  ``declining_value`` churners' amounts fall and intervals stretch over their last ~3 intervals;
  ``disengagement`` churners' real email opens and clicks fade over 4-10 weeks (40 % also
  unsubscribe). After churn nobody orders, calls in or really engages with email again; 30 %
  of the mail to a gone ``external`` churner bounces.
* Email: a weekly campaign to every subscribed customer; a ``privacy_proxy_share`` of customers
  sit behind a proxy that "opens" every mail within minutes, even after churn, so opens are weak
  evidence while clicks are real. About 0.4 % of sends bounce.
* Calls: outbound sales calls (answered / missed / voicemail) keep coming after churn; inbound
  inquiries (often followed by an order, rarely so in the two months before churn), support
  calls and other calls stop at churn; complaints as above.
* Customers join over time: ``existing_share`` are already customers at the start, the rest join
  (with their first order) uniformly over the period.

Determinism: every customer draws from its own ``random.Random`` seeded from (seed, customer
index, stream), where stream 0 is its profile and stream ``w + 1`` its events in window ``w``.
Outputs therefore do not depend on processing order or block size: a spec always produces the
same bytes.

Streaming design and memory: all profiles are drawn first (writing the truth) and kept packed in
a flat ``array('d')`` of 21 doubles, plus the two values carried between windows (next renewal
order time, event counter): ~190 bytes per customer. The period is then cut into 28-day windows;
per window, customers are processed in blocks of 16,384, each block's event lines are sorted and
spilled to a run file in a temporary directory (honours ``TMPDIR``), and the window's runs are
merged with ``heapq.merge`` straight into the output. Follow-up events that land in a later
window (a refund, next-day open) are parked in that window's carry file. Peak memory is therefore
~190 B x customers + one block of lines (~30 MB), and temporary disk holds one window of events.
Measured: 100,000 customers x 365 days, see the ``simulate`` docstring.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import IO, NamedTuple

import orjson

CAUSES: tuple[str, ...] = (
    "habit_lapse",
    "service_failure",
    "declining_value",
    "disengagement",
    "external",
)
KINDS: tuple[str, ...] = ("irregular", "regular", "drifting")

_DAY = 86_400.0
_HOUR = 3_600.0
_MINUTE = 60.0
_WEEK = 7 * _DAY
_YEAR = 365 * _DAY
_WINDOW = 28 * _DAY
_BLOCK_CUSTOMERS = 16_384
_MERGE_CHUNK = 65_536
_MASK64 = (1 << 64) - 1

_IRREGULAR, _REGULAR, _DRIFTING = 0, 1, 2
_HABIT_LAPSE, _SERVICE_FAILURE, _DECLINING_VALUE, _DISENGAGEMENT, _EXTERNAL = range(5)
_NO_COMPLAINT, _UNRESOLVED, _RESOLVED_ON_CALL, _RESOLVED_LATER = range(4)
_NO_CAUSE = -1

_CURRENCIES = ("EUR", "GBP", "USD")
_CURRENCY_WEIGHTS = (0.80, 0.12, 0.08)
_SEND_HOUR = 9 * _HOUR  # weekly campaign goes out from 09:00 (start-relative), over 3 hours
_BOUNCE_PROBABILITY = 0.004
_GONE_BOUNCE_PROBABILITY = 0.3  # external churners' mailboxes are often abandoned after leaving
_CANCEL_PROBABILITY = 0.008
_REFUND_PROBABILITY = 0.008
_SALES_CALLS_PER_YEAR = 4.0
_INBOUND_REASONS = ("inquiry", "support", "other")
_INBOUND_WEIGHTS = (2.0, 0.6, 0.4)  # calls per year of each reason, before churn
_BACKGROUND_UNSUBSCRIBES_PER_YEAR = 0.02
_INQUIRY_ORDER_PROBABILITY = 0.55
_CHURNING_INQUIRY_ORDER_PROBABILITY = 0.15
_CHURNING_INQUIRY_HORIZON = 60 * _DAY


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate. Share fields are relative weights within their group (normalised).

    ``customers`` and ``days`` size the run; ``seed`` fixes every random draw; ``start`` (an
    aware UTC datetime) is the first instant of the period. Knobs:

    * ``existing_share``: customers already present at ``start`` (the rest join during it);
    * ``irregular_share`` / ``regular_share`` / ``drifting_share``: purchase-rhythm mixture;
    * ``irregular_r`` / ``irregular_alpha_days``: Pareto/NBD gamma prior of irregular buyers'
      purchase rate (shape r, rate alpha in days; mean rate r / alpha per day);
    * ``annual_churn_probability``: chance an average customer churns within a year of
      observation (the simulated share is lower because late joiners are observed less);
    * ``habit_lapse_share`` ... ``external_share``: cause mixture among churners;
    * ``complaints_per_year`` / ``complaint_resolved_share``: background complaints (any
      customer), and the share of them that gets resolved;
    * ``resolved_hazard_ratio``: churn hazard multiplier after a resolved complaint (< 1: more
      loyal than average);
    * ``privacy_proxy_share``: customers whose mail is machine-opened by a privacy proxy.
    """

    customers: int
    days: int
    seed: int = 42
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    existing_share: float = 0.5
    irregular_share: float = 0.55
    regular_share: float = 0.30
    drifting_share: float = 0.15
    irregular_r: float = 3.0
    irregular_alpha_days: float = 120.0
    annual_churn_probability: float = 0.45
    habit_lapse_share: float = 0.40
    service_failure_share: float = 0.15
    declining_value_share: float = 0.20
    disengagement_share: float = 0.15
    external_share: float = 0.10
    complaints_per_year: float = 0.08
    complaint_resolved_share: float = 0.75
    resolved_hazard_ratio: float = 0.5
    privacy_proxy_share: float = 0.30

    def __post_init__(self) -> None:
        if self.customers < 0 or self.days < 1:
            raise ValueError("customers must be >= 0 and days >= 1")
        if self.customers >= 1 << 40:
            raise ValueError("customers must be < 2**40")
        if self.start.utcoffset() != timedelta(0):
            raise ValueError("start must be an aware UTC datetime")
        for name in ("existing_share", "complaint_resolved_share", "privacy_proxy_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if not 0.0 <= self.annual_churn_probability < 1.0:
            raise ValueError("annual_churn_probability must be within [0, 1)")
        if min(self.irregular_r, self.irregular_alpha_days) <= 0:
            raise ValueError("irregular_r and irregular_alpha_days must be > 0")
        if min(self.complaints_per_year, self.resolved_hazard_ratio) < 0:
            raise ValueError("complaints_per_year and resolved_hazard_ratio must be >= 0")
        _check_weights("kind", self.kind_weights)
        _check_weights("cause", self.cause_weights)

    @property
    def kind_weights(self) -> tuple[float, float, float]:
        """Weights of ``KINDS``, in that order."""
        return (self.irregular_share, self.regular_share, self.drifting_share)

    @property
    def cause_weights(self) -> tuple[float, float, float, float, float]:
        """Weights of ``CAUSES``, in that order."""
        return (
            self.habit_lapse_share,
            self.service_failure_share,
            self.declining_value_share,
            self.disengagement_share,
            self.external_share,
        )


def _check_weights(group: str, weights: tuple[float, ...]) -> None:
    if min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"{group} shares must be >= 0 with a positive sum")


@dataclass(frozen=True)
class SimulationSummary:
    """Counts of what ``simulate`` wrote."""

    customers: int
    events: int
    churned: int
    by_cause: dict[str, int]
    by_kind: dict[str, int] = field(default_factory=dict)
    by_event_type: dict[str, int] = field(default_factory=dict)


def simulate(
    spec: SimulationSpec,
    events_out: IO[bytes],
    truth_out: IO[bytes],
    progress: Callable[[int], None] | None = None,
) -> SimulationSummary:
    """Write the spec's events to ``events_out`` and its ground truth to ``truth_out``.

    Both streams are JSON Lines (bytes). The truth is written completely before the first
    event (that takes ~25 us per customer). ``progress``, if given, is called every 65,536
    events and at the end with the number of events written so far.

    Measured on the 2-core development machine: 100,000 customers x 365 days wrote 7.58
    million events (1.17 GB) in 51 s of CPU (~147,000 events per CPU second, 129,000 per
    wall-clock second) with a peak RSS of 68 MB; 1,000,000 customers x 28 days peaked at 246 MB.
    """
    clock = _Clock(spec)
    population = _Population(spec.customers)
    truth = _draw_population(spec, clock, population, truth_out)
    with tempfile.TemporaryDirectory(prefix="churnwatch-sim-") as workdir:
        writer = _WindowWriter(workdir, clock, events_out, progress)
        try:
            for window in range(clock.windows):
                runs = _spill_window(spec, clock, population, window, writer)
                writer.merge_window(window, runs)
        finally:
            writer.close()
        writer.report_progress()
    return SimulationSummary(
        customers=spec.customers,
        events=writer.written,
        churned=sum(truth.by_cause.values()),
        by_cause={cause: truth.by_cause[cause] for cause in CAUSES},
        by_kind={kind: truth.by_kind[kind] for kind in KINDS},
        by_event_type=dict(sorted(population.event_types.items())),
    )


# --------------------------------------------------------------------------------------------
# Time


class _Clock:
    """Period bounds in epoch seconds, window arithmetic and fast RFC 3339 formatting."""

    def __init__(self, spec: SimulationSpec) -> None:
        # whole seconds, so that window bounds and second-precision timestamps agree
        self.start = float(math.floor(spec.start.timestamp()))
        self.end = self.start + spec.days * _DAY
        self.windows = math.ceil(spec.days * _DAY / _WINDOW)
        self._day_prefix: dict[int, str] = {}
        self._time_of_day = [
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86_400)
        ]

    def window_bounds(self, window: int) -> tuple[float, float]:
        return self.start + window * _WINDOW, min(self.end, self.start + (window + 1) * _WINDOW)

    def window_of(self, seconds: int) -> int:
        return int((seconds - self.start) // _WINDOW)

    def format(self, seconds: int) -> str:
        day = seconds // 86_400
        prefix = self._day_prefix.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
            self._day_prefix[day] = prefix
        return prefix + self._time_of_day[seconds - day * 86_400]

    def format_or_none(self, seconds: float) -> str | None:
        return None if math.isinf(seconds) else self.format(int(seconds))


# --------------------------------------------------------------------------------------------
# Customer profiles: everything drawn once per customer, including its whole churn story


class _Profile(NamedTuple):
    """One customer's static parameters; times are epoch seconds, ``inf`` meaning never."""

    joined_at: float
    active_from: float  # max(joined_at, period start)
    kind: float
    mean_interval: float  # seconds, at active_from
    shape: float  # gamma shape of the intervals (1 = Poisson)
    drift: float  # log change of the mean interval per second
    basket: float  # mean order amount
    amount_sigma: float
    currency: float
    open_propensity: float
    click_propensity: float
    proxy: float  # 1.0 when a privacy proxy machine-opens every mail
    call_activity: float  # multiplier of the call rates
    complaint_at: float
    complaint_resolution: float
    resolution_at: float
    churn_at: float
    cause: float
    decline_span: float  # declining_value: seconds over which value falls before churn
    fade_span: float  # disengagement: seconds over which email engagement fades
    unsubscribed_at: float


_PROFILE_FIELDS = len(_Profile._fields)


class _Population:
    """Packed profiles plus the per-customer state carried from one window to the next."""

    def __init__(self, customers: int) -> None:
        self._id_width = max(7, len(str(customers - 1)))
        self.profiles = array("d", bytes(8 * _PROFILE_FIELDS * customers))
        self.joined_at = array("d", bytes(8 * customers))
        self.next_order_at = array("d", bytes(8 * customers))
        self.event_counter = array("Q", bytes(8 * customers))
        self.event_types: Counter[str] = Counter()

    def store(self, index: int, profile: _Profile, first_order_at: float) -> None:
        offset = index * _PROFILE_FIELDS
        self.profiles[offset : offset + _PROFILE_FIELDS] = array("d", profile)
        self.joined_at[index] = profile.joined_at
        self.next_order_at[index] = first_order_at

    def customer_id(self, index: int) -> str:
        """Zero-padded so that string order is index order."""
        return f"c{index:0{self._id_width}d}"

    def load(self, index: int) -> _Profile:
        offset = index * _PROFILE_FIELDS
        return _Profile._make(self.profiles[offset : offset + _PROFILE_FIELDS])


@dataclass
class _TruthTally:
    by_cause: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)


def _draw_population(
    spec: SimulationSpec, clock: _Clock, population: _Population, truth_out: IO[bytes]
) -> _TruthTally:
    tally = _TruthTally()
    for index in range(spec.customers):
        rng = random.Random(_stream_seed(spec.seed, index, 0))
        profile = _draw_profile(spec, clock, rng)
        population.store(index, profile, _draw_first_order_at(profile, clock, rng))
        # written at once: orjson's over-allocated buffers fragment the heap if kept alive
        truth_out.write(_truth_line(population.customer_id(index), profile, clock, spec))
        tally.by_kind[KINDS[int(profile.kind)]] += 1
        if profile.cause != _NO_CAUSE:
            tally.by_cause[CAUSES[int(profile.cause)]] += 1
    return tally


def _stream_seed(seed: int, index: int, stream: int) -> int:
    return ((seed & _MASK64) << 64) | (index << 20) | stream


class _ChurnStory(NamedTuple):
    complaint_at: float
    complaint_resolution: int
    resolution_at: float
    churn_at: float  # inf when the customer does not churn within the period
    cause: int


def _draw_profile(spec: SimulationSpec, clock: _Clock, rng: random.Random) -> _Profile:
    joined_at, active_from = _draw_joining(spec, clock, rng)
    kind = _pick(rng, spec.kind_weights)
    mean_interval, shape, drift = _draw_rhythm(spec, kind, rng)
    story = _draw_churn_story(spec, active_from, clock.end, rng)
    decline_span = _DAY * min(150.0, max(21.0, 3 * mean_interval / _DAY))
    fade_span = rng.uniform(4, 10) * _WEEK
    return _Profile(
        joined_at=joined_at,
        active_from=active_from,
        kind=kind,
        mean_interval=mean_interval,
        shape=shape,
        drift=drift,
        basket=rng.lognormvariate(math.log(35.0), 0.6),
        amount_sigma=0.12 if kind == _REGULAR else 0.35,
        currency=_pick(rng, _CURRENCY_WEIGHTS),
        open_propensity=rng.betavariate(2.0, 3.0),
        click_propensity=rng.betavariate(1.5, 6.0),
        proxy=float(rng.random() < spec.privacy_proxy_share),
        call_activity=rng.lognormvariate(0.0, 0.5),
        complaint_at=story.complaint_at,
        complaint_resolution=story.complaint_resolution,
        resolution_at=story.resolution_at,
        churn_at=story.churn_at,
        cause=story.cause,
        decline_span=decline_span if story.cause == _DECLINING_VALUE else 0.0,
        fade_span=fade_span if story.cause == _DISENGAGEMENT else 0.0,
        unsubscribed_at=_draw_unsubscribed_at(story, active_from, fade_span, clock, rng),
    )


def _draw_churn_story(
    spec: SimulationSpec, active_from: float, end: float, rng: random.Random
) -> _ChurnStory:
    """Complaint, churn time and cause; a service failure replaces any other complaint."""
    complaint_at, resolution, resolution_at = _draw_background_complaint(
        spec, active_from, end, rng
    )
    resolved_at = resolution_at if resolution != _UNRESOLVED else math.inf
    churn_at = _draw_churn_at(spec, active_from, resolved_at, rng)
    if churn_at >= end:
        return _ChurnStory(complaint_at, resolution, resolution_at, math.inf, _NO_CAUSE)
    cause = _pick(rng, spec.cause_weights)
    if cause == _SERVICE_FAILURE:
        complaint_at = _before(churn_at, rng.uniform(2, 14) * _DAY, active_from, rng)
        return _ChurnStory(complaint_at, _UNRESOLVED, math.inf, churn_at, cause)
    if complaint_at >= churn_at:
        return _ChurnStory(math.inf, _NO_COMPLAINT, math.inf, churn_at, cause)
    return _ChurnStory(complaint_at, resolution, resolution_at, churn_at, cause)


def _pick(rng: random.Random, weights: Sequence[float]) -> int:
    """Index drawn with probability proportional to its weight."""
    threshold = rng.random() * sum(weights)
    for choice, weight in enumerate(weights):
        threshold -= weight
        if threshold < 0:
            return choice
    return max(i for i, weight in enumerate(weights) if weight > 0)


def _draw_joining(spec: SimulationSpec, clock: _Clock, rng: random.Random) -> tuple[float, float]:
    if rng.random() < spec.existing_share:
        joined_at = clock.start - rng.uniform(30, 3 * 365) * _DAY
        return joined_at, clock.start
    joined_at = rng.uniform(clock.start, clock.end)
    return joined_at, joined_at


def _draw_rhythm(spec: SimulationSpec, kind: int, rng: random.Random) -> tuple[float, float, float]:
    """Mean interval (seconds), gamma shape and drift (log change per second) for a kind."""
    if kind == _IRREGULAR:
        rate_per_day = rng.gammavariate(spec.irregular_r, 1.0 / spec.irregular_alpha_days)
        mean_days = min(120.0, max(14.0, 1.0 / max(rate_per_day, 1e-9)))
        return mean_days * _DAY, 1.0, 0.0
    if kind == _REGULAR:
        mean_days = math.exp(rng.uniform(math.log(7.0), math.log(60.0)))
        return mean_days * _DAY, rng.uniform(8.0, 30.0), 0.0
    mean_days = math.exp(rng.uniform(math.log(14.0), math.log(60.0)))
    drift_per_year = rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 1.1)
    return mean_days * _DAY, rng.uniform(2.0, 5.0), drift_per_year / _YEAR


def _draw_background_complaint(
    spec: SimulationSpec, active_from: float, end: float, rng: random.Random
) -> tuple[float, int, float]:
    """(complaint time, resolution code, resolution time) of a complaint any customer may file."""
    exposure_years = (end - active_from) / _YEAR
    if rng.random() >= 1.0 - math.exp(-spec.complaints_per_year * exposure_years):
        return math.inf, _NO_COMPLAINT, math.inf
    complaint_at = rng.uniform(active_from, end)
    if rng.random() >= spec.complaint_resolved_share:
        return complaint_at, _UNRESOLVED, math.inf
    if rng.random() < 0.6:
        return complaint_at, _RESOLVED_ON_CALL, complaint_at
    return complaint_at, _RESOLVED_LATER, complaint_at + rng.uniform(1, 7) * _DAY


def _draw_churn_at(
    spec: SimulationSpec, active_from: float, resolved_at: float, rng: random.Random
) -> float:
    """Churn time under a constant hazard, multiplied by the resolved ratio after resolution."""
    if spec.annual_churn_probability <= 0:
        return math.inf
    hazard = _churn_hazard_per_second(spec)
    budget = rng.expovariate(1.0)
    spent_before_resolution = hazard * (resolved_at - active_from)
    if budget <= spent_before_resolution:
        return active_from + budget / hazard
    if spec.resolved_hazard_ratio <= 0:
        return math.inf
    return resolved_at + (budget - spent_before_resolution) / (hazard * spec.resolved_hazard_ratio)


def _churn_hazard_per_second(spec: SimulationSpec) -> float:
    """The constant hazard under which an average customer churns within a year with
    probability ``annual_churn_probability``."""
    return -math.log1p(-spec.annual_churn_probability) / _YEAR


def _draw_unsubscribed_at(
    story: _ChurnStory, active_from: float, fade_span: float, clock: _Clock, rng: random.Random
) -> float:
    unsubscribed_at = math.inf
    exposure_years = (clock.end - active_from) / _YEAR
    if rng.random() < 1.0 - math.exp(-_BACKGROUND_UNSUBSCRIBES_PER_YEAR * exposure_years):
        unsubscribed_at = rng.uniform(active_from, clock.end)
    if story.cause == _DISENGAGEMENT and rng.random() < 0.4:
        lead = rng.uniform(0.0, 0.5) * fade_span
        unsubscribed_at = _before(story.churn_at, lead, active_from, rng)
    elif story.cause != _NO_CAUSE and rng.random() < 0.1:
        unsubscribed_at = min(unsubscribed_at, story.churn_at + rng.uniform(7, 60) * _DAY)
    return unsubscribed_at if unsubscribed_at < clock.end else math.inf


def _before(at: float, lead: float, not_before: float, rng: random.Random) -> float:
    """``lead`` seconds before ``at``, or somewhere in between when that is too early."""
    if at - lead >= not_before:
        return at - lead
    return rng.uniform(not_before, at)


def _draw_first_order_at(profile: _Profile, clock: _Clock, rng: random.Random) -> float:
    if profile.joined_at >= clock.start:
        return profile.joined_at  # a new customer joins by placing an order
    # an existing customer is somewhere inside its current interval when the period opens
    return clock.start + rng.random() * _draw_interval(profile, clock.start, rng)


def _truth_line(customer_id: str, profile: _Profile, clock: _Clock, spec: SimulationSpec) -> bytes:
    churned = profile.cause != _NO_CAUSE
    resolution = int(profile.complaint_resolution)
    record = {
        "customer_id": customer_id,
        "churned": churned,
        "churned_at": clock.format_or_none(profile.churn_at),
        "cause": CAUSES[int(profile.cause)] if churned else None,
        "joined_at": clock.format(int(profile.joined_at)),
        "kind": KINDS[int(profile.kind)],
        "mean_interval_days": round(profile.mean_interval / _DAY, 3),
        "regularity_shape": round(profile.shape, 3),
        "interval_cv": round(1.0 / math.sqrt(profile.shape), 4),
        "drift_per_year": round(profile.drift * _YEAR, 4),
        "mean_amount": round(profile.basket, 2),
        "currency": _CURRENCIES[int(profile.currency)],
        "open_propensity": round(profile.open_propensity, 4),
        "click_propensity": round(profile.click_propensity, 4),
        "privacy_proxy": bool(profile.proxy),
        "complaint_at": clock.format_or_none(profile.complaint_at),
        "complaint_resolved": None if resolution == _NO_COMPLAINT else resolution != _UNRESOLVED,
        "unsubscribed_at": clock.format_or_none(profile.unsubscribed_at),
        # What the oracle of ``evaluation.oracle`` needs besides the rhythm above: the churn
        # hazard (and its change after a resolved complaint) and the instant the drift and the
        # hazard are measured from.
        "observed_from": clock.format(int(profile.active_from)),
        "churn_hazard_per_year": round(_churn_hazard_per_second(spec) * _YEAR, 6),
        "hazard_ratio_after_resolution": spec.resolved_hazard_ratio,
        "complaint_resolved_at": clock.format_or_none(_resolved_at(profile)),
    }
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def _resolved_at(profile: _Profile) -> float:
    """When the customer's complaint was resolved (``inf``: no complaint, or unresolved)."""
    if int(profile.complaint_resolution) in (_RESOLVED_ON_CALL, _RESOLVED_LATER):
        return profile.resolution_at
    return math.inf


# --------------------------------------------------------------------------------------------
# Behaviour over time: pure functions of a profile and an instant


def _draw_interval(profile: _Profile, at: float, rng: random.Random) -> float:
    mean = profile.mean_interval * _decline_stretch(profile, at)
    if profile.drift:
        mean *= math.exp(profile.drift * (at - profile.active_from))
    if profile.shape == 1.0:
        return rng.expovariate(1.0 / mean)
    return rng.gammavariate(profile.shape, mean / profile.shape)


def _decline_progress(profile: _Profile, at: float) -> float:
    """0 until the decline starts, rising to 1 at churn (declining_value churners only)."""
    if not profile.decline_span:
        return 0.0
    into = at - (profile.churn_at - profile.decline_span)
    return min(1.0, max(0.0, into / profile.decline_span))


def _decline_stretch(profile: _Profile, at: float) -> float:
    return 1.0 + _decline_progress(profile, at)  # intervals up to twice as long


def _engagement(profile: _Profile, at: float) -> float:
    """Multiplier of real opens and clicks: 1 normally, fading to 0 for disengagement."""
    if at >= profile.churn_at:
        return 0.0
    if profile.fade_span and at > profile.churn_at - profile.fade_span:
        return (profile.churn_at - at) / profile.fade_span
    return 1.0


# --------------------------------------------------------------------------------------------
# Events of one customer in one window. Lines are rendered by hand rather than with orjson:
# every value is a fixed ASCII token, an id built from such tokens or a number, so nothing
# needs escaping, and skipping the dict and the encoder halves the cost of an event.


def _email_body(action: str, campaign_id: str | None) -> str:
    if campaign_id is None:
        return f'"action":"{action}"'
    return f'"action":"{action}","campaign_id":"{campaign_id}"'


def _call_body(direction: str, outcome: str, reason: str, resolved: bool | None = None) -> str:
    body = f'"direction":"{direction}","outcome":"{outcome}","reason":"{reason}"'
    if resolved is None:
        return body
    return body + (',"resolved":true' if resolved else ',"resolved":false')


def _order_body(order_id: str, amount: float, currency: str, status: str | None = None) -> str:
    body = f'"order_id":"{order_id}","amount":{amount:.2f},"currency":"{currency}"'
    return body if status is None else f'{body},"status":"{status}"'


class _Emitter:
    """Renders one customer's events as JSON lines: before the window end, or later ones."""

    __slots__ = (
        "clock",
        "counter",
        "customer_id",
        "event_types",
        "later",
        "now",
        "period_end",
        "window_end",
    )

    def __init__(
        self,
        clock: _Clock,
        window_end: float,
        now: list[bytes],
        later: list[tuple[int, bytes]],
        event_types: Counter[str],
    ) -> None:
        self.clock = clock
        self.window_end = window_end
        self.period_end = clock.end
        self.now = now
        self.later = later
        self.event_types = event_types
        self.customer_id = ""
        self.counter = 0

    def next_order_id(self) -> str:
        """Order id named after the event about to be emitted, so unique per customer."""
        return f"{self.customer_id}-o{self.counter + 1}"

    def emit(self, at: float, event_type: str, body: str) -> bool:
        """Render one event; False when it falls past the period and is dropped."""
        if at >= self.period_end:
            return False
        seconds = int(at)
        self.counter = counter = self.counter + 1
        customer_id = self.customer_id
        # occurred_at first: a line's bytes then sort by time, which the merge relies on
        line = (
            f'{{"occurred_at":"{self.clock.format(seconds)}","event_type":"{event_type}",'
            f'"event_id":"{customer_id}-{counter}","customer_id":"{customer_id}",{body}}}\n'
        ).encode()
        if at < self.window_end:
            self.now.append(line)
        else:
            self.later.append((seconds, line))
        self.event_types[event_type] += 1
        return True


@dataclass(slots=True)
class _Window:
    """One customer inside one window: its profile, stream, emitter and active span."""

    profile: _Profile
    rng: random.Random
    out: _Emitter
    start: float  # max(window start, active_from)
    end: float  # window end (exclusive)


def _customer_window(window: _Window, next_order_at: float) -> float:
    """Emit one customer's events triggered inside the window; return its next order time."""
    next_order_at = _emit_renewal_orders(window, next_order_at)
    _emit_emails(window)
    _emit_sales_calls(window)
    _emit_inbound_calls(window)
    _emit_complaint(window)
    return next_order_at


def _emit_renewal_orders(window: _Window, next_order_at: float) -> float:
    profile, rng = window.profile, window.rng
    while next_order_at < window.end:
        if next_order_at >= profile.churn_at:
            return math.inf
        _emit_order(window, next_order_at)
        next_order_at += _draw_interval(profile, next_order_at, rng)
    return next_order_at


def _emit_order(window: _Window, at: float) -> None:
    profile, rng, out = window.profile, window.rng, window.out
    value = 1.0 - 0.6 * _decline_progress(profile, at)
    noise = rng.lognormvariate(-(profile.amount_sigma**2) / 2, profile.amount_sigma)
    order_id = out.next_order_id()
    amount = round(profile.basket * value * noise, 2)
    currency = _CURRENCIES[int(profile.currency)]
    if not out.emit(at, "order", _order_body(order_id, amount, currency)):
        return
    draw = rng.random()
    if draw < _CANCEL_PROBABILITY:
        cancelled_at = at + rng.uniform(10 * _MINUTE, 6 * _HOUR)
        out.emit(cancelled_at, "order", _order_body(order_id, amount, currency, "cancelled"))
    elif draw < _CANCEL_PROBABILITY + _REFUND_PROBABILITY:
        refunded_at = at + rng.uniform(2, 14) * _DAY
        out.emit(refunded_at, "order", _order_body(order_id, amount, currency, "refunded"))


def _emit_emails(window: _Window) -> None:
    profile, clock = window.profile, window.out.clock
    first_send = max(window.start, profile.joined_at)
    week = max(0, math.ceil((first_send - clock.start - _SEND_HOUR) / _WEEK))
    while True:
        campaign_at = clock.start + week * _WEEK + _SEND_HOUR
        if campaign_at >= window.end or campaign_at >= profile.unsubscribed_at:
            break
        _emit_campaign_mail(window, campaign_at, f"cmp-{week:03d}")
        week += 1
    if window.start <= profile.unsubscribed_at < window.end:
        _emit_unsubscribe(window, profile.unsubscribed_at)


def _emit_campaign_mail(window: _Window, campaign_at: float, campaign_id: str) -> None:
    profile, rng, out = window.profile, window.rng, window.out
    sent_at = campaign_at + rng.uniform(0.0, 3 * _HOUR)
    out.emit(sent_at, "email", _email_body("sent", campaign_id))
    if rng.random() < _bounce_probability(profile, sent_at):
        bounced_at = sent_at + rng.uniform(1, 30) * _MINUTE
        out.emit(bounced_at, "email", _email_body("bounced", campaign_id))
        return
    if profile.proxy:
        proxy_open_at = sent_at + rng.uniform(0.5, 10) * _MINUTE
        out.emit(proxy_open_at, "email", _email_body("opened", campaign_id))
    engagement = _engagement(profile, sent_at)
    if not engagement or rng.random() >= profile.open_propensity * engagement:
        return
    # behind a proxy the real open is invisible, but a click still shows
    opened_at = sent_at + min(rng.expovariate(1.0 / (8 * _HOUR)), 5 * _DAY)
    if opened_at >= profile.churn_at:
        return
    if not profile.proxy:
        out.emit(opened_at, "email", _email_body("opened", campaign_id))
    if rng.random() < profile.click_propensity * engagement:
        clicked_at = opened_at + rng.uniform(5.0, 15 * _MINUTE)
        if clicked_at < profile.churn_at:
            out.emit(clicked_at, "email", _email_body("clicked", campaign_id))


def _bounce_probability(profile: _Profile, at: float) -> float:
    if profile.cause == _EXTERNAL and at >= profile.churn_at:
        return _GONE_BOUNCE_PROBABILITY
    return _BOUNCE_PROBABILITY


def _emit_unsubscribe(window: _Window, at: float) -> None:
    clock = window.out.clock
    campaign_id = None
    week = math.floor((at - clock.start - _SEND_HOUR) / _WEEK)
    if week >= 0 and clock.start + week * _WEEK + _SEND_HOUR >= window.profile.joined_at:
        campaign_id = f"cmp-{week:03d}"
    window.out.emit(at, "email", _email_body("unsubscribed", campaign_id))


def _poisson_times(
    rng: random.Random, per_year: float, start: float, end: float
) -> Iterator[float]:
    if per_year <= 0:
        return
    rate = per_year / _YEAR
    at = start + rng.expovariate(rate)
    while at < end:
        yield at
        at += rng.expovariate(rate)


def _in_business_hours(at: float, lo: float, hi: float, rng: random.Random) -> float:
    """Move a call to 08:00-18:00 UTC of its day, unless that leaves [lo, hi)."""
    moved = at - at % _DAY + 8 * _HOUR + rng.uniform(0.0, 10 * _HOUR)
    return moved if lo <= moved < hi else at


def _pick_outcome(rng: random.Random, answered: float, missed: float) -> str:
    draw = rng.random()
    if draw < answered:
        return "answered"
    return "missed" if draw < answered + missed else "voicemail"


def _emit_sales_calls(window: _Window) -> None:
    profile, rng = window.profile, window.rng
    per_year = _SALES_CALLS_PER_YEAR * profile.call_activity
    for at in _poisson_times(rng, per_year, window.start, window.end):
        called_at = _in_business_hours(at, window.start, window.end, rng)
        answered = 0.45 if called_at < profile.churn_at else 0.30
        outcome = _pick_outcome(rng, answered, missed=0.35)
        window.out.emit(called_at, "call", _call_body("outbound", outcome, "sales"))


def _emit_inbound_calls(window: _Window) -> None:
    """Inquiries, support and other calls from a customer who has not churned yet."""
    profile, rng = window.profile, window.rng
    end = min(window.end, profile.churn_at)
    per_year = sum(_INBOUND_WEIGHTS) * profile.call_activity
    for at in _poisson_times(rng, per_year, window.start, end):
        called_at = _in_business_hours(at, window.start, end, rng)
        outcome = _pick_outcome(rng, answered=0.90, missed=0.07)
        reason = _INBOUND_REASONS[_pick(rng, _INBOUND_WEIGHTS)]
        resolved = rng.random() < 0.85 if reason == "support" else None
        window.out.emit(called_at, "call", _call_body("inbound", outcome, reason, resolved))
        if reason == "inquiry":
            _maybe_order_after_inquiry(window, called_at)


def _maybe_order_after_inquiry(window: _Window, called_at: float) -> None:
    profile, rng = window.profile, window.rng
    churning_soon = profile.churn_at - called_at < _CHURNING_INQUIRY_HORIZON
    chance = _CHURNING_INQUIRY_ORDER_PROBABILITY if churning_soon else _INQUIRY_ORDER_PROBABILITY
    if rng.random() < chance:
        ordered_at = called_at + rng.uniform(0.5 * _HOUR, 48 * _HOUR)
        if ordered_at < profile.churn_at:
            _emit_order(window, ordered_at)


def _emit_complaint(window: _Window) -> None:
    profile, rng, out = window.profile, window.rng, window.out
    if not window.start <= profile.complaint_at < window.end:
        return
    resolution = int(profile.complaint_resolution)
    resolved: bool | None = None  # an unresolved complaint may also just omit the field
    if resolution == _RESOLVED_ON_CALL:
        resolved = True
    elif resolution == _RESOLVED_LATER or rng.random() < 0.5:
        resolved = False
    out.emit(profile.complaint_at, "call", _call_body("inbound", "answered", "complaint", resolved))
    if resolution == _RESOLVED_LATER:
        follow_up = _call_body("outbound", "answered", "support", resolved=True)
        out.emit(profile.resolution_at, "call", follow_up)
    elif profile.cause == _SERVICE_FAILURE and rng.random() < 0.4:
        _emit_repeat_complaint(window)


def _emit_repeat_complaint(window: _Window) -> None:
    """An angry customer calls again before leaving and nobody picks up."""
    profile, rng = window.profile, window.rng
    again_at = profile.complaint_at + rng.uniform(1, 4) * _DAY
    if again_at < profile.churn_at:
        outcome = "missed" if rng.random() < 0.6 else "voicemail"
        window.out.emit(again_at, "call", _call_body("inbound", outcome, "complaint"))


# --------------------------------------------------------------------------------------------
# Windows, runs and the merge


def _spill_window(
    spec: SimulationSpec,
    clock: _Clock,
    population: _Population,
    window: int,
    writer: _WindowWriter,
) -> list[str]:
    """Generate every customer's events of one window into sorted run files."""
    runs = []
    for block_start in range(0, spec.customers, _BLOCK_CUSTOMERS):
        block = range(block_start, min(spec.customers, block_start + _BLOCK_CUSTOMERS))
        now: list[bytes] = []
        later: list[tuple[int, bytes]] = []
        _generate_block(spec, clock, population, window, block, now, later)
        now.sort()
        runs.append(writer.write_run(now))
        writer.park(later)
    return runs


def _generate_block(
    spec: SimulationSpec,
    clock: _Clock,
    population: _Population,
    window: int,
    block: range,
    now: list[bytes],
    later: list[tuple[int, bytes]],
) -> None:
    window_start, window_end = clock.window_bounds(window)
    out = _Emitter(clock, window_end, now, later, population.event_types)
    joined_at, next_order_at, counters = (
        population.joined_at,
        population.next_order_at,
        population.event_counter,
    )
    for index in block:
        if joined_at[index] >= window_end:
            continue
        profile = population.load(index)
        out.customer_id = population.customer_id(index)
        out.counter = counters[index]
        rng = random.Random(_stream_seed(spec.seed, index, window + 1))
        customer = _Window(profile, rng, out, max(window_start, profile.active_from), window_end)
        next_order_at[index] = _customer_window(customer, next_order_at[index])
        counters[index] = out.counter


class _WindowWriter:
    """Owns the temporary run and carry files and the merged output stream."""

    def __init__(
        self,
        workdir: str,
        clock: _Clock,
        out: IO[bytes],
        progress: Callable[[int], None] | None,
    ) -> None:
        self.written = 0
        self._workdir = workdir
        self._clock = clock
        self._out = out
        self._progress = progress
        self._runs = 0
        self._parked: dict[int, IO[bytes]] = {}

    def write_run(self, lines: list[bytes]) -> str:
        self._runs += 1
        path = os.path.join(self._workdir, f"run-{self._runs}")
        with open(path, "wb") as run:
            run.writelines(lines)
        return path

    def park(self, later: list[tuple[int, bytes]]) -> None:
        """Keep lines that belong to a later window in that window's carry file."""
        for seconds, line in later:
            window = self._clock.window_of(seconds)
            carry = self._parked.get(window)
            if carry is None:
                carry = open(os.path.join(self._workdir, f"carry-{window}"), "wb")  # noqa: SIM115
                self._parked[window] = carry
            carry.write(line)

    def merge_window(self, window: int, runs: list[str]) -> None:
        parked = self._take_parked(window)
        files = [open(path, "rb") for path in runs]  # noqa: SIM115
        try:
            self._write_merged(heapq.merge(parked, *files))
        finally:
            for run in files:
                run.close()
            for path in runs:
                os.remove(path)

    def report_progress(self) -> None:
        if self._progress is not None:
            self._progress(self.written)

    def close(self) -> None:
        for carry in self._parked.values():
            carry.close()
        self._parked.clear()

    def _take_parked(self, window: int) -> list[bytes]:
        carry = self._parked.pop(window, None)
        if carry is None:
            return []
        carry.close()
        with open(carry.name, "rb") as parked:
            lines = parked.readlines()
        os.remove(carry.name)
        lines.sort()
        return lines

    def _write_merged(self, lines: Iterator[bytes]) -> None:
        while chunk := list(islice(lines, _MERGE_CHUNK)):
            self._out.writelines(chunk)
            self.written += len(chunk)
            self.report_progress()
