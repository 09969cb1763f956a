"""What ``churnwatch evaluate`` reads besides the engine's output: truth and order times.

* :func:`read_truth` parses the simulator's ground truth (one JSON line per customer) into the
  few fields the evaluation needs (and, when the line carries them, the parameters the oracle
  needs: :class:`TrueRhythm`).
* :class:`OrderTap` wraps the events file while :func:`streams.replay.replay` reads it, and
  notes every placed order on the way: the times before the cutoff (the calibration period of
  the baselines) and those within the horizon after it. The file is read once.

Unusable input raises :class:`InputError` naming the file and line; the command turns it into
a usage error (exit 2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

import orjson

from models.events import OrderRecorded
from models.parse import parse_event, parse_time_argument

DAY = 86_400.0


class InputError(ValueError):
    """The truth or events cannot be evaluated; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class TruthRecord:
    """One customer's ground truth: when (if ever) and why they churned, and their rhythm."""

    customer_id: str
    churned_at: float  # epoch seconds; inf when the customer did not churn in the period
    cause: str | None
    mean_interval_days: float
    kind: str | None = None
    rhythm: TrueRhythm | None = None  # absent from truth files older than the oracle


@dataclass(frozen=True, slots=True)
class TrueRhythm:
    """The simulator's parameters of one customer that the oracle (``evaluation.oracle``)
    computes the posterior of having churned from. Times are epoch seconds."""

    shape: float  # gamma shape of the inter-order intervals (1: exponential)
    drift_per_year: float  # log change of the mean interval per year since ``observed_from``
    observed_from: float  # when the hazard starts and the drift is measured from
    hazard_per_year: float  # constant churn hazard
    hazard_ratio_after_resolution: float  # the hazard's multiplier from ``resolved_at`` on
    resolved_at: float  # inf: no resolved complaint


def read_truth(lines: Iterable[bytes], name: str = "truth") -> dict[str, TruthRecord]:
    """Ground truth by customer id, from JSON lines in the simulator's truth format."""
    truth: dict[str, TruthRecord] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = _truth_record(orjson.loads(line))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{name} line {number}: not a truth record ({exc})") from None
        truth[record.customer_id] = record
    return truth


def _truth_record(obj: dict[str, object]) -> TruthRecord:
    customer_id = obj["customer_id"]
    if not isinstance(customer_id, str):
        raise TypeError("customer_id must be a string")
    churned_at = math.inf
    if obj.get("churned"):
        when = obj["churned_at"]
        if not isinstance(when, str):
            raise TypeError("a churned customer needs churned_at")
        churned_at = parse_time_argument(when)
    interval = obj["mean_interval_days"]
    if not isinstance(interval, int | float) or not interval > 0:
        raise ValueError("mean_interval_days must be a positive number")
    cause = obj.get("cause")
    kind = obj.get("kind")
    return TruthRecord(
        customer_id=customer_id,
        churned_at=churned_at,
        cause=cause if isinstance(cause, str) else None,
        mean_interval_days=float(interval),
        kind=kind if isinstance(kind, str) else None,
        rhythm=_true_rhythm(obj),
    )


def _true_rhythm(obj: dict[str, object]) -> TrueRhythm | None:
    """The oracle's parameters, or None when the line lacks any of them."""
    names = ("regularity_shape", "drift_per_year", "churn_hazard_per_year")
    numbers = [obj.get(name) for name in (*names, "hazard_ratio_after_resolution")]
    observed_from = obj.get("observed_from")
    if not all(isinstance(n, int | float) for n in numbers) or not isinstance(observed_from, str):
        return None
    shape, drift, hazard, ratio = (float(n) for n in numbers)  # type: ignore[arg-type]
    if not shape > 0 or hazard < 0 or ratio < 0:
        raise ValueError("regularity_shape must be > 0, the hazard and its ratio >= 0")
    resolved = obj.get("complaint_resolved_at")
    return TrueRhythm(
        shape=shape,
        drift_per_year=drift,
        observed_from=parse_time_argument(observed_from),
        hazard_per_year=hazard,
        hazard_ratio_after_resolution=ratio,
        resolved_at=parse_time_argument(resolved) if isinstance(resolved, str) else math.inf,
    )


@dataclass
class OrderLog:
    """Placed orders seen in the events file, split at the cutoff."""

    cutoff: float
    horizon_end: float
    before: dict[str, list[float]] = field(default_factory=dict)  # order times <= cutoff
    in_horizon: set[str] = field(default_factory=set)  # ordered in (cutoff, horizon_end]
    # order times in (cutoff, horizon_end]: whether a decision was followed by an order
    after: dict[str, list[float]] = field(default_factory=dict)
    # spend placed in (cutoff, horizon_end] per customer: what their value predicted
    spend_after: dict[str, float] = field(default_factory=dict)
    newest_order_at: float = -math.inf  # newest order time in the file (any status)
    oldest_order_at: float = math.inf  # oldest order time in the file (any status)

    def note(self, order: OrderRecorded) -> None:
        """Record one order event (cancellations and refunds are not purchases)."""
        at = order.at
        if at > self.newest_order_at:
            self.newest_order_at = at
        if at < self.oldest_order_at:
            self.oldest_order_at = at
        if order.status != "placed":
            return
        if at <= self.cutoff:
            times = self.before.get(order.customer_id)
            if times is None:
                self.before[order.customer_id] = [at]
            else:
                times.append(at)
        elif at <= self.horizon_end:
            self.in_horizon.add(order.customer_id)
            spent = self.spend_after.get(order.customer_id, 0.0)
            self.spend_after[order.customer_id] = spent + order.amount
            later = self.after.get(order.customer_id)
            if later is None:
                self.after[order.customer_id] = [at]
            else:
                later.append(at)

    def sorted_before(self) -> dict[str, list[float]]:
        """Order times before the cutoff, each customer's in time order."""
        for times in self.before.values():
            times.sort()
        return self.before


class OrderTap:
    """A binary line iterator over ``handle`` that notes every order into ``log``.

    It offers what :func:`streams.replay.replay` and :class:`streams.progress.Progress` use
    of a file (iteration, ``tell``, ``fileno``). Only lines that can be orders are parsed a
    second time: an order always carries ``order_id``, no other event does.
    """

    def __init__(self, handle: IO[bytes], log: OrderLog) -> None:
        self._handle = handle
        self._log = log

    def __iter__(self) -> Iterator[bytes]:
        note = self._log.note
        for line in self._handle:
            if b"order_id" in line:
                event = parse_event(line)
                if type(event) is OrderRecorded:
                    note(event)
            yield line

    def tell(self) -> int:
        return self._handle.tell()

    def fileno(self) -> int:
        return self._handle.fileno()
