"""embed(): end to end on tiny datasets; neighbour-pair training must widen the held-out gap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.data._atomic import write_atomic
from recsys_cl.embeddings import METHODS, embed, read_itememb
from recsys_cl.errors import InputError

FAST = {"text_model": "tfidf", "use_cache": False, "train": {"epochs": 15, "batch_size": 64}}


def _topic_items(root: Path, n_topics: int = 6, per_topic: int = 20, seed: int = 0) -> Path:
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
    data_dir = root / "topics"
    data_dir.mkdir()
    write_atomic(pl.DataFrame(rows), data_dir / "topics.item")
    return data_dir


def test_neighbour_training_widens_gap_over_raw_vectors(tmp_path):
    data_dir = _topic_items(tmp_path)
    emb, quality = embed(data_dir, "text-nce", tmp_path / "nce.itememb", neighbours=5, **FAST)
    before, after = quality["training"]["heldout_before"], quality["training"]["heldout_after"]
    assert after["gap"] > before["gap"] + 0.1, (before, after)
    assert not quality["collapse"]["collapsed"]
    history = quality["training"]["history"]
    assert len(history) == 15 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(h["valid_loss"] is not None for h in history)
    assert emb.vectors.shape == (120, 128)


def test_outputs_written_and_round_trip(tmp_path):
    data_dir = _topic_items(tmp_path, n_topics=3, per_topic=8)
    out = tmp_path / "raw.itememb"
    emb, quality = embed(data_dir, "raw-text", out, **FAST)
    read = read_itememb(out)
    assert read.item_ids.tolist() == emb.item_ids.tolist() == [f"t{t}i{i}" for t in range(3) for i in range(8)]
    np.testing.assert_allclose(read.vectors, emb.vectors)
    (tmp_path / "raw.itememb.npy").unlink()  # the atomic text file alone must also read back
    np.testing.assert_allclose(read_itememb(out).vectors, emb.vectors, rtol=1e-6)
    written = json.loads((tmp_path / "raw.itememb.quality.json").read_text())
    assert written["method"] == "raw-text" and written["n_embedded"] == 24 and written["trained"] is None


def test_same_seed_same_vectors_other_seed_differs(tmp_path):
    data_dir = _topic_items(tmp_path, n_topics=3, per_topic=10)
    small = {**FAST, "train": {"epochs": 3, "batch_size": 16, "seed": 7}}
    import torch

    threads, rng_state = torch.get_num_threads(), torch.random.get_rng_state()
    a, _ = embed(data_dir, "text-nce", tmp_path / "a.itememb", **small)
    b, _ = embed(data_dir, "text-nce", tmp_path / "b.itememb", **small)
    c, _ = embed(data_dir, "text-nce", tmp_path / "c.itememb", **{**small, "train": {"epochs": 3, "batch_size": 16, "seed": 8}})
    np.testing.assert_array_equal(a.vectors, b.vectors)
    # training leaves torch's global thread count and RNG as it found them
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), rng_state)
    assert np.abs(a.vectors - c.vectors).max() > 1e-4


def test_triplet_and_copurchase_on_styles(styles_dir, tmp_path):
    emb, quality = embed(styles_dir, "text-triplet", tmp_path / "tri.itememb", **FAST)
    training = quality["training"]
    assert set(training["heldout_triplet_accuracy_after"]) >= {"easy", "semi", "hard", "all"}
    assert training["heldout_triplet_accuracy_after"]["all"] >= training["heldout_triplet_accuracy_before"]["all"]
    assert "item_to_item" in quality["base"] and "recall_subset@10" in quality["trained"]["item_to_item"]
    emb, quality = embed(styles_dir, "copurchase", tmp_path / "co.itememb", **FAST)
    assert quality["training"]["n_train"] > 0 and "collapsed" in quality["collapse"]
    # another protocol reads its own training file: absent here, so a clear error naming it
    with pytest.raises(InputError, match="temporal-train.inter"):
        embed(styles_dir, "copurchase", tmp_path / "co2.itememb", protocol="temporal", **FAST)
    assert "copurchase_gap" in quality["base"] and "copurchase_gap" in quality["trained"]


def test_bad_input_is_one_clear_error_and_nothing_written(tmp_path, styles_dir):
    with pytest.raises(InputError, match="choose one of"):
        embed(styles_dir, "text-magic", tmp_path / "x.itememb")
    with pytest.raises(InputError, match="neighbors"):
        embed(styles_dir, "raw-text", tmp_path / "x.itememb", neighbors=3)
    (styles_dir / "styles-mini.train.inter").unlink()
    with pytest.raises(InputError, match="train.inter"):
        embed(styles_dir, "copurchase", tmp_path / "x.itememb", **FAST)
    assert not list(tmp_path.glob("x.itememb*"))


def test_methods_listed():
    assert METHODS == ("raw-text", "raw-image", "text-nce", "text-triplet", "copurchase", "image-simclr", "clip")


def test_raw_image_masks_items_without_image(tmp_path):
    from conftest import build_styles

    data_dir = build_styles(tmp_path, copies=1, images=True, missing_image_every=5)
    items = pl.read_csv(data_dir / "styles-mini.item", separator="\t", quote_char=None)
    without = {str(r[0]) for r in items.iter_rows() if not r[-1]}
    assert without
    emb, quality = embed(data_dir, "raw-image", tmp_path / "img.itememb", use_cache=False)
    assert emb.vectors.shape[1] == 1280 and not (set(emb.item_ids.tolist()) & without)
    assert quality["n_without_vector"] == len(without)
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
    data_dir = _topic_items(tmp_path, n_topics=2, per_topic=4)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        embed(data_dir, "raw-text", tmp_path / "a.itememb", **FAST)
        embed(data_dir, "raw-text", tmp_path / "b.itememb", **{**FAST, "train": {"cpu_threads": 3}})
        assert torch.get_num_threads() == 2  # restored after each call
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 3]
