"""LightFM (lightfm-next) with WARP or BPR loss, with or without item features.

``item_features`` selects what an item is made of (LightFM sums the learned vectors of an item's features):

* ``auto`` (default): ``embeddings`` when item embeddings are passed to ``fit``, else ``none`` (so a
  benchmark grid can run the same entry with and without embeddings);
* ``none``: one identity feature per item (plain matrix factorisation);
* ``embeddings``: identity + the item's L2-normalised embedding as dense feature columns;
* ``categorical``: identity + one-hot attribute values from the ``.item`` table (``item_table``);
* ``both``: identity + embedding + categorical.

Identity features are given only to items with a training interaction: a cold item's identity
vector would only ever be a (pushed-down) negative sample, so cold items are represented by their
content alone, which is what makes them rankable. Even so, warm items then carry a learned identity
vector and bias that cold items lack, and on the synthetic H&M sample (4,000 customers, 2,000
articles, cold-item protocol) cold items hardly ever reach a top 12 (HR@12 0.000 with TF-IDF
embeddings). ``item_identity=False`` represents every item by its features alone, LightFM's pure
cold-start setting: HR@12 0.089 on those cold items, but 0.063 instead of 0.152 under the temporal
protocol, where identity features pay. Which one to run is the experiment's choice, so both exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field

from recsys_cl.data import EncodedSplit, read_atomic
from recsys_cl.embeddings import ItemEmbeddings, principal_components
from recsys_cl.errors import InputError
from recsys_cl.models._base import FitOptions, RecommendOptions, Recommender, register
from recsys_cl.models._epoch_validation import EpochValidationConfig, due, valid_score_of_factors

# Columns of an .item table that are never categorical attributes.
_NOT_ATTRIBUTES = {"item_id", "image_path"}


class LightFMConfig(EpochValidationConfig):
    loss: Literal["warp", "bpr"] = "warp"
    no_components: int = Field(64, ge=1, description="embedding size")
    epochs: int = Field(30, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    reg: float = Field(0.0, ge=0, description="L2 penalty on user and item features (LightFM's user_alpha/item_alpha)")
    max_sampled: int = Field(10, ge=1, description="WARP: negatives tried per positive")
    item_features: Literal["auto", "none", "embeddings", "categorical", "both"] = "auto"
    item_identity: bool = Field(True, description="give items seen in training an identity feature besides their content")
    # LightFM sums one learned vector per non-zero feature, so a dense 384-d text vector costs 384x
    # an identity feature in every update (ml-100k, 30 epochs: 572 s instead of 2 s). Principal
    # components keep most of the content's variance at a fraction of the width.
    embedding_components: int | None = Field(
        32, ge=1, description="item embeddings enter as their top N principal components; None = every dimension"
    )
    item_table: str | None = Field(None, description="path of the <ds>.item file, for categorical features")
    categorical_fields: tuple[str, ...] | None = Field(
        None,
        description="token fields used as attributes; None = every token field that is neither an id-like "
        "field (more distinct values than half the items) nor constant",
    )
    # LightFM's threads update shared parameters Hogwild-style: results then depend on timing.
    num_threads: int = Field(1, ge=1, description="> 1 is faster but not reproducible")


@register("lightfm")
class LightFMRecommender(Recommender):
    """LightFM hybrid matrix factorisation; content-aware when ``item_features`` is not ``none``."""

    Config = LightFMConfig
    uses_item_embeddings = True

    def _run_name_value(self, key: str, value: object) -> str:
        # the file name, not the machine-dependent directory, identifies the item table in a run name
        return Path(str(value)).name if key == "item_table" else str(value)

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        from lightfm import LightFM

        c = self.config
        self.item_features_used = c.item_features
        if c.item_features == "auto":
            self.item_features_used = "none" if item_embeddings is None else "embeddings"
        wants_embeddings = self.item_features_used in ("embeddings", "both")
        if wants_embeddings and item_embeddings is None:
            raise InputError(f"lightfm: item_features={c.item_features} needs item embeddings")
        if not wants_embeddings and item_embeddings is not None:
            raise InputError(
                f"lightfm: item embeddings given but item_features={c.item_features}; "
                "use item_features=embeddings or both to use them"
            )
        if self.item_features_used == "none" and not c.item_identity:
            raise InputError("lightfm: item_identity=false needs item_features (otherwise items have no features at all)")
        if c.item_features in ("categorical", "both") and c.item_table is None:
            raise InputError(f"lightfm: item_features={c.item_features} needs item_table (the .item file)")

        self.features = self._item_features(split, item_embeddings)
        interactions = split.train.tocoo()
        interactions = sp.coo_matrix(
            (np.ones_like(interactions.data), (interactions.row, interactions.col)), shape=split.train.shape
        )
        model = LightFM(
            no_components=c.no_components,
            loss=c.loss,
            learning_rate=c.learning_rate,
            item_alpha=c.reg,
            user_alpha=c.reg,
            max_sampled=c.max_sampled,
            random_state=np.random.RandomState(c.seed),
        )
        # With item features, LightFM is fitted on the items with a training interaction only: WARP / BPR
        # draw negatives among the rows it is given, and an item without one (a held-out new item) does
        # not exist yet when the model is trained; drawn as a negative it would only ever be pushed down
        # (see NegativeSampler in _torch_epochs). Every item is then represented from its features.
        fit_interactions, fit_features = interactions, self.features
        if self.features is not None:
            warm = np.flatnonzero(np.diff(split.train.tocsc().indptr) > 0)
            fit_interactions, fit_features = interactions.tocsc()[:, warm].tocoo(), self.features[warm]
        for epoch in range(1, c.epochs + 1):
            model.fit_partial(fit_interactions, item_features=fit_features, epochs=1, num_threads=c.num_threads)
            if options.progress is not None:
                options.progress(epoch, c.epochs)
            # may raise (a pruned trial) to stop training
            self.report_epoch(options, epoch, valid_score_of_factors(self, options, *self._vectors(model)) if due(c, epoch) else None)
        self.user_vectors, self.item_vectors, self.item_bias = self._vectors(model)

    def _vectors(self, model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(user vectors, item vectors, item bias) as float32; the user bias does not change a user's ranking."""
        item_bias, item_vectors = model.get_item_representations(self.features)
        _, user_vectors = model.get_user_representations()
        return user_vectors.astype(np.float32), item_vectors.astype(np.float32), item_bias.astype(np.float32)

    def _item_features(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None) -> sp.csr_matrix | None:
        """(n_items, n_features) CSR, or None for LightFM's default identity."""
        mode = self.item_features_used
        if mode == "none":
            return None
        blocks = []
        if self.config.item_identity:
            warm = np.flatnonzero(np.diff(split.train.tocsc().indptr) > 0)
            blocks.append(
                sp.csr_matrix((np.ones(len(warm), np.float32), (warm, np.arange(len(warm)))), shape=(split.n_items, len(warm)))
            )
        if mode in ("embeddings", "both"):
            assert item_embeddings is not None
            vectors, has_vector = item_embeddings.aligned(split.item_ids)
            if not has_vector.any():
                raise InputError(f"lightfm: no item of the split has an embedding in {item_embeddings.method!r}")
            if self.config.embedding_components is not None and self.config.embedding_components < vectors.shape[1]:
                vectors = principal_components(vectors, has_vector, self.config.embedding_components)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            blocks.append(sp.csr_matrix(np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)))
        if mode in ("categorical", "both"):
            blocks.append(self._categorical(split))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _categorical(self, split: EncodedSplit) -> sp.csr_matrix:
        """One-hot (field, value) columns, each item's row scaled to sum to 1 over its fields."""
        path = Path(str(self.config.item_table))
        table = read_atomic(path)
        with open(path, encoding="utf-8") as fh:
            header = [f.partition(":") for f in fh.readline().rstrip("\n").split("\t")]
        tokens = [name for name, _, kind in header if kind == "token" and name not in _NOT_ATTRIBUTES]
        if "item_id" not in table.columns:
            raise InputError(f"{path}: no item_id column")
        if self.config.categorical_fields is not None:
            unknown = [f for f in self.config.categorical_fields if f not in tokens]
            if unknown:
                raise InputError(f"{path}: categorical field {unknown[0]!r} is not a token column (have {', '.join(tokens)})")
            fields = list(self.config.categorical_fields)
        else:
            fields = [f for f in tokens if 1 < table[f].n_unique() <= max(2, table.height // 2)]
        if not fields:
            raise InputError(f"{path}: no categorical token field to use as item features")
        table = table.filter(pl.Series(np.isin(table["item_id"].to_numpy().astype(str), split.item_ids)))
        rows = np.searchsorted(split.item_ids, table["item_id"].to_numpy().astype(str))
        row_parts, col_parts, offset = [], [], 0
        for field in fields:
            values = table[field].to_numpy().astype(str)
            vocab, codes = np.unique(values, return_inverse=True)
            present = values != ""  # an empty token is a missing value, not a category
            row_parts.append(rows[present])
            col_parts.append(codes[present] + offset)
            offset += len(vocab)
        r, cidx = np.concatenate(row_parts), np.concatenate(col_parts)
        onehot = sp.csr_matrix((np.ones(len(r), np.float32), (r, cidx)), shape=(split.n_items, offset))
        per_item = np.asarray(onehot.sum(axis=1)).ravel()
        return sp.csr_matrix(sp.diags(np.divide(1.0, per_item, out=np.zeros_like(per_item), where=per_item > 0)) @ onehot)

    def _recommend(self, user_idx: np.ndarray, k: int, options: RecommendOptions) -> tuple[np.ndarray, np.ndarray]:
        return self._rank_by_factors(user_idx, k, options, self.user_vectors, self.item_vectors, self.item_bias)
