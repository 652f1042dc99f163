"""Optuna storage of the studies: journal files that survive ``kill -9`` (see ``_study``), or an RDB URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys_cl.errors import InputError

if TYPE_CHECKING:
    import optuna


#: the errors of trials that did not fail by themselves: their run was killed (found RUNNING on resume) or interrupted
STALE = "left RUNNING by a run that was stopped; failed on resume"
INTERRUPTED = "interrupted: the run stopped during this trial"


def check_storage(storage_url: str | None) -> None:
    """Open ``storage_url`` once (an RDB URL, or a folder for journal files) so a bad one fails before
    anything is written; the error names ``--storage``."""
    if storage_url is None:
        return
    if "://" in storage_url:
        _rdb_storage(storage_url)
        return
    folder = Path(storage_url)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--storage {storage_url}: not a folder (give a folder for journal files or an RDB URL)")
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise InputError(f"--storage {storage_url}: cannot create this folder")


def open_storage(storage: str, sole_writer: bool = False) -> "optuna.storages.BaseStorage":
    """An RDB URL -> RDBStorage; anything else is a journal file path. ``sole_writer``: this process is the
    only one appending to the journal (a local driver holding the study's lock), so appends need no file lock."""
    if "://" in storage:
        return _rdb_storage(storage)
    from optuna.storages import JournalStorage

    return JournalStorage(_journal_backend_class()(storage, sole_writer))


def _journal_backend_class() -> type:
    """Optuna's journal file backend, fsyncing only the operations that create a study or end a trial,
    and taking no file lock when it is the journal's sole writer.

    Every operation is still appended at once, which is all ``kill -9`` needs (the kernel keeps what
    ``write`` accepted); fsync is for a machine that loses power. Optuna fsyncs each operation, and a
    trial has ten or more (its parameters, one per validated epoch, its attributes): 18 ms each on this
    busy 2-core machine, 8% of an ALS fit on ml-100k. A finished trial's record is durable before its
    successor starts; what an OS crash can lose is the unfinished trial, which a re-run replaces anyway.
    Optuna's NFS-safe lock (a symlink made and removed per operation: metadata writes that wait behind
    the fsyncs, 6 ms each under load) guards appends from several processes; a local driver holding
    the study's lock has none beside it (Ray workers do, and keep it).
    """
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
    from optuna.storages.journal._storage import JournalOperation

    durable = {JournalOperation.CREATE_STUDY, JournalOperation.SET_TRIAL_STATE_VALUES}

    class SoleWriter:  # the lock interface JournalFileBackend calls (acquire / release), holding nothing
        def acquire(self) -> bool:
            return True

        def release(self) -> None:
            return None

    class TrialDurableJournal(JournalFileBackend):
        def __init__(self, file_path: str, sole_writer: bool) -> None:
            self._path = file_path
            self._file_lock = SoleWriter() if sole_writer else JournalFileSymlinkLock(file_path)
            super().__init__(file_path, lock_obj=self._file_lock)

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            if any(log.get("op_code") in durable for log in logs):
                super().append_logs(logs)
                return
            lines = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
            self._file_lock.acquire()
            try:
                with open(self._path, "ab") as fh:
                    fh.write(lines)
            finally:
                self._file_lock.release()

    return TrialDurableJournal


#: what to install for a database's driver, by SQLAlchemy dialect driver name
DRIVER_EXTRAS = {"psycopg": "pip install 'recsys-cl[postgres]' (psycopg 3)",
                 "psycopg2": "pip install psycopg2-binary, or drop '+psycopg2' and pip install 'recsys-cl[postgres]'",
                 "mysqldb": "pip install mysqlclient (or use mysql+pymysql:// with pip install pymysql)"}  # fmt: skip
#: seconds a PostgreSQL connection may take: a host that does not answer is an error, not a hang
CONNECT_SECONDS = 10


def _check_driver(url: str) -> None:
    """Fail with what to install when the database driver of ``url`` is missing (Optuna says only "Failed
    to import DB access module"). SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, not psycopg2."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(url).get_dialect()
        dialect.import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return  # not a URL SQLAlchemy knows: RDBStorage says so below
    except ImportError:
        hint = DRIVER_EXTRAS.get(dialect.driver, f"pip install the {dialect.driver} package")
        raise InputError(f"--storage {safe_url(url)}: the {dialect.name} driver {dialect.driver!r} is not installed; "
                         f"{hint}") from None  # fmt: skip


def _rdb_storage(url: str) -> "optuna.storages.RDBStorage":
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import SQLAlchemyError

    _check_driver(url)
    engine = {"connect_args": {"connect_timeout": CONNECT_SECONDS}} if url.startswith("postgresql") else None
    try:
        return RDBStorage(url, engine_kwargs=engine)
    except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"--storage {safe_url(url)}: cannot open: {first}") from None


def safe_url(url: str) -> str:
    """``url`` without its password (storage URLs end up in summaries and messages)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def repair_journal(path: Path) -> None:
    """Undo what a killed writer can leave in a journal file: a last line cut short (the operation it
    held never happened; Optuna would otherwise append after it and corrupt the next line) and Optuna's
    lock file (its writer is gone: the caller holds the study's lock, so no other writer is alive)."""
    Path(f"{path}.lock").unlink(missing_ok=True)
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, 2)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        fh.truncate(fh.read().rfind(b"\n") + 1)


def fail_stale_trials(study: "optuna.Study", storage: "optuna.storages.BaseStorage") -> None:
    """Mark the trials a killed run left RUNNING as failed (they never finished; a fresh trial replaces
    them). Safe because the caller holds the study's lock: no live process is running them."""
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "error", STALE)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
