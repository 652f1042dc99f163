"""Models: one interface over every backend (see ``_base.Recommender``).

Registry names: ``random``, ``pop``, ``recent-pop``, ``itemknn``, ``rp3beta``, ``ease``, ``slim``, ``content-knn``, ``implicit-als``,
``implicit-bpr``, ``lightfm``; the fashion baselines ``repurchase``, ``decayed-pop``, ``segment-pop``,
``product-variants``, ``bought-together``; the ranker over their candidates ``two-stage`` (LightGBM LambdaRank);
through RecBole ``recbole`` (any general recommender by name), ``bpr-recbole``, ``neumf``, ``lightgcn``, ``sgl``,
``ncl``, ``simplex`` (heavy libraries are imported only when a model is
fitted); the content-aware PyTorch models ``vbpr``, ``freedom``, ``bm3``, which take one item-embedding
matrix or several as modalities (``Modalities``: ``ItemEmbeddings`` or a mapping name -> ``ItemEmbeddings``).
"""

from recsys_cl.models import recbole  # noqa: F401  (registers the RecBole backends)
from recsys_cl.models._base import (
    MODELS,
    FitOptions,
    ModelConfig,
    RecommendOptions,
    Recommender,
    TrainingHistory,
    create,
    register,
)
from recsys_cl.models._baselines import Pop, RecentPop
from recsys_cl.models._bm3 import BM3
from recsys_cl.models._content_knn import ContentKNN
from recsys_cl.models._epoch_validation import metric_at_k
from recsys_cl.models._fashion import BoughtTogether, DecayedPop, ProductVariants, Repurchase, SegmentPop
from recsys_cl.models._freedom import FREEDOM
from recsys_cl.models._implicit import ImplicitALS, ImplicitBPR
from recsys_cl.models._lightfm import LightFMRecommender
from recsys_cl.models._linear import EASE, SLIM
from recsys_cl.models._modalities import Modalities
from recsys_cl.models._neighbourhood import ItemKNN, RP3beta
from recsys_cl.models._spaces import DEFAULT_SPACES, ParamSpace, check_grid, resolve_space
from recsys_cl.models._two_stage import DEFAULT_GENERATORS, TwoStage
from recsys_cl.models._vbpr import VBPR

__all__ = [
    "BM3",
    "BoughtTogether",
    "ContentKNN",
    "DEFAULT_GENERATORS",
    "DEFAULT_SPACES",
    "DecayedPop",
    "EASE",
    "FREEDOM",
    "FitOptions",
    "ImplicitALS",
    "ImplicitBPR",
    "ItemKNN",
    "LightFMRecommender",
    "MODELS",
    "Modalities",
    "ModelConfig",
    "ParamSpace",
    "Pop",
    "ProductVariants",
    "RP3beta",
    "RecentPop",
    "RecommendOptions",
    "Recommender",
    "Repurchase",
    "SLIM",
    "SegmentPop",
    "TrainingHistory",
    "TwoStage",
    "VBPR",
    "check_grid",
    "create",
    "metric_at_k",
    "register",
    "resolve_space",
]
