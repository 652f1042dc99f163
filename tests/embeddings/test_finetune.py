"""``finetune_layers``: the last encoder layers train with the head, the layers below stay exactly as
loaded, runs are deterministic, the base-vector cache only ever holds the frozen encoder's vectors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from recsys_cl.cli import main
from recsys_cl.data._atomic import read_atomic, write_atomic
from recsys_cl.embeddings import _finetune, embed, read_itememb
from recsys_cl.embeddings._efficientnet import load_efficientnet_lite0
from recsys_cl.embeddings._encoders import VectorCache, content_key, encode_texts, load_sentence_transformer
from recsys_cl.errors import InputError

from conftest import build_styles

TEXT_FT = {"train": {"epochs": 2, "batch_size": 32, "finetune_layers": 1}}


def _changed(trained: dict, fresh: dict) -> set[str]:
    assert trained.keys() == fresh.keys()
    return {k for k in fresh if not torch.equal(trained[k].cpu(), fresh[k])}


@pytest.fixture
def recorded(monkeypatch):
    """The encoder modules each tower was cut from, in the order the learners built them."""
    models: list[torch.nn.Module] = []

    def text_tower(model, n_layers, device="auto"):
        st = load_sentence_transformer(model, device)
        models.append(st)
        return _finetune.TextTower(st, n_layers, model)

    def image_tower(n_layers, load, device="auto"):
        net = load_efficientnet_lite0()
        models.append(net)
        return _finetune.ImageTower(net, n_layers, load)

    monkeypatch.setattr(_finetune, "text_tower", text_tower)
    monkeypatch.setattr(_finetune, "image_tower", image_tower)
    return models


def test_text_split_reproduces_the_sentence_transformer_cached_or_not():
    texts = ["Men classic black tshirts apparel", "Women summer red sandals footwear", "a watch", "blue jeans"]
    tower = _finetune.text_tower("all-MiniLM-L6-v2", 2, "cpu")
    base, _ = encode_texts(texts, use_cache=False, device="cpu")
    np.testing.assert_allclose(tower.encode(texts), base, atol=1e-5)
    trainable = {n for n, p in tower.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("trainable.0.", "trainable.1.")) for n in trainable)
    # training batches: frozen layers' output kept (small catalogue) or recomputed (budget exceeded)
    rows = np.array([[3, 0], [0, 2]])
    tower.prepare(texts)
    assert tower.cached
    np.testing.assert_allclose(tower.encode_rows(), base, atol=1e-5)
    tower.eval()
    with torch.no_grad():
        kept = tower.features(rows)
        tower.prepare(texts, budget=0)
        assert not tower.cached
        recomputed = tower.features(rows)
    assert kept.shape == (2, 2, 384)
    np.testing.assert_allclose(kept.numpy(), recomputed.numpy(), atol=1e-5)
    np.testing.assert_allclose(kept[0, 0].numpy(), base[3], atol=1e-5)


def test_text_finetune_trains_the_last_layer_only_deterministically(styles_dir, tmp_path, recorded):
    options = {"cache_dir": str(tmp_path / "cache"), **TEXT_FT}
    a, quality = embed(styles_dir, "text-nce", tmp_path / "a.itememb", **options)
    b, _ = embed(styles_dir, "text-nce", tmp_path / "b.itememb", **options)
    # the last transformer layer changed; embeddings and layers 1-5 are bit-identical to the packaged model
    fresh = load_sentence_transformer("all-MiniLM-L6-v2", "cpu").state_dict()
    changed = _changed(recorded[0].state_dict(), fresh)
    assert changed and all(".encoder.layer.5." in k for k in changed), sorted(changed)
    assert read_itememb(tmp_path / "a.itememb").vectors.shape == a.vectors.shape == (96, 128)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    written = json.loads((tmp_path / "a.itememb.quality.json").read_text())
    assert written["finetune_layers"] == 1 and written["training"]["finetune"]["text"]["layers"] == 1
    assert written["training"]["finetune"]["text"]["lower_part_cached"] is True
    assert quality.trained.text_to_item  # queries run through the fine-tuned encoder too
    # the base cache holds the frozen encoder's vectors of the item texts, nothing fine-tuned
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["text-all-MiniLM-L6-v2"]
    texts = _item_texts(styles_dir)
    base, _ = encode_texts(texts, use_cache=False)
    found, missing = VectorCache("text-all-MiniLM-L6-v2", tmp_path / "cache").lookup([content_key(t) for t in texts])
    assert not missing
    np.testing.assert_allclose(np.stack(found), base, atol=1e-6)
    tuned = recorded[0].encode(texts[:8], normalize_embeddings=True)
    assert np.abs(tuned - base[:8]).max() > 1e-4  # the fine-tuned encoder does differ from what is cached


def _item_texts(data_dir: Path) -> list[str]:
    return read_atomic(data_dir / f"{data_dir.name}.item")["text"].fill_null("").to_list()


def test_image_finetune_trains_the_last_block_and_conv_head_only(tmp_path, recorded):
    data_dir = build_styles(tmp_path, copies=1, images=True, missing_image_every=2)
    item_file = data_dir / f"{data_dir.name}.item"
    write_atomic(read_atomic(item_file).filter(pl.col("image_path") != "").head(10), item_file)  # 10 images: fast
    options = {"cache_dir": str(tmp_path / "cache"), "simclr_views": 1,
               "train": {"epochs": 2, "batch_size": 16, "finetune_layers": 1}}
    a, quality = embed(data_dir, "image-simclr", tmp_path / "a.itememb", **options)
    b, _ = embed(data_dir, "image-simclr", tmp_path / "b.itememb", **options)
    fresh = load_efficientnet_lite0().state_dict()
    changed = _changed(recorded[0].state_dict(), fresh)
    assert any(k.startswith("blocks.15.") for k in changed) and any(k.startswith("head.") for k in changed)
    assert all(k.startswith(("blocks.15.", "head.")) for k in changed), sorted(changed)
    assert not any("running_" in k or "num_batches" in k for k in changed)  # BatchNorm statistics stay ImageNet's
    assert read_itememb(tmp_path / "a.itememb").vectors.shape == a.vectors.shape == (10, 128)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert quality.finetune_layers == 1 and quality.training.finetune["image"]["unit"] == "MBConv block"
    # only the frozen encoder's features of the plain images are cached
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["image-efficientnet_lite0"]


@pytest.mark.parametrize(("method", "extra", "message"), [
    ("raw-text", {}, "raw-text trains no encoder"),
    ("raw-image", {}, "raw-image trains no encoder"),
    ("text-nce", {"text_model": "tfidf"}, "tfidf has no layers"),
    ("image-simclr", {"image_model": "resnet18"}, "efficientnet_lite0 only"),
])
def test_combinations_without_an_encoder_to_tune_are_one_clear_error(styles_dir, tmp_path, method, extra, message):
    with pytest.raises(InputError, match=message):
        embed(styles_dir, method, tmp_path / "x.itememb", use_cache=False, **extra, **TEXT_FT)
    assert not list(tmp_path.glob("x.itememb*"))


def test_composed_retrieval_refuses_finetuning():
    from recsys_cl.embeddings._composed import composed_options

    with pytest.raises(InputError, match="finetune_layers must be 0"):
        composed_options(None, {"train": {"finetune_layers": 1}})


def test_more_layers_than_the_model_has_is_an_error(styles_dir, tmp_path):
    with pytest.raises(InputError, match="has 6 transformer layers"):
        embed(styles_dir, "text-triplet", tmp_path / "x.itememb", use_cache=False, train={"finetune_layers": 7})


def test_cpu_run_warns_once(caplog):
    from recsys_cl.embeddings._train import TrainConfig

    with caplog.at_level(logging.WARNING, logger=_finetune.__name__):
        _finetune.check_finetune("text-nce", "all-MiniLM-L6-v2", "efficientnet_lite0", TrainConfig(device="cpu"))
        assert not caplog.records  # nothing to say without fine-tuning
        _finetune.check_finetune("text-nce", "all-MiniLM-L6-v2", "efficientnet_lite0",
                                 TrainConfig(device="cpu", finetune_layers=2))
    assert [r.getMessage() for r in caplog.records] == ["fine-tuning 2 encoder layer(s) without a GPU: this is slow"]


def test_cli_flag_reaches_the_training_options(styles_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["embed", "--data", str(styles_dir), "--method", "raw-text", "--out", str(tmp_path / "x.itememb"),
              "--finetune-layers", "1"])
    assert exit_info.value.code == 2
    assert "--finetune-layers 1: raw-text trains no encoder" in capsys.readouterr().err


@pytest.mark.slow
def test_every_finetunable_method_runs_end_to_end(tmp_path):
    data_dir = build_styles(tmp_path, images=True, missing_image_every=7)
    options = {"cache_dir": str(tmp_path / "cache"), "train": {"epochs": 2, "batch_size": 64, "finetune_layers": 2}}
    for method in _finetune.FINETUNE_METHODS:
        own = {"simclr_views": 1} if method == "image-simclr" else {}
        emb, quality = embed(data_dir, method, tmp_path / f"{method}.itememb", **options, **own)
        assert np.isfinite(emb.vectors).all() and emb.dim == 128
        tuned = quality.training.finetune
        expected = {"clip": {"text", "image"}, "image-simclr": {"image"}}.get(method, {"text"})
        assert set(tuned) == expected and all(t["layers"] == 2 for t in tuned.values()), (method, tuned)
    assert quality.trained.image_to_item and quality.trained.text_to_item  # clip, last
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["image-efficientnet_lite0", "text-all-MiniLM-L6-v2"]
