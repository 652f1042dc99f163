"""Modalities aligned to a split, and the sparse top-k item-item graphs built from them."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from recsys_cl.embeddings._io import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models._modalities import (
    aligned_modalities,
    item_knn_graph,
    symmetric_normalised,
)

ITEMS = np.array(["a", "b", "c", "d"])


def embeddings(ids: list[str], vectors: list[list[float]], method: str = "text") -> ItemEmbeddings:
    return ItemEmbeddings(np.array(ids), np.array(vectors, dtype=np.float32), method)


def test_one_embedding_is_one_modality_named_by_its_method() -> None:
    [modality] = aligned_modalities(ITEMS, embeddings(["b", "a", "c", "d"], [[2, 0], [1, 0], [0, 3], [4, 4]]), "m", "x")
    assert modality.name == "text"
    np.testing.assert_array_equal(modality.vectors, [[1, 0], [2, 0], [0, 3], [4, 4]])  # in the split's item order
    assert modality.mask.all() and modality.missing == 0


def test_a_mapping_gives_one_modality_per_name_in_order() -> None:
    text = embeddings(list(ITEMS), [[1, 0]] * 4)
    image = embeddings(list(ITEMS), [[0, 1, 2]] * 4, "efficientnet")
    modalities = aligned_modalities(ITEMS, {"image": image, "text": text}, "m", "x")
    assert [(m.name, m.dim) for m in modalities] == [("image", 3), ("text", 2)]


def test_missing_items_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    # "c" has no vector and "d" a zero vector (no direction): both count as missing
    partial = embeddings(["a", "b", "d", "zz"], [[1, 0], [0, 1], [0, 0], [5, 5]])
    with caplog.at_level(logging.WARNING, logger="recsys_cl.models._modalities"):
        [modality] = aligned_modalities(ITEMS, {"text": partial}, "freedom", "are left out of its graph")
    assert modality.mask.tolist() == [True, True, False, False]
    assert modality.coverage() == {"dim": 2, "items": 4, "missing": 2}
    [record] = caplog.records
    assert "freedom: modality 'text' has no vector for 2 of 4 items (50.0%); they are left out of its graph" in record.getMessage()


@pytest.mark.parametrize(
    "given,message",
    [
        (None, "needs item embeddings"),
        ({}, "no modality given"),
        (np.zeros((4, 2)), "must be ItemEmbeddings or a mapping"),
        ({"text": np.zeros((4, 2))}, "modality 'text' is not an ItemEmbeddings"),
        ({"": embeddings(list(ITEMS), [[1.0]] * 4)}, "non-empty strings"),
        ({"image": embeddings(["x", "y"], [[1.0], [2.0]], "clip")}, "modality 'image' \\(clip\\) has a vector for none of the 4 items"),
        ({"text": embeddings(list(ITEMS), [[1.0], [np.nan], [1.0], [1.0]])}, "non-finite"),
    ],
)
def test_bad_modalities_are_one_line_errors(given: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        aligned_modalities(ITEMS, given, "bm3", "x")


def test_knn_graph_by_hand() -> None:
    # unit directions at 0, 10, 80, 90 degrees and one item without a vector
    angles = np.radians([0.0, 10.0, 80.0, 90.0, 0.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    vectors[1] *= 7.0  # length does not matter: cosine
    mask = np.array([True, True, True, True, False])
    graph = item_knn_graph(vectors, mask, k=2)
    rows = [sorted(graph.indices[graph.indptr[i] : graph.indptr[i + 1]].tolist()) for i in range(5)]
    assert rows == [[0, 1], [0, 1], [2, 3], [2, 3], []]  # itself and its nearest; item 4 nowhere
    assert (graph.data == 1).all()


def test_knn_graph_matches_brute_force_and_is_sparse() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    mask = rng.random(300) > 0.1
    graph = item_knn_graph(vectors, mask, k=5)
    assert graph.nnz == 5 * mask.sum()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    cosine[:, ~mask] = -np.inf
    for i in np.flatnonzero(mask):
        expected = set(np.argsort(-cosine[i], kind="stable")[:5].tolist())
        assert set(graph.indices[graph.indptr[i] : graph.indptr[i + 1]].tolist()) == expected
    assert graph[~mask].nnz == 0


def test_symmetric_normalisation() -> None:
    rng = np.random.default_rng(0)
    graph = item_knn_graph(rng.normal(size=(20, 4)).astype(np.float32), np.ones(20, dtype=bool), k=4)
    normalised = symmetric_normalised(graph)
    # every row of a k-NN graph has k entries, so D^-1/2 A D^-1/2 puts 1/k on each edge
    np.testing.assert_allclose(normalised.data, 0.25)
    assert (normalised.indices == graph.indices).all()
    np.testing.assert_allclose(np.asarray(normalised.sum(axis=1)).ravel(), 1.0, rtol=1e-6)


def test_symmetric_normalisation_with_unequal_degrees_by_hand() -> None:
    import scipy.sparse as sp

    # A = [[1, 1], [1, 0]], row sums d = (2, 1): entry (i, j) becomes 1 / sqrt(d_i d_j)
    normalised = symmetric_normalised(sp.csr_matrix(np.array([[1, 1], [1, 0]], dtype=np.float32)))
    np.testing.assert_allclose(normalised.toarray(), [[0.5, 1 / np.sqrt(2)], [1 / np.sqrt(2), 0.0]], rtol=1e-6)
