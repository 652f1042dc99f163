"""Tuning a benchmark config: every study of its plan (see ``_plan.study_plans``), run by the executor, each
summary stored as its study finishes. One study is ``_study``; its trials ``_trials``; its storage ``_storage``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from recsys_cl.bench._artifacts import learn_embedding, prepare_dataset
from recsys_cl.bench._config import BenchmarkConfig, tuning_with_trials
from recsys_cl.bench._executor import Executor, Task, check_executor, run_tasks
from recsys_cl.bench._plan import labels
from recsys_cl.bench._plan import study_plans
from recsys_cl.bench._preflight import check_entries_fit
from recsys_cl.bench._ray import check_shared_paths, joins_ray, shared_folders
from recsys_cl.bench._storage import check_storage
from recsys_cl.bench._study import STUDY_RESOURCES, TUNING_DIR, data_fingerprint, tune_model
from recsys_cl.data import load_dataset
from recsys_cl.errors import InputError
from recsys_cl.files import write_json
from recsys_cl.progress import StageProgress
from recsys_cl.reporting import StudySummary, write_study

#: study label, stage text, finished trials, budget: one line per study for the CLI
StudyProgress = Callable[[str, str, int, int], None]


def check_run_options(executor: str, storage_url: str | None) -> None:
    """The executor name and the storage, before anything is written."""
    if executor not in ("local", "ray"):
        raise InputError(f"--executor {executor!r}: choose local or ray")
    check_storage(storage_url)


@joins_ray
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
    tuning = tuning_with_trials(config.tuning, trials)
    problem = config.unreported(tuning.metric)  # a config without a tuning section tunes the default metric
    if problem:
        raise InputError(f"tuning.metric (default): {problem}")
    check_run_options(executor, storage_url)
    check_executor(executor, jobs, ray_address)
    raw_overrides = dict(raw_overrides or {})
    unknown = set(raw_overrides) - {d.name for d in config.datasets}
    if unknown:
        raise InputError(f"--raw: no dataset named {sorted(unknown)[0]!r} in the config")
    plans = study_plans(config)
    out_dir = Path(out_dir)
    if executor == "ray" and ray_address is not None and prepared is None:  # ``tune`` on a cluster (``bench`` checked)
        check_shared_paths(shared_folders(out_dir, storage_url))

    if prepared is None:  # ``bench`` passes the folders it prepared; ``tune`` prepares them the same way
        prepared = {}
        for spec in config.datasets:
            if not spec.retrieval_only:
                prepared[spec.name] = prepare_dataset(spec, config, out_dir / "data", raw_overrides.get(spec.name), progress)
        check_entries_fit(config, prepared)  # before any study (``bench`` checked before preparing embeddings)
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
            device=config.device, exclude_seen=config.exclude_seen(plan.protocol), executor="local",
            label=label_of[(plan.model_index, plan.embedding_name)],
        ))  # fmt: skip

    summaries: list[StudySummary | None] = [None] * len(plans)
    budgets = [kwargs["tuning"].trials for kwargs in jobs_args]

    def report(index: int, stage: str, finished: int, budget: int) -> None:
        if on_study is not None:
            on_study(plans[index].describe(label_of), stage, finished, budget)

    def done(index: int, summary: StudySummary) -> None:
        write_study(out_dir / TUNING_DIR / f"{summary.key}.json", summary)
        summaries[index] = summary
        if in_driver:  # the study reported each trial itself
            return
        best = "no trial completed" if summary.best_value is None else f"best {summary.metric} {summary.best_value:.4f}"
        report(index, f"{best}, {summary.trials_pruned} pruned", summary.trials_completed + summary.trials_pruned, summary.budget)

    # studies run here, each in a local worker process, or each as one Ray task: in parallel, but the trials
    # of one study always in order, so every executor gives the same trials (see _study's docstring)
    in_driver = executor == "local" and jobs == 1
    tasks = [
        Task(tune_model, kwargs={**kwargs, "progress": (lambda stage, n, total, i=i: report(i, stage, n, total)) if in_driver else None})
        for i, kwargs in enumerate(jobs_args)
    ]
    run_tasks(tasks, done, executor=executor, jobs=jobs, ray_address=ray_address, ray_resources=STUDY_RESOURCES,
              on_queued=lambda i: report(i, "queued", 0, budgets[i]))  # fmt: skip
    finished = [s for s in summaries if s is not None]
    write_json(out_dir / TUNING_DIR / "summaries.json", {"tuning": tuning.model_dump(), "studies": [s.to_json() for s in finished]})
    return finished
