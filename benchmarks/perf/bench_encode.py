"""Encoding throughput on CPU: items/second for text (MiniLM) and image (EfficientNet-Lite0).

Peers measured in the same run:
- text: sentence-transformers' own ``encode`` with its default batch (32), no cache, vs ours
  (``encode_texts``, batch 32, longest texts first) cold and then warm (disk cache hit: nothing re-encoded);
- image: a per-image loop (batch 1) vs ours (``encode_image_files``, batch 2 on CPU), cold and warm.

    .venv/bin/python benchmarks/perf/bench_encode.py [--texts 1024] [--images 96] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _texts(n: int, rng: np.random.Generator) -> list[str]:
    colours = ["black", "white", "navy", "red", "beige", "dark green", "light pink", "grey melange"]
    kinds = ["t-shirt", "trousers", "dress", "sweater", "jacket", "skirt", "shorts", "blouse", "hoodie", "jeans"]
    extras = ["in soft cotton jersey", "with a round neckline", "with long sleeves", "in a relaxed fit",
              "with side pockets", "made from recycled polyester", "with a drawstring waist", "in stretch denim"]
    return [
        f"{rng.choice(colours)} {rng.choice(kinds)} {rng.choice(extras)} {rng.choice(extras)} no. {i}"
        for i in range(n)
    ]


def _images(n: int, folder: Path, rng: np.random.Generator) -> list[Path]:
    from PIL import Image

    paths = []
    for i in range(n):
        arr = rng.integers(0, 255, size=(300, 240, 3), dtype=np.uint8)
        path = folder / f"{i}.jpg"
        Image.fromarray(arr).save(path, quality=85)
        paths.append(path)
    return paths


def _rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def bench_text(n: int, cache: Path) -> None:
    from recsys_cl.embeddings._encoders import encode_texts, load_sentence_transformer

    texts = _texts(n, np.random.default_rng(0))
    model = load_sentence_transformer()
    model.encode(texts[:32])  # warm-up, not timed
    t = time.perf_counter()
    model.encode(texts, normalize_embeddings=True)
    peer = _rate(n, time.perf_counter() - t)
    t = time.perf_counter()
    _, cold_stats = encode_texts(texts, cache_dir=cache, encoder=model)
    cold = _rate(n, time.perf_counter() - t)
    t = time.perf_counter()
    _, warm_stats = encode_texts(texts, cache_dir=cache, encoder=model)
    warm = _rate(n, time.perf_counter() - t)
    assert cold_stats["encoded"] == n and warm_stats["encoded"] == 0
    print(f"text  MiniLM  n={n}")
    print(f"  sentence-transformers encode (batch 32, no cache): {peer:9.1f} items/s")
    print(f"  ours, cold cache (batch 32, longest first):      {cold:9.1f} items/s  ratio vs peer {cold / peer:6.2f}x")
    print(f"  ours, warm cache (re-run, nothing re-encoded):    {warm:9.1f} items/s  ratio vs peer {warm / peer:6.2f}x")


def bench_image(n: int, folder: Path, cache: Path) -> None:
    from PIL import Image

    from recsys_cl.embeddings._encoders import ImageEncoder, encode_image_files

    paths = _images(n, folder, np.random.default_rng(1))
    encoder = ImageEncoder()
    encoder.encode_images([Image.open(paths[0])])  # warm-up
    t = time.perf_counter()
    for p in paths:
        encoder.encode_images([Image.open(p)])
    peer = _rate(n, time.perf_counter() - t)
    t = time.perf_counter()
    _, _, cold_stats = encode_image_files(paths, cache_dir=cache, encoder=encoder)
    cold = _rate(n, time.perf_counter() - t)
    t = time.perf_counter()
    _, _, warm_stats = encode_image_files(paths, cache_dir=cache, encoder=encoder)
    warm = _rate(n, time.perf_counter() - t)
    assert cold_stats["encoded"] == n and warm_stats["encoded"] == 0
    print(f"image EfficientNet-Lite0 224px  n={n}")
    print(f"  per-image loop (batch 1, no cache):               {peer:9.1f} items/s")
    print(f"  ours batched (batch 2 on CPU), cold cache:       {cold:9.1f} items/s  ratio vs peer {cold / peer:6.2f}x")
    print(f"  ours, warm cache (re-run, nothing re-encoded):    {warm:9.1f} items/s  ratio vs peer {warm / peer:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for both sides (1: recsys-cl's default, train.cpu_threads)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "img").mkdir()
        bench_text(args.texts, tmp_path / "cache")
        bench_image(args.images, tmp_path / "img", tmp_path / "cache")


if __name__ == "__main__":
    main()
