"""The posterior that a silent customer has left, and the search for threshold crossings."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.lifetime import Silence
from models.policy import DAY

_GUMBEL_SD = math.pi / math.sqrt(6.0)
_EULER_GAMMA = 0.5772156649015329


@pytest.mark.parametrize(("days", "tolerance"), [(5, 1e-6), (20, 1e-5), (60, 1e-3), (120, 2e-2)])
def test_a_poisson_buyer_with_a_known_hazard_gets_pareto_nbds_closed_form(days, tolerance):
    """Exponential intervals (a Weibull of spread 1.28) at rate lam and a fixed leaving
    hazard h (a Gamma of huge shape): gone / alive = h / (lam + h) (e^((lam + h) s) - 1)."""
    mu = math.log(20.0)
    lam = math.exp(-mu - _EULER_GAMMA)  # per day
    hazard = 1.0 / 365.0
    silence = Silence(mu, _GUMBEL_SD, "weibull", 0.0, 1e7, 1e7 / hazard)
    want = hazard / (lam + hazard) * math.expm1((lam + hazard) * days)
    assert math.exp(silence.log_odds(days * DAY)) == pytest.approx(want, rel=tolerance)


silences = st.builds(
    Silence,
    mu=st.floats(min_value=0.5, max_value=5.5),
    sd=st.floats(min_value=0.12, max_value=2.0),
    family=st.sampled_from(["weibull", "lognormal"]),
    sign_of_life=st.floats(min_value=0.0, max_value=200 * DAY),
    shape=st.floats(min_value=0.05, max_value=5.0),
    rate_days=st.floats(min_value=1.0, max_value=5000.0),
)


@given(silences, st.lists(st.floats(min_value=0, max_value=3000), min_size=2, max_size=6))
def test_the_odds_of_having_left_only_grow_with_the_silence(silence, days):
    odds = [silence.log_odds(silence.a + d * DAY) for d in sorted(days)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(odds))


def test_a_later_sign_of_life_and_a_longer_stay_both_lower_the_odds() -> None:
    base = Silence(math.log(30.0), 0.5, "weibull", 0.0, 1.0, 700.0)
    alive_later = Silence(math.log(30.0), 0.5, "weibull", 40 * DAY, 1.0, 740.0)
    loyal = Silence(math.log(30.0), 0.5, "weibull", 0.0, 1.0, 2000.0)
    s = 70 * DAY
    assert alive_later.log_odds(s) < base.log_odds(s)
    assert loyal.log_odds(s) < base.log_odds(s)


@given(silences, st.floats(min_value=-3.0, max_value=6.0), st.floats(min_value=0, max_value=90))
def test_the_crossing_is_where_the_odds_reach_the_target(silence, target, earliest_days):
    earliest = earliest_days * DAY
    at = silence.crossing(target, earliest)
    before = silence.crossing(target, earliest, before=True)
    if at == math.inf:
        assert silence.log_odds(100 * 365 * DAY) < target
        return
    assert before <= at
    assert at >= max(earliest, silence.a, 1.0)
    assert silence.log_odds(at) >= target
    if before < at:
        assert silence.log_odds(before) < target
    # Just reached: the odds barely above the target, or the crossing pinned between two
    # silences a millionth apart (where the odds rise steeply), or at the earliest moment.
    assert (
        silence.log_odds(at) <= target + 0.01
        or silence.log_odds(at * (1.0 - 2e-6)) < target
        or at == max(earliest, silence.a, 1.0)
    )


def test_a_crossing_far_in_the_rhythm_tail_is_found() -> None:
    # A very regular customer (typical interval 1.6 days) silent since long before their last
    # sign of life: the rhythm says nothing more, only the lifetime raises the odds, slowly.
    # The search once crept along the rhythm's cumulative hazard and gave up (inf).
    silence = Silence(0.5, 0.12, "lognormal", 11888727.0, 1.0, 306.0)
    at = silence.crossing(2.0, 0.0)
    assert silence.log_odds(100 * 365 * DAY) > 2.0
    assert at < math.inf
    assert 2.0 <= silence.log_odds(at) <= 2.0 + 0.01
    before = silence.crossing(2.0, 0.0, before=True)
    assert before <= at and silence.log_odds(before) < 2.0


@given(silences, st.floats(min_value=0, max_value=3000))
def test_the_closed_form_ceiling_is_never_below_the_odds(silence, days):
    # The quick lower bound trusts this ceiling instead of evaluating the posterior.
    for s in (silence.a + days * DAY, days * DAY, silence.a * (1.0 + 1e-9) + 1e-3):
        assert silence._log_odds_ceiling(s) >= silence.log_odds(s)


@given(silences, st.floats(min_value=-3.0, max_value=6.0), st.floats(min_value=0, max_value=90))
def test_the_quick_lower_bound_is_below_the_crossing(silence, target, earliest):
    # When the quick bound answers, the odds there are short of the target, so it comes
    # before the crossing the full search finds, and it is what a lower bound returns.
    lo = max(earliest * DAY, silence.a, 1.0)
    quick = silence._quick_bound(target, lo)
    if quick is None:
        return
    assert quick >= lo
    assert silence.log_odds(quick) < target
    assert quick <= silence.crossing(target, lo)
    assert silence.crossing(target, lo, before=True) == quick


def test_the_quick_lower_bound_answers_close_to_the_crossing_for_a_typical_customer() -> None:
    # Monthly, seen three days after the last order: the bound is a few days early at the
    # at_risk target (log-odds 0) and within a day at the lost one (log(0.85 / 0.15)).
    silence = Silence(math.log(30.0), 0.8, "weibull", 3 * DAY, 1.0, 740.0)
    for target, days_early in ((0.0, 3.0), (math.log(0.85 / 0.15), 1.0)):
        quick = silence._quick_bound(target, 30 * DAY)
        assert quick is not None
        assert target - 0.15 < silence.log_odds(quick) < target
        assert 0 < silence.crossing(target, 30 * DAY) - quick < days_early * DAY


@given(silences, st.floats(min_value=-3.0, max_value=6.0), st.floats(min_value=0, max_value=90))
def test_a_remembered_crossing_is_the_one_the_search_finds(silence, target, earliest_days):
    earliest = earliest_days * DAY
    searched = silence._search(target, earliest, False)
    assert silence.crossing(target, earliest) == searched
    again = Silence(
        silence.mu, silence.sd, silence.family, silence.a, silence.shape, silence.rate_days
    )
    assert again.crossing(target, earliest) == searched  # from the table this time
