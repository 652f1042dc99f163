"""Score a :class:`Rankings` against one part of a split: per-user values, summary, segments.

Who is evaluated: every user with at least one item in the evaluated part (``test`` by default).
Such a user without a list in the rankings scores 0 everywhere (an empty list). Lists of users
with nothing in the part are ignored. Lists are scored exactly as given (a model that recommends a
training item it should not have simply wastes that place), unless ``exclude_seen=True``: then each
user's training items are dropped from their list first and the rest move up (for lists made by
another tool; models exclude them themselves), and ``seen_dropped`` counts what was dropped.

Beside the metrics the summary holds what the evaluation mode means for the part (see ``_repeats``):
``repeat_share`` (share of its user-item pairs that repeat a training pair), ``ceiling_<metric>@k``
(the best score of lists that exclude training items) and ``seen_share@k`` (share of the listed places
holding a training item of the user).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import polars as pl

from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.errors import InputError
from recsys_cl.evaluation._metrics import (
    compute_metrics,
    hit_matrix,
    list_statistics,
    parse_ks,
    parse_metrics,
)
from recsys_cl.evaluation._rankings import Rankings, read_rankings
from recsys_cl.evaluation._repeats import (
    default_exclude_seen,
    drop_seen,
    exclusion_ceiling,
    repeat_share,
    seen_share,
)
from recsys_cl.evaluation._segments import (
    ITEM_SEGMENTS,
    SegmentConfig,
    item_popularity_labels,
    user_activity_codes,
)


@dataclasses.dataclass(frozen=True)
class SegmentScores:
    """Per-user values of one item-popularity segment: ``rows`` index :attr:`EvaluationResult.user_ids`."""

    rows: np.ndarray  # (m,) int64
    values: dict[str, np.ndarray]  # "ndcg@10" -> (m,) float64


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Scores of one rankings object on one split part; per-user values are kept for significance tests."""

    name: str
    part: str
    protocol: str
    metrics: list[str]
    ks: list[int]
    user_ids: np.ndarray  # (n,) str, evaluated users
    per_user: dict[str, np.ndarray]  # "ndcg@10" -> (n,) float64
    user_segment: np.ndarray  # (n,) str activity label
    item_segments: dict[str, SegmentScores]  # "cold" / "rare" / "warm"
    summary: dict[str, float]
    segments: dict[str, dict[str, dict[str, Any]]]
    config: dict[str, Any]

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def values(self, metric: str) -> np.ndarray:
        """Per-user values of ``metric`` (e.g. ``ndcg@10``), aligned with :attr:`user_ids`."""
        if metric not in self.per_user:
            raise InputError(f"{self.name}: no metric {metric!r}; have {', '.join(self.per_user)}")
        return self.per_user[metric]

    def to_frame(self, item_segments: bool = True) -> pl.DataFrame:
        """Long per-user table: ``user_id, metric, k, value, user_segment, scope``.

        ``scope`` is ``all`` for the plain evaluation and ``cold``/``rare``/``warm`` for the
        item-popularity segments (relevance restricted to that segment's test items).
        """
        frames = [self._long(np.arange(self.n_users), self.per_user, "all")]
        if item_segments:
            frames += [self._long(s.rows, s.values, label) for label, s in self.item_segments.items()]
        return pl.concat(frames)

    def _long(self, rows: np.ndarray, values: dict[str, np.ndarray], scope: str) -> pl.DataFrame:
        parts = []
        for key, v in values.items():
            metric, k = key.split("@")
            parts.append(
                pl.DataFrame(
                    {
                        "user_id": self.user_ids[rows],
                        "metric": np.full(len(rows), metric),
                        "k": np.full(len(rows), int(k), dtype=np.int32),
                        "value": v,
                        "user_segment": self.user_segment[rows],
                        "scope": np.full(len(rows), scope),
                    },
                    schema={"user_id": pl.Utf8, "metric": pl.Utf8, "k": pl.Int32, "value": pl.Float64,
                            "user_segment": pl.Utf8, "scope": pl.Utf8},
                )
            )
        if not parts:
            return pl.DataFrame(schema={"user_id": pl.Utf8, "metric": pl.Utf8, "k": pl.Int32, "value": pl.Float64,
                                        "user_segment": pl.Utf8, "scope": pl.Utf8})
        return pl.concat(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name, part, n_users, summary (``ndcg@10`` ...), segments, config. Empty segments hold None."""
        return {
            "name": self.name,
            "part": self.part,
            "protocol": self.protocol,
            "n_users": self.n_users,
            "summary": _json_floats(self.summary),
            "segments": _json_floats(self.segments),
            "config": self.config,
        }


def evaluate(
    rankings: Rankings,
    encoded: EncodedSplit,
    part: str = "test",
    metrics: Iterable[str] | None = None,
    ks: Iterable[int] = (10,),
    segments: SegmentConfig | None = None,
    name: str | None = None,
    exclude_seen: bool = False,
) -> EvaluationResult:
    """Score ``rankings`` against ``encoded.part(part)``; see the module docstring for who is counted
    and what ``exclude_seen`` does.

    Raises :class:`InputError` for an empty evaluated part, unknown user/item ids, a user listed
    twice, an item twice in one list, or a cutoff larger than the lists (K).
    """
    metric_names = parse_metrics(metrics)
    cutoffs = parse_ks(ks, rankings.k)
    segments = segments or SegmentConfig()
    name = name or rankings.name
    relevant_all = encoded.part(part).tocsr()
    relevant_all.sum_duplicates()  # a repeated (user, item) is one relevant item
    relevant_all.eliminate_zeros()
    eval_users = np.flatnonzero(np.diff(relevant_all.indptr) > 0)
    if eval_users.size == 0:
        raise InputError(f"the {part} part has no interactions: nothing to evaluate")

    items, user_rows = _align(rankings, encoded)
    train = encoded.train.tocsr()
    seen_dropped = 0
    if exclude_seen:
        items, seen_dropped = drop_seen(items, user_rows, train)
    row_of_user = np.full(encoded.n_users, -1, dtype=np.int64)
    row_of_user[user_rows] = np.arange(len(user_rows))
    rows = row_of_user[eval_users]
    lists = np.full((len(eval_users), rankings.k), -1, dtype=np.int64)
    has = rows >= 0
    lists[has] = items[rows[has]]

    relevant = relevant_all[eval_users]
    n_rel = np.diff(relevant.indptr)
    hits = hit_matrix(lists, relevant)
    per_user = compute_metrics(hits, n_rel, metric_names, cutoffs)

    train_counts = np.asarray(train.sum(axis=1)).ravel()
    popularity = np.asarray(train.sum(axis=0)).ravel()
    activity_code = user_activity_codes(train_counts[eval_users], segments)
    activity = np.asarray(segments.user_labels())[activity_code]
    item_label = item_popularity_labels(popularity, segments)

    summary: dict[str, float] = {"n_users": float(len(eval_users))}
    summary.update({key: float(v.mean()) for key, v in per_user.items()})
    summary["n_users_without_list"] = float((~has).sum())
    summary.update(
        list_statistics(lists, encoded.n_items, {"cold": item_label == "cold", "rare": item_label == "rare"}, cutoffs)
    )
    summary["seen_dropped"] = float(seen_dropped)
    summary.update(seen_share(lists, eval_users, train, cutoffs))
    summary["repeat_share"] = repeat_share(encoded, part)
    summary.update(exclusion_ceiling(encoded, metric_names, cutoffs, part))

    seg_summary: dict[str, dict[str, dict[str, Any]]] = {"user_activity": {}, "item_popularity": {}}
    for code, label in enumerate(segments.user_labels()):
        mask = activity_code == code
        seg_summary["user_activity"][label] = _segment_summary({k: v[mask] for k, v in per_user.items()})
    item_scores: dict[str, SegmentScores] = {}
    for label in ITEM_SEGMENTS:
        in_seg = item_label == label
        rel_seg = relevant.copy()
        rel_seg.data = rel_seg.data * in_seg[rel_seg.indices]
        rel_seg.eliminate_zeros()
        n_rel_seg = np.diff(rel_seg.indptr)
        seg_rows = np.flatnonzero(n_rel_seg > 0)
        if seg_rows.size:
            seg_hits = hits[seg_rows] & np.where(lists[seg_rows] >= 0, in_seg[np.maximum(lists[seg_rows], 0)], False)
            values = compute_metrics(seg_hits, n_rel_seg[seg_rows], metric_names, cutoffs)
        else:
            values = {key: np.zeros(0) for key in per_user}
        item_scores[label] = SegmentScores(seg_rows, values)
        seg_summary["item_popularity"][label] = _segment_summary(values)

    config = {
        "metrics": metric_names,
        "ks": cutoffs,
        "part": part,
        "segments": segments.model_dump(mode="json"),
        "rankings_k": rankings.k,
        "exclude_seen": exclude_seen,
    }
    return EvaluationResult(
        name=name,
        part=part,
        protocol=encoded.protocol,
        metrics=metric_names,
        ks=cutoffs,
        user_ids=encoded.user_ids[eval_users],
        per_user=per_user,
        user_segment=activity,
        item_segments=item_scores,
        summary=summary,
        segments=seg_summary,
        config=config,
    )


def evaluate_rankings_file(
    rankings_path: str | Path,
    data_dir: str | Path,
    part: str = "test",
    metrics: Iterable[str] | None = None,
    ks: Sequence[int] = (10, 12),
    protocol: str = "loo",
    segments: SegmentConfig | None = None,
    exclude_seen: bool | None = None,
) -> EvaluationResult:
    """Open the prepared dataset ``data_dir`` (``load_dataset``: its split files for ``protocol`` and its
    catalogue) and score the rankings file under the evaluation mode ``exclude_seen`` (None: the protocol's
    default, true for loo and cold-item, false for temporal): when true, training items in the given lists
    are dropped before scoring (``summary["seen_dropped"]``)."""
    from recsys_cl.data._dataset import load_dataset

    if exclude_seen is None:
        exclude_seen = default_exclude_seen(protocol)

    encoded = load_dataset(data_dir).encoded(protocol)
    rankings = read_rankings(rankings_path, encoded)
    return evaluate(rankings, encoded, part=part, metrics=metrics, ks=ks, segments=segments, exclude_seen=exclude_seen)


def _align(rankings: Rankings, encoded: EncodedSplit) -> tuple[np.ndarray, np.ndarray]:
    """Rankings' lists in the split's index space: (items (n, K) int64 with -1, user index (n,))."""
    if _same_vocab(rankings.user_ids, encoded.user_ids):
        users = rankings.users.astype(np.int64)
    else:
        users = encoded.user_index(rankings.user_ids[rankings.users])
    lists_per_user = np.bincount(users, minlength=encoded.n_users)
    if users.size and lists_per_user.max() > 1:
        raise InputError(
            f"rankings {rankings.name}: user {str(encoded.user_ids[np.argmax(lists_per_user)])!r} has more than one list"
        )
    items = rankings.items
    if items.size and (items.max() >= len(rankings.item_ids) or items.min() < -1):
        raise InputError(f"rankings {rankings.name}: item index outside its vocabulary of {len(rankings.item_ids)}")
    if not _same_vocab(rankings.item_ids, encoded.item_ids):
        used = np.unique(items[items >= 0])
        mapping = np.full(len(rankings.item_ids), -1, dtype=np.int64)
        mapping[used] = encoded.item_index(rankings.item_ids[used])
        items = np.where(items >= 0, mapping[np.maximum(items, 0)], -1)
    # duplicate items inside one list: sort each row, compare neighbours (padding excluded)
    ordered = np.sort(items, axis=1)
    dup = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if dup.any():
        r, j = np.argwhere(dup)[0]
        raise InputError(
            f"rankings {rankings.name}: item {str(encoded.item_ids[ordered[r, j]])!r} occurs twice in the list "
            f"of user {str(encoded.user_ids[users[r]])!r}"
        )
    return items, users


def _same_vocab(a: np.ndarray, b: np.ndarray) -> bool:
    return a is b or (len(a) == len(b) and bool(np.array_equal(a, b)))


def _segment_summary(values: dict[str, np.ndarray]) -> dict[str, Any]:
    """Means over a segment's users; an empty segment reports n_users=0 and None, never 0."""
    n = len(next(iter(values.values()))) if values else 0
    out: dict[str, Any] = {"n_users": n}
    out.update({key: (float(v.mean()) if n else None) for key, v in values.items()})
    return out


def _json_floats(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_floats(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
