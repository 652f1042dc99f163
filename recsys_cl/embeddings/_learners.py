"""The embedding learners, one class each, made by name from a registry (``LEARNERS``, like the models').

A learner declares what it reads (item text, images, training interactions), which items get a
vector (``image_only``: only items with an image) and its typed ``Options``; ``fit`` gets the base
vectors and held-out sets that ``learn`` prepared once (:class:`LearnerInputs`) and returns the item
vectors with what training did (:class:`Learned`). Raw learners return the base vectors unchanged.
"""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import polars as pl

from recsys_cl.embeddings import _augment, _finetune
from recsys_cl.embeddings._catalogue import item_texts
from recsys_cl.embeddings._evaluation import EvaluationSets
from recsys_cl.embeddings._finetune import Features, FrozenFeatures, TowerFeatures, training_modules
from recsys_cl.embeddings._losses import nt_xent, symmetric_info_nce, triplet_loss
from recsys_cl.embeddings._mining import neighbour_pairs, split_rows
from recsys_cl.embeddings._options import DatasetVectorsOptions, EmbedOptions, SimCLROptions, TextNCEOptions, options_for
from recsys_cl.embeddings._quality import distance_gap, triplet_accuracy
from recsys_cl.embeddings._precomputed import PrecomputedOptions, align_item_vectors, read_item_vectors
from recsys_cl.embeddings._records import TrainingSummary, VectorFiles
from recsys_cl.embeddings._train import fit, make_head
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress
from recsys_cl.registry import Registry, class_registry

def learner_class(method: str) -> type["Learner"]:
    """The learner registered as ``method``; InputError listing the known names otherwise."""
    return LEARNERS.get(method)


def create(
    method: str, options: EmbedOptions | None = None, *, seed: int | None = None, device: str | None = None, **overrides: Any
) -> "Learner":
    """A learner with its options validated: ``options`` (fields it set) + ``overrides`` (``train`` merges
    key by key); ``seed`` / ``device`` set ``train.seed`` / ``train.device`` (None: leave them)."""
    cls = learner_class(method)
    return cls(options_for(cls.Options, options, overrides, f"{method} option", seed=seed, device=device))


def input_fingerprint(method: str, options: Mapping[str, Any] | None = None) -> str | None:
    """A hash of the contents of the files besides the dataset that ``method`` reads with ``options``
    (precomputed: its vector and ids files), hashed like raw data files; None for methods that read none.
    Run keys include it, so rewritten vectors re-run what used them."""
    from recsys_cl.data import fingerprint

    cls = learner_class(method)
    files = cls.input_files(options_for(cls.Options, None, dict(options or {}), f"{method} option"))
    if not files:
        return None
    absent = [f for f in files if not f.is_file()]
    if absent:
        raise InputError(f"{absent[0]}: file not found ({method} input)")
    return fingerprint(files)


@dataclasses.dataclass
class LearnerInputs:
    """What ``learn`` prepares once for a learner. Rows are item rows (``items``' order)."""

    items: pl.DataFrame
    source: str  # the item table's name in errors (its file when read from one)
    keep: np.ndarray  # (n,) bool: the items that get a vector
    text_vectors: np.ndarray | None  # (n, d) base text vectors (learners that read text)
    image_vectors: np.ndarray | None  # (n, d) base image vectors, zero rows without an image
    image_mask: np.ndarray  # (n,) bool: items with a readable image (all True without images)
    image_paths: list[Path | None] | None  # each item's image file, confined to the image root
    evaluation: EvaluationSets  # the held-out sets, with their training shares
    rng: np.random.Generator  # the learner's draws (seeded by train.seed)
    progress: StageProgress
    given_vectors: np.ndarray | None = None  # (n, d) vectors the dataset brought, zero rows where an item has none


@dataclasses.dataclass
class Learned:
    """A learner's output: (kept items, d) vectors, and for trained learners what training did.

    ``text_space(base query vectors, query texts)`` maps text queries into the learned space and
    ``image_queries`` (kept items, d) are the items' images there, for text→item / image→item quality.
    """

    vectors: np.ndarray
    training: TrainingSummary | None = None
    #: vectors read from files (precomputed): the files and how they met the catalogue
    inputs: VectorFiles | None = None
    text_space: Callable[[np.ndarray, list[str]], np.ndarray] | None = None
    image_queries: np.ndarray | None = None


class Learner(abc.ABC):
    """Base of every learner: typed options, and what the learner reads."""

    Options: ClassVar[type[EmbedOptions]] = EmbedOptions
    name: ClassVar[str] = "learner"
    reads_text: ClassVar[bool] = False
    reads_images: ClassVar[bool] = False
    #: co-purchase learners train on the training interactions, which ``learn`` must then be given
    reads_interactions: ClassVar[bool] = False
    #: only items with an image get a vector, and the image vectors are the raw baseline (else the text ones)
    image_only: ClassVar[bool] = False
    #: reads vectors the dataset brought (``embed`` loads them by the options' ``vectors`` key)
    reads_dataset_vectors: ClassVar[bool] = False

    def __init__(self, options: EmbedOptions) -> None:
        self.options = options

    @classmethod
    def input_files(cls, options: EmbedOptions) -> list[Path]:
        """Files besides the dataset whose contents decide the vectors (fingerprinted into run keys); none
        for learners that only read the dataset."""
        return []

    @abc.abstractmethod
    def fit(self, data: LearnerInputs) -> Learned: ...


#: every embedding method a config can name: the built-in learners and the ``recsys_cl.embeddings`` entry points
LEARNERS: Registry[type[Learner]] = class_registry("embedding method", "recsys_cl.embeddings", Learner, "name")
#: class decorator: ``@register("text-nce")`` makes a learner creatable by its method name
register = LEARNERS.register


# ------------------------------------------------------------------ raw base vectors


@register("raw-text")
class RawText(Learner):
    """The text encoder's vectors as they are (the baseline every text learner is compared with)."""

    reads_text = True

    def fit(self, data: LearnerInputs) -> Learned:
        assert data.text_vectors is not None
        return Learned(data.text_vectors[data.keep])


@register("raw-image")
class RawImage(Learner):
    """The image encoder's vectors as they are, for items with an image."""

    reads_images = True
    image_only = True

    def fit(self, data: LearnerInputs) -> Learned:
        assert data.image_vectors is not None
        return Learned(data.image_vectors[data.keep])


# ------------------------------------------------------------------ text learners


def _text_features(data: LearnerInputs, opts: EmbedOptions) -> Features:
    """The text side of a learner: the base vectors, or (``finetune_layers``) a MiniLM whose last layers train."""
    cfg = opts.train
    assert data.text_vectors is not None
    if not cfg.finetune_layers:
        return FrozenFeatures(data.text_vectors, cfg)
    texts = item_texts(data.items)
    tower = _finetune.text_tower(opts.text_model, cfg.finetune_layers, cfg.device)
    return TowerFeatures(tower, texts, cfg, check=(texts, data.text_vectors), progress=data.progress,
                         stage="encode text (frozen layers)")  # fmt: skip


def _finetuned(**named: Features) -> dict[str, dict[str, Any]] | None:
    """What trained in each fine-tuned encoder (None when all were frozen)."""
    return {k: f.describe() for k, f in named.items() if f.tower is not None} or None


def _pair_loss(head, feats, rows, temperature):
    f = feats(rows[:, :2])
    return nt_xent(head(f[:, 0]), head(f[:, 1]), temperature)


def _pair_learner(data: LearnerInputs, opts: EmbedOptions, train_pairs: np.ndarray,
                  held: tuple[np.ndarray, np.ndarray], kind: str) -> Learned:  # fmt: skip
    """NT-Xent head over the text base vectors (or the fine-tuned text encoder) on positive pairs;
    held-out gap before and after."""
    cfg, base = opts.train, data.text_vectors
    assert base is not None
    feats = _text_features(data, opts)
    head = make_head(base.shape[1], cfg).to(feats.device)
    modules, groups = training_modules({"text": head}, [feats], cfg)
    history = fit(modules, train_pairs, lambda rows: _pair_loss(head, feats, rows, cfg.temperature), cfg,
                  data.progress, groups, what=f"{kind} (training pairs)")  # fmt: skip
    out = feats.outputs(head)
    training = TrainingSummary(
        n_train=len(train_pairs), n_heldout=len(held[0]), history=history, pairs=kind,
        heldout_before=distance_gap(base, *held), heldout_after=distance_gap(out, *held), finetune=_finetuned(text=feats),
    )  # fmt: skip
    return Learned(out, training, text_space=lambda queries, texts: feats.encode(head, queries, texts))


@register("text-nce")
class TextNCE(Learner):
    """Paper 001, approach 2: each item's top-k text neighbours (faiss) are its positives; NT-Xent head."""

    Options = TextNCEOptions
    reads_text = True

    def fit(self, data: LearnerInputs) -> Learned:
        opts = self.options
        assert isinstance(opts, TextNCEOptions) and data.text_vectors is not None
        pos, neg = neighbour_pairs(data.text_vectors, opts.neighbours, data.rng)
        train_rows, held_rows = split_rows(len(pos), opts.heldout_share, data.rng)
        return _pair_learner(data, opts, pos[train_rows], (pos[held_rows], neg[held_rows]),
                             f"top-{opts.neighbours} text neighbours (faiss)")  # fmt: skip


@register("text-triplet")
class TextTriplet(Learner):
    """Paper 000: triplet margin loss on attribute triplets (easy / semi-hard / hard negatives)."""

    reads_text = True

    def fit(self, data: LearnerInputs) -> Learned:
        opts, cfg, evaluation = self.options, self.options.train, data.evaluation
        if evaluation.triplets_train is None or not len(evaluation.triplets_train) or evaluation.triplets is None:
            raise InputError(f"{data.source}: text-triplet needs attribute columns of one of the known dataset shapes "
                             "(H&M or styles) with at least one valid triplet")  # fmt: skip
        assert data.text_vectors is not None
        feats = _text_features(data, opts)
        head = make_head(data.text_vectors.shape[1], cfg).to(feats.device)
        modules, groups = training_modules({"text": head}, [feats], cfg)
        examples = evaluation.triplets_train.as_array()
        history = fit(modules, examples, lambda r: _triplet_loss(head, feats, r, cfg.margin), cfg, data.progress, groups,
                      what="attribute triplets (training)")  # fmt: skip
        out = feats.outputs(head)
        held = evaluation.triplets
        training = TrainingSummary(
            n_train=len(examples), n_heldout=len(held), history=history, triplets="attribute triplets (paper 000)",
            level_mix=dict(opts.triplet_mix), heldout_triplet_accuracy_before=triplet_accuracy(data.text_vectors, held),
            heldout_triplet_accuracy_after=triplet_accuracy(out, held), finetune=_finetuned(text=feats),
        )  # fmt: skip
        return Learned(out, training, text_space=lambda queries, texts: feats.encode(head, queries, texts))


def _triplet_loss(head, feats, rows, margin):
    f = feats(rows[:, :3])
    return triplet_loss(head(f[:, 0]), head(f[:, 1]), head(f[:, 2]), margin)


@register("copurchase")
class Copurchase(Learner):
    """Paper 001, approach 1: items one customer bought within ``window_days`` are positives; NT-Xent head."""

    reads_text = True
    reads_interactions = True

    def fit(self, data: LearnerInputs) -> Learned:
        opts = self.options
        if data.evaluation.copurchase_train is None or data.evaluation.copurchase is None:
            raise InputError(f"copurchase: found no two items of {data.source} bought by one user within "
                             f"{opts.window_days} days in the training interactions; training needs such pairs")  # fmt: skip
        return _pair_learner(data, opts, data.evaluation.copurchase_train[0], data.evaluation.copurchase,
                             f"co-purchase within {opts.window_days} days")  # fmt: skip


# ------------------------------------------------------------------ image learners


def _image_tower(opts: EmbedOptions) -> _finetune.ImageTower:
    return _finetune.image_tower(opts.train.finetune_layers, _augment.load_view, opts.train.device)


@register("image-simclr")
class ImageSimCLR(Learner):
    """Paper 002: NT-Xent on augmented views (crop, flip, blur) of each item's image."""

    Options = SimCLROptions
    reads_images = True
    image_only = True

    def fit(self, data: LearnerInputs) -> Learned:
        opts, cfg, rng = self.options, self.options.train, data.rng
        assert isinstance(opts, SimCLROptions) and data.image_vectors is not None and data.image_paths is not None
        paths = [p for p, ok in zip(data.image_paths, data.image_mask) if ok and p is not None]
        base = data.image_vectors[data.image_mask]
        n, views = len(paths), opts.simclr_views
        plain = [(p, None) for p in paths]
        if cfg.finetune_layers:
            feats: Features = TowerFeatures(
                _image_tower(opts), _augment.view_sources(paths, views, opts.colour_jitter, rng), cfg,
                check=(plain, base), progress=data.progress, stage="encode views (frozen layers)",
            )  # fmt: skip
            stacked = feats.before()
        else:
            stacked = _augment.view_vectors(paths, base.shape[1], opts.image_model, cfg.device, views,
                                            opts.colour_jitter, rng, data.progress)  # fmt: skip
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
        history = fit(modules, pairs[is_train], lambda r: _pair_loss(head, feats, r, cfg.temperature), cfg,
                      data.progress, groups, what="augmented view pairs (training)")  # fmt: skip
        projected_views = feats.outputs(head)
        training = TrainingSummary(
            n_train=int(is_train.sum()), n_heldout=len(held_pos), history=history,
            pairs=f"{views} augmented view pairs per image (crop, flip, blur; colour jitter {opts.colour_jitter})",
            heldout_before=distance_gap(stacked, held_pos, held_neg),
            heldout_after=distance_gap(projected_views, held_pos, held_neg), finetune=_finetuned(image=feats),
        )  # fmt: skip
        return Learned(feats.encode(head, base, plain), training)


@register("clip")
class Clip(Learner):
    """CLIP-style: symmetric InfoNCE between each item's image and its text; one vector per item
    (mean of the two projections, the text projection alone where there is no image)."""

    reads_text = True
    reads_images = True

    def fit(self, data: LearnerInputs) -> Learned:
        opts, cfg, rng = self.options, self.options.train, data.rng
        text_vectors, image_vectors, image_mask = data.text_vectors, data.image_vectors, data.image_mask
        assert text_vectors is not None and image_vectors is not None and data.image_paths is not None
        both = np.flatnonzero(image_mask)
        train_rows, held_rows = split_rows(len(both), opts.heldout_share, rng)
        text_feats = _text_features(data, opts)
        image_feats: Features = FrozenFeatures(image_vectors, cfg)
        if cfg.finetune_layers:  # the image tower sees only items with an image; rows stay item rows
            plain = [(data.image_paths[i], None) for i in both.tolist()]
            image_feats = TowerFeatures(_image_tower(opts), plain, cfg, check=(plain, image_vectors[both]), index=both,
                                        n_rows=len(image_mask), progress=data.progress,
                                        stage="encode images (frozen layers)")  # fmt: skip
        text_head = make_head(text_vectors.shape[1], cfg).to(text_feats.device)
        image_head = make_head(image_vectors.shape[1], cfg, salt=1).to(text_feats.device)
        heads, groups = training_modules({"text": text_head, "image": image_head}, [text_feats, image_feats], cfg)
        history = fit(heads, both[train_rows][:, None], lambda r: symmetric_info_nce(
            image_head(image_feats(r[:, 0])), text_head(text_feats(r[:, 0])), cfg.temperature), cfg, data.progress, groups,
            what="items with an image and a text (training)")  # fmt: skip
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
        training = TrainingSummary(
            n_train=len(train_rows), n_heldout=len(held), history=history,
            pairs="item image and item text (CLIP-style, symmetric InfoNCE)",
            output="mean of image and text projections; text projection alone where there is no image",
            heldout_after=distance_gap(stacked, pos, neg), heldout_text_to_image_exact_item=text_to_image,
            finetune=_finetuned(text=text_feats, image=image_feats),
        )  # fmt: skip
        return Learned(joint.astype(np.float32), training,
                       text_space=lambda queries, texts: text_feats.encode(text_head, queries, texts),
                       image_queries=image_out)  # fmt: skip


@register("dataset-vectors")
class DatasetVectors(Learner):
    """Vectors the dataset brought, as they are: MMRec's ``image_feat.npy`` / ``text_feat.npy``
    (``vectors: image`` / ``text``), or a ``float_seq`` field of a RecBole ``.item`` file. Only items with
    a vector get one; nothing is trained."""

    Options = DatasetVectorsOptions
    reads_dataset_vectors = True

    def fit(self, data: LearnerInputs) -> Learned:
        assert data.given_vectors is not None
        return Learned(data.given_vectors[data.keep])


# ------------------------------------------------------------------ vectors computed elsewhere


@register("precomputed")
class Precomputed(Learner):
    """Vectors computed elsewhere (CLIP on a GPU, a shop's encoder), read from files and matched to the
    catalogue (``_precomputed``); their quality is scored as the base, like a raw learner's."""

    Options = PrecomputedOptions

    @classmethod
    def input_files(cls, options: EmbedOptions) -> list[Path]:
        assert isinstance(options, PrecomputedOptions)
        return options.input_files()

    def fit(self, data: LearnerInputs) -> Learned:
        from recsys_cl.data import fingerprint

        opts = self.options
        assert isinstance(opts, PrecomputedOptions)
        files = opts.input_files()
        digest = fingerprint(files)  # before reading: a file rewritten meanwhile shows in the next run's key
        emb = read_item_vectors(opts.file, ids=opts.ids, id_column=opts.id_column, vector_column=opts.vector_column)
        catalogue = data.items["item_id"].to_numpy().astype(str)[data.keep]
        vectors, met = align_item_vectors(emb, catalogue, missing=opts.missing, where=opts.file)
        inputs = VectorFiles([str(f) for f in files], digest, len(emb.item_ids), met.n_matched, met.n_zero_filled, met.n_unused)
        return Learned(vectors, inputs=inputs)


#: the built-in methods, in registration order (the order of ``recsys-cl embed --method``'s help)
METHODS: tuple[str, ...] = tuple(name for name, _ in LEARNERS.builtin_items())
