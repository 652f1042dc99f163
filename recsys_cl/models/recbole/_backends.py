"""The registered RecBole backends: ``recbole`` (any general recommender by name), ``bpr-recbole``,
``neumf``, ``lightgcn``, ``sgl`` (optionally with item content), ``ncl`` and ``simplex``.

Training runs on OUR split (see ``_data``), with RecBole's trainer built by
``recsys_cl.compat.recbole.make_trainer``. Early stopping watches ``valid_metric`` on the valid part
(RecBole's full-ranking evaluation, each user's training items masked as the fit's ``exclude_seen`` says:
all or none, see ``_validation``); the best weights are restored with the safe ``torch.load``.
Tuning sets ``valid_metric`` to its own metric (:meth:`RecBoleBackend.validation_params`).
Each validated epoch is reported through ``report_epoch`` (so an ``on_epoch`` callback can stop
training) and the fit's :class:`~recsys_cl.models._base.TrainingHistory` holds the curve.
Recommendations go through the shared top-K helper over all our items, each user's training items excluded.

Items with no training interaction are unknown to a pure-ID model: their embeddings never saw a
positive, so they are scored ``UNKNOWN_SCORE`` (ranked last) rather than by a random vector.
"""

from __future__ import annotations

import tempfile
from typing import Any, ClassVar

import numpy as np

from recsys_cl.compat.recbole import load_best_model, make_config, make_trainer
from recsys_cl.data import EncodedSplit
from recsys_cl.embeddings import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.device import torch_threads
from recsys_cl.models._base import UNKNOWN_SCORE, FitOptions, RecommendOptions, Recommender, register
from recsys_cl.models.recbole._config import (
    BPRRecBoleConfig,
    LightGCNConfig,
    NCLConfig,
    NeuMFConfig,
    RecBoleConfig,
    RecBoleTrainConfig,
    SGLConfig,
    SimpleXConfig,
)
from recsys_cl.models.recbole._content import apply_content
from recsys_cl.models.recbole._data import IdMap, data_loaders, encoded_dataset_class
from recsys_cl.models.recbole._fast import graph_model_class, ncl_class, neumf_class
from recsys_cl.models.recbole._validation import EXCLUDE_SEEN_KEY, metric_settings, recbole_metric

#: (user, item) pairs scored per chunk by models without a full-sort predictor (e.g. DMF).
PAIRS_PER_CHUNK = 2_000_000
#: scores per chunk for models with one (a 128 MB array): 2M pairs would be 18 users of H&M's 105k
#: items per chunk, and per-chunk overhead would dominate ranking 1.37M users.
SCORES_PER_CHUNK = 32_000_000
DATASET_NAME = "recsys_cl"


def recbole_settings(workdir: str, settings: dict[str, Any]) -> dict[str, Any]:
    """RecBole config values for training on our split: checkpoints in ``workdir``, our train / valid /
    test parts (``benchmark_filename``), full-sort evaluation, quiet; then ``settings``."""
    return {
        "data_path": workdir,
        "checkpoint_dir": workdir,
        "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "load_col": {"inter": ["user_id", "item_id"]},
        "show_progress": False,
        "state": "warning",
        "log_wandb": False,
        "reproducibility": True,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": "full"},
        **settings,
    }


class RecBoleBackend(Recommender):
    """Shared fit / score for every RecBole model."""

    Config = RecBoleConfig
    training_length_param = "epochs"  # early stopping on the valid part keeps history.best_epoch
    #: RecBole class name (the named backends) and the item tables their content goes into
    recbole_model: ClassVar[str] = ""
    item_tables: ClassVar[list[str]] = ["item_embedding"]

    # subclasses: the model name and the RecBole config keys
    def _model_name(self) -> str:
        return self.recbole_model

    @classmethod
    def validation_params(cls, metric: str) -> dict[str, Any]:
        return {"valid_metric": recbole_metric(metric)}

    def _settings(self) -> dict[str, Any]:
        c = self.config
        return {
            "seed": c.seed,
            "epochs": c.epochs,
            "learning_rate": c.learning_rate,
            "embedding_size": c.embedding_size,
            "train_batch_size": c.train_batch_size,
            "stopping_step": c.stopping_step,
            "eval_batch_size": c.eval_batch_size,
            **metric_settings(c.valid_metric),
            "recsys_cl_valid_users": c.valid_users,
        }

    def _model_class(self) -> type:
        # Looked up among RecBole's general recommenders only: its get_model() would try other
        # families too, importing optional libraries (lightgbm, xgboost) on an unknown name.
        from recbole.model import general_recommender

        name = self._model_name()
        cls = getattr(general_recommender, name, None)
        if not isinstance(cls, type):
            known = sorted(n for n in dir(general_recommender) if isinstance(getattr(general_recommender, n), type))
            raise InputError(f"{self.registry_name}: {name!r} is not a RecBole general recommender; known: {', '.join(known)}")
        return cls

    def _check_split(self, split: EncodedSplit) -> None:
        """Refuse settings this split cannot satisfy, before any work (backends override)."""

    @property
    def _content(self) -> str:
        return getattr(self.config, "content", "none")

    @property
    def cannot_rank_new_items(self) -> str | None:
        # init: a new item's row is the content's starting point and is never trained (no purchase, and
        # negatives are drawn among trained items only), while every trained row and every user moves
        # away from where training started: its score is an untrained row's. On ml-100k cold-item BPR
        # with init was best on new items after its first epoch (HR@10 0.168, Random 0.067) and fell after.
        if self._content == "init":
            return ("content: init only sets where the ID table starts; a new item's row is never trained, so its score "
                    "is that of an untrained row against trained users (use content: fuse to rank new items)")
        return None

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        with torch_threads(self.config.num_threads):
            self._fit_recbole(split, item_embeddings, options)

    def _fit_recbole(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None, options: FitOptions) -> None:
        if self._content != "none" and item_embeddings is None:
            raise InputError(f"{self.registry_name}: content={self._content!r} needs item embeddings")
        if self._content == "none" and item_embeddings is not None:
            raise InputError(f"{self.registry_name}: content is 'none'; set content to init or fuse to use item embeddings")
        from recbole.utils import init_seed

        model_class = self._model_class()  # an unknown name fails here, before RecBole's Config
        self._check_split(split)
        trained_ours = np.diff(split.train.tocsc().indptr) > 0
        with tempfile.TemporaryDirectory(prefix="recsys_cl_recbole_") as workdir:
            # validation masks what the final ranking will (the fit's exclude_seen, see _validation)
            settings = {**self._settings(), EXCLUDE_SEEN_KEY: options.exclude_seen}
            config = make_config(self._model_name(), recbole_settings(workdir, settings), self.config.device,
                                 dataset=DATASET_NAME)
            init_seed(config["seed"], config["reproducibility"])
            dataset = encoded_dataset_class()(config, split)
            train_data, valid_data, test_data = data_loaders(config, dataset)
            ids = IdMap(dataset, split)
            trained = ids.rb_rows(trained_ours, fill=False)
            identity = trained if getattr(self.config, "item_identity", True) else np.zeros_like(trained)

            init_seed(config["seed"], config["reproducibility"])
            net = model_class(config, train_data._dataset)
            if self._content != "none":
                assert item_embeddings is not None
                matrix, mask = item_embeddings.aligned(split.item_ids)
                apply_content(net, self.item_tables, self._content, ids.rb_rows(matrix), ids.rb_rows(mask, fill=False), identity,
                              getattr(self.config, "id_dropout", 0.0))
            net = net.to(config["device"])

            trainer = make_trainer(config, net, progress=options.progress)
            has_valid = split.valid.nnz > 0
            self._train(trainer, train_data, valid_data if has_valid else None, options)
            load_best_model(trainer)
        net.eval()
        self.best_epoch = trainer.best_epoch
        self.best_valid_score = float(trainer.best_valid_score) if has_valid else None
        self.history.best_epoch = None if trainer.best_epoch is None else trainer.best_epoch + 1
        self._net, self._ids, self._config = net, ids, config
        self._trainer, self._loaders = trainer, {"valid": valid_data, "test": test_data}
        # items a model cannot know: nothing in training and (for pure-ID models) no content
        known = trained_ours & getattr(self.config, "item_identity", True)
        if self._content != "none":
            assert item_embeddings is not None
            known |= item_embeddings.aligned(split.item_ids)[1]
        self._unknown_items = ~known
        # column indices: a boolean mask over 105k columns, applied per chunk, was most of the ranking time
        self._unknown_columns = np.flatnonzero(self._unknown_items)

    def _train(self, trainer: Any, train_data: Any, valid_data: Any, options: FitOptions) -> None:
        """RecBole's ``fit`` (without valid data: every epoch, no early stopping), with each validated
        epoch reported to ``report_epoch`` and the per-epoch losses kept in ``history`` even when the
        ``on_epoch`` callback stops training by raising."""
        self.history.valid_metric = self.config.valid_metric if valid_data is not None else None

        def validated(epoch_idx: int, valid_score: float) -> None:
            self.report_epoch(options, epoch_idx + 1, valid_score)

        try:
            # RecBole's own end-of-epoch hook: called after early stopping and the checkpoint
            trainer.fit(train_data, valid_data, saved=True, show_progress=False,
                        callback_fn=validated if valid_data is not None else None)
        finally:
            # the sum over the epoch's batches of each batch's loss (all loss terms), as RecBole logs it
            losses = trainer.train_loss_dict
            self.history.train_loss = [float(losses[epoch]) for epoch in sorted(losses)]
            self.history.epochs_run = len(losses)

    def recbole_evaluate(self, part: str = "test", metrics: tuple[str, ...] = ("Hit", "NDCG", "Recall", "MRR", "Precision"), k: int = 10) -> dict[str, float]:
        """RecBole's own full-ranking evaluation of the fitted model on ``part`` (a cross-check).

        RecBole masks the user's train items when ranking for valid, and train + valid items when
        ranking for test (our ``recommend`` masks train items only), and rounds to 4 decimals.
        """
        if self.encoded is None:
            raise InputError(f"{self.registry_name}: call fit() before recbole_evaluate()")
        if part not in self._loaders:
            raise InputError(f"recbole_evaluate: part must be valid or test (got {part!r})")
        from recbole.evaluator import Collector, Evaluator

        cfg, trainer = self._config, self._trainer
        cfg["metrics"], cfg["topk"] = list(metrics), [k]
        trainer.evaluator, trainer.eval_collector = Evaluator(cfg), Collector(cfg)
        with torch_threads(self.config.num_threads):
            result = trainer.evaluate(self._loaders[part], load_best_model=False)
        return {name: float(value) for name, value in result.items()}

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        import torch
        from recbole.data.interaction import Interaction

        net, ids, cfg = self._net, self._ids, self._config
        users = torch.as_tensor(ids.rb_of_our_user[user_idx], device=cfg["device"])
        n_rb = len(ids.ours_of_rb_item) + 1
        with torch.no_grad():
            try:
                scores = net.full_sort_predict(Interaction({cfg["USER_ID_FIELD"]: users}))
            except NotImplementedError:  # pointwise models without one (e.g. DMF): score every (user, item) pair
                items = torch.arange(n_rb, device=cfg["device"])
                pairs = Interaction(
                    {cfg["USER_ID_FIELD"]: users.repeat_interleave(n_rb), cfg["ITEM_ID_FIELD"]: items.repeat(len(users))}
                )
                scores = net.predict(pairs)
        scores = scores.view(len(user_idx), n_rb)[:, 1:].float().cpu().numpy()
        out = np.empty((len(user_idx), len(ids.ours_of_rb_item)), dtype=np.float32)
        out[:, ids.ours_of_rb_item] = scores
        out[:, self._unknown_columns] = UNKNOWN_SCORE
        return out

    def _scores_per_chunk(self) -> int:
        from recbole.model.abstract_recommender import AbstractRecommender

        full_sort = type(self._net).full_sort_predict is not AbstractRecommender.full_sort_predict
        return SCORES_PER_CHUNK if full_sort else PAIRS_PER_CHUNK

    def _recommend(self, user_idx: np.ndarray, k: int, options: RecommendOptions) -> tuple[np.ndarray, np.ndarray]:
        from recsys_cl.evaluation import topk_from_scorer
        assert self.encoded is not None
        n_items = self.encoded.n_items

        chunk = max(1, self._scores_per_chunk() // max(n_items, 1))
        with torch_threads(self.config.num_threads):
            return topk_from_scorer(
                self._score, n_items, k, user_idx, exclude=self.seen_items(options.exclude_seen), device="cpu", chunk_size=chunk, progress=options.progress
            )


@register("recbole")
class RecBoleModel(RecBoleBackend):
    """Any RecBole general recommender by class name (``model``), with its own hyperparameters in ``params``."""

    Config = RecBoleConfig

    def _model_name(self) -> str:
        return self.config.model

    def _settings(self) -> dict[str, Any]:
        # params are allow-listed by RecBoleConfig (no file keys, no keys the top level sets)
        return {**super()._settings(), **self.config.params}


@register("bpr-recbole")
class BPRRecBole(RecBoleBackend):
    """BPR-MF (Rendle et al. 2009) from RecBole, optionally with item content."""

    Config = BPRRecBoleConfig
    recbole_model = "BPR"
    uses_item_embeddings = True


@register("neumf")
class NeuMFRecBole(RecBoleBackend):
    """NeuMF / NCF (He et al. 2017): GMF + MLP towers, pointwise loss with sampled negatives."""

    Config = NeuMFConfig
    recbole_model = "NeuMF"
    item_tables = ["item_mf_embedding", "item_mlp_embedding"]
    uses_item_embeddings = True

    def _model_class(self) -> type:
        return neumf_class()

    def _scores_per_chunk(self) -> int:
        # the MLP's hidden grid is (users x items x hidden): chunk like a validation batch
        return self.config.eval_batch_size

    def _settings(self) -> dict[str, Any]:
        c = self.config
        return {
            **super()._settings(),
            "mf_embedding_size": c.embedding_size,
            "mlp_embedding_size": c.embedding_size,
            "mlp_hidden_size": list(c.mlp_hidden_size),
            "dropout_prob": c.dropout_prob,
            "train_neg_sample_args": {"distribution": "uniform", "sample_num": c.neg_samples},
        }


@register("lightgcn")
class LightGCNRecBole(RecBoleBackend):
    """LightGCN (He et al. 2020); content enters at the layer-0 item embeddings."""

    Config = LightGCNConfig
    recbole_model = "LightGCN"
    uses_item_embeddings = True

    def _model_class(self) -> type:
        return graph_model_class(super()._model_class())

    def _settings(self) -> dict[str, Any]:
        c = self.config
        return {**super()._settings(), "n_layers": c.n_layers, "reg_weight": c.reg_weight}


@register("sgl")
class SGLRecBole(RecBoleBackend):
    """SGL (Wu et al. 2021): LightGCN with a self-supervised graph-augmentation loss."""

    Config = SGLConfig
    recbole_model = "SGL"
    uses_item_embeddings = True

    def _model_class(self) -> type:
        return graph_model_class(super()._model_class())

    def _settings(self) -> dict[str, Any]:
        c = self.config
        return {
            **super()._settings(),
            "n_layers": c.n_layers,
            "reg_weight": c.reg_weight,
            "ssl_tau": c.ssl_tau,
            "ssl_weight": c.ssl_weight,
            "drop_ratio": c.drop_ratio,
            "type": c.augmentation,
        }


@register("ncl")
class NCLRecBole(RecBoleBackend):
    """NCL (Lin et al. 2022): LightGCN with structure- and prototype-contrastive losses (RecBole's model
    and its trainer with the k-means E-steps)."""

    Config = NCLConfig
    recbole_model = "NCL"

    def _model_class(self) -> type:
        return ncl_class()

    def _check_split(self, split: EncodedSplit) -> None:
        fewest = min(split.n_users, split.n_items)
        if self.config.num_clusters > fewest:
            raise InputError(f"{self.registry_name}: num_clusters={self.config.num_clusters} needs at least as many users "
                             f"and items; this split has {split.n_users} users and {split.n_items} items")

    def _settings(self) -> dict[str, Any]:
        # every NCL field beyond the shared ones has RecBole's name
        return {**super()._settings(), **self.config.model_dump(exclude=set(RecBoleTrainConfig.model_fields))}


@register("simplex")
class SimpleXRecBole(RecBoleBackend):
    """SimpleX (Mao et al. 2021): cosine contrastive loss with many negatives over user + history-mean towers."""

    Config = SimpleXConfig
    recbole_model = "SimpleX"

    def _settings(self) -> dict[str, Any]:
        # every SimpleX field beyond the shared ones has RecBole's name, except neg_samples
        own = self.config.model_dump(exclude={"neg_samples", *RecBoleTrainConfig.model_fields})
        negatives = {"distribution": "uniform", "sample_num": self.config.neg_samples}
        return {**super()._settings(), **own, "train_neg_sample_args": negatives}
