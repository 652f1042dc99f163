"""learn() in memory and embed() on prepared folders: end to end on tiny datasets; neighbour-pair
training must widen the held-out gap; seed and device reach every step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.data._atomic import write_atomic
from recsys_cl.embeddings import METHODS, EmbeddingQuality, embed, learn, read_itememb
from recsys_cl.errors import InputError

FAST = {"text_model": "tfidf", "use_cache": False, "train": {"epochs": 15, "batch_size": 64}}


def _topic_items(n_topics: int = 6, per_topic: int = 20, seed: int = 0) -> pl.DataFrame:
    """Items whose text mixes 3 of their topic's 5 words with 6 of 300 shared noise words: neighbours
    by raw TF-IDF are mostly same-topic but far apart, the structure a contrastive head can tighten."""
    rng = np.random.default_rng(seed)
    noise = [f"noise{i}" for i in range(300)]
    rows = []
    for t in range(n_topics):
        words = [f"topic{t}word{j}" for j in range(5)]
        for i in range(per_topic):
            text = list(rng.choice(words, 3, replace=False)) + list(rng.choice(noise, 6, replace=False))
            rows.append({"item_id": f"t{t}i{i}", "text": " ".join(rng.permutation(text))})
    return pl.DataFrame(rows)


def _items_only_dataset(root: Path, items: pl.DataFrame) -> Path:
    """A prepared folder holding items only (as ``prepare styles`` leaves one: no splits)."""
    data_dir = root / "topics"
    data_dir.mkdir()
    write_atomic(items, data_dir / "topics.item")
    (data_dir / "topics.meta.json").write_text(json.dumps({"dataset": "topics", "protocols": {}}))
    return data_dir


def test_neighbour_training_widens_gap_over_raw_vectors():
    emb, quality = learn("text-nce", _topic_items(), neighbours=5, **FAST)
    training = quality.training
    assert training is not None and quality.trained is not None
    assert training.heldout_after.gap > training.heldout_before.gap + 0.1, training
    assert quality.collapse is not None and not quality.collapse.collapsed
    assert len(training.history) == 15 and training.history[-1].train_loss < training.history[0].train_loss
    assert all(h.valid_loss is not None for h in training.history)
    assert emb.vectors.shape == (120, 128) and emb.method == "text-nce"
    assert quality.dataset is None and quality.options["neighbours"] == 5


def test_embed_writes_what_learn_returns_and_round_trips(tmp_path):
    items = _topic_items(n_topics=3, per_topic=8)
    data_dir = _items_only_dataset(tmp_path, items)
    out = tmp_path / "raw.itememb"
    emb, quality = embed(data_dir, "raw-text", out, **FAST)
    in_memory, _ = learn("raw-text", items, **FAST)
    np.testing.assert_array_equal(emb.vectors, in_memory.vectors)
    read = read_itememb(out)
    assert read.item_ids.tolist() == emb.item_ids.tolist() == [f"t{t}i{i}" for t in range(3) for i in range(8)]
    np.testing.assert_allclose(read.vectors, emb.vectors)
    (tmp_path / "raw.itememb.npy").unlink()  # the atomic text file alone must also read back
    np.testing.assert_allclose(read_itememb(out).vectors, emb.vectors, rtol=1e-6)
    written = EmbeddingQuality.read(tmp_path / "raw.itememb.quality.json")
    assert written == quality
    assert (written.method, written.dataset, written.n_embedded, written.trained) == ("raw-text", "topics", 24, None)


def test_seed_drives_every_draw_and_leaves_torch_as_it_was():
    items = _topic_items(n_topics=3, per_topic=10)
    small = {**FAST, "train": {"epochs": 3, "batch_size": 16}}
    import torch

    threads, rng_state = torch.get_num_threads(), torch.random.get_rng_state()
    a, qa = learn("text-nce", items, seed=7, **small)
    b, _ = learn("text-nce", items, **{**small, "train": {**small["train"], "seed": 7}})  # the same seed, given as an option
    c, qc = learn("text-nce", items, seed=8, **small)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    # training leaves torch's global thread count and RNG as it found them
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), rng_state)
    assert np.abs(a.vectors - c.vectors).max() > 1e-4
    # the held-out sets are drawn from the seed too
    assert qa.options["train"]["seed"] == 7 and qa.training.heldout_before != qc.training.heldout_before
    with pytest.raises(InputError, match="seed 8 contradicts train.seed 7"):
        learn("text-nce", items, seed=8, **{**small, "train": {"seed": 7}})


def test_device_cpu_keeps_the_learner_off_a_gpu(monkeypatch):
    """With torch told a GPU exists, ``auto`` sends training there (and fails on this CPU-only torch);
    ``device='cpu'`` keeps every step on the CPU."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    items = _topic_items(n_topics=2, per_topic=6)
    small = {**FAST, "train": {"epochs": 1, "batch_size": 8}}
    emb, quality = learn("text-nce", items, device="cpu", **small)
    assert quality.options["train"]["device"] == "cpu" and np.isfinite(emb.vectors).all()
    with pytest.raises((AssertionError, RuntimeError)):  # "Torch not compiled with CUDA enabled"
        learn("text-nce", items, **small)


def test_triplet_and_copurchase_on_styles(styles_dir, tmp_path):
    _, quality = embed(styles_dir, "text-triplet", tmp_path / "tri.itememb", **FAST)
    training = quality.training
    assert set(training.heldout_triplet_accuracy_after) >= {"easy", "semi", "hard", "all"}
    assert training.heldout_triplet_accuracy_after["all"] >= training.heldout_triplet_accuracy_before["all"]
    assert quality.base.item_to_item and "recall_subset@10" in quality.trained.item_to_item
    _, quality = embed(styles_dir, "copurchase", tmp_path / "co.itememb", **FAST)
    assert quality.training.n_train > 0 and quality.collapse is not None
    assert quality.base.copurchase_gap is not None and quality.trained.copurchase_gap is not None
    # another protocol must have been prepared: a clear error naming it
    with pytest.raises(InputError, match="protocol 'temporal' was not prepared"):
        embed(styles_dir, "copurchase", tmp_path / "co2.itememb", protocol="temporal", **FAST)


def test_copurchase_pairs_come_from_the_training_part_only(styles_dir, tmp_path):
    """Each user's valid and test purchases are two items a day apart: were they read, they would make
    co-purchase pairs. With one training purchase there is none to train on."""
    _, quality = embed(styles_dir, "copurchase", tmp_path / "a.itememb", **FAST)
    assert quality.training.n_train > 0
    write_atomic(pl.DataFrame({"user_id": ["u0"], "item_id": ["1000"], "timestamp": [1.0]}),
                 styles_dir / "styles-mini.train.inter")  # fmt: skip
    with pytest.raises(InputError, match="copurchase: found no two items"):
        embed(styles_dir, "copurchase", tmp_path / "b.itememb", **FAST)


def test_items_only_dataset_has_no_interactions(tmp_path):
    from conftest import build_styles

    data_dir = build_styles(tmp_path, splits=False)
    _, quality = embed(data_dir, "raw-text", tmp_path / "a.itememb", **FAST)
    assert quality.base.copurchase_gap is None and quality.evaluation.heldout_copurchase_pairs == 0
    assert quality.base.triplet_accuracy is not None
    with pytest.raises(InputError, match="copurchase needs training interactions, and this dataset was prepared without splits"):
        embed(data_dir, "copurchase", tmp_path / "b.itememb", **FAST)
    with pytest.raises(InputError, match="copurchase needs training interactions"):
        learn("copurchase", _topic_items(), **FAST)


def test_bad_input_is_one_clear_error_and_nothing_written(tmp_path, styles_dir):
    with pytest.raises(InputError, match="unknown embedding method 'text-magic'; known: raw-text, raw-image"):
        embed(styles_dir, "text-magic", tmp_path / "x.itememb")
    with pytest.raises(InputError, match="text-nce option: neighbors: Extra inputs"):
        embed(styles_dir, "text-nce", tmp_path / "x.itememb", neighbors=3)
    with pytest.raises(InputError, match="raw-text option: neighbours: Extra inputs"):  # another learner's knob
        embed(styles_dir, "raw-text", tmp_path / "x.itememb", neighbours=3)
    with pytest.raises(InputError, match="not a directory"):
        embed(tmp_path / "nowhere", "raw-text", tmp_path / "x.itememb")
    (styles_dir / "styles-mini.train.inter").unlink()
    with pytest.raises(InputError, match="styles-mini.train.inter: file not found"):
        embed(styles_dir, "copurchase", tmp_path / "x.itememb", **FAST)
    assert not list(tmp_path.glob("x.itememb*"))


def test_methods_listed():
    assert METHODS == ("raw-text", "raw-image", "text-nce", "text-triplet", "copurchase", "image-simclr", "clip", "dataset-vectors",
                       "precomputed")


def test_raw_image_masks_items_without_image(tmp_path):
    from conftest import build_styles

    data_dir = build_styles(tmp_path, copies=1, images=True, missing_image_every=5)
    items = pl.read_csv(data_dir / "styles-mini.item", separator="\t", quote_char=None)
    without = {str(r[0]) for r in items.iter_rows() if not r[-1]}
    assert without
    emb, quality = embed(data_dir, "raw-image", tmp_path / "img.itememb", use_cache=False)
    assert emb.vectors.shape[1] == 1280 and not (set(emb.item_ids.tolist()) & without)
    assert quality.n_without_vector == len(without) and quality.base_modality == "image"
    _, mask = emb.aligned(np.array(sorted(without)))
    assert not mask.any()


def test_encoders_run_at_the_configured_cpu_threads_and_restore_torch(tmp_path, monkeypatch):
    import torch

    from recsys_cl.embeddings import _encoders

    seen = []
    real = _encoders.encode_texts

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(_encoders, "encode_texts", spy)
    items = _topic_items(n_topics=2, per_topic=4)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        learn("raw-text", items, **FAST)
        learn("raw-text", items, **{**FAST, "train": {"cpu_threads": 3}})
        assert torch.get_num_threads() == 2  # restored after each call
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 3]
