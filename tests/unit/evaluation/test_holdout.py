"""Evaluation without ground truth: the no-order label, the metrics, P(no order), the report."""

# ``T`` (customer age) keeps the literature's name, as in evaluation.baselines.
# ruff: noqa: N803, N806

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import orjson
import pytest

from evaluation.baselines import BGNBD, ParetoNBD
from evaluation.evaluate import DETECTOR, EvaluationSpec
from evaluation.holdout import (
    HoldoutEvaluation,
    brier_score,
    evaluate_holdout,
    holdout_population,
    p_no_order,
)
from evaluation.holdout_report import render_table, write_report
from evaluation.inputs import InputError, OrderLog
from evaluation.metrics import roc_auc
from models.decisions import format_time
from models.events import OrderRecorded
from models.policy import Policy
from streams.replay import InputFile
from tests.builders import an_order, day, line, order_json

CDNOW_BGNBD = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)  # weeks, Fader, Hardie & Lee 2005
CDNOW_PARETO = ParetoNBD(r=0.553, alpha=10.578, s=0.606, beta=11.669)


def test_population_is_everyone_who_ordered_by_the_cutoff_labelled_by_the_horizon() -> None:
    log = OrderLog(cutoff=day(100), horizon_end=day(130))
    orders = [
        an_order("b", day(90)),
        an_order("a", day(10)),
        an_order("a", day(5)),
        an_order("b", day(120)),  # b orders in the horizon
        an_order("c", day(110)),  # c's first order is after the cutoff: not evaluated
        an_order("a", day(140)),  # after the horizon: a still counts as no order
        an_order("d", day(50), status="cancelled"),  # not a purchase
    ]
    for order in orders:
        log.note(order)
    population = holdout_population(log, 30.0)
    assert population.ids == ["a", "b"]
    assert population.no_order.tolist() == [True, False]
    assert population.order_counts.tolist() == [2, 1]
    assert population.first_order.tolist() == [day(5), day(90)]
    assert not population.churned.any()


def test_brier_score_by_hand() -> None:
    assert brier_score([0.9, 0.2, 0.5], [True, False, False]) == pytest.approx(
        (0.01 + 0.04 + 0.25) / 3
    )


def _simulate_no_order(
    model: BGNBD | ParetoNBD, x: float, t_x: float, T: float, t: float, n: int
) -> float:
    """Share of simulated futures without a purchase in (T, T + t], given the history."""
    rng = np.random.default_rng(11)
    alive = rng.random(n) < float(model.p_alive(x, t_x, T))
    lam = rng.gamma(model.r + x, 1.0 / (model.alpha + T), n)
    if isinstance(model, BGNBD):
        span = np.full(n, t)
    else:
        mu = rng.gamma(model.s, 1.0 / (model.beta + T), n)
        span = np.minimum(rng.exponential(1.0 / mu), t)
    bought = alive & (rng.poisson(lam * span) > 0)
    return float(1.0 - bought.mean())


@pytest.mark.parametrize("model", [CDNOW_BGNBD, CDNOW_PARETO], ids=["bg_nbd", "pareto_nbd"])
@pytest.mark.parametrize(("x", "t_x", "T"), [(0.0, 0.0, 38.0), (2.0, 30.43, 38.86), (7, 10, 30)])
def test_p_no_order_matches_a_simulation_of_the_posterior(
    model: BGNBD | ParetoNBD, x: float, t_x: float, T: float
) -> None:
    exact = float(p_no_order(model, 39.0, [x], [t_x], [T])[0])
    simulated = _simulate_no_order(model, x, t_x, T, 39.0, 400_000)
    assert exact == pytest.approx(simulated, abs=0.004)


def test_p_no_order_is_at_least_p_gone_and_falls_with_the_horizon() -> None:
    x, t_x, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 30.0, 5.0]), np.array([38.0] * 3)
    for model in (CDNOW_BGNBD, CDNOW_PARETO):
        short = p_no_order(model, 1.0, x, t_x, T)
        long = p_no_order(model, 52.0, x, t_x, T)
        assert (long >= 1.0 - model.p_alive(x, t_x, T) - 1e-12).all()
        assert (long < short).all() and (short <= 1.0).all()


def _orders(customer: str, days: list[int]) -> list[bytes]:
    return [
        line(
            order_json(
                event_id=f"{customer}-{d}",
                customer_id=customer,
                order_id=f"{customer}-o{d}",
                occurred_at=format_time(day(d)),
            )
        )
        for d in days
    ]


def _shop() -> bytes:
    """Weekly buyers who keep buying, weekly buyers who stop, one-order and irregular ones."""
    rng = np.random.default_rng(3)
    lines: list[bytes] = []
    for i in range(30):
        lines += _orders(f"stay{i:02d}", list(range(i % 7, 300, 7)))
        lines += _orders(f"quit{i:02d}", list(range(i % 7, 60 + 3 * i, 7)))
        lines += _orders(f"once{i:02d}", [5 * i])
        lines += _orders(f"poisson{i:02d}", sorted({int(d) for d in rng.uniform(0, 300, 6)}))
    lines.sort(key=lambda raw: (orjson.loads(raw)["occurred_at"], raw))
    return b"".join(lines)


@pytest.fixture(scope="module")
def evaluation() -> HoldoutEvaluation:
    spec = EvaluationSpec(cutoff=day(200), horizon_days=90)
    return evaluate_holdout([InputFile("shop", io.BytesIO(_shop()))], spec, Policy())


def test_every_method_is_scored_against_the_no_order_label(
    evaluation: HoldoutEvaluation,
) -> None:
    metrics = evaluation.metrics
    population = evaluation.population
    assert population.size == 120
    assert metrics["population"]["no_order_in_horizon"] == int(population.no_order.sum())
    stays = [population.ids.index(f"stay{i:02d}") for i in range(30)]
    assert not population.no_order[stays].any()
    expected = {
        DETECTOR, "recency_90d", "recency_182d", "own_interval_2x", "bg_nbd", "pareto_nbd",
        "mbg_cnbd_k",
    }  # fmt: skip
    assert set(metrics["methods"]) == expected
    for method in evaluation.methods:
        block = metrics["methods"][method.key]
        assert block["auc_no_order"] == roc_auc(population.no_order, method.score)
        assert 0.0 <= block["lost"]["precision"] <= 1.0, method.key
        assert (block["brier"] is None) == (not method.probability), method.key
    detector = metrics["methods"][DETECTOR]
    # The steady weekly buyers are never flagged, the weekly buyers who stopped long ago are.
    lost = dict(zip(population.ids, evaluation.methods[0].lost.tolist(), strict=True))
    assert not any(lost[f"stay{i:02d}"] for i in range(30))
    assert all(lost[f"quit{i:02d}"] for i in range(10))
    assert detector["auc_no_order"] > 0.8
    assert set(detector["matched"]) == expected - {DETECTOR}
    # Spend in the horizon: every buyer gets a prediction from the value model and the
    # naive baseline, against the same realised total.
    value = metrics["value"]
    assert set(value) == {"detector", "past_spend_rate"}
    assert {block["customers"] for block in value.values()} == {population.size}
    assert value["detector"]["realised_total"] == value["past_spend_rate"]["realised_total"]
    assert detector["by_orders"]["1"]["customers"] >= 30  # the once* customers, at least
    for key in ("bg_nbd", "pareto_nbd", "mbg_cnbd_k"):
        block = metrics["methods"][key]
        assert 0.0 < block["p_no_order"]["brier"] < 0.25, key
        assert block["params"]["converged"] is True, key
    assert 0.0 < metrics["methods"]["pareto_nbd"]["auc_no_order_expected_orders"] <= 1.0
    assert "auc_no_order_expected_orders" not in metrics["methods"]["mbg_cnbd_k"]
    # The weekly buyers make the regular rhythm the likelier one.
    assert metrics["methods"]["mbg_cnbd_k"]["params"]["k"] > 1


def test_the_table_and_the_report_files(evaluation: HoldoutEvaluation, tmp_path: Path) -> None:
    table = render_table(evaluation)
    assert "no ground truth: 120 customers" in table
    assert re.search(r"AUC, score \(risk, 1 - P\(alive\)\)\s+\d\.\d{3}", table)
    assert "26 weeks silent" in table and "Pareto/NBD" in table
    write_report(evaluation, tmp_path)
    metrics = orjson.loads((tmp_path / "metrics.json").read_bytes())
    assert metrics["run"]["mode"] == "holdout"
    assert metrics["methods"][DETECTOR]["calibration"]["deciles"]
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 3
    assert not re.search(r"(src|href)=['\"]?https?:", page)


def test_no_order_before_the_cutoff_is_an_input_error() -> None:
    spec = EvaluationSpec(cutoff=day(-10), horizon_days=30)
    with pytest.raises(InputError, match="no customer"):
        evaluate_holdout([InputFile("shop", io.BytesIO(_shop()))], spec, Policy())


def test_order_log_notes_only_placed_orders() -> None:
    log = OrderLog(cutoff=day(10), horizon_end=day(20))
    log.note(OrderRecorded("e", "c", day(1), "o", 1.0, "EUR", "refunded"))
    assert holdout_population(log, 10.0).size == 0


def test_a_log_of_one_order_customers_is_scored_without_an_interval_to_go_by() -> None:
    lines = [_orders(f"c{i}", [i])[0] for i in range(20)]
    spec = EvaluationSpec(cutoff=day(100), horizon_days=30)
    evaluation = evaluate_holdout([InputFile("shop", io.BytesIO(b"".join(lines)))], spec, Policy())
    own = evaluation.metrics["methods"]["own_interval_2x"]
    assert own["params"]["fallback_interval_days"] == 30.0
    assert own["lost"]["flagged"] == 20  # 81 to 100 days of silence, more than twice 30 days
    assert evaluation.metrics["population"]["no_order_in_horizon"] == 20
