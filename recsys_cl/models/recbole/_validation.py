"""How RecBole's per-epoch validation (early stopping) scores, made to score as our evaluator does.

Two things differ between RecBole's trainer and the score a benchmark tunes for and reports:

* names: our metrics are ``hr``, ``ndcg``, ``map``, ``mrr``, ``recall``, ``precision``; RecBole's are
  ``Hit``, ``NDCG``, ``MAP``, ``MRR``, ``Recall``, ``Precision`` (same definitions: MAP divides by
  ``min(|R|, k)`` in both). :func:`recbole_metric` maps one to the other, and :func:`metric_settings` gives
  the RecBole keys that make it validate on it (``valid_metric``, and ``metrics`` / ``topk`` holding it).
* what is masked: RecBole's full-sort validation masks each user's training items except those that are
  also a valid item (its "history" = pairs used before, minus the part's positives), whatever the
  protocol. Our evaluator masks every training item under ``exclude_seen`` (a repurchase in the valid
  part cannot be hit) and nothing without it (the temporal protocol, where repurchases count).
  :func:`valid_history` is the mask that matches ours; the loaders of ``_data`` and ``_sequences`` use it.
"""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp

from recsys_cl.errors import InputError

#: our metric name -> RecBole's
RECBOLE_METRICS = {"hr": "Hit", "ndcg": "NDCG", "map": "MAP", "mrr": "MRR", "recall": "Recall", "precision": "Precision"}
#: RecBole config key carrying the fit's ``exclude_seen`` to the validation loader (RecBole ignores unknown keys)
EXCLUDE_SEEN_KEY = "recsys_cl_exclude_seen"


def recbole_metric(metric: str) -> str:
    """``map@12`` / ``MAP@12`` / ``hit@10`` -> RecBole's ``MAP@12`` / ``Hit@10``; ValueError for anything
    else (RecBole ``eval``-s nothing here, but an unknown name would fail only after the first epoch)."""
    from recsys_cl.evaluation import parse_metrics

    name, _, k = metric.partition("@")
    try:
        ours = parse_metrics([name])[0] if name.strip() else None
    except InputError:
        ours = None
    if ours not in RECBOLE_METRICS or not k.isdigit() or int(k) < 1:
        raise ValueError(f"must look like NDCG@10, metric one of {', '.join(RECBOLE_METRICS.values())} "
                         f"(or ours: {', '.join(RECBOLE_METRICS)}), k >= 1 (got {metric!r})")
    return f"{RECBOLE_METRICS[ours]}@{int(k)}"


def metric_settings(valid_metric: str) -> dict[str, Any]:
    """RecBole's keys for validating on ``valid_metric`` (RecBole's name): the metric, and the one metric
    and cutoff its evaluator computes (``valid_metric`` must be among them)."""
    name, _, k = valid_metric.partition("@")
    return {"valid_metric": valid_metric, "metrics": [name], "topk": [int(k)]}


def valid_history(train: sp.spmatrix, exclude_seen: bool) -> sp.csr_matrix:
    """What validation masks per user (rows users, columns items, same indexing as ``train``): every
    training item under ``exclude_seen``, nothing without it."""
    train = sp.csr_matrix(train)
    if exclude_seen:
        return train
    return sp.csr_matrix(train.shape, dtype=train.dtype)
