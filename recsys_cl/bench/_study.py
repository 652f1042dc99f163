"""Tuning: one Optuna study per dataset x protocol x model x embedding variant, on the valid part only.

Every study gets the same budget (``tuning.trials`` finished trials: completed or pruned), the same
objective (``tuning.metric`` on the valid part through :func:`recsys_cl.evaluation.evaluate`, training
items excluded or not as when ranking for test: the protocol's ``exclude_seen``) and a seeded sampler (TPE,
random or grid). Models that stop early validate on the same metric in the same mode (each trial gets
``bench._plan.validation_params``, e.g. RecBole's ``valid_metric: MAP@12`` for ``map@12``). Trials fit on
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

With ``executor="ray"`` a study is one Ray task (one CPU) that runs its trials in order, exactly as the
local executor does; ``tune_benchmark`` runs the studies of a config in parallel that way. So the same
config and seed give the same trials whatever the executor and however tasks finish: trials of one study
run in parallel would each be sampled from a history missing the others' results, which depends on timing.
The study's storage must be one every node reaches: a journal folder on a filesystem every node mounts
(``storage_url=/shared/path``, or the results folder), or an RDB URL (PostgreSQL, MySQL). A study whose
node is lost is run again by Ray on another node and resumes from its storage like a killed run.

A study's key is a hash of everything that decides its trials (data fingerprint, protocol and options,
model and fixed parameters, space, embedding spec, metric, sampler, pruner and its validation interval,
seed, whether seen items are excluded, the early-stopping metric where tuning changes it, code version);
the budget, time limit, refit choice, label and device are not in it, so a larger budget resumes the same
study.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Mapping

from recsys_cl import __version__
from recsys_cl.bench._config import MODALITY_JOIN, NO_EMBEDDING, EmbeddingSpec, ModelSpec, TuningSpec, model_space
from recsys_cl.bench._executor import Executor, RayResources, Task, run_tasks
from recsys_cl.bench._plan import model_run_name, validation_params
from recsys_cl.bench._storage import fail_stale_trials, open_storage, repair_journal, safe_url
from recsys_cl.bench._trials import (
    StudyJob,
    TrialContext,
    configured_not_tried,
    enqueue_configured,
    finished_count,
    progress_reporter,
    pruner,
    run_trials,
    stopped_by_its_run,
)
from recsys_cl.data import PreparedDataset, load_dataset
from recsys_cl.errors import InputError
from recsys_cl.models import DEFAULT_SPACES, ParamSpace, check_grid
from recsys_cl.progress import StageProgress
from recsys_cl.reporting import StudySummary, TrialRecord

#: folder of a results directory holding the studies (journal files, locks, summaries)
TUNING_DIR = "tuning"


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
        # only when set, so the keys of studies without one stay as they were. Not tied to validate_every: the
        # RecBole models validate every epoch on their own schedule (validate_every None) and are pruned too
        **({"pruner_warmup": tuning.pruner_warmup} if tuning.pruner != "none" and tuning.pruner_warmup else {}),
        "seed": tuning.seed,
        "exclude_seen": exclude_seen,
        "code_version": __version__,
        # early stopping on the tuning metric (bench._plan.validation_params): only where it changes a
        # model's defaults, so the keys of studies whose trials it does not change stay as they were
        **({"validation": validation} if (validation := validation_params(model.model, model.params, tuning.metric)) else {}),
    }


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

    if executor == "ray":
        return _study_on_ray(dict(dataset=str(dataset.directory) if isinstance(dataset, PreparedDataset) else str(dataset),
                                  protocol=protocol, model=model, tuning=tuning, results_dir=str(results_dir), embedding=embedding,
                                  embedding_path=embedding_path, storage_url=storage_url, protocol_options=protocol_options,
                                  fingerprint=fingerprint, device=device, exclude_seen=exclude_seen, label=label), ray_address)  # fmt: skip
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
    label = label or model.label or model_run_name(model.model, model.params)
    # not the label: labels follow the other entries of a config, and a renamed study would start again
    study_name = f"{dataset.name}/{protocol}/{model.model}+{embedding_name}/{key}"
    results_dir = Path(results_dir)
    study_dir = results_dir / TUNING_DIR
    study_dir.mkdir(parents=True, exist_ok=True)
    storage = storage_url if storage_url and "://" in storage_url else str(Path(storage_url or study_dir) / f"{key}.journal")
    if "://" not in storage:
        Path(storage).parent.mkdir(parents=True, exist_ok=True)

    trial_params = fixed_trial_params(model.model, model.params, tuning, device)
    job = StudyJob(
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
            repair_journal(Path(storage))
        # this process holds the study's lock and runs its trials: the journal's only writer
        opened = open_storage(storage, sole_writer=True)
        study = optuna.create_study(
            study_name=study_name, storage=opened, direction="maximize", load_if_exists=True, pruner=pruner(tuning)
        )
        if "spec" not in study.user_attrs:
            study.set_user_attr("spec", json.loads(json.dumps(
                _key_payload(fingerprint, protocol, protocol_options or {}, model, space, embedding, tuning, validate_every,
                             exclude_seen),
                default=str)))  # fmt: skip
        fail_stale_trials(study, opened)
        if tuning.sampler != "grid" and configured_not_tried(study):
            enqueue_configured(study, job)
        before = finished_count(study)
        deadline = None if tuning.timeout_seconds is None else time.time() + tuning.timeout_seconds
        report = progress_reporter(progress, tuning.metric, budget)
        if executor != "local":
            raise InputError(f"--executor {executor!r}: choose local or ray")
        stopped_by = run_trials(study, job, TrialContext.open(job), budget - before, deadline, report, stream=0)
        return _summarize(study, job, label, embedding_name, key, tuning, budget, before, stopped_by, started)
    finally:
        lock.release()


def fixed_trial_params(model: str, params: Mapping[str, Any], tuning: TuningSpec, device: str) -> dict[str, Any]:
    """What every trial of a study is given besides its sampled parameters: the tuning seed, the device, early
    stopping on what the study optimises (unless the entry chose the model's own option) and, where a pruner
    reads them, validations on the study's schedule (benchmarks/reference/audit_pruning.py rebuilds trials so)."""
    fixed: dict[str, Any] = {"seed": tuning.seed, "device": device, **validation_params(model, params, tuning.metric)}
    validate_every = _validate_every(model, tuning)
    if tuning.pruner != "none" and validate_every:
        fixed.update(validate_every=validate_every, valid_metric=tuning.metric)
    return fixed


def _validate_every(model: str, tuning: TuningSpec) -> int | None:
    """Epochs between validations for the models that validate on our schedule (None for the others)."""
    if "validate_every" not in _model_fields(model):
        return None
    entry = DEFAULT_SPACES.get(model)
    return tuning.validate_every or (entry.validate_every if entry else None) or 1


def _model_fields(model: str) -> set[str]:
    from recsys_cl.models import MODELS

    return set(MODELS.get(model).Config.model_fields)


#: a study on Ray: one CPU, its trials in order; run again (resuming) where its node is lost
STUDY_RESOURCES = RayResources(cpus=1)


def _study_on_ray(kwargs: dict[str, Any], ray_address: str | None) -> StudySummary:
    """One study as one Ray task (``tune_model`` with the local executor, on whichever node runs it)."""
    summaries: list[StudySummary] = []
    run_tasks([Task(tune_model, kwargs=kwargs)], lambda _, summary: summaries.append(summary), executor="ray",
              ray_address=ray_address, ray_resources=STUDY_RESOURCES)  # fmt: skip
    return summaries[0]


def _summarize(study, job: StudyJob, label: str, embedding: str, key: str, tuning: TuningSpec, budget: int, before: int,
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
                             params=dict(t.params), epochs_run=fit.get("epochs_run"), best_epoch=fit.get("best_epoch"), seconds=duration,
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
    # the configured trial that ran (one its run stopped was enqueued again: see configured_not_tried)
    configured = next((t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("configured") and t.state.is_finished()
                       and not stopped_by_its_run(t)), None)  # fmt: skip
    configured_value = configured.value if configured is not None and configured.state == TrialState.COMPLETE else None
    if stopped_by == "budget" and counted < tuning.trials and budget < tuning.trials:
        stopped_by = "grid exhausted" if job.grid is not None else "nothing to tune"
    return StudySummary(
        study_name=job.study_name, key=key, storage=safe_url(job.storage) if "://" in job.storage else job.storage,
        dataset=Path(job.dataset_dir).name, protocol=job.protocol, model=job.model, label=label, embedding=embedding,
        metric=tuning.metric, sampler=tuning.sampler, pruner=tuning.pruner, pruner_warmup=tuning.pruner_warmup, seed=tuning.seed,
        refit=tuning.refit,
        space=job.space, base_params=job.base_params, budget=budget, trials_completed=count["complete"],
        trials_pruned=count["pruned"], trials_failed=count["fail"], trials_run_now=max(0, finished_count(study) - before),
        best_params=best[2] if best else {}, best_value=best[0] if best else None, best_trial=best[1] if best else None,
        best_so_far=best_so_far, trials=records, stopped_by=stopped_by, wall_seconds=time.perf_counter() - started,
        trial_seconds=seconds, configured_value=configured_value,
        configured_trial=None if configured is None else configured.number,
    )  # fmt: skip
