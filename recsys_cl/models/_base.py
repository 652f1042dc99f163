"""One interface for every model backend.

``fit(split, item_embeddings=None) -> self`` then ``recommend(users, k) -> Rankings`` with each user's
training items excluded (``exclude_seen=False``: repurchases allowed). Backends implement ``_fit`` and
either ``_score`` (dense scores for a chunk of users, ranked by the shared top-K helper) or ``_recommend``
(their own top-K, excluding :meth:`Recommender.seen_items`).

What training did is kept in :attr:`Recommender.history` (a :class:`TrainingHistory`): epochs run, the
per-epoch validation score of models that validate while training, the best epoch. Backends report each
validated epoch through :meth:`Recommender.report_epoch`, which also calls the ``on_epoch`` callback given
to ``fit`` (tuning uses it to prune bad trials: the callback may raise to stop training).

A model keeps what it learned, never how it was called: what one call needs (a progress callback, the
``on_epoch`` callback, whether seen items are excluded) travels as that call's :class:`FitOptions` or
:class:`RecommendOptions` argument down to the backend (LensKit's ``train(data, options)`` is the model).
"""

from __future__ import annotations

import abc
import dataclasses
import time
from typing import Any, Callable, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError, validated
from recsys_cl.evaluation import Rankings
from recsys_cl.progress import StepProgress
from recsys_cl.limits import MAX_LIST_LENGTH, Seed
from recsys_cl.registry import Registry, class_registry


class ModelConfig(BaseModel):
    """Base of every model's typed config: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    seed: Seed = Field(0, description="seeds every random step of fit (a benchmark sets it from its seeds)")
    device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")



#: score of items a model cannot know (no training interaction, no usable content): ranked last.
UNKNOWN_SCORE = -1e30



#: ``on_epoch(epoch, valid_score)`` after each validated epoch (1-based); may raise to stop training.
EpochCallback = Callable[[int, float], None]


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """How one ``fit`` call runs (not what the model is: that is its config)."""

    #: called as the backend advances (e.g. per epoch)
    progress: StepProgress | None = None
    #: called after each validated epoch; may raise to stop training (a pruned trial)
    on_epoch: EpochCallback | None = None
    #: whether per-epoch validation leaves each user's training items out (as the final ranking will)
    exclude_seen: bool = True


@dataclasses.dataclass(frozen=True)
class RecommendOptions:
    """How one ``recommend`` call runs."""

    progress: StepProgress | None = None
    #: leave each user's training items out of their list (False: repurchases allowed)
    exclude_seen: bool = True


@dataclasses.dataclass
class TrainingHistory:
    """What one fit did. ``valid_curve[e - 1]`` is the validation score after epoch ``e`` (of the models
    that validate while training, on ``valid_metric``); ``best_epoch`` is the epoch whose weights were kept."""

    epochs_run: int | None = None
    best_epoch: int | None = None
    valid_metric: str | None = None
    valid_curve: list[float] = dataclasses.field(default_factory=list)
    train_loss: list[float] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "TrainingHistory":
        return cls(**values) if values else cls()


def create(name: str, **params: Any) -> "Recommender":
    """The model registered as ``name`` with its typed config built from ``params``."""
    return MODELS.get(name)(**params)


class Recommender(abc.ABC):
    """Base class: typed config, timing, user-id checks, Rankings output."""

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    registry_name: ClassVar[str] = "model"
    #: True for models that can use item content (embeddings) and so can rank cold items.
    uses_item_embeddings: ClassVar[bool] = False
    #: True for models that take several item embeddings at once (a mapping name -> ItemEmbeddings)
    takes_modalities: ClassVar[bool] = False
    #: the protocols a model can run on (None: all); config validation checks entries against it
    protocols: ClassVar[tuple[str, ...] | None] = None
    #: models that stop early on the valid part: the parameter bounding how long training runs, which early
    #: stopping cuts short at ``history.best_epoch``; a fit with no valid part left fixes it at the kept value
    #: (``bench.final_params``, ``recsys-cl recommend``). None: the model does not stop early.
    training_length_param: ClassVar[str | None] = None

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise InputError("pass either a config object or keyword parameters, not both")
        self.config = config if config is not None else validated(self.Config, params, self.registry_name)
        self.encoded: EncodedSplit | None = None
        self.fit_seconds: float | None = None
        self.recommend_seconds: float | None = None
        self.history = TrainingHistory()

    @property
    def run_name(self) -> str:
        """``Name(param=value, ...)`` for the parameters that differ from the defaults (seed excluded)."""
        defaults = self.Config()
        changed = [
            f"{k}={self._run_name_value(k, v)}"
            for k, v in self.config.model_dump().items()
            if k not in ("seed", "device") and getattr(defaults, k) != v
        ]
        return f"{self.registry_name}({', '.join(changed)})" if changed else self.registry_name

    def _run_name_value(self, key: str, value: Any) -> str:
        """How a changed parameter shows in ``run_name`` (backends shorten e.g. file paths): floats with 4
        significant digits (tuned values carry 17; the exact ones are in the cell record's params)."""
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    def fit(
        self,
        split: EncodedSplit,
        item_embeddings: ItemEmbeddings | None = None,
        *,
        progress: StepProgress | None = None,
        on_epoch: EpochCallback | None = None,
        exclude_seen: bool = True,
    ) -> "Recommender":
        """Train on ``split.train``; ``progress`` (if given) is called as backends advance (e.g. per epoch),
        ``on_epoch`` after each validated epoch (see :meth:`report_epoch`); ``exclude_seen``: how per-epoch
        validation ranks (pass what the final ``recommend`` will use)."""
        options = FitOptions(progress=progress, on_epoch=on_epoch, exclude_seen=exclude_seen)
        self.history = TrainingHistory()
        if item_embeddings is not None and not self.uses_item_embeddings:
            raise InputError(f"{self.registry_name} does not take item embeddings")
        if item_embeddings is not None and not isinstance(item_embeddings, ItemEmbeddings) and not self.takes_modalities:
            raise InputError(f"{self.registry_name} takes one item embedding, not several modalities")
        start = time.perf_counter()
        self.encoded = split
        self._fit(split, item_embeddings, options)
        self.fit_seconds = time.perf_counter() - start
        return self

    def recommend(
        self, users: Any = None, k: int = 10, *, progress: StepProgress | None = None, exclude_seen: bool = True
    ) -> Rankings:
        """Top-``k`` items for ``users`` (raw ids; default: every user with a test interaction).

        ``exclude_seen`` (default) leaves out each user's training items; ``False`` lets them be
        recommended again (repurchases, the H&M competition's setting)."""
        options = RecommendOptions(progress=progress, exclude_seen=exclude_seen)
        if self.encoded is None:
            raise InputError(f"{self.registry_name}: call fit() before recommend()")
        if k < 1:
            raise InputError(f"k must be >= 1 (got {k})")
        enc = self.encoded
        if k > max(enc.n_items, MAX_LIST_LENGTH):  # places beyond the catalogue stay empty; K = 10^12 would allocate terabytes
            raise InputError(f"ks: cutoff K={k} is larger than the catalogue ({enc.n_items} items) and than "
                             f"{MAX_LIST_LENGTH:,} places; use K <= {max(enc.n_items, MAX_LIST_LENGTH)}")  # fmt: skip
        user_idx = enc.eval_users("test") if users is None else enc.user_index(users)
        start = time.perf_counter()
        items, scores = self._recommend(user_idx, k, options)
        self.recommend_seconds = time.perf_counter() - start
        return Rankings(enc.user_ids, enc.item_ids, np.asarray(user_idx, dtype=np.int64), items, scores, self.run_name)

    @classmethod
    def validation_params(cls, metric: str) -> dict[str, Any]:
        """The parameters that make this model's validation while training (early stopping: which epoch is
        kept) score ``metric`` (the evaluator's name, ``map@12``): tuning for ``metric`` passes them, so a
        model stops on what the study optimises. {} for a model that does not validate while training, or
        only on demand (the ``validate_every`` models: tuning sets their ``valid_metric`` when it prunes)."""
        return {}

    @classmethod
    def cannot_fit(cls, config: ModelConfig, n_users: int, n_items: int) -> str | None:
        """Why a model with ``config`` cannot be fitted on data of ``n_users`` users and ``n_items`` items on
        this machine (e.g. memory it would need), or None. Benchmarks ask every entry before any tuning study
        or cell starts, so a refusal comes before hours of other work, not at the model's own turn; a model
        (plugins included) that knows its need from these counts and its parameters overrides this."""
        return None

    @property
    def cannot_rank_new_items(self) -> str | None:
        """Why this fitted model has no principled score for an item without training interactions (a new
        item), or None when it has one. Cold-item reports show "cannot rank new items" with this reason
        instead of numbers that would read as a finding about the method. Models without item content
        rank new items by whatever their method gives them (Pop: last; Random: at chance) and say None."""
        return None

    def seen_items(self, exclude_seen: bool) -> Any:
        """The (user x item) CSR of items to leave out of every list: the training matrix, or None when
        ``exclude_seen`` is off. Every ranking path passes this as the shared top-K's ``exclude``."""
        assert self.encoded is not None
        return self.encoded.train if exclude_seen else None

    def report_epoch(self, options: FitOptions, epoch: int, valid_score: float | None = None) -> None:
        """Record that ``epoch`` (1-based) finished, with its validation score if the model validated;
        then call the fit's ``on_epoch`` callback (which may raise to stop training, e.g. a pruned trial)."""
        self.history.epochs_run = epoch
        if valid_score is not None:
            self.history.valid_curve.append(float(valid_score))
            if options.on_epoch is not None:
                options.on_epoch(epoch, float(valid_score))

    # -- what backends implement -------------------------------------------------------------
    @abc.abstractmethod
    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None: ...

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        """Dense scores (len(user_idx), n_items); higher is better."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _score nor _recommend")

    def _recommend(self, user_idx: np.ndarray, k: int, options: RecommendOptions) -> tuple[np.ndarray, np.ndarray]:
        from recsys_cl.evaluation import topk_from_scorer
        assert self.encoded is not None
        return topk_from_scorer(
            self._score, self.encoded.n_items, k, user_idx, exclude=self.seen_items(options.exclude_seen), device="cpu",
            progress=options.progress,
        )

    def _rank_by_factors(
        self,
        user_idx: np.ndarray,
        k: int,
        options: RecommendOptions,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        item_bias: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``_recommend`` for factor models: top-``k`` of ``user_factors[u] @ item_factors.T (+ item_bias)``,
        training items excluded (``user_factors`` has one row per user of the split)."""
        from recsys_cl.evaluation import topk_from_factors
        assert self.encoded is not None
        return topk_from_factors(
            user_factors,
            item_factors,
            k,
            users=user_idx,
            exclude=self.seen_items(options.exclude_seen),
            item_bias=item_bias,
            device=self.config.device,
            progress=options.progress,
        )


#: every model a config can name: the built-in backends and the ``recsys_cl.models`` entry points
MODELS: Registry[type[Recommender]] = class_registry("model", "recsys_cl.models", Recommender, "registry_name")
#: class decorator: ``@register("pop")`` makes a backend creatable by its config name
register = MODELS.register
