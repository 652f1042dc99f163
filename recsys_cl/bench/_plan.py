"""The plan of a benchmark config: the datasets to prepare, the embeddings to learn, the studies to tune
and the cells to run (one per dataset x protocol x model entry x embedding variant x seed), each with its key.

A cell's key is a hash of everything that decides its result (dataset spec and data fingerprint,
protocol and its options, embedding spec, model and the parameters it is fitted with, seed, metrics,
code version), so a re-run redoes exactly the cells whose inputs changed. With tuning, a cell is
fitted with its study's best parameters (``params``), so a study that finds others re-runs its cells.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from recsys_cl import __version__
from recsys_cl.bench._config import MODALITY_JOIN, NO_EMBEDDING, BenchmarkConfig, DatasetSpec, EmbeddingSpec, ModelSpec, variant_parts
from recsys_cl.bench._labels import variant_labels

if TYPE_CHECKING:
    from recsys_cl.reporting import StudySummary

#: protocol name under which embeddings of retrieval-only datasets (styles) are stored
RETRIEVAL = "retrieval"
#: what an untuned twin of a tuned variant is called in tables (tuning.compare_default)
DEFAULT_SUFFIX = " [default]"


@dataclasses.dataclass(frozen=True)
class Cell:
    dataset: DatasetSpec
    protocol: str
    model: ModelSpec
    #: the item embeddings the model is given: none, one, or several modalities
    embeddings: tuple[EmbeddingSpec, ...]
    seed: int
    #: the variant's label in tables (unique within the run)
    label: str = ""
    #: index of the model entry in the config (with the embedding name: the variant)
    model_index: int = 0
    #: parameters the model is fitted with: the entry's own, or (tuned) its study's best on top of them
    params: dict[str, Any] | None = None
    #: key of the study whose best parameters these are (None: not tuned)
    study: str | None = None
    #: fitted on train + valid (``tuning.refit: train+valid``): the tuned cell and its ``[default]`` twin alike,
    #: so the twin differs from it in its parameters only, not in the data it saw
    refit_on_valid: bool = False

    @property
    def embedding_name(self) -> str:
        return MODALITY_JOIN.join(e.name for e in self.embeddings) or NO_EMBEDDING

    @property
    def embedding_method(self) -> str | None:
        return MODALITY_JOIN.join(e.method for e in self.embeddings) or None

    @property
    def fit_params(self) -> dict[str, Any]:
        return dict(self.model.params if self.params is None else self.params)

    def describe(self) -> str:
        return f"{self.dataset.name}/{self.protocol}/{self.label}/seed={self.seed}"

    def key(self, config: BenchmarkConfig, data_fingerprint: str) -> str:
        payload = {
            "dataset": self.dataset.model_dump(),
            "data_fingerprint": data_fingerprint,
            "protocol": self.protocol,
            "protocol_options": config.protocol_options.of(self.protocol).model_dump(),
            "model": self.model.model,
            "params": self.fit_params,
            "study": self.study,
            "embedding": [e.identity() for e in self.embeddings] or None,
            "seed": self.seed,
            "metrics": sorted(config.metrics),
            "ks": sorted(config.ks),
            "segments": config.segments.model_dump(),
            "beyond": config.beyond.model_dump(),
            "code_version": __version__,
        }
        if self.refit_on_valid and self.study is None:  # a tuned cell's study key says it already (its key unchanged)
            payload["fit_parts"] = "train+valid"
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


@lru_cache(maxsize=None)
def _run_name(model: str, params_json: str) -> str:
    from recsys_cl.models import create

    return create(model, **json.loads(params_json)).run_name


def model_run_name(model: str, params: dict[str, Any]) -> str:
    """The model's run name for ``params`` (``implicit-als(factors=32)``: the parameters that differ from its defaults)."""
    return _run_name(model, json.dumps(params, sort_keys=True, default=str))


def labels(config: BenchmarkConfig) -> dict[tuple[int, str], str]:
    """(model entry index, embedding name) -> the variant's label (see ``_labels``)."""
    variants = [(i, name) for i, spec in enumerate(config.models) for name in spec.embeddings]
    runs = [{(d.name, p) for d in config.datasets for p in config.protocols if config.models[i].runs_on(d.name, p)} for i, _ in variants]
    texts = variant_labels([(config.models[i].model, config.models[i].params, config.models[i].label, name) for i, name in variants], runs)
    return dict(zip(variants, texts))


def grid(config: BenchmarkConfig) -> Iterator[Cell]:
    embeddings = {e.name: e for e in config.embeddings}
    label_of = labels(config)
    for dataset in config.datasets:
        if dataset.retrieval_only:
            continue
        for protocol in config.protocols:
            for index, model in enumerate(config.models):
                if not model.runs_on(dataset.name, protocol):
                    continue
                for embedding_name in model.embeddings:
                    for seed in config.seeds:
                        parts = tuple(embeddings[name] for name in variant_parts(embedding_name))
                        yield Cell(dataset, protocol, model, parts, seed, label=label_of[(index, embedding_name)],
                                   model_index=index)  # fmt: skip


def validation_params(model: str, fixed: Mapping[str, Any], metric: str) -> dict[str, Any]:
    """The parameters that make ``model``'s validation while training (its early stopping) watch the tuning
    ``metric`` (:meth:`Recommender.validation_params`, e.g. RecBole's ``valid_metric: MAP@12`` for ``map@12``);
    {} when the entry sets one of them itself (``fixed``: its params), as the user's choice wins. Values equal
    to the model's defaults are left out (they change nothing, and keep cell and study keys as they were)."""
    from recsys_cl.models import MODELS

    if model not in MODELS:
        return {}
    cls = MODELS.get(model)
    wanted = cls.validation_params(metric)
    if any(key in fixed for key in wanted):
        return {}
    defaults = cls.Config.model_fields
    return {key: value for key, value in wanted.items() if key not in defaults or defaults[key].default != value}


def final_params(summary: StudySummary, valid_part: bool | None = None) -> dict[str, Any]:
    """What a tuned model is fitted with after its study: the study's ``refit_params``, and

    - with a valid part (``valid_part``; default: ``refit: train``), the :func:`validation_params` of the
      study's metric, so early stopping keeps the epoch that is best on what was tuned for;
    - without one (``refit: train+valid``), the training length (``epochs``; two-stage: ``num_trees``) fixed
      at the epoch or round early stopping kept in the best trial, since nothing is left to stop on (else a
      model that stopped at epoch 20 while tuning would train its whole ``epochs`` budget)."""
    params: dict[str, Any] = dict(summary.refit_params)
    if summary.refit == "train" if valid_part is None else valid_part:
        return {**params, **validation_params(summary.model, summary.base_params, summary.metric)}
    return with_kept_length(summary.model, params, best_trial_epoch(summary)) or params


def best_trial_epoch(summary: StudySummary) -> int | None:
    """The epoch (boosting round) early stopping kept in the study's best trial; None if it recorded none."""
    return next((t.best_epoch for t in summary.trials if t.number == summary.best_trial), None)


def with_kept_length(model: str, params: dict[str, Any], kept: int | None) -> dict[str, Any] | None:
    """``params`` with ``model``'s training length (its ``training_length_param``: ``epochs``, two-stage's
    ``num_trees``) fixed at ``kept``, the epoch or round early stopping on the valid part kept, for a fit with
    no valid part left to stop on; None when nothing was kept or the model does not stop early."""
    from recsys_cl.models import MODELS

    if kept is None or model not in MODELS:
        return None
    name = MODELS.get(model).training_length_param
    return None if name is None else {**params, name: int(kept)}


def tuned_cells(cells: list[Cell], studies: dict[tuple[str, str, int, str], Any], compare_default: bool) -> list[Cell]:
    """The grid with each cell fitted with its study's best parameters (``studies``: (dataset, protocol, model
    index, embedding) -> StudySummary); with ``compare_default``, each tuned cell of a variant that had anything
    to tune keeps an untuned twin labelled ``[default]`` right after it (:func:`default_twin`)."""
    out = []
    for cell in cells:
        summary = studies[(cell.dataset.name, cell.protocol, cell.model_index, cell.embedding_name)]
        out.append(dataclasses.replace(cell, params=final_params(summary), study=summary.key,
                                       refit_on_valid=summary.refit == "train+valid"))  # fmt: skip
        if compare_default and summary.space:
            out.append(default_twin(cell, summary))
    return out


def default_twin(cell: Cell, summary: StudySummary) -> Cell:
    """``cell``'s untuned twin: its configured parameters, fitted on the parts its tuned cell is, so the two
    differ in their parameters only.

    - ``refit: train`` (a valid part left): the twin stops early on the tuning metric, as the tuned cell does;
    - ``refit: train+valid``: the twin is refit on train + valid too, training for the epoch (two-stage: the
      boosting round) early stopping kept in the study's configured trial, which ran these parameters
      (:func:`configured_trial_epoch`; a configured value outside the search space, such as LightFM's ``reg``
      0 under a log-scale search, was sampled there instead); as for the tuned cell, the whole configured
      length where none was kept (a model that does not stop early, or a configured trial that did not
      complete)."""
    fixed = cell.model.params
    label = cell.label + DEFAULT_SUFFIX
    if summary.refit != "train+valid":
        return dataclasses.replace(cell, label=label, params={**fixed, **validation_params(cell.model.model, fixed, summary.metric)})
    params = with_kept_length(cell.model.model, dict(fixed), configured_trial_epoch(summary)) or dict(fixed)
    return dataclasses.replace(cell, label=label, params=params, refit_on_valid=True)


def configured_trial_epoch(summary: StudySummary) -> int | None:
    """The epoch (boosting round) early stopping kept in the study's configured trial (the entry's own
    parameters, trial 0 of a new study); None if it did not complete or recorded none."""
    return next((t.best_epoch for t in summary.trials if t.number == summary.configured_trial and t.state == "complete"), None)


def cell_record_base(cell: Cell) -> dict[str, Any]:
    return {
        "dataset": cell.dataset.name,
        "protocol": cell.protocol,
        "model": model_run_name(cell.model.model, cell.fit_params),
        "label": cell.label,
        "model_name": cell.model.model,
        "params": cell.fit_params,
        "embedding": cell.embedding_name,
        "embedding_method": cell.embedding_method,
        "seed": cell.seed,
        "study": cell.study,
        "model_index": cell.model_index,
    }


# ---------------------------------------------------------------------------------------------- studies
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
        label = self.model.label or model_run_name(self.model.model, self.model.params)
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


# ---------------------------------------------------------------------------------------------- embeddings
@dataclasses.dataclass(frozen=True)
class EmbeddingJob:
    """One embedding to learn: for a dataset, a protocol's training part (``RETRIEVAL``: a retrieval-only
    dataset) and a seed."""

    dataset: str
    protocol: str
    spec: EmbeddingSpec
    seed: int

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(dataset, protocol, embedding, "seed-S"): how the run record names it."""
        return (self.dataset, self.protocol, self.spec.name, f"seed-{self.seed}")


def cell_embeddings(cell: Cell) -> list[EmbeddingJob]:
    """The embeddings a cell uses: the ones learned with its own seed."""
    return [EmbeddingJob(cell.dataset.name, cell.protocol, spec, cell.seed) for spec in cell.embeddings]


# ---------------------------------------------------------------------------------------------- the plan
@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a config asks for, in the order it is done: datasets, the embeddings of retrieval-only
    datasets, the studies (with tuning), the cells. Cells are keyed once their data is prepared
    (:meth:`keys`: the key holds the data fingerprint) and, with tuning, once their studies are done
    (:meth:`tuned`: a cell is fitted with its study's best parameters)."""

    config: BenchmarkConfig
    datasets: tuple[DatasetSpec, ...]
    retrieval_embeddings: tuple[EmbeddingJob, ...]
    studies: tuple[StudyPlan, ...]
    cells: tuple[Cell, ...]

    def tuned(self, summaries: list[Any]) -> "Plan":
        """The plan with each cell fitted with its study's best parameters (``summaries`` in study order)."""
        assert self.config.tuning is not None
        by_variant = {(p.dataset, p.protocol, p.model_index, p.embedding_name): s for p, s in zip(self.studies, summaries)}
        return dataclasses.replace(self, cells=tuple(tuned_cells(list(self.cells), by_variant, self.config.tuning.compare_default)))

    def cell_embeddings(self) -> list[EmbeddingJob]:
        """The embeddings the cells use, each once (by key), in the order cells first need them."""
        first: dict[tuple[str, str, str, str], EmbeddingJob] = {}
        for cell in self.cells:
            for job in cell_embeddings(cell):
                first.setdefault(job.key, job)
        return list(first.values())

    def keys(self, fingerprints: Mapping[str, str]) -> list[str]:
        """Each cell's key, given each dataset's data fingerprint."""
        return [cell.key(self.config, fingerprints[cell.dataset.name]) for cell in self.cells]


def make_plan(config: BenchmarkConfig, tuning: bool = False) -> Plan:
    """The plan of ``config`` (with its studies when ``tuning``)."""
    retrieval = tuple(
        EmbeddingJob(spec.name, RETRIEVAL, emb, seed)
        for spec in config.datasets
        if spec.retrieval_only  # no users: the embeddings and their retrieval metrics are the result
        for seed in config.seeds
        for emb in config.embeddings
    )
    studies = tuple(study_plans(config)) if tuning else ()
    return Plan(config, tuple(config.datasets), retrieval, studies, tuple(grid(config)))
