"""The oracle: the decisions a detector knowing each customer's true parameters would publish.

On simulated data the truth file carries every customer's rhythm (mean interval, gamma shape,
drift) and churn hazard (:class:`evaluation.inputs.TrueRhythm`). Given only the time since the
last order, the posterior probability that the customer has churned is then exact: with a
constant hazard ``h`` and ``S(u) = P(interval > u)`` of the customer's interval distribution,
after a silence ``s``

    alive = exp(-h s) S(s),    gone = ∫_0^s h exp(-h u) S(u) du,    risk = gone / (gone + alive)

``gone`` never falls and ``alive`` never rises with ``s``, so risk rises with silence and each
threshold is crossed at most once per silence; the crossing is found by bisection. A resolved
complaint multiplies the hazard by the simulator's ratio from its resolution on (the integral
is split there). With a gamma ``S`` of shape ``k`` and scale ``θ``, integration by parts gives
a closed form (:func:`_hazard_integral`).

Thresholded with the detector's ``at_risk_risk`` and ``lost_risk``, this gives at most one
``at_risk`` and one ``lost`` per silence: the limit any detector watching only the orders can
reach on that population. Known simplifications: every order restarts the interval clock (the
simulator's orders after an inquiry call do not), and a declining-value churner's stretching
intervals are part of the churn, not of the rhythm the oracle knows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from evaluation.alerts import Alerts, Gaps
from evaluation.inputs import DAY, TrueRhythm
from evaluation.population import FloatArray, Population

YEAR_DAYS = 365.0
_BISECTION_STEPS = 36  # narrows a two-year bracket to about a second


class OracleParameters:
    """Per customer (population index), the true parameters in days."""

    def __init__(self, interval_days: FloatArray, rhythms: Sequence[TrueRhythm]) -> None:
        self.interval_days = np.asarray(interval_days, dtype=np.float64)
        self.shape = np.array([r.shape for r in rhythms], dtype=np.float64)
        self.drift_per_day = np.array([r.drift_per_year for r in rhythms]) / YEAR_DAYS
        self.observed_from = np.array([r.observed_from for r in rhythms], dtype=np.float64)
        self.hazard_per_day = np.array([r.hazard_per_year for r in rhythms]) / YEAR_DAYS
        self.ratio = np.array([r.hazard_ratio_after_resolution for r in rhythms])
        self.resolved_at = np.array([r.resolved_at for r in rhythms], dtype=np.float64)


def _hazard_integral(
    hazard: FloatArray, shape: FloatArray, scale: FloatArray, a: FloatArray, b: FloatArray
) -> FloatArray:
    """``∫_a^b h exp(-h u) S(u) du`` for a gamma ``S`` (shape ``k``, scale ``θ``).

    By parts, with ``f`` the gamma density:
    ``[-exp(-h u) S(u)]_a^b - ∫_a^b exp(-h u) f(u) du``, and the last integral is a gamma
    distribution function of rate ``1/θ + h`` times ``(1 + h θ)^-k``.
    """
    survival_a = np.exp(-hazard * a) * special.gammaincc(shape, a / scale)
    survival_b = np.exp(-hazard * b) * special.gammaincc(shape, b / scale)
    rate = 1.0 / scale + hazard
    weight = (1.0 + hazard * scale) ** -shape
    between = special.gammainc(shape, b * rate) - special.gammainc(shape, a * rate)
    return np.asarray(survival_a - survival_b - weight * between, dtype=np.float64)


def posterior_risk(
    silence: FloatArray,
    mean_days: FloatArray,
    shape: FloatArray,
    hazard_per_day: FloatArray,
    ratio: FloatArray,
    resolved_after: FloatArray,
) -> FloatArray:
    """P(churned | no order for ``silence`` days), all arrays in days and per day.

    ``resolved_after``: days from the silence's start to the resolution of a complaint, from
    which on the hazard is ``ratio`` times higher (negative: before the silence; inf: never).
    """
    scale = mean_days / shape
    h1, h2 = hazard_per_day, hazard_per_day * ratio
    split = np.clip(resolved_after, 0.0, silence)
    zero = np.zeros_like(silence)
    gone = _hazard_integral(h1, shape, scale, zero, split) + np.exp(
        -(h1 - h2) * split
    ) * _hazard_integral(h2, shape, scale, split, silence)
    gone = np.maximum(gone, 0.0)
    alive = np.exp(-h1 * split - h2 * (silence - split)) * special.gammaincc(shape, silence / scale)
    total = gone + alive
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(total > 0, gone / total, 1.0), dtype=np.float64)


def crossings(
    gaps: Gaps, params: OracleParameters, threshold: float
) -> tuple[FloatArray, FloatArray]:
    """Per gap: the time its risk first reaches ``threshold`` (epoch seconds), and whether that
    lies inside the gap (before the next order; the last gap includes its end, the cutoff)."""
    customer = gaps.customer
    mean = params.interval_days[customer] * np.exp(
        params.drift_per_day[customer] * (gaps.start - params.observed_from[customer]) / DAY
    )
    shape = params.shape[customer]
    hazard = params.hazard_per_day[customer]
    ratio = params.ratio[customer]
    resolved_after = (params.resolved_at[customer] - gaps.start) / DAY
    length = (gaps.end - gaps.start) / DAY

    def risk(rows: FloatArray | slice, silence: FloatArray) -> FloatArray:
        return posterior_risk(
            silence, mean[rows], shape[rows], hazard[rows], ratio[rows], resolved_after[rows]
        )

    reach = np.flatnonzero(risk(slice(None), length) >= threshold)
    lo = np.zeros(reach.size)
    hi = length[reach]
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2.0
        above = risk(reach, mid) >= threshold  # type: ignore[arg-type]
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    fire = np.full(gaps.start.size, np.inf)
    fire[reach] = gaps.start[reach] + hi * DAY
    inside = np.where(gaps.last, fire <= gaps.end, fire < gaps.end) & np.isfinite(fire)
    return fire, np.asarray(inside, dtype=np.bool_)


def oracle_alerts(
    population: Population, params: OracleParameters, at_risk_risk: float, lost_risk: float
) -> Alerts:
    """One ``at_risk`` and one ``lost`` at most per silence, up to the cutoff, in time order."""
    gaps = Gaps.of(population)
    parts = []
    for threshold, lost in ((at_risk_risk, False), (lost_risk, True)):
        fire, inside = crossings(gaps, params, threshold)
        parts.append((gaps.customer[inside], fire[inside], np.full(int(inside.sum()), lost)))
    customer = np.concatenate([p[0] for p in parts])
    at = np.concatenate([p[1] for p in parts])
    lost_flags = np.concatenate([p[2] for p in parts]).astype(np.bool_)
    order = np.lexsort((lost_flags, at))
    return Alerts(customer[order], at[order], lost_flags[order])


def oracle_parameters(
    population: Population, rhythms: Sequence[TrueRhythm | None]
) -> OracleParameters | None:
    """The parameters of the population's customers, or None if any truth line lacks them."""
    known = [r for r in rhythms if r is not None]
    if len(known) != len(rhythms) or not known:
        return None
    return OracleParameters(population.interval_days, known)
