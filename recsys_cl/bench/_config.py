"""Benchmark configs: YAML files validated by pydantic (unknown keys rejected, with their path).

The grid a config describes is datasets x protocols x models x embedding variants x seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recsys_cl.errors import InputError, validated, validation_message
from recsys_cl.evaluation._segments import SegmentConfig
from recsys_cl.models._epoch_validation import metric_at_k
from recsys_cl.models._spaces import ParamSpace

NO_EMBEDDING = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SynthSpec(_Strict):
    """Size of a synthetic H&M-shaped sample (see ``recsys-cl data synth hm``)."""

    customers: int = Field(2000, ge=10)
    articles: int = Field(1000, ge=10)
    weeks: int = Field(16, ge=2)
    transactions: int | None = None
    images: bool = True
    seed: int = 0


class StylesSynthSpec(_Strict):
    """Size of a synthetic styles sample (see ``recsys-cl data synth styles``)."""

    products: int = Field(2000, ge=10)
    images: bool = True
    seed: int = 0


#: sources without interactions: only embeddings (and their retrieval metrics) are computed for them
RETRIEVAL_SOURCES = ("styles", "styles-synth")


class DatasetSpec(_Strict):
    """Where a dataset comes from and how it is prepared."""

    name: str
    source: Literal["hm", "hm-synth", "ml-100k", "styles", "styles-synth"]
    raw: str | None = Field(None, description="raw folder (hm, styles); may also be given with --raw NAME=PATH")
    synth: dict[str, Any] | None = Field(None, description="sizes for hm-synth (SynthSpec) or styles-synth (StylesSynthSpec)")
    prepare: dict[str, Any] = Field(default_factory=dict, description="prepare hm options (weeks, min_user_interactions, ...)")

    @model_validator(mode="after")
    def _check_source(self) -> "DatasetSpec":
        spec_class = {"hm-synth": SynthSpec, "styles-synth": StylesSynthSpec}.get(self.source)
        if spec_class is not None:
            try:
                self.synth = spec_class.model_validate(self.synth or {}).model_dump()
            except ValidationError as exc:
                raise ValueError(f"synth.{validation_message(exc)}") from None
        elif self.synth is not None:
            raise ValueError("synth is only for sources hm-synth and styles-synth")
        if self.source not in ("hm", "hm-synth") and self.prepare:
            raise ValueError("prepare options are only for hm sources")
        return self

    @property
    def retrieval_only(self) -> bool:
        return self.source in RETRIEVAL_SOURCES


class EmbeddingSpec(_Strict):
    """An item-embedding learner run (``recsys-cl embed``) whose output models may take."""

    name: str
    method: str
    options: dict[str, Any] = Field(default_factory=dict)


class ComposedRetrievalSpec(_Strict):
    """Composed retrieval (paper 003: reference image + "in red instead of black") on every
    retrieval-only dataset of the config, beside its embeddings (``recsys-cl retrieve composed``)."""

    enabled: bool = False
    options: dict[str, Any] = Field(default_factory=dict, description="EmbedOptions fields (train, text_model, ...)")


class ModelSpec(_Strict):
    """A model from the registry with its parameters and the embedding variants to run it with."""

    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    embeddings: list[str] = Field(default_factory=lambda: [NO_EMBEDDING])
    label: str | None = Field(None, description="name in tables; default the model's run name")
    search: dict[str, ParamSpace] | None = Field(
        None,
        description="tuning's search space: parameter -> {type: int|float|log_float|categorical, low, high, step, choices}; "
        "absent = the model's default space (recsys_cl.models._spaces), {} = nothing to tune (one trial). "
        "Searched values override params while tuning; params are the untuned defaults",
    )


class TuningSpec(_Strict):
    """How every model of the config is tuned (``recsys-cl tune``): one budget for all, on the valid part."""

    trials: int = Field(20, ge=1, description="finished (completed or pruned) trials per study")
    timeout_seconds: float | None = Field(None, gt=0, description="stop starting trials of a study after this many seconds")
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "none"] = "median"
    metric: str = Field("ndcg@10", description="objective: this metric@k on the valid part (maximised)")
    refit: Literal["train", "train+valid"] = Field("train", description="what the best parameters are refit on before the test")
    seed: int = Field(0, description="seeds the sampler and every trial's model")
    validate_every: int | None = Field(
        None, ge=1, description="epochs between the validations pruning reads; default: the model's (recsys_cl.models._spaces)"
    )

    @field_validator("metric")
    @classmethod
    def _computed_metric(cls, value: str) -> str:
        return metric_at_k(value)


class SignificanceSpec(_Strict):
    baseline: str = Field("pop", description="label of the model every other is tested against")
    metric: str = "ndcg@10"
    alpha: float = Field(0.05, gt=0, lt=1)


class BenchmarkConfig(_Strict):
    name: str
    datasets: list[DatasetSpec]
    protocols: list[Literal["loo", "temporal", "cold-item"]] = Field(default_factory=lambda: ["loo"])
    protocol_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    embeddings: list[EmbeddingSpec] = Field(default_factory=list)
    composed_retrieval: ComposedRetrievalSpec = Field(default_factory=ComposedRetrievalSpec)
    models: list[ModelSpec] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=lambda: [0])
    metrics: list[str] = Field(default_factory=lambda: ["hr", "ndcg", "recall", "precision", "mrr", "map"])
    ks: list[int] = Field(default_factory=lambda: [10, 12])
    segments: SegmentConfig = Field(default_factory=SegmentConfig)
    significance: SignificanceSpec = Field(default_factory=SignificanceSpec)
    device: str = "auto"
    tuning: TuningSpec | None = Field(None, description="tuning budget and objective (recsys-cl tune); absent = defaults")

    @model_validator(mode="after")
    def _check_references(self) -> "BenchmarkConfig":
        embedding_names = {e.name for e in self.embeddings}
        for i, model in enumerate(self.models):
            for name in model.embeddings:
                if name != NO_EMBEDDING and name not in embedding_names:
                    raise ValueError(f"models.{i}.embeddings: {name!r} is not one of the embeddings ({', '.join(sorted(embedding_names)) or 'none defined'})")
        if not self.models and not self.embeddings:
            raise ValueError("models: a benchmark needs models, embeddings, or both")
        if self.composed_retrieval.enabled and not any(d.retrieval_only for d in self.datasets):
            raise ValueError(f"composed_retrieval: needs a dataset with source {' or '.join(RETRIEVAL_SOURCES)}")
        for kind, names in (("datasets", [d.name for d in self.datasets]), ("embeddings", list(embedding_names))):
            if len(set(names)) != len(names):
                raise ValueError(f"{kind}: names must be unique")
        return self


def load_config(path: str | Path) -> BenchmarkConfig:
    """Read and validate a benchmark YAML; errors name the file and the key path."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: benchmark config not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    try:
        config = BenchmarkConfig.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: {validation_message(exc)}") from None
    _check_model_params(path, config)
    _check_composed_options(path, config)
    _check_search_spaces(path, config)
    return config


def _check_model_params(path: Path, config: BenchmarkConfig) -> None:
    """Validate every model's params against its own typed config now, not hours into a run."""
    from recsys_cl.models import (
        REGISTRY,  # importing the package registers every backend
    )
    for i, spec in enumerate(config.models):
        if spec.model not in REGISTRY:
            raise InputError(f"{path}: models.{i}.model: unknown model {spec.model!r}; known: {', '.join(sorted(REGISTRY))}")
        validated(REGISTRY[spec.model].Config, spec.params, str(path), key_prefix=f"models.{i}.params.")


def _check_search_spaces(path: Path, config: BenchmarkConfig) -> None:
    """Every model's search space against its own config (and the grid sampler's need for discrete values)."""
    from recsys_cl.bench._tuning import check_spaces

    check_spaces(config, str(path))


def _check_composed_options(path: Path, config: BenchmarkConfig) -> None:
    from recsys_cl.embeddings._composed import composed_options

    try:
        composed_options(None, config.composed_retrieval.options)
    except InputError as exc:
        raise InputError(f"{path}: composed_retrieval.options: {exc}") from exc
