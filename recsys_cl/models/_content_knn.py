"""Content-kNN: recommend the items whose embedding is closest to the user's taste vector.

The seeds' "recommend from embeddings" approach. A user's profile is the recency-weighted mean of the
L2-normalised embeddings of their training items; items are ranked by cosine similarity to it with
faiss (exact ``IndexFlatIP`` over every item that has a vector). Items never bought in training but
with a vector (cold items) are ranked like any other, which is what makes this model work for them.

faiss is what the issue asks for here. ``benchmarks/perf/bench_topk.py`` measured the shared torch top-K
about 2.5x faster than ``IndexFlatIP`` for factor models (faiss cannot skip training items, so it searches
further and filters); should this search become a bottleneck, ``topk_from_factors`` with an item bias of
-inf for items without a vector would rank the same items.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field

from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.data._split import DAY
from recsys_cl.embeddings._io import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models._base import ModelConfig, Recommender, register
from recsys_cl.models._baselines import item_popularity

# Users per faiss search: large batches keep faiss's blocked inner products efficient; memory per
# batch is (users x (k + their training items)) results plus their profiles, a few MB.
_USERS_PER_SEARCH = 4096


class ContentKNNConfig(ModelConfig):
    half_life_days: float | None = Field(
        30.0, gt=0, description="an item bought this many days before the user's last training purchase weighs half; None = plain mean"
    )


@register("content-knn")
class ContentKNN(Recommender):
    """Cosine between the user's recency-weighted mean item embedding and every item's embedding.

    Weight of a training item j for user u: (number of times u bought j) * 0.5 ** (age / half-life),
    age = days between u's last purchase of j and u's last training purchase of anything (per user,
    so old users' weights do not underflow). Users without a training item that has a vector fall
    back to all-time popularity (their scores are then counts, not cosines). Items without a vector
    are never recommended to profiled users.
    """

    Config = ContentKNNConfig
    uses_item_embeddings = True

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None) -> None:
        if item_embeddings is None:
            raise InputError("content-knn needs item embeddings (pass an .itememb file)")
        vectors, has_vector = item_embeddings.aligned(split.item_ids)
        if not has_vector.any():
            raise InputError(
                f"content-knn: none of the {split.n_items} items of the split has an embedding "
                f"in {item_embeddings.method!r} (item ids do not match?)"
            )
        norms = np.linalg.norm(vectors, axis=1)
        has_vector &= norms > 0  # a zero vector has no direction: treat as missing
        unit = np.zeros_like(vectors)
        unit[has_vector] = vectors[has_vector] / norms[has_vector, None]

        # Profiles are built per chunk of users at ranking time (all users' profiles at once would be
        # n_users x d floats: 2 GB for H&M with 384-d vectors); a user is profiled if any training
        # item has a vector.
        self.weights = self._weights(split, has_vector)
        self.profiled = self.weights.getnnz(axis=1) > 0
        self.unit_vectors = unit
        self.popularity = item_popularity(split.train)

        import faiss

        self.indexed_items = np.flatnonzero(has_vector)  # faiss row -> item index
        self.index = faiss.IndexFlatIP(unit.shape[1])
        self.index.add(np.ascontiguousarray(unit[self.indexed_items]))

    def _weights(self, split: EncodedSplit, has_vector: np.ndarray) -> sp.csr_matrix:
        """(n_users, n_items) recency weights of training purchases of items with a vector."""
        pairs = split.split.train.group_by("user_id", "item_id").agg(
            pl.len().alias("count"), pl.col("timestamp").max().alias("last")
        )
        pairs = pairs.with_columns(pl.col("last").max().over("user_id").alias("user_last"))
        weight = pairs["count"].to_numpy().astype(np.float64)
        if self.config.half_life_days is not None:
            age_days = (pairs["user_last"].to_numpy() - pairs["last"].to_numpy()) / DAY
            weight = weight * 0.5 ** (age_days / self.config.half_life_days)
        rows = split.user_index(pairs["user_id"])
        cols = split.item_index(pairs["item_id"])
        keep = has_vector[cols]
        return sp.csr_matrix(
            (weight[keep].astype(np.float32), (rows[keep], cols[keep])), shape=(split.n_users, split.n_items)
        )

    def _recommend(self, user_idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from recsys_cl.evaluation._topk import topk_from_scorer

        assert self.encoded is not None
        train = self.encoded.train
        n_items = self.encoded.n_items
        items = np.full((len(user_idx), k), -1, dtype=np.int64)
        scores = np.full((len(user_idx), k), np.nan, dtype=np.float32)

        fallback = ~self.profiled[user_idx]
        if fallback.any():
            pop = self.popularity
            items[fallback], scores[fallback] = topk_from_scorer(
                lambda chunk: np.repeat(pop[None, :], len(chunk), axis=0),
                n_items,
                k,
                user_idx[fallback],
                exclude=train,
                device="cpu",
            )

        rows = np.flatnonzero(~fallback)
        # faiss cannot skip a user's training items, so search k + (their number) and filter after;
        # users are grouped by that number so one heavy buyer does not widen everyone's search.
        n_train = np.diff(train.indptr)[user_idx[rows]]
        rows = rows[np.argsort(n_train, kind="stable")]
        chunk_size = _USERS_PER_SEARCH
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start : start + chunk_size]
            users = user_idx[chunk]
            k_search = int(min(k + np.diff(train.indptr)[users].max(), self.index.ntotal))
            profiles = np.asarray(self.weights[users] @ self.unit_vectors, dtype=np.float32)
            lengths = np.linalg.norm(profiles, axis=1, keepdims=True)
            profiles = np.divide(profiles, lengths, out=np.zeros_like(profiles), where=lengths > 0)
            sims, found = self.index.search(profiles, k_search)
            found_items = np.where(found >= 0, self.indexed_items[np.maximum(found, 0)], -1)
            bad = (found < 0) | _in_rows(train[users], np.maximum(found_items, 0))
            # Keep the first k admissible hits per row by (score desc, item index asc), the tie rule of
            # the shared top-K (exact unless a tie straddles the k_search cut, which faiss decides).
            n_rows, width = found.shape
            order = np.lexsort(
                (found_items.ravel(), -sims.ravel(), bad.ravel(), np.repeat(np.arange(n_rows), width))
            ).reshape(n_rows, width)[:, :k] % width
            take_ok = ~np.take_along_axis(bad, order, axis=1)
            width = order.shape[1]
            items[chunk, :width] = np.where(take_ok, np.take_along_axis(found_items, order, axis=1), -1)
            scores[chunk, :width] = np.where(take_ok, np.take_along_axis(sims, order, axis=1), np.nan)
            if self.progress is not None:
                self.progress(min(start + chunk_size, len(rows)), len(rows))
        return items, scores


def _in_rows(rows: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """``items[r, j]`` is stored in row ``r`` of ``rows``: sorted (row, item) keys and a binary search,
    not a dense (users x catalogue) mask per chunk (268 MB of float32 per chunk at H&M's 105k items)."""
    rows = rows.tocsr()
    rows.sort_indices()
    n_cols = rows.shape[1]
    keys = np.repeat(np.arange(rows.shape[0], dtype=np.int64), np.diff(rows.indptr)) * n_cols + rows.indices
    if keys.size == 0:
        return np.zeros(items.shape, dtype=bool)
    query = np.arange(items.shape[0], dtype=np.int64)[:, None] * n_cols + items
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return keys[pos] == query
