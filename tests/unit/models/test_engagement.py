"""Email engagement as evidence: the beta-binomial weight of unanswered mail, machine opens."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from models.engagement import is_machine_open, log_p_misses, silence_odds, silence_odds_ahead
from models.policy import Policy


def test_no_unanswered_mail_is_no_evidence() -> None:
    assert silence_odds(4.0, 16.0, 0) == 1.0
    assert log_p_misses(4.0, 16.0, 0) == 0.0


def test_the_chance_of_misses_is_the_beta_binomial_one() -> None:
    """Beta(1, 1) (a = 1 engaged, b = 1 not): E[(1 - q)^k] = 1 / (k + 1)."""
    for k in range(1, 6):
        assert math.isclose(math.exp(log_p_misses(1.0, 2.0, k)), 1.0 / (k + 1))


def test_without_spread_the_odds_are_one_over_the_chance_of_the_misses() -> None:
    """Beta(2, 3): E[(1 - q)^2] = (3 * 4) / (5 * 6) = 0.4, so odds 2.5."""
    assert math.isclose(silence_odds(2.0, 5.0, 2, spread=False), 2.5)


def test_spread_averages_over_when_the_customer_left() -> None:
    """Beta(2, 3), two misses: E[(1-q)^j] = 1, 0.6, 0.4 for j = 0, 1, 2; mean 2/3; / 0.4."""
    assert math.isclose(silence_odds(2.0, 5.0, 2), (2.0 / 3.0) / 0.4)


def test_an_engaged_reader_going_quiet_is_stronger_evidence() -> None:
    reader = silence_odds(0.6 * 60, 60.0, 5)  # reads 60 % of the mail
    skimmer = silence_odds(0.1 * 60, 60.0, 5)  # reads 10 %
    assert reader > 10 * skimmer > 10.0


@given(
    # At least one engaged and one unanswered mail's worth: the default prior alone is 4 and 12.
    st.floats(min_value=1, max_value=50),
    st.floats(min_value=1, max_value=50),
    st.integers(min_value=0, max_value=60),
    st.booleans(),
)
def test_every_further_unanswered_mail_adds_evidence(
    engaged: float, missed: float, k: int, spread: bool
) -> None:
    before = silence_odds(engaged, engaged + missed, k, spread)
    after = silence_odds(engaged, engaged + missed, k + 1, spread)
    assert 1.0 <= before <= after
    assert silence_odds(engaged, engaged + missed, k, True) <= silence_odds(
        engaged, engaged + missed, k, False
    ) * (1 + 1e-9)


def test_machine_opens() -> None:
    policy = Policy()
    assert is_machine_open(120.0, 0.3, policy)  # two minutes after the send
    assert is_machine_open(3 * 3600.0, 0.97, policy)  # opens (nearly) every mail
    assert not is_machine_open(3 * 3600.0, 0.5, policy)


@given(
    st.floats(min_value=0.01, max_value=60),
    st.floats(min_value=0.01, max_value=60),
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=10),
    st.booleans(),
)
def test_silence_odds_ahead_is_exact_now_and_the_most_within_the_lookahead(
    engaged, not_engaged, misses, ahead, spread
) -> None:
    delivered = engaged + not_engaged
    now, most = silence_odds_ahead(engaged, delivered, misses, ahead, spread)
    assert now == silence_odds(engaged, delivered, misses, spread)  # bit for bit
    assert most == max(
        silence_odds(engaged, delivered, k, spread) for k in range(misses, misses + ahead + 1)
    )
