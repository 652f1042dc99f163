"""Item-neighbourhood models: ItemKNN (with the similarity and weighting options of Dacrema et al. 2019) and
RP3beta (Paudel et al. 2017). Both learn a sparse item x item matrix ``W`` and score
``score(u, j) = sum over the user's training items i of W[i, j]``.

``W`` is built a block of rows at a time (:func:`sparse_top_k_rows`): the block's dense row of every item is
computed, the item itself is dropped and only the ``neighbours`` largest positive entries are kept, ties to the
lower item index. Memory is one dense block (``block_rows x n_items``) at a time, not ``n_items x n_items``.
Hand-written (numpy / scipy) because implicit's ItemItemRecommender has cosine, TF-IDF and BM25 but neither
shrinkage, asymmetric cosine, Jaccard nor RP3beta, and its neighbour choice among tied similarities is its own.
"""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.models._base import FitOptions, ModelConfig, Recommender, register
from recsys_cl.progress import StepProgress

#: dense block of the similarity built at once: block_rows x n_items float64 values (~64 MB)
BLOCK_VALUES = 1 << 23


def binarised(train: sp.csr_matrix) -> sp.csr_matrix:
    """The (user x item) training matrix with every stored interaction set to 1 (buyers, not repeat counts)."""
    binary = sp.csr_matrix(train, dtype=np.float64, copy=True)
    binary.sum_duplicates()
    binary.data[:] = 1.0
    binary.eliminate_zeros()
    return binary


def sparse_top_k_rows(
    dense_rows: Callable[[np.ndarray], np.ndarray], n_items: int, k: int, progress: StepProgress | None = None
) -> sp.csr_matrix:
    """(n_items x n_items) CSR keeping, in each row ``i`` of ``dense_rows(rows) -> (len(rows), n_items)``,
    the ``k`` largest positive entries off the diagonal (ties: lower column index first)."""
    block = max(1, BLOCK_VALUES // max(n_items, 1))
    indptr, indices, data = [0], [], []
    for start in range(0, n_items, block):
        rows = np.arange(start, min(start + block, n_items))
        values = np.asarray(dense_rows(rows), dtype=np.float64)
        values[np.arange(len(rows)), rows] = 0.0  # an item is not its own neighbour
        keep = values > 0
        if k < n_items:
            keep &= _top_k_mask(values, k)
        r, c = np.nonzero(keep)  # row-major: columns ascending within each row
        counts = np.bincount(r, minlength=len(rows))
        indptr.extend((indptr[-1] + np.cumsum(counts)).tolist())
        indices.append(c)
        data.append(values[r, c])
        if progress is not None:
            progress(rows[-1] + 1, n_items)
    matrix = sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.asarray(indptr)), shape=(n_items, n_items), dtype=np.float32
    )
    return matrix


def _top_k_mask(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, True at the ``k`` largest values; among values equal to the k-th largest, the lowest columns."""
    kth = -np.partition(-values, k - 1, axis=1)[:, k - 1 : k]
    above = values > kth
    tied = values == kth
    room = k - above.sum(axis=1, keepdims=True)
    return above | (tied & (np.cumsum(tied, axis=1) <= room))


# ---------------------------------------------------------------------------------------------- ItemKNN
Similarity = Literal["cosine", "asymmetric-cosine", "jaccard"]
Weighting = Literal["none", "tf-idf", "bm25"]


class ItemKNNConfig(ModelConfig):
    neighbours: int = Field(100, ge=1, description="most similar items kept per item")
    similarity: Similarity = Field("cosine", description="cosine, asymmetric-cosine (Aiolli 2013) or jaccard (Tanimoto)")
    shrink: float = Field(0.0, ge=0, description="added to every similarity's denominator: damps pairs with few co-buyers")
    asymmetric_alpha: float = Field(
        0.5, ge=0, le=1, description="asymmetric-cosine: exponent of the source item's norm (0.5 = cosine); other similarities ignore it"
    )
    keep_neighbours_of: Literal["source", "target"] = Field(
        "source",
        description="source: each item keeps its most similar items as items it recommends (implicit); target: each "
        "item keeps the items most similar to it as the ones that vote for it (RecBole, Dacrema et al.)",
    )
    weighting: Weighting = Field("none", description="weight the item x user matrix first: tf-idf or bm25 (users as terms)")
    bm25_k1: float = Field(1.2, gt=0, description="bm25 weighting: saturation")
    bm25_b: float = Field(0.75, gt=0, lt=1, description="bm25 weighting: length normalisation by item popularity")
    num_threads: int = Field(2, ge=0, description="kept for configs written for the implicit-based version; unused")


@register("itemknn")
class ItemKNN(Recommender):
    """Item-item similarity on the binarised train matrix, top ``neighbours`` per item (Sarwar et al. 2001;
    options as in Dacrema et al.'s ItemKNNCF).

    With ``x_i`` item i's column of the (optionally TF-IDF / BM25 weighted) user x item matrix and ``c_ij =
    x_i . x_j``: cosine ``c_ij / (|x_i| |x_j| + shrink)``; asymmetric cosine ``c_ij / (|x_i|^(2a) |x_j|^(2(1-a))
    + shrink)`` (a = ``asymmetric_alpha``; i is the user's item, j the candidate); jaccard (Tanimoto) ``c_ij /
    (|x_i|^2 + |x_j|^2 - c_ij + shrink)``, the share of co-buyers on binary data. Weighting treats items as
    documents and users as terms: ``idf(u) = log(n_items / (1 + items of u))`` down-weights users who buy
    everything; TF-IDF multiplies by it, BM25 also saturates and normalises by item popularity (``bm25_k1``,
    ``bm25_b``). score(u, j) = sum of W[i, j] over the user's training items i (the 0/1 profile, as implicit
    scores; Dacrema et al. score with the weighted profile).

    Pruning: ``keep_neighbours_of: source`` keeps each row's ``neighbours`` largest W[i, :] (implicit's
    ItemItemRecommender: an item recommends its nearest items), ``target`` each column's W[:, j] (RecBole's
    ItemKNN and Dacrema et al.'s: an item is scored from its nearest items among the user's). The default
    (cosine, no shrink, no weighting, source) is implicit's CosineRecommender, which this model wrapped before;
    on MovieLens-100K loo ``target`` scores higher (nDCG@10 0.061 vs 0.051, docs/baselines.md).
    """

    Config = ItemKNNConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        c = self.config
        binary = binarised(split.train)
        weighted = _weighted(binary, c.weighting, c.bm25_k1, c.bm25_b)
        items_by_user = sp.csr_matrix(weighted.T)
        squared = np.asarray(weighted.multiply(weighted).sum(axis=0)).ravel()
        if c.similarity == "cosine":
            source, target = np.sqrt(squared), np.sqrt(squared)
        elif c.similarity == "asymmetric-cosine":
            source, target = squared**c.asymmetric_alpha, squared ** (1.0 - c.asymmetric_alpha)

        by_target = c.keep_neighbours_of == "target"

        def dense_rows(rows: np.ndarray) -> np.ndarray:
            """Rows ``rows`` of W (by source), or of W transposed (by target: row j holds W[:, j])."""
            co = (items_by_user[rows] @ weighted).toarray()
            if c.similarity == "jaccard":
                denominator = squared[rows, None] + squared[None, :] - co + c.shrink
            elif by_target:
                denominator = target[rows, None] * source[None, :] + c.shrink
            else:
                denominator = source[rows, None] * target[None, :] + c.shrink
            return np.divide(co, denominator, out=np.zeros_like(co), where=denominator > 0)

        similarity = sparse_top_k_rows(dense_rows, split.n_items, c.neighbours, options.progress)
        self.similarity = sp.csr_matrix(similarity.T) if by_target else similarity
        self.user_items = sp.csr_matrix(binary, dtype=np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return (self.user_items[user_idx] @ self.similarity).toarray()


def _weighted(binary: sp.csr_matrix, weighting: str, k1: float, b: float) -> sp.csr_matrix:
    """``binary`` (user x item) with each entry weighted as a term (user) of a document (item): Dacrema et
    al.'s ``TF_IDF`` / ``okapi_BM_25`` applied to the item x user matrix (implicit's tfidf / bm25 weights)."""
    if weighting == "none":
        return binary
    n_items = binary.shape[1]
    coo = binary.tocoo()
    idf = np.log(n_items / (1.0 + np.bincount(coo.row, minlength=binary.shape[0])))
    if weighting == "tf-idf":
        values = np.sqrt(coo.data) * idf[coo.row]
    else:
        length = np.bincount(coo.col, weights=coo.data, minlength=n_items)
        length_norm = (1.0 - b) + b * length / length.mean()
        values = coo.data * (k1 + 1.0) / (k1 * length_norm[coo.col] + coo.data) * idf[coo.row]
    return sp.csr_matrix((values, (coo.row, coo.col)), shape=binary.shape)


# ---------------------------------------------------------------------------------------------- RP3beta
class RP3betaConfig(ModelConfig):
    neighbours: int = Field(100, ge=1, description="largest transition probabilities kept per item")
    alpha: float = Field(1.0, ge=0, description="exponent of the transition probabilities (1 = the random walk's own)")
    beta: float = Field(0.6, ge=0, description="divide by the target item's popularity to this power (0 = P3alpha)")
    normalize: bool = Field(False, description="rescale each item's kept row to sum to 1")


@register("rp3beta")
class RP3beta(Recommender):
    """RP3beta (Paudel et al. 2017, as in Dacrema et al.'s RP3betaRecommender): a 3-step random walk user ->
    item -> user -> item on the bipartite purchase graph, re-ranked by popularity.

    ``P_ui``: each user's row of the binarised train matrix divided by their item count; ``P_iu``: each item's
    column divided by its buyer count; both raised element-wise to ``alpha``. ``W[i, j] = (P_iu P_ui)[i, j] /
    pop(j)^beta``, its diagonal dropped, the top ``neighbours`` of each row kept (optionally rescaled to sum 1).
    score(u, j) = sum of W[i, j] over the user's training items i.
    """

    Config = RP3betaConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        c = self.config
        binary = binarised(split.train)
        user_degree = np.asarray(binary.sum(axis=1)).ravel()
        item_degree = np.asarray(binary.sum(axis=0)).ravel()
        user_to_item = sp.diags(_inverse(user_degree)) @ binary
        item_to_user = sp.csr_matrix((sp.diags(_inverse(item_degree)) @ binary.T))
        if c.alpha != 1.0:
            user_to_item = user_to_item.power(c.alpha)
            item_to_user = item_to_user.power(c.alpha)
        user_to_item = sp.csr_matrix(user_to_item)
        popularity_penalty = np.zeros_like(item_degree)
        popularity_penalty[item_degree > 0] = item_degree[item_degree > 0] ** -c.beta

        def dense_rows(rows: np.ndarray) -> np.ndarray:
            return (item_to_user[rows] @ user_to_item).toarray() * popularity_penalty[None, :]

        similarity = sparse_top_k_rows(dense_rows, split.n_items, c.neighbours, options.progress)
        if c.normalize:
            similarity = sp.csr_matrix(sp.diags(_inverse(np.asarray(similarity.sum(axis=1)).ravel())) @ similarity)
        self.similarity = sp.csr_matrix(similarity, dtype=np.float32)
        self.user_items = sp.csr_matrix(binary, dtype=np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return (self.user_items[user_idx] @ self.similarity).toarray()


def _inverse(values: np.ndarray) -> np.ndarray:
    """1 / values, 0 where a value is 0 (users or items without interactions)."""
    out = np.zeros(len(values), dtype=np.float64)
    np.divide(1.0, values, out=out, where=values > 0)
    return out
