"""Fashion baselines: the candidate sources of the strongest public H&M solutions, each a model.

Registry names ``repurchase``, ``decayed-pop``, ``segment-pop``, ``product-variants``,
``bought-together``. All rank through the shared :func:`~recsys_cl.evaluation._topk.topk_sparse_over_base`.
repurchase, product-variants and bought-together give a user a few items of their own kind (candidates):

    score(u, i) = key(u, i) + fill(i),   key an integer >= 1 for candidates (else 0),   fill in [0, 1)

so a user's candidates come first, ordered by key with ties by fill popularity, then every other item
by fill popularity; decayed-pop is one list for everybody and segment-pop one list per segment. ``fill`` is popularity over the last ``fill_days`` days of training (ties by all-time
popularity, as ``recent-pop``), scaled into [0, 1). Fit is polars and sparse algebra and ranking never
builds a dense (users x items) score row, so they run at full H&M size (1.37M customers, 105k articles).

Side tables. ``segment-pop`` needs the ``.user`` table and ``product-variants`` the ``.item`` table:
``user_table`` / ``item_table`` name the file, or by default the ``<dir>/<dir name>.user`` (``.item``)
beside the split files the split was read from, i.e. the prepared dataset folder that ``load_dataset``
and the benchmark runner open. A config path keeps hand-made splits and other layouts usable.

Evaluation modes. Under ``exclude_seen=True`` (the default of ``loo`` and ``cold-item``) a user's
training items are never listed: ``repurchase`` then degenerates to its fill popularity, and the other
models lose those of their candidates the user bought. ``exclude_seen=False`` (``temporal``, the
competition's setting) lets repurchases count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field, field_validator

from recsys_cl.data import EncodedSplit, read_atomic
from recsys_cl.data import DAY
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models._base import FitOptions, ModelConfig, RecommendOptions, Recommender, register
from recsys_cl.models._baselines import RecentPop, item_popularity

#: age bucket edges of ``segment-pop``'s default segments: <20, 20-24, 25-29, 30-39, 40-49, 50-59, 60+
AGE_BINS = (20.0, 25.0, 30.0, 40.0, 50.0, 60.0)
#: most segments ``segment-pop`` builds (one popularity row of the whole catalogue each)
MAX_SEGMENTS = 1000


class FillConfig(ModelConfig):
    fill_days: float | None = Field(
        7.0, gt=0, description="fill list: purchases in the last N days of training (ties by all time); None = all time"
    )


def fill_popularity(split: EncodedSplit, days: float | None) -> np.ndarray:
    """(n_items,) float64 in [0, 1): popularity over the last ``days`` days of training (ties broken by
    all-time popularity, as ``recent-pop``), or all-time (``days=None``), divided by its maximum + 1."""
    if days is None:
        scores = item_popularity(split.train).astype(np.float64)
    else:
        scores = RecentPop(days=days).fit(split).item_scores.astype(np.float64)
    return scores / (scores.max(initial=0.0) + 1.0)


def train_end(split: EncodedSplit, model: str) -> float:
    """Latest training timestamp (Unix s): the "now" of every time window."""
    train = split.split.train
    if train.height == 0:
        raise InputError(f"{model}: the training part is empty")
    return float(train["timestamp"].max())


def side_table(split: EncodedSplit, suffix: str, path: str | None, model: str, key: str) -> tuple[pl.DataFrame, Path]:
    """The dataset's ``.user`` or ``.item`` table (``suffix``): the file at ``path``, or by default the one
    beside the split files the split was read from. Errors name the config ``key``."""
    if path is None:
        read_from = split.split.info.get("read_from")
        if read_from is None:
            raise InputError(f"{model}: {key}: no .{suffix} table: name the file (the split was not read from a dataset folder)")
        folder = Path(read_from)
        file = folder / f"{folder.name}.{suffix}"
    else:
        file = Path(path)
    if not file.is_file():
        raise InputError(f"{model}: {key}: {file}: file not found")
    table = read_atomic(file)
    id_column = f"{suffix}_id"
    if id_column not in table.columns:
        raise InputError(f"{model}: {key}: {file} has no {id_column} column")
    if table[id_column].is_duplicated().any():
        duplicate = table.filter(pl.col(id_column).is_duplicated())[id_column][0]
        raise InputError(f"{model}: {key}: {file}: {id_column} {duplicate!r} occurs twice")
    return table, file


def aligned_column(table: pl.DataFrame, ids: np.ndarray, id_column: str, column: str) -> pl.Series:
    """``table[column]`` in the order of the split vocabulary ``ids`` (null where an id is not in the table)."""
    frame = pl.DataFrame({id_column: pl.Series(ids, dtype=pl.Utf8)})
    joined = frame.join(table.select(pl.col(id_column).cast(pl.Utf8), column), on=id_column, how="left", maintain_order="left")
    return joined[column]


class _CandidatesOverFill(Recommender):
    """Ranks ``personal(u, i) + base[user_base[u], i]`` with the sparse shared top-K.

    Subclasses set in ``_fit``: ``base`` (n_bases, n_items) float64, ``user_base`` (n_users,) or None
    (row 0 for everybody), and either ``personal`` (a CSR of keys) or their own ``_personal_rows``.
    """

    personal: sp.csr_matrix | None = None
    user_base: np.ndarray | None = None
    base: np.ndarray

    def _personal_rows(self, users: np.ndarray) -> sp.csr_matrix:
        assert self.personal is not None
        return self.personal[users]

    @property
    def _has_personal(self) -> bool:
        return self.personal is not None or type(self)._personal_rows is not _CandidatesOverFill._personal_rows

    def _recommend(self, user_idx: np.ndarray, k: int, options: RecommendOptions) -> tuple[np.ndarray, np.ndarray]:
        from recsys_cl.evaluation import topk_sparse_over_base
        return topk_sparse_over_base(
            self._personal_rows if self._has_personal else None,
            self.base,
            k,
            user_idx,
            user_base=self.user_base,
            exclude=self.seen_items(options.exclude_seen),
            progress=options.progress,
        )

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        """The same scores as dense rows (for checks against the dense top-K; never used to rank)."""
        rows = np.zeros(len(user_idx), dtype=np.int64) if self.user_base is None else self.user_base[user_idx]
        scores = self.base[rows].copy()
        if self._has_personal:
            scores += self._personal_rows(np.asarray(user_idx)).toarray()
        return scores


# ---------------------------------------------------------------------------------------------- repurchase
class RepurchaseConfig(FillConfig):
    order: Literal["recency", "frequency"] = Field(
        "recency", description="recency: latest purchase first, ties by purchase count; frequency: the reverse"
    )
    window_days: float | None = Field(
        None, gt=0, description="only items the user last bought in the last N days of training; None = any"
    )


@register("repurchase")
class Repurchase(_CandidatesOverFill):
    """The user's own training items, most recent (then most frequent) first, then the fill list.

    Key = lexicographic rank of (latest purchase time, purchase count) of the (user, item) pair (or
    (count, time) with ``order=frequency``), as an integer >= 1. Under ``exclude_seen=True`` every
    candidate is a training item and is excluded, so the model is exactly its fill popularity.
    """

    Config = RepurchaseConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        c = self.config
        end = train_end(split, self.registry_name)
        self.base = fill_popularity(split, c.fill_days)[None, :]
        counts, last = split.train, split.train_last_time  # the same canonical pattern (see EncodedSplit)
        count, time = counts.data.astype(np.float64), last.data.astype(np.float64)
        first, second = (time, count) if c.order == "recency" else (count, time)
        rank_first = np.unique(first, return_inverse=True)[1].astype(np.float64) + 1.0
        rank_second = np.unique(second, return_inverse=True)[1].astype(np.float64) + 1.0
        key = rank_first * (rank_second.max(initial=0.0) + 1.0) + rank_second
        if c.window_days is not None:
            key[time <= end - c.window_days * DAY] = 0.0
        personal = sp.csr_matrix((key, counts.indices.copy(), counts.indptr.copy()), shape=counts.shape)
        personal.eliminate_zeros()
        self.personal = personal


# ---------------------------------------------------------------------------------------------- decayed-pop
class DecayedPopConfig(ModelConfig):
    half_life_days: float = Field(7.0, gt=0, description="a purchase N days before the end of training counts 0.5^(N / half_life_days)")


@register("decayed-pop")
class DecayedPop(_CandidatesOverFill):
    """Time-decayed popularity: each training purchase weighs ``0.5 ** (age_days / half_life_days)``,
    age measured from the end of training; the same list for every user."""

    Config = DecayedPopConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        end = train_end(split, self.registry_name)
        train = split.split.train
        weight = train.select((0.5 ** ((end - pl.col("timestamp")) / (DAY * self.config.half_life_days))).alias("w"))["w"]
        items = split.item_index(train["item_id"])
        self.base = np.bincount(items, weights=weight.to_numpy(), minlength=split.n_items)[None, :]


# ---------------------------------------------------------------------------------------------- segment-pop
class SegmentPopConfig(FillConfig):
    column: str = Field("age", min_length=1, description="column of the .user table that defines the segments")
    bins: tuple[float, ...] | None = Field(
        AGE_BINS, description="bucket edges for a numeric column (default: age buckets); None = one segment per value"
    )
    days: float | None = Field(7.0, gt=0, description="count purchases in the last N days of training; None = all")
    user_table: str | None = Field(None, description="path of the <ds>.user file; default: the one beside the split files")

    @field_validator("bins")
    @classmethod
    def _increasing(cls, bins: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if bins is not None and (not bins or any(b <= a for a, b in zip(bins, bins[1:]))):
            raise ValueError("bins must be a non-empty list of strictly increasing numbers")
        return bins


@register("segment-pop")
class SegmentPop(_CandidatesOverFill):
    """Popularity within the user's segment (e.g. age bucket, or any column of the ``.user`` table).

    score(u, i) = purchases of i by users of u's segment in the last ``days`` days + fill(i): the
    segment's list, ties (e.g. items the segment did not buy) by the fill popularity. Users without a
    value (missing age, or absent from the table) get the fill list. ``segment_labels`` names the segments.
    """

    Config = SegmentPopConfig

    def _run_name_value(self, key: str, value: object) -> str:
        return Path(str(value)).name if key == "user_table" else str(value)

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        c = self.config
        end = train_end(split, self.registry_name)
        table, path = side_table(split, "user", c.user_table, self.registry_name, "user_table")
        if c.column not in table.columns or c.column == "user_id":
            have = ", ".join(x for x in table.columns if x != "user_id")
            raise InputError(f"{self.registry_name}: column: {c.column!r} is not a column of {path} (have {have})")
        code, labels = self._segments(aligned_column(table, split.user_ids, "user_id", c.column), path)
        n_segments = len(labels)
        train = split.split.train
        if c.days is not None:
            train = train.filter(pl.col("timestamp") > end - c.days * DAY)
        user = split.user_index(train["user_id"])
        item = split.item_index(train["item_id"])
        known = code[user] < n_segments
        counts = np.bincount(code[user[known]] * split.n_items + item[known], minlength=n_segments * split.n_items)
        fill = fill_popularity(split, c.fill_days)
        self.base = np.vstack([counts.reshape(n_segments, split.n_items) + fill[None, :], fill[None, :]])
        self.user_base = code
        self.segment_labels = [*labels, "unknown"]

    def _segments(self, values: pl.Series, path: Path) -> tuple[np.ndarray, list[str]]:
        """Segment code per split user (``len(labels)`` = unknown) and the segment labels."""
        c = self.config
        numeric = values.dtype.is_numeric()
        if c.bins is not None and not numeric:
            raise InputError(
                f"{self.registry_name}: bins: column {c.column!r} of {path} is not numeric; set bins to null for one segment per value"
            )
        if c.bins is not None:
            v = values.cast(pl.Float64).fill_nan(None).to_numpy()
            missing = np.isnan(v)
            edges = np.asarray(c.bins)
            code = np.digitize(np.where(missing, 0.0, v), edges)
            labels = [f"<{edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:])] + [f">={edges[-1]:g}"]
        else:
            text = values.cast(pl.Utf8)
            missing = (text.is_null() | (text == "")).to_numpy()
            distinct = np.unique(text.filter(~pl.Series(missing)).to_numpy().astype(str))
            if len(distinct) > MAX_SEGMENTS:
                raise InputError(
                    f"{self.registry_name}: column: {c.column!r} has {len(distinct):,} distinct values; at most {MAX_SEGMENTS} segments"
                )
            code = np.searchsorted(distinct, text.fill_null("").to_numpy().astype(str))
            labels = distinct.tolist()
        return np.where(missing, len(labels), code).astype(np.int64), labels


# ---------------------------------------------------------------------------------------------- product-variants
class ProductVariantsConfig(FillConfig):
    product_column: str = Field("product_code", min_length=1, description="column of the .item table naming each item's product")
    window_days: float | None = Field(None, gt=0, description="only products bought in the last N days of training; None = any")
    item_table: str | None = Field(None, description="path of the <ds>.item file; default: the one beside the split files")


@register("product-variants")
class ProductVariants(_CandidatesOverFill):
    """Other articles (e.g. colours) of the products the user bought, then the fill list.

    Key(u, i) = the user's training purchases of i's product, for items i the user has not bought
    themselves (their own articles are ``repurchase``'s candidates, not variants).
    """

    Config = ProductVariantsConfig

    def _run_name_value(self, key: str, value: object) -> str:
        return Path(str(value)).name if key == "item_table" else str(value)

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        c = self.config
        end = train_end(split, self.registry_name)
        table, path = side_table(split, "item", c.item_table, self.registry_name, "item_table")
        if c.product_column not in table.columns or c.product_column == "item_id":
            have = ", ".join(x for x in table.columns if x != "item_id")
            raise InputError(f"{self.registry_name}: product_column: {c.product_column!r} is not a column of {path} (have {have})")
        product = aligned_column(table, split.item_ids, "item_id", c.product_column).cast(pl.Utf8)
        has_product = (product.is_not_null() & (product != "")).to_numpy()
        codes = np.unique(product.filter(pl.Series(has_product)).to_numpy().astype(str))
        column = np.searchsorted(codes, product.fill_null("").to_numpy().astype(str)[has_product])
        rows = np.flatnonzero(has_product)
        self.item_product = sp.csr_matrix(
            (np.ones(len(rows)), (rows, column)), shape=(split.n_items, len(codes))
        )
        bought = split.train.astype(np.float64)
        if c.window_days is not None:
            recent = split.train_last_time.data > end - c.window_days * DAY
            bought = sp.csr_matrix((bought.data * recent, bought.indices, bought.indptr), shape=bought.shape)
            bought.eliminate_zeros()
        self.user_product = sp.csr_matrix(bought @ self.item_product)
        self.base = fill_popularity(split, c.fill_days)[None, :]

    def _personal_rows(self, users: np.ndarray) -> sp.csr_matrix:
        assert self.encoded is not None
        same_product = sp.csr_matrix(self.user_product[users] @ self.item_product.T)
        own = self.encoded.train[users]
        # drop the user's own articles: entries of ``same_product`` where ``own`` is set
        own_pattern = sp.csr_matrix((np.ones(own.nnz), own.indices, own.indptr), shape=own.shape)
        variants = same_product - same_product.multiply(own_pattern)
        variants.eliminate_zeros()
        return sp.csr_matrix(variants)


# ---------------------------------------------------------------------------------------------- bought-together
class BoughtTogetherConfig(FillConfig):
    window_days: int = Field(7, ge=0, description="two purchases by one customer at most N days apart are bought together")
    recent_days: float = Field(7.0, ge=0, description="seed items: the user's purchases in the N days up to their last one")
    neighbours: int = Field(20, ge=1, description="most co-purchased items kept per item")
    # All of H&M's two years cost ~35x the time of the last 4 weeks (10% scale: 71 s vs 2 s, +870 MB), and
    # co-purchases of old collections say little about this week's: the recent window is the default.
    history_days: float | None = Field(
        28.0, gt=0, description="count co-purchases in the last N days of training only; None = all of it"
    )


@register("bought-together")
class BoughtTogether(_CandidatesOverFill):
    """Items bought together with the user's recent items, then the fill list.

    co(i, j) = number of purchase-day pairs (customer bought i on day d, j on day d', i != j,
    |d - d'| <= ``window_days``), each item's ``neighbours`` strongest kept; key(u, j) = sum of co(i, j)
    over the user's seed items i (bought within ``recent_days`` of their last training purchase).
    """

    Config = BoughtTogetherConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        c = self.config
        end = train_end(split, self.registry_name)
        self.base = fill_popularity(split, c.fill_days)[None, :]
        self.co_purchase = self._co_purchase(split, end)
        last = split.train_last_time
        per_user = np.diff(last.indptr)
        user_last = np.zeros(split.n_users)
        nonempty = per_user > 0
        user_last[nonempty] = np.maximum.reduceat(last.data, last.indptr[:-1][nonempty])
        seed = last.data >= np.repeat(user_last, per_user) - c.recent_days * DAY
        seeds = sp.csr_matrix((seed.astype(np.float64), last.indices.copy(), last.indptr.copy()), shape=last.shape)
        seeds.eliminate_zeros()
        self.seeds = seeds

    def _co_purchase(self, split: EncodedSplit, end: float) -> sp.csr_matrix:
        """(n_items, n_items) co-purchase counts, the top ``neighbours`` of each row kept."""
        c = self.config
        train = split.split.train
        if c.history_days is not None:
            train = train.filter(pl.col("timestamp") > end - c.history_days * DAY)
        days = pl.DataFrame(
            {
                "u": split.user_index(train["user_id"]).astype(np.int32),
                "i": split.item_index(train["item_id"]).astype(np.int32),
                "d": np.floor(train["timestamp"].to_numpy() / DAY).astype(np.int32),
            }
        ).unique()
        later = days.rename({"i": "j"})
        counted = []
        for offset in range(c.window_days + 1):  # a loop over day offsets, each a join of all customers
            pairs = days.join(later.with_columns(pl.col("d") - offset), on=["u", "d"]).filter(pl.col("i") != pl.col("j"))
            if offset:  # (i on day d, j on day d + offset) is also (j, i)
                pairs = pl.concat([pairs.select("i", "j"), pairs.select(pl.col("j").alias("i"), pl.col("i").alias("j"))])
            counted.append(pairs.group_by("i", "j").len())
        co = pl.concat(counted).group_by("i", "j").agg(pl.col("len").sum()).sort("i", "j")
        rows, cols, counts = co["i"].to_numpy(), co["j"].to_numpy(), co["len"].to_numpy().astype(np.float64)
        # the strongest ``neighbours`` of each row: by count desc, ties by lower item index
        ranked = np.lexsort((cols, -counts, rows))
        rows, cols, counts = rows[ranked], cols[ranked], counts[ranked]
        start = np.searchsorted(rows, rows)
        keep = np.arange(len(rows)) - start < c.neighbours
        return sp.csr_matrix((counts[keep], (rows[keep], cols[keep])), shape=(split.n_items, split.n_items))

    def _personal_rows(self, users: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.seeds[users] @ self.co_purchase)
