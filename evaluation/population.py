"""The evaluated population: who is scored, their labels and their order history.

A customer is evaluated when the ground truth knows them and they placed at least one order
up to the cutoff; the detector and every baseline are scored on exactly these customers. The
others are only counted (:class:`Exclusions`): customers who joined after the cutoff, and
customers already present at the start of the log who churned before their first order in it.

Labels (see ``docs/evaluation.md``):

* ``churned``: the truth says the customer churned at or before the cutoff;
* ``no_order``: no placed order in ``(cutoff, cutoff + horizon]``.

Order times are kept flat (``order_times`` with per-customer ``offsets``, CSR style) so that
per-customer quantities are numpy operations rather than Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evaluation.inputs import DAY, OrderLog, TruthRecord

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Exclusions:
    """Customers left out of the evaluation, by reason."""

    in_truth: int
    no_order_before_cutoff: int
    not_in_truth: int


@dataclass(frozen=True)
class Population:
    """Per-customer arrays of the evaluated customers (index ``i`` is ``ids[i]``)."""

    cutoff: float
    horizon_days: float
    ids: list[str]
    churned_at: FloatArray  # epoch seconds, inf when the customer did not churn in the period
    causes: list[str | None]
    kinds: list[str | None]  # the truth's purchase rhythm (irregular, regular, drifting)
    interval_days: FloatArray  # the truth's mean interval of the customer
    order_times: FloatArray  # epoch seconds, ascending within each customer
    offsets: IntArray  # customer i's orders are order_times[offsets[i]:offsets[i + 1]]
    no_order: BoolArray

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def churned(self) -> BoolArray:
        return np.asarray(self.churned_at <= self.cutoff, dtype=np.bool_)

    @property
    def order_counts(self) -> IntArray:
        return np.asarray(np.diff(self.offsets), dtype=np.int64)

    @property
    def first_order(self) -> FloatArray:
        return np.asarray(self.order_times[self.offsets[:-1]], dtype=np.float64)

    @property
    def last_order(self) -> FloatArray:
        return np.asarray(self.order_times[self.offsets[1:] - 1], dtype=np.float64)

    def rfm(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(x, t_x, T)`` in days, the BTYD summary of the calibration period."""
        first = self.first_order
        x = (self.order_counts - 1).astype(np.float64)
        t_x = (self.last_order - first) / DAY
        age = (self.cutoff - first) / DAY
        return x, t_x, age

    def recency_days(self) -> FloatArray:
        return np.asarray((self.cutoff - self.last_order) / DAY, dtype=np.float64)

    def observed_mean_interval_days(self) -> FloatArray:
        """Mean inter-order interval seen before the cutoff; nan with a single order."""
        x, t_x, _ = self.rfm()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(x > 0, t_x / np.maximum(x, 1.0), np.nan), np.float64)


def build_population(
    truth: dict[str, TruthRecord], orders: OrderLog, horizon_days: float
) -> tuple[Population, Exclusions]:
    """Join the truth with the order log; customers in customer-id order."""
    before = orders.sorted_before()
    ids = sorted(cid for cid in before if cid in truth)
    records = [truth[cid] for cid in ids]
    counts = [len(before[cid]) for cid in ids]
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = [t for cid in ids for t in before[cid]]
    population = Population(
        cutoff=orders.cutoff,
        horizon_days=horizon_days,
        ids=ids,
        churned_at=np.array([r.churned_at for r in records], dtype=np.float64),
        causes=[r.cause for r in records],
        kinds=[r.kind for r in records],
        interval_days=np.array([r.mean_interval_days for r in records], dtype=np.float64),
        order_times=np.array(flat, dtype=np.float64),
        offsets=offsets,
        no_order=np.array([cid not in orders.in_horizon for cid in ids], dtype=np.bool_),
    )
    exclusions = Exclusions(
        in_truth=len(truth),
        no_order_before_cutoff=len(truth) - len(ids),
        not_in_truth=sum(1 for cid in before if cid not in truth),
    )
    return population, exclusions
