"""RecBole backends: the shared contract for each, content variants on cold items, and a
cross-check of our evaluator against RecBole's own on the same trained model and split."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from recsys_cl.compat.recbole import make_config
from recsys_cl.embeddings._io import principal_components
from recsys_cl.errors import InputError
from recsys_cl.evaluation import evaluate
from recsys_cl.models import create
from recsys_cl.models.recbole import UNKNOWN_SCORE, _fast
from recsys_cl.models.recbole._backends import recbole_settings
from recsys_cl.models.recbole._content import content_module_class
from recsys_cl.models.recbole._data import data_loaders, encoded_dataset_class
from recsys_cl.models.recbole._fast import graph_model_class, sparse_graph_ops

from recsys_cl.testing import ModelTests

# Tiny data, so: small tables, a larger step than RecBole's default, one torch thread (on a
# shared 2-core machine, several threads for models this small are many times slower).
FAST = {"embedding_size": 16, "train_batch_size": 64, "learning_rate": 0.01, "epochs": 20, "stopping_step": 20, "num_threads": 1}


class TestBPRRecBole(ModelTests):
    model_name = "bpr-recbole"
    params = {**FAST, "learning_rate": 0.05}
    expected_margin_over_pop = 0.3


class TestBPRRecBoleFuse(ModelTests):
    model_name = "bpr-recbole"
    params = {**FAST, "learning_rate": 0.05, "content": "fuse"}
    needs_embeddings = True
    expected_margin_over_pop = 0.3
    expected_cold_margin = 0.4  # observed 0.95-1.0 vs random 0.40, Pop 0.0


class TestBPRRecBoleInit(ModelTests):
    model_name = "bpr-recbole"
    params = {**FAST, "learning_rate": 0.05, "content": "init"}
    needs_embeddings = True
    expected_margin_over_pop = 0.3


class TestNeuMF(ModelTests):
    model_name = "neumf"
    params = FAST
    expected_margin_over_pop = 0.3


class TestNeuMFFuse(ModelTests):
    model_name = "neumf"
    params = {**FAST, "content": "fuse"}
    needs_embeddings = True
    expected_margin_over_pop = 0.3
    # observed HR@10 on cold items 0.55 vs random 0.40, Pop 0.0: NeuMF's pointwise towers use the
    # content less sharply than the dot-product models (0.95-1.0 below), so the claim is smaller
    expected_cold_margin = 0.1


class TestLightGCN(ModelTests):
    model_name = "lightgcn"
    params = FAST
    expected_margin_over_pop = 0.3


class TestLightGCNFuse(ModelTests):
    model_name = "lightgcn"
    params = {**FAST, "content": "fuse"}
    needs_embeddings = True
    expected_margin_over_pop = 0.3
    expected_cold_margin = 0.4  # observed 0.95-1.0 vs random 0.40, Pop 0.0


class TestSGL(ModelTests):
    model_name = "sgl"
    params = FAST
    expected_margin_over_pop = 0.3


class TestSGLFuse(ModelTests):
    model_name = "sgl"
    params = {**FAST, "content": "fuse"}
    needs_embeddings = True
    expected_margin_over_pop = 0.3
    expected_cold_margin = 0.4  # observed 0.95-1.0 vs random 0.40, Pop 0.0


class TestRecBoleByName(ModelTests):
    # NGCF goes through the generic adapter (and RecBole's dok_matrix adjacency code)
    model_name = "recbole"
    params = {**FAST, "model": "NGCF", "params": {"hidden_size_list": [16, 16]}}
    expected_margin_over_pop = 0.3


# NCL: 4 prototypes (the data has 4 taste groups; k-means needs at least k users and items), the
# prototype loss from epoch 3 on; RecBole's NCL trainer runs the E-steps.
NCL_FAST = {"num_clusters": 4, "warm_up_step": 2, "n_layers": 2}


class TestNCL(ModelTests):
    model_name = "ncl"
    params = {**FAST, **NCL_FAST}
    expected_margin_over_pop = 0.3


class TestNCLByName(ModelTests):
    model_name = "recbole"
    params = {**FAST, "model": "NCL", "params": NCL_FAST}
    expected_margin_over_pop = 0.3


# SimpleX: 10 negatives per positive; RecBole's batch counts rows with their negatives, so 640 rows
# keep FAST's 64 positives per batch.
class TestSimpleX(ModelTests):
    model_name = "simplex"
    params = {**FAST, "neg_samples": 10, "train_batch_size": 640}
    expected_margin_over_pop = 0.3


class TestSimpleXByName(ModelTests):
    model_name = "recbole"
    params = {**FAST, "train_batch_size": 640, "model": "SimpleX",
              "params": {"train_neg_sample_args": {"distribution": "uniform", "sample_num": 10}}}
    expected_margin_over_pop = 0.3


# -- content handling --------------------------------------------------------------------------
def test_pure_id_model_ranks_unseen_items_last(cold_encoded):
    model = create("bpr-recbole", **FAST).fit(cold_encoded)
    unseen = np.diff(cold_encoded.train.tocsc().indptr) == 0
    assert unseen.sum() == 12  # a quarter of the 48 items is held out
    scores = model._score(np.arange(3))
    assert (scores[:, unseen] == UNKNOWN_SCORE).all() and (scores[:, ~unseen] > UNKNOWN_SCORE).all()


def test_fuse_items_without_a_vector_get_no_content(loo_encoded, item_embeddings):
    from recsys_cl.embeddings._io import ItemEmbeddings

    # drop the vector of one item: its fused representation must be its ID embedding alone
    keep = item_embeddings.item_ids != "i05"
    partial = ItemEmbeddings(item_embeddings.item_ids[keep], item_embeddings.vectors[keep], "partial")
    model = create("bpr-recbole", **FAST, content="fuse").fit(loo_encoded, partial)
    table = model._net.item_embedding
    rb_id = 1 + int(np.flatnonzero(model._ids.ours_of_rb_item == loo_encoded.item_index(["i05"])[0])[0])
    other = 1 + int(np.flatnonzero(model._ids.ours_of_rb_item == loo_encoded.item_index(["i06"])[0])[0])
    weight = table.weight.detach()
    assert np.allclose(weight[rb_id].numpy(), table.id_weight[rb_id].detach().numpy())  # i05 is trained: has an ID part
    assert not np.allclose(weight[other].numpy(), table.id_weight[other].detach().numpy())


def test_init_starts_item_table_from_content_principal_components(loo_encoded, item_embeddings):
    matrix, mask = item_embeddings.aligned(loo_encoded.item_ids)
    projected = principal_components(matrix, mask, 4)
    # the first component carries the most variance and the columns are uncorrelated
    variances = projected.var(axis=0)
    assert variances[0] >= variances[1] >= variances[2] > 0
    corr = np.corrcoef(projected.T)
    assert np.abs(corr[np.triu_indices(4, 1)]).max() < 1e-4
    # the group structure survives: items of one group are closer to each other than to others
    groups = np.array([int(i[1:]) // 12 for i in loo_encoded.item_ids])
    centre = np.stack([projected[groups == g].mean(axis=0) for g in range(4)])
    nearest = np.argmin(((projected[:, None, :] - centre[None]) ** 2).sum(-1), axis=1)
    assert (nearest == groups).mean() > 0.9


def test_content_settings_are_checked(loo_encoded, item_embeddings):
    with pytest.raises(InputError, match="needs item embeddings"):
        create("lightgcn", **FAST, content="fuse").fit(loo_encoded)
    with pytest.raises(InputError, match="content is 'none'"):
        create("lightgcn", **FAST).fit(loo_encoded, item_embeddings)
    with pytest.raises(InputError, match="content"):
        create("sgl", content="blend")
    with pytest.raises(InputError, match="unknown_key"):
        create("neumf", unknown_key=1)


def test_generic_adapter_rejects_bad_names_and_clashing_params(loo_encoded):
    with pytest.raises(InputError, match="NoSuchModel"):
        create("recbole", model="NoSuchModel", **FAST).fit(loo_encoded)
    with pytest.raises(InputError, match="epochs"):
        create("recbole", model="BPR", params={"epochs": 3}).fit(loo_encoded)
    with pytest.raises(InputError, match="valid_metric"):
        create("bpr-recbole", valid_metric="NDCG").fit(loo_encoded)


class _WritesMarker:
    """Pickles as a call to ``open(marker, "w")``: unpickling it creates the marker file (runs code)."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_params_cannot_point_recbole_at_a_pickle(loo_encoded, tmp_path):
    # the attack of issue 12: a benchmark YAML whose pass-through params make RecBole unpickle a file
    import yaml

    marker, evil = tmp_path / "code-ran", tmp_path / "loaders.pth"
    evil.write_bytes(pickle.dumps(_WritesMarker(marker)))
    entry = yaml.safe_load(f"model: BPR\nepochs: 1\nparams:\n  dataloaders_save_path: {evil}\n")
    with pytest.raises(InputError, match=r"^recbole: params\.dataloaders_save_path: RecBole reads or writes files"):
        create("recbole", **entry).fit(loo_encoded)
    assert not marker.exists()


@pytest.mark.parametrize("params,match", [
    ({"checkpoint_dir": "/tmp"}, r"params\.checkpoint_dir: RecBole reads or writes files"),
    ({"mf_pretrain_path": "/tmp/x.pth"}, r"params\.mf_pretrain_path: RecBole reads or writes files"),
    ({"USER_ID_FIELD": "uid"}, r"params\.USER_ID_FIELD: not a hyperparameter of RecBole's NeuMF"),
    ({"embedding_size": 8}, r"params\.embedding_size: set by the top-level key"),
    ({"dropout_prob": "0.1"}, r"params\.dropout_prob: expects a float"),
])
def test_passthrough_params_are_an_allow_list(params, match):
    with pytest.raises(InputError, match=match):
        create("recbole", model="NeuMF", params=params)
    # the model's own hyperparameters and optimiser keys pass
    model = create("recbole", model="NeuMF", params={"mlp_hidden_size": [32], "dropout_prob": 0.2, "weight_decay": 1e-4})
    assert model.config.params["mlp_hidden_size"] == [32]
    # RecBole writes defaults like 1e-5 without a dot: read as floats, as RecBole reads them
    assert create("recbole", model="NGCF", params={"reg_weight": 1e-3}).config.params == {"reg_weight": 1e-3}


def test_string_settings_are_never_evaluated(loo_encoded, tmp_path):
    # RecBole eval()s string values of its config dict: a valid_metric like this one ran its code
    marker = tmp_path / "code-ran"
    metric = f"__import__('pathlib').Path({str(marker)!r}).touch()@10"
    with pytest.raises(InputError, match="valid_metric: must look like NDCG@10"):
        create("bpr-recbole", valid_metric=metric, epochs=1).fit(loo_encoded)
    assert not marker.exists()


def test_fit_leaves_numpy_and_scipy_as_they_were(loo_encoded):
    import scipy.sparse as sp

    before = {"float", "int", "object", "str"} & set(vars(np)), hasattr(sp.dok_matrix, "_update")
    create("lightgcn", **{**FAST, "epochs": 1}).fit(loo_encoded)  # RecBole's Config, metrics, dok adjacency
    assert ({"float", "int", "object", "str"} & set(vars(np)), hasattr(sp.dok_matrix, "_update")) == before == (set(), False)


# -- training history ----------------------------------------------------------------------------
def test_history_has_every_validated_epoch(loo_encoded):
    seen = []
    model = create("bpr-recbole", **{**FAST, "learning_rate": 0.5, "epochs": 6, "stopping_step": 20})
    model.fit(loo_encoded, on_epoch=lambda epoch, score: seen.append((epoch, score)))
    history = model.history
    assert history.epochs_run == 6 and history.valid_metric == "NDCG@10"
    assert [e for e, _ in seen] == list(range(1, 7)) and [s for _, s in seen] == history.valid_curve
    assert len(history.train_loss) == 6 and all(loss > 0 for loss in history.train_loss)
    # RecBole keeps the last epoch with the best score (>=); best_epoch counts from 1, model.best_epoch from 0
    best = max(history.valid_curve)
    assert history.best_epoch == 6 - history.valid_curve[::-1].index(best) == model.best_epoch + 1
    assert model.best_valid_score == best
    assert len(set(history.valid_curve)) > 1  # not a flat curve: the check above could pick any epoch
    assert model.history.to_dict()["valid_curve"] == history.valid_curve


def test_history_without_a_valid_part(cold_encoded):
    assert cold_encoded.valid.nnz == 0
    model = create("bpr-recbole", **{**FAST, "epochs": 3}).fit(cold_encoded, on_epoch=lambda e, s: pytest.fail("no validation"))
    assert model.history.epochs_run == 3 and model.history.best_epoch == 3 and len(model.history.train_loss) == 3
    assert model.history.valid_curve == [] and model.history.valid_metric is None


class _Pruned(Exception):
    pass


def test_raising_from_on_epoch_stops_training_after_that_epoch(loo_encoded):
    progress = []

    def prune(epoch: int, score: float) -> None:
        if epoch == 2:
            raise _Pruned(epoch)

    model = create("lightgcn", **{**FAST, "epochs": 10, "stopping_step": 20})
    with pytest.raises(_Pruned):
        model.fit(loo_encoded, progress=lambda done, total: progress.append(done), on_epoch=prune)
    assert progress == [1, 2]  # no third epoch was trained
    assert model.history.epochs_run == 2 and len(model.history.valid_curve) == 2 and len(model.history.train_loss) == 2


def test_ncl_needs_as_many_users_and_items_as_clusters(loo_encoded):
    with pytest.raises(InputError, match=r"num_clusters=100 needs at least as many users and items; this split has 81 users and 48 items"):
        create("ncl", epochs=1).fit(loo_encoded)


def test_run_name_and_timing(loo_encoded):
    model = create("lightgcn", **{**FAST, "epochs": 2})
    assert model.run_name.startswith("lightgcn(") and "epochs=2" in model.run_name
    seen = []
    model.fit(loo_encoded, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (1, 2) and seen[-1][0] <= 2 and model.fit_seconds > 0


def test_early_stopping_keeps_the_best_epoch(loo_encoded):
    # a learning rate this large makes validation peak early; the restored weights are that epoch's
    model = create("bpr-recbole", **{**FAST, "learning_rate": 0.5, "epochs": 30, "stopping_step": 3})
    model.fit(loo_encoded)
    assert model.best_epoch is not None and model.best_epoch < 29
    ours = model.recbole_evaluate("valid", metrics=("NDCG",), k=10)["ndcg@10"]
    assert ours == pytest.approx(model.best_valid_score, abs=1e-4)


# -- our evaluator vs RecBole's on the same model and split --------------------------------------
@pytest.mark.parametrize("name", ["bpr-recbole", "lightgcn"])
def test_our_metrics_agree_with_recbole_evaluator(loo_encoded, name):
    assert (np.diff(loo_encoded.train.tocsc().indptr) > 0).all()  # premise: no unknown item scored apart
    model = create(name, **FAST).fit(loo_encoded)
    # the valid part: both mask exactly the train items (for test RecBole also masks valid items)
    theirs = model.recbole_evaluate("valid", k=10)
    rankings = model.recommend(loo_encoded.user_ids[loo_encoded.eval_users("valid")], k=10)
    ours = evaluate(rankings, loo_encoded, part="valid", metrics=["hr", "ndcg", "recall", "mrr", "precision"], ks=[10])
    pairs = {"hit@10": "hr@10", "ndcg@10": "ndcg@10", "recall@10": "recall@10", "mrr@10": "mrr@10", "precision@10": "precision@10"}
    for recbole_name, our_name in pairs.items():
        assert ours.summary[our_name] == pytest.approx(theirs[recbole_name], abs=5e-5 + 1e-9), recbole_name
    assert theirs["hit@10"] > 0.3  # not a vacuous agreement on zeros

    # the test part: RecBole masks train + valid items there, so rank with the same mask
    from recsys_cl.evaluation import Rankings, topk_from_scorer

    users = loo_encoded.eval_users("test")
    mask = (loo_encoded.train + loo_encoded.valid).tocsr()
    items, scores = topk_from_scorer(model._score, loo_encoded.n_items, 10, users, exclude=mask, device="cpu")
    masked = Rankings(loo_encoded.user_ids, loo_encoded.item_ids, users, items, scores, name)
    ours_test = evaluate(masked, loo_encoded, part="test", metrics=["hr", "ndcg", "recall", "mrr", "precision"], ks=[10])
    theirs_test = model.recbole_evaluate("test", k=10)
    for recbole_name, our_name in pairs.items():
        assert ours_test.summary[our_name] == pytest.approx(theirs_test[recbole_name], abs=5e-5 + 1e-9), recbole_name


def test_array_sampler_and_full_sort_loader_match_recboles_own(loo_encoded, tmp_path):
    """Our sampler and full-sort loader (arrays instead of a Python set / tensor per user) give what
    RecBole's own give on the same dataset: the same negatives for the same NumPy draws, and the same
    users, history (masked) and positive items in every validation / test batch."""
    import torch
    from recbole.data import data_preparation

    settings = {"seed": 0, "train_batch_size": 32, "eval_batch_size": 5 * loo_encoded.n_items}
    config = make_config("BPR", recbole_settings(str(tmp_path), settings), "cpu")
    ours = data_loaders(config, encoded_dataset_class()(config, loo_encoded))
    theirs = data_preparation(config, encoded_dataset_class()(config, loo_encoded))
    users = ours[0]._dataset.inter_feat["user_id"].numpy()
    for phase in (0, 1, 2):  # train / valid / test samplers exclude that phase's used items
        np.random.seed(7)
        a = ours[phase]._sampler.sample_by_user_ids(users, None, 3)
        np.random.seed(7)
        assert torch.equal(a, theirs[phase]._sampler.sample_by_user_ids(users, None, 3))
    one_user = users[:1].repeat(4)  # RecBole's other branch: every key the same
    np.random.seed(7)
    a = ours[0]._sampler.sample_by_user_ids(one_user, None, 5)
    np.random.seed(7)
    assert torch.equal(a, theirs[0]._sampler.sample_by_user_ids(one_user, None, 5))

    def pairs(u: torch.Tensor, i: torch.Tensor, uid: torch.Tensor) -> set:
        return set(zip(uid[u].tolist(), i.tolist()))

    for mine, recbole in zip(ours[1:], theirs[1:]):
        assert torch.equal(mine.uid_list, recbole.uid_list)
        for (df_a, hist_a, pu_a, pi_a), (df_b, hist_b, pu_b, pi_b) in zip(mine, recbole):
            uid = df_a["user_id"]
            assert torch.equal(uid, df_b["user_id"])
            assert pairs(*hist_a, uid) == pairs(*hist_b, uid) and pairs(pu_a, pi_a, uid) == pairs(pu_b, pi_b, uid)

    config["recsys_cl_valid_users"] = 5  # validation on a seeded sample of users
    sampled = data_loaders(config, encoded_dataset_class()(config, loo_encoded))[1]
    assert len(sampled.uid_list) == 5 and set(sampled.uid_list.tolist()) <= set(ours[1].uid_list.tolist())


def test_id_dropout_hides_id_parts_while_training_only():
    import torch

    torch.manual_seed(0)
    n_items, dim = 2001, 4
    table = torch.nn.Embedding(n_items, dim)
    content = np.zeros((n_items, 3), dtype=np.float32)  # no content: a row is its ID part or zero
    fused = content_module_class()(table, content, np.zeros(n_items, bool), np.ones(n_items, bool), id_dropout=0.3)
    ids = torch.arange(n_items)
    fused.train()
    hidden = (fused(ids).abs().sum(dim=1) == 0).float().mean().item()
    assert 0.25 < hidden < 0.35  # ~30% of the ID parts zeroed in a training batch
    assert 0.25 < (fused.weight.abs().sum(dim=1) == 0).float().mean().item() < 0.35
    fused.eval()
    assert torch.equal(fused(ids), table.weight)  # never when scoring
    assert torch.equal(fused.weight, table.weight)
    without = content_module_class()(table, content, np.zeros(n_items, bool), np.ones(n_items, bool))
    without.train()
    assert torch.equal(without(ids), table.weight)


@pytest.mark.parametrize("content,pairs_per_block", [("none", 16_384), ("fuse", 16_384), ("none", 100)])
def test_neumf_full_sort_equals_pairwise_predict(loo_encoded, item_embeddings, content, pairs_per_block, monkeypatch):
    # the split first MLP layer must give RecBole's pair-by-pair scores, fused content included,
    # whether the users fit one block of the hidden grid or take one block each (100 pairs)
    import torch
    from recbole.data.interaction import Interaction

    monkeypatch.setattr(_fast, "MLP_PAIRS_PER_BLOCK", pairs_per_block)

    model = create("neumf", **{**FAST, "epochs": 2}, content=content).fit(
        loo_encoded, item_embeddings if content == "fuse" else None
    )
    net, cfg = model._net, model._config
    n_rb = len(model._ids.ours_of_rb_item) + 1
    users = torch.arange(1, 6)
    with torch.no_grad():
        full = net.full_sort_predict(Interaction({cfg["USER_ID_FIELD"]: users})).view(len(users), n_rb)
        pairs = Interaction({cfg["USER_ID_FIELD"]: users.repeat_interleave(n_rb), cfg["ITEM_ID_FIELD"]: torch.arange(n_rb).repeat(len(users))})
        pairwise = net.predict(pairs).view(len(users), n_rb)
    assert full.shape == pairwise.shape
    assert torch.allclose(full, pairwise, atol=1e-6, rtol=1e-5)
    assert full.std() > 1e-4  # a trained model: scores differ between items


@pytest.mark.parametrize("symmetric", [True, False])
def test_csr_propagation_matches_torch_sparse_mm(symmetric):
    # the CSR product and its hand-written backward against torch's own sparse product
    import torch

    torch.manual_seed(0)
    idx, val = torch.randint(0, 30, (2, 80)), torch.rand(80)
    graph = torch.sparse_coo_tensor(idx, val, (30, 30)).coalesce()
    if symmetric:
        graph = (graph + graph.t()).coalesce()
    propagate = sparse_graph_ops()
    x = torch.randn(30, 4, requires_grad=True)
    ours = propagate([graph] * 3, x)
    ours.pow(2).sum().backward()
    grad, x.grad = x.grad.clone(), None
    layers = [x]
    for _ in range(3):
        layers.append(torch.sparse.mm(graph, layers[-1]))
    reference = torch.stack(layers, dim=1).mean(dim=1)
    reference.pow(2).sum().backward()
    assert torch.allclose(ours, reference, atol=1e-6)
    assert torch.allclose(grad, x.grad, atol=1e-5)


@pytest.mark.parametrize("name", ["lightgcn", "sgl"])
def test_graph_models_forward_equals_recboles(loo_encoded, item_embeddings, name):
    import torch
    from recbole.model import general_recommender

    model = create(name, **{**FAST, "epochs": 2}, content="fuse").fit(loo_encoded, item_embeddings)
    net = model._net
    original = getattr(general_recommender, type(net).__name__)
    assert type(net) is not original and isinstance(net, original)
    with torch.no_grad():
        args = (net.train_graph,) if name == "sgl" else ()
        ours, theirs = torch.cat(net.forward(*args)), torch.cat(original.forward(net, *args))
        ego = torch.cat([net.user_embedding.weight, net.item_embedding.weight])
    # nodes without a training edge: [PAD] user and item here (loo leaves no item cold)
    isolated = net._isolated()
    assert isolated.sum() == 2 and isolated[0] and isolated[net.n_users]
    assert torch.allclose(ours[~isolated], theirs[~isolated], atol=1e-6)
    # an isolated node keeps its own embedding instead of RecBole's ego / (n_layers + 1)
    assert torch.allclose(ours[isolated], ego[isolated])
    assert torch.allclose(theirs[isolated], ego[isolated] / (net.n_layers + 1), atol=1e-7)


def test_ncl_structure_contrastive_loss_per_distinct_node_equals_recboles(loo_encoded):
    import torch
    from recbole.model.general_recommender import NCL

    net = create("ncl", **{**FAST, "epochs": 1}, **NCL_FAST).fit(loo_encoded)._net
    net.ssl_reg, net.alpha = 1.0, 0.5  # (the default weight, 1e-7, would make any gradient pass atol)
    torch.manual_seed(0)
    n = net.n_users + net.n_items
    users, items = torch.tensor([1, 3, 3, 2, 1, 3]), torch.tensor([2, 2, 5, 1, 2, 7])
    views = [torch.randn(n, 8, requires_grad=True) for _ in range(2)]
    ours = type(net).ssl_layer_loss(net, *views, users, items)
    theirs = NCL.ssl_layer_loss(net, *views, users, items)
    assert torch.allclose(ours, theirs, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(ours, views), torch.autograd.grad(theirs, views)):
        assert torch.allclose(a, b, atol=1e-6) and b.abs().max() > 1e-3


def test_ncl_propagation_and_gradients_equal_recboles(loo_encoded):
    import torch
    from recbole.model.general_recommender import NCL

    net = create("ncl", **{**FAST, "epochs": 2}, **NCL_FAST).fit(loo_encoded)._net
    assert type(net) is not NCL and isinstance(net, NCL)
    results = []
    for forward in (type(net).forward, NCL.forward):
        net.zero_grad()
        user, item, layers = forward(net)
        (user.pow(2).sum() + item.pow(3).sum() + layers[-1].abs().sum()).backward()
        results.append(([user, item, *layers], [p.grad.clone() for p in (net.user_embedding.weight, net.item_embedding.weight)]))
    (ours, our_grads), (theirs, their_grads) = results
    assert len(ours) == len(theirs) == 2 + 1 + max(net.n_layers, 2 * net.hyper_layers)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-6)
    for a, b in zip(our_grads, their_grads):
        assert torch.allclose(a, b, atol=1e-5) and b.abs().sum() > 0


# HR@12 on synthetic H&M cold items (generator seeds 0 / 1 / 2; random 0.070 / 0.066 / 0.061, Pop 0):
# bpr fuse 0.426 / 0.314 / 0.135, lightgcn fuse 0.198 / 0.357 / 0.104, neumf fuse id_dropout 0.5
# 0.387 / 0.290 / 0.144, lightgcn item_identity=false 0.489 / 0.466 / 0.229 (/tmp experiment, 30 epochs).
# NeuMF fuse without id_dropout stays below random (0.042 / 0.021 / 0.024): its MLP leans on the ID part.
COLD_SETTINGS = {"epochs": 30, "stopping_step": 5, "learning_rate": 0.01}


@pytest.mark.parametrize(
    "name,params",
    [
        ("bpr-recbole", {"content": "fuse"}),
        ("lightgcn", {"content": "fuse"}),
        ("sgl", {"content": "fuse"}),
        ("neumf", {"content": "fuse", "id_dropout": 0.5}),
        ("lightgcn", {"content": "fuse", "item_identity": False}),
    ],
)
def test_content_variants_beat_pop_and_random_on_synthetic_hm_cold_items(synthetic_hm_cold, name, params):
    from recsys_cl.testing import assert_beats_pop_and_random_on_cold_items

    encoded, embeddings = synthetic_hm_cold
    model = create(name, **COLD_SETTINGS, **params).fit(encoded, embeddings)
    assert_beats_pop_and_random_on_cold_items(model, encoded, margin=0.05)


def test_item_identity_false_gives_no_item_an_id_part(loo_encoded, item_embeddings):
    model = create("bpr-recbole", **{**FAST, "epochs": 2}, content="fuse", item_identity=False).fit(loo_encoded, item_embeddings)
    table = model._net.item_embedding
    assert float(table.has_id.sum()) == 0
    weight = table.weight.detach()
    np.testing.assert_allclose(weight.numpy(), (table.projection(table.content) * table.has_content).detach().numpy(), atol=1e-7)
    with pytest.raises(InputError, match="item_identity"):
        create("lightgcn", item_identity=False)
    with pytest.raises(InputError, match="id_dropout"):
        create("neumf", id_dropout=0.5)


def test_sgl_ssl_loss_per_distinct_node_equals_recboles():
    # same loss and gradients as RecBole's row-by-row InfoNCE, with repeated users and items in the batch
    import torch
    from recbole.model.general_recommender import SGL

    torch.manual_seed(0)
    fast = graph_model_class(SGL)
    holder = type("Holder", (), {"ssl_tau": 0.5, "ssl_weight": 0.05})()
    users, items = torch.tensor([0, 3, 3, 1, 0, 3]), torch.tensor([2, 2, 5, 0, 2, 7])
    views = [torch.randn(n, 8, requires_grad=True) for n in (4, 4, 9, 9)]
    ours = fast.calc_ssl_loss(holder, users, items, *views)
    ours_grads = torch.autograd.grad(ours, views)
    theirs = SGL.calc_ssl_loss(holder, users, items, *views)
    their_grads = torch.autograd.grad(theirs, views)
    assert torch.allclose(ours, theirs, rtol=1e-5)
    for a, b in zip(ours_grads, their_grads):
        assert torch.allclose(a, b, atol=1e-6)
