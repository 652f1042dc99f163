"""``recsys-cl recommend --fit-on train+valid|all``: what the fit is given besides the merged interactions.
The entry's item embeddings are learned on the same parts (and reused on a re-run); a model that early-stops
on the valid part (two-stage) trains for the round its benchmark cell, its study's best trial (--best) or, untuned, its study's configured trial kept."""

from __future__ import annotations

import json

import pytest

from recsys_cl.bench import recommend_for_config
from recsys_cl.embeddings import EmbeddingQuality
from recsys_cl.reporting import read_cell

from ._finished_run import finished_run

CONFIG = """
name: fit-parts
datasets:
  - name: hm-synth
    source: hm-synth
    synth: {customers: 200, articles: 150, weeks: 6, images: false, seed: 0}
protocols: [temporal]
protocol_options:
  temporal: {test_days: 7, valid_days: 7, exclude_seen: false}
embeddings:
  - {name: co, method: copurchase, options: {text_model: tfidf, use_cache: false, train: {epochs: 2, batch_size: 32}}}
models:
  - {model: content-knn, embeddings: [co]}
  - model: two-stage
    params: {generators: [{model: repurchase}, {model: pop}], num_trees: 150, early_stopping_rounds: 3, min_data_in_leaf: 1}
seeds: [0]
metrics: [map]
ks: [12]
"""
TWO_STAGE = "two-stage"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished benchmark of CONFIG: its embedding learned on the training part, its two-stage cell early-stopped."""
    return finished_run(tmp_path_factory.mktemp("fit-parts"), "fit-parts", CONFIG)


def _config(run):
    from recsys_cl.bench import load_config

    return load_config(run / "fit-parts.yaml")


def _split_sizes(run):
    from recsys_cl.data import load_dataset

    split = load_dataset(run / "run" / "data" / "atomic" / "hm-synth").split("temporal")
    return {"train": split.train.height, "all": split.train.height + split.valid.height + split.test.height}


def test_the_embedding_is_learned_on_the_parts_the_model_is_fitted_on_and_reused(run):
    config, sizes = _config(run), _split_sizes(run)
    bench_file = run / "run" / "embeddings" / "hm-synth" / "temporal" / "seed-0" / "co.itememb"
    assert EmbeddingQuality.read(f"{bench_file}.quality.json").interactions == sizes["train"]

    on_train = recommend_for_config(config, run / "knn-train", model="content-knn", run_dir=run / "run", fit_on="train")
    assert on_train["embedding"] == {"learned_on": ["train"], "files": [str(bench_file)]}  # the benchmark's own, reused

    on_all = recommend_for_config(config, run / "knn-all", model="content-knn", run_dir=run / "run", fit_on="all")
    (learned,) = on_all["embedding"]["files"]
    assert on_all["embedding"]["learned_on"] == ["train", "valid", "test"] and learned != str(bench_file)
    assert on_all["training_length"] is None  # content-kNN does not stop early: nothing to carry over
    quality = EmbeddingQuality.read(f"{learned}.quality.json")
    assert quality.parts == ["train", "valid", "test"] and quality.interactions == sizes["all"] > sizes["train"]
    # the co-purchase pairs of the valid and test weeks were mined too
    bench_quality = EmbeddingQuality.read(f"{bench_file}.quality.json")
    assert quality.training.n_train + quality.training.n_heldout > bench_quality.training.n_train + bench_quality.training.n_heldout

    made = (run / "run" / "embeddings").rglob("*.itememb")
    stamps = {p: p.stat().st_mtime_ns for p in made}
    again = recommend_for_config(config, run / "knn-all", model="content-knn", run_dir=run / "run", fit_on="all")
    assert again["embedding"] == on_all["embedding"]
    assert {p: p.stat().st_mtime_ns for p in (run / "run" / "embeddings").rglob("*.itememb")} == stamps  # nothing relearned


def _cell(run, model):
    cells = [read_cell(p) for p in (run / "run" / "cells").glob("*.json")]
    return next(c for c in cells if c.model_name == model)


@pytest.mark.parametrize("fit_on", ["train+valid", "all"])
def test_two_stage_without_a_valid_part_trains_the_rounds_its_cell_kept(run, cli, fit_on):
    cell = _cell(run, TWO_STAGE)
    kept = cell.diagnostics["training"]["best_round"]
    assert cell.history["valid_metric"] and kept < 150  # the cell stopped early: there is something to carry over
    out = run / f"two-stage-{fit_on}"
    code, stdout, stderr = cli(["recommend", str(run / "fit-parts.yaml"), "--model", TWO_STAGE, "--run", str(run / "run"),
                                "--fit-on", fit_on, "--out", str(out)])  # fmt: skip
    assert code == 0, stderr
    record = json.loads((out / "recommend.json").read_text())
    length = record["training_length"]
    assert (length["param"], length["configured"], length["fitted_with"]) == ("num_trees", 150, kept)
    assert "benchmark cell" in length["kept_by"] and cell.key in length["kept_by"]
    assert record["params"]["num_trees"] == kept
    assert record["time_windows"]["ranker_training"]["rounds"] == kept  # LightGBM ran exactly the kept rounds
    assert f"num_trees {kept}: benchmark cell" in stdout


def test_fitted_on_train_two_stage_stops_early_itself(run):
    record = recommend_for_config(_config(run), run / "two-stage-train", model=TWO_STAGE, run_dir=run / "run", fit_on="train")
    kept = _cell(run, TWO_STAGE).diagnostics["training"]["best_round"]
    assert record["training_length"] is None and record["params"]["num_trees"] == 150
    assert record["time_windows"]["ranker_training"]["best_round"] == kept  # the cell's own early stopping, again


def test_without_a_cell_the_configured_rounds_run_and_the_record_says_why(run, tmp_path):
    record = recommend_for_config(_config(run), tmp_path / "out", model=TWO_STAGE, run_dir=tmp_path / "fresh", fit_on="all")
    length = record["training_length"]
    assert length["kept_by"] is None and length["fitted_with"] == 150 and "no finished benchmark cell" in length["note"]
    assert record["time_windows"]["ranker_training"]["rounds"] == 150


@pytest.fixture(scope="module")
def tuned(run):
    """Two-stage alone, tuned (2 trials) with refit on train + valid: its config and its one study."""
    from recsys_cl.bench import tune_benchmark
    from recsys_cl.bench._config import ModelSpec, TuningSpec

    config = _config(run)
    entry = ModelSpec.model_validate({**config.models[1].model_dump(exclude_unset=True),
                                      "search": {"learning_rate": {"type": "log_float", "low": 0.02, "high": 0.3}}})  # fmt: skip
    config = config.model_copy(update={"models": [entry], "embeddings": [], "tuning": TuningSpec(metric="map@12", refit="train+valid")})
    (study,) = tune_benchmark(config, run / "tuned", trials=2)
    return config, study


def test_best_takes_the_round_of_the_studys_best_trial(run, tuned):
    from recsys_cl.bench._plan import best_trial_epoch, final_params

    config, study = tuned
    kept = best_trial_epoch(study)
    assert kept is not None and kept < 150
    assert final_params(study)["num_trees"] == kept  # the benchmark's refit on train + valid: the same round

    record = recommend_for_config(config, run / "two-stage-best", model=TWO_STAGE, run_dir=run / "tuned", best=True, fit_on="all")
    length = record["training_length"]
    assert length["fitted_with"] == kept and study.key in length["kept_by"]
    assert record["params"] == {**study.refit_params, "num_trees": kept}
    assert record["time_windows"]["ranker_training"]["rounds"] == kept


def test_untuned_from_a_tuned_run_takes_the_round_of_the_configured_trial(run, tuned):
    """Without --best, a run with no cell of this entry but its study: the configured trial (the entry's own
    parameters) kept a round, as the benchmark's [default] twin refit on train + valid trains."""
    from recsys_cl.bench._plan import configured_trial_epoch

    config, study = tuned
    kept = configured_trial_epoch(study)
    assert study.configured_trial == 0 and kept is not None and kept < 150
    record = recommend_for_config(config, run / "two-stage-untuned", model=TWO_STAGE, run_dir=run / "tuned", fit_on="all")
    length = record["training_length"]
    assert length["fitted_with"] == kept and "configured trial (#0)" in length["kept_by"] and study.key in length["kept_by"]
    assert record["params"]["num_trees"] == kept and "learning_rate" not in record["params"]  # untuned: the entry's own
    assert record["time_windows"]["ranker_training"]["rounds"] == kept
