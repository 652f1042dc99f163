"""Typed configs of the RecBole backends (RecBole's key names and defaults, fewer epochs).

The generic ``recbole`` backend passes ``params`` to RecBole, so they are an allow-list: the model's
own hyperparameters (its ``recbole/properties/model/<Model>.yaml``) and a few optimiser keys; any key
with which RecBole reads or writes files (``dataloaders_save_path`` makes it unpickle a file) is
refused with its key path (see ``recsys_cl.compat.recbole_keys.check_passthrough_keys``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from recsys_cl.compat.recbole_keys import check_passthrough_keys
from recsys_cl.models._base import ModelConfig
from recsys_cl.models.recbole._validation import recbole_metric


class RecBoleTrainConfig(ModelConfig):
    """Training settings shared by every RecBole backend (RecBole's names and defaults, fewer epochs)."""

    epochs: int = Field(100, ge=1)
    learning_rate: float = Field(0.001, gt=0)
    embedding_size: int = Field(64, ge=1)
    train_batch_size: int = Field(2048, ge=1)
    stopping_step: int = Field(10, ge=1, description="epochs without a better valid_metric before stopping")
    valid_metric: str = Field(
        "NDCG@10", description="metric@k watched for early stopping (RecBole's names Hit, NDCG, MAP, MRR, Recall, "
        "Precision, or ours: hr@10 is stored as Hit@10)",
    )
    # RecBole's default (4096 user-item pairs) validates 2 users per batch on a 1,700-item catalogue;
    # larger batches cut Python overhead (NeuMF scores every pair) at ~100 MB of activations.
    eval_batch_size: int = Field(200_000, ge=1, description="user x item pairs per validation batch (RecBole)")
    valid_users: int | None = Field(
        None, ge=1,
        description="validate (early stopping) on a seeded sample of this many users; None = every valid user. "
        "A full-sort validation over H&M's 1.37M users costs as much as ranking all of them, every epoch",
    )
    # One thread by default: with the second core busy (any other process), every small torch op
    # waits for a descheduled worker thread. NeuMF, ml-100k loo, 2 epochs, one other busy process:
    # 10.9 s on 1 thread, 70.9 s on 2, 121 s on torch's default. Raise it on a machine of your own.
    num_threads: int = Field(1, ge=0, description="torch CPU threads while fitting / scoring; 0 = torch's default")

    @field_validator("valid_metric")
    @classmethod
    def _metric_at_k(cls, metric: str) -> str:
        return recbole_metric(metric)


class RecBoleConfig(RecBoleTrainConfig):
    """Any RecBole general recommender: ``model`` is its class name, ``params`` its own hyperparameters."""

    model: str = "BPR"
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="the model's own RecBole keys (its properties/model/<model>.yaml) and optimiser keys "
        "(learner, weight_decay, clip_grad_norm, train_neg_sample_args, ...); file and data keys are refused",
    )

    @model_validator(mode="after")
    def _params_are_hyperparameters(self) -> "RecBoleConfig":
        # our top-level keys set these RecBole keys (topk / metrics come from valid_metric)
        top_level = set(RecBoleTrainConfig.model_fields) | {"topk", "metrics"}
        refused = {key: "set by the top-level key of the same name (or valid_metric), not in params"
                   for key in self.params if key in top_level}
        refused.update(check_passthrough_keys(self.model, {k: v for k, v in self.params.items() if k not in top_level}, exclude=top_level))
        if refused:
            # located errors (params.<key>) so a benchmark YAML's message names the exact key
            errors = [InitErrorDetails(type=PydanticCustomError("recbole_key", why), loc=("params", key), input=self.params[key])
                      for key, why in refused.items()]
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


ContentMode = Literal["none", "init", "fuse"]


class ContentTrainConfig(RecBoleTrainConfig):
    """Settings of the backends that can take item embeddings."""

    content: ContentMode = "none"
    # DropoutNet-style (Volkovs et al., 2017): hiding a share of the ID parts while training
    # makes the content projection score items on its own, which is all a cold item has.
    id_dropout: float = Field(
        0.0, ge=0, lt=1, description="content=fuse: share of item ID parts zeroed per training batch"
    )
    item_identity: bool = Field(
        True,
        description="content=fuse: give items seen in training an ID embedding besides their content projection; "
        "false = every item is its content projection alone (LightFM's item_identity=false), so warm and cold "
        "items are scored alike",
    )

    @model_validator(mode="after")
    def _identity_needs_fuse(self) -> "ContentTrainConfig":
        if not self.item_identity and self.content != "fuse":
            raise ValueError("item_identity=false needs content=fuse (otherwise items have no representation)")
        if self.id_dropout > 0 and self.content != "fuse":
            raise ValueError("id_dropout needs content=fuse")
        return self


class BPRRecBoleConfig(ContentTrainConfig):
    pass


class NeuMFConfig(ContentTrainConfig):
    mlp_hidden_size: list[int] = Field(default_factory=lambda: [128, 64])
    dropout_prob: float = Field(0.1, ge=0, lt=1)
    neg_samples: int = Field(1, ge=1, description="sampled negatives per positive (pointwise BCE loss)")


# Graph models: at RecBole's learning rate (0.001) validation on ml-100k loo (one item per user,
# noisy) stopped LightGCN after 27 epochs at HR@10 0.090 and SGL after 11 at 0.034 (Pop: 0.083);
# at 0.01 they reached 0.130 (best epoch 39) and 0.122 (best epoch 28): benchmarks/perf/bench_models.py.
class LightGCNConfig(ContentTrainConfig):
    learning_rate: float = Field(0.01, gt=0)
    n_layers: int = Field(2, ge=1)
    reg_weight: float = Field(1e-5, ge=0)


class SGLConfig(ContentTrainConfig):
    learning_rate: float = Field(0.01, gt=0)
    n_layers: int = Field(3, ge=1)
    reg_weight: float = Field(1e-5, ge=0)
    ssl_tau: float = Field(0.5, gt=0)
    ssl_weight: float = Field(0.05, ge=0)
    drop_ratio: float = Field(0.1, ge=0, lt=1)
    augmentation: Literal["ED", "ND", "RW"] = Field("ED", description="edge / node dropout, random walk")


# NCL / SimpleX defaults: RecBole's, except where commented. Validation curves on ml-100k loo
# (/tmp experiments, seed 0): NCL at learning rate 0.01 peaked at NDCG@10 0.0761 (epoch 42 of 53);
# SimpleX at 0.01 with 10 negatives at 0.0680 (epoch 13 of 24), at 0.001 it was still rising at
# epoch 30 (0.0695), ~8 s an epoch on a busy machine: too slow for a default.
class NCLConfig(RecBoleTrainConfig):
    """NCL (Lin et al. 2022): LightGCN + contrast with each node's structural neighbours (its own
    embedding ``2 * hyper_layers`` layers on) and its semantic prototype (k-means centroid, E-step
    every ``m_step`` epochs)."""

    # as LightGCN / SGL (its backbone): RecBole's 0.001 stops early on noisy loo validation
    learning_rate: float = Field(0.01, gt=0)
    n_layers: int = Field(3, ge=1)
    reg_weight: float = Field(1e-4, ge=0)
    ssl_temp: float = Field(0.1, gt=0, description="temperature of both contrastive losses")
    ssl_reg: float = Field(1e-7, ge=0, description="weight of the structure-contrastive loss")
    hyper_layers: int = Field(1, ge=1, description="structural neighbours are 2 * hyper_layers hops away")
    alpha: float = Field(1.0, ge=0, description="item / user balance of the structure-contrastive loss")
    proto_reg: float = Field(8e-8, ge=0, description="weight of the prototype-contrastive loss")
    # RecBole's 1000 needs 1000 users and items (faiss k-means) and ~39k of each to be well fitted;
    # ml-100k has 943 users and 1,682 items.
    num_clusters: int = Field(100, ge=1, description="k-means prototypes of users and of items; at most the number of each")
    m_step: int = Field(1, ge=1, description="epochs per k-means E-step")
    warm_up_step: int = Field(20, ge=0, description="epochs before the prototype loss is added")


class SimpleXConfig(RecBoleTrainConfig):
    """SimpleX (Mao et al. 2021): cosine contrastive loss over many sampled negatives; a user is their
    embedding mixed (``gamma``) with an aggregate of their last ``history_len`` items."""

    margin: float = Field(0.5, ge=-1, le=1, description="negatives with cosine below this margin add no loss")
    negative_weight: float = Field(10, ge=0, description="weight of the negative term against the positive one")
    gamma: float = Field(0.5, ge=0, le=1, description="share of the user's own embedding against their history")
    aggregator: Literal["mean", "user_attention", "self_attention"] = "mean"
    history_len: int = Field(50, ge=1, description="most recent training items a user's history keeps")
    reg_weight: float = Field(1e-5, ge=0)
    dropout_prob: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(0.01, gt=0)
    # The paper's point is the loss with many negatives (RecBole's global default is one); each costs
    # about as much as a positive (50 negatives: ~20 s an epoch on ml-100k, one busy thread).
    neg_samples: int = Field(10, ge=1, description="sampled negatives per positive")
    # RecBole counts a batch in rows with their negatives: 10,240 rows = 1,024 positives x 10
    train_batch_size: int = Field(10_240, ge=1, description="rows per batch, each positive once per negative (RecBole)")
