"""What an embedding run measured, as typed records with one writer (``write`` / ``to_json``) and
one reader (``read`` / ``from_json``) each: :class:`EmbeddingQuality` (``<out>.quality.json`` of
``embed``) and :class:`ComposedResult` (the JSON of ``composed_retrieval``).

The reader checks every key and type (pydantic over the dataclasses), so a truncated or foreign
file is one :class:`InputError` naming the file and the key, never a ``KeyError`` in a report.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from recsys_cl.errors import InputError, validation_location
from recsys_cl.files import read_json, write_json

#: every record refuses keys it does not know: a file from another writer is an error, not a guess
_STRICT = ConfigDict(extra="forbid")
#: the retrieval tasks a vector space can be scored on (fields of :class:`SpaceQuality`)
RETRIEVAL_TASKS = ("item_to_item", "text_to_item", "image_to_item")
#: composed retrieval methods that see one modality of the query: the raw baselines (text_only: the
#: modification text against item texts; image_only: the reference image against item images), then
#: the learned ablations (text_learner, image_learner)
COMPOSED_SINGLE_MODALITY = ("text_only", "image_only", "text_learner", "image_learner")
#: composed retrieval methods that compose the reference image with the modification text
COMPOSED_FUSED = ("fused_learner", "tirg", "combiner")
#: every composed retrieval method, in the order of tables (fields of :class:`ComposedResult`)
COMPOSED_ALL_METHODS = COMPOSED_SINGLE_MODALITY + COMPOSED_FUSED
#: the methods every :class:`ComposedResult` has, also those of the first layout (d5580f6): the two
#: baselines, then the concatenation-MLP learner (``ComposedResult.methods``: what a result has)
COMPOSED_METHODS = ("text_only", "image_only", "fused_learner")

Record = TypeVar("Record")


@dataclasses.dataclass(frozen=True)
class DistanceGap:
    """Mean cosine distance of positive and of negative pairs; ``gap`` = negative - positive (wider: better separated)."""

    __pydantic_config__ = _STRICT

    positive: float
    negative: float
    gap: float
    n_positive: int
    n_negative: int


@dataclasses.dataclass(frozen=True)
class Collapse:
    """Whether held-out pair distances show a collapsed embedding (``_quality.detect_collapse``)."""

    __pydantic_config__ = _STRICT

    collapsed: bool
    kind: str | None
    min_gap: float
    gap_before: float | None = None
    gap_after: float | None = None
    gap_shrunk: bool | None = None


@dataclasses.dataclass(frozen=True)
class SpaceQuality:
    """Quality of one vector space (the raw base vectors, or the learned ones); None: not measurable here.

    ``triplet_accuracy``: ``all`` and per level (``easy``, ``semi``, ``hard``) with counts ``n``, ``n_<level>``;
    retrieval tasks: ``recall@K``, ``ndcg@K``, ``recall_subset@K`` and ``n_queries``.
    """

    __pydantic_config__ = _STRICT

    triplet_accuracy: dict[str, int | float] | None = None
    copurchase_gap: DistanceGap | None = None
    item_to_item: dict[str, int | float] | None = None
    text_to_item: dict[str, int | float] | None = None
    image_to_item: dict[str, int | float] | None = None

    def retrieval(self, task: str) -> dict[str, int | float]:
        """Metrics of ``task`` (one of RETRIEVAL_TASKS); empty when not scored."""
        if task not in RETRIEVAL_TASKS:
            raise ValueError(f"unknown retrieval task {task!r}")
        return getattr(self, task) or {}

    @property
    def triplet_accuracy_all(self) -> float | None:
        return (self.triplet_accuracy or {}).get("all")


@dataclasses.dataclass(frozen=True)
class VectorFiles:
    """Where precomputed vectors came from: the files, a fingerprint of their contents (as raw data files
    are fingerprinted), their rows, and how they met the catalogue (``n_zero_filled``: items given a zero
    vector by ``missing: zero``; ``n_unused``: rows naming no catalogue item)."""

    __pydantic_config__ = _STRICT

    files: list[str]
    fingerprint: str
    n_rows: int
    n_matched: int
    n_zero_filled: int
    n_unused: int


@dataclasses.dataclass(frozen=True)
class EpochLoss:
    __pydantic_config__ = _STRICT

    epoch: int
    train_loss: float
    valid_loss: float | None  # None: no validation rows held back


@dataclasses.dataclass(frozen=True)
class TrainingSummary:
    """What a contrastive learner trained on and how its own held-out examples moved.

    Pair learners fill ``pairs`` and ``heldout_before`` / ``heldout_after`` (distance gaps); the triplet
    learner ``triplets``, ``level_mix`` and the held-out triplet accuracies; clip also ``output`` and
    ``heldout_text_to_image_exact_item``. ``finetune``: per fine-tuned encoder, what trained in it.
    """

    __pydantic_config__ = _STRICT

    n_train: int
    n_heldout: int
    history: list[EpochLoss]
    pairs: str | None = None
    triplets: str | None = None
    heldout_before: DistanceGap | None = None
    heldout_after: DistanceGap | None = None
    heldout_triplet_accuracy_before: dict[str, int | float] | None = None
    heldout_triplet_accuracy_after: dict[str, int | float] | None = None
    level_mix: dict[str, float] | None = None
    output: str | None = None
    heldout_text_to_image_exact_item: dict[str, float] | None = None
    finetune: dict[str, dict[str, Any]] | None = None


@dataclasses.dataclass(frozen=True)
class HeldoutSets:
    """Sizes of the held-out quality sets (fixed by the seed alone, the same for every method)."""

    __pydantic_config__ = _STRICT

    attributes: dict[str, str] | None
    heldout_triplets: int
    heldout_copurchase_pairs: int
    retrieval_queries: int


class _Record:
    """The one writer and the one reader of a record dataclass."""

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON values; optional fields that are None are left out (so raw methods
        have no ``training``, as the quality JSON always had it), required ones are written as null."""
        return _plain(self)

    def write(self, path: str | Path) -> Path:
        """Write the record to ``path`` atomically."""
        write_json(path, self.to_json())
        return Path(path)

    @classmethod
    def from_json(cls: type[Record], data: Any, where: str = "") -> Record:
        """The record from parsed JSON; InputError ``where: key.path: problem`` when it does not fit."""
        try:
            return _adapter(cls).validate_python(data)
        except ValidationError as exc:
            key, message = validation_location(exc)
            located = f"{key}: {message}" if key else message
            raise InputError(f"{where}: {located}" if where else located) from None

    @classmethod
    def read(cls: type[Record], path: str | Path) -> Record:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        return cls.from_json(read_json(path), str(path))  # type: ignore[attr-defined]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            optional = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
            if item is None and optional:
                continue
            out[field.name] = _plain(item)
        return out
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


@lru_cache(maxsize=None)
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


@dataclasses.dataclass(frozen=True)
class EmbeddingQuality(_Record):
    """Quality of one embedding run: the raw base vectors (``base``, always scored) against the learned
    ones (``trained``; None for raw-* methods), the learner's own ``training`` record, and ``collapse``
    (learners with held-out pairs). ``dataset`` / ``protocol`` are set when read from a prepared folder."""

    __pydantic_config__ = _STRICT

    method: str
    n_items: int
    encoders: dict[str, dict[str, Any]]
    base_modality: str
    base: SpaceQuality
    evaluation: HeldoutSets
    trained: SpaceQuality | None
    n_embedded: int
    n_without_vector: int
    finetune_layers: int
    dim: int
    options: dict[str, Any]
    seconds: float
    dataset: str | None = None
    protocol: str | None = None
    #: the parts of ``protocol``'s split the interactions came from (``["train"]``; a model fitted on more:
    #: ``["train", "valid", "test"]``) and how many there were (None: no interactions read)
    parts: list[str] | None = None
    interactions: int | None = None
    training: TrainingSummary | None = None
    collapse: Collapse | None = None
    #: precomputed vectors: their files and how they met the catalogue (None: learned)
    inputs: VectorFiles | None = None

    @property
    def retrieval_ks(self) -> tuple[int, ...]:
        return tuple(self.options.get("retrieval_ks", ()))


@dataclasses.dataclass(frozen=True)
class Shortfall:
    """A fused composed-retrieval method scoring below a single-modality one on a metric."""

    fused: str
    single: str
    metric: str
    fused_value: float
    single_value: float

    @property
    def gap(self) -> float:
        """How much the fused method loses (positive)."""
        return self.single_value - self.fused_value


@dataclasses.dataclass(frozen=True)
class ComposedResult(_Record):
    """Composed retrieval (paper 003) on held-out references: Recall@K / nDCG@K (and ``n_queries``) per
    method of COMPOSED_ALL_METHODS (``scores(method)``). Files of the first layout have only
    COMPOSED_METHODS and no ``histories``; ``history`` is the fused_learner's (``histories``: every learner's)."""

    __pydantic_config__ = _STRICT

    n_gallery: int
    n_queries: int
    n_heldout_queries: int
    templates: list[str]
    encoders: dict[str, dict[str, Any]]
    text_only: dict[str, int | float]
    image_only: dict[str, int | float]
    fused_learner: dict[str, int | float]
    history: list[EpochLoss]
    options: dict[str, Any]
    seconds: float
    dataset: str | None = None
    text_learner: dict[str, int | float] | None = None
    image_learner: dict[str, int | float] | None = None
    tirg: dict[str, int | float] | None = None
    combiner: dict[str, int | float] | None = None
    histories: dict[str, list[EpochLoss]] | None = None

    def scores(self, method: str) -> dict[str, int | float]:
        """Metrics of ``method``; empty when this result does not have it (a file of the first layout)."""
        if method not in COMPOSED_ALL_METHODS:
            raise ValueError(f"unknown composed retrieval method {method!r}")
        return getattr(self, method) or {}

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods this result has, in the order of COMPOSED_ALL_METHODS."""
        return tuple(m for m in COMPOSED_ALL_METHODS if getattr(self, m) is not None)

    @property
    def retrieval_ks(self) -> tuple[int, ...]:
        return tuple(self.options.get("retrieval_ks", ()))

    def shortfalls(self, metrics: list[str] | None = None) -> list[Shortfall]:
        """Every (fused method, metric) where the fused method scores below the best single-modality method
        of this result, with that method; ``metrics`` default: recall@K and ndcg@K for every K."""
        metrics = metrics or [f"{m}@{k}" for m in ("recall", "ndcg") for k in self.retrieval_ks]
        out = []
        for fused in (m for m in self.methods if m in COMPOSED_FUSED):
            for metric in metrics:
                singles = [(self.scores(m)[metric], m) for m in self.methods
                           if m in COMPOSED_SINGLE_MODALITY and metric in self.scores(m)]  # fmt: skip
                value = self.scores(fused).get(metric)
                if value is None or not singles:
                    continue
                best, single = max(singles)
                if value < best:
                    out.append(Shortfall(fused, single, metric, float(value), float(best)))
        return out
