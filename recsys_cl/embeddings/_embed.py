"""``embed``: one entry point from a prepared dataset directory to an item-embedding file and its
quality JSON, for every method (raw base vectors and the contrastive learners)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recsys_cl.data._atomic import read_atomic, write_json
from recsys_cl.data._split import file_suffixes
from recsys_cl.embeddings import _encoders as enc
from recsys_cl.embeddings._io import ItemEmbeddings, write_itememb
from recsys_cl.embeddings._losses import nt_xent, symmetric_info_nce, triplet_loss
from recsys_cl.embeddings._mining import (
    LEVELS,
    Triplets,
    attribute_roles,
    attribute_triplets,
    copurchase_pairs,
    neighbour_pairs,
    split_rows,
)
from recsys_cl.embeddings._quality import detect_collapse, distance_gap, retrieval_metrics, triplet_accuracy
from recsys_cl.embeddings._train import TrainConfig, fit, make_head, project, to_device
from recsys_cl.errors import InputError

METHODS = ("raw-text", "raw-image", "text-nce", "text-triplet", "copurchase", "image-simclr", "clip")
TEXT_METHODS = {"raw-text", "text-nce", "text-triplet", "copurchase", "clip"}
IMAGE_METHODS = {"raw-image", "image-simclr", "clip"}
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class EmbedOptions(BaseModel):
    """Everything ``embed`` can be told besides data, method and output path."""

    model_config = ConfigDict(extra="forbid")

    text_model: str = Field(enc.DEFAULT_TEXT_MODEL, description="sentence-transformers name, or 'tfidf'")
    image_model: str = Field(enc.DEFAULT_IMAGE_MODEL, description="efficientnet_lite0, or a timm name if timm works")
    cache_dir: str | None = None
    use_cache: bool = True
    neighbours: int = Field(5, ge=1, description="k of the neighbour pairs (text-nce)")
    heldout_share: float = Field(0.2, gt=0, lt=1, description="share of pairs/triplets held out for quality")
    triplet_mix: dict[str, float] = Field(default_factory=lambda: {level: 1.0 for level in LEVELS})
    triplets_per_anchor: int = Field(2, ge=1)
    window_days: float = Field(7.0, gt=0, description="co-purchase window")
    max_pairs: int = Field(200_000, ge=1)
    simclr_views: int = Field(2, ge=1, description="augmented view pairs per image")
    colour_jitter: bool = Field(False, description="off by default: paper 002 argues colour should stay")
    retrieval_ks: tuple[int, ...] = (5, 10)
    max_queries: int = Field(2000, ge=1, description="queries sampled for retrieval metrics")
    train: TrainConfig = Field(default_factory=TrainConfig)


def embed(
    data_dir: str | Path,
    method: str,
    out: str | Path,
    *,
    protocol: str = "loo",
    options: EmbedOptions | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> tuple[ItemEmbeddings, dict]:
    """Build item embeddings for ``<data_dir>/<name>.item`` with ``method``; write ``out`` (via
    ``write_itememb``) and ``out + '.quality.json'``; return both.

    Co-purchase pairs come only from ``protocol``'s training file (``<name>.train.inter`` for loo,
    ``<name>.<protocol>-train.inter`` otherwise), so held-out purchases never leak into the embedding.
    ``overrides`` are EmbedOptions fields (``train`` may be a dict of TrainConfig fields).
    Quality keys: ``base`` (raw base vectors, always scored) and ``trained`` (None for raw methods),
    each with ``triplet_accuracy`` per level, ``copurchase_gap`` (held-out co-purchase pairs, when
    ``<name>.train.inter`` exists), ``item_to_item`` / ``text_to_item`` / ``image_to_item`` retrieval
    (when the items have attribute columns); ``training`` (held-out gap or triplet accuracy before and
    after, per-epoch ``history``); ``collapse``. Image-only methods embed only items with an image.
    """
    started = time.perf_counter()
    if method not in METHODS:
        raise InputError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    opts = _options(options, overrides)
    tick = progress or (lambda *_: None)
    data_dir = Path(data_dir)
    name = data_dir.name
    items = read_atomic(data_dir / f"{name}.item")
    if "item_id" not in items.columns:
        raise InputError(f"{data_dir / f'{name}.item'}: no item_id column")
    item_ids = items["item_id"].to_numpy().astype(str)
    rng = np.random.default_rng(opts.train.seed)
    train_inter = data_dir / f"{name}.{file_suffixes(protocol)[0]}.inter"
    quality: dict[str, Any] = {"method": method, "dataset": name, "protocol": protocol, "n_items": len(items), "encoders": {}}

    text_vectors = image_vectors = None
    image_mask = np.ones(len(items), dtype=bool)
    if method in TEXT_METHODS:
        text_vectors, quality["encoders"]["text"] = _text_vectors(items, data_dir, name, opts, tick)
    if method in IMAGE_METHODS:
        image_vectors, image_mask, quality["encoders"]["image"] = _image_vectors(items, data_dir, name, opts, tick)

    # Items scored: image-only methods have vectors only where there is an image.
    keep = image_mask if method in {"raw-image", "image-simclr"} else np.ones(len(items), dtype=bool)
    evaluation = _Evaluation(items, keep, train_inter, opts)
    base = image_vectors if method in {"raw-image", "image-simclr"} else text_vectors
    text_queries = None
    if evaluation.queries is not None and text_vectors is not None and opts.text_model.lower() != "tfidf":
        # text→item queries are attribute sentences ("Men Black Tshirts"), encoded like the item texts
        text_queries, _ = enc.encode_texts(
            evaluation.query_texts(), opts.text_model, cache_dir=opts.cache_dir, use_cache=opts.use_cache,
            device=opts.train.device,
        )
    quality["base_modality"] = "image" if base is image_vectors else "text"
    quality["base"] = evaluation.score(base[keep], text_queries=text_queries if base is text_vectors else None)
    quality["evaluation"] = evaluation.describe()

    head_vectors: np.ndarray
    if method in {"raw-text", "raw-image"}:
        head_vectors = base[keep]
        quality["trained"] = None
    else:
        trainer = {
            "text-nce": _train_text_nce,
            "text-triplet": _train_text_triplet,
            "copurchase": _train_copurchase,
            "image-simclr": _train_simclr,
            "clip": _train_clip,
        }[method]
        head_vectors, training, heads = trainer(
            text_vectors=text_vectors, image_vectors=image_vectors, image_mask=image_mask, keep=keep,
            items=items, evaluation=evaluation, data_dir=data_dir, name=name, opts=opts, rng=rng, tick=tick,
            train_inter=train_inter,
        )
        quality["training"] = training
        quality["trained"] = evaluation.score(
            head_vectors,
            text_queries=project(heads["text"], text_queries) if "text" in heads and text_queries is not None else None,
            image_queries=project(heads["image"], image_vectors[keep]) if "image" in heads and method == "clip" else None,
            image_mask=image_mask[keep],
        )
        if "heldout_after" in training:
            quality["collapse"] = detect_collapse(training["heldout_after"], training.get("heldout_before"))

    emb = ItemEmbeddings(item_ids[keep], head_vectors.astype(np.float32), method)
    quality.update({
        "n_embedded": len(emb.item_ids),
        "n_without_vector": int((~keep).sum()),
        "dim": emb.dim,
        "options": json.loads(opts.model_dump_json()),
        "seconds": time.perf_counter() - started,
    })
    write_itememb(emb, out)
    write_json(f"{out}.quality.json", quality)
    return emb, quality


# ------------------------------------------------------------------ inputs


def _options(options: EmbedOptions | None, overrides: dict[str, Any]) -> EmbedOptions:
    opts = options or EmbedOptions()
    if not overrides:
        return opts
    try:
        return EmbedOptions.model_validate({**opts.model_dump(), **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"embed option {where!r}: {first['msg']}") from None


def _text_vectors(items, data_dir, name, opts, tick):
    if "text" not in items.columns:
        raise InputError(f"{data_dir / f'{name}.item'}: no 'text' column (needed by text encoders)")
    texts = items["text"].fill_null("").to_list()
    return enc.encode_texts(
        texts, opts.text_model, cache_dir=opts.cache_dir, use_cache=opts.use_cache,
        device=opts.train.device, progress=lambda d, t: tick("encode text", d, t),
    )


def _image_root(data_dir: Path, name: str) -> Path:
    meta_path = data_dir / f"{name}.meta.json"
    if meta_path.is_file():
        raw = json.loads(meta_path.read_text(encoding="utf-8")).get("raw_dir")
        if raw:
            return Path(raw)
    return data_dir


def _image_paths(items, data_dir, name) -> list[Path | None]:
    if "image_path" not in items.columns:
        raise InputError(f"{data_dir / f'{name}.item'}: no 'image_path' column (needed by image encoders)")
    root = _image_root(data_dir, name)
    return [root / p if p else None for p in items["image_path"].fill_null("").to_list()]


def _image_vectors(items, data_dir, name, opts, tick):
    paths = _image_paths(items, data_dir, name)
    vectors, mask, stats = enc.encode_image_files(
        paths, opts.image_model, cache_dir=opts.cache_dir, use_cache=opts.use_cache,
        device=opts.train.device, progress=lambda d, t: tick("encode images", d, t),
    )
    if not mask.any():
        raise InputError(f"{data_dir / f'{name}.item'}: no item has a readable image under {_image_root(data_dir, name)}")
    return vectors, mask, stats


class _Evaluation:
    """Held-out evaluation sets fixed by the seed alone (not the method), so every method's quality
    JSON scores the same attribute triplets, co-purchase pairs and retrieval queries."""

    def __init__(self, items: pl.DataFrame, keep: np.ndarray, train_inter: Path, opts: EmbedOptions) -> None:
        self.opts = opts
        rng = np.random.default_rng(opts.train.seed + 1)
        self.subset = subset = items.filter(pl.Series(keep))
        self.roles = attribute_roles(subset.columns)
        self.triplets: Triplets | None = None
        self.triplets_train: Triplets | None = None
        if self.roles is not None and len(subset) >= 3:
            all_triplets = attribute_triplets(subset, self.roles, rng, level_mix=opts.triplet_mix,
                                              per_anchor=opts.triplets_per_anchor)
            train_rows, held_rows = split_rows(len(all_triplets), opts.heldout_share, rng)
            self.triplets, self.triplets_train = all_triplets.subset(held_rows), all_triplets.subset(train_rows)
        self.copurchase = self.copurchase_train = None
        if train_inter.is_file():
            inter = read_atomic(train_inter)
            pos, neg = copurchase_pairs(inter, subset["item_id"].to_numpy().astype(str), rng,
                                        window_days=opts.window_days, max_pairs=opts.max_pairs)
            if len(pos):
                train_rows, held_rows = split_rows(len(pos), opts.heldout_share, rng)
                self.copurchase = (pos[held_rows], neg[held_rows])
                self.copurchase_train = (pos[train_rows], neg[train_rows])
        self.queries = None
        if self.roles is not None:
            r = self.roles
            self.keys = (subset[r["type"]] + "|" + subset[r["colour"]] + "|" + subset[r["gender"]]).to_numpy().astype(str)
            self.category = subset[r["category"]].to_numpy().astype(str)
            n_q = min(opts.max_queries, len(subset))
            self.queries = np.sort(rng.choice(len(subset), n_q, replace=False))

    def describe(self) -> dict:
        return {
            "attributes": self.roles,
            "heldout_triplets": len(self.triplets) if self.triplets is not None else 0,
            "heldout_copurchase_pairs": len(self.copurchase[0]) if self.copurchase else 0,
            "retrieval_queries": len(self.queries) if self.queries is not None else 0,
        }

    def query_texts(self) -> list[str]:
        r = self.roles
        sub = self.subset[self.queries]
        return [f"{g} {c} {t}" for g, c, t in zip(sub[r["gender"]].to_list(), sub[r["colour"]].to_list(), sub[r["type"]].to_list())]

    def score(self, vectors: np.ndarray, *, text_queries: np.ndarray | None = None,
              image_queries: np.ndarray | None = None, image_mask: np.ndarray | None = None) -> dict:
        """Quality of ``vectors`` (rows of the kept items). ``text_queries`` (q, d): attribute sentences
        in the same space (text→item); ``image_queries`` (kept, d): each item's image in that space
        (image→item, for items where ``image_mask``)."""
        out: dict[str, Any] = {}
        if self.triplets is not None and len(self.triplets):
            out["triplet_accuracy"] = triplet_accuracy(vectors, self.triplets)
        if self.copurchase is not None:
            out["copurchase_gap"] = distance_gap(vectors, *self.copurchase)
        if self.queries is not None:
            q = self.queries
            out["item_to_item"] = retrieval_metrics(
                vectors[q], vectors, self.keys[q], self.keys, query_rows=q,
                query_category=self.category[q], item_category=self.category, ks=self.opts.retrieval_ks,
            )
            if text_queries is not None:
                out["text_to_item"] = retrieval_metrics(
                    text_queries, vectors, self.keys[q], self.keys,
                    query_category=self.category[q], item_category=self.category, ks=self.opts.retrieval_ks,
                )
            if image_queries is not None:
                q_img = q[image_mask[q]] if image_mask is not None else q
                out["image_to_item"] = retrieval_metrics(
                    image_queries[q_img], vectors, self.keys[q_img], self.keys, query_rows=q_img,
                    query_category=self.category[q_img], item_category=self.category, ks=self.opts.retrieval_ks,
                )
        return out


# ------------------------------------------------------------------ learners


def _pair_learner(base: np.ndarray, train_pairs: np.ndarray, held: tuple[np.ndarray, np.ndarray], opts, tick, kind):
    """NT-Xent head over frozen ``base`` on positive pairs; held-out gap before and after."""
    cfg = opts.train
    x = to_device(base, cfg)
    head = make_head(base.shape[1], cfg).to(x.device)
    history = fit(head, train_pairs, lambda rows: nt_xent(head(x[rows[:, 0]]), head(x[rows[:, 1]]), cfg.temperature), cfg, tick)
    out = project(head, base)
    return out, {
        "pairs": kind,
        "n_train": len(train_pairs),
        "n_heldout": len(held[0]),
        "heldout_before": distance_gap(base, *held),
        "heldout_after": distance_gap(out, *held),
        "history": history,
    }, {"text": head}


def _train_text_nce(*, text_vectors, opts, rng, tick, **_):
    pos, neg = neighbour_pairs(text_vectors, opts.neighbours, rng)
    train_rows, held_rows = split_rows(len(pos), opts.heldout_share, rng)
    return _pair_learner(text_vectors, pos[train_rows], (pos[held_rows], neg[held_rows]), opts, tick,
                         f"top-{opts.neighbours} text neighbours (faiss)")


def _train_copurchase(*, text_vectors, evaluation, train_inter, opts, tick, **_):
    if evaluation.copurchase_train is None:
        raise InputError(f"{train_inter}: copurchase needs training interactions with "
                         f"two items bought within {opts.window_days} days by one user")
    return _pair_learner(text_vectors, evaluation.copurchase_train[0], evaluation.copurchase, opts, tick,
                         f"co-purchase within {opts.window_days} days")


def _train_text_triplet(*, text_vectors, evaluation, data_dir, name, opts, tick, **_):
    if evaluation.triplets_train is None or not len(evaluation.triplets_train):
        raise InputError(f"{data_dir / f'{name}.item'}: text-triplet needs attribute columns of one of the "
                         "known dataset shapes (H&M or styles) with at least one valid triplet")
    cfg = opts.train
    x = to_device(text_vectors, cfg)
    head = make_head(text_vectors.shape[1], cfg).to(x.device)
    examples = evaluation.triplets_train.as_array()
    history = fit(head, examples,
                  lambda r: triplet_loss(head(x[r[:, 0]]), head(x[r[:, 1]]), head(x[r[:, 2]]), cfg.margin), cfg, tick)
    out = project(head, text_vectors)
    held = evaluation.triplets
    return out, {
        "triplets": "attribute triplets (paper 000)",
        "level_mix": opts.triplet_mix,
        "n_train": len(examples),
        "n_heldout": len(held),
        "heldout_triplet_accuracy_before": triplet_accuracy(text_vectors, held),
        "heldout_triplet_accuracy_after": triplet_accuracy(out, held),
        "history": history,
    }, {"text": head}


def augment(image, rng: np.random.Generator, *, colour_jitter: bool = False):
    """SimCLR view (paper 002): random resized crop (scale 0.5-1), horizontal flip, Gaussian blur
    half the time; colour jitter only when asked (colour is a product attribute)."""
    from PIL import Image, ImageEnhance, ImageFilter

    img = image.convert("RGB")
    w, h = img.size
    scale = rng.uniform(0.5, 1.0)
    cw, ch = max(1, int(w * np.sqrt(scale))), max(1, int(h * np.sqrt(scale)))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.1, 2.0))))
    if colour_jitter:
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            img = enhancer(img).enhance(float(rng.uniform(0.6, 1.4)))
    return img


def _train_simclr(*, image_vectors, image_mask, items, data_dir, name, opts, rng, tick, **_):
    from PIL import Image

    paths = [p for p, ok in zip(_image_paths(items, data_dir, name), image_mask) if ok]
    base = image_vectors[image_mask]
    encoder = enc.ImageEncoder(opts.image_model, opts.train.device)
    n, views = len(paths), opts.simclr_views
    first, second = np.zeros((n * views, base.shape[1]), np.float32), np.zeros((n * views, base.shape[1]), np.float32)
    per_forward = max(1, 8 // (2 * views))  # items per encoder batch (about 8 images: fastest on CPU)
    for start in range(0, n, per_forward):  # views are drawn afresh from the seed, so they are not cached
        batch = []
        for path in paths[start : start + per_forward]:
            with Image.open(path) as img:
                img.load()
                batch += [augment(img, rng, colour_jitter=opts.colour_jitter) for _ in range(2 * views)]
        feats = encoder.encode_images(batch).reshape(-1, 2, views, base.shape[1])
        stop = start + len(feats)
        first[start * views : stop * views] = feats[:, 0].reshape(-1, base.shape[1])
        second[start * views : stop * views] = feats[:, 1].reshape(-1, base.shape[1])
        tick("augment images", stop, n)
    # held-out items: their view pairs are positives, views of two different items negatives
    train_items, held_items = split_rows(n, opts.heldout_share, rng)
    owner = np.repeat(np.arange(n), views)
    stacked = np.concatenate([first, second])
    rows = np.arange(n * views)
    pairs = np.stack([rows, rows + n * views], axis=1)
    is_train = np.isin(owner, train_items)
    held_pos = pairs[~is_train]
    other = (owner[~is_train] + 1 + rng.integers(0, max(n - 1, 1), size=len(held_pos))) % n
    held_neg = np.stack([held_pos[:, 0], other * views + n * views], axis=1)
    cfg = opts.train
    x = to_device(stacked, cfg)
    head = make_head(base.shape[1], cfg).to(x.device)
    history = fit(head, pairs[is_train], lambda r: nt_xent(head(x[r[:, 0]]), head(x[r[:, 1]]), cfg.temperature), cfg, tick)
    projected_views = project(head, stacked)
    return project(head, base), {
        "pairs": f"{views} augmented view pairs per image (crop, flip, blur; colour jitter {opts.colour_jitter})",
        "n_train": int(is_train.sum()),
        "n_heldout": len(held_pos),
        "heldout_before": distance_gap(stacked, held_pos, held_neg),
        "heldout_after": distance_gap(projected_views, held_pos, held_neg),
        "history": history,
    }, {"image": head}


def _train_clip(*, text_vectors, image_vectors, image_mask, opts, rng, tick, **_):
    cfg = opts.train
    both = np.flatnonzero(image_mask)
    train_rows, held_rows = split_rows(len(both), opts.heldout_share, rng)
    xt, xi = to_device(text_vectors, cfg), to_device(image_vectors, cfg)
    text_head = make_head(text_vectors.shape[1], cfg).to(xt.device)
    image_head = make_head(image_vectors.shape[1], cfg, salt=1).to(xt.device)
    heads = torch.nn.ModuleDict({"text": text_head, "image": image_head})
    history = fit(heads, both[train_rows][:, None],
                  lambda r: symmetric_info_nce(image_head(xi[r[:, 0]]), text_head(xt[r[:, 0]]), cfg.temperature), cfg, tick)
    text_out, image_out = project(text_head, text_vectors), project(image_head, image_vectors)
    # One vector per item in the shared space: mean of the two views where there is an image,
    # the text projection alone where there is none.
    joint = text_out.copy()
    joint[image_mask] += image_out[image_mask]
    joint /= np.maximum(np.linalg.norm(joint, axis=1, keepdims=True), 1e-12)
    held = both[held_rows]
    # held-out image–text pairs: (image of i, text of i) vs (image of i, text of another held-out item)
    stacked = np.concatenate([image_out, text_out])
    n = len(text_out)
    other = held[(np.arange(len(held)) + 1 + rng.integers(0, max(len(held) - 1, 1), size=len(held))) % max(len(held), 1)]
    pos, neg = np.stack([held, held + n], axis=1), np.stack([held, other + n], axis=1)
    text_to_image = {}
    if len(held) >= 2:
        hits = np.argsort(-(text_out[held] @ image_out[held].T), axis=1, kind="stable")
        for k in opts.retrieval_ks:
            text_to_image[f"recall@{k}"] = float(np.mean([i in hits[i, :k] for i in range(len(held))]))
    return joint.astype(np.float32), {
        "pairs": "item image and item text (CLIP-style, symmetric InfoNCE)",
        "output": "mean of image and text projections; text projection alone where there is no image",
        "n_train": len(train_rows),
        "n_heldout": len(held),
        "heldout_after": distance_gap(stacked, pos, neg),
        "heldout_text_to_image_exact_item": text_to_image,
        "history": history,
    }, {"text": text_head, "image": image_head}
