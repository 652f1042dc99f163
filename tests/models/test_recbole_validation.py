"""RecBole's per-epoch validation (early stopping) scores what our evaluator scores: our metric names
translated to RecBole's, and each user's training items masked as the fit's ``exclude_seen`` says.

The shop repurchases: every customer's valid item is one they bought in training, and each has a few other
training items. Under ``exclude_seen=False`` (the temporal protocol's default) nothing may be masked; under
``True`` every training item is (a repurchase cannot be hit), where RecBole's own mask would leave the valid
item in and mask the rest. Either way RecBole's best valid score must equal our evaluator's score of the
weights it kept, so a hard-wired metric or mask fails here.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cl.data import EncodedSplit, loo
from recsys_cl.evaluation import evaluate
from recsys_cl.models import create
from recsys_cl.models.recbole._validation import recbole_metric

FAST = {"embedding_size": 8, "train_batch_size": 64, "learning_rate": 0.05, "epochs": 3, "stopping_step": 3, "num_threads": 1}


@pytest.fixture(scope="module")
def repurchases() -> EncodedSplit:
    rng = np.random.default_rng(3)
    rows = []
    for u in range(30):
        bought = [f"i{i}" for i in rng.choice(12, size=4, replace=False)]
        # train: the four items (every item is bought in training by someone); valid: a repurchase; test: any
        rows += [(f"u{u:02d}", item, float(t)) for t, item in enumerate([*bought, bought[u % 4], f"i{rng.integers(12)}"])]
    encoded = EncodedSplit.from_split(loo(pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")))
    assert (np.diff(encoded.train.tocsc().indptr) > 0).all()  # RecBole scores untrained items, ours ranks them last
    return encoded


@pytest.mark.parametrize("ours,theirs", [
    ("hr@10", "Hit@10"), ("hit@10", "Hit@10"), ("ndcg@5", "NDCG@5"), ("map@12", "MAP@12"), ("mrr@3", "MRR@3"),
    ("recall@20", "Recall@20"), ("precision@7", "Precision@7"), ("NDCG@10", "NDCG@10"), ("MAP@12", "MAP@12"),
])  # fmt: skip
def test_our_metric_names_become_recboles(ours: str, theirs: str) -> None:
    assert recbole_metric(ours) == theirs
    assert create("bpr-recbole", valid_metric=ours).config.valid_metric == theirs
    assert create("lightgcn").validation_params(ours) == {"valid_metric": theirs}


@pytest.mark.parametrize("bad", ["auc@10", "GAUC@10", "ndcg", "ndcg@0", "ndcg@x", "@10"])
def test_metrics_recbole_cannot_stop_on_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="must look like NDCG@10"):
        recbole_metric(bad)


@pytest.mark.parametrize("metric,exclude_seen", [("map@3", False), ("hr@2", True), ("ndcg@3", False)])
def test_recboles_valid_score_is_our_evaluators(repurchases: EncodedSplit, metric: str, exclude_seen: bool) -> None:
    model = create("bpr-recbole", **FAST, valid_metric=metric).fit(repurchases, exclude_seen=exclude_seen)
    name, _, k = metric.partition("@")
    # what RecBole's evaluator computed at the kept epoch: the metric asked for, nothing else
    assert set(model._trainer.best_valid_result) == {recbole_metric(metric).lower()}
    users = repurchases.user_ids[repurchases.eval_users("valid")]
    rankings = model.recommend(users, k=int(k), exclude_seen=exclude_seen)
    ours = evaluate(rankings, repurchases, part="valid", metrics=[name], ks=[int(k)], exclude_seen=exclude_seen).summary[metric]
    assert model.best_valid_score == pytest.approx(ours, abs=6e-5)  # RecBole rounds to 4 decimals
    masked = create("bpr-recbole", **FAST, valid_metric=metric).fit(repurchases, exclude_seen=not exclude_seen)
    assert masked.best_valid_score != pytest.approx(model.best_valid_score, abs=1e-3)  # the modes differ on this data


def test_sequential_validation_masks_nothing_without_exclude_seen(repurchases: EncodedSplit) -> None:
    params = {"embedding_size": 8, "epochs": 2, "stopping_step": 2, "num_threads": 1, "n_layers": 1, "n_heads": 1,
              "inner_size": 16, "max_seq_length": 5, "valid_metric": "hr@3"}  # fmt: skip
    allowed = create("sasrec", **params).fit(repurchases, exclude_seen=False)
    excluded = create("sasrec", **params).fit(repurchases, exclude_seen=True)
    assert excluded.best_valid_score == 0.0  # every valid item is a training item: masked, never hit
    assert allowed.best_valid_score > 0.0
    users = repurchases.user_ids[repurchases.eval_users("valid")]
    ours = evaluate(allowed.recommend(users, k=3, exclude_seen=False), repurchases, part="valid", metrics=["hr"], ks=[3])
    assert allowed.best_valid_score == pytest.approx(ours.summary["hr@3"], abs=6e-5)
