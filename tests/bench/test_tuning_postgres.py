"""Optuna studies on a real PostgreSQL server that the test starts (Debian's ``postgresql``: ``initdb`` + ``pg_ctl``
in a temporary folder, 127.0.0.1 only): the same trials and the same budget accounting as a journal folder, two
workers sharing one study, one of them killed with SIGKILL mid-trial, and a resume that repeats no finished trial.
Without the driver (the ``postgres`` extra) ``postgresql://`` is one line naming the extra."""

from __future__ import annotations

import base64
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from optuna.trial import TrialState

from recsys_cl.bench import tune_model
from recsys_cl.bench._config import ModelSpec, TuningSpec
from recsys_cl.bench._storage import check_storage, open_storage
from recsys_cl.bench._trials import StudyJob
from recsys_cl.errors import InputError
from recsys_cl.models._spaces import ParamSpace

from servers import Unavailable, postgres_server
from ._tuning_data import write_tiny_dataset

optuna.logging.set_verbosity(optuna.logging.WARNING)

BUDGET = 6
# many cheap sweeps, so that a trial lasts long enough to be caught running
MODEL = ModelSpec(model="implicit-als", params={"factors": 8, "num_threads": 1},
                  search={"reg": ParamSpace(type="log_float", low=1e-2, high=10.0),
                          "epochs": ParamSpace(type="int", low=150, high=250)})  # fmt: skip
TUNING = TuningSpec(trials=BUDGET, seed=3, pruner="none")

# one worker: open the shared study and finish QUOTA trials of it (STREAM seeds its sampler apart from the other's)
WORKER = textwrap.dedent(
    """
    import base64, pickle, sys
    import optuna
    from recsys_cl.bench._storage import open_storage
    from recsys_cl.bench._trials import TrialContext, pruner, run_trials
    job = pickle.loads(base64.b64decode(sys.argv[1]))
    study = optuna.load_study(study_name=job.study_name, storage=open_storage(job.storage), pruner=pruner(job.tuning))
    run_trials(study, job, TrialContext.open(job), int(sys.argv[2]), None, lambda _: None, int(sys.argv[3]))
    """
)


def test_a_missing_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError, as without the extra
    with pytest.raises(InputError, match=r"--storage postgresql://u:\*\*\*@127.0.0.1:1/db: the postgresql driver 'psycopg' "
                                         r"is not installed; pip install 'recsys-cl\[postgres\]' \(psycopg 3\)"):  # fmt: skip
        check_storage("postgresql://u:secret@127.0.0.1:1/db")
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(InputError, match=r"driver 'psycopg2' is not installed; pip install psycopg2-binary"):
        check_storage("postgresql+psycopg2://u@127.0.0.1:1/db")


@pytest.fixture(scope="module")
def postgres():
    pytest.importorskip("psycopg", reason="PostgreSQL studies need the [postgres] extra (psycopg 3)")
    try:
        server = postgres_server()
        url = server.__enter__()
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server can start here: {exc}")
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


def outcome(summary):
    return [(t.number, t.state, t.value, t.params) for t in summary.trials if t.counted]


@pytest.mark.slow
def test_a_study_on_postgres_makes_the_journals_trials_and_resumes_without_repeating(postgres, tiny, tmp_path):
    tuning = TuningSpec(trials=3, seed=5, pruner="none")
    on_postgres = tune_model(tiny, "loo", MODEL, tuning, results_dir=tmp_path / "pg", storage_url=postgres)
    on_journal = tune_model(tiny, "loo", MODEL, tuning, results_dir=tmp_path / "journal")
    assert outcome(on_postgres) == outcome(on_journal) and on_postgres.best_params == on_journal.best_params
    assert on_postgres.storage == postgres  # no password in it to hide
    again = tune_model(tiny, "loo", MODEL, tuning, results_dir=tmp_path / "pg", storage_url=postgres)
    assert again.trials_run_now == 0 and outcome(again) == outcome(on_postgres)
    longer = tune_model(tiny, "loo", MODEL, tuning.model_copy(update={"trials": 4}), results_dir=tmp_path / "pg",
                        storage_url=postgres)  # fmt: skip
    assert longer.trials_run_now == 1 and outcome(longer)[:3] == outcome(on_postgres)


def _worker_job(summary, data) -> StudyJob:
    """The job of this study (as ``tune_model`` builds it for these inputs)."""
    return StudyJob(study_name=summary.study_name, storage=summary.storage, dataset_dir=str(data), protocol="loo",
                  model=MODEL.model, base_params=dict(MODEL.params), trial_params={"seed": TUNING.seed, "device": "auto"},
                  space={n: s.model_dump() for n, s in MODEL.search.items()}, embedding_path=None,
                  tuning=TUNING.model_dump(), grid=None, exclude_seen=True)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["journal", "postgres"])
def test_two_workers_share_a_study_one_is_killed_and_the_resume_counts_as_the_journal_does(backend, request, tiny, tmp_path):
    storage_url = request.getfixturevalue("postgres") if backend == "postgres" else str(tmp_path / "studies")
    out = tmp_path / "out"
    first = tune_model(tiny, "loo", MODEL, TUNING.model_copy(update={"trials": 1}), results_dir=out, storage_url=storage_url)
    job = base64.b64encode(pickle.dumps(_worker_job(first, tiny))).decode()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    quotas = [3, BUDGET - 1 - 3]  # the remaining budget split between the two workers
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, job, str(quota), str(stream)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True, env=env)
               for stream, quota in enumerate(quotas, start=1)]  # fmt: skip
    study = optuna.load_study(study_name=first.study_name, storage=open_storage(first.storage))
    victim, survivor = workers
    killed_with: list = []
    try:
        deadline = time.time() + 300
        while time.time() < deadline and victim.poll() is None:
            trials = study.get_trials(deepcopy=False)
            running = [t for t in trials if t.state == TrialState.RUNNING]
            if sum(t.state.is_finished() for t in trials) >= 2 and len(running) == 2:  # both workers mid-trial
                os.killpg(victim.pid, signal.SIGKILL)
                killed_with = running
                break
            time.sleep(0.05)
        assert killed_with, f"never caught both workers mid-trial: {victim.stderr.read()[-2000:]!r}"
        assert survivor.wait(timeout=300) == 0, survivor.stderr.read()[-2000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    before = {t.number: t for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    left_running = [t.number for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    assert len(left_running) == 1 and left_running[0] in {t.number for t in killed_with}  # the killed worker's trial
    assert len(before) < BUDGET

    resumed = tune_model(tiny, "loo", MODEL, TUNING, results_dir=out, storage_url=storage_url)
    assert resumed.trials_completed + resumed.trials_pruned == BUDGET  # exactly the budget, whatever the storage
    assert resumed.trials_run_now == BUDGET - len(before)
    assert resumed.trials_failed == 1
    (failed,) = [t for t in resumed.trials if t.state == "fail"]
    assert failed.number == left_running[0] and "left RUNNING" in failed.error and not failed.counted
    stored = {t.number: t for t in resumed.trials}
    for number, trial in before.items():  # no finished trial is run again or changed
        assert stored[number].params == trial.params and stored[number].value == trial.value
    assert len(stored) == BUDGET + 1
