"""Learning the population model from a shop's own history (empirical Bayes).

The engine's customer states already hold each customer's sufficient statistics: first and
last order, last sign of life, and the window of recent log-intervals. :func:`fit` turns the
states at an event time ``until`` into a :class:`models.population.PopulationModel`:

1. **Rhythm**, first by moments with each customer counted once: the population mean of
   customers' typical log-interval; the spread between customers, net of the sampling
   noise of each customer's own mean; the typical spread within a customer. Each is shrunk
   toward the policy's starting prior, worth ``prior_weight_customers`` customers. Moments
   see only the intervals that ended before ``until``: a slow buyer's long interval is still
   running, so they make the rhythm look faster and tighter than it is (a one-order
   customer's silence is such an unfinished interval).
2. **Lifetime**, by maximum marginal likelihood, as Pareto/NBD is fitted: each customer
   contributes P(still around at their last sign of life) x P(no order since then), with
   the leaving hazard integrated over Gamma(shape, rate) across customers and the silence
   judged by :class:`models.lifetime.Silence` with the customer's own rhythm. One-order
   customers count fully (their silence is what tells how many of them leave). A weak
   log-normal prior keeps the two parameters near the policy's when the data says little.
3. **Rhythm and lifetime together** (:func:`fit_joint`), from the moments and the lifetime
   fit as the start: the five numbers that maximise the whole likelihood of every
   customer's history (each interval under the predictive rhythm of those before it, and
   the silence since the last order, censored, under the lifetime) with the same weak
   prior around the policy's values. The interval tail that gives the higher likelihood is
   kept.
4. **Spend**, the Gamma-Gamma model of order values (:func:`models.spend.fit_spend`), by
   maximum marginal likelihood on each customer's order count and average order value.
5. **Evidence weights**, from outcomes (:func:`fit_evidence`): the states at
   ``until - horizon`` and whether each customer ordered again by ``until``.

Pure Python (no numpy): the fit runs where the engine runs, on a deterministic sample of at
most ``sample`` customers; under a minute for 5,000.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models.assessment import email_silence_odds, evidence_at, silence_of
from models.customer import CustomerState
from models.lifetime import Silence
from models.optimize import nelder_mead
from models.policy import DAY, Policy
from models.population import EVIDENCE, PopulationModel
from models.rhythm import INTERVAL_DISTRIBUTIONS, log_density_of_log, predict
from models.spend import fit_spend

# Weak prior of the lifetime fit: log-normal around the policy's values, this wide (log).
_LIFETIME_PRIOR_SD = 2.0
# Prior sd of an evidence weight's log around the policy's value.
_EVIDENCE_PRIOR_SD = 0.75
# A signal needs this many customers showing it to have its weight fitted.
_EVIDENCE_MIN_SUPPORT = 30


@dataclass(frozen=True, slots=True)
class History:
    """One customer's sufficient statistics at the fit time (epoch seconds, log-days)."""

    customer_id: str
    first_order_at: float
    last_order_at: float
    alive_at: float
    intervals: tuple[float, ...]
    orders: int = 1
    spend: float = 0.0


def histories(states: Iterable[CustomerState]) -> list[History]:
    """The buyers among ``states`` (customers with at least one order)."""
    out = []
    for state in states:
        if state.first_order_at is None or state.last_order_at is None:
            continue
        alive = state.alive_at if state.alive_at is not None else state.last_order_at
        out.append(
            History(
                state.customer_id,
                state.first_order_at,
                state.last_order_at,
                max(alive, state.last_order_at),
                tuple(state.intervals),
                max(state.orders, 1),
                state.total_spend,
            )
        )
    return out


def sample(items: Sequence[History], size: int) -> list[History]:
    """A deterministic sample (by a hash of the customer id) of at most ``size``."""
    if len(items) <= size:
        return list(items)
    ranked = sorted(items, key=lambda h: (zlib.crc32(h.customer_id.encode()), h.customer_id))
    return ranked[:size]


def fit_rhythm(items: Sequence[History], policy: Policy) -> tuple[float, float, float]:
    """(interval_mean, interval_between_sd, interval_within_sd), by shrunk moments."""
    w = policy.prior_weight_customers
    prior_mean = math.log(policy.prior_median_interval_days)
    means: list[float] = []
    within: list[float] = []
    for h in items:
        n = len(h.intervals)
        if n == 0:
            continue
        m = sum(h.intervals) / n
        means.append(m)
        if n >= 2:
            var = sum((x - m) ** 2 for x in h.intervals) / (n - 1)
            within.append(var)
    within_var = (w * policy.prior_within_customer_sd**2 + sum(within)) / (w + len(within))
    noise = [within_var / len(h.intervals) for h in items if h.intervals]
    n = len(means)
    mean = (w * prior_mean + sum(means)) / (w + n)
    if n:
        centre = sum(means) / n
        data_var = sum((m - centre) ** 2 for m in means) / n - sum(noise) / n
    else:
        data_var = 0.0
    between_var = (w * policy.prior_between_customer_sd**2 + n * max(data_var, 0.0)) / (w + n)
    between_var = max(between_var, policy.min_between_customer_sd**2)
    return mean, math.sqrt(between_var), math.sqrt(within_var)


def lifetime_log_likelihood(
    items: Sequence[History],
    until: float,
    shape: float,
    rate_days: float,
    rhythm: PopulationModel,
    policy: Policy,
) -> float:
    """Sum over customers of log P(around at the last sign of life, no order since)."""
    total = 0.0
    family = rhythm.interval_distribution
    for h in items:
        seen = (h.alive_at - h.first_order_at) / DAY
        total -= shape * math.log1p(seen / rate_days)
        if until <= h.last_order_at:
            continue
        r = predict(h.intervals, rhythm, policy)
        silence = Silence(r.mu, r.sd, family, h.alive_at - h.last_order_at, shape, rate_days + seen)
        gone, log_alive = silence.parts(until - h.last_order_at)
        total += math.log(max(gone + math.exp(log_alive), 1e-300))
    return total


def fit_lifetime(
    items: Sequence[History], until: float, rhythm: PopulationModel, policy: Policy
) -> tuple[float, float]:
    """(dropout_shape, dropout_rate_days) maximising the marginal likelihood (with the weak
    prior around the policy's values)."""
    prior = (math.log(policy.prior_dropout_shape), math.log(policy.prior_dropout_rate_days))

    def objective(x: Sequence[float]) -> float:
        shape, rate = math.exp(x[0]), math.exp(x[1])
        log_lik = lifetime_log_likelihood(items, until, shape, rate, rhythm, policy)
        penalty = sum((xi - pi) ** 2 for xi, pi in zip(x, prior, strict=True))
        return -log_lik + penalty / (2.0 * _LIFETIME_PRIOR_SD**2)

    best = nelder_mead(objective, list(prior), step=0.7, tolerance=1e-4, iterations=150)
    return math.exp(best[0]), math.exp(best[1])


def fit(
    states: Iterable[CustomerState],
    until: float,
    policy: Policy,
    base: PopulationModel | None = None,
    size: int = 5000,
) -> PopulationModel:
    """The population model of the customers in ``states`` as of event time ``until``
    (rhythm and lifetime, with the interval tail that fits better, and spend; the evidence
    weights are kept from ``base``)."""
    base = base or PopulationModel.from_policy(policy)
    items = histories(states)
    mean, between, within = fit_rhythm(items, policy)
    chosen = sample(items, size)
    best: tuple[float, PopulationModel] | None = None
    for family in INTERVAL_DISTRIBUTIONS:
        rhythm = dataclasses.replace(
            base,
            interval_mean=mean,
            interval_between_sd=between,
            interval_within_sd=within,
            interval_distribution=family,
        )
        shape, rate = fit_lifetime(chosen, until, rhythm, policy)
        start = dataclasses.replace(
            rhythm,
            dropout_shape=shape,
            dropout_rate_days=rate,
            customers=len(items),
            fitted_until=until,
        )
        model, log_lik = fit_joint(chosen, until, start, policy)
        if best is None or log_lik > best[0]:
            best = (log_lik, model)
    assert best is not None
    p, q, gamma = fit_spend(
        [(h.orders, h.spend / h.orders) for h in chosen],
        (base.spend_p, base.spend_q, base.spend_gamma),
    )
    return dataclasses.replace(best[1], spend_p=p, spend_q=q, spend_gamma=gamma)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One history as the joint likelihood reads it: the statistics of every prefix of its
    window (count, mean, sum of squared deviations) with the interval that followed, those
    of the whole window, and its lifetime exposure (days seen, seconds from the last order
    to the sign of life and to ``until``; ``silence`` None for an order at ``until``)."""

    steps: tuple[tuple[tuple[int, float, float], float], ...]
    window: tuple[int, float, float]
    seen_days: float
    sign_of_life: float
    silence: float | None


def _window_stats(window: Sequence[float]) -> tuple[int, float, float]:
    """(n, mean, sum of squared deviations), computed as :func:`models.rhythm.predict` does."""
    n = len(window)
    if n == 0:
        return 0, 0.0, 0.0
    mean = sum(window) / n
    return n, mean, sum((x - mean) ** 2 for x in window)


def _prepare(items: Sequence[History], until: float) -> list[_Prepared]:
    out = []
    for h in items:
        steps = tuple((_window_stats(h.intervals[:i]), x) for i, x in enumerate(h.intervals))
        out.append(
            _Prepared(
                steps,
                _window_stats(h.intervals),
                (h.alive_at - h.first_order_at) / DAY,
                h.alive_at - h.last_order_at,
                until - h.last_order_at if until > h.last_order_at else None,
            )
        )
    return out


def _predictive(
    stats: tuple[int, float, float], model: PopulationModel, policy: Policy
) -> tuple[float, float]:
    """:func:`models.rhythm.predict` from a window's statistics: the same ``(mu, sd)``."""
    n, mean, squares = stats
    between = model.interval_between_sd**2
    within_prior = model.interval_within_sd**2
    if n == 0:
        return model.interval_mean, math.sqrt(between + within_prior)
    k0 = policy.within_sd_pseudo_intervals
    within = max((k0 * within_prior + squares) / (k0 + n - 1), policy.min_within_sd**2)
    precision = 1.0 / between + n / within
    mu = (model.interval_mean / between + n * mean / within) / precision
    return mu, math.sqrt(within + 1.0 / precision)


def _joint_log_likelihood(
    prepared: Sequence[_Prepared], model: PopulationModel, policy: Policy
) -> float:
    family = model.interval_distribution
    shape, rate = model.dropout_shape, model.dropout_rate_days
    total = 0.0
    for p in prepared:
        for stats, x in p.steps:
            mu, sd = _predictive(stats, model, policy)
            total += log_density_of_log(mu, sd, x, family)
        total -= shape * math.log1p(p.seen_days / rate)
        if p.silence is None:
            continue
        mu, sd = _predictive(p.window, model, policy)
        silence = Silence(mu, sd, family, p.sign_of_life, shape, rate + p.seen_days)
        gone, log_alive = silence.parts(p.silence)
        total += math.log(max(gone + math.exp(log_alive), 1e-300))
    return total


def joint_log_likelihood(
    items: Sequence[History], until: float, model: PopulationModel, policy: Policy
) -> float:
    """:func:`interval_log_likelihood` plus :func:`lifetime_log_likelihood`: the whole
    likelihood of the histories (every interval, then the silence, censored) under
    ``model``'s rhythm and lifetime."""
    return _joint_log_likelihood(_prepare(items, until), model, policy)


def fit_joint(
    items: Sequence[History], until: float, start: PopulationModel, policy: Policy
) -> tuple[PopulationModel, float]:
    """Rhythm and lifetime by maximum marginal likelihood, together, from ``start``.

    The five numbers (``interval_mean``, both spreads, the hazard's shape and rate) move
    together: a slower or more spread rhythm makes long silences less telling, and so
    changes how many customers the lifetime must have leave. Every number has the weak
    log-normal prior of :func:`fit_lifetime` around the policy's value (the mean a normal
    one on the log-days); the between-customer spread stays at least
    ``min_between_customer_sd``. Returns the model and its log-likelihood (no prior).
    """
    prepared = _prepare(items, until)
    prior = (
        math.log(policy.prior_median_interval_days),
        math.log(policy.prior_between_customer_sd),
        math.log(policy.prior_within_customer_sd),
        math.log(policy.prior_dropout_shape),
        math.log(policy.prior_dropout_rate_days),
    )

    def model_at(x: Sequence[float]) -> PopulationModel:
        return dataclasses.replace(
            start,
            interval_mean=x[0],
            interval_between_sd=max(math.exp(x[1]), policy.min_between_customer_sd),
            interval_within_sd=math.exp(x[2]),
            dropout_shape=math.exp(x[3]),
            dropout_rate_days=math.exp(x[4]),
        )

    def objective(x: Sequence[float]) -> float:
        x = [min(max(xi, -50.0), 50.0) for xi in x]
        log_lik = _joint_log_likelihood(prepared, model_at(x), policy)
        penalty = sum((xi - pi) ** 2 for xi, pi in zip(x, prior, strict=True))
        return -log_lik + penalty / (2.0 * _LIFETIME_PRIOR_SD**2)

    x0 = [
        start.interval_mean,
        math.log(start.interval_between_sd),
        math.log(start.interval_within_sd),
        math.log(start.dropout_shape),
        math.log(start.dropout_rate_days),
    ]
    best = nelder_mead(objective, x0, step=0.3, tolerance=1e-7, iterations=1000)
    if objective(best) > objective(x0):
        best = x0
    model = model_at([min(max(xi, -50.0), 50.0) for xi in best])
    return model, _joint_log_likelihood(prepared, model, policy)


def interval_log_likelihood(
    items: Sequence[History], model: PopulationModel, policy: Policy
) -> float:
    """Sum of each customer's log-intervals' log densities, each under the predictive
    rhythm of the intervals before it: with :func:`lifetime_log_likelihood`, the whole
    window and silence, to compare interval tails."""
    family = model.interval_distribution
    total = 0.0
    for h in items:
        for i, x in enumerate(h.intervals):
            rhythm = predict(h.intervals[:i], model, policy)
            total += log_density_of_log(rhythm.mu, rhythm.sd, x, family)
    return total


@dataclass(frozen=True, slots=True)
class Outcome:
    """A customer judged at some moment, and whether they ordered within the horizon.

    ``log_odds``: log(gone / alive) from the silence and the unanswered mail alone;
    ``stay_silent``: P(no order within the horizon | still a customer) (both from the
    rhythm and lifetime model); ``signals``: :func:`models.assessment.evidence_at`.
    """

    log_odds: float
    stay_silent: float
    signals: tuple[bool, ...]
    ordered: bool


def outcome_of(
    state: CustomerState,
    at: float,
    horizon: float,
    ordered: bool,
    model: PopulationModel,
    policy: Policy,
) -> Outcome | None:
    """``state`` as judged at ``at`` (None before its first order or for an order at ``at``)."""
    last = state.last_order_at
    if last is None or state.first_order_at is None or at <= last:
        return None
    silence = silence_of(state, policy, model, predict(state.intervals, model, policy))
    s = at - last
    log_odds = silence.log_odds(s)
    if not math.isfinite(log_odds):
        return None
    log_odds += math.log(email_silence_odds(state, policy))
    signals = evidence_at(state, at, policy)
    return Outcome(log_odds, silence.stays_silent(s, horizon), signals, ordered)


def fit_evidence(
    outcomes: Sequence[Outcome], model: PopulationModel, policy: Policy
) -> PopulationModel:
    """The evidence weights that best predict who ordered within the horizon.

    P(no order) = P(gone) + P(still a customer) x ``stay_silent``, with the odds of gone
    multiplied by each signal's weight; a free intercept absorbs any overall
    miscalibration of the base model (it is not kept). Each log-weight has a normal prior
    around the policy's value (sd ``_EVIDENCE_PRIOR_SD``) and is at least 0 (a signal is
    evidence of leaving, never of staying), so thin data stays near the defaults; a signal
    fewer than ``_EVIDENCE_MIN_SUPPORT`` customers show keeps its default.
    """
    defaults = [math.log(getattr(policy, f"{name}_odds")) for name in EVIDENCE]
    # Only signals seen often enough are fitted; the others keep the policy's weight.
    seen = [sum(o.signals[k] for o in outcomes) >= _EVIDENCE_MIN_SUPPORT for k in range(5)]
    fitted = [k for k in range(5) if seen[k]]
    rows = [
        (o.log_odds, o.stay_silent, [k for k in fitted if o.signals[k]], o.ordered)
        for o in outcomes
    ]

    def objective(x: Sequence[float]) -> float:
        weights = dict(zip(fitted, (max(w, 0.0) for w in x[1:]), strict=True))
        total = 0.0
        for log_odds, stay, signals, ordered in rows:
            z = x[0] + log_odds + sum(weights[k] for k in signals)
            gone = 1.0 / (1.0 + math.exp(-z)) if z > -700.0 else 0.0
            silent = gone + (1.0 - gone) * stay
            p = (1.0 - silent) if ordered else silent
            total -= math.log(max(p, 1e-12))
        penalty = sum((w - defaults[k]) ** 2 for k, w in zip(fitted, x[1:], strict=True))
        return total + penalty / (2.0 * _EVIDENCE_PRIOR_SD**2)

    start = [0.0, *(defaults[k] for k in fitted)]
    best = nelder_mead(objective, start, step=0.5, tolerance=1e-7, iterations=800)
    logs = list(defaults)
    for k, w in zip(fitted, best[1:], strict=True):
        logs[k] = w
    odds = [math.exp(max(w, 0.0)) for w in logs]
    complaint, unsubscribed, calls, declining, inquiry = odds
    return dataclasses.replace(
        model,
        complaint_odds=complaint,
        unsubscribed_odds=unsubscribed,
        calls_unanswered_odds=calls,
        declining_odds=declining,
        inquiry_odds=inquiry,
    )
