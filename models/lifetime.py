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


class Silence:
    """One customer's silence, ready to be judged at any length ``s`` (seconds).

    ``mu``/``sd``: the customer's predictive rhythm (log-days); ``family``: the interval
    distribution; ``sign_of_life``: seconds from the last order to the last sign of life;
    ``shape``, ``rate_days``: the posterior Gamma of their leaving hazard.
    """

    __slots__ = (
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
        """
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
                if not math.isfinite(slope) or not math.isfinite(f):
                    step = 1.0
                else:
                    step = -f / slope if slope > 0.1 else -f
                w_prev, f_prev = w, f
                w = w + max(step * 1.02 + 1e-3, 1e-3 * (1.0 + w))
            else:
                w_prev, f_prev = w, f
                w = w_hi - f_hi * (w_hi - w_lo) / (f_hi - f_lo)
                if not w_lo < w < w_hi:
                    w = 0.5 * (w_lo + w_hi)
        if s_hi == math.inf:
            return _NEVER
        return s_lo if before else s_hi
