"""Content-kNN: recommend the items whose embedding is closest to the user's taste vector.

The seeds' "recommend from embeddings" approach. A user's profile is the recency-weighted mean of the
L2-normalised embeddings of their training items, itself L2-normalised; items are ranked by cosine
similarity to it, which is the dot product of unit vectors: a factor model whose user factors are the
profiles and whose item factors are the unit item vectors. So ranking is the shared top-K
(``topk_from_factors``: every item scored, training items excluded in place, ties to the lower item
index), with an item bias of -inf for items without a vector (never recommended). Items never bought
in training but with a vector (cold items) are ranked like any other, which is what makes this model
work for them.

This replaced an exact faiss ``IndexFlatIP`` search, which cannot skip a user's training items and so
searched ``k + (their number)`` neighbours and filtered afterwards (``bench_fullsize.py --scale 1.0
--steps content-knn``, 1.30M users x 105k items, 64-d, both on a busy machine: recommend 1,537 s -> 462 s, fit
68 s -> 1.5 s, peak RSS 12.3 GB -> 3.9 GB). The lists are the same up to float rounding: on synthetic
H&M at scale 0.1 (127,131 users) 4 users had two neighbouring items swapped whose cosines differ by one
float32 ulp (BLAS and faiss sum in different orders); every list held the same 12 items.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys_cl.data import EncodedSplit
from recsys_cl.data import DAY
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models._base import FitOptions, ModelConfig, RecommendOptions, Recommender, register
from recsys_cl.models._baselines import item_popularity

# Users whose profiles are built and ranked per top-K call: bounds the profile block to
# users x d float32 (100 MB at 384-d) instead of all users' profiles at once (2 GB for H&M at 384-d).
_USERS_PER_BLOCK = 65_536


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

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
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

        # Profiles are built per block of users at ranking time (all users' profiles at once would be
        # n_users x d floats: 2 GB for H&M with 384-d vectors); a user is profiled if any training
        # item has a vector.
        self.weights = self._weights(split, has_vector)
        self.profiled = self.weights.getnnz(axis=1) > 0
        self.unit_vectors = unit
        # added to every score: items without a vector are never ranked for a profiled user
        self.no_vector_bias = np.where(has_vector, 0.0, -np.inf).astype(np.float32)
        self.popularity = item_popularity(split.train)

    def _weights(self, split: EncodedSplit, has_vector: np.ndarray) -> sp.csr_matrix:
        """(n_users, n_items) recency weights of training purchases of items with a vector.

        From the split's CSR matrices, entry by entry: ``train`` holds each pair's purchase count and
        ``train_last_time`` its latest purchase time, both in the same canonical (row, sorted column)
        order (a group-by on the 64-character customer ids of H&M took most of the 55 s fit).
        """
        counts, last = split.train, split.train_last_time
        if not (
            counts.shape == last.shape
            and np.array_equal(counts.indptr, last.indptr)
            and np.array_equal(counts.indices, last.indices)
        ):
            raise InputError("content-knn: the split's train counts and last purchase times cover different pairs")
        weight = counts.data.astype(np.float64)
        if self.config.half_life_days is not None:
            per_row = np.diff(counts.indptr)
            rows_with = per_row > 0
            user_last = np.zeros(len(per_row))
            user_last[rows_with] = np.maximum.reduceat(last.data, counts.indptr[:-1][rows_with])
            age_days = (np.repeat(user_last, per_row) - last.data) / DAY
            weight = weight * 0.5 ** (age_days / self.config.half_life_days)
        # keep the entries of items with a vector (explicit zeros stay: a weight that underflows in
        # float32 still makes its user profiled)
        keep = has_vector[counts.indices]
        kept_before = np.concatenate([[0], np.cumsum(keep)])
        return sp.csr_matrix(
            (weight[keep].astype(np.float32), counts.indices[keep], kept_before[counts.indptr]), shape=counts.shape
        )

    def _recommend(self, user_idx: np.ndarray, k: int, options: RecommendOptions) -> tuple[np.ndarray, np.ndarray]:
        from recsys_cl.evaluation import topk_from_factors, topk_from_scorer
        assert self.encoded is not None
        seen = self.seen_items(options.exclude_seen)
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
                exclude=seen,
                device="cpu",
            )

        rows = np.flatnonzero(~fallback)
        for start in range(0, len(rows), _USERS_PER_BLOCK):
            block = rows[start : start + _USERS_PER_BLOCK]
            users = user_idx[block]
            items[block], scores[block] = topk_from_factors(
                self._profiles(users),
                self.unit_vectors,
                k,
                exclude=None if seen is None else seen[users],
                item_bias=self.no_vector_bias,
                device=self.config.device,
                progress=None if options.progress is None else _offset(options.progress, start, len(rows)),
            )
        return items, scores

    def _profiles(self, users: np.ndarray) -> np.ndarray:
        """L2-normalised weighted sums of the users' training item unit vectors, (len(users), d) float32."""
        profiles = np.asarray(self.weights[users] @ self.unit_vectors, dtype=np.float32)
        lengths = np.linalg.norm(profiles, axis=1, keepdims=True)
        return np.divide(profiles, lengths, out=np.zeros_like(profiles), where=lengths > 0)


def _offset(progress: Callable[[int, int], None], done_before: int, total: int) -> Callable[[int, int], None]:
    """Report one top-K call's progress (users done in the call) as progress over all ``total`` users."""
    return lambda done, _: progress(done_before + done, total)
