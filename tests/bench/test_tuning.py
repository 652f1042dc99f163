"""Tuning studies: valid part only, equal budgets, resumable storage, pruning, summaries."""

from __future__ import annotations

import shutil

import optuna
import pytest

from recsys_cl.bench._config import EmbeddingSpec, ModelSpec, TuningSpec
from recsys_cl.bench._study import data_fingerprint, study_key, tune_model
from recsys_cl.data._dataset import load_dataset
from recsys_cl.errors import InputError
from recsys_cl.models._spaces import DEFAULT_SPACES, ParamSpace

from ._tuning_data import NAME, spoil_test_file, write_tiny_dataset

optuna.logging.set_verbosity(optuna.logging.WARNING)

ALS = ModelSpec(
    model="implicit-als",
    params={"factors": 8, "epochs": 10},
    search={"reg": ParamSpace(type="log_float", low=1e-3, high=1e2), "alpha": ParamSpace(type="log_float", low=0.1, high=20.0)},
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


def outcome(summary):
    return [(t.number, t.state, t.value, t.params) for t in summary.trials if t.counted]


def test_a_garbage_test_file_changes_nothing(tiny, tmp_path):
    spoiled = tmp_path / "spoiled" / NAME
    shutil.copytree(tiny, spoiled)
    spoil_test_file(spoiled)
    tuning = TuningSpec(trials=5, seed=5)
    clean = tune_model(tiny, "loo", ALS, tuning, results_dir=tmp_path / "clean")
    dirty = tune_model(spoiled, "loo", ALS, tuning, results_dir=tmp_path / "dirty")
    assert clean.trials_completed + clean.trials_pruned == 5
    assert dirty.best_params == clean.best_params and dirty.best_value == clean.best_value
    assert outcome(dirty) == outcome(clean)
    assert dirty.key == clean.key  # the test file is not part of what decides a study


def test_summary_has_what_the_runner_and_report_need(tiny, tmp_path):
    summary = tune_model(tiny, "loo", ALS, TuningSpec(trials=5, pruner="none"), results_dir=tmp_path)
    assert summary.budget == 5 and summary.trials_completed == 5 and summary.trials_pruned == summary.trials_failed == 0
    values = [t.value for t in summary.trials]
    assert summary.best_value == max(values) and summary.best_trial == values.index(max(values))
    assert summary.best_params == summary.trials[summary.best_trial].params and set(summary.best_params) == {"reg", "alpha"}
    assert summary.refit_params == {"factors": 8, "epochs": 10, **summary.best_params}
    assert summary.best_so_far == [max(values[: i + 1]) for i in range(5)]
    assert summary.space == {name: spec.model_dump() for name, spec in ALS.search.items()}
    assert summary.study_name == f"{NAME}/loo/implicit-als+none/{summary.key}"  # not the label: it may change
    assert (tmp_path / "tuning" / f"{summary.key}.journal").is_file()
    assert summary.to_dict()["refit_params"] == summary.refit_params
    assert all(t.epochs_run == 10 for t in summary.trials) and summary.trial_seconds > 0


def test_the_objective_is_the_evaluators_metric_on_the_valid_part(tiny, tmp_path):
    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create

    summary = tune_model(tiny, "loo", ALS, TuningSpec(trials=2, pruner="none", metric="hr@5"), results_dir=tmp_path)
    best = summary.trials[summary.best_trial]
    encoded = load_dataset(tiny).encoded("loo")
    model = create("implicit-als", **summary.refit_params, seed=0).fit(encoded)
    rankings = model.recommend(encoded.user_ids[encoded.eval_users("valid")], k=5)
    assert best.value == pytest.approx(evaluate(rankings, encoded, part="valid", metrics=["hr"], ks=[5]).summary["hr@5"])


def test_rerun_resumes_and_a_larger_budget_adds_only_the_missing_trials(tiny, tmp_path):
    tuning = TuningSpec(trials=3, seed=1)
    first = tune_model(tiny, "loo", ALS, tuning, results_dir=tmp_path)
    again = tune_model(tiny, "loo", ALS, tuning, results_dir=tmp_path)
    assert first.trials_run_now == 3 and again.trials_run_now == 0 and outcome(again) == outcome(first)
    more = tune_model(tiny, "loo", ALS, tuning.model_copy(update={"trials": 5}), results_dir=tmp_path)
    assert more.key == first.key and more.trials_run_now == 2
    assert outcome(more)[:3] == outcome(first)
    # an uninterrupted 5-trial study picks the same trials: the sampler is seeded per finished trial
    straight = tune_model(tiny, "loo", ALS, tuning.model_copy(update={"trials": 5}), results_dir=tmp_path / "straight")
    assert outcome(straight) == outcome(more)
    # back to 3: the two extra trials stay stored but the summary is drawn from the first three only
    fewer = tune_model(tiny, "loo", ALS, tuning, results_dir=tmp_path)
    assert fewer.trials_run_now == 0 and fewer.trials_completed + fewer.trials_pruned == 3
    assert [t.counted for t in fewer.trials] == [True] * 3 + [False] * 2
    assert (fewer.best_value, fewer.best_params, fewer.best_so_far) == (first.best_value, first.best_params, first.best_so_far)


def test_a_pruned_trial_stops_early_and_is_recorded_as_pruned(tiny, tmp_path):
    # regularisation up to 1e4 flattens ALS's factors: such trials score far below the median
    model = ModelSpec(model="implicit-als", params={"factors": 8, "epochs": 8},
                      search={"reg": ParamSpace(type="log_float", low=1e-2, high=1e4)})  # fmt: skip
    tuning = TuningSpec(trials=12, sampler="random", seed=0, validate_every=2)
    summary = tune_model(tiny, "loo", model, tuning, results_dir=tmp_path)
    pruned = [t for t in summary.trials if t.state == "pruned"]
    assert pruned and summary.trials_pruned == len(pruned)
    assert summary.trials_completed + summary.trials_pruned == 12
    assert all(t.epochs_run < 8 and t.epochs_run % 2 == 0 for t in pruned)
    assert all(t.epochs_run == 8 for t in summary.trials if t.state == "complete")
    study = optuna.load_study(study_name=summary.study_name, storage=_journal(tmp_path, summary.key))
    by_number = {t.number: t for t in study.trials}
    for t in pruned:  # the pruner saw the validation scores, one per validated epoch
        assert sorted(by_number[t.number].intermediate_values) == list(range(2, t.epochs_run + 1, 2))
    # without a pruner nothing stops early
    unpruned = tune_model(tiny, "loo", model, tuning.model_copy(update={"pruner": "none", "trials": 3}), results_dir=tmp_path)
    assert unpruned.trials_pruned == 0 and all(t.epochs_run == 8 for t in unpruned.trials)


def test_a_pruner_warmup_lets_every_trial_run_its_first_epochs(tiny, tmp_path):
    """With ``pruner_warmup: W`` no trial is stopped before it has run W epochs (Optuna's n_warmup_steps: a
    step below W is never pruned): the same search without a warmup stopped trials at their first validation."""
    model = ModelSpec(model="implicit-als", params={"factors": 8, "epochs": 8},
                      search={"reg": ParamSpace(type="log_float", low=1e-2, high=1e4)})  # fmt: skip
    tuning = TuningSpec(trials=12, sampler="random", seed=0, validate_every=2)
    cold = tune_model(tiny, "loo", model, tuning, results_dir=tmp_path / "none")
    assert any(t.epochs_run == 2 for t in cold.trials if t.state == "pruned")
    warm = tune_model(tiny, "loo", model, tuning.model_copy(update={"pruner_warmup": 4}), results_dir=tmp_path / "four")
    pruned = [t for t in warm.trials if t.state == "pruned"]
    assert pruned and all(t.epochs_run >= 4 for t in pruned)  # validations at 2 (warm-up), 4 (the first that may prune)
    assert warm.pruner_warmup == 4 and warm.key != cold.key


def test_a_model_with_nothing_to_tune_runs_one_trial(tiny, tmp_path):
    summary = tune_model(tiny, "loo", ModelSpec(model="pop"), TuningSpec(trials=7), results_dir=tmp_path)
    assert summary.budget == 1 and summary.trials_completed == 1 and summary.best_params == {} and summary.space == {}
    assert summary.stopped_by == "nothing to tune"


def test_grid_sampler_visits_each_point_once_and_stops_when_the_grid_is_done(tiny, tmp_path):
    model = ModelSpec(model="itemknn", search={"neighbours": ParamSpace(type="int", low=2, high=6, step=2)})
    summary = tune_model(tiny, "loo", model, TuningSpec(trials=10, sampler="grid"), results_dir=tmp_path)
    assert summary.budget == 3 and summary.stopped_by == "grid exhausted"
    assert sorted(t.params["neighbours"] for t in summary.trials) == [2, 4, 6]


def test_the_default_space_is_used_when_no_search_is_given(tiny, tmp_path):
    summary = tune_model(tiny, "loo", ModelSpec(model="itemknn"), TuningSpec(trials=2), results_dir=tmp_path)
    assert summary.space == {name: spec.model_dump() for name, spec in DEFAULT_SPACES["itemknn"].space.items()}
    assert all(10 <= t.params["neighbours"] <= 1000 for t in summary.trials)


def test_a_second_driver_on_the_same_study_is_refused(tiny, tmp_path):
    from filelock import FileLock

    tuning = TuningSpec(trials=1)
    summary = tune_model(tiny, "loo", ModelSpec(model="pop"), tuning, results_dir=tmp_path)
    with FileLock(str(tmp_path / "tuning" / f"{summary.key}.lock")):
        with pytest.raises(InputError, match="another process is tuning it"):
            tune_model(tiny, "loo", ModelSpec(model="pop"), tuning.model_copy(update={"trials": 2}), results_dir=tmp_path)


def test_rdb_storage_url_works_and_a_bad_one_is_an_input_error(tiny, tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    summary = tune_model(tiny, "loo", ALS, TuningSpec(trials=2), results_dir=tmp_path, storage_url=url)
    assert summary.trials_completed + summary.trials_pruned == 2 and summary.storage == url
    assert not (tmp_path / "tuning" / f"{summary.key}.journal").exists()
    assert len(optuna.load_study(study_name=summary.study_name, storage=url).trials) == 2
    with pytest.raises(InputError, match="--storage sqlite:////no/such/dir/x.db: cannot open"):
        tune_model(tiny, "loo", ALS, TuningSpec(trials=1), results_dir=tmp_path, storage_url="sqlite:////no/such/dir/x.db")


def test_study_keys_change_with_what_decides_a_study_and_only_then():
    space = dict(ALS.search)
    base = dict(data_fingerprint="fp", protocol="loo", protocol_options={}, model=ALS, space=space, embedding=None,
                tuning=TuningSpec(), validate_every=5)  # fmt: skip
    key = study_key(**base)
    changed = [
        {"data_fingerprint": "other"},
        {"protocol": "temporal"},
        {"protocol_options": {"test_days": 3}},
        {"model": ALS.model_copy(update={"params": {"factors": 9, "epochs": 10}})},
        {"model": ALS.model_copy(update={"model": "implicit-bpr"})},
        {"space": {**space, "reg": ParamSpace(type="log_float", low=1e-3, high=10.0)}},
        {"embedding": EmbeddingSpec(name="e", method="raw-text")},
        {"tuning": TuningSpec(metric="hr@10")},
        {"tuning": TuningSpec(sampler="random")},
        {"tuning": TuningSpec(pruner="none")},
        {"tuning": TuningSpec(seed=1)},
        {"tuning": TuningSpec(pruner_warmup=10)},
        {"validate_every": 1},
        {"exclude_seen": False},
    ]
    keys = [study_key(**{**base, **change}) for change in changed]
    assert key not in keys and len(set(keys)) == len(keys)
    unchanged = [
        {"tuning": TuningSpec(trials=99, timeout_seconds=5, refit="train+valid")},
        {"model": ALS.model_copy(update={"label": "als", "embeddings": ["none", "x"]})},
    ]
    assert all(study_key(**{**base, **change}) == key for change in unchanged)
    # without a pruner the validation interval decides nothing
    no_pruner = {**base, "tuning": TuningSpec(pruner="none")}
    assert study_key(**no_pruner) == study_key(**{**no_pruner, "validate_every": 1})
    assert study_key(**no_pruner) == study_key(**{**no_pruner, "tuning": TuningSpec(pruner="none", pruner_warmup=10)})
    # a warmup keys the study of a model on its own validation schedule too (RecBole's: validate_every None);
    # a run once shared LightGCN's study between warmups 0 and 10
    own_schedule = {**base, "validate_every": None}
    assert study_key(**own_schedule) != study_key(**{**own_schedule, "tuning": TuningSpec(pruner_warmup=10)})
    # a study from before the warmup existed keeps its key (its journal resumes): a key the old payload made
    assert study_key(**base) == study_key(**{**base, "tuning": TuningSpec(pruner_warmup=0)})


def test_data_fingerprint_covers_train_and_valid_but_not_test(tiny, tmp_path):
    copy = tmp_path / NAME
    shutil.copytree(tiny, copy)
    before = data_fingerprint(load_dataset(copy), "loo")
    spoil_test_file(copy)
    assert data_fingerprint(load_dataset(copy), "loo") == before
    valid = copy / f"{NAME}.valid.inter"
    valid.write_text(valid.read_text().replace("u000", "u001", 1))
    assert data_fingerprint(load_dataset(copy), "loo") != before


def test_a_recbole_model_tunes_on_the_split_without_test(tiny, tmp_path):
    model = ModelSpec(model="bpr-recbole", params={"epochs": 2, "embedding_size": 8},
                      search={"learning_rate": ParamSpace(type="log_float", low=1e-3, high=1e-1)})  # fmt: skip
    spoiled = tmp_path / "spoiled" / NAME
    shutil.copytree(tiny, spoiled)
    spoil_test_file(spoiled)
    summary = tune_model(spoiled, "loo", model, TuningSpec(trials=2, pruner="none"), results_dir=tmp_path)
    assert summary.trials_completed == 2 and summary.trials_failed == 0 and summary.best_value > 0


def _journal(results, key):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(results / "tuning" / f"{key}.journal")))


@pytest.mark.slow  # ~40 s on 2 shared cores, most of it starting Ray
def test_a_study_on_ray_resumes_and_tries_what_the_local_executor_tries(tiny, tmp_path):
    model = ModelSpec(model="itemknn", search={"neighbours": ParamSpace(type="int", low=2, high=40)})
    first = tune_model(tiny, "loo", model, TuningSpec(trials=2), results_dir=tmp_path, executor="local")
    summary = tune_model(tiny, "loo", model, TuningSpec(trials=5), results_dir=tmp_path, executor="ray")
    assert summary.key == first.key and summary.trials_run_now == 3
    assert summary.trials_completed == 5 and summary.trials_failed == 0 and len(summary.trials) == 5
    assert summary.trials[:2] == first.trials
    local = tune_model(tiny, "loo", model, TuningSpec(trials=5), results_dir=tmp_path / "local", executor="local")
    assert outcome(summary) == outcome(local)  # one study is one task, its trials in order: as here


def test_an_embedding_variant_is_its_own_study_with_its_content_knobs(tiny, tmp_path):
    import numpy as np

    from recsys_cl.embeddings._io import ItemEmbeddings, write_itememb

    encoded = load_dataset(tiny).tuning_encoded("loo")
    rng = np.random.default_rng(0)
    groups = np.array([int(i[1:]) // 12 for i in encoded.item_ids])
    vectors = (rng.normal(size=(4, 6))[groups] + 0.1 * rng.normal(size=(len(groups), 6))).astype(np.float32)
    path = write_itememb(ItemEmbeddings(encoded.item_ids, vectors, "groups"), tmp_path / "groups.itememb")
    model = ModelSpec(model="lightfm", params={"epochs": 3, "no_components": 8}, embeddings=["none", "groups"])
    tuning = TuningSpec(trials=2, pruner="none")
    plain = tune_model(tiny, "loo", model, tuning, results_dir=tmp_path)
    content = tune_model(tiny, "loo", model, tuning, results_dir=tmp_path, embedding=EmbeddingSpec(name="groups", method="raw-text"),
                         embedding_path=path)  # fmt: skip
    assert plain.key != content.key and plain.embedding == "none" and content.embedding == "groups"
    assert "embedding_components" in content.space and "embedding_components" not in plain.space
    assert content.trials_completed == 2 and plain.trials_completed == 2  # the same budget for both variants
    with pytest.raises(InputError, match="give embedding and embedding_path together"):
        tune_model(tiny, "loo", model, tuning, results_dir=tmp_path, embedding_path=path)


def test_a_time_limit_stops_starting_trials_and_a_rerun_finishes_the_budget(tiny, tmp_path):
    stopped = tune_model(tiny, "loo", ALS, TuningSpec(trials=3, timeout_seconds=1e-9), results_dir=tmp_path)
    assert stopped.stopped_by == "timeout" and stopped.trials_run_now == 0
    finished = tune_model(tiny, "loo", ALS, TuningSpec(trials=3), results_dir=tmp_path)
    assert finished.key == stopped.key and finished.trials_run_now == 3 and finished.stopped_by == "budget"


def test_a_refit_on_train_and_valid_trains_as_many_epochs_as_the_best_trial_kept(tiny, tmp_path):
    """Refit on train + valid leaves no valid part to stop on: the final fit gets the best trial's kept epoch
    (recorded per trial) as its ``epochs``; a refit on train keeps early stopping and the configured epochs."""
    from recsys_cl.bench._plan import final_params

    model = ModelSpec(model="vbpr", params={"epochs": 300, "stopping_step": 2, "embedding_size": 8, "content_embedding_size": 8},
                      search={"learning_rate": ParamSpace(type="log_float", low=1e-3, high=0.05)})  # fmt: skip
    spec = EmbeddingSpec(name="noise", method="raw-text")
    emb = tmp_path / "noise.itememb"
    _write_noise_embedding(tiny, emb)
    summary = tune_model(tiny, "loo", model, TuningSpec(trials=2, pruner="none", refit="train+valid"), results_dir=tmp_path,
                         embedding=spec, embedding_path=emb)  # fmt: skip
    best = next(t for t in summary.trials if t.number == summary.best_trial)
    assert best.best_epoch is not None and best.best_epoch <= best.epochs_run < 300
    assert final_params(summary) == {**summary.refit_params, "epochs": best.best_epoch}
    on_train = summary.model_copy(update={"refit": "train"})
    assert final_params(on_train) == summary.refit_params and summary.refit_params["epochs"] == 300
    # with a valid part early stopping stays, on the tuning metric (recommend --fit-on train passes valid_part)
    for_map = summary.model_copy(update={"metric": "map@5"})
    assert final_params(for_map, valid_part=True) == {**summary.refit_params, "valid_metric": "map@5"}
    assert final_params(for_map, valid_part=False) == {**summary.refit_params, "epochs": best.best_epoch}


def _write_noise_embedding(directory, path) -> None:
    import numpy as np

    from recsys_cl.embeddings import ItemEmbeddings, write_itememb

    items = load_dataset(directory).encoded("loo").item_ids.astype(str)
    write_itememb(ItemEmbeddings(items, np.random.default_rng(0).normal(size=(len(items), 4)).astype(np.float32), "noise"), path)
