"""Early stopping watches what tuning optimises: with ``tuning.metric: map@3`` every trial's fit, the final
(refit-on-train) cell and its ``[default]`` twin validate on MAP@3 (RecBole's name for our map@3), not on the
model's own default (NDCG@10); an entry that sets the model's option itself keeps it.

``valid_metric`` recorded per trial is the fit's own record (``history.valid_metric``, the metric handed to
RecBole's evaluator: ``tests/models/test_recbole_validation.py`` shows RecBole computes that metric, with our
evaluator's value).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cl.bench import load_config, run_cell
from recsys_cl.bench._plan import make_plan, validation_params
from recsys_cl.bench._storage import open_storage
from recsys_cl.bench._tuning import tune_benchmark
from recsys_cl.data._dataset import write_dataset
from recsys_cl.data._split import DAY

SEARCH = "search: {learning_rate: {type: log_float, low: 0.001, high: 0.1}}"
CONFIG = f"""
name: stopping
datasets:
  - {{name: shop, source: ml-100k}}
protocols: [temporal]
protocol_options: {{temporal: {{test_days: 1, valid_days: 1}}}}
models:
  - {{model: bpr-recbole, params: {{epochs: 2, embedding_size: 8}}, {SEARCH}}}
  - {{model: bpr-recbole, label: BPR own metric, params: {{epochs: 2, embedding_size: 8, valid_metric: Hit@2}}, {SEARCH}}}
ks: [3]
metrics: [map, hr]
tuning: {{trials: 2, pruner: none, metric: map@3, compare_default: true}}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple:
    rng = np.random.default_rng(1)
    rows = []
    for u in range(20):
        for day in range(6):
            rows.append((f"u{u:02d}", f"i{rng.integers(0, 10)}", 1.6e9 + day * DAY))
        rows.append((f"u{u:02d}", f"i{rng.integers(0, 10)}", 1.6e9 + 6.5 * DAY))  # valid day
        rows.append((f"u{u:02d}", f"i{rng.integers(0, 10)}", 1.6e9 + 7.5 * DAY))  # test day
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")
    out = tmp_path_factory.mktemp("stopping") / "shop"
    write_dataset(out, "shop", frame, protocols=["temporal"], protocol_options={"temporal": {"test_days": 1, "valid_days": 1}})
    return out


def test_trials_and_final_fits_stop_on_the_tuning_metric(tmp_path, shop):
    path = tmp_path / "stopping.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    summaries = tune_benchmark(config, tmp_path / "out", prepared={"shop": (shop, "fp")})
    expected = {"BPR-MF": "MAP@3", "BPR own metric": "Hit@2"}
    assert sorted(s.label for s in summaries) == sorted(expected)
    for summary in summaries:
        study = open_storage(summary.storage)
        trials = [t for t in study.get_all_trials(study.get_study_id_from_name(summary.study_name)) if t.state.is_finished()]
        assert len(trials) == 2
        assert [t.user_attrs["fit"].get("valid_metric") for t in trials] == [expected[summary.label]] * 2, summary.label
    cells = make_plan(config, tuning=True).tuned(summaries).cells
    assert len(cells) == 4  # each entry tuned and its [default] twin
    for cell in cells:
        record, _ = run_cell(cell, config.model_dump_json(), str(shop), None)
        # refit: train (the default) keeps a valid part: the final fits stop on the tuned metric as well
        assert record.history["valid_metric"] == expected[cell.label.removesuffix(" [default]")], cell.label


def test_a_models_own_choice_and_models_without_early_stopping_are_left_alone():
    assert validation_params("lightgcn", {}, "map@12") == {"valid_metric": "MAP@12"}
    assert validation_params("vbpr", {}, "hr@20") == {"valid_metric": "hr@20"}
    assert validation_params("two-stage", {}, "ndcg@12") == {"valid_metric": "ndcg@12"}
    assert validation_params("lightgcn", {"valid_metric": "Recall@20"}, "map@12") == {}  # set by the user
    assert validation_params("lightgcn", {}, "ndcg@10") == {}  # the default already: keys stay as they were
    assert validation_params("two-stage", {}, "hr@12") == {}  # LightGBM cannot stop on hit rate
    assert validation_params("ease", {}, "map@12") == {}  # no training epochs
