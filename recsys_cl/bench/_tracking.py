"""Experiment tracking in MLflow (``bench --mlflow URI``): follow a metric, or a cost, across commits in the
MLflow UI. ``recsys-cl compare`` stays the CI gate; MLflow is for looking back.

What lands where::

    experiment            the config's name (one per config)
      run "bench ..."     one per ``bench`` invocation: tags git commit and results folder; artifacts run.json,
                          metrics.csv, costs.csv, and the report when ``report --mlflow URI`` writes one
        run per cell      nested, one per cell finished by that invocation: params (dataset, protocol, model,
                          label, embedding, seed, config, params.*), metrics (the summary, ``@`` written ``_at_``
                          as MLflow names cannot hold it; seconds, memory, energy), tag git commit, artifacts
                          the cell record and its per-user scores (Parquet)

Cells reused from an earlier invocation are not logged again: they were not run at this commit.

The store is opened, and the experiment found or made, before any work starts, so a URI that cannot be
opened is one line and exit 2. MLflow 3 refuses ``file:`` stores unless ``MLFLOW_ALLOW_FILE_STORE=true``;
``sqlite:///PATH.db`` is the embedded default (artifacts beside the database, not in the working folder).
A store that fails once the run is under way costs the logging, never the benchmark: later cells are not
sent, :attr:`MlflowTracker.errors` says what was lost and :attr:`MlflowTracker.unlogged` which cells. Those
are written to ``RESULTS/mlflow-pending.json`` (per store URI); the next ``bench --mlflow`` on that folder, or
``recsys-cl track RESULTS --mlflow URI`` (:func:`log_pending`), logs them. A cell's run that the failure left
half-made is deleted first, so no cell is in MLflow twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from recsys_cl import __version__
from recsys_cl.bench._provenance import git_commit
from recsys_cl.errors import InputError
from recsys_cl.reporting import CellRecord, RunRecord, read_cell
from recsys_cl.reporting import cost_row

GIT_COMMIT_TAG = "mlflow.source.git.commit"  # the tag MLflow's UI shows as the source version
PARENT_TAG = "mlflow.parentRunId"
RESULTS_TAG = "recsys_cl.results_id"
KIND_TAG = "recsys_cl.kind"
#: MLflow's limits on one log_batch call and on a parameter value
MAX_PARAMS, MAX_METRICS, MAX_PARAM_CHARS = 100, 1000, 6000
#: HTTP stores: fail within seconds instead of MLflow's default of minutes of retries (unless the user set these)
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
_IDENTITY = ("dataset", "protocol", "model", "label", "embedding", "seed")
CELL_KEY_TAG = "recsys_cl.cell_key"
#: cells of a results folder finished but not logged, per store URI (see the module docstring)
PENDING_FILE = "mlflow-pending.json"


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise InputError("--mlflow: MLflow is not installed; pip install 'recsys-cl[tracking]' (mlflow-skinny)") from None
    return mlflow


@contextlib.contextmanager
def _http_limits() -> Iterator[None]:
    added = {k: v for k, v in HTTP_LIMITS.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.split(". ")[0] if len(first) > 200 else first  # MLflow's messages run to paragraphs


def results_id(out_dir: str | Path) -> str:
    """A tag value naming a results folder (its resolved path, hashed: free of quoting in MLflow filters)."""
    return hashlib.sha256(str(Path(out_dir).resolve()).encode()).hexdigest()[:16]


def open_tracker(uri: str, experiment: str) -> "MlflowTracker":
    """Open the MLflow store at ``uri`` and find or make ``experiment``; an InputError if either fails."""
    _import_mlflow()
    from mlflow import MlflowClient

    try:
        with _http_limits():
            client = MlflowClient(tracking_uri=uri)
            found = client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found is not None else client.create_experiment(
                experiment, artifact_location=_artifact_location(uri, experiment))  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any failure to open the store is the URI's problem: one line
        hint = "; set MLFLOW_ALLOW_FILE_STORE=true or use sqlite:///PATH.db" if "MLFLOW_ALLOW_FILE_STORE" in str(exc) else ""
        raise InputError(f"--mlflow {uri}: cannot open the MLflow tracking store ({_first_line(exc)}{hint})") from None
    return MlflowTracker(client, uri, experiment_id, experiment)


def _artifact_location(uri: str, experiment: str) -> str | None:
    """SQLite stores: artifacts in ``mlartifacts/<experiment>`` beside the database (MLflow's default is
    ``./mlruns`` in whatever folder the command runs from). Other stores keep their own default."""
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    slug = re.sub(r"[^\w.-]+", "_", experiment) or "experiment"
    return (database.resolve().parent / "mlartifacts" / slug).as_uri()


class MlflowTracker:
    """Logs one ``bench`` invocation to MLflow: :meth:`watch` starts it and wraps the runner's cell callback,
    :meth:`finish` attaches the results files. Use as a context manager so a failed run is marked FAILED."""

    def __init__(self, client: Any, uri: str, experiment_id: str, experiment: str) -> None:
        self.client, self.uri, self.experiment_id, self.experiment = client, uri, experiment_id, experiment
        self.parent_id: str | None = None
        self.cells_logged = 0
        self.errors: list[str] = []
        #: keys of finished cells this tracker could not log (kept in ``PENDING_FILE`` for a later try)
        self.unlogged: list[str] = []
        self._git_commit: str | None = None
        self._out_dir: Path | None = None
        self._config_name = ""
        self._pending: list[str] = []  # cells an earlier invocation left unlogged
        self._logged: set[str] = set()
        self._pending_saved = False

    def __enter__(self) -> "MlflowTracker":
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self._save_pending()
        if self.parent_id is not None and kind is not None:
            self._safely("mark the run failed", lambda: self.client.set_terminated(self.parent_id, "FAILED"))
            self.parent_id = None

    def watch(self, on_cell: Callable[..., None] | None, config_name: str, out_dir: Path, keys: Sequence[str]) -> Callable[..., None]:
        """Start this invocation's MLflow run; returns ``on_cell`` wrapped so every cell the runner reports
        ``done`` is logged (its record read back from ``out_dir/cells/<key>.json``)."""
        self._start(config_name, out_dir, "bench")
        self._pending = read_pending(out_dir).get(self.uri, {}).get("cells", [])
        cells_dir = Path(out_dir) / "cells"

        def tracked(cell: Any, index: int, total: int, status: str) -> None:
            # a cell left unlogged by an earlier invocation is logged now that it is found done ("cached")
            if status == "done" or (status == "cached" and keys[index] in self._pending):
                self.log_cell(read_cell(cells_dir / f"{keys[index]}.json"), cells_dir, config_name,
                              retry=status == "cached")  # fmt: skip
            if on_cell is not None:
                on_cell(cell, index, total, status)

        return tracked

    def _start(self, config_name: str, out_dir: Path, kind: str, parent_id: str | None = None) -> None:
        """This invocation's parent run: ``parent_id`` (an earlier one, still in the store) or a new one."""
        self._git_commit = git_commit()
        self._out_dir, self._config_name = Path(out_dir), config_name
        if parent_id is not None:
            try:
                with _http_limits():
                    self.client.get_run(parent_id)
                self.parent_id = parent_id
                return
            except Exception:  # noqa: BLE001 - gone (or the store is down: creating a run below says so)
                pass
        tags = {KIND_TAG: kind, RESULTS_TAG: results_id(out_dir), "recsys_cl.results": str(Path(out_dir).resolve()),
                "recsys_cl.version": __version__, **({GIT_COMMIT_TAG: self._git_commit} if self._git_commit else {})}  # fmt: skip
        name = f"{kind} {config_name} {time.strftime('%Y-%m-%d %H:%M')}"
        self.parent_id = self._safely("start the run", lambda: self.client.create_run(
            self.experiment_id, run_name=name, tags=tags).info.run_id)  # fmt: skip

    def log_cell(self, record: CellRecord, cells_dir: Path, config_name: str, retry: bool = False) -> bool:
        """One nested MLflow run for one finished cell; whether it was logged (else it joins :attr:`unlogged`).
        ``retry``: the cell may have a run from an earlier try: a finished one counts, an unfinished one is
        deleted first."""
        if self.errors:  # the store failed earlier: do not wait on it cell after cell
            self.unlogged.append(record.key)
            return False
        from mlflow.entities import Metric, Param

        if retry and self._safely(f"look up cell {record.key}", lambda: self._finished_elsewhere(record.key)):
            self.cells_logged += 1
            self._logged.add(record.key)
            return True
        now = int(time.time() * 1000)
        params = [Param(k, _param_text(v)) for k, v in cell_params(record, config_name).items()]
        metrics = [Metric(k, v, now, 0) for k, v in cell_metrics(record).items()]
        tags = {KIND_TAG: "cell", CELL_KEY_TAG: record.key, **({PARENT_TAG: self.parent_id} if self.parent_id else {}),
                **({RESULTS_TAG: results_id(self._out_dir)} if self._out_dir else {}),
                **({GIT_COMMIT_TAG: self._git_commit} if self._git_commit else {})}  # fmt: skip

        def send() -> None:
            run_id = self.client.create_run(self.experiment_id, run_name=cell_name(record), tags=tags).info.run_id
            for i in range(0, max(len(params), len(metrics)), MAX_PARAMS):
                self.client.log_batch(run_id, params=params[i : i + MAX_PARAMS], metrics=metrics[i : i + MAX_PARAMS])
            for suffix in (".json", ".users.parquet"):
                self.client.log_artifact(run_id, str(cells_dir / f"{record.key}{suffix}"), "cell")
            self.client.set_terminated(run_id)

        self._safely(f"log cell {record.key}", send)
        if self.errors:
            self.unlogged.append(record.key)
            return False
        self.cells_logged += 1
        self._logged.add(record.key)
        return True

    def _finished_elsewhere(self, key: str) -> bool:
        """Whether ``key`` already has a finished cell run for this results folder; unfinished ones are deleted."""
        found = self.client.search_runs([self.experiment_id], filter_string=f"tags.`{CELL_KEY_TAG}` = '{key}' and "
                                        f"tags.`{RESULTS_TAG}` = '{results_id(self._out_dir or '.')}'")  # fmt: skip
        for run in found:
            if run.info.status != "FINISHED":
                self.client.delete_run(run.info.run_id)
        return any(run.info.status == "FINISHED" for run in found)

    def _save_pending(self) -> None:
        """Record :attr:`unlogged` (and cells of earlier invocations this one did not reach) in ``PENDING_FILE``;
        remove this store's entry once nothing waits."""
        if self._out_dir is None or self._pending_saved:
            return
        self._pending_saved = True
        left = list(dict.fromkeys(self.unlogged + [k for k in self._pending if k not in self._logged]))
        write_pending(self._out_dir, self.uri, {"experiment": self.experiment, "config": self._config_name,
                                                "parent_run_id": self.parent_id, "cells": left} if left else None)  # fmt: skip

    def finish(self, run: RunRecord, out_dir: Path) -> None:
        """Attach run.json, metrics.csv and costs.csv to this invocation's run and end it."""
        self._save_pending()
        if self.parent_id is None:
            return
        parent = self.parent_id

        def send() -> None:
            self.client.set_tag(parent, "recsys_cl.cells_run_now", str(run.cells_run_now))
            for name in ("run.json", "metrics.csv", "costs.csv"):
                if (Path(out_dir) / name).is_file():
                    self.client.log_artifact(parent, str(Path(out_dir) / name))
            self.client.set_terminated(parent, "FINISHED")

        self._safely("finish the run", send)
        self.parent_id = None

    def _safely(self, what: str, action: Callable[[], Any], lost: str = "later cells were not logged") -> Any:
        """``action()``; a failure is kept in :attr:`errors` with what was ``lost`` (the benchmark goes on), and
        nothing more is sent to that store."""
        if self.errors:
            return None
        try:
            with _http_limits():
                return action()
        except Exception as exc:  # noqa: BLE001 - the results are stored; only their MLflow copy is lost
            self.errors.append(f"MLflow {self.uri}: could not {what} ({_first_line(exc)}); {lost}")
            return None


def cell_name(record: CellRecord) -> str:
    """How a cell is named in MLflow and in messages: dataset/protocol/label/seed=S."""
    return f"{record.dataset}/{record.protocol}/{record.variant}/seed={record.seed}"


def unlogged_message(tracker: MlflowTracker, out_dir: str | Path) -> str | None:
    """One line naming the cells ``tracker`` could not log and how to log them later (None: all logged)."""
    if not tracker.unlogged:
        return None
    names = [cell_name(read_cell(Path(out_dir) / "cells" / f"{key}.json")) for key in tracker.unlogged]
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return (f"MLflow: {len(names)} cell{'s' * (len(names) != 1)} finished and kept in {out_dir} but not logged: {shown}; "
            f"`recsys-cl track {out_dir} --mlflow {tracker.uri}` (or the next bench --mlflow) logs them")  # fmt: skip


def read_pending(out_dir: str | Path) -> dict[str, Any]:
    """``RESULTS/mlflow-pending.json``: store URI -> {experiment, config, parent_run_id, cells} (empty if none)."""
    path = Path(out_dir) / PENDING_FILE
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    return found if isinstance(found, dict) else {}


def write_pending(out_dir: str | Path, uri: str, entry: dict[str, Any] | None) -> None:
    """Set (or with None remove) the entry of store ``uri`` in the pending file; the file goes once it is empty."""
    from recsys_cl.files import write_json

    pending = read_pending(out_dir)
    if entry is None and uri not in pending:
        return
    pending.pop(uri, None) if entry is None else pending.update({uri: entry})
    path = Path(out_dir) / PENDING_FILE
    if pending:
        write_json(path, pending)
    else:
        path.unlink(missing_ok=True)


def log_pending(out_dir: str | Path, uri: str) -> MlflowTracker:
    """Log the cells of ``out_dir`` that an earlier ``bench --mlflow uri`` finished but could not log, nested
    under that invocation's run (a new one if it is gone), then attach the results files and end it. The
    returned tracker says what was logged (``cells_logged``) and what still is not (``unlogged``, ``errors``)."""
    from recsys_cl.reporting import read_run

    out_dir = Path(out_dir)
    entry = read_pending(out_dir).get(uri)
    if not entry or not entry.get("cells"):
        known = ", ".join(read_pending(out_dir)) or "none"
        raise InputError(f"{out_dir}: no cells wait to be logged to {uri} (stores with cells waiting: {known})")
    tracker = open_tracker(uri, entry["experiment"])
    with tracker:
        tracker._pending = list(entry["cells"])
        tracker._start(entry["config"], out_dir, "bench", entry.get("parent_run_id"))
        for key in entry["cells"]:
            tracker.log_cell(read_cell(out_dir / "cells" / f"{key}.json"), out_dir / "cells", entry["config"], retry=True)
        tracker.finish(read_run(out_dir / "run.json"), out_dir)
    return tracker


def cell_params(record: CellRecord, config_name: str) -> dict[str, Any]:
    """What a cell was: the columns a reader filters MLflow runs by, and every fitted parameter as ``params.<name>``."""
    params: dict[str, Any] = {
        "config": config_name, "dataset": record.dataset, "protocol": record.protocol, "model": record.model,
        "label": record.variant, "model_name": record.model_name, "embedding": record.embedding, "seed": record.seed,
        "exclude_seen": record.exclude_seen,
    }  # fmt: skip
    if record.embedding_method:
        params["embedding_method"] = record.embedding_method
    if record.study:
        params["study"] = record.study
    params.update({f"params.{k}": v for k, v in sorted(record.params.items())})
    return params


def cell_metrics(record: CellRecord) -> dict[str, float]:
    """The cell's summary (``ndcg@10`` as ``ndcg_at_10``) and its cost figures (seconds, MiB, Wh, g CO2e)."""
    metrics = {_metric_name(k): float(v) for k, v in record.summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for key, value in cost_row(record).items():
        if key not in _IDENTITY and isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[key] = float(value)
    return metrics


def _metric_name(name: str) -> str:
    return name.replace("@", "_at_")


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…"


def find_report_run(uri: str, experiment: str, results_dir: str | Path) -> "ReportTarget":
    """Find the latest ``bench`` run of ``results_dir`` in ``experiment`` (an InputError if there is none), so a
    report can be attached to it once written (:meth:`ReportTarget.attach`)."""
    tracker = open_tracker(uri, experiment)
    try:
        with _http_limits():
            found = tracker.client.search_runs(
                [tracker.experiment_id], filter_string=f"tags.`{RESULTS_TAG}` = '{results_id(results_dir)}' and "
                f"tags.`{KIND_TAG}` = 'bench'", order_by=["attributes.start_time DESC"], max_results=1,
            )  # fmt: skip
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"--mlflow {uri}: cannot search the MLflow store ({_first_line(exc)})") from None
    if not found:
        raise InputError(f"--mlflow {uri}: no `bench --mlflow` run of {results_dir} in experiment {experiment!r}")
    return ReportTarget(tracker, found[0].info.run_id)


class ReportTarget:
    """The MLflow run a report belongs to (the ``bench`` run of its results folder)."""

    def __init__(self, tracker: MlflowTracker, run_id: str) -> None:
        self.tracker, self.run_id = tracker, run_id

    def attach(self, paths: dict[str, Path]) -> None:
        """Log the report's files (and its figures folder) under ``report/`` of the run."""
        client, lost = self.tracker.client, "the report is written but not attached"
        for path in paths.values():
            self.tracker._safely("log the report", lambda p=path: client.log_artifact(self.run_id, str(p), "report"), lost)
        figures = next(iter(paths.values())).parent / "figures"
        if figures.is_dir():
            self.tracker._safely("log the figures", lambda: client.log_artifacts(self.run_id, str(figures), "report/figures"), lost)
        if self.tracker.errors:
            raise InputError(self.tracker.errors[0])
