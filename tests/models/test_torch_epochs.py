"""The shared epoch loop (validation, early stopping, best weights, callbacks) and its graph / sampling pieces."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings._io import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models import create
from recsys_cl.models._torch_epochs import (
    BipartiteGraph,
    NegativeSampler,
    parse_valid_metric,
    purchase_rows,
    weighted_sample_without_replacement,
)

FAST = {"embedding_size": 8, "content_embedding_size": 8, "learning_rate": 0.01, "train_batch_size": 64}


# -- the loop ------------------------------------------------------------------------------------------
def test_early_stopping_keeps_the_best_epoch(loo_encoded: EncodedSplit, item_embeddings: ItemEmbeddings) -> None:
    seen: list[tuple[int, float]] = []
    model = create("vbpr", **FAST, epochs=60, stopping_step=3).fit(
        loo_encoded, item_embeddings, on_epoch=lambda e, s: seen.append((e, s))
    )
    h = model.history
    assert h.valid_metric == "ndcg@10"
    assert len(h.valid_curve) == len(h.train_loss) == h.epochs_run
    assert seen == list(enumerate(h.valid_curve, start=1))
    assert h.best_epoch == int(np.argmax(h.valid_curve)) + 1
    assert h.epochs_run == h.best_epoch + 3 < 60  # stopped by the rule, not by the epoch limit
    assert max(h.valid_curve[h.best_epoch :]) <= h.valid_curve[h.best_epoch - 1]
    # the weights kept are the best epoch's: validating them again gives that epoch's score
    again = model._valid_score(loo_encoded, loo_encoded.eval_users("valid"), *parse_valid_metric("ndcg@10"), True)
    assert again == pytest.approx(max(h.valid_curve))
    assert again > h.valid_curve[-1]  # and not the last epoch's


@pytest.mark.parametrize("model_name", ["vbpr", "bm3"])
def test_early_stopping_validates_in_the_fits_evaluation_mode(model_name: str) -> None:
    """Every user's valid item repeats one of their training items (a repurchase): lists that leave training
    items out can never hit it, lists that may repeat them (exclude_seen=False, the temporal protocol's
    mode) do, since 8 items fit in a top 10. Early stopping must watch the mode the test is scored in."""
    import polars as pl

    from recsys_cl.data import loo

    rng = np.random.default_rng(0)
    rows = []
    for u in range(12):
        bought = [f"i{i}" for i in rng.choice(8, size=3, replace=False)]
        rows += [(f"u{u:02d}", item, float(t)) for t, item in enumerate([*bought, bought[0], "i7"])]
    encoded = EncodedSplit.from_split(loo(pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")))
    ids = encoded.item_ids.astype(str)
    vectors = ItemEmbeddings(ids, rng.normal(size=(len(ids), 4)).astype(np.float32), "noise")
    params = {"embedding_size": 8, "epochs": 2, "train_batch_size": 16}
    if model_name == "vbpr":
        params["content_embedding_size"] = 8
    excluded = create(model_name, **params).fit(encoded, vectors, exclude_seen=True).history.valid_curve
    allowed = create(model_name, **params).fit(encoded, vectors, exclude_seen=False).history.valid_curve
    assert excluded == [0.0, 0.0] and min(allowed) > 0.0


def test_the_epoch_callback_can_stop_training(loo_encoded: EncodedSplit, item_embeddings: ItemEmbeddings) -> None:
    class Pruned(Exception):
        pass

    def prune(epoch: int, score: float) -> None:
        if epoch == 2:
            raise Pruned

    with pytest.raises(Pruned):
        create("vbpr", **FAST, epochs=20).fit(loo_encoded, item_embeddings, on_epoch=prune)


def test_without_a_valid_part_every_epoch_runs(cold_encoded: EncodedSplit, item_embeddings: ItemEmbeddings) -> None:
    assert cold_encoded.valid.nnz == 0
    model = create("vbpr", **FAST, epochs=4, stopping_step=1).fit(cold_encoded, item_embeddings)
    h = model.history
    assert (h.epochs_run, h.best_epoch, h.valid_curve, h.valid_metric) == (4, 4, [], None)
    assert len(h.train_loss) == 4


def test_valid_users_is_a_seeded_sample(loo_encoded: EncodedSplit) -> None:
    model = create("vbpr", valid_users=7)
    first = model._valid_users(loo_encoded, np.random.default_rng(0))
    assert len(first) == 7 and np.all(np.diff(first) > 0)
    assert np.isin(first, loo_encoded.eval_users("valid")).all()
    assert np.array_equal(first, model._valid_users(loo_encoded, np.random.default_rng(0)))
    assert len(create("vbpr")._valid_users(loo_encoded, np.random.default_rng(0))) == len(loo_encoded.eval_users("valid"))


def test_a_diverging_fit_is_a_clear_error(loo_encoded: EncodedSplit, item_embeddings: ItemEmbeddings) -> None:
    with pytest.raises(InputError, match=r"diverged at epoch \d+ .*lower learning_rate"):
        create("vbpr", **{**FAST, "learning_rate": 1e30}, epochs=3).fit(loo_encoded, item_embeddings)


@pytest.mark.parametrize("metric", ["ndcg", "ndcg@0", "ndcg@x", "foo@10"])
def test_bad_valid_metric_is_rejected_when_configured(metric: str) -> None:
    with pytest.raises(InputError, match="valid_metric"):
        create("freedom", valid_metric=metric)


@pytest.mark.parametrize("model_name", ["vbpr", "freedom"])
def test_tuning_metric_is_what_early_stopping_computes(model_name: str, loo_encoded: EncodedSplit,
                                                       item_embeddings: ItemEmbeddings) -> None:
    """``validation_params("map@5")`` (what tuning for map@5 passes): the kept epoch's curve value is the
    evaluator's MAP@5 of the kept weights on the valid part, not nDCG@10."""
    from recsys_cl.evaluation import evaluate

    params = {**FAST, "epochs": 3} if model_name == "vbpr" else {"embedding_size": 8, "epochs": 3}
    model = create(model_name, **params, **create(model_name).validation_params("map@5")).fit(loo_encoded, item_embeddings)
    users = loo_encoded.user_ids[loo_encoded.eval_users("valid")]
    ours = evaluate(model.recommend(users, k=5), loo_encoded, part="valid", metrics=["map"], ks=[5]).summary["map@5"]
    assert model.history.valid_metric == "map@5"
    assert model.history.valid_curve[model.history.best_epoch - 1] == pytest.approx(ours)


def test_valid_metric_names_follow_the_evaluator() -> None:
    assert parse_valid_metric("NDCG@10") == ("ndcg", 10)
    assert parse_valid_metric("hit@20") == ("hr", 20)


# -- training data -------------------------------------------------------------------------------------
def test_purchase_rows_repeat_bought_pairs() -> None:
    train = sp.csr_matrix(np.array([[0, 2, 0], [1, 0, 3]], dtype=np.float32))
    users, items = purchase_rows(train)
    assert users.tolist() == [0, 0, 1, 1, 1, 1]
    assert items.tolist() == [1, 1, 0, 2, 2, 2]


def test_negatives_are_never_training_items() -> None:
    rng = np.random.default_rng(0)
    train = sp.random(50, 30, density=0.6, format="csr", random_state=1, dtype=np.float32)
    sampler = NegativeSampler(train)
    users = np.repeat(np.arange(50), 200)
    negatives = sampler.sample(users, rng)
    dense = train.toarray() > 0
    assert not dense[users, negatives].any()
    # uniform over each user's other items: every one of them is drawn
    drawn = sp.csr_matrix((np.ones(len(users)), (users, negatives)), shape=train.shape).toarray() > 0
    assert np.array_equal(drawn, ~dense)


def test_negatives_are_never_items_without_a_training_interaction() -> None:
    # items 3 and 4 are new (held out, no training row): they did not exist while training, so a model
    # must not learn to push them down; user 1 bought every other item but one, which the exact
    # per-row draw must find
    train = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0]], dtype=np.float32))
    sampler = NegativeSampler(train)
    users = np.repeat(np.arange(3), 300)
    negatives = sampler.sample(users, np.random.default_rng(0))
    assert set(negatives.tolist()) <= {0, 1, 2}
    assert set(negatives[users == 1].tolist()) == {2}
    assert set(negatives[users == 0].tolist()) == {1, 2}


def test_weighted_sampling_without_replacement_matches_successive_draws() -> None:
    # weights (1, 2, 3), two draws: P({0,1}) = 1/6*2/5 + 2/6*1/4 = 0.15, P({0,2}) = 1/6*3/5 + 3/6*1/3 = 4/15,
    # P({1,2}) = 2/6*3/4 + 3/6*2/3 = 7/12
    rng = np.random.default_rng(0)
    draws = [tuple(weighted_sample_without_replacement(np.array([1.0, 2.0, 3.0]), 2, rng)) for _ in range(20_000)]
    shares = {pair: draws.count(pair) / len(draws) for pair in [(0, 1), (0, 2), (1, 2)]}
    assert shares == pytest.approx({(0, 1): 0.15, (0, 2): 4 / 15, (1, 2): 7 / 12}, abs=0.015)
    assert weighted_sample_without_replacement(np.ones(4), 9, rng).tolist() == [0, 1, 2, 3]


# -- graph propagation ---------------------------------------------------------------------------------
def test_bipartite_propagation_is_lightgcn_on_the_full_adjacency() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, layers = 5, 4, 3
    users = np.array([0, 0, 1, 2, 2, 2, 3, 3])  # user 4 and item 3 have no edge; pair (0, 1) twice
    items = np.array([0, 1, 1, 0, 1, 2, 2, 2])
    graph = BipartiteGraph(users, items, n_users, n_items, "cpu")
    # LightGCN as written in its paper: the (users + items)^2 adjacency, D^-1/2 A D^-1/2, mean of layers
    adjacency = np.zeros((n_users + n_items,) * 2)
    adjacency[users, n_users + items] = adjacency[n_users + items, users] = 1.0
    degree = adjacency.sum(axis=1)
    inv = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    normalised = torch.tensor(inv[:, None] * adjacency * inv[None, :], dtype=torch.float32)
    ego = torch.tensor(rng.normal(size=(n_users + n_items, 6)), dtype=torch.float32, requires_grad=True)
    layer, mean = ego, ego
    for _ in range(layers):
        layer = normalised @ layer
        mean = mean + layer
    expected = mean / (layers + 1)
    user_emb = ego[:n_users].detach().clone().requires_grad_(True)
    item_emb = ego[n_users:].detach().clone().requires_grad_(True)
    got_users, got_items = graph.propagate(user_emb, item_emb, layers)
    torch.testing.assert_close(torch.cat([got_users, got_items]), expected)
    # and the hand-written backward gives the dense gradients
    weights = torch.tensor(rng.normal(size=expected.shape), dtype=torch.float32)
    (expected * weights).sum().backward()
    (torch.cat([got_users, got_items]) * weights).sum().backward()
    torch.testing.assert_close(torch.cat([user_emb.grad, item_emb.grad]), ego.grad)


def test_cold_rows_take_the_warm_length_and_zero_rows_stay_zero_however_long_the_warm_rows():
    """A zero cold row (FREEDOM: a new item whose kNN neighbours are all new) stayed zero only while the warm
    rows were short: past a length of ~4, ``scale / tiny`` overflowed to inf and 0 * inf gave NaN scores."""
    import torch

    from recsys_cl.models._torch_epochs import at_warm_length

    items = torch.tensor([[30.0, 40.0], [0.0, 60.0], [0.0, 0.0], [3.0, 4.0], [1e-10, 0.0]])
    warm = torch.tensor([True, True, False, False, False])
    out = at_warm_length(items, ~warm, warm)
    assert torch.isfinite(out).all()
    assert out[2].tolist() == [0.0, 0.0]
    assert out[3].tolist() == pytest.approx([33.0, 44.0])  # (3, 4) at the warm mean length 55
    assert out[4].tolist() == pytest.approx([55.0, 0.0])
    assert out[:2].tolist() == items[:2].tolist()
