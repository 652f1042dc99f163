"""Models: one interface over every backend (see ``_base.Recommender``).

Registry names: ``pop``, ``recent-pop``, ``itemknn``, ``content-knn``, ``implicit-als``,
``implicit-bpr``, ``lightfm``, and through RecBole ``recbole`` (any general recommender by name),
``bpr-recbole``, ``neumf``, ``lightgcn``, ``sgl``, ``ncl``, ``simplex`` (heavy libraries are imported only when a model is fitted).
"""

from recsys_cl.models import recbole  # noqa: F401  (registers the RecBole backends)
from recsys_cl.models._base import REGISTRY, ModelConfig, Recommender, create, register
from recsys_cl.models._baselines import ItemKNN, Pop, RecentPop
from recsys_cl.models._content_knn import ContentKNN
from recsys_cl.models._implicit import ImplicitALS, ImplicitBPR
from recsys_cl.models._lightfm import LightFMRecommender

__all__ = [
    "REGISTRY",
    "ContentKNN",
    "ImplicitALS",
    "ImplicitBPR",
    "ItemKNN",
    "LightFMRecommender",
    "ModelConfig",
    "Pop",
    "RecentPop",
    "Recommender",
    "create",
    "register",
]
