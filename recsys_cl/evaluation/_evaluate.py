"""Score a :class:`Rankings` against one part of a split: per-user values, summary, segments.

Who is evaluated: every user with at least one item in the evaluated part (``test`` by default).
Such a user without a list in the rankings scores 0 everywhere (an empty list). Lists of users
with nothing in the part are ignored. Lists are scored exactly as given (a model that recommends a
training item it should not have simply wastes that place), unless ``exclude_seen=True``: then each
user's training items are dropped from their list first and the rest move up (for lists made by
another tool; models exclude them themselves), and ``seen_dropped`` counts what was dropped.

Beside the metrics the summary holds what the evaluation mode means for the part (see ``_repeats``):
``repeat_share`` (share of its user-item pairs that repeat a training pair), ``ceiling_<metric>@k``
(the best score of lists that exclude training items) and ``seen_share@k`` (mean over users of the
share of their listed items that are their training items, i.e. repurchases).

Beyond-accuracy metrics (``_beyond``) describe the same lists: per user where they are defined (NaN
for a user without one, left out of means), run level for coverage and Gini; never per item segment.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import polars as pl

from recsys_cl.data import EncodedSplit
from recsys_cl.errors import InputError
from recsys_cl.evaluation._beyond import (
    BeyondAccuracyConfig,
    attribute_codes,
    check_attribute,
    exposure_statistics,
    per_user_beyond,
    self_information,
    tail_items,
    unit_vectors,
)
from recsys_cl.evaluation._metrics import (
    BEYOND_METRICS,
    METRICS,
    RUN_LEVEL_METRICS,
    compute_metrics,
    hit_matrix,
    parse_ks,
    parse_metrics,
)
from recsys_cl.evaluation._rankings import Rankings, read_rankings
from recsys_cl.evaluation._repeats import (
    default_exclude_seen,
    drop_seen,
    exclusion_ceiling,
    repeat_share,
)
from recsys_cl.evaluation._segments import (
    ITEM_SEGMENTS,
    SegmentConfig,
    item_popularity_labels,
    user_activity_codes,
)

if TYPE_CHECKING:
    from recsys_cl.embeddings import ItemEmbeddings


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
    *,
    item_table: pl.DataFrame | None = None,
    embeddings: ItemEmbeddings | None = None,
    beyond: BeyondAccuracyConfig | None = None,
) -> EvaluationResult:
    """Score ``rankings`` against ``encoded.part(part)``; see the module docstring for who is counted
    and what ``exclude_seen`` does.

    Beyond-accuracy metrics (``coverage``, ``gini``, ``novelty``, ... or ``beyond`` for all of them;
    definitions in ``recsys_cl.evaluation._beyond``) are computed from the same lists: ``diversity``
    needs ``beyond.diversity_attribute`` and an ``item_table`` with that column, ``embedding_diversity``
    needs ``embeddings``. Asked for by name without them, they raise :class:`InputError`; within
    ``beyond`` they are left out. ``coverage@k`` and the cold/rare shares are always in the summary.

    Raises :class:`InputError` for an empty evaluated part, unknown user/item ids, a user listed
    twice, an item twice in one list, or a cutoff larger than the lists (K).
    """
    beyond = beyond or BeyondAccuracyConfig()
    segments = segments or SegmentConfig()
    asked = _asked(metrics, ks, rankings.k, beyond, embeddings)
    # inputs are checked before any work, so a bad attribute or embedding file fails at once
    codes = attribute_codes(item_table, beyond.diversity_attribute, encoded.item_ids) if beyond.diversity_attribute is not None else None
    vectors = unit_vectors(embeddings, encoded.item_ids) if "embedding_diversity" in asked.beyond else None
    relevant, eval_users = _relevant(encoded, part)
    lists, has_list, seen_dropped = _lists(rankings, encoded, eval_users, exclude_seen)
    train = encoded.train.tocsr()
    popularity = np.asarray(train.sum(axis=0)).ravel()
    item_label = item_popularity_labels(popularity, segments)
    hits = hit_matrix(lists, relevant)
    per_user = _per_user(asked, hits, relevant, lists, eval_users, train, popularity, beyond, codes, vectors)
    summary = _summary(asked, per_user, lists, has_list, seen_dropped, eval_users, train, item_label, encoded, part)
    activity_code = user_activity_codes(np.asarray(train.sum(axis=1)).ravel()[eval_users], segments)
    item_scores = _item_segment_scores(asked, hits, relevant, lists, item_label)
    config = _config(asked, part, segments, rankings.k, exclude_seen, beyond, embeddings if vectors is not None else None)
    return EvaluationResult(
        name=name or rankings.name,
        part=part,
        protocol=encoded.protocol,
        metrics=asked.names,
        ks=asked.cutoffs,
        user_ids=encoded.user_ids[eval_users],
        per_user=per_user,
        user_segment=np.asarray(segments.user_labels())[activity_code],
        item_segments=item_scores,
        summary=summary,
        segments={"user_activity": _user_segment_summaries(per_user, activity_code, segments),
                  "item_popularity": {label: _segment_summary(s.values) for label, s in item_scores.items()}},  # fmt: skip
        config=config,
    )


# ---------------------------------------------------------------------------------------------- evaluate's steps
@dataclasses.dataclass(frozen=True)
class _Asked:
    """The metrics asked for, in the order asked, split by kind, and the cutoffs."""

    names: list[str]
    accuracy: list[str]
    beyond: list[str]
    cutoffs: list[int]


def _asked(metrics: Iterable[str] | None, ks: Iterable[int], rankings_k: int, beyond: BeyondAccuracyConfig,
           embeddings: ItemEmbeddings | None) -> _Asked:  # fmt: skip
    """The metric names and cutoffs, checked (beyond-accuracy metrics whose inputs are missing: an error when
    asked by name, left out within ``beyond``)."""
    unavailable: dict[str, str] = {}
    if beyond.diversity_attribute is None:
        unavailable["diversity"] = "needs an item attribute (diversity_attribute, CLI --diversity-attribute)"
    if embeddings is None:
        unavailable["embedding_diversity"] = "needs item embeddings (CLI --embeddings)"
    names = parse_metrics(metrics, unavailable)
    return _Asked(names, [m for m in names if m in METRICS], [m for m in names if m in BEYOND_METRICS], parse_ks(ks, rankings_k))


def _relevant(encoded: EncodedSplit, part: str) -> tuple[Any, np.ndarray]:
    """The evaluated users (those with an item in ``part``) and their relevant items (a CSR, one row each)."""
    relevant_all = encoded.part(part).tocsr()
    relevant_all.sum_duplicates()  # a repeated (user, item) is one relevant item
    relevant_all.eliminate_zeros()
    eval_users = np.flatnonzero(np.diff(relevant_all.indptr) > 0)
    if eval_users.size == 0:
        raise InputError(f"the {part} part has no interactions: nothing to evaluate")
    return relevant_all[eval_users], eval_users


def _lists(rankings: Rankings, encoded: EncodedSplit, eval_users: np.ndarray, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """One list per evaluated user (-1 padded; empty for a user the rankings leave out), whether each had
    one, and how many training items ``exclude_seen`` dropped."""
    items, user_rows = _align(rankings, encoded)
    seen_dropped = 0
    if exclude_seen:
        items, seen_dropped = drop_seen(items, user_rows, encoded.train.tocsr())
    row_of_user = np.full(encoded.n_users, -1, dtype=np.int64)
    row_of_user[user_rows] = np.arange(len(user_rows))
    rows = row_of_user[eval_users]
    lists = np.full((len(eval_users), rankings.k), -1, dtype=np.int64)
    has = rows >= 0
    lists[has] = items[rows[has]]
    return lists, has, seen_dropped


def _per_user(asked: _Asked, hits: np.ndarray, relevant: Any, lists: np.ndarray, eval_users: np.ndarray, train: Any,
              popularity: np.ndarray, beyond: BeyondAccuracyConfig, codes: Any, vectors: Any) -> dict[str, np.ndarray]:  # fmt: skip
    """Each user's value of every per-user metric at every cutoff, metric-major at each cutoff as asked."""
    per_user = compute_metrics(hits, np.diff(relevant.indptr), asked.accuracy, asked.cutoffs)
    per_user_names = [m for m in asked.beyond if m not in RUN_LEVEL_METRICS]
    if per_user_names:
        per_user.update(
            per_user_beyond(
                lists, asked.cutoffs, per_user_names,
                users=eval_users, train=train,
                popularity=popularity,
                novelty_bits=self_information(train) if "novelty" in per_user_names else None,
                tail=tail_items(popularity, beyond.tail_ratio) if "tail_share" in per_user_names else None,
                codes=codes, vectors=vectors,
            )
        )  # fmt: skip
    return {f"{m}@{k}": per_user[f"{m}@{k}"] for k in asked.cutoffs for m in asked.names if m not in RUN_LEVEL_METRICS}


def _summary(asked: _Asked, per_user: dict[str, np.ndarray], lists: np.ndarray, has_list: np.ndarray, seen_dropped: int,
             eval_users: np.ndarray, train: Any, item_label: np.ndarray, encoded: EncodedSplit, part: str) -> dict[str, float]:  # fmt: skip
    """Means over users, run-level exposure, and what the evaluation mode means for the part (``_repeats``)."""
    summary: dict[str, float] = {"n_users": float(len(eval_users))}
    summary.update({key: _mean_where_defined(v) for key, v in per_user.items()})
    summary["n_users_without_list"] = float((~has_list).sum())
    summary.update(
        exposure_statistics(
            lists, encoded.n_items, {"cold": item_label == "cold", "rare": item_label == "rare"}, asked.cutoffs,
            gini="gini" in asked.beyond,
        )
    )  # fmt: skip
    summary["seen_dropped"] = float(seen_dropped)
    if "seen_share" not in asked.beyond:  # what share of the lists are repurchases: always reported
        seen = per_user_beyond(lists, asked.cutoffs, ["seen_share"], users=eval_users, train=train)
        summary.update({key: _mean_where_defined(v) for key, v in seen.items()})
    summary["repeat_share"] = repeat_share(encoded, part)
    summary.update(exclusion_ceiling(encoded, asked.accuracy, asked.cutoffs, part))
    return summary


def _user_segment_summaries(per_user: dict[str, np.ndarray], activity_code: np.ndarray, segments: SegmentConfig) -> dict[str, dict[str, Any]]:
    """The summary of each user-activity segment."""
    # each segment's rows in ascending order (a stable sort by code): the values a boolean mask would
    # select, gathered once per segment rather than scanning every user once per segment and metric
    by_code = np.argsort(activity_code, kind="stable")
    bounds = np.searchsorted(activity_code[by_code], np.arange(len(segments.user_labels()) + 1))
    out = {}
    for code, label in enumerate(segments.user_labels()):
        seg_rows = by_code[bounds[code] : bounds[code + 1]]
        out[label] = _segment_summary({k: v[seg_rows] for k, v in per_user.items()})
    return out


def _item_segment_scores(asked: _Asked, hits: np.ndarray, relevant: Any, lists: np.ndarray, item_label: np.ndarray) -> dict[str, SegmentScores]:
    """Accuracy metrics with relevance restricted to each item-popularity segment's items."""
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
            values = compute_metrics(seg_hits, n_rel_seg[seg_rows], asked.accuracy, asked.cutoffs)
        else:
            values = {f"{m}@{k}": np.zeros(0) for k in asked.cutoffs for m in asked.accuracy}
        item_scores[label] = SegmentScores(seg_rows, values)
    return item_scores


def _config(asked: _Asked, part: str, segments: SegmentConfig, rankings_k: int, exclude_seen: bool,
            beyond: BeyondAccuracyConfig, embeddings: ItemEmbeddings | None) -> dict[str, Any]:  # fmt: skip
    """How the evaluation was made (kept with its result)."""
    config: dict[str, Any] = {
        "metrics": asked.names,
        "ks": asked.cutoffs,
        "part": part,
        "segments": segments.model_dump(mode="json"),
        "rankings_k": rankings_k,
        "exclude_seen": exclude_seen,
    }
    if asked.beyond:
        config["beyond"] = beyond.model_dump(mode="json")
        if embeddings is not None:
            config["beyond"]["embeddings"] = embeddings.method
    return config


def evaluate_rankings_file(
    rankings_path: str | Path,
    data_dir: str | Path,
    part: str = "test",
    metrics: Iterable[str] | None = None,
    ks: Sequence[int] = (10, 12),
    protocol: str = "loo",
    segments: SegmentConfig | None = None,
    exclude_seen: bool | None = None,
    *,
    embeddings: ItemEmbeddings | None = None,
    beyond: BeyondAccuracyConfig | None = None,
) -> EvaluationResult:
    """Open the prepared dataset ``data_dir`` (``load_dataset``: its split files for ``protocol`` and its
    catalogue) and score the rankings file under the evaluation mode ``exclude_seen`` (None: the protocol's
    default, true for loo and cold-item, false for temporal): when true, training items in the given lists
    are dropped before scoring (``summary["seen_dropped"]``). ``beyond.diversity_attribute`` is a column of
    the catalogue; ``embeddings`` serve ``embedding_diversity``."""
    from recsys_cl.data import load_dataset
    if exclude_seen is None:
        exclude_seen = default_exclude_seen(protocol)
    dataset = load_dataset(data_dir)
    items = dataset.items
    if beyond is not None and beyond.diversity_attribute is not None:  # names the file, before any work
        check_attribute(items, beyond.diversity_attribute, str(dataset.directory / f"{dataset.name}.item"))
    encoded = dataset.encoded(protocol)
    rankings = read_rankings(rankings_path, encoded)
    return evaluate(
        rankings, encoded, part=part, metrics=metrics, ks=ks, segments=segments, exclude_seen=exclude_seen,
        item_table=items, embeddings=embeddings, beyond=beyond,
    )  # fmt: skip


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
    out.update({key: (_json_floats(_mean_where_defined(v)) if n else None) for key, v in values.items()})
    return out


def _mean_where_defined(values: np.ndarray) -> float:
    """Mean over the users where a metric is defined (beyond-accuracy values are NaN where not); NaN if none.

    Without NaN this is ``values.mean()`` to the last bit (numpy's mean is this sum over the count), in one pass.
    """
    total = values.sum()
    if not np.isnan(total):
        return float(total / len(values)) if len(values) else float("nan")
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


def _json_floats(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_floats(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
