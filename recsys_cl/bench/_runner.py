"""Run a benchmark grid: prepare data, learn embeddings, fit/recommend/evaluate every cell.

Results directory layout::

    OUT/run.json                 config, git commit, package versions, device, timings, cell keys
    OUT/metrics.csv              long form: dataset, protocol, model, embedding, seed, segment, metric, k, value
    OUT/costs.csv                one row per cell: seconds, peak memory and energy of fit and recommend
    OUT/cells/<key>.json         one finished cell (written last, atomically: its presence means done)
    OUT/cells/<key>.users.parquet  per-user scores of that cell (significance, regression diffs)
    OUT/data/                    prepared datasets (raw synthetic files, atomic files)
    OUT/embeddings/<ds>/<protocol>/seed-<s>/<name>.itememb (+ .quality.json): learned with the cells' seed s
    OUT/embeddings/<ds>/retrieval/composed.json   composed retrieval of a retrieval-only dataset, when asked

A crash (kill -9 included) loses at most the cell in progress: cells are done only once their
JSON has been renamed into place, and a re-run skips every done cell whose key still matches.
"""

from __future__ import annotations

import io
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import polars as pl

from recsys_cl import __version__
from recsys_cl.bench._config import (
    BenchmarkConfig,
    ComposedRetrievalSpec,
    DatasetSpec,
    EmbeddingSpec,
)
from recsys_cl.bench._cost import CostMeter
from recsys_cl.bench._grid import Cell, cell_record_base, grid, tuned_cells
from recsys_cl.reporting._cost import write_costs_csv
from recsys_cl.reporting._records import (
    CellRecord,
    CellSummary,
    DatasetEntry,
    RunRecord,
    read_cell,
    write_cell,
    write_metrics_csv,
    write_run,
)
from recsys_cl.data._atomic import write_json
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress

if TYPE_CHECKING:
    from recsys_cl.bench._tracking import MlflowTracker

#: protocol name under which embeddings of retrieval-only datasets (styles) are stored
RETRIEVAL = "retrieval"
EXECUTORS = ("local", "ray")
CellCallback = Callable[[Cell, int, int, str], None]  # (cell, index, total, status)


# ---------------------------------------------------------------------------------------------- data
def prepare_dataset(
    spec: DatasetSpec, config: BenchmarkConfig, data_root: Path, raw_override: str | None = None, progress: StageProgress | None = None
) -> tuple[Path, str]:
    """Prepare (or reuse) ``data_root/atomic/<name>``; returns its folder and a fingerprint of its inputs.

    Reused only when its marker records the same inputs: the source, its options and a content hash of
    the raw files (``recsys_cl.data.input_fingerprint``), so a rewritten raw file re-prepares it.
    """
    from recsys_cl.data import get_source, input_fingerprint, prepare, source_options

    source = get_source(spec.source)
    options = source_options(spec.source, spec.source_options(list(config.protocols), config.protocol_options),
                             f"dataset {spec.name}")  # fmt: skip
    raw = data_root / "raw" / spec.name if source.raw == "generated" else _raw_folder(spec, raw_override, source.raw)
    fingerprint = input_fingerprint(spec.source, raw, options)
    out_dir = data_root / "atomic" / spec.name
    marker = out_dir / ".prepared.json"
    if marker.is_file():
        try:
            done = json.loads(marker.read_text())
        except json.JSONDecodeError:  # a marker cut short by a crash: prepare again
            done = {}
        same = done.get("fingerprint") == fingerprint and done.get("code_version") == __version__
        if same and (out_dir / f"{spec.name}.meta.json").is_file():
            return out_dir, fingerprint
    prepare(spec.source, data_root / "atomic", raw=raw, options=options, progress=progress)
    write_json(marker, {"source": spec.source, "fingerprint": fingerprint, "code_version": __version__})
    return out_dir, fingerprint


def _raw_folder(spec: DatasetSpec, raw_override: str | None, need: str) -> Path | None:
    raw_path = raw_override or spec.raw
    if not raw_path:
        if need == "optional":
            return None
        raise InputError(f"dataset {spec.name}: no raw folder; set datasets.*.raw or pass --raw {spec.name}=PATH")
    return Path(raw_path)


def learn_embedding(
    spec: EmbeddingSpec, atomic_dir: Path, protocol: str, out_root: Path, progress: StageProgress | None = None,
    *, seed: int = 0, device: str = "auto", data_fingerprint: str | None = None,
) -> Path:
    """Run (or reuse) an embedding learner for one dataset, protocol and seed, on ``device``.

    Per protocol because learners that read interactions (co-purchase) must see only that
    protocol's training part: under cold-item, held-out items' purchases are not theirs to use.
    Per seed because the cell's seed drives every random step, the learner's included: the spread
    over seeds then holds embedding-training variance too. Reused only while the data it was learned
    from (``data_fingerprint``) and the code are the same.
    """
    from recsys_cl.embeddings import embed

    path = out_root / atomic_dir.name / protocol / f"seed-{seed}" / f"{spec.name}.itememb"
    wanted = {"spec": spec.model_dump(), "seed": seed, "data_fingerprint": data_fingerprint, "code_version": __version__}
    # retrieval-only datasets have no split ("retrieval" only names their folder)
    split = "loo" if protocol == RETRIEVAL else protocol
    return _reuse_or_run(path, wanted, lambda: embed(atomic_dir, spec.method, path, protocol=split, seed=seed,
                                                     device=device, progress=progress, **spec.options))  # fmt: skip


def run_composed_retrieval(
    spec: ComposedRetrievalSpec, atomic_dir: Path, data_fingerprint: str, out_root: Path, progress: StageProgress | None = None,
    *, seed: int = 0, device: str = "auto",
) -> Path:
    """Run (or reuse) composed retrieval on a retrieval-only dataset with ``seed``, on ``device``; returns its result JSON."""
    from recsys_cl.embeddings import composed_retrieval

    path = out_root / atomic_dir.name / RETRIEVAL / "composed.json"
    wanted = {"options": spec.options, "seed": seed, "data_fingerprint": data_fingerprint, "code_version": __version__}
    return _reuse_or_run(path, wanted, lambda: composed_retrieval(atomic_dir, path, seed=seed, device=device,
                                                                  progress=progress, **spec.options))  # fmt: skip


def _embedding_keys(cell: Cell) -> list[tuple[str, str, str, str]]:
    """(dataset, protocol, embedding, "seed-S") of each embedding a cell uses: the ones learned with its seed."""
    return [(cell.dataset.name, cell.protocol, spec.name, f"seed-{cell.seed}") for spec in cell.embeddings]


def read_variant(specs: tuple[EmbeddingSpec, ...], paths: str | list[str] | None) -> Any:
    """What a model is given for an embedding variant: None, one ``ItemEmbeddings``, or a mapping name ->
    ``ItemEmbeddings`` (several modalities)."""
    from recsys_cl.embeddings import read_itememb

    if not paths:
        return None
    if isinstance(paths, str):
        return read_itememb(paths, specs[0].name if specs else None)
    return {spec.name: read_itememb(path, spec.name) for spec, path in zip(specs, paths)}


def _reuse_or_run(path: Path, wanted: dict[str, Any], make: Callable[[], Any]) -> Path:
    """``path`` as it is when its ``.spec.json`` says it was made from ``wanted``; else ``make()`` it
    (which writes ``path`` atomically) and only then write the marker, so a crash in between re-runs it."""
    marker = Path(f"{path}.spec.json")
    if path.is_file() and marker.is_file() and json.loads(marker.read_text()) == wanted:
        return path
    make()
    write_json(marker, wanted)
    return path


# ---------------------------------------------------------------------------------------------- one cell
def run_cell(
    cell: Cell, config_json: str, atomic_dir: str, embedding_path: str | list[str] | None, progress: StageProgress | None = None
) -> tuple[CellRecord, bytes]:
    """Fit, recommend and evaluate one cell; returns its record (without its key, which the caller knows)
    and its per-user scores (Parquet bytes).

    Pure with respect to the results store (the caller writes), so it can run in a Ray worker.
    """
    from recsys_cl.data import load_dataset
    from recsys_cl.evaluation import evaluate
    from recsys_cl.evaluation._beyond import check_attribute
    from recsys_cl.models import create

    config = BenchmarkConfig.model_validate_json(config_json)
    tick = progress or (lambda *_: None)
    tick("load data", 0, 4)
    dataset = load_dataset(atomic_dir)
    refit_on_valid = cell.study is not None and config.tuning is not None and config.tuning.refit == "train+valid"
    # tuned with train+valid: the valid part joins training for the final fit (test untouched)
    encoded = dataset.refit_encoded(cell.protocol) if refit_on_valid else dataset.encoded(cell.protocol)
    if config.beyond.diversity_attribute is not None:  # a missing column fails before the fit, naming the file
        check_attribute(dataset.items, config.beyond.diversity_attribute, f"{dataset.directory / dataset.name}.item")
    embeddings = read_variant(cell.embeddings, embedding_path)
    params = {**cell.fit_params, "seed": cell.seed, "device": config.device}
    model = create(cell.model.model, **params)
    meter = CostMeter(_device(config.device))  # peak memory and energy per stage (bench._cost)
    tick("fit", 1, 4)
    with meter.stage("fit"):
        model.fit(encoded, embeddings)
    tick("recommend", 2, 4)
    exclude_seen = config.exclude_seen(cell.protocol)
    with meter.stage("recommend"):
        rankings = model.recommend(None, k=max(config.ks), exclude_seen=exclude_seen)
    recommend_seconds = float(model.recommend_seconds or 0.0)
    tick("evaluate", 3, 4)
    result = evaluate(
        rankings, encoded, part="test", metrics=config.metrics, ks=config.ks, segments=config.segments,
        exclude_seen=exclude_seen, item_table=dataset.items, beyond=config.beyond,
    )  # fmt: skip
    scored = result.to_dict()
    frames = [result.to_frame()]
    placed = None
    if cell.protocol == "cold-item":  # where the new items land in the full ranking (evaluation._placement)
        placed = cold_item_placement(model, encoded, config.ks, exclude_seen, cell.seed)
        frames.append(placed.to_frame())
    record = CellRecord(
        **cell_record_base(cell),
        run_name=model.run_name,
        exclude_seen=exclude_seen,
        summary=scored["summary"],
        segments=scored["segments"],
        n_users=int(len(rankings.users)),
        fit_seconds=float(model.fit_seconds or 0.0),
        recommend_seconds=recommend_seconds,
        history=model.history.to_dict(),
        cost=meter.cost(),
        diagnostics=getattr(model, "diagnostics", None),
        placement=None if placed is None else placed.to_dict(),
        cannot_rank_new_items=model.cannot_rank_new_items if cell.protocol == "cold-item" else None,
    )
    buffer = io.BytesIO()
    pl.concat(frames).write_parquet(buffer)
    tick("done", 4, 4)
    return record, buffer.getvalue()


#: users whose full rankings the placement diagnostic reads (a seeded sample beyond this: each full
#: ranking is n_items entries, 105k per user on H&M)
PLACEMENT_USERS = 2_000
#: scored entries per chunk of full rankings (users x items; ~100 MB of item ids and scores)
PLACEMENT_ENTRIES_PER_CHUNK = 4_000_000


def cold_item_placement(model: Any, encoded: Any, ks: list[int], exclude_seen: bool, seed: int) -> Any:
    """Placement of the test items in ``model``'s full rankings (``recsys_cl.evaluation.placement``), on
    every test user or a seeded sample of ``PLACEMENT_USERS``, ranked a chunk of users at a time."""
    from recsys_cl.evaluation import placement, placement_users

    users = placement_users(encoded, "test", PLACEMENT_USERS, seed)
    step = max(1, PLACEMENT_ENTRIES_PER_CHUNK // max(encoded.n_items, 1))
    chunks = (
        model.recommend(encoded.user_ids[users[start : start + step]], k=encoded.n_items, exclude_seen=exclude_seen)
        for start in range(0, len(users), step)
    )
    return placement(chunks, encoded, "test", ks, exclude_seen=exclude_seen)


# ---------------------------------------------------------------------------------------------- the grid
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
    from recsys_cl.bench._tuning import check_run_options, study_plans, tune_benchmark, tuning_with_trials

    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    if executor not in EXECUTORS:
        raise InputError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if executor == "ray":
        from recsys_cl.bench._ray import check_ray_address

        check_ray_address(ray_address)  # before any work: a cluster that is not there is found now
    # --trials asks for tuning: with no tuning section it tunes with the defaults and that budget
    tuning_on = (config.tuning is not None or trials is not None) if tune is None else tune
    if trials is not None and not tuning_on:
        raise InputError(f"--trials {trials}: tuning is off (--no-tune); drop one of the two")
    if tuning_on:
        tuning = tuning_with_trials(config.tuning, trials)
        config = config.model_copy(update={"tuning": tuning})
        check_run_options(executor, storage_url)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: results folder is a file, not a folder")
    cells_dir = out_dir / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    for stale in cells_dir.glob(".*.tmp"):  # left by a run killed mid-write; never a finished cell
        stale.unlink()
    started = time.time()
    raw_overrides = dict(raw_overrides or {})
    unknown = set(raw_overrides) - {d.name for d in config.datasets}
    if unknown:
        raise InputError(f"--raw: no dataset named {sorted(unknown)[0]!r} in the config")

    # Data and embeddings first (shared by many cells), then the cells.
    prepared: dict[str, tuple[Path, str]] = {}
    for spec in config.datasets:
        prepared[spec.name] = prepare_dataset(spec, config, out_dir / "data", raw_overrides.get(spec.name), progress)
    # embeddings keyed (dataset, protocol, name, "seed-S"): a cell uses the one learned with its own seed
    embedding_paths: dict[tuple[str, str, str, str], Path] = {}
    composed_paths: dict[str, Path] = {}
    for spec in config.datasets:
        if spec.retrieval_only:  # no users: the embeddings and their retrieval metrics are the result
            for seed in config.seeds:
                for emb in config.embeddings:
                    embedding_paths[(spec.name, RETRIEVAL, emb.name, f"seed-{seed}")] = learn_embedding(
                        emb, prepared[spec.name][0], RETRIEVAL, out_dir / "embeddings", progress, seed=seed, device=config.device,
                        data_fingerprint=prepared[spec.name][1],
                    )
            if config.composed_retrieval.enabled:
                composed_paths[spec.name] = run_composed_retrieval(
                    config.composed_retrieval, *prepared[spec.name], out_dir / "embeddings", progress,
                    seed=next(iter(config.seeds), 0), device=config.device,
                )
    cells = list(grid(config))
    studies: dict[str, str] = {}
    if tuning_on:
        assert config.tuning is not None
        summaries = tune_benchmark(config, out_dir, executor=executor, storage_url=storage_url, ray_address=ray_address,
                                   progress=progress, on_study=on_study, prepared=prepared, jobs=jobs)  # fmt: skip
        by_variant = {(p.dataset, p.protocol, p.model_index, p.embedding_name): s for p, s in zip(study_plans(config), summaries)}
        cells = tuned_cells(cells, by_variant, config.tuning.compare_default)
        studies = {s.key: str(out_dir / "tuning" / f"{s.key}.json") for s in summaries}
    for cell in cells:
        for spec, key in zip(cell.embeddings, _embedding_keys(cell)):
            if key not in embedding_paths:
                embedding_paths[key] = learn_embedding(
                    spec, prepared[cell.dataset.name][0], cell.protocol, out_dir / "embeddings", progress,
                    seed=cell.seed, device=config.device, data_fingerprint=prepared[cell.dataset.name][1],
                )

    config_json = config.model_dump_json(by_alias=True)  # protocol_options keep their YAML names (cold-item)
    keys = [cell.key(config, prepared[cell.dataset.name][1]) for cell in cells]
    todo = [(i, c, k) for i, (c, k) in enumerate(zip(cells, keys)) if not (cells_dir / f"{k}.json").is_file()]
    if tracker is not None:  # each cell reported done (stored) is logged to MLflow
        on_cell = tracker.watch(on_cell, config.name, out_dir, keys)
    for i, (cell, key) in enumerate(zip(cells, keys)):
        if (cells_dir / f"{key}.json").is_file() and on_cell:
            on_cell(cell, i, len(cells), "cached")

    def job_args(cell: Cell) -> tuple[str, str | None]:
        paths = [str(embedding_paths[key]) for key in _embedding_keys(cell)]
        return str(prepared[cell.dataset.name][0]), (paths[0] if len(paths) == 1 else paths) or None

    if executor == "local" and jobs == 1:
        for i, cell, key in todo:
            if on_cell:
                on_cell(cell, i, len(cells), "running")
            record, per_user = run_cell(cell, config_json, *job_args(cell), progress=progress)
            _store_cell(cells_dir, key, record, per_user)
            if on_cell:
                on_cell(cell, i, len(cells), "done")
    elif executor == "local":
        _run_in_processes(todo, cells, config_json, job_args, cells_dir, jobs, on_cell)
    else:
        _run_on_ray(todo, cells, config_json, job_args, cells_dir, ray_address, on_cell)

    # read back from the files (not the records in memory), so metrics.csv is exactly what is stored
    records = [read_cell(cells_dir / f"{k}.json") for k in keys]
    write_metrics_csv(records, out_dir / "metrics.csv")
    write_costs_csv(records, out_dir / "costs.csv")  # not in metrics.csv: see reporting._cost
    run = RunRecord(
        config=json.loads(config_json),
        recsys_cl_version=__version__,
        git_commit=_git_commit(),
        packages=_package_versions(),
        python=platform.python_version(),
        device=_device(config.device),
        executor=executor,
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


def _worker_setup(driver_pid: int) -> None:
    """Worker-process set-up: end with the driver, one thread for torch and the BLAS/OpenMP pools, and
    RecBole's warnings about its own use of deprecated torch APIs muted as the CLI mutes them (a spawned
    worker does not inherit the driver's warning filters)."""
    import warnings

    warnings.filterwarnings("ignore", module=r"recbole(\.|$)")
    end_with_parent(driver_pid)
    _single_thread_worker()


def end_with_parent(parent_pid: int, poll_seconds: float = 1.0) -> None:
    """Make this process end when its parent ``parent_pid`` ends, however it ends (kill -9 included).

    A pool worker waits on pipes its own process also holds open, so it never sees the driver go and
    would wait (holding its ~400 MB) forever. On Linux the kernel kills it when its parent dies
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``; the "parent" is the thread that started it, here the one
    running :func:`run_benchmark`, which outlives the pool). Everywhere, a daemon thread also checks
    every ``poll_seconds`` that the parent is still the parent: once it dies the process is handed to
    init or a subreaper and ``os.getppid()`` changes (Windows hands it to no one: there the parent's
    pid stops existing).
    """
    import ctypes
    import os
    import signal
    import sys
    import threading

    import psutil

    if sys.platform.startswith("linux"):
        try:
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the thread below still works
            pass
    def parent_alive() -> bool:
        return os.getppid() == parent_pid and psutil.pid_exists(parent_pid)

    if not parent_alive():  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while parent_alive():
            time.sleep(poll_seconds)
        os._exit(1)  # no clean-up: the driver that would receive results is gone

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _single_thread_worker() -> None:
    """One thread for torch and the BLAS/OpenMP pools.

    With N cells on N cores, a second thread per process only waits for cores that are taken (a
    small torch op then costs a scheduler time slice: measured 7x slower for NeuMF).
    """
    import os

    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def _run_in_processes(todo, cells, config_json, job_args, cells_dir, jobs, on_cell) -> None:
    """Cells in ``jobs`` worker processes (spawned: forking after torch has started threads can
    deadlock); the driver alone writes results, so a crash still loses only unfinished cells.
    Workers end with the driver (:func:`end_with_parent`), so a killed run leaves no process behind."""
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_worker_setup, initargs=(os.getpid(),)
    ) as pool:
        pending = {}
        for i, cell, key in todo:
            pending[pool.submit(run_cell, cell, config_json, *job_args(cell))] = (i, cell, key)
            if on_cell:
                on_cell(cell, i, len(cells), "queued")
        try:
            while pending:
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in finished:
                    i, cell, key = pending.pop(future)
                    record, per_user = future.result()
                    _store_cell(cells_dir, key, record, per_user)
                    if on_cell:
                        on_cell(cell, i, len(cells), "done")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # stop at the first failure, as jobs=1 does
            raise


def _run_on_ray(todo, cells, config_json, job_args, cells_dir, ray_address, on_cell) -> None:
    """One Ray task per cell (one GPU each where the cluster has GPUs); the driver writes results.

    When the driver dies (kill -9 included): a Ray started here by ``ray.init()`` (no address) runs
    its head processes (GCS, raylet, ...) fate-shared with the driver (Linux: PR_SET_PDEATHSIG;
    elsewhere Ray's reaper process), and its task workers exit when their raylet goes. On an existing
    cluster (``--ray-address``) the cluster stays up; the GCS marks this driver's job finished when
    the driver's connection drops, and the raylets kill the job's workers with their running tasks.
    """
    import ray

    from recsys_cl.bench._ray import start_ray

    started_here = start_ray(ray_address)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        remote = ray.remote(num_gpus=gpus, max_retries=1)(run_cell)
        pending = {remote.remote(cell, config_json, *job_args(cell)): (i, cell, key) for i, cell, key in todo}
        for _, cell, _ in todo:
            if on_cell:
                on_cell(cell, cells.index(cell), len(cells), "queued")
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i, cell, key = pending.pop(ready[0])
            record, per_user = ray.get(ready[0])
            _store_cell(cells_dir, key, record, per_user)
            if on_cell:
                on_cell(cell, i, len(cells), "done")
    finally:
        if started_here:
            ray.shutdown()


def _store_cell(cells_dir: Path, key: str, record: CellRecord, per_user: bytes) -> None:
    write_cell(cells_dir, record.model_copy(update={"key": key}), per_user)


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _package_versions() -> dict[str, str]:
    names = ["numpy", "scipy", "pandas", "polars", "torch", "recbole", "implicit", "lightfm-next", "ranx", "faiss-cpu",
             "sentence-transformers", "ray"]  # fmt: skip
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _device(device: str) -> str:
    from recsys_cl.device import resolve_device

    return resolve_device(device)
