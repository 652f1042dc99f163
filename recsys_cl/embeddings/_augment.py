"""SimCLR views of item images (paper 002): the random draws of a view, applying them, and the
views of a catalogue as frozen-encoder features or as inputs of a fine-tuned image tower."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys_cl.embeddings import _encoders as enc
from recsys_cl.progress import StageProgress


def view_params(size: tuple[int, int], rng: np.random.Generator, *, colour_jitter: bool = False) -> dict:
    """The random draws of one SimCLR view of an image of ``size`` (w, h), in ``augment``'s order."""
    w, h = size
    scale = rng.uniform(0.5, 1.0)
    cw, ch = max(1, int(w * np.sqrt(scale))), max(1, int(h * np.sqrt(scale)))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    flip = bool(rng.random() < 0.5)
    blur = float(rng.uniform(0.1, 2.0)) if rng.random() < 0.5 else None
    jitter = [float(rng.uniform(0.6, 1.4)) for _ in range(3)] if colour_jitter else []
    return {"crop": (left, top, left + cw, top + ch), "flip": flip, "blur": blur, "jitter": jitter}


def apply_view(image, params: dict):
    """The view ``params`` (from ``view_params``) of an RGB ``image``."""
    from PIL import Image, ImageEnhance, ImageFilter

    img = image.crop(params["crop"]).resize(image.size, Image.Resampling.BILINEAR)
    if params["flip"]:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if params["blur"] is not None:
        img = img.filter(ImageFilter.GaussianBlur(radius=params["blur"]))
    for enhancer, factor in zip((ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color), params["jitter"]):
        img = enhancer(img).enhance(factor)
    return img


def augment(image, rng: np.random.Generator, *, colour_jitter: bool = False):
    """SimCLR view (paper 002): random resized crop (scale 0.5-1), horizontal flip, Gaussian blur
    half the time; colour jitter only when asked (colour is a product attribute)."""
    img = image.convert("RGB")
    return apply_view(img, view_params(img.size, rng, colour_jitter=colour_jitter))


def load_view(source: tuple[Path, dict | None]):
    """An image tower input: (path, view parameters or None for the plain image) -> RGB image."""
    path, params = source
    img = enc.load_image(path)
    return apply_view(img, params) if params is not None else img


def view_vectors(paths: list[Path], dim: int, image_model: str, device: str, views: int, colour_jitter: bool,
                 rng: np.random.Generator, progress: StageProgress) -> np.ndarray:  # fmt: skip
    """(2 n views, d) frozen-encoder features: first view of each pair for every item, then the second."""
    encoder = enc.ImageEncoder(image_model, device)
    n = len(paths)
    first, second = np.zeros((n * views, dim), np.float32), np.zeros((n * views, dim), np.float32)
    per_forward = max(1, 8 // (2 * views))  # items per encoder batch (about 8 images: fastest on CPU)
    for start in range(0, n, per_forward):  # views are drawn afresh from the seed, so they are not cached
        batch = []
        for path in paths[start : start + per_forward]:
            img = enc.load_image(path)
            batch += [augment(img, rng, colour_jitter=colour_jitter) for _ in range(2 * views)]
        feats = encoder.encode_images(batch).reshape(-1, 2, views, dim)
        stop = start + len(feats)
        first[start * views : stop * views] = feats[:, 0].reshape(-1, dim)
        second[start * views : stop * views] = feats[:, 1].reshape(-1, dim)
        progress("augment images", stop, n)
    return np.concatenate([first, second])


def view_sources(paths: list[Path], views: int, colour_jitter: bool, rng: np.random.Generator) -> list[tuple[Path, dict]]:
    """The views of ``view_vectors`` as tower inputs (same draws from ``rng``, same order)."""
    from PIL import Image

    n = len(paths)
    sources: list = [None] * (2 * n * views)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            size = img.size
        for k in range(2 * views):
            side, v = divmod(k, views)
            sources[side * n * views + i * views + v] = (path, view_params(size, rng, colour_jitter=colour_jitter))
    return sources
