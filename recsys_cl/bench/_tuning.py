"""Tuning: one Optuna study per dataset x protocol x model x embedding variant, on the valid part only.

Every study gets the same budget (``tuning.trials`` finished trials: completed or pruned), the same
objective (``tuning.metric`` on the valid part through :func:`recsys_cl.evaluation.evaluate`, training
items excluded as when ranking for test) and a seeded sampler (TPE, random or grid). Trials fit on
:meth:`PreparedDataset.tuning_encoded`: the test file is never opened, so no test interaction can steer
a choice, whatever a model does.

Storage survives ``kill -9``: each study lives in Optuna storage, by default a journal file
``<results>/tuning/<key>.journal`` (every operation appended at once; study creation and trial ends
also fsynced), or any RDB URL given as ``storage_url`` (``sqlite:///...``, ``postgresql://...``). A
re-run opens the study again and runs only what the budget still lacks; a trial left RUNNING by a
killed run is marked FAIL first (and not counted), so the finished count still reaches the budget; a
journal line cut short by the kill is dropped. Only one driver may tune a study at a time (a lock file
``<key>.lock`` beside the journal, or in ``<results>/tuning`` for RDB storage, released by the kernel
when its process dies), which is what makes a RUNNING trial found on start-up certainly stale. Only
the first ``trials`` finished trials of a study count, so a study once run longer gives no model more.

Resumed studies pick the same parameters as uninterrupted ones: the sampler is re-seeded before each
trial from (seed, number of trials finished so far), and TPE and the median pruner read finished trials
only, so a trial killed half-way changes nothing but the trial numbers after it.

With ``executor="ray"`` the trials of a study run as Ray tasks (one CPU each) that open the same
storage: a journal folder on a filesystem every node mounts (``storage_url=/shared/path``), or an RDB
URL every node reaches (PostgreSQL, MySQL). The driver splits the remaining budget between the tasks,
so the study finishes exactly its budget.

A study's key is a hash of everything that decides its trials (data fingerprint, protocol and options,
model and fixed parameters, space, embedding spec, metric, sampler, pruner and its validation interval,
seed, whether seen items are excluded, code version); the budget, time limit, refit choice, label and
device are not in it, so a larger budget resumes the same study.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

from recsys_cl import __version__
from recsys_cl.bench._config import (
    MODALITY_JOIN,
    NO_EMBEDDING,
    BenchmarkConfig,
    EmbeddingSpec,
    ModelSpec,
    TuningSpec,
    variant_parts,
)
from recsys_cl.bench._grid import labels
from recsys_cl.data import PreparedDataset, load_dataset
from recsys_cl.errors import InputError
from recsys_cl.models._spaces import DEFAULT_SPACES, ParamSpace, check_grid, resolve_space
from recsys_cl.progress import StageProgress
from recsys_cl.reporting import StudySummary, TrialRecord, write_study

if TYPE_CHECKING:
    import optuna

    from recsys_cl.data import EncodedSplit
    from recsys_cl.embeddings import ItemEmbeddings

#: folder of a results directory holding the studies (journal files, locks, summaries)
TUNING_DIR = "tuning"
#: study label, stage text, finished trials, budget: one line per study for the CLI
StudyProgress = Callable[[str, str, int, int], None]
Executor = Literal["local", "ray"]


# ---------------------------------------------------------------------------------------------- checks
def check_spaces(config: BenchmarkConfig, where: str) -> None:
    """Validate every model's search space (each embedding variant) against its config, and that the grid
    sampler gets discrete values only; errors name ``where`` and the key (``models.3.search.reg.low``)."""
    tuning = config.tuning or TuningSpec()
    for i, spec in enumerate(config.models):
        for embedding in spec.embeddings:
            space = model_space(spec, embedding != NO_EMBEDDING, where, f"models.{i}.search.")
            if tuning.sampler == "grid":
                default = f" (default space of {spec.model})" if spec.search is None else ""
                check_grid(space, where, f"models.{i}.search{default}.")


def model_space(spec: ModelSpec, with_embedding: bool, where: str = "", key_prefix: str = "search.") -> dict[str, ParamSpace]:
    """The space a model entry is tuned over: its ``search`` (checked) or its default."""
    return resolve_space(spec.model, spec.params, spec.search, with_embedding, where, key_prefix)


def tuning_with_trials(tuning: TuningSpec | None, trials: int | None) -> TuningSpec:
    """``tuning`` (defaults when None) with its budget replaced by ``--trials`` when given."""
    tuning = tuning or TuningSpec()
    if trials is None:
        return tuning
    if trials < 1:
        raise InputError(f"--trials {trials}: must be at least 1")
    return tuning.model_copy(update={"trials": trials})


def check_run_options(executor: str, storage_url: str | None) -> None:
    """The executor name and the storage, before anything is written."""
    if executor not in ("local", "ray"):
        raise InputError(f"--executor {executor!r}: choose local or ray")
    check_storage(storage_url)


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


# ---------------------------------------------------------------------------------------------- keys
def data_fingerprint(dataset: PreparedDataset, protocol: str) -> str:
    """Hash of the files tuning reads (train, valid, item catalogue): the test file is not in it, since
    it cannot change a study."""
    digest = hashlib.blake2b(digest_size=16)
    for path in dataset.tuning_files(protocol):
        digest.update(path.name.encode() + b"\0" + str(path.stat().st_size).encode() + b"\0")
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def study_key(
    *,
    data_fingerprint: str,
    protocol: str,
    protocol_options: Mapping[str, Any],
    model: ModelSpec,
    space: Mapping[str, ParamSpace],
    embedding: EmbeddingSpec | tuple[EmbeddingSpec, ...] | None,
    tuning: TuningSpec,
    validate_every: int | None,
    exclude_seen: bool = True,
) -> str:
    """Hash of everything that decides a study's trials (see the module docstring for what is left out)."""
    payload = _key_payload(data_fingerprint, protocol, protocol_options, model, space, embedding, tuning, validate_every,
                           exclude_seen)  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _key_payload(data_fp, protocol, protocol_options, model, space, embedding, tuning, validate_every, exclude_seen) -> dict[str, Any]:
    return {
        "data_fingerprint": data_fp,
        "protocol": protocol,
        "protocol_options": dict(protocol_options),
        "model": model.model,
        "params": model.params,
        "space": {name: spec.model_dump() for name, spec in sorted(space.items())},
        # one spec as it always was (study keys of single embeddings unchanged), several as a list
        "embedding": (embedding.identity() if isinstance(embedding, EmbeddingSpec) else [e.identity() for e in embedding])
        if embedding else None,
        "metric": tuning.metric,
        "sampler": tuning.sampler,
        "pruner": tuning.pruner,
        # the validation interval only matters to a pruner
        "validate_every": validate_every if tuning.pruner != "none" else None,
        "seed": tuning.seed,
        "exclude_seen": exclude_seen,
        "code_version": __version__,
    }


# ---------------------------------------------------------------------------------------------- one study
@dataclasses.dataclass(frozen=True)
class _Study:
    """Everything a process needs to run trials of one study (picklable: it travels to Ray workers)."""

    study_name: str
    storage: str  # journal file path or RDB URL
    dataset_dir: str
    protocol: str
    model: str
    base_params: dict[str, Any]
    trial_params: dict[str, Any]  # seed, device, validation knobs: set on every trial, never searched
    space: dict[str, dict[str, Any]]
    embedding_path: str | list[str] | None
    tuning: dict[str, Any]
    grid: dict[str, list[Any]] | None
    exclude_seen: bool
    #: names of the modalities when ``embedding_path`` lists several files
    embedding_names: tuple[str, ...] = ()


def tune_model(
    dataset: PreparedDataset | str | Path,
    protocol: str,
    model: ModelSpec,
    tuning: TuningSpec,
    *,
    results_dir: str | Path,
    embedding: EmbeddingSpec | tuple[EmbeddingSpec, ...] | None = None,
    embedding_path: str | Path | list[str] | None = None,
    storage_url: str | None = None,
    protocol_options: Mapping[str, Any] | None = None,
    fingerprint: str | None = None,
    device: str = "auto",
    exclude_seen: bool = True,
    executor: Executor = "local",
    ray_address: str | None = None,
    progress: StageProgress | None = None,
    label: str | None = None,
) -> StudySummary:
    """Tune ``model`` on ``dataset``'s ``protocol`` split (valid part) until ``tuning.trials`` trials have
    finished in its study, resuming whatever the study's storage already holds.

    ``results_dir`` holds the study's lock (and its journal unless ``storage_url`` names other storage);
    ``embedding`` / ``embedding_path``: the item-embedding variant (its spec keys the study, its file is
    read); ``progress(stage, finished, budget)`` after each trial, the stage naming the best value so far
    and the pruned count. Returns the :class:`StudySummary`.
    """
    import optuna
    from filelock import FileLock, Timeout

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its "study created" lines are noise on a progress bar
    started = time.perf_counter()
    dataset = dataset if isinstance(dataset, PreparedDataset) else load_dataset(dataset)
    if (embedding is None) != (embedding_path is None):
        raise InputError("tune_model: give embedding and embedding_path together (or neither)")
    space = model_space(model, embedding is not None, f"model {model.model}")
    grid = check_grid(space, f"model {model.model}") if tuning.sampler == "grid" else None
    validate_every = _validate_every(model.model, tuning)
    fingerprint = fingerprint or data_fingerprint(dataset, protocol)
    key = study_key(data_fingerprint=fingerprint, protocol=protocol, protocol_options=protocol_options or {}, model=model,
                    space=space, embedding=embedding, tuning=tuning, validate_every=validate_every,
                    exclude_seen=exclude_seen)  # fmt: skip
    specs = (embedding,) if isinstance(embedding, EmbeddingSpec) else tuple(embedding or ())
    embedding_name = MODALITY_JOIN.join(e.name for e in specs) or NO_EMBEDDING
    label = label or model.label or _run_name(model)
    # not the label: labels follow the other entries of a config, and a renamed study would start again
    study_name = f"{dataset.name}/{protocol}/{model.model}+{embedding_name}/{key}"
    results_dir = Path(results_dir)
    study_dir = results_dir / TUNING_DIR
    study_dir.mkdir(parents=True, exist_ok=True)
    storage = storage_url if storage_url and "://" in storage_url else str(Path(storage_url or study_dir) / f"{key}.journal")
    if "://" not in storage:
        Path(storage).parent.mkdir(parents=True, exist_ok=True)

    trial_params: dict[str, Any] = {"seed": tuning.seed, "device": device}
    if tuning.pruner != "none" and validate_every:
        trial_params.update(validate_every=validate_every, valid_metric=tuning.metric)
    job = _Study(
        study_name=study_name, storage=storage, dataset_dir=str(dataset.directory), protocol=protocol, model=model.model,
        base_params=dict(model.params), trial_params=trial_params, space={n: s.model_dump() for n, s in space.items()},
        embedding_path=([str(p) for p in embedding_path] if isinstance(embedding_path, (list, tuple)) else str(embedding_path))
        if embedding_path else None, embedding_names=tuple(e.name for e in specs), tuning=tuning.model_dump(), grid=grid,
        exclude_seen=exclude_seen,
    )  # fmt: skip
    budget = tuning.trials if space else 1  # nothing to tune: one trial is the whole search
    if grid is not None:
        budget = min(budget, math.prod(len(values) for values in grid.values()))

    # beside the journal (so drivers sharing a journal folder see each other), else in the results folder
    lock = FileLock(str((study_dir if "://" in storage else Path(storage).parent) / f"{key}.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise InputError(f"study {study_name}: another process is tuning it (lock {lock.lock_file})") from None
    try:
        if "://" not in storage:
            _repair_journal(Path(storage))
        # the driver writes alone when trials run here; with Ray, workers write beside it
        opened = _open_storage(storage, sole_writer=executor == "local")
        study = optuna.create_study(
            study_name=study_name, storage=opened, direction="maximize", load_if_exists=True, pruner=_pruner(tuning)
        )
        if "spec" not in study.user_attrs:
            study.set_user_attr("spec", json.loads(json.dumps(
                _key_payload(fingerprint, protocol, protocol_options or {}, model, space, embedding, tuning, validate_every,
                             exclude_seen),
                default=str)))  # fmt: skip
        _fail_stale_trials(study, opened)
        if not study.trials and tuning.sampler != "grid":
            _enqueue_configured(study, job)
        before = _finished_count(study)
        deadline = None if tuning.timeout_seconds is None else time.time() + tuning.timeout_seconds
        report = _progress_reporter(progress, tuning.metric, budget)
        if executor == "local":
            context = _TrialContext.open(job)
            stopped_by = _run_trials(study, job, context, budget - before, deadline, report, stream=0)
        elif executor == "ray":
            stopped_by = _run_on_ray(study, job, budget - before, deadline, report, ray_address)
        else:
            raise InputError(f"--executor {executor!r}: choose local or ray")
        return _summarize(study, job, label, embedding_name, key, tuning, budget, before, stopped_by, started)
    finally:
        lock.release()


def _validate_every(model: str, tuning: TuningSpec) -> int | None:
    """Epochs between validations for the models that validate on our schedule (None for the others)."""
    if "validate_every" not in _model_fields(model):
        return None
    entry = DEFAULT_SPACES.get(model)
    return tuning.validate_every or (entry.validate_every if entry else None) or 1


def _run_name(model: ModelSpec) -> str:
    from recsys_cl.models import create

    return create(model.model, **model.params).run_name


def _model_fields(model: str) -> set[str]:
    from recsys_cl.models import MODELS

    return set(MODELS.get(model).Config.model_fields)


# ---------------------------------------------------------------------------------------------- storage
def _open_storage(storage: str, sole_writer: bool = False) -> "optuna.storages.BaseStorage":
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


def _rdb_storage(url: str) -> "optuna.storages.RDBStorage":
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return RDBStorage(url)
    except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"--storage {_safe_url(url)}: cannot open: {first}") from None


def _safe_url(url: str) -> str:
    """``url`` without its password (storage URLs end up in summaries and messages)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _repair_journal(path: Path) -> None:
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


def _enqueue_configured(study: "optuna.Study", job: _Study) -> None:
    """Trial 0 of a new study: the parameters the config gives the model (its defaults where it sets none),
    for each searched parameter whose value lies in the space. The search then never ends below the
    untuned model on the valid part, and the report's default-vs-tuned comparison starts from the same
    point; it counts against the budget like any other trial."""
    from recsys_cl.models import MODELS

    configured = {**MODELS.get(job.model).Config().model_dump(), **job.base_params}
    fixed = {}
    for name, distribution in _distributions(job.space).items():
        value = configured.get(name)
        try:
            inside = value is not None and distribution._contains(distribution.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if inside:
            fixed[name] = value
    if fixed:
        study.enqueue_trial(fixed, user_attrs={"configured": True})


def _fail_stale_trials(study: "optuna.Study", storage: "optuna.storages.BaseStorage") -> None:
    """Mark the trials a killed run left RUNNING as failed (they never finished; a fresh trial replaces
    them). Safe because the caller holds the study's lock: no live process is running them."""
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "error", "left RUNNING by a run that was stopped; failed on resume")
        storage.set_trial_state_values(trial_id, TrialState.FAIL)


# ---------------------------------------------------------------------------------------------- samplers
def _sampler(tuning: TuningSpec | Mapping[str, Any], grid: Mapping[str, list[Any]] | None, stream: int, finished: int):
    """A sampler seeded for the next trial from (seed, stream, trials finished so far): TPE and the random
    sampler hold no state but their generator, so re-seeding per trial makes a resumed study draw what an
    uninterrupted one would (``stream`` tells Ray workers apart)."""
    import numpy as np
    import optuna

    values = tuning if isinstance(tuning, Mapping) else tuning.model_dump()
    if values["sampler"] == "grid":
        assert grid is not None
        # The grid sampler orders its points by a shuffle of its seed and gives trial n the n-th point: a
        # seed per trial would shuffle differently each time and visit points twice.
        return _grid_sampler_class()(dict(grid), seed=values["seed"])
    seed = int(np.random.SeedSequence([values["seed"], stream, finished]).generate_state(1)[0])
    if values["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _grid_sampler_class() -> type:
    """Made on first use: optuna is imported only when tuning runs."""
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its ``study.stop()`` once every point is visited: that only
        works inside ``Study.optimize``, and the budget here is already capped at the grid's size."""

        def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
            return None

    return GridSampler


def _pruner(tuning: TuningSpec | Mapping[str, Any]):
    import optuna

    pruner = tuning["pruner"] if isinstance(tuning, Mapping) else tuning.pruner
    return optuna.pruners.MedianPruner() if pruner == "median" else optuna.pruners.NopPruner()


def _distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "int":
            out[name] = IntDistribution(int(spec["low"]), int(spec["high"]), step=int(spec["step"] or 1))
        elif kind == "float":
            out[name] = FloatDistribution(float(spec["low"]), float(spec["high"]), step=spec["step"])
        elif kind == "log_float":
            out[name] = FloatDistribution(float(spec["low"]), float(spec["high"]), log=True)
        else:
            out[name] = CategoricalDistribution(spec["choices"])
    return out


# ---------------------------------------------------------------------------------------------- trials
@dataclasses.dataclass
class _TrialContext:
    """The data a process fits trials on, loaded once: the split without its test part, embeddings."""

    encoded: "EncodedSplit"
    embeddings: "ItemEmbeddings | None"

    @classmethod
    def open(cls, job: _Study) -> "_TrialContext":
        from recsys_cl.embeddings import read_itememb

        encoded = load_dataset(job.dataset_dir).tuning_encoded(job.protocol)
        if not job.embedding_path:
            return cls(encoded, None)
        if isinstance(job.embedding_path, str):
            return cls(encoded, read_itememb(job.embedding_path))
        return cls(encoded, {name: read_itememb(path, name) for name, path in zip(job.embedding_names, job.embedding_path)})  # type: ignore[arg-type]


def _run_trials(study, job: _Study, context: _TrialContext, quota: int, deadline: float | None,
                report: Callable[["optuna.Study"], None], stream: int) -> str:  # fmt: skip
    """Run trials until ``quota`` of them have finished (completed or pruned) here; returns why it stopped.

    A trial that raises is recorded as failed and replaced; bad input (:class:`InputError`) and more
    failures than the quota stop the study with the error.
    """
    import optuna
    from optuna.trial import TrialState

    distributions = _distributions(job.space)
    finished = failed = 0
    while finished < quota:
        if deadline is not None and time.time() >= deadline:
            return "timeout"
        study.sampler = _sampler(job.tuning, job.grid, stream, _finished_count(study))
        trial = study.ask(distributions)
        try:
            value = _objective(trial, job, context)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            finished += 1
        except InputError:
            study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:  # a trial's own failure (diverged loss, ...): recorded, then replaced
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            failed += 1
            if failed > quota:
                raise RuntimeError(f"study {job.study_name}: {failed} trials failed; last: {type(exc).__name__}: {exc}") from exc
        except BaseException:  # interrupted: the trial did not finish, and must not stay RUNNING
            study.tell(trial, state=TrialState.FAIL)
            raise
        else:
            if math.isfinite(value):
                study.tell(trial, value)
                finished += 1
            else:
                trial.set_user_attr("error", f"objective is {value}")
                study.tell(trial, state=TrialState.FAIL)
                failed += 1
        report(study)
    return "budget"


def _objective(trial: "optuna.Trial", job: _Study, context: _TrialContext) -> float:
    """Fit with the trial's parameters on train, then score ``metric`` on valid; per-epoch validation
    scores go to the pruner, which may stop the fit (``optuna.TrialPruned``)."""
    import optuna

    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create

    metric = job.tuning["metric"]
    name, _, k = metric.partition("@")
    model = create(job.model, **{**job.base_params, **trial.params, **job.trial_params})

    def on_epoch(epoch: int, score: float) -> None:
        trial.report(score, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"epoch {epoch}: {metric} {score:.4f}")

    encoded = context.encoded
    model.exclude_seen = job.exclude_seen  # per-epoch validation ranks as the final ranking will
    try:
        model.fit(encoded, context.embeddings, on_epoch=on_epoch if job.tuning["pruner"] != "none" else None)
    finally:  # one storage write: a pruned fit has epochs but no fit time
        trial.set_user_attr("fit", {"epochs_run": model.history.epochs_run, "fit_seconds": model.fit_seconds})
    rankings = model.recommend(encoded.user_ids[encoded.eval_users("valid")], k=int(k), exclude_seen=job.exclude_seen)
    return float(evaluate(rankings, encoded, part="valid", metrics=[name], ks=[int(k)]).summary[metric])


def _finished_count(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _progress_reporter(progress: StageProgress | None, metric: str, budget: int) -> Callable[["optuna.Study"], None]:
    from optuna.trial import TrialState

    def report(study) -> None:
        if progress is None:
            return
        trials = study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        pruned = sum(t.state == TrialState.PRUNED for t in trials)
        best = f"best {metric} {max(values):.4f}" if values else "no trial completed"
        progress(f"trial {len(done)}/{budget}, {best}, {pruned} pruned", len(done), budget)

    return report


# ---------------------------------------------------------------------------------------------- ray
def _ray_trials(job: _Study, quota: int, deadline: float | None, stream: int) -> str:
    """One Ray task: open the study from its shared storage and finish ``quota`` trials of it."""
    import optuna

    study = optuna.load_study(study_name=job.study_name, storage=_open_storage(job.storage), pruner=_pruner(job.tuning))
    return _run_trials(study, job, _TrialContext.open(job), quota, deadline, lambda _: None, stream)


def _run_on_ray(study, job: _Study, remaining: int, deadline: float | None, report, ray_address: str | None) -> str:
    """The remaining trials as Ray tasks, split so that together they finish exactly ``remaining``."""
    if remaining <= 0:
        return "budget"
    import ray

    from recsys_cl.bench._ray import start_ray

    started_here = start_ray(ray_address)
    try:
        workers = max(1, min(remaining, int(ray.cluster_resources().get("CPU", 1))))
        quotas = [remaining // workers + (i < remaining % workers) for i in range(workers)]
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_trials)
        pending = [remote.remote(job, quota, deadline, stream) for stream, quota in enumerate(quotas, start=1)]
        reasons = []
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            reasons += ray.get(ready)
            report(study)
        return "timeout" if "timeout" in reasons else "budget"
    finally:
        if started_here:
            ray.shutdown()


# ---------------------------------------------------------------------------------------------- summary
def _summarize(study, job: _Study, label: str, embedding: str, key: str, tuning: TuningSpec, budget: int, before: int,
               stopped_by: str, started: float) -> StudySummary:  # fmt: skip
    """The study as it stands. Only its first ``budget`` finished trials count (best, curve, counts): a
    study once run with a larger budget must not give one model more trials than the others."""
    from optuna.trial import TrialState

    states = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "fail"}
    records, best_so_far, seconds, counted = [], [], 0.0, 0
    best: tuple[float, int, dict[str, Any]] | None = None
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if t.state not in states:
            continue
        duration = t.duration.total_seconds() if t.duration is not None else None
        finished = t.state != TrialState.FAIL
        fit = t.user_attrs.get("fit") or {}
        record = TrialRecord(number=t.number, state=states[t.state], value=t.value if t.state == TrialState.COMPLETE else None,
                             params=dict(t.params), epochs_run=fit.get("epochs_run"), seconds=duration,
                             fit_seconds=fit.get("fit_seconds"), error=t.user_attrs.get("error"),
                             counted=finished and counted < budget)  # fmt: skip
        records.append(record)
        if not record.counted:
            continue
        counted += 1
        seconds += duration or 0.0
        if t.state == TrialState.COMPLETE and t.value is not None and (best is None or t.value > best[0]):
            best = (t.value, t.number, dict(t.params))
        best_so_far.append(best[0] if best else None)
    count = {name: sum(r.state == name and (r.counted or name == "fail") for r in records) for name in ("complete", "pruned", "fail")}
    configured = next((t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("configured")), None)
    configured_value = configured.value if configured is not None and configured.state == TrialState.COMPLETE else None
    if stopped_by == "budget" and counted < tuning.trials and budget < tuning.trials:
        stopped_by = "grid exhausted" if job.grid is not None else "nothing to tune"
    return StudySummary(
        study_name=job.study_name, key=key, storage=_safe_url(job.storage) if "://" in job.storage else job.storage,
        dataset=Path(job.dataset_dir).name, protocol=job.protocol, model=job.model, label=label, embedding=embedding,
        metric=tuning.metric, sampler=tuning.sampler, pruner=tuning.pruner, seed=tuning.seed, refit=tuning.refit,
        space=job.space, base_params=job.base_params, budget=budget, trials_completed=count["complete"],
        trials_pruned=count["pruned"], trials_failed=count["fail"], trials_run_now=max(0, _finished_count(study) - before),
        best_params=best[2] if best else {}, best_value=best[0] if best else None, best_trial=best[1] if best else None,
        best_so_far=best_so_far, trials=records, stopped_by=stopped_by, wall_seconds=time.perf_counter() - started,
        trial_seconds=seconds, configured_value=configured_value,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- a config
@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """One study of a benchmark config: which dataset, protocol, model entry and embedding variant."""

    dataset: str
    protocol: str
    model_index: int
    model: ModelSpec
    #: the variant's item embeddings: none, one, or several modalities
    embeddings: tuple[EmbeddingSpec, ...]

    @property
    def embedding_name(self) -> str:
        return MODALITY_JOIN.join(e.name for e in self.embeddings) or NO_EMBEDDING

    def describe(self, label_of: Mapping[tuple[int, str], str] | None = None) -> str:
        if label_of is not None:
            return f"{self.dataset}/{self.protocol}/{label_of[(self.model_index, self.embedding_name)]}"
        label = self.model.label or _run_name(self.model)
        return f"{self.dataset}/{self.protocol}/{label}+{self.embedding_name}"


def study_plans(config: BenchmarkConfig) -> list[StudyPlan]:
    """The studies of ``config``: dataset x protocol x model entry x embedding variant (no seeds: a study
    is tuned once, with ``tuning.seed``; final fits use the config's seeds)."""
    embeddings = {e.name: e for e in config.embeddings}
    return [
        StudyPlan(dataset.name, protocol, i, model, tuple(embeddings[part] for part in variant_parts(name)))
        for dataset in config.datasets
        if not dataset.retrieval_only
        for protocol in config.protocols
        for i, model in enumerate(config.models)
        if model.runs_on(dataset.name, protocol)
        for name in model.embeddings
    ]


def tune_benchmark(
    config: BenchmarkConfig,
    out_dir: str | Path,
    *,
    trials: int | None = None,
    executor: Executor = "local",
    storage_url: str | None = None,
    ray_address: str | None = None,
    raw_overrides: Mapping[str, str] | None = None,
    progress: StageProgress | None = None,
    on_study: StudyProgress | None = None,
    prepared: Mapping[str, tuple[Path, str]] | None = None,
    jobs: int = 1,
) -> list[StudySummary]:
    """Tune every study of ``config`` (see :func:`study_plans`) into ``out_dir``; data and embeddings are
    prepared as ``recsys-cl bench`` prepares them (and shared with it). Writes each study's summary to
    ``out_dir/tuning/<key>.json`` and all of them to ``out_dir/tuning/summaries.json``; returns them in
    :func:`study_plans` order.

    ``jobs`` > 1 (local executor) runs that many studies at once, each in its own single-threaded process
    (each study has its own storage and lock; the trials of one study stay sequential, as TPE wants them).
    Checks everything it can before writing anything: the budget, the executor, the storage.
    """
    from recsys_cl.bench._runner import learn_embedding, prepare_dataset
    from recsys_cl.data._atomic import write_json

    tuning = tuning_with_trials(config.tuning, trials)
    check_run_options(executor, storage_url)
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    raw_overrides = dict(raw_overrides or {})
    unknown = set(raw_overrides) - {d.name for d in config.datasets}
    if unknown:
        raise InputError(f"--raw: no dataset named {sorted(unknown)[0]!r} in the config")
    plans = study_plans(config)
    out_dir = Path(out_dir)

    if prepared is None:  # ``bench`` passes the folders it prepared; ``tune`` prepares them the same way
        prepared = {}
        for spec in config.datasets:
            if not spec.retrieval_only:
                prepared[spec.name] = prepare_dataset(spec, config, out_dir / "data", raw_overrides.get(spec.name), progress)
    label_of = labels(config)
    fingerprints: dict[tuple[str, str], str] = {}
    jobs_args: list[dict[str, Any]] = []
    for plan in plans:  # data fingerprints and embeddings here (shared by studies and cells), studies after
        dataset = load_dataset(prepared[plan.dataset][0])
        key = (plan.dataset, plan.protocol)
        if key not in fingerprints:
            fingerprints[key] = data_fingerprint(dataset, plan.protocol)
        # the embeddings of the tuning seed (refits per seed use their own seed's)
        paths = [
            str(learn_embedding(spec, dataset.directory, plan.protocol, out_dir / "embeddings", progress, seed=tuning.seed,
                                device=config.device, data_fingerprint=prepared[plan.dataset][1]))
            for spec in plan.embeddings
        ]  # fmt: skip
        jobs_args.append(dict(
            dataset=str(dataset.directory), protocol=plan.protocol, model=plan.model, tuning=tuning, results_dir=str(out_dir),
            embedding=(plan.embeddings[0] if len(plan.embeddings) == 1 else plan.embeddings) or None,
            embedding_path=(paths[0] if len(paths) == 1 else paths) or None, storage_url=storage_url,
            protocol_options=config.protocol_options.of(plan.protocol).model_dump(), fingerprint=fingerprints[key],
            device=config.device, exclude_seen=config.exclude_seen(plan.protocol), executor=executor, ray_address=ray_address,
            label=label_of[(plan.model_index, plan.embedding_name)],
        ))  # fmt: skip

    summaries: list[StudySummary | None] = [None] * len(plans)

    def done(index: int, summary: StudySummary) -> None:
        write_study(out_dir / TUNING_DIR / f"{summary.key}.json", summary)
        summaries[index] = summary

    if jobs == 1 or executor != "local":
        for index, (plan, kwargs) in enumerate(zip(plans, jobs_args)):
            label = plan.describe(label_of)
            study_progress = None if on_study is None else (lambda stage, n, total, label=label: on_study(label, stage, n, total))
            done(index, tune_model(**kwargs, progress=study_progress))
    else:
        _tune_in_processes(plans, jobs_args, jobs, label_of, on_study, done)
    finished = [s for s in summaries if s is not None]
    write_json(out_dir / TUNING_DIR / "summaries.json", {"tuning": tuning.model_dump(), "studies": [s.to_json() for s in finished]})
    return finished


def _tune_in_processes(plans, jobs_args, jobs, label_of, on_study, done) -> None:
    """Studies in ``jobs`` spawned single-threaded worker processes that end with the driver; the driver
    writes each summary as its study finishes, so a crash loses only the studies' unfinished trials."""
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from recsys_cl.bench._runner import _worker_setup

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_setup, initargs=(os.getpid(),)) as pool:
        pending = {pool.submit(tune_model, **kwargs): index for index, kwargs in enumerate(jobs_args)}
        for index, plan in enumerate(plans):
            if on_study is not None:
                on_study(plan.describe(label_of), "queued", 0, jobs_args[index]["tuning"].trials)
        try:
            while pending:
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    summary = future.result()
                    done(index, summary)
                    if on_study is not None:
                        best = "no trial completed" if summary.best_value is None else f"best {summary.metric} {summary.best_value:.4f}"
                        on_study(plans[index].describe(label_of), f"{best}, {summary.trials_pruned} pruned",
                                 summary.trials_completed + summary.trials_pruned, summary.budget)  # fmt: skip
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
