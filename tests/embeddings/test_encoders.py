"""Encoders: packaged MiniLM loads offline and separates meaning; the hand-built Lite0 classifies a
known photo; the disk cache skips re-encoding; items without an image are masked."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from recsys_cl.embeddings._efficientnet import load_efficientnet_lite0, packaged_weights_path, preprocess_images
from recsys_cl.embeddings._encoders import encode_image_files, encode_texts, tfidf_vectors
from recsys_cl.errors import InputError

GRACE_HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
MILITARY_UNIFORM, SUIT = 652, 834


class CountingEncoder:
    """Stands in for a SentenceTransformer: a deterministic vector per text, counting calls."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts, **_):
        self.seen += list(texts)
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


def test_minilm_paraphrases_close_unrelated_far(tmp_path):
    vectors, stats = encode_texts(
        ["A red summer dress for women", "Women's crimson dress for the summer", "Quarterly corporate tax filing deadline"],
        cache_dir=tmp_path,
    )
    assert vectors.shape == (3, 384) and stats["encoded"] == 3
    paraphrase, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert paraphrase > 0.6 and unrelated < 0.2, (paraphrase, unrelated)


def test_text_cache_hit_skips_encoding_and_encodes_only_new(tmp_path):
    first = CountingEncoder()
    v1, s1 = encode_texts(["black shirt", "blue jeans"], "fake-model", cache_dir=tmp_path, encoder=first)
    assert first.seen == ["black shirt", "blue jeans"] and s1 == {"encoded": 2, "cached": 0, "model": "fake-model"}
    second = CountingEncoder()
    v2, s2 = encode_texts(["black shirt", "blue jeans"], "fake-model", cache_dir=tmp_path, encoder=second)
    assert second.seen == [] and s2["cached"] == 2
    np.testing.assert_array_equal(v1, v2)
    third = CountingEncoder()
    v3, s3 = encode_texts(["blue jeans", "red hat"], "fake-model", cache_dir=tmp_path, encoder=third)
    assert third.seen == ["red hat"] and s3["encoded"] == 1
    np.testing.assert_array_equal(v3[0], v1[1])
    # another model name is another cache
    fourth = CountingEncoder()
    encode_texts(["black shirt"], "other-model", cache_dir=tmp_path, encoder=fourth)
    assert fourth.seen == ["black shirt"]


def test_texts_are_encoded_longest_first_and_returned_in_input_order(tmp_path):
    texts = [f"item {'x' * (n * 7 % 23)}" for n in range(50)]
    counting = CountingEncoder()
    vectors, stats = encode_texts(texts, "fake-model", use_cache=False, encoder=counting, batch_size=2)
    assert stats["encoded"] == 50
    assert [len(t) for t in counting.seen] == sorted((len(t) for t in texts), reverse=True)
    np.testing.assert_array_equal(vectors[:, 0], [len(t) for t in texts])  # each row is its own text's


def test_tfidf_at_most_500_terms():
    # 1200 distinct rare terms plus one word common to all: only 500 columns are kept
    texts = ["dress " + " ".join(f"w{i}x{j}" for j in range(30)) for i in range(40)]
    matrix = tfidf_vectors(texts)
    assert matrix.shape == (40, 500)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-5)
    assert (matrix > 0).sum(axis=1).min() >= 1


def test_lite0_classifies_grace_hopper_as_uniform_or_suit():
    net = load_efficientnet_lite0()
    from PIL import Image

    with torch.no_grad():
        top5 = net(preprocess_images([Image.open(GRACE_HOPPER)])).topk(5).indices[0].tolist()
    assert MILITARY_UNIFORM in top5 or SUIT in top5, top5


def test_lite0_weights_with_a_wrong_shape_are_rejected(tmp_path):
    tensors = torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)
    name = list(tensors)[6]  # first depthwise conv
    tensors[name] = torch.zeros(7, 1, 3, 3)
    bad = tmp_path / "bad.pth"
    torch.save(tensors, bad)
    with pytest.raises(InputError, match=name.replace(".", r"\.")):
        load_efficientnet_lite0(bad)


def test_image_files_missing_are_masked_and_cached(tmp_path):
    from PIL import Image

    paths = []
    for i, colour in enumerate([(200, 0, 0), (0, 0, 200)]):
        path = tmp_path / f"{i}.jpg"
        Image.new("RGB", (64, 80), colour).save(path)
        paths.append(path)
    listed = [paths[0], None, tmp_path / "absent.jpg", paths[1]]
    vectors, mask, stats = encode_image_files(listed, cache_dir=tmp_path / "cache")
    assert mask.tolist() == [True, False, False, True]
    assert vectors.shape == (4, 1280) and stats["encoded"] == 2 and stats["missing"] == 2
    assert np.abs(vectors[0] - vectors[3]).max() > 1e-3  # different images, different features
    again, mask2, stats2 = encode_image_files(listed, cache_dir=tmp_path / "cache")
    assert stats2["encoded"] == 0 and stats2["cached"] == 2
    np.testing.assert_allclose(again, vectors)


def test_unreadable_image_names_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match="broken.jpg"):
        encode_image_files([broken], use_cache=False)
