"""A study killed with SIGKILL mid-trial resumes: exactly its budget, finished trials untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from optuna.trial import TrialState

from recsys_cl.bench._config import ModelSpec, TuningSpec
from recsys_cl.bench import tune_model
from recsys_cl.models._spaces import ParamSpace

from ._tuning_data import write_tiny_dataset

optuna.logging.set_verbosity(optuna.logging.WARNING)

BUDGET = 6
# many cheap sweeps, so that a trial lasts long enough to be caught running
MODEL = ModelSpec(model="implicit-als", params={"factors": 8, "num_threads": 1},
                  search={"reg": ParamSpace(type="log_float", low=1e-2, high=10.0),
                          "epochs": ParamSpace(type="int", low=150, high=250)})  # fmt: skip
TUNING = TuningSpec(trials=BUDGET, seed=3, validate_every=50)

CHILD = textwrap.dedent(
    """
    import json, sys
    from recsys_cl.bench._config import ModelSpec, TuningSpec
    from recsys_cl.bench import tune_model
    model, tuning = ModelSpec.model_validate_json(sys.argv[3]), TuningSpec.model_validate_json(sys.argv[4])
    tune_model(sys.argv[1], "loo", model, tuning, results_dir=sys.argv[2])
    """
)


def finished(summary):
    return [(t.state, t.value, t.params) for t in summary.trials if t.state != "fail"]


def trials_in(journal):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    studies = storage.get_all_studies()
    return optuna.load_study(study_name=studies[0].study_name, storage=storage).trials if studies else []


def test_resume_after_kill_9_completes_exactly_the_budget(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), str(out), MODEL.model_dump_json(), TUNING.model_dump_json()],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env,
    )  # fmt: skip
    deadline = time.time() + 240
    before_kill = []
    try:
        while time.time() < deadline and proc.poll() is None:
            journals = list((out / "tuning").glob("*.journal")) if (out / "tuning").is_dir() else []
            trials = trials_in(journals[0]) if journals else []
            done = [t for t in trials if t.state.is_finished()]
            if len(done) >= 2 and trials[-1].state == TrialState.RUNNING:
                os.killpg(proc.pid, signal.SIGKILL)  # mid-trial: the last trial is running
                before_kill = done
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert before_kill, f"the study never had a running trial after two finished ones: {proc.stderr.read()[-2000:]!r}"
    assert len(before_kill) < BUDGET

    resumed = tune_model(data, "loo", MODEL, TUNING, results_dir=out)
    assert resumed.trials_completed + resumed.trials_pruned == BUDGET
    assert resumed.trials_run_now == BUDGET - len(before_kill)
    assert resumed.trials_failed == 1  # the trial that was running when the process died, not counted
    killed = next(t for t in resumed.trials if t.state == "fail")
    assert "left RUNNING" in killed.error and killed.number == len(before_kill)
    stored = {t.number: t for t in resumed.trials}
    for t in before_kill:  # finished trials are neither re-run nor changed
        assert stored[t.number].params == t.params and stored[t.number].value == t.value
    # and the resumed study made the choices an uninterrupted one makes
    straight = tune_model(data, "loo", MODEL, TUNING, results_dir=tmp_path / "straight")
    assert finished(resumed) == finished(straight)
    assert resumed.best_params == straight.best_params and resumed.best_value == straight.best_value


def test_a_journal_cut_mid_line_is_repaired_on_resume(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    model = ModelSpec(model="itemknn", search={"neighbours": ParamSpace(type="int", low=2, high=20)})
    first = tune_model(data, "loo", model, TuningSpec(trials=2), results_dir=tmp_path)
    journal = tmp_path / "tuning" / f"{first.key}.journal"
    with open(journal, "ab") as fh:  # what a writer killed inside write() could leave
        fh.write(b'{"op_code":4,"worker_id":"x","study_id":0,"datetime_start":"2026-')
    (tmp_path / "tuning" / f"{first.key}.journal.lock").symlink_to(journal)  # and Optuna's lock, never released
    started = time.perf_counter()
    again = tune_model(data, "loo", model, TuningSpec(trials=3), results_dir=tmp_path)
    assert time.perf_counter() - started < 25  # not Optuna's 30 s wait for a stale lock
    assert again.trials_run_now == 1 and again.trials_completed == 3 and again.trials_failed == 0
    assert [t.params for t in again.trials[:2]] == [t.params for t in first.trials]


def test_bad_input_in_a_trial_stops_the_study_and_leaves_nothing_running(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    # lightfm refuses item_identity=false without item features: bad input stops the study at once
    model = ModelSpec(model="lightfm", params={"item_identity": False, "epochs": 1})
    from recsys_cl.errors import InputError

    with pytest.raises(InputError, match="item_identity=false needs item_features"):
        tune_model(data, "loo", model, TuningSpec(trials=3), results_dir=tmp_path)
    (journal,) = (tmp_path / "tuning").glob("*.journal")
    assert [t.state for t in trials_in(journal)] == [TrialState.FAIL]


def test_a_study_stopped_during_its_configured_trial_tries_it_again_on_resume(tmp_path, monkeypatch):
    import recsys_cl.bench._trials as tuning_module

    data = write_tiny_dataset(tmp_path / "data")
    model = ModelSpec(model="implicit-als", params={"factors": 8, "epochs": 5},
                      search={"reg": ParamSpace(type="log_float", low=1e-2, high=10.0)})  # fmt: skip
    tuning = TuningSpec(trials=3, seed=3, pruner="none")
    straight = tune_model(data, "loo", model, tuning, results_dir=tmp_path / "straight")
    real = tuning_module._objective

    def stopped(*args, **kwargs):  # the run stops (Ctrl-C, or a node lost) during trial 0, the configured one
        raise KeyboardInterrupt

    monkeypatch.setattr(tuning_module, "_objective", stopped)
    with pytest.raises(KeyboardInterrupt):
        tune_model(data, "loo", model, tuning, results_dir=tmp_path / "stopped")
    monkeypatch.setattr(tuning_module, "_objective", real)
    resumed = tune_model(data, "loo", model, tuning, results_dir=tmp_path / "stopped")
    assert resumed.trials_failed == 1 and resumed.trials[0].state == "fail"
    assert finished(resumed) == finished(straight)  # the configured parameters first, then the same samples
    assert resumed.configured_value == straight.configured_value is not None


def test_a_trial_whose_model_diverges_is_replaced_and_the_search_goes_on(tmp_path, monkeypatch):
    """NaN scores from a trial's sampled parameters (a learning rate too high, ...) fail that trial only: a
    reference run once stopped whole on one FREEDOM trial."""
    import numpy as np

    from recsys_cl.models._implicit import ImplicitALS

    data = write_tiny_dataset(tmp_path / "data")
    real_fit = ImplicitALS._fit
    fits = []

    def second_fit_diverges(self, *args, **kwargs):
        real_fit(self, *args, **kwargs)
        fits.append(1)
        if len(fits) == 2:
            self.user_factors = np.full_like(self.user_factors, np.nan)

    monkeypatch.setattr(ImplicitALS, "_fit", second_fit_diverges)
    model = ModelSpec(model="implicit-als", params={"factors": 8, "epochs": 3},
                      search={"reg": ParamSpace(type="log_float", low=1e-2, high=10.0)})  # fmt: skip
    summary = tune_model(data, "loo", model, TuningSpec(trials=3, seed=3, pruner="none"), results_dir=tmp_path)
    assert summary.trials_completed == 3 and summary.trials_failed == 1
    (journal,) = (tmp_path / "tuning").glob("*.journal")
    failed = [t for t in trials_in(journal) if t.state == TrialState.FAIL]
    assert len(failed) == 1 and "ModelDiverged: the model produced NaN scores" in failed[0].user_attrs["error"]
    # its replacement draws other parameters: the same ones would diverge the same way until the study gave up
    replacement = next(t for t in trials_in(journal) if t.number == failed[0].number + 1)
    assert replacement.params != failed[0].params
