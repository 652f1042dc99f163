"""Each RecBole work-around: the unpatched code fails (shown by calling the original), the patched one works."""

from __future__ import annotations

import pickle
from pathlib import Path
from unittest import mock

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
import torch

from recsys_cl.compat import recbole as compat
from recsys_cl.data import loo

from .conftest import DATASET, recbole_config


def _trainer(config, model):
    """A RecBole Trainer without the TensorBoard writer it would create in the working directory."""
    from recbole.trainer import trainer as trainer_module
    from recbole.utils import get_trainer

    with mock.patch.object(trainer_module, "get_tensorboard", lambda logger: mock.MagicMock()):
        return get_trainer(config["MODEL_TYPE"], config["model"])(config, model)


def _prepared(root: Path, model: str, **extra):
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, init_seed

    config = recbole_config(root, model, **extra)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    net = get_model(config["model"])(config, train._dataset)
    return config, dataset, (train, valid, test), net


def test_patch_is_idempotent():
    before = dict(compat.ORIGINALS)
    compat.patch_recbole()
    assert compat.ORIGINALS == before
    from recbole.trainer.trainer import Trainer

    assert Trainer._save_checkpoint is compat._save_checkpoint


# -- 1. NumPy 2: np.float_ and friends ------------------------------------------------------
def test_config_needs_the_numpy_alias_fix(tiny_dir):
    # RecBole's own shim reads np.float_, which NumPy 2 removed: every Config(...) would fail.
    with pytest.raises(AttributeError, match="float_"):
        compat.ORIGINALS["Config.compatibility_settings"](object())
    config = recbole_config(tiny_dir)
    assert config["model"] == "BPR" and config["epochs"] == 2
    # the aliases RecBole's modules use at call time mean what they meant before NumPy 2
    assert np.float is np.float64 and np.int is np.int_ and np.long is np.int_  # type: ignore[attr-defined]


# -- 2. pandas 3 copy-on-write: fillna(inplace=True) on a column is a no-op ----------------
@pytest.fixture(scope="module")
def items_with_gaps(tmp_path_factory, tiny_interactions) -> Path:
    """The tiny dataset plus an .item file: i2 lacks its price, i3 has an empty text."""
    root = tmp_path_factory.mktemp("gaps")
    loo(tiny_interactions).write(root / DATASET, DATASET)
    lines = ["item_id:token\tprice:float\ttext:token_seq"]
    prices = {"i1": "1.0", "i2": "", "i3": "3.0", "i4": "4.0", "i5": "5.0", "i6": "5.0"}
    for item, price in prices.items():
        lines.append(f"{item}\t{price}\t{'' if item == 'i3' else 'red dress ' + item}")
    (root / DATASET / f"{DATASET}.item").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _load_with_items(root: Path):
    from recbole.data import create_dataset

    config = recbole_config(
        root, load_col={"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "price", "text"]}
    )
    dataset = create_dataset(config)
    dataset.build()  # turns the pandas features into tensors indexed by RecBole's ids
    return dataset


def test_missing_float_is_filled_with_the_mean(items_with_gaps):
    from recbole.data.dataset.dataset import Dataset

    with mock.patch.object(Dataset, "_fill_nan", compat.ORIGINALS["Dataset._fill_nan"]):
        unpatched = _load_with_items(items_with_gaps)
    assert torch.isnan(unpatched.get_item_feature()["price"]).any()  # the silent bug: the gap stays NaN

    dataset = _load_with_items(items_with_gaps)
    price = dataset.get_item_feature()["price"]
    assert not torch.isnan(price).any()
    i2 = dataset.token2id("item_id", "i2")
    # mean of the five known prices (1, 3, 4, 5, 5); RecBole stores floats as float32
    assert price[i2].item() == pytest.approx(3.6, abs=1e-5)
    assert price[dataset.token2id("item_id", "i4")].item() == pytest.approx(4.0)


def test_token_seq_field_is_remapped_per_row(items_with_gaps):
    from recbole.data.dataset.dataset import Dataset

    # pandas 3: Series.agg(len) is len(series), so the split points of the text field are wrong
    with mock.patch.object(Dataset, "_remap", compat.ORIGINALS["Dataset._remap"]):
        with pytest.raises(ValueError, match="Length of values"):
            _load_with_items(items_with_gaps)
    dataset = _load_with_items(items_with_gaps)
    text = dataset.get_item_feature()["text"]
    words = dataset.field2id_token["text"]
    i5 = text[dataset.token2id("item_id", "i5")].tolist()
    assert [words[t] for t in i5 if t > 0] == ["red", "dress", "i5"]


def test_empty_token_seq_cell_becomes_an_empty_sequence(items_with_gaps):
    from recbole.data.dataset import dataset as dataset_module

    with mock.patch.object(dataset_module, "pd", compat.ORIGINALS["dataset.pd"]):
        with pytest.raises(AttributeError, match="split"):  # nan.split(...) after the ignored fillna
            _load_with_items(items_with_gaps)
    dataset = _load_with_items(items_with_gaps)
    text = dataset.get_item_feature()["text"]  # (n_items + 1, seq_len) token ids by item id, 0 = padding
    assert (text[dataset.token2id("item_id", "i3")] == 0).all()
    assert (text[dataset.token2id("item_id", "i1")] > 0).sum() == 3  # "red dress i1"


# -- 3. SciPy >= 1.13: dok_matrix._update is gone -------------------------------------------
def test_lightgcn_norm_adjacency_matches_hand_computation(tiny_dir, tiny_interactions, monkeypatch):
    config, dataset, (train, _, _), net = _prepared(tiny_dir, "LightGCN")
    got = net.norm_adj_matrix.to_dense().numpy()

    # by hand: bipartite adjacency over RecBole's ids (0 = [PAD]) from the loo train part, binary
    n_users, n_items = dataset.user_num, dataset.item_num
    adjacency = np.zeros((n_users + n_items, n_users + n_items))
    train_rows = loo(tiny_interactions).train
    for user, item in zip(train_rows["user_id"].to_list(), train_rows["item_id"].to_list()):
        u, i = dataset.token2id("user_id", user), dataset.token2id("item_id", item)
        adjacency[u, n_users + i] = adjacency[n_users + i, u] = 1.0
    degree = adjacency.sum(axis=1)
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-300)), 0.0)
    expected = inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert adjacency.sum() == 2 * 9  # 9 train pairs (u4 bought i3 twice: valid and test)

    monkeypatch.delattr(sp.dok_matrix, "_update")
    from recbole.model.general_recommender import LightGCN

    with pytest.raises(AttributeError, match="_update"):
        LightGCN(config, train._dataset)


# -- 4. torch >= 2.6: torch.load(weights_only=True) by default ------------------------------
def test_best_model_is_restored_with_the_safe_loader(tiny_dir, tmp_path):
    config, _, (train, valid, test), net = _prepared(tiny_dir, "BPR")
    trainer = _trainer(config, net)
    trainer.fit(train, valid, saved=True, show_progress=False)
    checkpoint = torch.load(trainer.saved_model_file)  # weights_only=True: the default, on purpose
    assert checkpoint["config"] == {"model": "BPR"}
    best = {k: v.clone() for k, v in checkpoint["state_dict"].items()}

    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    trainer.evaluate(test, load_best_model=True)
    for name, value in net.state_dict().items():
        assert torch.equal(value, best[name]), name

    # resuming uses RecBole's own resume_checkpoint, which also loads with the safe default
    resumed = _trainer(config, net)
    resumed.resume_checkpoint(trainer.saved_model_file)
    assert resumed.start_epoch == checkpoint["epoch"] + 1

    # RecBole's original checkpoint pickles the Config object: the safe loader refuses it
    stock_file = tmp_path / "stock.pth"
    compat.ORIGINALS["Trainer._save_checkpoint"](trainer, 0, verbose=False, saved_model_file=str(stock_file))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(stock_file)


def test_non_tensor_other_parameters_come_back_from_memory(tiny_dir):
    # ItemKNN keeps a SciPy similarity matrix as an "other parameter": not loadable weights-only.
    config, _, (train, valid, test), net = _prepared(tiny_dir, "ItemKNN", k=3)
    trainer = _trainer(config, net)
    trainer.fit(train, valid, saved=True, show_progress=False)
    similarity = net.w.copy()
    assert "w" not in torch.load(trainer.saved_model_file)["other_parameter"]
    net.w = sp.csr_matrix(similarity.shape)
    trainer.evaluate(test, load_best_model=True)
    assert (abs(net.w - similarity)).sum() == 0 and similarity.nnz > 0


# -- loading our atomic files with benchmark_filename ---------------------------------------
def test_recbole_sees_our_split_files_with_the_same_counts(tiny_dir, tiny_interactions):
    from recbole.data import create_dataset, data_preparation

    split = loo(tiny_interactions)
    config = recbole_config(tiny_dir)
    dataset = create_dataset(config)
    # RecBole reserves id 0 for [PAD] in both vocabularies
    assert dataset.user_num - 1 == tiny_interactions["user_id"].n_unique() == 5
    assert dataset.item_num - 1 == tiny_interactions["item_id"].n_unique() == 6
    assert dataset.inter_num == tiny_interactions.height == 17
    assert sorted(dataset.field2id_token["user_id"][1:].tolist()) == ["u1", "u2", "u3", "u4", "u5"]
    train, valid, test = data_preparation(config, dataset)
    for part, loader in (("train", train), ("valid", valid), ("test", test)):
        assert loader._dataset.inter_num == split.part(part).height, part
    # the test rows are ours, row for row
    got = test._dataset.inter_feat
    pairs = sorted(
        (dataset.id2token("user_id", u), dataset.id2token("item_id", i))
        for u, i in zip(got["user_id"].tolist(), got["item_id"].tolist())
    )
    assert pairs == sorted(zip(split.test["user_id"].to_list(), split.test["item_id"].to_list()))
    assert isinstance(split.test, pl.DataFrame)
