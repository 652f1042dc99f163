"""Sequential recommenders from RecBole: ``sasrec`` (SASRec), ``gru4rec`` (GRU4Rec) and ``core`` (CORE,
a contrastive one), with optional item content as their item table.

Training reads the split's train part only: each user's train interactions in time order (``_sequences``)
are cut into windows whose every position predicts the next item (``_sequential_nets``), with RecBole's
trainer, early stopping on the valid part (the valid items after each user's sequence, training items
masked under the fit's ``exclude_seen`` and none without it, RecBole's full-ranking evaluation) and the best
epoch's weights restored, like the general backends. A user is represented by their latest
``max_seq_length`` training items: ``recommend`` ranks all items for that sequence through the shared
top-K, each user's training items excluded (under ``exclude_seen``). Under ``loo`` the
valid item comes between the sequence and the test item; with ``tuning.refit: train+valid`` the valid item
joins the sequence and the test item is the next one (the SASRec paper's protocol).

Protocols: only those whose parts are in time order per user (:data:`SEQUENCE_PROTOCOLS`, also the class
attribute ``protocols``); ``cold-item`` is refused, as is a train part without timestamps.

Item content (``content``), into the one item table these models use for both input and output:

* ``init`` - the ID table starts from the vectors' principal components (as the general backends);
* ``fuse`` - ID embedding + a learned projection of the vector (``id_dropout``, ``item_identity`` as there);
* ``frozen`` - the table is the vectors' principal components, fixed (never trained).

Items without a vector (counted in a warning, and in ``content_coverage``): ``init`` - a random ID row;
``fuse`` - the ID embedding alone; ``frozen`` - a learned ID row. Under every mode an item that has neither
a vector nor a training interaction (a pure-ID model: every item never trained) is scored ``UNKNOWN_SCORE``
(ranked last). A user with no training interaction (possible under ``temporal``) has no sequence: every
item is unknown to the model for them (all scores ``UNKNOWN_SCORE``), and they are left out of validation.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from recsys_cl.compat.recbole import load_best_model, make_config, make_trainer
from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models._base import UNKNOWN_SCORE, FitOptions, register
from recsys_cl.models._modalities import ItemModality, aligned_modalities
from recsys_cl.models.recbole._backends import SCORES_PER_CHUNK, RecBoleBackend
from recsys_cl.models.recbole._validation import valid_history
from recsys_cl.models.recbole._config import ContentTrainConfig
from recsys_cl.models.recbole._sequences import SEQUENCE_PROTOCOLS, SequenceCatalogue, UserSequences, loader_classes
from recsys_cl.models.recbole._sequential_nets import model_classes, set_item_table

log = logging.getLogger(__name__)

#: users encoded per chunk when ranking: a transformer's activations grow with users x max_seq_length
SEQUENCES_PER_CHUNK = 1024
#: what happens to items without a vector, by content mode (completes "they ...")
MISSING_VECTOR_EFFECT = {
    "init": "keep a random ID row (ranked last if they never occur in training)",
    "fuse": "are their ID embedding alone (ranked last if they never occur in training)",
    "frozen": "get a learned ID row (ranked last if they never occur in training)",
}
HiddenAct = Literal["gelu", "relu", "swish", "tanh", "sigmoid"]


class SequentialConfig(ContentTrainConfig):
    """Settings every sequential backend shares (RecBole's names and defaults where it has them)."""

    content: Literal["none", "init", "fuse", "frozen"] = Field(
        "none", description="item embeddings as the item table: none, init (PCA start), fuse (ID + projection), frozen (fixed PCA rows)"
    )
    max_seq_length: int = Field(50, ge=1, description="latest training items a user's sequence keeps (RecBole's MAX_ITEM_LIST_LENGTH); also the training window")
    loss_type: Literal["CE", "BPR"] = Field("CE", description="CE: softmax over all items; BPR: one uniform negative per next item")
    train_batch_size: int = Field(2048, ge=1, description="next-item targets per training batch (in windows of max_seq_length)")


class TransformerConfig(SequentialConfig):
    """The transformer encoder of SASRec and CORE (RecBole's defaults)."""

    n_layers: int = Field(2, ge=1)
    n_heads: int = Field(2, ge=1, description="attention heads; must divide embedding_size")
    inner_size: int = Field(256, ge=1, description="width of the feed-forward layer")
    hidden_dropout_prob: float = Field(0.5, ge=0, lt=1)
    attn_dropout_prob: float = Field(0.5, ge=0, lt=1)
    hidden_act: HiddenAct = "gelu"
    layer_norm_eps: float = Field(1e-12, gt=0)
    initializer_range: float = Field(0.02, gt=0, description="std of the initial weights")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "TransformerConfig":
        if self.embedding_size % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide embedding_size={self.embedding_size}")
        return self


# Schedules (epochs, learning_rate) from validation curves on ml-100k loo (valid nDCG@10, seed 0, one
# thread, 2 cores mostly idle; ``benchmarks/perf/bench_models.py`` times the defaults). At RecBole's 0.001
# the best epochs were SASRec 20 (0.1153, ~5.5 s an epoch), GRU4Rec 32 (0.1137, ~3.8 s), CORE 31
# (0.1331, ~6 s): over the 2-minute budget. SASRec at 0.002: 0.1154 at epoch 13 (at 0.005 it stalled
# near 0.03 for 11 epochs); GRU4Rec at 0.005: 0.1169 at 12; CORE at 0.003: 0.1330 at 15.
class SASRecConfig(TransformerConfig):
    epochs: int = Field(15, ge=1)
    learning_rate: float = Field(0.002, gt=0)


class GRU4RecConfig(SequentialConfig):
    epochs: int = Field(20, ge=1)
    learning_rate: float = Field(0.005, gt=0)
    hidden_size: int = Field(128, ge=1, description="GRU state width (the item table is embedding_size wide)")
    num_layers: int = Field(1, ge=1, description="stacked GRU layers")
    dropout_prob: float = Field(0.3, ge=0, lt=1, description="dropout on the input item embeddings")


class COREConfig(TransformerConfig):
    epochs: int = Field(15, ge=1)
    learning_rate: float = Field(0.003, gt=0)
    loss_type: Literal["CE"] = Field("CE", description="CORE's contrastive loss: CE over cosine similarities / temperature")
    dnn_type: Literal["trm", "ave"] = Field("trm", description="session weights by a transformer (trm) or equal (ave)")
    sess_dropout: float = Field(0.2, ge=0, lt=1, description="dropout on the session's item embeddings")
    item_dropout: float = Field(0.2, ge=0, lt=1, description="dropout on the candidate item embeddings while training")
    temperature: float = Field(0.07, gt=0, description="temperature of the cosine logits")


class SequentialBackend(RecBoleBackend):
    """Shared fit / score of the sequential backends (see the module docstring)."""

    Config = SequentialConfig
    uses_item_embeddings = True
    #: protocols this model can run on (config validation checks a benchmark's protocols against it)
    protocols: ClassVar[tuple[str, ...]] = SEQUENCE_PROTOCOLS

    def _model_class(self) -> type:
        return model_classes()[self.recbole_model]

    def _settings(self) -> dict[str, Any]:
        c = self.config
        negatives = {"distribution": "uniform", "sample_num": 1} if c.loss_type == "BPR" else None
        return {**super()._settings(), "MAX_ITEM_LIST_LENGTH": c.max_seq_length, "loss_type": c.loss_type,
                "train_neg_sample_args": negatives}

    @classmethod
    def check_protocol(cls, protocol: str) -> None:
        """InputError unless ``protocol`` keeps each user's parts in time order (config validation can call
        it on the class, before any data is read)."""
        if protocol not in cls.protocols:
            raise InputError(
                f"{cls.registry_name}: protocol {protocol!r} does not hold out each user's latest interactions "
                f"(cold-item holds whole items out), so a next-item model has nothing to predict; "
                f"use {' or '.join(cls.protocols)}"
            )

    def _fit_recbole(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        c = self.config
        if c.content != "none" and item_embeddings is None:
            raise InputError(f"{self.registry_name}: content={c.content!r} needs item embeddings")
        if c.content == "none" and item_embeddings is not None:
            raise InputError(f"{self.registry_name}: content is 'none'; set content to init, fuse or frozen to use item embeddings")
        self.check_protocol(split.protocol)
        if split.n_items < 2:
            raise InputError(f"{self.registry_name}: the split has {split.n_items} item(s); ranking needs at least 2")
        modality = None
        if c.content != "none":
            modality = aligned_modalities(split.item_ids, item_embeddings, self.registry_name, MISSING_VECTOR_EFFECT[c.content])[0]
        #: dimension, items, items without a vector (for run records); None without content
        self.content_coverage = None if modality is None else modality.coverage()
        sequences = UserSequences.from_split(split, self.registry_name)
        model_class = self._model_class()
        trained = np.diff(split.train.tocsc().indptr) > 0
        with tempfile.TemporaryDirectory(prefix="recsys_cl_sequential_") as workdir:
            config = make_config(model_class, sequential_settings(workdir, self._settings()), c.device)
            catalogue = SequenceCatalogue(config, split.n_users, split.n_items)
            train_data, valid_data = self._loaders_for(config, catalogue, sequences, split, options.exclude_seen)
            net = build_network(model_class, config, catalogue, c, modality, trained)
            trainer = make_trainer(config, net, progress=options.progress)
            self._train(trainer, train_data, valid_data, options)
            load_best_model(trainer)
        net.eval()
        self.best_epoch = trainer.best_epoch
        self.best_valid_score = float(trainer.best_valid_score) if valid_data is not None else None
        self.history.best_epoch = None if trainer.best_epoch is None else trainer.best_epoch + 1
        self._net, self._config, self._trainer = net, config, trainer
        self._loaders = {"valid": valid_data}
        self._sequences = sequences
        known = trained & c.item_identity
        if modality is not None:
            known |= modality.mask
        self._unknown_items = ~known
        self._unknown_columns = np.flatnonzero(self._unknown_items)

    def _loaders_for(self, config: Any, catalogue: SequenceCatalogue, sequences: UserSequences,
                     split: EncodedSplit, exclude_seen: bool = True) -> tuple[Any, Any]:
        """The training windows and the validation loader (None when no user with a sequence has a valid
        item); validation masks each user's training items under ``exclude_seen``, none without it."""
        window_loader, eval_loader = loader_classes()
        train_data = window_loader(config, catalogue, sequences, negatives=self.config.loss_type == "BPR")
        if train_data.sample_size == 0:
            raise InputError(f"{self.registry_name}: no user has two training interactions; there is no next item to learn from")
        valid_users = split.eval_users("valid")
        without_history = valid_users[sequences.lengths[valid_users] == 0]
        if len(without_history):
            log.warning("%s: %d of %d valid users have no training interaction (no sequence): left out of validation",
                        self.registry_name, len(without_history), len(valid_users))
        valid_users = valid_users[sequences.lengths[valid_users] > 0]
        sample = self.config.valid_users
        if sample is not None and len(valid_users) > sample:
            valid_users = np.sort(np.random.default_rng(self.config.seed).choice(valid_users, size=sample, replace=False))
        if len(valid_users) == 0:
            return train_data, None
        masked = valid_history(split.train, exclude_seen)
        return train_data, eval_loader(config, catalogue, sequences, valid_users, split.valid, masked)

    def recbole_evaluate(self, part: str = "valid", metrics: tuple[str, ...] = ("Hit", "NDCG", "Recall", "MRR", "Precision"),
                         k: int = 10) -> dict[str, float]:
        """RecBole's own full-ranking evaluation of the fitted model on the valid part (a cross-check of
        ``recommend``: same inputs, training items masked). The test part is never loaded here."""
        if part != "valid" or self._loaders.get("valid") is None:
            raise InputError(f"{self.registry_name}: recbole_evaluate covers the valid part only, when there is one (got {part!r})")
        return super().recbole_evaluate(part, metrics, k)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        import torch
        from recbole.data.interaction import Interaction

        net, cfg = self._net, self._config
        inputs, lengths = self._sequences.latest(np.asarray(user_idx, dtype=np.int64), self.config.max_seq_length)
        no_history = lengths == 0
        batch = Interaction({
            net.ITEM_SEQ: torch.from_numpy(inputs),
            net.ITEM_SEQ_LEN: torch.from_numpy(np.maximum(lengths, 1)),  # all-[PAD] input, scores overwritten below
        })
        with torch.no_grad():
            scores = net.full_sort_predict(batch.to(cfg["device"]))
        out = np.ascontiguousarray(scores[:, 1:].float().cpu().numpy())  # RecBole id r + 1 = our item r
        out[:, self._unknown_columns] = UNKNOWN_SCORE
        out[no_history] = UNKNOWN_SCORE
        return out

    def _scores_per_chunk(self) -> int:
        assert self.encoded is not None
        return min(SCORES_PER_CHUNK, SEQUENCES_PER_CHUNK * self.encoded.n_items)


def build_network(model_class: type, config: Any, catalogue: SequenceCatalogue, settings: SequentialConfig,
                  modality: ItemModality | None, trained: np.ndarray) -> Any:
    """The untrained network, seeded from ``config``, with the item content of ``settings.content`` in its
    item table (``trained``: our items that occur in training)."""
    from recbole.utils import init_seed

    init_seed(config["seed"], config["reproducibility"])
    net = model_class(config, catalogue)
    if modality is not None and settings.content != "none":
        identity = trained & settings.item_identity
        set_item_table(net, settings.content, _with_pad(modality.vectors, 0.0), _with_pad(modality.mask, False),
                       _with_pad(identity, False), settings.id_dropout)
    return net.to(config["device"])


def _with_pad(rows: np.ndarray, fill: Any) -> np.ndarray:
    """``rows`` (our item order) with a ``fill`` row in front: RecBole id ``r + 1`` is our item ``r``."""
    out = np.full((len(rows) + 1, *rows.shape[1:]), fill, dtype=rows.dtype)
    out[1:] = rows
    return out


def sequential_settings(workdir: str, settings: dict[str, Any]) -> dict[str, Any]:
    """RecBole config values for a sequential model on our sequences: checkpoints in ``workdir``, our field
    names, full-sort evaluation in time order, quiet; then ``settings``."""
    return {
        "data_path": workdir,
        "checkpoint_dir": workdir,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "show_progress": False,
        "state": "warning",
        "log_wandb": False,
        "reproducibility": True,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        **settings,
    }


def _transformer_settings(c: TransformerConfig) -> dict[str, Any]:
    return {"n_layers": c.n_layers, "n_heads": c.n_heads, "inner_size": c.inner_size,
            "hidden_dropout_prob": c.hidden_dropout_prob, "attn_dropout_prob": c.attn_dropout_prob,
            "hidden_act": c.hidden_act, "layer_norm_eps": c.layer_norm_eps, "initializer_range": c.initializer_range}


@register("sasrec")
class SASRecBackend(SequentialBackend):
    """SASRec (Kang & McAuley 2018): causal self-attention over the user's latest items."""

    Config = SASRecConfig
    recbole_model = "SASRec"

    def _settings(self) -> dict[str, Any]:
        # SASRec's item table and transformer share one width, RecBole's hidden_size
        return {**super()._settings(), **_transformer_settings(self.config), "hidden_size": self.config.embedding_size}


@register("gru4rec")
class GRU4RecBackend(SequentialBackend):
    """GRU4Rec (Hidasi et al. 2016; RecBole's version with CE or BPR loss): a GRU over the user's latest items."""

    Config = GRU4RecConfig
    recbole_model = "GRU4Rec"

    def _settings(self) -> dict[str, Any]:
        c = self.config
        return {**super()._settings(), "hidden_size": c.hidden_size, "num_layers": c.num_layers, "dropout_prob": c.dropout_prob}


@register("core")
class COREBackend(SequentialBackend):
    """CORE (Hou et al. 2022): the session is a weighted sum of its item embeddings, in the space of the
    candidate items, trained contrastively (softmax over cosine similarities with every item / temperature).

    Chosen over FEARec, RecBole's other contrastive sequential model: FEARec finds, when built, every
    training prefix with the same target with one ``np.where`` over all prefixes per prefix (quadratic:
    ~10^10 comparisons on ml-100k), draws its positive views in a per-row Python loop reading RecBole's
    augmented dataset, and its contrastive keys (``contrast``, ``tau``, ``sim``) are missing from RecBole
    1.2.1's defaults. CORE's item table is a plain embedding, so the content options apply to it.
    """

    Config = COREConfig
    recbole_model = "CORE"

    def _settings(self) -> dict[str, Any]:
        c = self.config
        return {**super()._settings(), **_transformer_settings(c), "dnn_type": c.dnn_type, "sess_dropout": c.sess_dropout,
                "item_dropout": c.item_dropout, "temperature": c.temperature}
