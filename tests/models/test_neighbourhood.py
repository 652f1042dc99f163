"""ItemKNN (every similarity and weighting) and RP3beta: the shared contract, each similarity against its
formula written densely in numpy, the weightings and the default against implicit's own implementation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cl.data import EncodedSplit, loo
from recsys_cl.models import create
from recsys_cl.models._neighbourhood import _weighted, sparse_top_k_rows

from recsys_cl.testing import ModelTests


class TestItemKNN(ModelTests):
    model_name = "itemknn"
    params = {"neighbours": 20}


class TestItemKNNJaccardBM25(ModelTests):
    model_name = "itemknn"
    params = {"neighbours": 20, "similarity": "jaccard", "weighting": "bm25", "shrink": 2.0}


class TestItemKNNAsymmetricTFIDFByTarget(ModelTests):
    model_name = "itemknn"
    params = {"neighbours": 20, "similarity": "asymmetric-cosine", "asymmetric_alpha": 0.3, "weighting": "tf-idf",
              "keep_neighbours_of": "target"}  # fmt: skip


class TestRP3beta(ModelTests):
    model_name = "rp3beta"
    params = {"neighbours": 20}


class TestRP3betaNormalized(ModelTests):
    model_name = "rp3beta"
    params = {"neighbours": 20, "alpha": 0.7, "beta": 0.3, "normalize": True}


@pytest.fixture(scope="module")
def random_split() -> EncodedSplit:
    """30 users buying 4 of 9 items at random (repeat rows included): many distinct similarity values."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(30):
        for j, i in enumerate(rng.choice(9, size=4, replace=False)):
            rows.append((f"u{u:02d}", f"i{i}", float(j)))
        rows.append((f"u{u:02d}", rows[-4][1], 0.5))  # a repeat purchase: must count once
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")
    return EncodedSplit.from_split(loo(frame))


def _dense_weighted(x: np.ndarray, weighting: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """The weightings written out over the dense (user x item) 0/1 matrix (items documents, users terms)."""
    if weighting == "none":
        return x
    idf = np.log(x.shape[1] / (1.0 + x.sum(axis=1, keepdims=True)))
    if weighting == "tf-idf":
        return np.sqrt(x) * idf
    length = x.sum(axis=0, keepdims=True)
    return x * (k1 + 1) / (k1 * ((1 - b) + b * length / length.mean()) + x) * idf


def _dense_similarity(x: np.ndarray, similarity: str, shrink: float, alpha: float = 0.5) -> np.ndarray:
    co = x.T @ x
    sq = np.diag(co)
    if similarity == "cosine":
        den = np.sqrt(np.outer(sq, sq)) + shrink
    elif similarity == "asymmetric-cosine":
        den = np.outer(sq**alpha, sq ** (1 - alpha)) + shrink
    else:
        den = sq[:, None] + sq[None, :] - co + shrink
    sim = co / den
    np.fill_diagonal(sim, 0.0)
    return sim


@pytest.mark.parametrize(
    "params",
    [
        {"similarity": "cosine"},
        {"similarity": "cosine", "shrink": 3.0, "weighting": "tf-idf"},
        {"similarity": "asymmetric-cosine", "asymmetric_alpha": 0.2, "shrink": 1.0},
        {"similarity": "asymmetric-cosine", "asymmetric_alpha": 0.9, "weighting": "bm25"},
        {"similarity": "jaccard"},
        {"similarity": "jaccard", "shrink": 5.0, "weighting": "bm25", "bm25_k1": 2.0, "bm25_b": 0.5},
    ],
)
def test_itemknn_similarity_is_its_formula(random_split: EncodedSplit, params: dict) -> None:
    model = create("itemknn", neighbours=50, **params).fit(random_split)
    x = (random_split.train.toarray() > 0).astype(float)
    weighted = _dense_weighted(x, params.get("weighting", "none"), params.get("bm25_k1", 1.2), params.get("bm25_b", 0.75))
    expected = _dense_similarity(weighted, params["similarity"], params.get("shrink", 0.0), params.get("asymmetric_alpha", 0.5))
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model._score(np.arange(random_split.n_users)), x @ expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("similarity", ["cosine", "asymmetric-cosine"])
def test_pruning_by_source_keeps_rows_by_target_keeps_columns(random_split: EncodedSplit, similarity: str) -> None:
    alpha = 0.2 if similarity == "asymmetric-cosine" else 0.5
    full = create("itemknn", neighbours=50, similarity=similarity, asymmetric_alpha=alpha).fit(random_split).similarity.toarray()
    assert not np.allclose(full, full.T) or similarity == "cosine"
    for mode, kept_of in (("source", full), ("target", full.T)):
        pruned = create("itemknn", neighbours=3, similarity=similarity, asymmetric_alpha=alpha, keep_neighbours_of=mode)
        pruned = pruned.fit(random_split).similarity.toarray()
        kept = pruned if mode == "source" else pruned.T
        np.testing.assert_allclose(kept[kept > 0], kept_of[kept > 0], rtol=1e-5)
        for row, values in zip(kept, kept_of):
            assert set(np.flatnonzero(row)) == set(np.argsort(-values, kind="stable")[:3])


def test_weightings_match_implicits(random_split: EncodedSplit) -> None:
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    binary = random_split.train.copy().astype(np.float64)
    binary.sum_duplicates()
    binary.data[:] = 1.0
    np.testing.assert_allclose(_weighted(binary, "tf-idf", 1.2, 0.75).toarray(), tfidf_weight(binary.T).T.toarray(), rtol=1e-6)
    np.testing.assert_allclose(_weighted(binary, "bm25", 1.5, 0.6).toarray(), bm25_weight(binary.T, K1=1.5, B=0.6).T.toarray(), rtol=1e-6)


@pytest.mark.parametrize("weighting", ["none", "tf-idf"])
def test_cosine_matches_implicits_recommenders(random_split: EncodedSplit, weighting: str) -> None:
    """The default (the model implicit's CosineRecommender was) and TF-IDF cosine (its TFIDFRecommender),
    with every neighbour kept so the choice among ties cannot differ."""
    import warnings

    from implicit.nearest_neighbours import CosineRecommender, TFIDFRecommender

    binary = random_split.train.copy().astype(np.float32)
    binary.data[:] = 1.0
    reference = (CosineRecommender if weighting == "none" else TFIDFRecommender)(K=random_split.n_items, num_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(sp.csr_matrix(binary), show_progress=False)
    expected = reference.similarity.toarray()
    np.fill_diagonal(expected, 0.0)
    ours = create("itemknn", neighbours=random_split.n_items, weighting=weighting).fit(random_split)
    np.testing.assert_allclose(ours.similarity.toarray(), expected, rtol=1e-5, atol=1e-6)


def test_bm25_equals_tfidf_under_cosine_on_binary_data(random_split: EncodedSplit) -> None:
    """On 0/1 data BM25 scales each item's vector by one factor (its length norm) times TF-IDF's, which
    cosine divides out: the two weightings differ only under jaccard and asymmetric cosine."""
    tfidf = create("itemknn", weighting="tf-idf").fit(random_split).similarity.toarray()
    bm25 = create("itemknn", weighting="bm25").fit(random_split).similarity.toarray()
    np.testing.assert_allclose(tfidf, bm25, rtol=1e-5)
    jaccard = [create("itemknn", similarity="jaccard", weighting=w).fit(random_split).similarity.toarray() for w in ("tf-idf", "bm25")]
    assert not np.allclose(*jaccard)


def test_top_k_keeps_the_largest_off_diagonal_positive_values_ties_to_the_lower_index() -> None:
    values = np.array(
        [
            [9.0, 1.0, 2.0, 2.0, 2.0, 0.0],  # the diagonal (9) is dropped; three tie at 2: lower indices first
            [3.0, 5.0, 0.0, -1.0, 0.0, 0.0],  # only one positive off-diagonal value: fewer than k kept
            [1.0, 1.0, 0.0, 1.0, 4.0, 1.0],
        ]
    )
    n = values.shape[1]
    full = np.vstack([values, np.zeros((n - len(values), n))])
    kept = sparse_top_k_rows(lambda rows: full[rows].copy(), n, 2).toarray()
    assert kept[0].tolist() == [0, 0, 2, 2, 0, 0]
    assert kept[1].tolist() == [3, 0, 0, 0, 0, 0]
    assert kept[2].tolist() == [1, 0, 0, 0, 4, 0]
    assert not kept[3:].any()


def test_rp3beta_is_its_formula(random_split: EncodedSplit) -> None:
    """Paudel et al.'s RP3beta written densely: P_ui (row-stochastic user -> item), P_iu (item -> user),
    both to the power alpha, W = P_iu P_ui / pop^beta, diagonal dropped, rows rescaled to sum 1."""
    alpha, beta = 0.8, 0.4
    model = create("rp3beta", neighbours=50, alpha=alpha, beta=beta, normalize=True).fit(random_split)
    x = (random_split.train.toarray() > 0).astype(float)
    p_ui = (x / x.sum(axis=1, keepdims=True)) ** alpha
    p_iu = (x.T / x.T.sum(axis=1, keepdims=True)) ** alpha
    w = (p_iu @ p_ui) / x.sum(axis=0)[None, :] ** beta
    np.fill_diagonal(w, 0.0)
    w /= w.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.similarity.toarray(), w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model._score(np.arange(random_split.n_users)), x @ w, rtol=1e-5, atol=1e-6)


def test_rp3beta_prunes_to_its_neighbours(random_split: EncodedSplit) -> None:
    model = create("rp3beta", neighbours=3).fit(random_split)
    full = create("rp3beta", neighbours=50).fit(random_split).similarity.toarray()
    assert (model.similarity.getnnz(axis=1) <= 3).all()
    for row, kept in zip(full, model.similarity.toarray()):
        assert set(np.flatnonzero(kept)) == set(np.argsort(-row, kind="stable")[:3])
