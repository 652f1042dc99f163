"""recsys-cl: contrastive item embeddings vs collaborative filtering, measured on one footing."""

__version__ = "0.2.0"
