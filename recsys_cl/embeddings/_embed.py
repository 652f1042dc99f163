"""``embed``: one entry point from a prepared dataset directory to an item-embedding file and its
quality JSON, for every method (raw base vectors and the contrastive learners)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from recsys_cl.data._atomic import read_atomic, write_json
from recsys_cl.data._split import file_suffixes
from recsys_cl.embeddings import _encoders as enc
from recsys_cl.embeddings import _finetune
from recsys_cl.embeddings._finetune import (
    Features,
    FrozenFeatures,
    TowerFeatures,
    check_finetune,
    training_modules,
)
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
from recsys_cl.embeddings._quality import (
    detect_collapse,
    distance_gap,
    retrieval_metrics,
    triplet_accuracy,
)
from recsys_cl.embeddings._train import TrainConfig, cpu_threads, fit, make_head
from recsys_cl.errors import InputError, validated
from recsys_cl.progress import StageProgress

METHODS = ("raw-text", "raw-image", "text-nce", "text-triplet", "copurchase", "image-simclr", "clip")
TEXT_METHODS = {"raw-text", "text-nce", "text-triplet", "copurchase", "clip"}
IMAGE_METHODS = {"raw-image", "image-simclr", "clip"}


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
    progress: StageProgress | None = None,
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
    after, per-epoch ``history``, and ``finetune`` per encoder when its last layers trained);
    ``collapse``; ``finetune_layers``. Image-only methods embed only items with an image.
    With ``train.finetune_layers`` N > 0 the last N encoder layers train with the head (``_finetune``).
    """
    started = time.perf_counter()
    if method not in METHODS:
        raise InputError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    opts = _options(options, overrides)
    check_finetune(method, opts.text_model, opts.image_model, opts.train)
    # Encoders and training at ``train.cpu_threads`` (1 by default): with another process on the
    # second core, MiniLM ran at 33 texts/s on torch's 2 threads against 300/s on 1 (idle, 2 threads
    # reach ~450/s); raise it on a machine of your own.
    with cpu_threads(opts.train):
        return _embed(data_dir, method, out, protocol, opts, progress, started)


def _embed(data_dir, method, out, protocol, opts, progress, started) -> tuple[ItemEmbeddings, dict]:
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
        head_vectors, training, spaces = trainer(
            text_vectors=text_vectors, image_vectors=image_vectors, image_mask=image_mask, keep=keep,
            items=items, evaluation=evaluation, data_dir=data_dir, name=name, opts=opts, rng=rng, tick=tick,
            train_inter=train_inter,
        )
        learned_text = spaces.get("text")
        quality["training"] = training
        quality["trained"] = evaluation.score(
            head_vectors,
            text_queries=learned_text(text_queries, evaluation.query_texts())
            if learned_text is not None and text_queries is not None else None,
            image_queries=spaces.get("image_items"),
            image_mask=image_mask[keep],
        )
        if "heldout_after" in training:
            quality["collapse"] = detect_collapse(training["heldout_after"], training.get("heldout_before"))

    emb = ItemEmbeddings(item_ids[keep], head_vectors.astype(np.float32), method)
    quality.update({
        "n_embedded": len(emb.item_ids),
        "n_without_vector": int((~keep).sum()),
        "finetune_layers": opts.train.finetune_layers,
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
    return validated(EmbedOptions, {**opts.model_dump(), **overrides}, "embed option")


def _item_texts(items) -> list[str]:
    return items["text"].fill_null("").to_list()


def _text_vectors(items, data_dir, name, opts, tick):
    if "text" not in items.columns:
        raise InputError(f"{data_dir / f'{name}.item'}: no 'text' column (needed by text encoders)")
    return enc.encode_texts(
        _item_texts(items), opts.text_model, cache_dir=opts.cache_dir, use_cache=opts.use_cache,
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


def _text_features(text_vectors: np.ndarray, items, opts, tick) -> Features:
    """The text side of a learner: the base vectors, or (``finetune_layers``) a MiniLM whose last layers train."""
    cfg = opts.train
    if not cfg.finetune_layers:
        return FrozenFeatures(text_vectors, cfg)
    texts = _item_texts(items)
    tower = _finetune.text_tower(opts.text_model, cfg.finetune_layers, cfg.device)
    return TowerFeatures(tower, texts, cfg, check=(texts, text_vectors), progress=tick, stage="encode text (frozen layers)")


def _image_tower(opts) -> _finetune.ImageTower:
    return _finetune.image_tower(opts.train.finetune_layers, _load_view, opts.train.device)


def _finetuned(**named: Features) -> dict:
    """``training["finetune"]``: what trained in each fine-tuned encoder (nothing when all were frozen)."""
    described = {k: f.describe() for k, f in named.items() if f.tower is not None}
    return {"finetune": described} if described else {}


def _pair_loss(head, feats, rows, temperature):
    f = feats(rows[:, :2])
    return nt_xent(head(f[:, 0]), head(f[:, 1]), temperature)


def _pair_learner(base: np.ndarray, items, train_pairs: np.ndarray, held: tuple[np.ndarray, np.ndarray], opts, tick, kind):
    """NT-Xent head over ``base`` (or the fine-tuned text encoder) on positive pairs; held-out gap before and after."""
    cfg = opts.train
    feats = _text_features(base, items, opts, tick)
    head = make_head(base.shape[1], cfg).to(feats.device)
    modules, groups = training_modules({"text": head}, [feats], cfg)
    history = fit(modules, train_pairs, lambda rows: _pair_loss(head, feats, rows, cfg.temperature), cfg, tick, groups)
    out = feats.outputs(head)
    return out, {
        "pairs": kind,
        "n_train": len(train_pairs),
        "n_heldout": len(held[0]),
        "heldout_before": distance_gap(base, *held),
        "heldout_after": distance_gap(out, *held),
        "history": history,
        **_finetuned(text=feats),
    }, {"text": lambda queries, texts: feats.encode(head, queries, texts)}


def _train_text_nce(*, text_vectors, items, opts, rng, tick, **_):
    pos, neg = neighbour_pairs(text_vectors, opts.neighbours, rng)
    train_rows, held_rows = split_rows(len(pos), opts.heldout_share, rng)
    return _pair_learner(text_vectors, items, pos[train_rows], (pos[held_rows], neg[held_rows]), opts, tick,
                         f"top-{opts.neighbours} text neighbours (faiss)")


def _train_copurchase(*, text_vectors, items, evaluation, train_inter, opts, tick, **_):
    if evaluation.copurchase_train is None:
        raise InputError(f"{train_inter}: copurchase needs training interactions with "
                         f"two items bought within {opts.window_days} days by one user")
    return _pair_learner(text_vectors, items, evaluation.copurchase_train[0], evaluation.copurchase, opts, tick,
                         f"co-purchase within {opts.window_days} days")


def _triplet_loss(head, feats, rows, margin):
    f = feats(rows[:, :3])
    return triplet_loss(head(f[:, 0]), head(f[:, 1]), head(f[:, 2]), margin)


def _train_text_triplet(*, text_vectors, items, evaluation, data_dir, name, opts, tick, **_):
    if evaluation.triplets_train is None or not len(evaluation.triplets_train):
        raise InputError(f"{data_dir / f'{name}.item'}: text-triplet needs attribute columns of one of the "
                         "known dataset shapes (H&M or styles) with at least one valid triplet")
    cfg = opts.train
    feats = _text_features(text_vectors, items, opts, tick)
    head = make_head(text_vectors.shape[1], cfg).to(feats.device)
    modules, groups = training_modules({"text": head}, [feats], cfg)
    examples = evaluation.triplets_train.as_array()
    history = fit(modules, examples, lambda r: _triplet_loss(head, feats, r, cfg.margin), cfg, tick, groups)
    out = feats.outputs(head)
    held = evaluation.triplets
    return out, {
        "triplets": "attribute triplets (paper 000)",
        "level_mix": opts.triplet_mix,
        "n_train": len(examples),
        "n_heldout": len(held),
        "heldout_triplet_accuracy_before": triplet_accuracy(text_vectors, held),
        "heldout_triplet_accuracy_after": triplet_accuracy(out, held),
        "history": history,
        **_finetuned(text=feats),
    }, {"text": lambda queries, texts: feats.encode(head, queries, texts)}


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


def _load_view(source: tuple[Path, dict | None]):
    """An image tower input: (path, view parameters or None for the plain image) -> RGB image."""
    from PIL import Image

    path, params = source
    with Image.open(path) as img:
        img = img.convert("RGB")
    return apply_view(img, params) if params is not None else img


def _simclr_view_vectors(paths, dim, opts, rng, tick) -> np.ndarray:
    """(2 n views, d) frozen-encoder features: first view of each pair for every item, then the second."""
    from PIL import Image

    encoder = enc.ImageEncoder(opts.image_model, opts.train.device)
    n, views = len(paths), opts.simclr_views
    first, second = np.zeros((n * views, dim), np.float32), np.zeros((n * views, dim), np.float32)
    per_forward = max(1, 8 // (2 * views))  # items per encoder batch (about 8 images: fastest on CPU)
    for start in range(0, n, per_forward):  # views are drawn afresh from the seed, so they are not cached
        batch = []
        for path in paths[start : start + per_forward]:
            with Image.open(path) as img:
                img.load()
                batch += [augment(img, rng, colour_jitter=opts.colour_jitter) for _ in range(2 * views)]
        feats = encoder.encode_images(batch).reshape(-1, 2, views, dim)
        stop = start + len(feats)
        first[start * views : stop * views] = feats[:, 0].reshape(-1, dim)
        second[start * views : stop * views] = feats[:, 1].reshape(-1, dim)
        tick("augment images", stop, n)
    return np.concatenate([first, second])


def _simclr_view_sources(paths, opts, rng) -> list[tuple[Path, dict]]:
    """The views of ``_simclr_view_vectors`` as tower inputs (same draws from ``rng``, same order)."""
    from PIL import Image

    n, views = len(paths), opts.simclr_views
    sources: list = [None] * (2 * n * views)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            size = img.size
        for k in range(2 * views):
            side, v = divmod(k, views)
            sources[side * n * views + i * views + v] = (path, view_params(size, rng, colour_jitter=opts.colour_jitter))
    return sources


def _train_simclr(*, image_vectors, image_mask, items, data_dir, name, opts, rng, tick, **_):
    paths = [p for p, ok in zip(_image_paths(items, data_dir, name), image_mask) if ok]
    base = image_vectors[image_mask]
    n, views, cfg = len(paths), opts.simclr_views, opts.train
    plain = [(p, None) for p in paths]
    if cfg.finetune_layers:
        feats: Features = TowerFeatures(_image_tower(opts), _simclr_view_sources(paths, opts, rng), cfg,
                                        check=(plain, base), progress=tick, stage="encode views (frozen layers)")
        stacked = feats.before()
    else:
        stacked = _simclr_view_vectors(paths, base.shape[1], opts, rng, tick)
        feats = FrozenFeatures(stacked, cfg)
    # held-out items: their view pairs are positives, views of two different items negatives
    train_items, held_items = split_rows(n, opts.heldout_share, rng)
    owner = np.repeat(np.arange(n), views)
    rows = np.arange(n * views)
    pairs = np.stack([rows, rows + n * views], axis=1)
    is_train = np.isin(owner, train_items)
    held_pos = pairs[~is_train]
    other = (owner[~is_train] + 1 + rng.integers(0, max(n - 1, 1), size=len(held_pos))) % n
    held_neg = np.stack([held_pos[:, 0], other * views + n * views], axis=1)
    head = make_head(base.shape[1], cfg).to(feats.device)
    modules, groups = training_modules({"image": head}, [feats], cfg)
    history = fit(modules, pairs[is_train], lambda r: _pair_loss(head, feats, r, cfg.temperature), cfg, tick, groups)
    projected_views = feats.outputs(head)
    return feats.encode(head, base, plain), {
        "pairs": f"{views} augmented view pairs per image (crop, flip, blur; colour jitter {opts.colour_jitter})",
        "n_train": int(is_train.sum()),
        "n_heldout": len(held_pos),
        "heldout_before": distance_gap(stacked, held_pos, held_neg),
        "heldout_after": distance_gap(projected_views, held_pos, held_neg),
        "history": history,
        **_finetuned(image=feats),
    }, {}


def _train_clip(*, text_vectors, image_vectors, image_mask, items, data_dir, name, opts, rng, tick, **_):
    cfg = opts.train
    both = np.flatnonzero(image_mask)
    train_rows, held_rows = split_rows(len(both), opts.heldout_share, rng)
    text_feats = _text_features(text_vectors, items, opts, tick)
    image_feats: Features = FrozenFeatures(image_vectors, cfg)
    if cfg.finetune_layers:  # the image tower sees only items with an image; rows stay item rows
        paths = _image_paths(items, data_dir, name)
        plain = [(paths[i], None) for i in both.tolist()]
        image_feats = TowerFeatures(_image_tower(opts), plain, cfg, check=(plain, image_vectors[both]), index=both,
                                    n_rows=len(image_mask), progress=tick, stage="encode images (frozen layers)")
    text_head = make_head(text_vectors.shape[1], cfg).to(text_feats.device)
    image_head = make_head(image_vectors.shape[1], cfg, salt=1).to(text_feats.device)
    heads, groups = training_modules({"text": text_head, "image": image_head}, [text_feats, image_feats], cfg)
    history = fit(heads, both[train_rows][:, None], lambda r: symmetric_info_nce(
        image_head(image_feats(r[:, 0])), text_head(text_feats(r[:, 0])), cfg.temperature), cfg, tick, groups)
    text_out, image_out = text_feats.outputs(text_head), image_feats.outputs(image_head)
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
        **_finetuned(text=text_feats, image=image_feats),
    }, {"text": lambda queries, texts: text_feats.encode(text_head, queries, texts), "image_items": image_out}
