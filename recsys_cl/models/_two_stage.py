"""``two-stage``: the H&M competition's winning recipe, candidates from several models re-ranked by
LightGBM LambdaRank, on the shared model interface (so it is scored by the same evaluator as every model).

Time windows (``cutoff_days``, ``label_days``)::

    ──── training purchases ──────────────────────────────────┤ valid ├ test ┤
    ───── features (training stage) ─────┤ labels: label_days ├
                                        cut-off = end of training - cutoff_days
    ───── features (scoring stage) ───────────────────────────┤ early stopping on the valid part

1. **Candidates.** Each generator (any registered model: ``repurchase``, ``segment-pop``,
   ``product-variants``, ``bought-together``, ``content-knn`` with the item embeddings, ...) lists its
   top-N per user with ``exclude_seen=False``; the candidates are the union.
2. **Features** (``_two_stage_features``): each generator's rank and score, item popularity and recency,
   price, the user's history with the item and its product, the user's age bucket, and the cosine
   between the candidate's embedding and the user's recent items; polars joins, chunk by chunk of users.
3. **Ranker.** The generators are fitted on the purchases up to the cut-off; the candidates of the users
   who bought in the label window after it, labelled 1 where bought there, train LightGBM LambdaRank,
   early-stopped on the valid part (candidates and features of the generators refitted on all training,
   labelled by the valid purchases).
4. **Ranking.** A user's candidates ordered by the ranker come first, then every other item by fill
   popularity (so users with few or no candidates still get full lists). The scores do not depend on the
   evaluation mode: ``exclude_seen=True`` drops the user's training items from the same order (the shared
   contract), which under ``loo`` also drops the repurchase candidates: raise ``candidates_per_generator``.

``embedding_features: false`` leaves out every feature computed from the item embeddings (the similarity
and the rank/score of generators that read them) while keeping the same candidates: the ablation that
tests the winners' claim that content features add little.

``diagnostics`` (a JSON-ready dict, None where undefined) holds what the report needs:
``generators`` (label -> top-N), ``features`` (the ranker's, in order), ``embedding_features`` (used or
not), ``training`` (cut-off, label window, its buyers, the users/rows/positives trained on, the candidates'
recall of the label window, boosting rounds run and kept), ``feature_importance_gain`` (name -> total
gain), and per part, ``valid`` (at fit) and ``test`` (when ``recommend`` ranks the test users of a split
that has a test part; measured after the lists are made, never used to make them): ``users`` (with a
purchase in the part), ``candidate_recall`` (share of the part's (user, item) pairs among each generator's
top-N and among the union, ``combined``: the ceiling), ``map@12`` of ``ranker`` and of each generator's own
top-12 (its top-N order; under ``exclude_seen`` the user's training items are dropped from both first),
``best_generator`` and ``gain_over_best_generator``. ``history`` has one epoch per boosting round (its
``valid_curve`` is LightGBM's ``valid_metric``, MAP@12 by default, over the valid users with a bought
candidate; tuning sets it to its own metric when that is a map@k or ndcg@k) and the round kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recsys_cl.data import EncodedSplit
from recsys_cl.data import DAY
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError, validation_location
from recsys_cl.models._base import MODELS, FitOptions, ModelConfig, RecommendOptions, Recommender, create, register
from recsys_cl.models._fashion import AGE_BINS, aligned_column, fill_popularity, side_table, train_end
from recsys_cl.models._two_stage_features import (
    FAMILIES,
    Generator,
    SideColumns,
    Stage,
    feature_matrix,
    group_sizes,
    pair_flag,
    window_split,
)

#: candidate rows built, scored and ranked at once (about 40 float32 columns each: ~300 MB a chunk)
_ROWS_PER_CHUNK = 2_000_000
#: LightGBM's largest query group
_MAX_GROUP = 10_000
#: the competition's cut-off, for the diagnostics' MAP
MAP_K = 12
#: the evaluator's metrics LightGBM's lambdarank can early-stop on (its names are the same)
LIGHTGBM_METRICS = ("map", "ndcg")


def lightgbm_metric(value: str) -> str:
    """``value`` (``map@12``, ``NDCG@10``) as ``map@12`` / ``ndcg@10``; ValueError for any other metric."""
    name, _, k = value.partition("@")
    if name.strip().lower() not in LIGHTGBM_METRICS or not k.isdigit() or int(k) < 1:
        raise ValueError(f"must be map@k or ndcg@k with k >= 1 (LightGBM's ranking metrics); got {value!r}")
    return f"{name.strip().lower()}@{int(k)}"


class GeneratorSpec(BaseModel):
    """One candidate generator: a registered model, its parameters, and how many of its list to take."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    candidates: int | None = Field(None, ge=1, description="this generator's top-N; default: candidates_per_generator")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$", description="feature-name prefix; default: the model name")

    @field_validator("model")
    @classmethod
    def _registered(cls, model: str) -> str:
        if model == "two-stage":
            raise ValueError("two-stage cannot be its own candidate generator")
        try:
            MODELS.get(model)
        except InputError as exc:  # re-raised as pydantic's, so the error carries its key path
            raise ValueError(str(exc)) from None
        return model


DEFAULT_GENERATORS = (
    GeneratorSpec(model="repurchase"),
    GeneratorSpec(model="segment-pop"),
    GeneratorSpec(model="product-variants"),
    GeneratorSpec(model="bought-together"),
)


class TwoStageConfig(ModelConfig):
    generators: tuple[GeneratorSpec, ...] = Field(DEFAULT_GENERATORS, min_length=1)
    candidates_per_generator: int = Field(20, ge=1, description="top-N taken from each generator (unless it sets candidates)")
    features: tuple[Literal[FAMILIES], ...] = Field(FAMILIES, min_length=1, description="feature families (see _two_stage_features)")  # type: ignore[valid-type]
    embedding_features: bool = Field(True, description="features from the item embeddings, when they are given")
    recent_items: int = Field(5, ge=1, description="a user's embedding profile: the mean of their N latest items' unit vectors")
    cutoff_days: float = Field(7.0, gt=0, description="ranker's training window: features up to N days before the end of training")
    label_days: float | None = Field(None, gt=0, description="labels: purchases in the N days after the cut-off; None = cutoff_days")
    unseen_only: bool = Field(
        False, description="train and early-stop on candidates the user never bought before, as lists are made under "
        "exclude_seen=true (loo, cold-item); false: every candidate, as under the competition's rule"
    )
    train_users: int | None = Field(None, ge=1, description="at most this many label-window buyers train the ranker (seeded sample); None = all")
    fill_days: float | None = Field(7.0, gt=0, description="after the candidates: popularity over the last N days of training; None = all time")
    user_table: str | None = Field(None, description="path of the <ds>.user file (age); default: the one beside the split files")
    item_table: str | None = Field(None, description="path of the <ds>.item file (product); default: the one beside the split files")
    product_column: str = Field("product_code", min_length=1)
    age_column: str = Field("age", min_length=1)
    age_bins: tuple[float, ...] = Field(AGE_BINS, min_length=1, description="age bucket edges")
    # LightGBM LambdaRank
    num_trees: int = Field(300, ge=1, description="most boosting rounds (early stopping on the valid part picks fewer)")
    early_stopping_rounds: int = Field(20, ge=1)
    valid_metric: str = Field(
        f"map@{MAP_K}", description="what early stopping watches on the valid part: map@k or ndcg@k (LightGBM's ranking "
        "metrics, over the valid users with a bought candidate); tuning sets it to its metric when it is one of these",
    )
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2, le=4096)
    min_data_in_leaf: int = Field(20, ge=1)
    @field_validator("valid_metric")
    @classmethod
    def _lightgbm_metric(cls, value: str) -> str:
        return lightgbm_metric(value)

    # One thread by default: on 2 cores shared with other work, 2 OpenMP threads waiting for each other made
    # training 7x slower (bench_two_stage.py at 5%: 218 s vs 29 s, the same model); big machines set more.
    num_threads: int = Field(1, ge=0, description="LightGBM threads (0 = its default, all cores)")

    @model_validator(mode="after")
    def _check(self) -> "TwoStageConfig":
        for i, spec in enumerate(self.generators):
            try:
                MODELS.get(spec.model).Config.model_validate(spec.params)
            except ValidationError as exc:  # re-raised with its full key path
                key, message = validation_location(exc)
                raise ValueError(f"generators.{i}.params.{key}: {message}") from None
        labels = self.generator_labels
        if len(set(labels)) != len(labels):
            twice = next(x for x in labels if labels.count(x) > 1)
            raise ValueError(f"generators: two generators are named {twice!r}; give one a name")
        if sum(self.top_n) > _MAX_GROUP:
            raise ValueError(f"candidates_per_generator: at most {_MAX_GROUP} candidates per user in all (got {sum(self.top_n)})")
        if self.label_days is not None and self.label_days > self.cutoff_days:
            raise ValueError(f"label_days: the label window ({self.label_days:g} days) must end by the end of training "
                             f"(cutoff_days {self.cutoff_days:g})")  # fmt: skip
        if any(b <= a for a, b in zip(self.age_bins, self.age_bins[1:])):
            raise ValueError("age_bins: must be strictly increasing")
        if len(set(self.features)) != len(self.features):
            raise ValueError("features: a family is listed twice")
        return self

    @property
    def generator_labels(self) -> list[str]:
        return [s.name or s.model for s in self.generators]

    @property
    def top_n(self) -> list[int]:
        return [s.candidates or self.candidates_per_generator for s in self.generators]


@register("two-stage")
class TwoStage(Recommender):
    """Candidates from several generators, re-ranked by LightGBM LambdaRank (see the module docstring)."""

    Config = TwoStageConfig
    uses_item_embeddings = True
    training_length_param = "num_trees"  # early stopping keeps a boosting round (history.best_epoch)

    @property
    def run_name(self) -> str:
        """As every model's, comparing config values rather than their dumps (a dumped generator list is
        dicts, never equal to the default's specs): ``two-stage(generators=repurchase+pop, ...)``."""
        defaults, c = self.Config(), self.config
        changed = [f"{k}={self._run_name_value(k, getattr(c, k))}" for k in type(c).model_fields
                   if k not in ("seed", "device") and getattr(defaults, k) != getattr(c, k)]  # fmt: skip
        return f"{self.registry_name}({', '.join(changed)})" if changed else self.registry_name

    @classmethod
    def validation_params(cls, metric: str) -> dict[str, Any]:
        # LightGBM's lambdarank computes map@k and ndcg@k only: early stopping stays on valid_metric for the others
        return {"valid_metric": metric} if metric.partition("@")[0] in LIGHTGBM_METRICS else {}

    def _run_name_value(self, key: str, value: Any) -> str:
        if key == "generators":
            return "+".join(self.config.generator_labels)
        if key in ("user_table", "item_table"):
            return Path(str(value)).name
        return str(value)

    # -- fit ------------------------------------------------------------------------------------
    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        c = self.config
        end = train_end(split, self.registry_name)
        cutoff = end - c.cutoff_days * DAY
        label_end = cutoff + (c.label_days or c.cutoff_days) * DAY
        side = self._side_columns(split, item_embeddings)
        self.fill = fill_popularity(split, c.fill_days)

        window = window_split(split, cutoff, label_end)
        if window.split.train.height == 0:
            raise InputError(f"two-stage: cutoff_days: no training interactions at or before the cut-off "
                             f"({c.cutoff_days:g} days before the end of training); lower cutoff_days")  # fmt: skip
        label_users = window.eval_users("valid")
        if not len(label_users):
            raise InputError(f"two-stage: label_days: no purchases in the label window after the cut-off "
                             f"({c.cutoff_days:g} days before the end of training); widen it")  # fmt: skip
        if c.train_users is not None and len(label_users) > c.train_users:
            rng = np.random.default_rng(c.seed)
            label_users = np.sort(rng.choice(label_users, size=c.train_users, replace=False))
        training_stage = Stage(window, cutoff, self._fit_generators(window, item_embeddings), c.features, side, c.recent_items)
        self.feature_names = self._ranker_features(training_stage.feature_names, item_embeddings is not None)
        train_x, train_y, train_groups, train_recall = self._labelled_rows(training_stage, label_users, window.valid)
        del training_stage
        if not len(train_groups):
            raise InputError("two-stage: label_days: none of the label window's purchases is among its buyers' candidates; "
                             "widen the window or add generators")  # fmt: skip

        self.stage = Stage(split, end, self._fit_generators(split, item_embeddings), c.features, side, c.recent_items)
        valid_users = split.eval_users("valid")
        valid_frames = [self.stage.frame(chunk, split.valid) for chunk in self._chunks(valid_users)]
        self.booster = self._train_ranker(train_x, train_y, train_groups, valid_frames, options)
        del train_x
        gain = self.booster.feature_importance("gain", iteration=self.best_iteration)
        self.diagnostics: dict[str, Any] = {
            "generators": {label: n for label, n in zip(c.generator_labels, c.top_n)},
            "features": list(self.feature_names),
            "embedding_features": any(name == "embedding_similarity" for name in self.feature_names),
            "training": {
                "cutoff_days": c.cutoff_days, "label_days": c.label_days or c.cutoff_days,
                "label_window_buyers": int(len(window.eval_users("valid"))), "users": int(len(train_groups)),
                "rows": int(len(train_y)), "positives": int(train_y.sum()), "candidate_recall": train_recall,
                "rounds": int(self.history.epochs_run or 0), "best_round": self.best_iteration,
            },  # fmt: skip
            "feature_importance_gain": {n: float(g) for n, g in zip(self.feature_names, gain)},
        }
        if valid_frames:
            seen = split.train if c.unseen_only else None
            self.diagnostics["valid"] = self._part_diagnostics(valid_frames, split.valid, exclude=seen)

    def _train_ranker(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, valid_frames: list[pl.DataFrame], options: FitOptions) -> Any:
        """LightGBM LambdaRank on the labelled window's rows, early-stopped on the valid part's ``valid_metric`` (over
        the valid users with a bought candidate) when there is one; sets ``best_iteration`` and the history."""
        import lightgbm as lgb

        c = self.config
        metric, _, k = c.valid_metric.partition("@")
        params = {
            "objective": "lambdarank", "metric": metric, "eval_at": [k], "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves, "min_data_in_leaf": c.min_data_in_leaf, "seed": c.seed, "deterministic": True,
            "force_row_wise": True, "num_threads": c.num_threads, "verbose": -1,
        }  # fmt: skip
        train_set = lgb.Dataset(x, label=y, group=groups, feature_name=self.feature_names, free_raw_data=True)
        callbacks: list[Any] = [lambda env: self._record_round(env, options)]
        valid_sets = []
        valid_rows = self._with_positives(
            pl.concat([self._unseen(f, self.stage, np.unique(f["u"].to_numpy())) for f in valid_frames]) if valid_frames else None
        )
        if valid_rows is not None:
            valid_sets = [
                lgb.Dataset(feature_matrix(valid_rows, self.feature_names), label=valid_rows["label"].to_numpy(),
                            group=group_sizes(valid_rows["u"].to_numpy()), reference=train_set)
            ]  # fmt: skip
            callbacks.append(lgb.early_stopping(c.early_stopping_rounds, first_metric_only=True, verbose=False))
        del valid_rows
        booster = lgb.train(params, train_set, num_boost_round=c.num_trees, valid_sets=valid_sets,
                            valid_names=["valid"][: len(valid_sets)], callbacks=callbacks)  # fmt: skip
        self.best_iteration = int(booster.best_iteration) or booster.current_iteration()
        self.history.best_epoch = self.best_iteration
        over = "(lightgbm, over valid users with a bought candidate)"
        self.history.valid_metric = f"{c.valid_metric} {over}" if valid_sets else None
        return booster

    def _side_columns(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None) -> SideColumns:
        """The columns the chosen features need from outside the interactions; a missing one is an error
        naming the ``features`` entry that needs it."""
        c = self.config
        key = {family: f"features.{i}" for i, family in enumerate(c.features)}
        values: dict[str, Any] = {}
        if "price" in c.features:
            train = split.split.train
            if "price" not in train.columns or not train.schema["price"].is_numeric():
                have = ", ".join(train.columns)
                raise InputError(f"two-stage: {key['price']}: 'price' needs a numeric price column in the interactions (have {have})")
        if "product" in c.features:
            table, path = side_table(split, "item", c.item_table, self.registry_name, "item_table")
            if c.product_column not in table.columns:
                raise InputError(f"two-stage: {key['product']}: 'product' needs the {c.product_column!r} column of {path} "
                                 f"(have {', '.join(table.columns)}; set product_column)")  # fmt: skip
            product = aligned_column(table, split.item_ids, "item_id", c.product_column).cast(pl.Utf8).fill_null("")
            codes, code = np.unique(product.to_numpy().astype(str), return_inverse=True)
            code = code.astype(np.int32) - (1 if len(codes) and codes[0] == "" else 0)  # "" (no product) -> -1
            values["item_product"] = code
        if "age" in c.features:
            table, path = side_table(split, "user", c.user_table, self.registry_name, "user_table")
            if c.age_column not in table.columns:
                raise InputError(f"two-stage: {key['age']}: 'age' needs the {c.age_column!r} column of {path} "
                                 f"(have {', '.join(table.columns)}; set age_column)")  # fmt: skip
            # a token column of numbers (MovieLens' .user) is read as numbers; anything else is an error
            text = table[c.age_column].cast(pl.Utf8).str.strip_chars()
            bad = text.cast(pl.Float64, strict=False).is_null() & text.is_not_null() & (text != "")
            if bad.any():
                row = int(bad.arg_max())
                raise InputError(f"two-stage: {key['age']}: {path}: {c.age_column} of user {table['user_id'][row]!r} "
                                 f"is not a number ({text[row]!r})")  # fmt: skip
            ages = table.select("user_id", text.cast(pl.Float64, strict=False).alias(c.age_column))
            age = aligned_column(ages, split.user_ids, "user_id", c.age_column).fill_nan(None).to_numpy()
            bucket = np.digitize(np.nan_to_num(age, nan=0.0), np.asarray(c.age_bins)).astype(np.float32)
            values["user_age_bucket"] = np.where(np.isnan(age), np.float32(np.nan), bucket)
        if item_embeddings is not None and c.embedding_features:
            vectors, has_vector = item_embeddings.aligned(split.item_ids)
            norms = np.linalg.norm(vectors, axis=1)
            has_vector &= norms > 0
            unit = np.zeros_like(vectors)
            unit[has_vector] = vectors[has_vector] / norms[has_vector, None]
            values.update(unit_vectors=unit, has_vector=has_vector)
        return SideColumns(**values)

    def _fit_generators(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None) -> list[Generator]:
        c = self.config
        fitted = []
        for i, (spec, label, top_n) in enumerate(zip(c.generators, c.generator_labels, c.top_n)):
            # the two-stage's own side tables serve the generators that read one and were not given theirs
            shared = {key: getattr(c, key) for key in ("user_table", "item_table")
                      if getattr(c, key) is not None and key in MODELS.get(spec.model).Config.model_fields}  # fmt: skip
            model = create(spec.model, **{"seed": c.seed, "device": c.device, **shared, **spec.params})
            try:
                model.fit(split, item_embeddings if model.uses_item_embeddings else None)
            except InputError as exc:
                raise InputError(f"two-stage: generators.{i} ({spec.model}): {exc}") from None
            fitted.append(Generator(label, model, top_n))
        return fitted

    def _ranker_features(self, names: list[str], has_embeddings: bool) -> list[str]:
        """The stage's features less those read from the item embeddings when ``embedding_features`` is off."""
        if self.config.embedding_features or not has_embeddings:
            return names
        content = {label for spec, label in zip(self.config.generators, self.config.generator_labels) if MODELS.get(spec.model).uses_item_embeddings}
        return [n for n in names if n.rsplit("_", 1)[0] not in content]

    def _chunks(self, users: np.ndarray) -> list[np.ndarray]:
        per_chunk = max(1, _ROWS_PER_CHUNK // sum(self.config.top_n))
        return [users[s : s + per_chunk] for s in range(0, len(users), per_chunk)]

    def _unseen(self, frame: pl.DataFrame, stage: Stage, users: np.ndarray) -> pl.DataFrame:
        """``frame`` less the candidates its users bought before the stage's cut-off, with ``unseen_only``."""
        return frame.filter(pair_flag(stage.encoded.train, users) == 0) if self.config.unseen_only else frame

    @staticmethod
    def _with_positives(frame: pl.DataFrame | None) -> pl.DataFrame | None:
        """Rows of the users with at least one bought candidate (the others give LambdaRank no gradient)."""
        if frame is None:
            return None
        kept = frame.filter(pl.col("label").max().over("u") > 0)
        return kept if kept.height else None

    def _labelled_rows(
        self, stage: Stage, users: np.ndarray, labels: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
        """Training matrix, labels and query groups of ``users``' candidates, and the candidates' recall."""
        xs, ys, groups, recall = [], [], [], _Recall(self.config.generator_labels)
        for chunk in self._chunks(users):
            frame = stage.frame(chunk, labels)
            recall.observe(frame, chunk, labels)
            kept = self._with_positives(self._unseen(frame, stage, chunk))
            if kept is not None:
                xs.append(feature_matrix(kept, self.feature_names))
                ys.append(kept["label"].to_numpy())
                groups.append(group_sizes(kept["u"].to_numpy()))
        if not xs:
            return np.zeros((0, len(self.feature_names)), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), recall.result()
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(groups), recall.result()

    def _record_round(self, env: Any, options: FitOptions) -> None:
        """LightGBM callback: each boosting round is an epoch of the shared history (tuning may prune)."""
        results = env.evaluation_result_list or []
        self.report_epoch(options, env.iteration + 1, results[0][2] if results else None)

    # -- ranking --------------------------------------------------------------------------------
    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        if frame.height == 0:
            return np.zeros(0)
        x = feature_matrix(frame, self.feature_names)
        return self.booster.predict(x, num_iteration=self.best_iteration, num_threads=self.config.num_threads)

    def _rank(self, frame: pl.DataFrame, scores: np.ndarray, users: np.ndarray, k: int, exclude: sp.csr_matrix | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of ``users`` (sorted, distinct): their candidates by ranker score, then the fill list."""
        from recsys_cl.evaluation import topk_sparse_over_base
        assert self.encoded is not None
        local = np.searchsorted(users, frame["u"].to_numpy())
        # Every candidate scores >= 1 > any fill score (fill popularity is in [0, 1)): shift each user's
        # ranker scores so that their lowest is 1 (a per-user shift keeps the user's order). The shared
        # top-K ranks fill + personal, so the personal entry is the shifted score less the item's fill.
        lowest = np.zeros(len(users))
        if len(local):
            starts = np.flatnonzero(np.r_[True, local[1:] != local[:-1]])
            lowest[local[starts]] = np.minimum.reduceat(scores, starts)
        items = frame["i"].to_numpy()
        personal = sp.csr_matrix(
            (scores - lowest[local] + 1.0 - self.fill[items], (local, items)), shape=(len(users), self.encoded.n_items)
        )
        return topk_sparse_over_base(
            lambda chunk: personal[np.searchsorted(users, chunk)], self.fill, k, users, exclude=exclude
        )

    def _recommend(self, user_idx: np.ndarray, k: int, options: RecommendOptions) -> tuple[np.ndarray, np.ndarray]:
        assert self.encoded is not None
        users, back = np.unique(np.asarray(user_idx, dtype=np.int64), return_inverse=True)
        test = self.encoded.test
        # test diagnostics only when ranking the test users of a split that has them (never used to rank)
        measure = test.nnz > 0 and np.array_equal(users, self.encoded.eval_users("test"))
        width = max(k, MAP_K) if measure else k
        items = np.full((len(users), width), -1, dtype=np.int64)
        scores = np.full((len(users), width), np.nan, dtype=np.float32)
        exclude = self.seen_items(options.exclude_seen)
        frames, done = [], 0
        for chunk in self._chunks(users):
            frame = self.stage.frame(chunk)
            rows = slice(done, done + len(chunk))
            items[rows], scores[rows] = self._rank(frame, self._predict(frame), chunk, width, exclude)
            if measure:
                frames.append(frame.select("u", "i", *(f"{g}_rank" for g in self.config.generator_labels)))
            done += len(chunk)
            if options.progress is not None:
                options.progress(done, len(users))
        if measure:
            self.diagnostics["test"] = self._part_diagnostics(frames, test, exclude, ranked=(users, items))
            self.diagnostics["test"]["exclude_seen"] = options.exclude_seen
        return items[back, :k], scores[back, :k]

    # -- diagnostics ----------------------------------------------------------------------------
    def _part_diagnostics(
        self,
        frames: list[pl.DataFrame],
        part: sp.csr_matrix,
        exclude: sp.csr_matrix | None,
        ranked: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """Candidate recall and MAP@12 of the ranker and of each generator's own top-12 on ``part``.

        ``frames``: candidate rows per chunk of users (sorted); ``ranked``: the ranker's lists of those users
        when already made, else they are made here from ``frames``; ``exclude``: training items to drop from
        every list (the call's evaluation mode)."""
        from recsys_cl.evaluation import compute_metrics, hit_matrix
        labels = self.config.generator_labels
        recall = _Recall(labels)
        maps: dict[str, list[np.ndarray]] = {name: [] for name in ["ranker", *labels]}
        for frame in frames:
            chunk = np.unique(frame["u"].to_numpy())
            if exclude is not None:
                frame = frame.filter(pair_flag(exclude, chunk) == 0)
            recall.observe(frame, chunk, part)
            relevant = part[chunk]
            has = np.diff(relevant.indptr) > 0
            if not has.any():
                continue
            if ranked is None:
                ranker_items, _ = self._rank(frame, self._predict(frame), chunk, MAP_K, exclude)
            else:
                ranker_items = ranked[1][np.searchsorted(ranked[0], chunk), :MAP_K]
            lists = {"ranker": ranker_items}
            local = np.searchsorted(chunk, frame["u"].to_numpy())
            for g in labels:
                listed = frame[f"{g}_rank"].is_not_null().to_numpy()
                lists[g] = _top_lists(local[listed], frame["i"].to_numpy()[listed], frame[f"{g}_rank"].to_numpy()[listed], len(chunk), MAP_K)
            n_relevant = np.diff(relevant.indptr)[has]
            for name, items in lists.items():
                hits = hit_matrix(items[has], relevant[has])
                maps[name].append(compute_metrics(hits, n_relevant, ["map"], [MAP_K])[f"map@{MAP_K}"])
        if not maps["ranker"]:  # nobody of these users bought anything in the part: nothing to measure (None, not NaN: JSON)
            return {"users": 0, "candidate_recall": recall.result(), f"map@{MAP_K}": None, "best_generator": None,
                    "gain_over_best_generator": None}  # fmt: skip
        means = {name: float(np.concatenate(v).mean()) for name, v in maps.items()}
        best = max(labels, key=lambda g: (means[g], -labels.index(g)))
        return {
            "users": int(sum(len(v) for v in maps["ranker"])),
            "candidate_recall": recall.result(),
            f"map@{MAP_K}": means,
            "best_generator": best,
            "gain_over_best_generator": means["ranker"] - means[best],
        }


class _Recall:
    """Share of a part's (user, item) pairs among the users' candidates: per generator and combined."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.found = {g: 0 for g in [*labels, "combined"]}
        self.pairs = 0

    def observe(self, frame: pl.DataFrame, users: np.ndarray, part: sp.csr_matrix) -> None:
        relevant = sp.csr_matrix(part[users])
        relevant.sum_duplicates()
        rows = np.repeat(users.astype(np.int32), np.diff(relevant.indptr))
        bought = pl.DataFrame({"u": rows, "i": relevant.indices.astype(np.int32)})
        ranks = [f"{g}_rank" for g in self.labels]
        hit = bought.join(frame.select("u", "i", *ranks).with_columns(pl.lit(True).alias("_any")), on=["u", "i"], how="left")
        self.pairs += hit.height
        counted = hit.select(*(pl.col(r).is_not_null().sum().alias(g) for r, g in zip(ranks, self.labels)), pl.col("_any").is_not_null().sum().alias("combined"))
        for g, value in counted.row(0, named=True).items():
            self.found[g] += int(value)

    def result(self) -> dict[str, float | None]:
        return {g: (n / self.pairs if self.pairs else None) for g, n in self.found.items()}


def _top_lists(rows: np.ndarray, items: np.ndarray, rank: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """(n_rows, k) item lists: each row's items by ascending ``rank``, ``-1`` padding."""
    order = np.lexsort((rank, rows))
    rows, items = rows[order], items[order]
    place = np.arange(len(rows)) - np.searchsorted(rows, rows)
    out = np.full((n_rows, k), -1, dtype=np.int64)
    keep = place < k
    out[rows[keep], place[keep]] = items[keep]
    return out
