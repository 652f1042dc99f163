"""Embedding quality: paper 001's positive/negative cosine-distance gap (and collapse detection),
paper 000's triplet accuracy per level, and attribute-relevance retrieval (Recall@K, nDCG@K, and
paper 003's Recall_subset@K within the query's own category)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from recsys_cl.embeddings._mining import LEVELS, Triplets, _normalise
from recsys_cl.embeddings._records import Collapse, DistanceGap


def cosine_distances(vectors: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(m,) cosine distance 1 - cos(u, v) for each row (u, v) of ``pairs`` (m, 2)."""
    unit = _normalise(vectors)
    return 1.0 - np.einsum("ij,ij->i", unit[pairs[:, 0]], unit[pairs[:, 1]])


def distance_gap(vectors: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> DistanceGap:
    """Mean cosine distance of positive and of negative pairs, and the gap (negative - positive)."""
    pos = float(cosine_distances(vectors, positive).mean()) if len(positive) else float("nan")
    neg = float(cosine_distances(vectors, negative).mean()) if len(negative) else float("nan")
    return DistanceGap(pos, neg, neg - pos, len(positive), len(negative))


def detect_collapse(after: DistanceGap, before: DistanceGap | None = None, *,
                    min_gap: float = 0.02, near: float = 0.1) -> Collapse:
    """Flag a collapsed embedding from held-out pair distances.

    Paper 001's co-purchase learner collapsed with positive and negative distances both drifting
    to 1 (everything orthogonal); the other failure is everything mapped to one point (both -> 0).
    Either way the gap is below ``min_gap``. ``gap_shrunk`` separately says training lost separation.
    """
    pos, neg, gap = after.positive, after.negative, after.gap
    kind = None
    if gap < min_gap and abs(pos - 1) < near and abs(neg - 1) < near:
        kind = "orthogonal (positive and negative distances both near 1)"
    elif gap < min_gap and pos < near and neg < near:
        kind = "point (positive and negative distances both near 0)"
    elif gap < min_gap:
        kind = "no separation (gap below threshold)"
    if before is None:
        return Collapse(kind is not None, kind, min_gap)
    return Collapse(kind is not None, kind, min_gap, gap_before=before.gap, gap_after=gap, gap_shrunk=bool(gap < before.gap))


def triplet_accuracy(vectors: np.ndarray, triplets: Triplets) -> dict[str, float | int]:
    """Share of triplets with d(anchor, positive) < d(anchor, negative), per level and overall."""
    if not len(triplets):
        return {}
    unit = _normalise(vectors)
    d_pos = np.linalg.norm(unit[triplets.anchor] - unit[triplets.positive], axis=1)
    d_neg = np.linalg.norm(unit[triplets.anchor] - unit[triplets.negative], axis=1)
    correct = d_pos < d_neg
    out: dict[str, float | int] = {"all": float(correct.mean()), "n": len(triplets)}
    for level in LEVELS:
        chosen = triplets.level == level
        if chosen.any():
            out[level] = float(correct[chosen].mean())
            out[f"n_{level}"] = int(chosen.sum())
    return out


def retrieval_metrics(
    queries: np.ndarray,
    items: np.ndarray,
    query_keys: Sequence[str],
    item_keys: Sequence[str],
    *,
    query_rows: np.ndarray | None = None,
    query_category: Sequence[str] | None = None,
    item_category: Sequence[str] | None = None,
    ks: Sequence[int] = (5, 10),
) -> dict[str, float]:
    """Recall@K and nDCG@K of cosine retrieval (ranx), relevant = same key (e.g. articleType|baseColour|gender).

    ``query_rows`` (q,) says which item each query is (excluded from its own ranking: item→item);
    with categories, also Recall_subset@K: ranking only among items of the query's category (paper 003).
    Queries with no relevant item are skipped (counted in ``n_queries``).
    """
    from ranx import Qrels, Run

    q_unit, i_unit = _normalise(queries), _normalise(items)
    item_keys = np.asarray(item_keys, dtype=str)
    depth = max(ks)
    scores = q_unit @ i_unit.T
    if query_rows is not None:
        scores[np.arange(len(queries)), query_rows] = -np.inf
    qrels, run, run_subset = {}, {}, {}
    item_cat = np.asarray(item_category, dtype=str) if item_category is not None else None
    for q in range(len(queries)):
        relevant = np.flatnonzero(item_keys == query_keys[q])
        if query_rows is not None:
            relevant = relevant[relevant != query_rows[q]]
        if not len(relevant):
            continue
        qid = f"q{q}"
        qrels[qid] = {f"d{j}": 1 for j in relevant.tolist()}
        row = scores[q]
        top = np.argsort(-row, kind="stable")[:depth]
        run[qid] = {f"d{j}": float(depth - r) for r, j in enumerate(top.tolist())}  # rank-based scores: ties fixed
        if item_cat is not None and query_category is not None:
            masked = np.where(item_cat == query_category[q], row, -np.inf)
            top = [j for j in np.argsort(-masked, kind="stable")[:depth].tolist() if np.isfinite(masked[j])]
            run_subset[qid] = {f"d{j}": float(depth - r) for r, j in enumerate(top)} or {"none": 0.0}
    out: dict[str, float] = {"n_queries": len(qrels)}
    if not qrels:
        return out
    metrics = [f"recall@{k}" for k in ks] + [f"ndcg@{k}" for k in ks]
    out.update(_evaluate(Qrels(qrels), Run(run), metrics))
    if run_subset:
        subset = _evaluate(Qrels(qrels), Run(run_subset), [f"recall@{k}" for k in ks])
        out.update({m.replace("recall", "recall_subset"): v for m, v in subset.items()})
    return out


def _evaluate(qrels, run, metrics: list[str]) -> dict[str, float]:
    """ranx.evaluate, always as a dict (ranx returns a bare float for a single metric)."""
    import warnings

    from ranx import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's uint64->int64 cast notice inside ranx
        result = evaluate(qrels, run, metrics)
    return {m: float(v) for m, v in result.items()} if isinstance(result, dict) else {metrics[0]: float(result)}
