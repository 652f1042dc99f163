"""Contrastive item embeddings: encoders, pair mining, losses, training, quality."""

from recsys_cl.embeddings._io import ItemEmbeddings, read_itememb, write_itememb

__all__ = ["ItemEmbeddings", "read_itememb", "write_itememb"]
