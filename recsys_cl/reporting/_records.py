"""The results folder's records: one typed class per file kind, one writer and one reader each.

``bench`` writes them (``write_cell``, ``write_run``, ``write_metrics_csv``); reporting, regression
tracking and the CLI read them (``read_cell``, ``read_run``). A file that is truncated, not JSON, or
JSON of another shape is an :class:`~recsys_cl.errors.InputError` naming the file and the key, never a
traceback.

Layout of a results folder::

    OUT/run.json                   RunRecord: config, git commit, package versions, device, timings, cell keys
    OUT/metrics.csv                long form: dataset, protocol, model (run name), label, embedding, seed, segment, metric, k, value
    OUT/costs.csv                  one row per cell: seconds, peak memory, energy (``reporting._cost.write_costs_csv``)
    OUT/cells/<key>.json           CellRecord of one finished cell (written last, atomically: its presence means done)
    OUT/cells/<key>.users.parquet  per-user scores of that cell (significance tests, regression diffs)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recsys_cl.errors import InputError, validation_message
from recsys_cl.files import atomic_output, write_json


class _Record(BaseModel):
    # extra="ignore": a record written by a later version with more fields still reads
    model_config = ConfigDict(extra="ignore", frozen=True)


class StageCost(_Record):
    """Memory and energy of one stage of a cell (fit or recommend); its seconds are the model's own timers
    (``CellRecord.fit_seconds``, ``recommend_seconds``). MiB = 2**20 bytes; None where not measured."""

    #: resident memory of the process when the stage began, and its peak during the stage
    rss_before_mib: float
    peak_rss_mib: float
    #: ``torch.cuda.max_memory_allocated`` during the stage (None: the cell did not run on CUDA)
    gpu_peak_mib: float | None = None
    #: CodeCarbon's estimate for the stage: total, and its CPU, RAM and GPU parts (Wh); CO2e in grams
    energy_wh: float | None = None
    cpu_energy_wh: float | None = None
    ram_energy_wh: float | None = None
    gpu_energy_wh: float | None = None
    co2e_g: float | None = None

    @property
    def rss_added_mib(self) -> float:
        """How far the stage raised the process's memory above where it started (what the model itself needed)."""
        return max(0.0, self.peak_rss_mib - self.rss_before_mib)


class EnergySetup(_Record):
    """How a cell's energy was estimated (CodeCarbon, offline): read before comparing energy across machines."""

    tool: str = ""
    #: ``process``: the cell's own CPU time, not the whole machine's load (other users share it)
    tracking_mode: str = ""
    #: ``RAPL`` (measured by the CPU's counters) or ``TDP x CPU share`` (estimated: no counters readable)
    cpu_power: str = ""
    cpu_model: str | None = None
    #: the CPU power (W) the estimate scales by the process's CPU share (TDP estimates only)
    cpu_tdp_w: float | None = None
    ram_power_w: float | None = None
    #: how GPU power was read (``pynvml``), None without a GPU
    gpu_power: str | None = None
    #: country whose grid carbon intensity converts energy to CO2e; None: CodeCarbon's world average
    country_iso_code: str | None = None
    carbon_intensity_g_per_kwh: float | None = None
    #: what a reader must know (fallbacks CodeCarbon took)
    note: str = ""
    #: why there is no energy figure (CodeCarbon missing or failing); None when there is one
    error: str | None = None


class CellCost(_Record):
    """What a cell cost beyond its seconds: per-stage peak memory and energy (see ``recsys_cl.bench._cost``)."""

    #: ``vmhwm``: the kernel's exact per-stage high-water mark; ``sampled``: RSS polled every few ms
    memory_method: str
    fit: StageCost
    recommend: StageCost
    energy: EnergySetup | None = None

    @property
    def energy_wh(self) -> float | None:
        return _sum_or_none(self.fit.energy_wh, self.recommend.energy_wh)

    @property
    def co2e_g(self) -> float | None:
        return _sum_or_none(self.fit.co2e_g, self.recommend.co2e_g)


def _sum_or_none(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else float(sum(values))  # type: ignore[arg-type]


class _CellIdentity(_Record):
    """What identifies a cell of a grid: shared by its record and by run.json's list of cells."""

    #: hash of everything that decides the cell (``Cell.key``); set when the record is stored
    key: str = ""
    dataset: str
    protocol: str
    #: the model's run name: registry name and the parameters that differ from its defaults
    model: str
    #: the short name tables, plots and metrics.csv show for this (model entry, embedding) variant
    label: str = ""
    #: registry name of the model (``lightgcn``) and the parameters it was fitted with
    model_name: str
    params: dict[str, Any] = Field(default_factory=dict)
    embedding: str = "none"
    embedding_method: str | None = None
    seed: int = 0
    #: key of the tuning study whose best parameters these are (None: not tuned)
    study: str | None = None
    #: index of the model entry in the config (the variant is this entry with ``embedding``)
    model_index: int | None = None

    def describe(self) -> str:
        """``dataset/protocol/label/seed=S (cells/KEY.json)``: a cell named for a reader."""
        return f"{self.dataset}/{self.protocol}/{self.label or self.model}/seed={self.seed} (cells/{self.key}.json)"


class CellRecord(_CellIdentity):
    """One finished cell of a benchmark grid: what ran and what it scored (means; per-user values are in Parquet)."""

    #: what a model reports about itself beyond its metrics (JSON-ready; e.g. two-stage: candidate recall
    #: per generator, feature importances, ranker vs best generator)
    diagnostics: dict[str, Any] | None = None
    run_name: str = ""
    #: whether each user's training items were left out of their list (the protocol's evaluation mode)
    exclude_seen: bool = True
    #: ``ndcg@10`` -> mean over evaluated users (and n_users, coverage@k, ... ; None where undefined)
    summary: dict[str, int | float | None]
    #: ``user_activity`` / ``item_popularity`` -> segment label -> summary of that segment (``n_users`` an int)
    segments: dict[str, dict[str, dict[str, int | float | None]]] = Field(default_factory=dict)
    n_users: int = 0
    fit_seconds: float = 0.0
    recommend_seconds: float = 0.0
    #: the model's TrainingHistory (epochs run, best epoch, per-epoch validation score)
    history: dict[str, Any] = Field(default_factory=dict)
    #: peak memory and energy of fit and recommend (None: written before costs were measured)
    cost: CellCost | None = None
    #: cold-item cells: where the test items land in the model's full ranking (``test_rank_median``,
    #: ``test_rank_share_median``, ``cold_share@k`` vs ``cold_catalogue_share``: recsys_cl.evaluation.placement)
    placement: dict[str, float | None] | None = None
    #: cold-item cells of a model that has no principled way to score an item without training
    #: interactions: why (the report prints "cannot rank new items" instead of its numbers)
    cannot_rank_new_items: str | None = None
    #: where the cell ran: the host, and on a Ray cluster the Ray node (several nodes may share a host);
    #: None in records written before it was kept
    node: str | None = None

    @property
    def variant(self) -> str:
        """The variant's label: one (model entry, embedding) variant, all seeds together (records written
        before labels existed: ``model`` or ``model + embedding``)."""
        if self.label:
            return self.label
        return self.model if self.embedding == "none" else f"{self.model} + {self.embedding}"

    def metric(self, name: str) -> float | None:
        return self.summary.get(name)


class CellSummary(_CellIdentity):
    """A cell as run.json lists it (its record may or may not exist yet)."""

    key: str  # required here: run.json lists cells by key


class DatasetEntry(_Record):
    dir: str
    fingerprint: str


class RunRecord(_Record):
    """``run.json``: the config a run was made from and where its parts are."""

    config: dict[str, Any]
    recsys_cl_version: str
    #: the checkout's commit when the run started
    git_commit: str | None = None
    #: set when the checkout moved while the run ran: later cells (spawned processes) ran this code
    git_commit_at_end: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    python: str = ""
    device: str = ""
    executor: str = ""
    #: the Ray nodes the run checked and could use (executor ray; each cell records the one that ran it)
    nodes: list[str] = Field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0
    cells: list[CellSummary] = Field(default_factory=list)
    cells_run_now: int = 0
    datasets: dict[str, DatasetEntry] = Field(default_factory=dict)
    #: ``dataset/protocol/name`` -> item-embedding file
    embeddings: dict[str, str] = Field(default_factory=dict)
    composed_retrieval: dict[str, str] = Field(default_factory=dict)
    #: tuning study key -> its StudySummary file (``OUT/tuning/<key>.json``); empty when nothing was tuned
    studies: dict[str, str] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.config.get("name", ""))


class TrialRecord(_Record):
    """One tuning trial as stored: ``state`` complete, pruned or fail; ``epochs_run`` where the model counts
    epochs, ``best_epoch`` the one whose weights early stopping kept; ``seconds`` the whole trial, ``fit_seconds`` its model's fit (completed trials); ``error`` why it
    failed; ``counted``: among the study's first ``budget`` finished trials (the ones its summary is drawn from)."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    epochs_run: int | None = None
    best_epoch: int | None = None
    seconds: float | None = None
    fit_seconds: float | None = None
    error: str | None = None
    counted: bool = True


class StudySummary(_Record):
    """What one tuning study did (``OUT/tuning/<key>.json``): for the results, the report's Tuning section
    and the final refits.

    ``best_params`` are the searched values of the best completed trial; :attr:`refit_params` adds the
    fixed ``base_params`` (what a final fit uses). ``best_so_far[i]`` is the best valid value among the
    first ``i + 1`` finished trials (None before the first completed one).
    """

    study_name: str
    key: str
    storage: str
    dataset: str
    protocol: str
    model: str
    label: str
    embedding: str
    metric: str
    sampler: str
    pruner: str
    #: epochs before the pruner may stop a trial (0: from its first validation)
    pruner_warmup: int = 0
    seed: int
    refit: str
    space: dict[str, dict[str, Any]]
    base_params: dict[str, Any]
    budget: int
    trials_completed: int
    trials_pruned: int
    trials_failed: int
    trials_run_now: int
    best_params: dict[str, Any]
    best_value: float | None
    best_trial: int | None
    best_so_far: list[float | None]
    trials: list[TrialRecord]
    stopped_by: str
    wall_seconds: float
    trial_seconds: float
    #: valid value of trial 0, the configured (untuned) parameters, when the study started from them
    configured_value: float | None = None
    #: number of that configured trial (None: it did not run); a ``[default]`` twin refit on train + valid
    #: trains for the epoch it kept (``bench.default_twin``)
    configured_trial: int | None = None

    @property
    def refit_params(self) -> dict[str, Any]:
        return {**self.base_params, **self.best_params}

    def to_json(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "refit_params": self.refit_params}

    def to_dict(self) -> dict[str, Any]:
        return self.to_json()


def write_study(path: str | Path, study: StudySummary) -> None:
    write_json(path, study.to_json())


def read_study(path: str | Path) -> StudySummary:
    return _read_json_record(Path(path), StudySummary, "tuning study record")


def _read_json_record(path: Path, record: type[_Record], what: str) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        return record.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0].get("type", "").startswith("json_"):
            raise InputError(f"{path}: not a valid {what} (broken JSON: {errors[0].get('msg')})") from None
        raise InputError(f"{path}: not a valid {what}: {validation_message(exc)}") from None


def read_cell(path: str | Path) -> CellRecord:
    return _read_json_record(Path(path), CellRecord, "cell record")


def read_run(path: str | Path) -> RunRecord:
    return _read_json_record(Path(path), RunRecord, "run record (run.json)")


def write_run(path: str | Path, run: RunRecord) -> None:
    write_json(path, run.model_dump(mode="json"))


def write_cell(cells_dir: str | Path, record: CellRecord, per_user: bytes) -> None:
    """Per-user scores first, the JSON last: the JSON's presence is what marks the cell done."""
    cells_dir = Path(cells_dir)
    with atomic_output(cells_dir / f"{record.key}.users.parquet") as tmp:
        tmp.write_bytes(per_user)
    write_json(cells_dir / f"{record.key}.json", record.model_dump(mode="json"))


METRICS_CSV_SCHEMA = {
    "dataset": pl.Utf8, "protocol": pl.Utf8, "model": pl.Utf8, "label": pl.Utf8, "embedding": pl.Utf8, "seed": pl.Int64,
    "segment": pl.Utf8, "metric": pl.Utf8, "k": pl.Int64, "value": pl.Float64,
}  # fmt: skip


def write_metrics_csv(records: list[CellRecord], path: str | Path) -> None:
    """Long form, one row per (cell, segment, metric): the whole run's means in one file."""
    rows = []
    for r in records:
        summaries: dict[str, dict[str, float | None]] = {"all": r.summary}
        for kind, prefix in (("user_activity", "users"), ("item_popularity", "items")):
            for label, summary in r.segments.get(kind, {}).items():
                summaries[f"{prefix}:{label}"] = summary
        for segment, summary in summaries.items():
            for name, value in summary.items():
                metric, _, k = name.partition("@")
                rows.append(
                    {
                        "dataset": r.dataset, "protocol": r.protocol, "model": r.model, "label": r.variant, "embedding": r.embedding,
                        "seed": r.seed, "segment": segment, "metric": metric, "k": int(k) if k.isdigit() else None,
                        "value": value,
                    }
                )  # fmt: skip
    frame = pl.DataFrame(rows, schema=METRICS_CSV_SCHEMA, orient="row")
    with atomic_output(Path(path)) as tmp:
        frame.write_csv(tmp)


def record_json(record: _Record) -> str:
    """The record as the JSON text its writer stores (for hashing or printing)."""
    return json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True)
