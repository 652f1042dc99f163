"""Tuning optimises what is reported: every trial's value is the test-time scoring applied to the valid part,
under the protocol's own evaluation mode (``exclude_seen``), metric and cutoff.

The shop below repurchases: each customer re-buys their favourite item in the valid week, so a list that may
repeat training items (the temporal protocol's default) scores far higher than one that may not. A study
whose objective ignored the protocol's mode (e.g. hard-wired to exclude seen items) would record values of a
different measure from the one the report shows, and this test fails.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cl.bench import load_config
from recsys_cl.bench._tuning import tune_benchmark
from recsys_cl.data._dataset import load_dataset, write_dataset
from recsys_cl.data._split import DAY
from recsys_cl.evaluation import evaluate
from recsys_cl.models import create

CONFIG = """
name: modes
datasets:
  - {name: shop, source: ml-100k}
protocols: [temporal]
protocol_options: {temporal: {test_days: 1, valid_days: 1%(exclude)s}}
models:
  - {model: repurchase, params: {fill_days: 3}, search: {order: {type: categorical, choices: [recency, frequency]}}}
  - {model: itemknn, search: {neighbours: {type: int, low: 2, high: 8, step: 2}}}
ks: [3]
metrics: [hr, ndcg]
tuning: {trials: 2, pruner: none, metric: ndcg@3}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(24):
        favourite = f"i{u % 6}"
        for day in range(8):  # a favourite bought often, other items now and then
            rows.append((f"u{u:02d}", favourite if day % 2 == 0 else f"i{rng.integers(6, 14)}", 1.6e9 + day * DAY))
        rows.append((f"u{u:02d}", favourite, 1.6e9 + 8.5 * DAY))  # valid day: a repurchase
        rows.append((f"u{u:02d}", f"i{rng.integers(0, 14)}", 1.6e9 + 9.5 * DAY))  # test day
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")
    out = tmp_path_factory.mktemp("shop") / "shop"
    write_dataset(out, "shop", frame, protocols=["temporal"], protocol_options={"temporal": {"test_days": 1, "valid_days": 1}})
    return out


def valid_score(dataset_dir, model: str, params: dict, exclude_seen: bool, metric: str, k: int) -> float:
    """What a reported run measures, on the valid part: fit on train, rank under ``exclude_seen``, score."""
    encoded = load_dataset(dataset_dir).tuning_encoded("temporal")
    fitted = create(model, **params).fit(encoded)
    rankings = fitted.recommend(encoded.user_ids[encoded.eval_users("valid")], k=k, exclude_seen=exclude_seen)
    return float(evaluate(rankings, encoded, part="valid", metrics=[metric], ks=[k], exclude_seen=exclude_seen).summary[f"{metric}@{k}"])


@pytest.mark.parametrize("exclude", [None, True])
def test_each_trial_is_scored_under_the_protocols_own_mode(tmp_path, shop, exclude):
    path = tmp_path / "modes.yaml"
    path.write_text(CONFIG % {"exclude": "" if exclude is None else ", exclude_seen: true"})
    config = load_config(path)
    mode = config.exclude_seen("temporal")
    assert mode is (exclude is True)  # temporal allows repurchases unless told otherwise
    summaries = tune_benchmark(config, tmp_path / "out", prepared={"shop": (shop, "fp")})
    checked = 0
    for summary in summaries:
        for trial in summary.trials:
            params = {**summary.base_params, **trial.params, "seed": config.tuning.seed}
            expected = valid_score(shop, summary.model, params, mode, "ndcg", 3)
            assert trial.value == pytest.approx(expected), (summary.model, trial.params, mode)
            other = valid_score(shop, summary.model, params, not mode, "ndcg", 3)
            checked += expected != pytest.approx(other)
    assert checked >= 2  # the two modes do disagree on this data: the check above can fail
