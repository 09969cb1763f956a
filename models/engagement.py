"""Email engagement as evidence: how surprising is this much unanswered mail?

Every customer gets the weekly mail; a customer who is still buying opens or clicks some
share ``q`` of it, and one who has left opens none. So a run of ``k`` unanswered mails since
the customer was last known to be around is evidence of leaving, and how strong depends on
``q``: four quiet weeks say little about someone who reads one mail in ten and a lot about
someone who reads every other one. The likelihood ratio of having left against still buying
is ``1 / P(k misses | still buying)``.

``q`` is not known, only estimated from the customer's own history (engaged out of delivered
mails before the quiet run), shrunk toward the population's engagement rate by a Beta prior
worth a few mails. Integrating over that Beta(a, b) posterior (beta-binomial predictive)::

    P(k misses | still buying) = E[(1 - q)^k] = B(a, b + k) / B(a, b)

so a customer with little history, or one who rarely engages anyway, builds evidence slowly.

**Machine opens.** Privacy proxies (Apple Mail Privacy Protection and the like) fetch every
mail, so their "opens" continue after the customer has gone. An open counts as engagement
only when it is not machine-like: it comes later than ``machine_open_seconds`` after the
send, and the customer does not open (nearly) every mail. Clicks always count.
"""

from __future__ import annotations

import math

from models.policy import Policy

_lgamma = math.lgamma


def beta_prior(rate: float, strength: float) -> tuple[float, float]:
    """Pseudo-counts (engaged, not engaged) of ``strength`` mails at the population ``rate``."""
    return rate * strength, (1.0 - rate) * strength


def log_p_misses(engaged: float, delivered: float, misses: int) -> float:
    """log P(``misses`` unanswered mails in a row | still buying), with ``engaged`` out of
    ``delivered`` earlier mails engaged (prior pseudo-counts included): the log of
    ``B(a, b + k) / B(a, b)`` with ``a = engaged``, ``b = delivered - engaged``."""
    if misses <= 0:
        return 0.0
    a = max(engaged, 1e-9)
    b = max(delivered - engaged, 1e-9)
    return _lgamma(b + misses) - _lgamma(b) + _lgamma(a + b) - _lgamma(a + b + misses)


def silence_odds(engaged: float, delivered: float, misses: int, spread: bool = True) -> float:
    """Likelihood ratio (left : still buying) of ``misses`` unanswered mails in a row.

    With ``spread``, a customer who left did so after any of the quiet mails with equal
    probability, so the first ``j`` of them went to someone still there (``j = 0..k``)::

        LR = mean_j E[(1 - q)^j] / E[(1 - q)^k]

    Without it, they left right after the last sign of life (``LR = 1 / E[(1 - q)^k]``),
    which overstates short quiet runs of a customer who engages often.
    """
    if misses <= 0:
        return 1.0
    if not spread:
        return math.exp(-log_p_misses(engaged, delivered, misses))
    a = max(engaged, 1e-9)
    b = max(delivered - engaged, 1e-9)
    p_j, total = 1.0, 1.0
    for i in range(misses):
        p_j *= (b + i) / (a + b + i)  # E[(1 - q)^(i + 1)], step by step
        total += p_j
    return total / (misses + 1) / p_j


def silence_odds_ahead(
    engaged: float, delivered: float, misses: int, ahead: int, spread: bool = True
) -> tuple[float, float]:
    """:func:`silence_odds` of ``misses`` (bit for bit), and the largest likelihood ratio
    of ``misses`` up to ``misses + ahead`` unanswered mails: what up to ``ahead`` more sends
    can do to the evidence (not monotone in the count for tiny engagement histories, hence
    the maximum)."""
    if not spread:
        exact = silence_odds(engaged, delivered, misses, False)
        most = exact
        for more in range(max(misses, 0) + 1, max(misses, 0) + ahead + 1):
            most = max(most, silence_odds(engaged, delivered, more, False))
        return exact, most
    a = max(engaged, 1e-9)
    b = max(delivered - engaged, 1e-9)
    exact = most = 1.0
    p_j, total = 1.0, 1.0
    misses = max(misses, 0)
    for i in range(misses + ahead):
        p_j *= (b + i) / (a + b + i)  # E[(1 - q)^(i + 1)], step by step
        total += p_j
        if i + 1 >= misses:
            ratio = total / (i + 2) / p_j
            if i + 1 == misses:
                exact = ratio
            if ratio > most:
                most = ratio
    return exact, most


# Weight of the newest mail in a customer's open rate (a moving average over ~10 mails).
OPEN_RATE_WEIGHT = 0.1


def is_machine_open(seconds_after_send: float, open_rate: float, policy: Policy) -> bool:
    """An open that says nothing about the person: too soon after the send to have been
    read, or from a customer whose mail is opened (nearly) every time."""
    return seconds_after_send < policy.machine_open_seconds or open_rate >= policy.machine_open_rate
