"""Linear item-item models: EASE^R (Steck 2019) and SLIM ElasticNet (Ning & Karypis 2011).

Both learn an item x item weight matrix ``B`` from the binarised train matrix ``X`` and score ``X[u] @ B``.
EASE has a closed form (one dense inverse), SLIM one ElasticNet regression per item.
"""

from __future__ import annotations

import concurrent.futures
import os
import warnings

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models._base import UNKNOWN_SCORE, FitOptions, ModelConfig, Recommender, register
from recsys_cl.models._neighbourhood import binarised, sparse_top_k_rows

GB = 1e9
#: bytes per value of EASE's dense matrices (float32: the accuracy of the closed form does not need float64)
EASE_VALUE_BYTES = 4
#: EASE's peak memory in dense item x item matrices: the Gram matrix and LAPACK's inverse of it in place,
#: plus the sparse Gram it is built from; measured 1.44x one matrix on 8,000 random items, so 2 is a safe bound
EASE_PEAK_MATRICES = 2.0


def ease_bytes(n_items: int) -> float:
    """Peak bytes EASE needs for ``n_items`` items (see :data:`EASE_PEAK_MATRICES`)."""
    return EASE_PEAK_MATRICES * EASE_VALUE_BYTES * float(n_items) ** 2


def available_bytes() -> float:
    """Memory the system can give this process now without swapping (psutil's ``available``)."""
    import psutil

    return float(psutil.virtual_memory().available)


def ease_memory_refusal(n_fitted: int, n_items: int, max_items: int | None) -> str | None:
    """Why EASE over ``n_fitted`` of ``n_items`` items cannot be fitted here (its peak memory exceeds what is
    available; the message names both figures and the largest ``max_items`` that would fit), or None."""
    need, have = ease_bytes(n_fitted), available_bytes()
    if need <= have:
        return None
    fits = int(np.sqrt(have / (EASE_PEAK_MATRICES * EASE_VALUE_BYTES)))
    bounded = "" if max_items is None else f" (max_items: {max_items})"
    return (
        f"ease: {n_fitted:,} items{bounded} need a {n_fitted:,} x {n_fitted:,} float32 matrix "
        f"({EASE_VALUE_BYTES * n_fitted**2 / GB:.1f} GB) and about {need / GB:.1f} GB at peak; "
        f"{have / GB:.1f} GB is available. Set max_items: {fits:,} or less to fit EASE on the most-bought items "
        f"of the {n_items:,} (the rest ranked last)"
    )


class EASEConfig(ModelConfig):
    reg: float = Field(500.0, gt=0, description="L2 weight lambda added to the Gram matrix's diagonal")
    max_items: int | None = Field(
        None, ge=1, description="fit on the N most-bought items only (others ranked last); None: every item"
    )
    num_threads: int = Field(2, ge=0, description="BLAS / LAPACK threads for the inverse (0 = all cores)")


@register("ease")
class EASE(Recommender):
    """EASE^R (Steck, WWW 2019): ``B = argmin ||X - XB||^2 + reg ||B||^2`` with ``diag(B) = 0``, in closed form:
    ``P = (X^T X + reg I)^-1``, ``B = -P / diag(P)`` (column-wise), ``B_jj = 0``. score(u) = X[u] @ B.

    ``B`` is dense, n_items x n_items: H&M's 105,542 articles need a 44.6 GB float32 matrix and about twice
    that at peak. Before any work the fit refuses when the peak exceeds the memory available, naming both
    figures. ``max_items: N`` is the bounded variant: EASE over the N most-bought training items; purchases of
    the others are left out of every user's profile and those items are ranked after all N (never
    recommended while a top-K list can be filled from the N), i.e. popularity pre-filters the catalogue.
    """

    Config = EASEConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        from threadpoolctl import threadpool_limits

        binary = binarised(split.train)
        n_items = split.n_items
        buyers = np.asarray(binary.sum(axis=0)).ravel()
        if self.config.max_items is not None and self.config.max_items < n_items:
            kept = np.sort(np.argsort(-buyers, kind="stable")[: self.config.max_items])
        else:
            kept = np.arange(n_items)
        refusal = ease_memory_refusal(len(kept), n_items, self.config.max_items)
        if refusal:
            raise InputError(refusal)
        x = sp.csr_matrix(binary[:, kept], dtype=np.float32)
        threads = self.config.num_threads or os.cpu_count()
        with threadpool_limits(limits=threads):
            self.weights = ease_weights(x, self.config.reg)
        self.kept_items = kept
        self.user_items = x

    @classmethod
    def cannot_fit(cls, config: ModelConfig, n_users: int, n_items: int) -> str | None:
        assert isinstance(config, EASEConfig)
        fitted = n_items if config.max_items is None else min(config.max_items, n_items)
        return ease_memory_refusal(fitted, n_items, config.max_items)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        fitted = np.asarray(self.user_items[user_idx] @ self.weights)
        if len(self.kept_items) == self.encoded.n_items:  # type: ignore[union-attr]
            return fitted
        scores = np.full((len(user_idx), self.encoded.n_items), UNKNOWN_SCORE, dtype=np.float32)  # type: ignore[union-attr]
        scores[:, self.kept_items] = fitted
        return scores


def ease_weights(x: sp.csr_matrix, reg: float) -> np.ndarray:
    """EASE's ``B`` (float32, n_items x n_items) for the binary user x item matrix ``x``: the Gram matrix is
    inverted in place (LAPACK via scipy), so the peak holds one dense matrix plus the sparse Gram."""
    import scipy.linalg

    gram = (x.T @ x).astype(np.float32)
    dense = gram.toarray()
    del gram
    dense[np.diag_indices_from(dense)] += np.float32(reg)
    inverse = scipy.linalg.inv(dense, overwrite_a=True, check_finite=False)
    diagonal = np.diag(inverse).copy()
    inverse /= -diagonal[None, :]
    np.fill_diagonal(inverse, 0.0)
    return inverse


# ---------------------------------------------------------------------------------------------- SLIM
class SLIMConfig(ModelConfig):
    alpha: float = Field(1e-3, gt=0, description="ElasticNet's total regularisation weight (sklearn's alpha)")
    l1_ratio: float = Field(0.1, gt=0, le=1, description="share of alpha on the L1 term (the rest on L2)")
    neighbours: int = Field(100, ge=1, description="largest weights kept per item")
    max_iter: int = Field(100, ge=1, description="coordinate-descent sweeps per item")
    num_threads: int = Field(2, ge=0, description="items regressed in parallel (0 = all cores)")


@register("slim")
class SLIM(Recommender):
    """SLIM ElasticNet (Ning & Karypis 2011), as RecBole's SLIMElastic and Dacrema et al.'s
    SLIMElasticNetRecommender run it: for every item j, scikit-learn's ``ElasticNet(alpha, l1_ratio,
    positive=True, fit_intercept=False, selection="random")`` regresses X's column j on X with column j
    zeroed (so the item cannot predict itself); the coefficients form column j of ``W``, of which the
    ``neighbours`` largest are kept; score(u) = X[u] @ W.

    Why sklearn per item rather than a faster variant: it is the implementation both reference libraries use
    (so results compare), its coordinate descent on sparse X costs O(nnz of X) per sweep, and a variant on a
    precomputed dense Gram matrix measured no faster on MovieLens-100K (13 s vs 17 s estimated, busy) while
    needing the n_items x n_items matrix EASE needs. Items are split over ``num_threads`` threads (sklearn's
    coordinate descent releases the GIL), each with its own copy of X; the result does not depend on the
    thread count (each item's regression is seeded by ``seed``).
    """

    Config = SLIMConfig

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        binary = sp.csc_matrix(binarised(split.train))
        n_items = split.n_items
        threads = max(1, min(self.config.num_threads or os.cpu_count() or 1, n_items))
        chunks = np.array_split(np.arange(n_items), threads)
        columns: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # item j -> nonzero (sources, weights) of W[:, j]
        done = [0]

        def regress(items: np.ndarray) -> None:
            own = binary.copy()
            for j in items:
                coef = _slim_column(own, int(j), self.config)
                sources = np.flatnonzero(coef)
                columns[int(j)] = (sources, coef[sources])
                done[0] += 1
                if options.progress is not None and done[0] % 64 == 0:
                    options.progress(done[0], n_items)

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(regress, chunk) for chunk in chunks]:
                future.result()

        def target_rows(targets: np.ndarray) -> np.ndarray:
            dense = np.zeros((len(targets), n_items))
            for row, j in enumerate(targets):
                sources, values = columns[int(j)]
                dense[row, sources] = values
            return dense

        # as in Dacrema et al.: each item's regression keeps its ``neighbours`` largest weights (a column of W)
        self.similarity = sp.csr_matrix(sparse_top_k_rows(target_rows, n_items, self.config.neighbours).T)
        self.user_items = sp.csr_matrix(binary, dtype=np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return (self.user_items[user_idx] @ self.similarity).toarray()


def _slim_column(x: sp.csc_matrix, j: int, config: SLIMConfig) -> np.ndarray:
    """ElasticNet weights predicting item ``j``'s column of ``x`` from the other columns (``x`` is modified
    and restored: column j's values are zeroed during the fit)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet

    start, end = x.indptr[j], x.indptr[j + 1]
    target = np.zeros(x.shape[0])
    target[x.indices[start:end]] = x.data[start:end]
    if end == start:
        return np.zeros(x.shape[1])
    model = ElasticNet(
        alpha=config.alpha, l1_ratio=config.l1_ratio, positive=True, fit_intercept=False, copy_X=False,
        selection="random", max_iter=config.max_iter, tol=1e-4, random_state=config.seed,
    )  # fmt: skip
    saved = x.data[start:end].copy()
    x.data[start:end] = 0.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter bounds the cost, as in RecBole
            model.fit(x, target)
    finally:
        x.data[start:end] = saved
    return model.coef_.astype(np.float64)
