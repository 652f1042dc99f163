"""Run a benchmark config, as one flow: the config's plan (``_plan``) -> its artifacts, prepared or reused
(``_artifacts``: datasets, embeddings), the studies with tuning (``_tuning``) -> the cells (``_cell``), run by
the executor (``_executor``: here, local worker processes or Ray) and stored as each finishes -> the run record
(``run.json``, with ``_provenance``). The results folder's layout is in ``_artifacts``.

A crash (kill -9 included) loses at most the cells in progress: cells are done only once their JSON has
been renamed into place, and a re-run skips every done cell whose key still matches.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from recsys_cl import __version__
from recsys_cl.bench import _cell
from recsys_cl.bench._artifacts import (
    cell_done,
    learn_embedding,
    open_cells_dir,
    prepare_dataset,
    run_composed_retrieval,
    store_cell,
    write_results,
)
from recsys_cl.bench._config import BenchmarkConfig, tuning_with_trials
from recsys_cl.bench._executor import EXECUTORS, RayResources, Task, check_executor, run_tasks
from recsys_cl.bench._plan import Cell, EmbeddingJob, cell_embeddings, cell_record_base, make_plan
from recsys_cl.bench._preflight import check_entries_fit
from recsys_cl.bench._provenance import git_commit, package_versions, resolved_device
from recsys_cl.bench._ray import check_shared_paths, joins_ray, shared_folders
from recsys_cl.bench._study import TUNING_DIR
from recsys_cl.bench._tuning import check_run_options, tune_benchmark
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress
from recsys_cl.reporting import CellRecord, CellSummary, DatasetEntry, RunRecord, write_run

if TYPE_CHECKING:
    from recsys_cl.bench._tracking import MlflowTracker

__all__ = ["EXECUTORS", "CellCallback", "run_benchmark"]

CellCallback = Callable[[Cell, int, int, str], None]  # (cell, index, total, status)


@joins_ray
def run_benchmark(
    config: BenchmarkConfig,
    out_dir: str | Path,
    *,
    executor: str = "local",
    ray_address: str | None = None,
    raw_overrides: Mapping[str, str] | None = None,
    on_cell: CellCallback | None = None,
    progress: StageProgress | None = None,
    jobs: int = 1,
    tune: bool | None = None,
    trials: int | None = None,
    storage_url: str | None = None,
    on_study: Callable[[str, str, int, int], None] | None = None,
    tracker: MlflowTracker | None = None,
) -> RunRecord:
    """Run every cell not already done in ``out_dir``; returns the run record (also ``run.json``).

    ``jobs`` > 1 (local executor) runs that many cells (and tuning studies) at once, each in its own
    process on one thread. With tuning (``tune``, default: when the config has a ``tuning`` section),
    every study runs first on the valid part (``_tuning``: resumable, equal budgets; ``trials`` and
    ``storage_url`` override the config's budget and storage), then each cell is refit with its study's
    best parameters on train (or train+valid) and scored on test once per seed. Everything that can be
    checked before work starts is checked first (executor, jobs, --raw names, the output folder, storage).
    ``tracker`` (``bench._tracking.open_tracker``) logs every cell finished now to MLflow.
    """
    check_executor(executor, jobs, ray_address)
    # --trials asks for tuning: with no tuning section it tunes with the defaults and that budget
    tuning_on = (config.tuning is not None or trials is not None) if tune is None else tune
    if trials is not None and not tuning_on:
        raise InputError(f"--trials {trials}: tuning is off (--no-tune); drop one of the two")
    if tuning_on:
        config = config.model_copy(update={"tuning": tuning_with_trials(config.tuning, trials)})
        check_run_options(executor, storage_url)
    out_dir = Path(out_dir)
    nodes: list[str] = []
    if executor == "ray" and ray_address is not None:  # every node of a cluster joined must see the folders tasks
        # read and write: checked before any work (a Ray started here runs on this machine only)
        nodes = check_shared_paths(shared_folders(out_dir, storage_url if tuning_on else None))
    cells_dir = open_cells_dir(out_dir)
    started = time.time()
    # the code the run starts with: a checkout updated under a long run is recorded at the end, beside it
    commit_at_start = git_commit()
    raw_overrides = dict(raw_overrides or {})
    unknown = set(raw_overrides) - {d.name for d in config.datasets}
    if unknown:
        raise InputError(f"--raw: no dataset named {sorted(unknown)[0]!r} in the config")
    plan = make_plan(config, tuning=tuning_on)

    # artifacts shared by many cells first: datasets, the embeddings of retrieval-only datasets
    prepared = {spec.name: prepare_dataset(spec, config, out_dir / "data", raw_overrides.get(spec.name), progress)
                for spec in plan.datasets}  # fmt: skip
    check_entries_fit(config, prepared)  # e.g. EASE's memory: refused now, not after hours of other cells
    embedding_paths: dict[tuple[str, str, str, str], Path] = {}

    def learn(wanted: list[EmbeddingJob]) -> None:
        for job in wanted:
            if job.key not in embedding_paths:
                atomic_dir, fingerprint = prepared[job.dataset]
                embedding_paths[job.key] = learn_embedding(job.spec, atomic_dir, job.protocol, out_dir / "embeddings", progress,
                                                           seed=job.seed, device=config.device, data_fingerprint=fingerprint)  # fmt: skip

    learn(list(plan.retrieval_embeddings))
    composed_paths: dict[str, Path] = {}
    if config.composed_retrieval.enabled:
        for spec in plan.datasets:
            if spec.retrieval_only:
                composed_paths[spec.name] = run_composed_retrieval(
                    config.composed_retrieval, *prepared[spec.name], out_dir / "embeddings", progress,
                    seed=next(iter(config.seeds), 0), device=config.device,
                )
    # then the studies (tuned cells take their best parameters), the cells' embeddings, the cells
    studies: dict[str, str] = {}
    if tuning_on:
        summaries = tune_benchmark(config, out_dir, executor=executor, storage_url=storage_url, ray_address=ray_address,  # type: ignore[arg-type]
                                   progress=progress, on_study=on_study, prepared=prepared, jobs=jobs)  # fmt: skip
        plan = plan.tuned(summaries)
        studies = {s.key: str(out_dir / TUNING_DIR / f"{s.key}.json") for s in summaries}
    learn(plan.cell_embeddings())
    cells = list(plan.cells)
    keys = plan.keys({name: fingerprint for name, (_, fingerprint) in prepared.items()})
    if tracker is not None:  # each cell reported done (stored) is logged to MLflow
        on_cell = tracker.watch(on_cell, config.name, out_dir, keys)
    todo = [i for i, key in enumerate(keys) if not cell_done(cells_dir, key)]
    for i, cell in enumerate(cells):
        if i not in todo and on_cell:
            on_cell(cell, i, len(cells), "cached")
    config_json = config.model_dump_json(by_alias=True)  # protocol_options keep their YAML names (cold-item)
    in_driver = executor == "local" and jobs == 1

    def task(i: int) -> Task:
        cell = cells[i]
        paths = [str(embedding_paths[job.key]) for job in cell_embeddings(cell)]
        args = (cell, config_json, str(prepared[cell.dataset.name][0]), (paths[0] if len(paths) == 1 else paths) or None)
        return Task(_cell.run_cell, args, {"progress": progress} if in_driver else {})

    def status(text: str) -> Callable[[int], None]:
        return lambda n: on_cell(cells[todo[n]], todo[n], len(cells), text) if on_cell else None

    def done(n: int, result: tuple[CellRecord, bytes]) -> None:
        store_cell(cells_dir, keys[todo[n]], *result)
        status("done")(n)

    run_tasks([task(i) for i in todo], done, executor=executor, jobs=jobs, ray_address=ray_address,
              ray_resources=RayResources(gpus="auto"), on_start=status("running"), on_queued=status("queued"))  # fmt: skip

    write_results(cells_dir, keys, out_dir)
    run = RunRecord(
        config=json.loads(config_json),
        recsys_cl_version=__version__,
        git_commit=commit_at_start,
        git_commit_at_end=commit_at_end if (commit_at_end := git_commit()) != commit_at_start else None,
        packages=package_versions(),
        python=platform.python_version(),
        device=resolved_device(config.device),
        executor=executor,
        nodes=nodes,
        started=started,
        seconds=time.time() - started,
        cells=[CellSummary(key=k, **cell_record_base(c)) for c, k in zip(cells, keys)],
        cells_run_now=len(todo),
        datasets={name: DatasetEntry(dir=str(path), fingerprint=fp) for name, (path, fp) in prepared.items()},
        embeddings={"/".join(k): str(p) for k, p in embedding_paths.items()},
        composed_retrieval={name: str(p) for name, p in composed_paths.items()},
        studies=studies,
    )
    write_run(out_dir / "run.json", run)
    if tracker is not None:
        tracker.finish(run, out_dir)
    return run
