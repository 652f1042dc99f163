"""Quality metrics: gap, collapse detection, triplet accuracy, retrieval, on hand-made vectors."""

from __future__ import annotations

import numpy as np

from recsys_cl.embeddings._mining import Triplets
from recsys_cl.embeddings._quality import detect_collapse, distance_gap, retrieval_metrics, triplet_accuracy


def _clusters(rng, n_clusters=5, per=20, dim=32, noise=0.1):
    centres = rng.standard_normal((n_clusters, dim))
    vectors = np.concatenate([c + noise * rng.standard_normal((per, dim)) for c in centres]).astype(np.float32)
    return vectors, np.repeat(np.arange(n_clusters), per)


def _pairs(rng, cluster, same: bool, m=200):
    out = []
    while len(out) < m:
        a, b = rng.integers(len(cluster), size=2)
        if a != b and (cluster[a] == cluster[b]) == same:
            out.append((a, b))
    return np.array(out)


def test_distance_gap_by_hand():
    v = np.array([[1, 0], [1, 0], [0, 1], [-1, 0]], dtype=np.float32)
    gap = distance_gap(v, np.array([[0, 1]]), np.array([[0, 2], [0, 3]]))
    assert gap.positive == 0.0 and abs(gap.negative - 1.5) < 1e-6 and abs(gap.gap - 1.5) < 1e-6
    assert (gap.n_positive, gap.n_negative) == (1, 2)


def test_collapse_fires_on_orthogonal_and_point_collapse_not_on_healthy():
    rng = np.random.default_rng(0)
    healthy, cluster = _clusters(rng)
    pos, neg = _pairs(rng, cluster, True), _pairs(rng, cluster, False)
    before = distance_gap(healthy, pos, neg)
    assert not detect_collapse(before).collapsed
    # paper 001's collapse: every item nearly orthogonal to every other (random high-dim vectors)
    orthogonal = rng.standard_normal((len(cluster), 2048)).astype(np.float32)
    report = detect_collapse(distance_gap(orthogonal, pos, neg), before)
    assert report.collapsed and report.kind.startswith("orthogonal") and report.gap_shrunk
    point = np.ones((len(cluster), 8), dtype=np.float32) + 1e-4 * rng.standard_normal((len(cluster), 8)).astype(np.float32)
    assert detect_collapse(distance_gap(point, pos, neg)).kind.startswith("point")


def test_triplet_accuracy_per_level():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [1, 0.05]], dtype=np.float32)
    triplets = Triplets(np.array([0, 0]), np.array([1, 2]), np.array([2, 3]), np.array(["easy", "hard"]))
    acc = triplet_accuracy(v, triplets)
    assert acc["easy"] == 1.0 and acc["hard"] == 0.0 and acc["all"] == 0.5 and acc["n"] == 2


def test_retrieval_recall_and_subset():
    # items 0,1 share key "x"; item 2 has key "x" too but sits far away; item 3 is close to 0 with key "y"
    items = np.array([[1, 0], [0.8, 0.6], [-1, 0], [0.99, 0.1]], dtype=np.float32)
    keys = ["x", "x", "x", "y"]
    category = ["c1", "c1", "c1", "c2"]
    q = np.array([0])
    out = retrieval_metrics(items[q], items, ["x"], keys, query_rows=q, query_category=["c1"],
                            item_category=category, ks=(1, 2))
    # ranking for item 0 (itself excluded): 3 (y), 1 (x), 2 (x)
    assert out["n_queries"] == 1
    assert out["recall@1"] == 0.0 and out["recall@2"] == 0.5
    # within its category item 3 is not a candidate: 1, 2
    assert out["recall_subset@1"] == 0.5 and out["recall_subset@2"] == 1.0
