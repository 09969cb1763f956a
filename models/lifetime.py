"""Has a silent customer left? The posterior that the risk is.

The model is Pareto/NBD's, with the customer's own renewal rhythm in place of a Poisson
process (close to Platzer & Reutterer's Pareto/GGG):

* while still a customer, the time to their next order follows their predictive interval
  distribution, survival ``S`` (:mod:`models.rhythm`);
* they leave at an unobserved moment, at a constant hazard ``mu`` per day; across customers
  ``mu ~ Gamma(shape, rate)`` (:class:`models.population.PopulationModel`). A customer seen
  alive for ``L`` days since their first order has ``mu | L ~ Gamma(shape, rate + L)``, so
  they stay ``w`` more days with probability ``R(w) = (1 + w / (rate + L))^-shape``.

Known: the last order, a sign of life ``a`` days after it (``a = 0`` if that was the order)
and silence ``s >= a`` since the order. Then, up to the same factor ``S(a)``::

    alive = R(s - a) S(s)
    gone  = integral over u in (a, s] of f(u - a) S(u) du,   f = -R'
          = integral over v in [S(s), S(a)] of H(S^-1(v) - a) dv  +  H(s - a) S(s)

with ``H = 1 - R`` (integration by parts; the customer must also not have ordered between
the sign of life and leaving). ``odds = evidence x gone / alive`` and ``risk = odds / (1 +
odds)``. The integral over ``v`` has a smooth integrand (``H`` is the slowly rising Lomax
distribution function) and is computed with a 3-point Gauss-Legendre rule.

Risk only rises with silence (``alive`` falls, ``gone`` grows), so the moment it reaches a
threshold is found by a secant search on the rhythm's cumulative hazard ``w = -log(S(s) /
S(a))``, along which the log-odds rise about one for one, with Illinois steps closing the
bracket; it falls back to bisecting the log of the silence only when ``w`` makes no progress
(:meth:`Silence.crossing`).
"""

from __future__ import annotations

import math

from models.policy import DAY
from models.rhythm import WEIBULL, log_survival, silence_for_log_survival

# 3-point Gauss-Legendre nodes and weights on [0, 1] (exact for polynomials of degree 5;
# the integrand is smooth and slowly varying).
_NODES = (
    (0.5 - 0.5 * math.sqrt(0.6), 5.0 / 18.0),
    (0.5, 8.0 / 18.0),
    (0.5 + 0.5 * math.sqrt(0.6), 5.0 / 18.0),
)
_NEVER = math.inf
_LONGEST_SILENCE = 200 * 365 * DAY  # beyond this a threshold is never reached
# A crossing is found when log-odds is at most this far above the target (risk within
# about 0.1 % of the threshold).
_ODDS_TOLERANCE = 0.005
# A lower bound (``before``) only decides when to look again: within 2 % is close enough,
# and looking a little early costs one more plan, not a decision.
_BOUND_TOLERANCE = 0.02
# ... or as soon as a silence is found whose log-odds is this little short of the target.
_BOUND_ODDS = 0.05
_EULER_GAMMA = 0.5772156649015329
_GUMBEL_SD = math.pi / math.sqrt(6.0)
# The quick lower bound aims its ceiling of log-odds this far below the target.
_QUICK_AIM = -0.03
_MAX_LOG_TARGET = 700.0  # exp() of more overflows
# Added to a ceiling of gone: rounding moves a sum of three terms under 1 by ~1e-15.
_ROUNDING = 1e-12
# Exact crossings found, by silence, target and earliest moment (a pure memo, cleared when
# full).
_CROSSINGS: dict[tuple[float, float, str, float, float, float, float, float], float] = {}
_CROSSINGS_KEPT = 16384


class Silence:
    """One customer's silence, ready to be judged at any length ``s`` (seconds).

    ``mu``/``sd``: the customer's predictive rhythm (log-days); ``family``: the interval
    distribution; ``sign_of_life``: seconds from the last order to the last sign of life;
    ``shape``, ``rate_days``: the posterior Gamma of their leaving hazard.
    """

    __slots__ = (
        "_eventually_gone",
        "_rate",
        "_weibull_centre",
        "_weibull_scale",
        "a",
        "family",
        "log_sa",
        "mu",
        "rate_days",
        "sd",
        "shape",
    )

    def __init__(
        self,
        mu: float,
        sd: float,
        family: str,
        sign_of_life: float,
        shape: float,
        rate_days: float,
    ) -> None:
        self.mu = mu
        self.sd = sd
        self.family = family
        self.a = max(sign_of_life, 0.0)
        self.shape = shape
        self.rate_days = rate_days
        self.log_sa = log_survival(mu, sd, self.a, family)
        self._weibull_scale = sd / _GUMBEL_SD
        self._weibull_centre = mu + self._weibull_scale * _EULER_GAMMA
        self._eventually_gone = -1.0  # not computed yet
        self._rate = rate_days * DAY

    def parts(self, s: float) -> tuple[float, float]:
        """``(gone, log alive)`` after ``s`` seconds of silence since the last order, both
        relative to ``S(a)``: their sum is P(no order by ``s`` | around at the sign of life)."""
        a = self.a
        if s <= a:
            return 0.0, 0.0
        log_sa, rate, neg_shape = self.log_sa, self.rate_days * DAY, -self.shape
        log_ratio = log_survival(self.mu, self.sd, s, self.family) - log_sa
        ratio = math.exp(log_ratio)  # S(s) / S(a)
        width = 1.0 - ratio
        log_stayed = neg_shape * math.log1p((s - a) / rate)  # log R(s - a)
        gone = -math.expm1(log_stayed) * ratio
        if width > 0.0:
            total = 0.0
            log = math.log
            if self.family == WEIBULL:
                # u(v) = exp(mu + sd (gamma + ln(-ln v)) / (pi / sqrt 6)) days
                centre, scale = self._weibull_centre, self._weibull_scale
                for node, weight in _NODES:
                    log_v = log_sa + log(ratio + width * node)
                    if log_v < 0.0:
                        u = math.exp(centre + scale * log(-log_v)) * DAY
                        if u > a:
                            total += weight * (1.0 - (1.0 + (u - a) / rate) ** neg_shape)
            else:
                for node, weight in _NODES:
                    log_v = log_sa + log(ratio + width * node)
                    if log_v < 0.0:
                        u = silence_for_log_survival(self.mu, self.sd, log_v, self.family)
                        if u > a:
                            total += weight * (1.0 - (1.0 + (u - a) / rate) ** neg_shape)
            gone += width * total
        return gone, log_ratio + log_stayed

    def stays_silent(self, s: float, horizon: float) -> float:
        """P(no order in the ``horizon`` seconds after ``s`` | still a customer at ``s``):
        the no-order probability grows by ``gone`` only, as ``alive`` shrinks."""
        gone, log_alive = self.parts(s)
        alive = math.exp(log_alive)
        if alive <= 0.0:
            return 1.0
        later_gone, later_log_alive = self.parts(s + horizon)
        stay = (later_gone + math.exp(later_log_alive) - gone) / alive
        return min(max(stay, 0.0), 1.0)

    def log_odds(self, s: float) -> float:
        """log(gone / alive) after ``s`` seconds of silence since the last order."""
        gone, log_alive = self.parts(s)
        if gone <= 0.0:
            return -_NEVER
        return math.log(gone) - log_alive

    def crossing(self, log_target: float, earliest: float, before: bool = False) -> float:
        """The silence (seconds) at which :meth:`log_odds` reaches ``log_target``, not
        before ``earliest``; ``inf`` when it never does within two centuries.

        The answer is a silence at which the target is just reached (log-odds at most
        ``_ODDS_TOLERANCE`` above it), or with ``before`` one at which it is not yet,
        within 2 % of the crossing (a lower bound).

        The search runs on ``w = -log(S(s) / S(a))``, the rhythm's cumulative hazard since
        the sign of life, where log-odds is close to ``w`` plus a slowly changing term: a
        secant step from below lands near the target, Illinois steps close the bracket.
        The exact answers are remembered (a bounded table: the engine asks for the same
        crossing at a wake-up and again when it fires), lower bounds first try
        :meth:`_quick_bound`.
        """
        if before:
            lo = max(earliest, self.a, 1.0)
            if lo < math.inf:
                bound = self._quick_bound(log_target, lo)
                if bound is not None:
                    return bound
            return self._search(log_target, earliest, True)
        key = (
            self.mu,
            self.sd,
            self.family,
            self.a,
            self.shape,
            self.rate_days,
            log_target,
            earliest,
        )
        found = _CROSSINGS.get(key)
        if found is None:
            found = self._search(log_target, earliest, False)
            if len(_CROSSINGS) >= _CROSSINGS_KEPT:
                _CROSSINGS.clear()
            _CROSSINGS[key] = found
        return found

    def _search(self, log_target: float, earliest: float, before: bool) -> float:
        """:meth:`crossing` by the bracketing search."""
        lo = max(earliest, self.a, 1.0)
        if lo == math.inf:
            return _NEVER
        f_lo = self.log_odds(lo) - log_target
        if f_lo >= 0.0:
            return lo
        mu, sd, family, log_sa = self.mu, self.sd, self.family, self.log_sa
        w_lo = log_sa - log_survival(mu, sd, lo, family)
        s_lo, s_hi = lo, math.inf
        w_hi = f_hi = math.nan
        w_prev, f_prev = w_lo, f_lo
        # log-odds rises about one for one with w: aim a little short, then extrapolate.
        w = w_lo + (-0.8 * f_lo if f_lo > -20.0 else 1.0)
        side = 0
        width = math.inf  # the bracket's width (log silence) when it last halved
        slow = 0  # steps since it last halved
        for _ in range(200):
            s = silence_for_log_survival(mu, sd, log_sa - w, family)
            if s_hi == math.inf:
                s = min(s, _LONGEST_SILENCE)
            if s_hi != math.inf:
                current = math.log(s_hi / s_lo)
                if current < 0.5 * width:
                    width, slow = current, 0
                else:
                    slow += 1
            if not s_lo < s < s_hi or slow > 3:
                # No progress in w (lost in rounding next to a huge log S(a), or past the
                # tail's floor): step in the silence itself, doubling until bracketed,
                # then halving the bracket's ratio.
                s = 2.0 * s_lo if s_hi == math.inf else math.sqrt(s_lo * s_hi)
                w = log_sa - log_survival(mu, sd, s, family)
            if s > _LONGEST_SILENCE:
                s = _LONGEST_SILENCE
            f = self.log_odds(s) - log_target
            if f >= 0.0:
                w_hi, f_hi, s_hi = w, f, s
                if f < _ODDS_TOLERANCE:
                    break
                if side == 1:
                    f_lo *= 0.5
                side = 1
            else:
                if s >= _LONGEST_SILENCE:
                    return _NEVER
                w_lo, f_lo, s_lo = w, f, s
                if before and f > -_BOUND_ODDS:
                    return s  # just short of the target: a close lower bound
                if side == -1 and not math.isnan(f_hi):
                    f_hi *= 0.5
                side = -1
            if s_hi != math.inf and s_hi - s_lo <= (_BOUND_TOLERANCE if before else 1e-6) * s_hi:
                break
            if math.isnan(w_hi):
                slope = (f - f_prev) / (w - w_prev) if w != w_prev else 1.0
                w_prev, f_prev = w, f
                if not math.isfinite(slope) or not math.isfinite(f):
                    w = w + 1.0
                elif slope > 0.1:
                    w = w + max(-f / slope * 1.02 + 1e-3, 1e-3 * (1.0 + w))
                else:
                    # Deep in the rhythm's tail the odds barely move with w (only the
                    # lifetime still speaks, slowly): step in the silence, doubling it.
                    w = log_sa - log_survival(mu, sd, 2.0 * s, family)
            else:
                w_prev, f_prev = w, f
                w = w_hi - f_hi * (w_hi - w_lo) / (f_hi - f_lo)
                if not w_lo < w < w_hi:
                    w = 0.5 * (w_lo + w_hi)
        if s_hi == math.inf:
            return _NEVER
        return s_lo if before else s_hi

    def _quick_bound(self, log_target: float, lo: float) -> float | None:
        """A lower bound of the crossing without evaluating the posterior, or None (the
        search then runs).

        Every node of the quadrature in :meth:`parts` sits at an interval no longer than
        where it sits when the silence never ends, so gone is at most ``H(s - a) r + (1 -
        r) G``, with ``r = S(s) / S(a)`` and ``G`` gone's limit (:meth:`_gone_eventually`):
        a ceiling of log-odds in closed form (:meth:`_log_odds_ceiling`). Where the ceiling
        is below the target, so is log-odds, and that silence is a lower bound (log-odds
        only rises with silence). The ceiling reaches ``target`` where ``r = G / (e^target
        R - H + G)``, ``R = 1 - H`` taken at a first guess; aimed a little short, that
        silence is the answer when the ceiling there is below the target. Far into a
        silence the ceiling is close to log-odds (on the benchmark replay's first 200,000
        events, log-odds at these bounds is within 0.1 of the target for 62 % of them and
        within 0.3 for 95 %).
        """
        gone = self._eventually_gone
        if gone < 0.0:
            gone = self._eventually_gone = self._gone_eventually()
        if not gone > 0.0 or log_target > _MAX_LOG_TARGET:
            return None
        log, exp = math.log, math.exp
        log_sa, a, rate, neg_shape = self.log_sa, self.a, self._rate, -self.shape
        weibull = self.family == WEIBULL
        centre, scale = self._weibull_centre, self._weibull_scale
        odds, log_gone = exp(log_target + _QUICK_AIM), log(gone)
        stayed = 1.0  # R at the first guess: none of the leaving hazard yet
        s = 0.0
        for _ in range(2):
            denominator = odds * stayed - (1.0 - stayed) + gone
            if not denominator > 0.0:
                return None
            log_s = log_sa - (log(denominator) - log_gone)
            if weibull:  # silence_for_log_survival, as parts computes it
                s = exp(centre + scale * log(-log_s)) * DAY if log_s < 0.0 else 0.0
            else:
                s = silence_for_log_survival(self.mu, self.sd, log_s, self.family)
            if not a < s < _LONGEST_SILENCE:
                return None
            stayed = (1.0 + (s - a) / rate) ** neg_shape
        if s >= lo and self._log_odds_ceiling(s) < log_target:
            return s
        return None

    def _log_odds_ceiling(self, s: float) -> float:
        """At least :meth:`log_odds` at ``s``: gone with every node of the quadrature at its
        limit (see :meth:`_quick_bound`), plus far more than rounding can add to a sum of
        three terms, and log alive computed exactly as :meth:`parts` does."""
        a = self.a
        if s <= a:
            return -_NEVER
        if self.family == WEIBULL and s > 1e-6:  # log_survival, the same operations
            log_ratio = -math.exp(
                _GUMBEL_SD * ((math.log(s / DAY) - self.mu) / self.sd) - _EULER_GAMMA
            )
            log_ratio -= self.log_sa
        else:
            log_ratio = log_survival(self.mu, self.sd, s, self.family) - self.log_sa
        ratio = math.exp(log_ratio)
        log_stayed = -self.shape * math.log1p((s - a) / self._rate)
        limit = self._eventually_gone
        if limit < 0.0:
            limit = self._eventually_gone = self._gone_eventually()
        gone = -math.expm1(log_stayed) * ratio + (1.0 - ratio) * limit
        return math.log(gone + _ROUNDING) - (log_ratio + log_stayed)

    def _gone_eventually(self) -> float:
        """What gone tends to as the silence grows without end (relative to ``S(a)``): the
        quadrature of :meth:`parts` with ``S(s) = 0``, each node where :meth:`parts` puts it
        (the same operations)."""
        log_sa, rate, neg_shape, a = self.log_sa, self._rate, -self.shape, self.a
        log = math.log
        total = 0.0
        for node, weight in _NODES:
            log_v = log_sa + log(node)
            if log_v < 0.0:
                if self.family == WEIBULL:
                    u = math.exp(self._weibull_centre + self._weibull_scale * log(-log_v)) * DAY
                else:
                    u = silence_for_log_survival(self.mu, self.sd, log_v, self.family)
                if u > a:
                    total += weight * (1.0 - (1.0 + (u - a) / rate) ** neg_shape)
        return total
