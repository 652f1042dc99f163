"""The two-stage model's first stage and its features: candidates from several generators, then one
feature row per (user, candidate item), built with polars joins and expressions (never a loop over users).

A :class:`Stage` is everything known at one cut-off time ("now"): the training purchases up to it, the
generators fitted on them, and the per-item, per-user, per-(user, item) and per-(user, product) tables
the features are read from. The two-stage model builds two: one at the feature cut-off (its rows,
labelled by the purchases of the label window after it, train the ranker) and one at the end of
training (its rows are scored for the valid part's early stopping and for recommendations).

Feature families (``features:`` in the config; every feature is measured at the stage's cut-off):

==============  ======================================================================================
``generators``  ``<g>_rank`` (1-based) and ``<g>_score`` of each generator ``g`` (null where the item is
                not in g's top-N for the user), ``n_generators`` (how many list it)
``popularity``  ``item_sales_1d`` / ``_7d`` / ``_28d`` / ``_all``, ``item_days_since_last_sale``,
                ``item_days_since_first_sale`` (null for items never sold)
``user``        ``user_purchases``, ``user_days_since_last_purchase``
``user_item``   ``user_item_purchases`` (0 if never), ``user_item_days_since`` (null if never)
``price``       ``item_price`` and ``user_price`` (mean paid), ``price_diff`` = item - user; needs a
                ``price`` column in the interactions
``product``     ``user_product_purchases`` (purchases of any article of the candidate's product),
                ``user_product_days_since``; needs the product column of the ``.item`` table
``age``         ``age_bucket`` (index of the user's age among the bucket edges; null if unknown);
                needs the age column of the ``.user`` table
==============  ======================================================================================

With item embeddings (and ``embedding_features``), ``embedding_similarity`` is the cosine between the
candidate's unit vector and the mean of the unit vectors of the user's ``recent_items`` most recently
bought items (null where either has no vector).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cl.data import DAY, EncodedSplit, Split, pair_matrices
from recsys_cl.models._base import Recommender

FAMILIES = ("generators", "popularity", "user", "user_item", "price", "product", "age")

#: candidate rows whose embedding similarities are computed at once (rows x d float32 temporaries)
_SIMILARITY_ROWS = 262_144


def window_split(encoded: EncodedSplit, cutoff: float, label_end: float) -> EncodedSplit:
    """The split as it stood at ``cutoff`` (Unix s): train = training rows at or before it, valid = training
    rows in (``cutoff``, ``label_end``] (the label window), test empty; the same user and item vocabularies
    (so indices mean the same items) and the same ``info`` (so side tables are found as for ``encoded``)."""
    train = encoded.split.train
    time = pl.col("timestamp")
    before = train.filter(time <= cutoff)
    window = train.filter((time > cutoff) & (time <= label_end))
    shape = (encoded.n_users, encoded.n_items)

    def coded(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return encoded.user_index(frame["user_id"]), encoded.item_index(frame["item_id"])

    train_matrix, last_time = pair_matrices(*coded(before), shape, before["timestamp"].to_numpy())
    label_matrix, _ = pair_matrices(*coded(window), shape)
    info = {**encoded.split.info, "window": {"cutoff": cutoff, "label_end": label_end}}
    split = Split(encoded.protocol, before, window, train.clear(), info)
    empty = sp.csr_matrix(shape, dtype=np.float32)
    return EncodedSplit(encoded.protocol, encoded.user_ids, encoded.item_ids, train_matrix, label_matrix, empty, last_time, split)


@dataclasses.dataclass(frozen=True)
class Generator:
    """One fitted candidate generator: its feature-name ``label``, the model and its top-N."""

    label: str
    model: Recommender
    top_n: int


@dataclasses.dataclass(frozen=True)
class SideColumns:
    """Columns from outside the interactions, aligned to the split's vocabularies (None = not used)."""

    item_product: np.ndarray | None = None  # (n_items,) int32 product code, -1 = none
    user_age_bucket: np.ndarray | None = None  # (n_users,) float32 bucket index, NaN = unknown
    unit_vectors: np.ndarray | None = None  # (n_items, d) float32 unit rows, 0 = no vector
    has_vector: np.ndarray | None = None  # (n_items,) bool


class Stage:
    """Candidates and features at one cut-off (see the module docstring).

    ``encoded`` is the split as seen at the cut-off (its train part ends there); ``now`` the cut-off time
    every "days since" is measured from; ``families`` the feature families to build; ``recent_items`` the
    purchases averaged into a user's embedding profile.
    """

    def __init__(
        self,
        encoded: EncodedSplit,
        now: float,
        generators: Sequence[Generator],
        families: Sequence[str],
        side: SideColumns,
        recent_items: int = 5,
    ) -> None:
        self.encoded, self.now, self.generators, self.families, self.side = encoded, now, list(generators), set(families), side
        n_users, n_items = encoded.n_users, encoded.n_items
        train = encoded.split.train
        history = pl.DataFrame(
            {
                "u": encoded.user_index(train["user_id"]).astype(np.int32),
                "i": encoded.item_index(train["item_id"]).astype(np.int32),
                "t": train["timestamp"].cast(pl.Float64),
                **({"price": train["price"].cast(pl.Float64)} if "price" in self.families else {}),
            }
        )
        days_before = (pl.lit(now) - pl.col("t")) / DAY
        self.items = self._item_table(history, n_items, days_before)
        self.users = self._user_table(history, n_users, days_before)
        counts, last = encoded.train, encoded.train_last_time  # the same canonical pattern (see EncodedSplit)
        pair_users = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(counts.indptr))
        # per (user, item): sorted by user, then item (CSR order), so a chunk of users is one slice
        self.pairs = pl.DataFrame(
            {
                "u": pair_users,
                "i": counts.indices.astype(np.int32),
                "user_item_purchases": counts.data.astype(np.float32),
                "user_item_days_since": ((now - last.data) / DAY).astype(np.float32),
            }
        )
        self.user_products = None
        if "product" in self.families:
            assert side.item_product is not None
            self.user_products = (
                history.join(self.items.select("i", "product"), on="i", how="inner")
                .filter(pl.col("product") >= 0)
                .group_by("u", "product")
                .agg(pl.len().cast(pl.Float32).alias("user_product_purchases"), days_before.min().cast(pl.Float32).alias("user_product_days_since"))
                .sort("u", "product")
            )
        self.recent = self._recent_items(recent_items) if side.unit_vectors is not None else None

    # -- tables -------------------------------------------------------------------------------
    def _item_table(self, history: pl.DataFrame, n_items: int, days_before: pl.Expr) -> pl.DataFrame:
        sales = [pl.len().alias("item_sales_all")]
        if "popularity" in self.families:
            sales += [(days_before < d).sum().alias(f"item_sales_{d}d") for d in (1, 7, 28)]
            sales += [days_before.min().alias("item_days_since_last_sale"), days_before.max().alias("item_days_since_first_sale")]
        if "price" in self.families:
            sales.append(pl.col("price").mean().alias("item_price"))
        table = pl.DataFrame({"i": np.arange(n_items, dtype=np.int32)}).join(
            history.group_by("i").agg(sales), on="i", how="left", maintain_order="left"
        )
        counts = [c for c in table.columns if c.startswith("item_sales_")]
        table = table.with_columns(pl.col(counts).fill_null(0)).with_columns(pl.exclude("i").cast(pl.Float32))
        if "popularity" not in self.families:
            table = table.drop("item_sales_all")
        if "product" in self.families:
            table = table.with_columns(pl.Series("product", self.side.item_product, dtype=pl.Int32))
        return table

    def _user_table(self, history: pl.DataFrame, n_users: int, days_before: pl.Expr) -> pl.DataFrame | None:
        columns = []
        if "user" in self.families:
            columns += [pl.len().alias("user_purchases"), days_before.min().alias("user_days_since_last_purchase")]
        if "price" in self.families:
            columns.append(pl.col("price").mean().alias("user_price"))
        table = None
        if columns:
            table = history.group_by("u").agg(columns).with_columns(pl.exclude("u").cast(pl.Float32))
        if "age" in self.families:
            assert self.side.user_age_bucket is not None
            ages = pl.DataFrame({"u": np.arange(n_users, dtype=np.int32), "age_bucket": self.side.user_age_bucket})
            ages = ages.with_columns(pl.col("age_bucket").fill_nan(None))
            table = ages if table is None else ages.join(table, on="u", how="left", maintain_order="left")
        return None if table is None else table.sort("u")

    def _recent_items(self, n: int) -> sp.csr_matrix:
        """(n_users, n_items) CSR with 1 at each user's ``n`` most recently bought distinct items that have a
        vector (ties in time by lower item index), so that ``recent[users] @ unit_vectors`` sums them."""
        assert self.side.has_vector is not None
        last = self.encoded.train_last_time
        rows = np.repeat(np.arange(last.shape[0]), np.diff(last.indptr))
        keep = self.side.has_vector[last.indices]
        rows, cols, times = rows[keep], last.indices[keep], last.data[keep]
        order = np.lexsort((cols, -times, rows))
        rows, cols = rows[order], cols[order]
        place = np.arange(len(rows)) - np.searchsorted(rows, rows)
        take = place < n
        return sp.csr_matrix((np.ones(int(take.sum()), np.float32), (rows[take], cols[take])), shape=last.shape)

    # -- rows ---------------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """Names of the feature columns of :meth:`frame`, in the order the ranker sees them."""
        names: list[str] = []
        if "generators" in self.families:
            names += [f"{g.label}_{what}" for g in self.generators for what in ("rank", "score")] + ["n_generators"]
        names += [c for c in self.items.columns if c not in ("i", "product")]
        if self.users is not None:
            names += [c for c in self.users.columns if c != "u"]
        if "user_item" in self.families:
            names += ["user_item_purchases", "user_item_days_since"]
        if "price" in self.families:
            names.append("price_diff")
        if "product" in self.families:
            names += ["user_product_purchases", "user_product_days_since"]
        if self.recent is not None:
            names.append("embedding_similarity")
        return names

    def candidates(self, users: np.ndarray) -> pl.DataFrame:
        """``u, i`` and each generator's ``<g>_rank, <g>_score``: the union of the generators' top-N lists
        (made with ``exclude_seen=False``: repurchases are candidates) for ``users`` (sorted, distinct
        vocabulary indices), sorted by user then item."""
        enc = self.encoded
        lists = []
        for g in self.generators:
            ranked = g.model.recommend(enc.user_ids[users], k=g.top_n, exclude_seen=False)
            listed = ranked.items >= 0
            lists.append(
                pl.DataFrame(
                    {
                        "u": np.repeat(users.astype(np.int32), g.top_n)[listed.ravel()],
                        "i": ranked.items[listed].astype(np.int32),
                        f"{g.label}_rank": np.tile(np.arange(1, g.top_n + 1, dtype=np.float32), len(users))[listed.ravel()],
                        f"{g.label}_score": ranked.scores[listed].astype(np.float32),
                    }
                )
            )
        union = pl.concat(lists, how="diagonal").group_by("u", "i").agg(pl.exclude("u", "i").max())
        listed_by = pl.sum_horizontal(pl.col(f"{g.label}_rank").is_not_null() for g in self.generators)
        return union.with_columns(listed_by.cast(pl.Float32).alias("n_generators")).sort("u", "i")

    def frame(self, users: np.ndarray, labels: sp.csr_matrix | None = None) -> pl.DataFrame:
        """Candidates of ``users`` (sorted, distinct) with every feature column, and ``label`` (1 where the
        pair is in ``labels``, a user x item CSR) when ``labels`` is given. Sorted by user, then item."""
        frame = self.candidates(users)
        if frame.height == 0:
            return frame
        lo, hi = int(users[0]), int(users[-1])
        frame = frame.join(self.items, on="i", how="left", maintain_order="left")
        if self.users is not None:
            frame = frame.join(_user_slice(self.users, lo, hi), on="u", how="left", maintain_order="left")
        if "user_item" in self.families:
            frame = frame.join(_user_slice(self.pairs, lo, hi), on=["u", "i"], how="left", maintain_order="left")
            frame = frame.with_columns(pl.col("user_item_purchases").fill_null(0.0))
        if "price" in self.families:
            frame = frame.with_columns((pl.col("item_price") - pl.col("user_price")).alias("price_diff"))
        if self.user_products is not None:
            frame = frame.join(_user_slice(self.user_products, lo, hi), on=["u", "product"], how="left", maintain_order="left")
            frame = frame.with_columns(pl.col("user_product_purchases").fill_null(0.0))
        if self.recent is not None:
            frame = frame.with_columns(pl.Series("embedding_similarity", self._similarity(frame["u"].to_numpy(), frame["i"].to_numpy())).fill_nan(None))
        if labels is not None:
            frame = frame.with_columns(pair_flag(labels, users).alias("label"))
        return frame.select("u", "i", *self.feature_names, *(["label"] if labels is not None else []))

    def _similarity(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Cosine of each candidate's unit vector with its user's recent-items profile; NaN where undefined."""
        assert self.recent is not None and self.side.unit_vectors is not None and self.side.has_vector is not None
        users, local = np.unique(u, return_inverse=True)
        profiles = np.asarray(self.recent[users] @ self.side.unit_vectors, dtype=np.float32)
        length = np.linalg.norm(profiles, axis=1, keepdims=True)
        profiles = np.divide(profiles, length, out=np.zeros_like(profiles), where=length > 0)
        out = np.empty(len(u), dtype=np.float32)
        for start in range(0, len(u), _SIMILARITY_ROWS):  # blocks of rows bound the (rows x d) temporaries
            rows = slice(start, start + _SIMILARITY_ROWS)
            out[rows] = np.einsum("rd,rd->r", profiles[local[rows]], self.side.unit_vectors[i[rows]])
        out[(length[local, 0] == 0) | ~self.side.has_vector[i]] = np.nan
        return out


def _user_slice(table: pl.DataFrame, lo: int, hi: int) -> pl.DataFrame:
    """Rows of ``table`` (sorted by ``u``) with ``lo <= u <= hi``, by binary search instead of a scan."""
    u = table["u"]
    start = int(u.search_sorted(lo, side="left"))
    return table.slice(start, int(u.search_sorted(hi, side="right")) - start)


def pair_flag(matrix: sp.csr_matrix, users: np.ndarray) -> pl.Expr:
    """1.0 where (``u``, ``i``) is a nonzero pair of ``matrix`` (user x item), else 0.0, for rows of ``users``
    (the only rows looked at: the frame's users)."""
    csr = sp.csr_matrix(matrix[users])
    rows = np.repeat(np.asarray(users, dtype=np.int64), np.diff(csr.indptr))
    keys = pl.Series(rows * csr.shape[1] + csr.indices, dtype=pl.Int64)
    key = pl.col("u").cast(pl.Int64) * csr.shape[1] + pl.col("i").cast(pl.Int64)
    return key.is_in(keys.implode()).cast(pl.Float32)


def feature_matrix(frame: pl.DataFrame, names: Sequence[str]) -> np.ndarray:
    """(rows, len(names)) float32 of the feature columns, nulls as NaN (LightGBM's missing value)."""
    return frame.select(pl.col(names).cast(pl.Float32)).to_numpy().astype(np.float32, copy=False)


def group_sizes(users: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal values of ``users`` (sorted): LightGBM's query groups."""
    if not len(users):
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    return np.diff(np.r_[starts, len(users)])
