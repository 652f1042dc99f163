"""Each RecBole work-around: the unpatched code fails (shown by calling the original), the patched one
works; and each way ``compat.recbole`` builds RecBole objects does what RecBole's own would not."""

from __future__ import annotations

import ast
import os
import pickle
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
import torch

from recsys_cl.compat import recbole as compat
from recsys_cl.data import loo

from .conftest import DATASET, recbole_config


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
    from recbole.trainer import trainer as trainer_module

    assert trainer_module.Trainer._save_checkpoint is compat._save_checkpoint
    assert trainer_module.get_tensorboard is compat._tensorboard_writer


# -- 1. NumPy 2: np.float_ and friends ------------------------------------------------------
def test_config_needs_the_numpy_alias_fix(tiny_dir, monkeypatch):
    config = recbole_config(tiny_dir)
    assert config["model"] == "BPR" and config["epochs"] == 2
    # the aliases RecBole's modules use at call time mean what they meant before NumPy 2 ...
    from recbole.data import interaction
    from recbole.evaluator import metrics
    from recbole.model import layers

    assert metrics.np.float is np.float64 and metrics.np.bool is np.bool_ and layers.np.long is np.int_
    assert interaction.np.float is np.float64 and metrics.np.zeros is np.zeros  # the rest is NumPy's own
    # ... but only there: NumPy keeps its NumPy-2 namespace (vars: no FutureWarning from NumPy's __getattr__)
    assert not {"float", "int", "str", "object", "complex", "unicode"} & set(vars(np))

    # RecBole's own shim reads np.float_, which NumPy 2 removed: every Config(...) would fail. (It
    # imports numpy itself: given a stand-in, its first assignments, np.bool and np.int, miss NumPy.)
    monkeypatch.setitem(sys.modules, "numpy", compat._ModuleProxy(np))
    with pytest.raises(AttributeError, match="float_"):
        compat.ORIGINALS["Config.compatibility_settings"](object())
    monkeypatch.setitem(sys.modules, "numpy", np)
    # without the proxy, RecBole's metrics fail on NumPy 2
    original_np = compat.ORIGINALS["recbole.evaluator.metrics.np"]
    assert original_np is np
    monkeypatch.setattr(metrics, "np", original_np)
    with pytest.raises(AttributeError, match="float"):
        metrics.MRR.metric_info(object.__new__(metrics.MRR), np.ones((2, 3), dtype=bool))


def _recbole_modules_where(uses: Any) -> set[str]:
    """Dotted names of RecBole's modules with an attribute access (AST node) for which ``uses`` is true."""
    import recbole

    root = Path(recbole.__file__).parent
    return {
        ".".join(("recbole", *path.relative_to(root).with_suffix("").parts))
        for path in root.rglob("*.py")
        if any(uses(node) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Attribute))
    }


def test_every_recbole_module_with_a_removed_name_gets_its_proxy():
    # the lists are complete: a RecBole module using a removed alias or dok_matrix._update that is
    # not listed would fail at call time
    removed = {"float", "int", "long", "bool", "str", "object", "complex", "unicode"}
    aliases = _recbole_modules_where(lambda n: isinstance(n.value, ast.Name) and n.value.id == "np" and n.attr in removed)
    aliases.discard("recbole.config.configurator")  # compatibility_settings itself (replaced)
    assert aliases == set(compat.NUMPY_ALIAS_MODULES)
    assert _recbole_modules_where(lambda n: n.attr == "_update") == set(compat.DOK_UPDATE_MODULES)


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

    # SciPy itself is untouched: only LightGCN's module sees a dok_matrix with _update
    assert not hasattr(sp.dok_matrix, "_update")
    from recbole.model.general_recommender import LightGCN, lightgcn

    monkeypatch.setattr(lightgcn, "sp", compat.ORIGINALS["recbole.model.general_recommender.lightgcn.sp"])
    with pytest.raises(AttributeError, match="_update"):
        LightGCN(config, train._dataset)


# -- 4. torch >= 2.6: torch.load(weights_only=True) by default ------------------------------
def test_best_model_is_restored_with_the_safe_loader(tiny_dir, tmp_path):
    config, _, (train, valid, test), net = _prepared(tiny_dir, "BPR")
    trainer = compat.make_trainer(config, net)
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
    resumed = compat.make_trainer(config, net)
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
    trainer = compat.make_trainer(config, net)
    trainer.fit(train, valid, saved=True, show_progress=False)
    similarity = net.w.copy()
    assert "w" not in torch.load(trainer.saved_model_file)["other_parameter"]
    net.w = sp.csr_matrix(similarity.shape)
    trainer.evaluate(test, load_best_model=True)
    assert (abs(net.w - similarity)).sum() == 0 and similarity.nnz > 0


# -- 6. SINE turns on autograd anomaly detection at import ---------------------------------------
def _fresh_import_of_sequential_models(importer):
    """Run ``importer`` on a first import of RecBole's sequential package (the loaded one is put back after)."""
    import importlib

    import recbole.model

    prefix = "recbole.model.sequential_recommender"
    loaded = {name: module for name, module in sys.modules.items() if name == prefix or name.startswith(prefix + ".")}
    anomaly = torch.is_anomaly_enabled()
    try:
        for name in loaded:
            del sys.modules[name]
        torch.autograd.set_detect_anomaly(False)
        importer()
        return torch.is_anomaly_enabled()
    finally:
        for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
            del sys.modules[name]
        sys.modules.update(loaded)
        recbole.model.sequential_recommender = loaded[prefix]
        torch.autograd.set_detect_anomaly(anomaly)
        importlib.invalidate_caches()


def test_sequential_models_import_without_turning_on_anomaly_detection():
    import importlib

    compat.patch_recbole()  # imports the sequential models once (anomaly mode restored)
    assert not torch.is_anomaly_enabled()
    # RecBole's own import (what get_model does for any sequential model's name) turns it on for the process
    assert _fresh_import_of_sequential_models(lambda: importlib.import_module("recbole.model.sequential_recommender"))
    assert not _fresh_import_of_sequential_models(compat.import_sequential_models)
    # and a sequential model's Config by name, once the work-around ran, leaves it off
    config = compat.make_config("SASRec", {"state": "error", "train_neg_sample_args": None}, "cpu")
    assert config["model"] == "SASRec" and not torch.is_anomaly_enabled()


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


# -- building RecBole objects without RecBole's side effects ----------------------------------
class _WritesMarker:
    """Pickles as a call to ``open(marker, "w")``: unpickling it creates the marker file (runs code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_config_reads_no_command_line_evals_no_string_and_keeps_cuda_devices(tiny_dir, tmp_path, monkeypatch):
    from recbole.config import Config

    marker = tmp_path / "evaluated"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    monkeypatch.setattr(sys, "argv", ["recsys-cl", "--epochs=7"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    settings = {"data_path": str(tiny_dir), "epochs": 2, "learner": code, "show_progress": False, "state": "error"}

    config = compat.make_config("BPR", settings, "cpu", dataset=DATASET)
    assert config["epochs"] == 2 and config["learner"] == code  # the CLI's argv ignored, the string kept as is
    assert not marker.exists() and os.environ["CUDA_VISIBLE_DEVICES"] == "3"

    # RecBole's own Config takes --epochs=7 from argv, runs the string, and hides GPU 3
    theirs = Config(model="BPR", dataset=DATASET, config_dict={**settings, "gpu_id": ""})
    assert theirs["epochs"] == 7 and marker.exists() and os.environ["CUDA_VISIBLE_DEVICES"] == ""


def test_trainer_writes_no_tensorboard_files(tiny_dir, tmp_path, monkeypatch):
    from recbole.utils import get_trainer

    config, _, (train, valid, _), net = _prepared(tiny_dir, "BPR")
    monkeypatch.chdir(tmp_path)
    trainer = compat.make_trainer(config, net)
    trainer.fit(train, valid, saved=True, show_progress=False)
    assert isinstance(trainer.tensorboard, compat.NoTensorBoard) and list(tmp_path.iterdir()) == []
    assert trainer.best_epoch is not None and len(trainer.train_loss_dict) == config["epochs"]

    # RecBole's own trainer opens a writer under ./log_tensorboard (in the caller's working directory)
    theirs = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    theirs.tensorboard.close()
    assert (tmp_path / "log_tensorboard").is_dir()


def test_loaders_never_unpickle_a_saved_file_and_equal_recboles(tiny_dir, tmp_path):
    from recbole.data import create_dataset, data_preparation

    marker = tmp_path / "unpickled"
    evil = tmp_path / "loaders.pth"
    evil.write_bytes(pickle.dumps(_WritesMarker(marker)))
    config = recbole_config(tiny_dir, dataloaders_save_path=str(evil))
    dataset = create_dataset(config)
    ours = compat.prepare_loaders(config, dataset)
    assert not marker.exists()

    # the same loaders as RecBole's data_preparation (which would have run the pickle)
    clean = recbole_config(tiny_dir)
    theirs = data_preparation(clean, create_dataset(clean))
    for mine, recbole in zip(ours, theirs):
        assert type(mine) is type(recbole) and mine.sample_size == recbole.sample_size
    assert torch.equal(ours[0]._dataset.inter_feat["item_id"], theirs[0]._dataset.inter_feat["item_id"])
    assert torch.equal(ours[1].uid_list, theirs[1].uid_list)
    with pytest.raises(ValueError):  # the file is not loaders, but it was unpickled: code ran
        data_preparation(config, create_dataset(config))
    assert marker.exists()


def test_loaders_of_a_sequential_model_equal_recboles(tmp_path, tiny_interactions):
    # the repeatable sampler and sequential loaders of RecBole's data_preparation, for SASRec on one
    # .inter file (RecBole's sequential benchmark files would need pre-built item lists)
    from recbole.data import create_dataset, data_preparation

    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    rows += [f"{u}\t{i}\t{t}" for u, i, t in tiny_interactions.iter_rows()]
    (tmp_path / DATASET).mkdir()
    (tmp_path / DATASET / f"{DATASET}.inter").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = recbole_config(tmp_path, "SASRec", benchmark_filename=None, train_neg_sample_args=None, MAX_ITEM_LIST_LENGTH=3)
    assert config["repeatable"]
    ours = compat.prepare_loaders(config, create_dataset(config))
    theirs = data_preparation(config, create_dataset(config))
    for mine, recbole in zip(ours, theirs):
        assert type(mine) is type(recbole) and mine.sample_size == recbole.sample_size > 0
        a, b = next(iter(mine)), next(iter(recbole))
        a, b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
        assert torch.equal(a["item_id_list"], b["item_id_list"]) and torch.equal(a["item_id"], b["item_id"])


def test_importing_recboles_sequential_models_leaves_autograd_anomaly_mode_off():
    """RecBole's sine.py turns anomaly detection on at import: a process-wide slowdown and changed errors."""
    import subprocess
    import sys

    code = (
        "import torch, recsys_cl.compat.recbole as c; c.patch_recbole(); "
        "import recbole.model.sequential_recommender.sine; print(torch.is_anomaly_enabled())"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert shown.stdout.strip().splitlines()[-1] == "False", shown.stderr[-2000:]
    unpatched = subprocess.run([sys.executable, "-c", "import torch, recbole.model.sequential_recommender.sine; "
                                "print(torch.is_anomaly_enabled())"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert unpatched.stdout.strip().splitlines()[-1] == "True"  # the side effect the compat layer undoes
