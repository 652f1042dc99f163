"""Sequential backends (SASRec, GRU4Rec, CORE): the shared contract, sequences and windows, equality of
the window training with RecBole's own prefix forward and loss, a predictable next item, the test part
never read, the content tables, and the protocols they refuse."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import polars as pl
import pytest
import torch

from recsys_cl.compat.recbole import make_config
from recsys_cl.data import EncodedSplit, loo, temporal
from recsys_cl.data._split import DAY, Split
from recsys_cl.embeddings._io import ItemEmbeddings, principal_components
from recsys_cl.errors import InputError
from recsys_cl.evaluation import evaluate
from recsys_cl.models import MODELS, create
from recsys_cl.models._base import UNKNOWN_SCORE
from recsys_cl.models._modalities import aligned_modalities
from recsys_cl.models.recbole._sequences import NEGATIVE_NEXT_ITEMS, NEXT_ITEMS, SequenceCatalogue, UserSequences
from recsys_cl.models.recbole._sequential import build_network, sequential_settings
from recsys_cl.models.recbole._sequential_nets import frozen_rows

from recsys_cl.testing import ModelTests
from .conftest import START

# Tiny data, so: small tables, a larger step than RecBole's default, short sequences, one torch thread.
FAST = {"embedding_size": 16, "train_batch_size": 64, "learning_rate": 0.01, "epochs": 20, "stopping_step": 20,
        "num_threads": 1, "max_seq_length": 8}
SEQUENTIAL = ("sasrec", "gru4rec", "core")


class TestSASRec(ModelTests):
    model_name = "sasrec"
    params = FAST


# Cold items for a next-item model: new items bought last, in no training sequence
# (``sequential_cold_encoded``). Observed HR@10 on them: 1.0 for sasrec fuse / frozen and core frozen
# (seeds 0 and 1; also init 0.99, gru4rec fuse / frozen 1.0) vs random 0.23, Pop 0.0, pure-ID sasrec 0.0.
class TestSASRecFuse(ModelTests):
    model_name = "sasrec"
    params = {**FAST, "content": "fuse"}
    needs_embeddings = True
    cold_split = "sequential_cold_encoded"
    expected_cold_margin = 0.3


class TestSASRecFrozen(ModelTests):
    model_name = "sasrec"
    params = {**FAST, "content": "frozen"}
    needs_embeddings = True
    cold_split = "sequential_cold_encoded"
    expected_cold_margin = 0.3


class TestGRU4RecBPR(ModelTests):
    model_name = "gru4rec"
    params = {**FAST, "loss_type": "BPR"}


class TestCORE(ModelTests):
    model_name = "core"
    params = FAST


class TestCOREFrozen(ModelTests):
    model_name = "core"
    params = {**FAST, "content": "frozen"}
    needs_embeddings = True
    cold_split = "sequential_cold_encoded"
    expected_cold_margin = 0.3


# -- sequences and windows ----------------------------------------------------------------------
def test_sequences_are_in_time_order_with_ties_in_file_order():
    # rows out of time order; u1's two purchases at t=5 stay in file order (b before c)
    frame = pl.DataFrame({
        "user_id": ["u1", "u2", "u1", "u1", "u2", "u1", "u1"],
        "item_id": ["d", "x", "b", "c", "y", "a", "e"],
        "timestamp": [9.0, 2.0, 5.0, 5.0, 1.0, 1.0, 10.0],
    })  # fmt: skip
    split = Split("loo", frame, frame.clear(), frame.clear(), {})
    encoded = EncodedSplit.from_split(split)
    sequences = UserSequences.from_split(encoded, "sasrec")
    as_ids = [encoded.item_ids[sequences.items[sequences.indptr[u] : sequences.indptr[u + 1]]].tolist() for u in range(2)]
    assert as_ids == [["a", "b", "c", "d", "e"], ["y", "x"]]


def test_windows_make_every_item_but_the_first_a_target_once():
    lengths = [7, 1, 0, 3]
    sequences = UserSequences(np.concatenate([[0], np.cumsum(lengths)]), np.arange(11))
    first, last = sequences.windows(max_len=3)
    # user 0 (items 0-6): windows end at its last item and step back 3 items; user 1 has no next item
    assert list(zip(first.tolist(), last.tolist())) == [(3, 6), (0, 3), (8, 10)]
    inputs, lengths_out = sequences.slices(first, last, 3)
    targets, _ = sequences.slices(first + 1, last + 1, 3)
    assert inputs.tolist() == [[4, 5, 6], [1, 2, 3], [9, 10, 0]] and lengths_out.tolist() == [3, 3, 2]  # RecBole ids
    assert targets.tolist() == [[5, 6, 7], [2, 3, 4], [10, 11, 0]]
    assert sorted(targets[targets > 0].tolist()) == [2, 3, 4, 5, 6, 7, 10, 11]
    latest, latest_lengths = sequences.latest(np.array([0, 1, 2]), 3)
    assert latest.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and latest_lengths.tolist() == [3, 1, 0]


# -- window training is RecBole's model and loss ------------------------------------------------
def _network(name: str, n_items: int = 30, max_len: int = 6, **settings):
    """A fresh RecBole network of backend ``name`` (window-trained class) on a catalogue of ``n_items``."""
    model = create(name, **{**FAST, "max_seq_length": max_len, **settings})
    model_class = model._model_class()
    config = make_config(model_class, sequential_settings("/nonexistent", model._settings()), "cpu")
    catalogue = SequenceCatalogue(config, n_users=5, n_items=n_items)
    return model, config, catalogue, build_network(model_class, config, catalogue, model.config, None, np.ones(n_items, bool))


def _window_batch(n_items: int = 30, max_len: int = 6):
    rng = np.random.default_rng(0)
    lengths = np.array([6, 4, 1])
    items = rng.integers(1, n_items + 1, size=(3, max_len + 1))
    inputs = np.where(np.arange(max_len)[None] < lengths[:, None], items[:, :-1], 0)
    targets = np.where(np.arange(max_len)[None] < lengths[:, None], items[:, 1:], 0)
    negatives = np.where(targets > 0, rng.integers(1, n_items + 1, size=targets.shape), 0)
    return torch.as_tensor(inputs), torch.as_tensor(lengths), torch.as_tensor(targets), torch.as_tensor(negatives)


def _prefixes(inputs, lengths, targets, negatives):
    """RecBole's prefix examples of a window batch: one per (row, position), left-aligned."""
    rows = []
    for row, length in enumerate(lengths.tolist()):
        for t in range(length):
            rows.append((torch.cat([inputs[row, : t + 1], torch.zeros(inputs.shape[1] - t - 1, dtype=torch.long)]), t + 1,
                         targets[row, t], negatives[row, t]))
    seq, length, target, negative = zip(*rows)
    return torch.stack(seq), torch.tensor(length), torch.stack(target), torch.stack(negative)


@pytest.mark.parametrize("name,settings", [
    ("sasrec", {}), ("gru4rec", {}), ("gru4rec", {"loss_type": "BPR"}), ("core", {}), ("core", {"dnn_type": "ave"}),
    ("sasrec", {"loss_type": "BPR"}),
])  # fmt: skip
def test_window_outputs_and_loss_equal_recboles_on_each_prefix(name, settings):
    from recbole.data.interaction import Interaction

    _, _, _, net = _network(name, **settings)
    net.eval()  # no dropout: both paths are then deterministic
    inputs, lengths, targets, negatives = _window_batch()
    seq, seq_len, target, negative = _prefixes(inputs, lengths, targets, negatives)
    recbole_class = type(net).__mro__[1]  # RecBole's own SASRec / GRU4Rec / CORE
    assert recbole_class.__module__.startswith("recbole.model.sequential_recommender")
    with torch.no_grad():
        ours = net.position_outputs(inputs)
        theirs = net.forward(seq) if name == "core" else net.forward(seq, seq_len)
        by_position = torch.cat([ours[row, : int(n)] for row, n in enumerate(lengths)])
        assert torch.allclose(by_position, theirs, atol=1e-5), name
        window = Interaction({net.ITEM_SEQ: inputs, net.ITEM_SEQ_LEN: lengths, NEXT_ITEMS: targets, NEGATIVE_NEXT_ITEMS: negatives})
        prefix = Interaction({net.ITEM_SEQ: seq, net.ITEM_SEQ_LEN: seq_len, net.ITEM_ID: target, net.NEG_ITEM_ID: negative})
        our_loss, their_loss = net.calculate_loss(window), recbole_class.calculate_loss(net, prefix)
    assert our_loss.item() == pytest.approx(their_loss.item(), rel=1e-5) and their_loss.item() > 0


# -- behaviour ------------------------------------------------------------------------------------
def _chain(n_users: int = 40, cycle: int = 20, seed: int = 0) -> pl.DataFrame:
    """Each user walks the cycle c00 -> c01 -> ... -> c19 -> c00 from a random start, 5 to 8 steps, one a day:
    the next item is always the successor of the last one."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(cycle))
        for step in range(int(rng.integers(5, 9))):
            rows.append((f"u{u:02d}", f"c{(start + step) % cycle:02d}", START + step * DAY))
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def _with_valid_in_train(split: Split) -> EncodedSplit:
    """The split refit on train + valid (as ``tuning.refit: train+valid`` does): the test item comes next."""
    merged = Split(split.protocol, pl.concat([split.train, split.valid]), split.valid.clear(), split.test, {})
    return EncodedSplit.from_split(merged)


# RecBole's transformer dropout (0.5) on 40 tiny sequences: CORE needed 80 epochs to rank every next
# item first (0.575 of them after 40); at 0.1 it does after 20
LIGHT_DROPOUT = {"hidden_dropout_prob": 0.1, "attn_dropout_prob": 0.1}


@pytest.mark.parametrize("name,settings", [("sasrec", LIGHT_DROPOUT), ("gru4rec", {}), ("core", LIGHT_DROPOUT)])
def test_a_predictable_next_item_is_ranked_first(name, settings):
    split = loo(_chain())
    encoded = EncodedSplit.from_split(split)
    params = {**FAST, "epochs": 40, "stopping_step": 40, **settings}
    model = create(name, **params).fit(encoded)
    # under loo the valid item is the next after the training sequence ...
    users = encoded.eval_users("valid")
    top = model.recommend(encoded.user_ids[users], k=1).items[:, 0]
    assert (top == encoded.valid[users].indices).all()
    assert model.history.best_epoch is not None and len(model.history.valid_curve) == model.history.epochs_run
    # ... and with the valid item in the sequence, the test item is
    refit = _with_valid_in_train(split)
    model = create(name, **params).fit(refit)
    users = refit.eval_users("test")
    top = model.recommend(refit.user_ids[users], k=1).items[:, 0]
    assert (top == refit.test[users].indices).all()


def test_the_test_part_is_never_read_while_training(structured_interactions):
    split = loo(structured_interactions)
    catalogue = pl.DataFrame({"item_id": EncodedSplit.from_split(split).item_ids})
    rng = np.random.default_rng(0)
    garbage = split.test.with_columns(pl.Series("item_id", rng.choice(catalogue["item_id"].to_numpy(), split.test.height)))
    fitted = []
    for test in (split.test, garbage, split.test.clear()):
        encoded = EncodedSplit.from_split(dataclasses.replace(split, test=test), catalogue)
        fitted.append(create("sasrec", **{**FAST, "epochs": 3}).fit(encoded))
    reference = fitted[0]._net.state_dict()
    for other in fitted[1:]:
        assert other.history.valid_curve == fitted[0].history.valid_curve
        for key, value in other._net.state_dict().items():
            assert torch.equal(value, reference[key]), key
    assert fitted[1].encoded.test.nnz == fitted[0].encoded.test.nnz and fitted[2].encoded.test.nnz == 0


def test_recommend_agrees_with_recboles_evaluator_on_the_valid_part(loo_encoded):
    model = create("sasrec", **FAST).fit(loo_encoded)
    theirs = model.recbole_evaluate("valid", k=10)
    rankings = model.recommend(loo_encoded.user_ids[loo_encoded.eval_users("valid")], k=10)
    ours = evaluate(rankings, loo_encoded, part="valid", metrics=["hr", "ndcg", "mrr"], ks=[10])
    for recbole_name, our_name in {"hit@10": "hr@10", "ndcg@10": "ndcg@10", "mrr@10": "mrr@10"}.items():
        assert ours.summary[our_name] == pytest.approx(theirs[recbole_name], abs=5e-5 + 1e-9), recbole_name
    assert theirs["hit@10"] > 0.3  # not an agreement on zeros
    assert theirs["ndcg@10"] == pytest.approx(model.best_valid_score, abs=1e-4)  # the restored best epoch
    with pytest.raises(InputError, match="valid part only"):
        model.recbole_evaluate("test")


# -- protocols and bad input ----------------------------------------------------------------------
@pytest.mark.parametrize("name", SEQUENTIAL)
def test_refuses_a_protocol_without_time_order(name, cold_encoded):
    backend = MODELS.get(name)
    assert backend.protocols == ("loo", "temporal")
    message = rf"^{name}: protocol 'cold-item' does not hold out each user's latest interactions .* use loo or temporal$"
    backend.check_protocol("temporal")  # what config validation can call, on the class, before reading data
    with pytest.raises(InputError, match=message):
        backend.check_protocol("cold-item")
    with pytest.raises(InputError, match=message):
        create(name, **FAST).fit(cold_encoded)


def test_train_part_without_timestamps_is_a_clear_error(loo_encoded):
    train = loo_encoded.split.train
    undated = train.with_columns(pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise(pl.col("timestamp")).alias("timestamp"))
    for frame, match in [(undated, rf"^sasrec: 2 of {train.height} train interactions have no timestamp"),
                         (train.drop("timestamp"), r"^sasrec: the train part has no timestamp column")]:
        encoded = dataclasses.replace(loo_encoded, split=dataclasses.replace(loo_encoded.split, train=frame))
        with pytest.raises(InputError, match=match):
            create("sasrec", **FAST).fit(encoded)


def test_settings_are_checked(loo_encoded, item_embeddings):
    with pytest.raises(InputError, match="n_heads=3 must divide embedding_size=16"):
        create("sasrec", **FAST, n_heads=3)
    with pytest.raises(InputError, match="loss_type"):
        create("core", loss_type="BPR")
    with pytest.raises(InputError, match="content='frozen' needs item embeddings"):
        create("gru4rec", **FAST, content="frozen").fit(loo_encoded)
    with pytest.raises(InputError, match="content is 'none'"):
        create("gru4rec", **FAST).fit(loo_encoded, item_embeddings)
    with pytest.raises(InputError, match="id_dropout needs content=fuse"):
        create("sasrec", content="frozen", id_dropout=0.5)


def test_temporal_users_without_history_get_no_scores(caplog):
    # u_new buys only in the last week (test) and the one before (valid): no training sequence
    frame = _chain(n_users=12).with_columns((pl.col("timestamp") - 30 * DAY).alias("timestamp"))
    late = pl.DataFrame({"user_id": ["u_new", "u_new", "u00"], "item_id": ["c01", "c02", "c03"],
                         "timestamp": [START - 10 * DAY, START - 2 * DAY, START - 2 * DAY]})
    encoded = EncodedSplit.from_split(temporal(pl.concat([frame, late]), test_days=7, valid_days=7))
    with caplog.at_level(logging.WARNING):
        model = create("gru4rec", **FAST).fit(encoded)
    assert "1 of 1 valid users have no training interaction" in caplog.text
    assert model.history.valid_curve == []  # the only valid user had no sequence: nothing validated
    scores = model._score(encoded.user_index(["u_new", "u00"]))
    assert (scores[0] == UNKNOWN_SCORE).all() and (scores[1] > UNKNOWN_SCORE).all()


# -- content tables --------------------------------------------------------------------------------
def _partial(item_embeddings: ItemEmbeddings, drop: list[str]) -> ItemEmbeddings:
    keep = ~np.isin(item_embeddings.item_ids, drop)
    return ItemEmbeddings(item_embeddings.item_ids[keep], item_embeddings.vectors[keep], "partial")


def test_init_starts_the_item_table_from_principal_components(loo_encoded, item_embeddings):
    embeddings = _partial(item_embeddings, ["i05"])
    modality = aligned_modalities(loo_encoded.item_ids, embeddings, "sasrec", "")[0]
    model = create("sasrec", **FAST, content="init")
    model_class = model._model_class()
    config = make_config(model_class, sequential_settings("/nonexistent", model._settings()), "cpu")
    catalogue = SequenceCatalogue(config, loo_encoded.n_users, loo_encoded.n_items)
    trained = np.ones(loo_encoded.n_items, bool)
    plain = build_network(model_class, config, catalogue, create("sasrec", **FAST).config, None, trained)
    net = build_network(model_class, config, catalogue, model.config, modality, trained)
    table, start = net.item_embedding.weight.detach().numpy(), plain.item_embedding.weight.detach().numpy()
    projected = principal_components(modality.vectors, modality.mask, 16)
    scale = start[1:].std(ddof=1) / projected[modality.mask].std()  # torch's std (ddof 1) over numpy's
    rows = 1 + np.flatnonzero(modality.mask)  # RecBole id = our index + 1
    np.testing.assert_allclose(table[rows], projected[modality.mask] * scale, rtol=1e-5, atol=1e-7)
    missing = 1 + loo_encoded.item_index(["i05"])[0]
    np.testing.assert_array_equal(table[missing], start[missing])  # no vector: its random ID row


def test_frozen_table_is_fixed_and_items_without_a_vector_learn_an_id_row(loo_encoded, item_embeddings, caplog):
    embeddings = _partial(item_embeddings, ["i05", "i06"])
    model = create("sasrec", **FAST, content="frozen")
    with caplog.at_level(logging.WARNING):
        model.fit(loo_encoded, embeddings)
    assert "has no vector for 2 of 48 items" in caplog.text and "get a learned ID row" in caplog.text
    assert model.content_coverage == {"dim": 16, "items": 48, "missing": 2}
    table = model._net.item_embedding
    assert [name for name, _ in table.named_parameters()] == ["id_weight"]
    modality = aligned_modalities(loo_encoded.item_ids, embeddings, "sasrec", "")[0]
    expected = frozen_rows(modality.vectors, modality.mask, 16)
    after = table.weight.detach().numpy()
    rows = 1 + np.flatnonzero(modality.mask)
    np.testing.assert_array_equal(after[rows], expected[modality.mask])  # trained 20 epochs, not moved
    assert np.linalg.norm(after[rows], axis=1).mean() == pytest.approx(1.0, rel=1e-5)
    # the two items without a vector: trained ID rows (the same seed's untrained network has other ones)
    model_class = model._model_class()
    start = build_network(model_class, model._config, SequenceCatalogue(model._config, loo_encoded.n_users, loo_encoded.n_items),
                          model.config, modality, np.ones(loo_encoded.n_items, bool)).item_embedding.weight.detach().numpy()
    missing = 1 + loo_encoded.item_index(["i05", "i06"])
    assert not np.allclose(after[missing], start[missing]) and np.abs(after[missing]).sum() > 0
    np.testing.assert_array_equal(start[rows], after[rows])


def test_fit_leaves_autograd_anomaly_detection_off(loo_encoded):
    create("core", **{**FAST, "epochs": 1}).fit(loo_encoded)
    assert not torch.is_anomaly_enabled()


def test_cold_items_in_sequences_are_never_in_training(sequential_cold_encoded):
    # the premise of the cold contract case: every test item is new, bought by several users
    encoded = sequential_cold_encoded
    in_training = np.diff(encoded.train.tocsc().indptr) > 0
    in_valid = np.diff(encoded.valid.tocsc().indptr) > 0
    test_items = np.unique(encoded.test.indices)
    assert len(test_items) == 12 and not (in_training[test_items] | in_valid[test_items]).any()


def test_pure_id_sequence_model_ranks_new_items_last(sequential_cold_encoded):
    model = create("gru4rec", **FAST).fit(sequential_cold_encoded)
    new = np.unique(sequential_cold_encoded.test.indices)
    scores = model._score(np.arange(5))
    assert (scores[:, new] == UNKNOWN_SCORE).all()
    assert (np.delete(scores, new, axis=1) > UNKNOWN_SCORE).all()

