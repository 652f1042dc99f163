"""Early stopping watches what tuning optimises: with ``tuning.metric: map@3`` every trial's fit, the final
(refit-on-train) cell and its ``[default]`` twin validate on MAP@3 (RecBole's name for our map@3), not on the
model's own default (NDCG@10); an entry that sets the model's option itself keeps it.

``valid_metric`` recorded per trial is the fit's own record (``history.valid_metric``, the metric handed to
RecBole's evaluator: ``tests/models/test_recbole_validation.py`` shows RecBole computes that metric, with our
evaluator's value).
"""

from __future__ import annotations

import dataclasses

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


def test_with_refit_on_train_and_valid_the_default_twin_is_refit_on_them_too(tmp_path, shop, monkeypatch):
    """The tuned cell and its [default] twin see the same parts (train + valid), so the twin differs in its
    parameters only: it trains for the epoch early stopping kept in the study's configured trial (trial 0,
    the entry's own parameters), as the tuned cell does for the best trial."""
    from recsys_cl.bench._plan import configured_trial_epoch
    from recsys_cl.data._dataset import PreparedDataset as Dataset

    path = tmp_path / "refit.yaml"
    path.write_text(CONFIG.replace("epochs: 2", "epochs: 4").replace("compare_default: true", "compare_default: true, refit: train+valid"))
    config = load_config(path)
    summaries = tune_benchmark(config, tmp_path / "out", prepared={"shop": (shop, "fp")})
    summary = next(s for s in summaries if s.label == "BPR-MF")
    from recsys_cl.models import MODELS

    configured_rate = MODELS.get("bpr-recbole").Config().learning_rate  # the entry sets none: the model's own
    assert summary.configured_trial == 0 and summary.trials[0].params == {"learning_rate": configured_rate}
    kept = configured_trial_epoch(summary)
    assert kept is not None and 1 <= kept <= 4 and kept == summary.trials[0].best_epoch
    cells = [c for c in make_plan(config, tuning=True).tuned(summaries).cells if c.model_index == 0]
    tuned, twin = cells
    assert twin.label == "BPR-MF [default]" and twin.study is None and tuned.refit_on_valid and twin.refit_on_valid
    assert twin.params == {"epochs": kept, "embedding_size": 8}  # the configured length cut where trial 0 stopped
    assert twin.key(config, "fp") != dataclasses.replace(twin, refit_on_valid=False).key(config, "fp")
    merged = []
    original = Dataset.refit_encoded
    monkeypatch.setattr(Dataset, "refit_encoded", lambda self, protocol="loo": merged.append(protocol) or original(self, protocol))
    record, _ = run_cell(twin, config.model_dump_json(), str(shop), None)
    assert merged == ["temporal"]  # fitted on train + valid
    assert record.history["epochs_run"] == kept and not record.history.get("valid_metric")  # no valid part left to stop on


def test_configured_trial_epoch_is_none_when_the_configured_trial_did_not_complete():
    from recsys_cl.bench._plan import configured_trial_epoch
    from recsys_cl.reporting._records import TrialRecord

    class Summary:  # the two fields configured_trial_epoch reads
        configured_trial = 0
        trials = [TrialRecord(number=0, state="fail", value=None, params={}, best_epoch=None),
                  TrialRecord(number=1, state="complete", value=0.1, params={}, best_epoch=3)]  # fmt: skip

    assert configured_trial_epoch(Summary()) is None  # not trial 1's: it ran other parameters
    Summary.trials[0] = TrialRecord(number=0, state="complete", value=0.2, params={}, best_epoch=2)
    assert configured_trial_epoch(Summary()) == 2
    Summary.configured_trial = None
    assert configured_trial_epoch(Summary()) is None
