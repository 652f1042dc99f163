"""Benchmark configs: YAML files validated by pydantic (unknown keys rejected, with their path).

The grid a config describes is datasets x protocols x models x embedding variants x seeds. Everything
that can be checked without data is checked when the file is loaded, before any work starts: model
parameters against each model's typed config, dataset options against each source's typed options,
metric names and cutoffs, embedding methods, an empty grid, and two entries that would be the same cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from recsys_cl.data import DEFAULT_COLD_ITEM_SHARE, DEFAULT_TEST_DAYS, DEFAULT_VALID_DAYS, PROTOCOLS, ProtocolName
from recsys_cl.errors import InputError, validated, validation_location, validation_message
from recsys_cl.evaluation import DEFAULT_EXCLUDE_SEEN, BeyondAccuracyConfig, SegmentConfig, parse_metrics
from recsys_cl.models import ParamSpace, check_grid, metric_at_k, resolve_space
from recsys_cl.limits import Seed, plain_name
from recsys_cl.yamlfile import read_yaml

NO_EMBEDDING = "none"
#: joins the embeddings of a variant that gives a model several modalities at once (``text-nce+clip``)
MODALITY_JOIN = "+"
PROTOCOL_NAMES = PROTOCOLS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LooOptions(_Strict):
    """Leave-one-out: nothing to set but whether seen items are excluded (default yes)."""

    exclude_seen: StrictBool = Field(DEFAULT_EXCLUDE_SEEN["loo"], description="leave each user's training items out of their lists")


class TemporalOptions(_Strict):
    """The H&M competition's setting: the last ``test_days`` days are test; repurchases count by default."""

    test_days: int = Field(DEFAULT_TEST_DAYS, ge=1, description="the last N calendar days are test")
    valid_days: int = Field(DEFAULT_VALID_DAYS, ge=0, description="the N days before test are valid")
    exclude_seen: StrictBool = Field(
        DEFAULT_EXCLUDE_SEEN["temporal"], description="false: a model may recommend items the customer bought before"
    )


class ColdItemOptions(_Strict):
    """A seeded share of items held out with all their interactions (test; the same share again for valid)."""

    test_share: float = Field(DEFAULT_COLD_ITEM_SHARE, gt=0, lt=0.5, description="share of items held out for test (the same share again for valid)")
    exclude_seen: StrictBool = Field(DEFAULT_EXCLUDE_SEEN["cold-item"], description="leave each user's training items out of their lists")


class GivenOptions(_Strict):
    """The split the data came with (MMRec's x_label, RecBole's benchmark files); training items excluded
    by default, as MMRec and RecBole evaluate."""

    exclude_seen: StrictBool = DEFAULT_EXCLUDE_SEEN["given"]


class ProtocolOptions(_Strict):
    """``protocol_options`` of a config, one typed block per protocol."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    loo: LooOptions = Field(default_factory=LooOptions)
    temporal: TemporalOptions = Field(default_factory=TemporalOptions)
    cold_item: ColdItemOptions = Field(default_factory=ColdItemOptions, alias="cold-item")
    given: GivenOptions = Field(default_factory=GivenOptions)

    def of(self, protocol: str) -> BaseModel:
        return {"loo": self.loo, "temporal": self.temporal, "cold-item": self.cold_item, "given": self.given}[protocol]

    def source_options(self) -> dict[str, Any]:
        """The split options a data source takes (see ``recsys_cl.data.InteractionOptions``)."""
        return {
            "test_days": self.temporal.test_days,
            "valid_days": self.temporal.valid_days,
            "cold_item_share": self.cold_item.test_share,
        }


class DatasetSpec(_Strict):
    """Where a dataset comes from and how it is prepared (options of its source, see ``recsys_cl.data.SOURCES``)."""

    name: str = Field(description="the dataset's name: its folder under the atomic root, and its name in tables")
    source: str = Field(description="a registered data source (recsys_cl.data.SOURCES); its options go under prepare")
    raw: str | None = Field(None, description="raw folder (hm, styles); may also be given with --raw NAME=PATH")
    synth: dict[str, Any] | None = Field(None, description="generator options of hm-synth / styles-synth")
    prepare: dict[str, Any] = Field(default_factory=dict, description="options of the source (weeks, min_user_interactions, ...)")

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        from recsys_cl.data import SOURCES

        try:
            SOURCES.get(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def retrieval_only(self) -> bool:
        """Sources without users (styles): only embeddings and retrieval run on them."""
        from recsys_cl.data import SOURCES

        return not SOURCES.get(self.source).has_interactions

    def source_options(self, protocols: list[str], protocol_options: ProtocolOptions) -> dict[str, Any]:
        """The options handed to ``recsys_cl.data.prepare`` (not yet validated)."""
        from recsys_cl.data import SOURCES

        values: dict[str, Any] = {"name": self.name}
        if SOURCES.get(self.source).has_interactions:
            values.update({"protocols": list(protocols), **protocol_options.source_options()})
        values.update(self.prepare)
        if self.synth is not None:
            values["synth"] = self.synth
        return values


class EmbeddingSpec(_Strict):
    """An item-embedding learner run (``recsys-cl embed``) whose output models may take."""

    name: str = Field(description="what model entries call it in their embeddings list")
    method: str = Field(description="a registered learner (recsys_cl.embeddings.LEARNERS)")
    options: dict[str, Any] = Field(default_factory=dict, description="the learner's typed options (train: {epochs: 30}, ...)")

    def identity(self) -> dict[str, Any]:
        """What decides this embedding, for run keys: the spec, and for a method that reads files besides
        the dataset (precomputed) a fingerprint of their contents, so rewritten vectors re-run their cells."""
        from recsys_cl.embeddings import input_fingerprint

        values = self.model_dump()
        files = input_fingerprint(self.method, self.options)
        if files is not None:  # absent otherwise: the keys of learned embeddings stay as they were
            values["inputs"] = files
        return values

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or value == NO_EMBEDDING or MODALITY_JOIN in value or "/" in value:
            raise ValueError(f"{value!r}: an embedding name must not be empty, {NO_EMBEDDING!r}, or contain '{MODALITY_JOIN}' or '/'")
        return plain_name(value, "embedding name")  # it names files under OUT/embeddings/


def variant_parts(name: str) -> list[str]:
    """The embeddings of an embedding variant: none, one (``text-nce``), or several modalities (``text-nce+clip``)."""
    return [] if name == NO_EMBEDDING else name.split(MODALITY_JOIN)


class ComposedRetrievalSpec(_Strict):
    """Composed retrieval (paper 003: reference image + "in red instead of black") on every
    retrieval-only dataset of the config, beside its embeddings (``recsys-cl retrieve composed``)."""

    enabled: bool = Field(False, description="run composed retrieval on the config's retrieval-only datasets")
    options: dict[str, Any] = Field(default_factory=dict, description="EmbedOptions fields (train, text_model, ...)")


class ModelSpec(_Strict):
    """A model from the registry with its parameters and the embedding variants to run it with."""

    model: str = Field(description="a registered model (recsys_cl.models.MODELS, or a plugin's: recsys-cl plugins)")
    params: dict[str, Any] = Field(default_factory=dict, description="the model's typed config (checked when the file is read)")
    embeddings: list[str] = Field(
        default_factory=lambda: [NO_EMBEDDING],
        description=f"embedding variants to run it with: {NO_EMBEDDING!r}, an embedding's name, or several joined with "
        f"'{MODALITY_JOIN}' (modalities for models that take several)",
    )
    label: str | None = Field(None, description="name in tables; default the model's run name")
    protocols: list[ProtocolName] | None = Field(
        None, description="run this entry under these of the config's protocols only (default: all of them)"
    )
    datasets: list[str] | None = Field(
        None, description="run this entry on these of the config's datasets only (default: all of them)"
    )
    search: dict[str, ParamSpace] | None = Field(
        None,
        description="tuning's search space: parameter -> {type: int|float|log_float|categorical, low, high, step, choices}; "
        "absent = the model's default space (recsys_cl.models._spaces), {} = nothing to tune (one trial). "
        "Searched values override params while tuning; params are the untuned defaults",
    )

    @field_validator("embeddings")
    @classmethod
    def _some_embedding(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"list at least one embedding variant ({NO_EMBEDDING!r} for none)")
        if len(set(value)) != len(value):
            raise ValueError("an embedding variant is listed twice")
        return value

    def runs_on(self, dataset: str, protocol: str) -> bool:
        """Whether the grid has this entry's cells for (dataset, protocol)."""
        return (self.protocols is None or protocol in self.protocols) and (self.datasets is None or dataset in self.datasets)


class TuningSpec(_Strict):
    """How every model of the config is tuned (``recsys-cl tune``): one budget for all, on the valid part."""

    trials: int = Field(20, ge=1, description="finished (completed or pruned) trials per study")
    timeout_seconds: float | None = Field(None, gt=0, description="stop starting trials of a study after this many seconds")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="Optuna's sampler; grid needs discrete spaces")
    pruner: Literal["median", "none"] = Field("median", description="stop trials whose validation scores fall below the median")
    pruner_warmup: int = Field(
        0, ge=0, description="epochs a trial runs before the pruner may stop it (Optuna's n_warmup_steps); 0: from its "
        "first validation, which stops slow starters (a low learning rate) that may have won (docs/reference-results.md)",
    )
    metric: str = Field("ndcg@10", description="objective: this metric@k on the valid part (maximised)")
    refit: Literal["train", "train+valid"] = Field("train", description="what the best parameters (and each [default] twin) are refit on before the test")
    seed: Seed = Field(0, description="seeds the sampler and every trial's model")
    validate_every: int | None = Field(
        None, ge=1, description="epochs between the validations pruning reads; default: the model's (recsys_cl.models._spaces)"
    )
    compare_default: bool = Field(
        True, description="bench also runs each tuned variant with its untuned parameters (labelled '[default]'), "
        "so the report shows default vs tuned test scores side by side",
    )

    @field_validator("metric")
    @classmethod
    def _computed_metric(cls, value: str) -> str:
        return metric_at_k(value)


class SignificanceSpec(_Strict):
    """The paired randomisation tests of the report (Holm-corrected)."""

    baseline: str = Field("pop", description="label of the model every other is tested against")
    metric: str = Field("ndcg@10", description="the metric@k tested")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level")


class BenchmarkConfig(_Strict):
    """A benchmark: datasets x protocols x models x embedding variants x seeds."""

    name: str = Field(description="results go to results/<name> unless --out")
    datasets: list[DatasetSpec] = Field(description="the datasets, each prepared once")
    protocols: list[ProtocolName] = Field(default_factory=lambda: ["loo"], description="the splits every model runs under")
    protocol_options: ProtocolOptions = Field(default_factory=ProtocolOptions, description="options of each protocol")
    embeddings: list[EmbeddingSpec] = Field(default_factory=list, description="item embeddings to learn, for models to take")
    composed_retrieval: ComposedRetrievalSpec = Field(default_factory=ComposedRetrievalSpec, description="styles datasets: "
                                                      "reference image + modification text")  # fmt: skip
    models: list[ModelSpec] = Field(default_factory=list, description="model entries, each with its embedding variants")
    seeds: list[Seed] = Field(default_factory=lambda: [0], description="every cell runs once per seed; a seed drives every random step")
    metrics: list[str] = Field(
        default_factory=lambda: ["hr", "ndcg", "recall", "precision", "mrr", "map"],
        description="metric names (see the metrics reference); 'beyond' = every beyond-accuracy metric whose inputs are given",
    )
    ks: list[int] = Field(default_factory=lambda: [10, 12], description="cutoffs: every metric at every K")
    segments: SegmentConfig = Field(default_factory=SegmentConfig, description="user-history bins and the rare-item bound")
    beyond: BeyondAccuracyConfig = Field(
        default_factory=BeyondAccuracyConfig, description="options of the beyond-accuracy metrics (diversity_attribute, tail_ratio)"
    )
    significance: SignificanceSpec = Field(default_factory=SignificanceSpec, description="the model every other is tested against")
    device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")
    tuning: TuningSpec | None = Field(None, description="tuning budget and objective (recsys-cl tune); absent = defaults")
    published: str | None = Field(
        None, description="CSV of published numbers (dataset, model, metric columns, source) the report sets beside "
        "ours; a path relative to the config file (benchmarks/published/mmrec.csv)",
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # without --out, results go to results/<name>: a name like ../x or /abs would write elsewhere
        return plain_name(value, "config name")

    @field_validator("datasets", "seeds", "protocols")
    @classmethod
    def _not_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("must not be empty (the grid would have no cells)")
        if len(set(map(str, value))) != len(value):
            raise ValueError("an entry is listed twice")
        return value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:

        try:
            return parse_metrics(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("ks")
    @classmethod
    def _positive_cutoffs(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("list at least one cutoff K")
        bad = [k for k in value if k < 1]
        if bad:
            raise ValueError(f"cutoff K must be >= 1 (got {bad[0]})")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value != "auto" and value.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise ValueError(f"unknown device {value!r} (use auto, cpu or cuda)")
        return value

    @model_validator(mode="after")
    def _check_references(self) -> "BenchmarkConfig":
        embedding_names = {e.name for e in self.embeddings}
        for i, model in enumerate(self.models):
            for name in model.embeddings:
                for part in variant_parts(name):
                    if part not in embedding_names:
                        raise ValueError(f"models.{i}.embeddings: {part!r} is not one of the embeddings ({', '.join(sorted(embedding_names)) or 'none defined'})")
        for i, model in enumerate(self.models):
            outside = [p for p in model.protocols or [] if p not in self.protocols]
            if outside:
                raise ValueError(f"models.{i}.protocols: {outside[0]!r} is not one of the config's protocols ({', '.join(self.protocols)})")
            names = [d.name for d in self.datasets]
            unknown = [d for d in model.datasets or [] if d not in names]
            if unknown:
                raise ValueError(f"models.{i}.datasets: {unknown[0]!r} is not one of the config's datasets ({', '.join(names)})")
        if not self.models and not self.embeddings:
            raise ValueError("models: a benchmark needs models, embeddings, or both")
        if self.composed_retrieval.enabled and not any(d.retrieval_only for d in self.datasets):
            from recsys_cl.data import SOURCES

            retrieval = [name for name, source in SOURCES.builtin_items() if not source.has_interactions]
            raise ValueError(f"composed_retrieval: needs a dataset with source {' or '.join(retrieval)}")
        for kind, names in (("datasets", [d.name for d in self.datasets]), ("embeddings", [e.name for e in self.embeddings])):
            if len(set(names)) != len(names):
                raise ValueError(f"{kind}: names must be unique")
        if self.models and all(d.retrieval_only for d in self.datasets):
            raise ValueError("models: no dataset of the config has users to recommend to (only retrieval sources)")
        return self

    def exclude_seen(self, protocol: str) -> bool:
        """Whether models leave each user's training items out of their lists under ``protocol``."""
        return self.protocol_options.of(protocol).exclude_seen

    @model_validator(mode="after")
    def _check_metrics(self) -> "BenchmarkConfig":
        # Cells would each embed distances in their own embedding (or none): not comparable across cells.
        unavailable = {"embedding_diversity": "not available in benchmark runs (it needs one reference embedding for every cell)"}
        if self.beyond.diversity_attribute is None:
            unavailable["diversity"] = "needs beyond.diversity_attribute (an item-file column, e.g. product_type_name)"
        try:
            reported = parse_metrics(self.metrics, unavailable)
        except InputError as exc:
            raise ValueError(f"metrics: {exc}") from None
        if self.tuning is not None:
            problem = self.unreported(self.tuning.metric, reported)
            if problem:
                raise ValueError(f"tuning.metric: {problem}")
        return self

    def unreported(self, metric: str, reported: list[str] | None = None) -> str | None:
        """Why tuning on ``metric`` (``name@k``) would optimise a score no table shows (None if the report shows
        it: its name among ``metrics``, its cutoff among ``ks``)."""
        reported = parse_metrics(self.metrics) if reported is None else reported
        name, _, k = metric.partition("@")
        if name in reported and int(k) in self.ks:
            return None
        return (f"{metric} is not reported (metrics: {', '.join(self.metrics)}; ks: {', '.join(map(str, self.ks))}); "
                "tuning would optimise a score no table shows")


def load_config(path: str | Path) -> BenchmarkConfig:
    """Read and validate a benchmark YAML; errors name the file and the key path."""
    path = Path(path)
    raw = read_yaml(path, "benchmark config")
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    try:
        config = BenchmarkConfig.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: {validation_message(exc)}") from None
    if config.published is not None:  # relative to the config, so the report finds it from anywhere
        from recsys_cl.reporting import read_published

        config.published = str((path.parent / config.published).resolve())
        try:
            read_published(config.published)
        except InputError as exc:
            raise InputError(f"{path}: published: {exc}") from None
    _check_dataset_options(path, config)
    _check_model_params(path, config)
    _check_embedding_methods(path, config)
    _check_composed_options(path, config)
    _check_search_spaces(path, config)
    _check_distinct_cells(path, config)
    _check_labels(path, config)
    return config


def _check_dataset_options(path: Path, config: BenchmarkConfig) -> None:
    """Each dataset's source options (prepare, synth, the protocol options) validated by its source now."""
    from recsys_cl.data import SOURCES

    for i, spec in enumerate(config.datasets):
        try:
            SOURCES.get(spec.source).options.model_validate(spec.source_options(list(config.protocols), config.protocol_options))
        except ValidationError as exc:
            key, message = validation_location(exc)
            if not key and message.startswith("synth."):  # the generator's own options, checked by its config
                key, _, message = message.partition(": ")
            elif key.split(".")[0] in spec.prepare:
                key = f"prepare.{key}"
            raise InputError(f"{path}: datasets.{i}.{key}: {message}" if key else f"{path}: datasets.{i}: {message}") from None


def _check_model_params(path: Path, config: BenchmarkConfig) -> None:
    """Validate every model's params against its own typed config now, not hours into a run."""
    from recsys_cl.models import MODELS  # importing the package registers every backend

    for i, spec in enumerate(config.models):
        try:
            backend = MODELS.get(spec.model)  # a plugin is imported here, once
        except InputError as exc:
            raise InputError(f"{path}: models.{i}.model: {exc}") from None
        validated(backend.Config, spec.params, str(path), key_prefix=f"models.{i}.params.")
        several = [e for e in spec.embeddings if len(variant_parts(e)) > 1]
        if several and not backend.takes_modalities:
            raise InputError(f"{path}: models.{i}.embeddings: {several[0]!r}: {spec.model} takes one item embedding, not "
                             f"several modalities (those that do: vbpr, freedom, bm3)")  # fmt: skip
        if any(e != NO_EMBEDDING for e in spec.embeddings) and not backend.uses_item_embeddings:
            raise InputError(f"{path}: models.{i}.embeddings: {spec.model} does not take item embeddings (use [{NO_EMBEDDING}])")
        accepted = backend.protocols  # e.g. sequential models: time order only
        if accepted is not None:
            key = f"models.{i}.protocols" if spec.protocols is not None else "protocols"
            for protocol in spec.protocols if spec.protocols is not None else config.protocols:
                if protocol not in accepted:
                    raise InputError(f"{path}: {key}: {spec.model} cannot run on {protocol!r} (it needs a protocol in "
                                     f"time order: {', '.join(accepted)}); give this entry protocols: [...]")  # fmt: skip


def _check_embedding_methods(path: Path, config: BenchmarkConfig) -> None:
    """Each embedding's method, and its options against that learner's own options (unknown keys refused
    with their key path now, not after the data was prepared)."""
    from recsys_cl.embeddings import LEARNERS

    for i, spec in enumerate(config.embeddings):
        try:
            learner = LEARNERS.get(spec.method)  # a plugin is imported here, once
        except InputError as exc:
            raise InputError(f"{path}: embeddings.{i}.method: {exc}") from None
        options = validated(learner.Options, spec.options, str(path), key_prefix=f"embeddings.{i}.options.")
        for file in learner.input_files(options):  # precomputed vectors: there before any work starts
            if not file.is_file():
                raise InputError(f"{path}: embeddings.{i}.options: {file}: file not found")


def _check_search_spaces(path: Path, config: BenchmarkConfig) -> None:
    """Every model's search space against its own config (and the grid sampler's need for discrete values)."""
    check_spaces(config, str(path))


def _check_composed_options(path: Path, config: BenchmarkConfig) -> None:
    from recsys_cl.embeddings import composed_options

    try:
        composed_options(None, config.composed_retrieval.options)
    except InputError as exc:
        raise InputError(f"{path}: composed_retrieval.options: {exc}") from None


def _check_labels(path: Path, config: BenchmarkConfig) -> None:
    """A ``label`` given to two entries (or equal to an automatic one) would merge two variants in tables."""
    from recsys_cl.bench._labels import variant_labels

    variants = [(i, name) for i, spec in enumerate(config.models) for name in spec.embeddings]
    texts = variant_labels([(config.models[i].model, config.models[i].params, config.models[i].label, name) for i, name in variants])
    first: dict[str, int] = {}
    for (i, _), text in zip(variants, texts):
        if text in first and first[text] != i and (config.models[i].label or config.models[first[text]].label):
            raise InputError(f"{path}: models.{i}.label: {text!r} is also the label of models.{first[text]}; labels must be unique")
        first.setdefault(text, i)


def _check_distinct_cells(path: Path, config: BenchmarkConfig) -> None:
    """Two model entries that would run the same cells (same model, parameters and embedding on the same
    dataset and protocol) are refused: they would be one cell twice in the results, whatever their labels.
    Entries that split one model's runs between datasets or protocols (``datasets:`` / ``protocols:``) are fine."""
    import json

    seen: dict[tuple[str, str, str, str, str], int] = {}
    for i, spec in enumerate(config.models):
        params = json.dumps(spec.params, sort_keys=True, default=str)
        runs = [(d.name, p) for d in config.datasets for p in config.protocols if spec.runs_on(d.name, p)]
        for embedding in spec.embeddings:
            for dataset, protocol in runs:
                key = (spec.model, params, embedding, dataset, protocol)
                if key in seen:
                    raise InputError(
                        f"{path}: models.{seen[key]} and models.{i} are the same model ({spec.model} with the same params) "
                        f"with embedding {embedding!r} on {dataset} / {protocol}: remove one"
                    )
                seen[key] = i


# ---------------------------------------------------------------------------------------------- search spaces
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
