"""Models: one interface over every backend (see ``_base.Recommender``)."""

from recsys_cl.models._base import REGISTRY, ModelConfig, Recommender, create, register

__all__ = ["REGISTRY", "ModelConfig", "Recommender", "create", "register"]
