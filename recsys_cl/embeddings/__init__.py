"""Contrastive item embeddings: encoders, pair mining, losses, training, quality.

``embed(data_dir, method, out, **options)`` is the entry point (``recsys-cl embed``); the pieces
below are public for notebooks and for other learners.
"""

from recsys_cl.embeddings._composed import composed_retrieval
from recsys_cl.embeddings._embed import METHODS, EmbedOptions, embed
from recsys_cl.embeddings._encoders import (
    ImageEncoder,
    encode_image_files,
    encode_texts,
    load_sentence_transformer,
)
from recsys_cl.embeddings._io import ItemEmbeddings, read_itememb, write_itememb
from recsys_cl.embeddings._losses import nt_xent, symmetric_info_nce, triplet_loss
from recsys_cl.embeddings._mining import (
    ATTRIBUTE_TABLE,
    Triplets,
    attribute_triplets,
    copurchase_pairs,
    neighbour_pairs,
)
from recsys_cl.embeddings._quality import (
    detect_collapse,
    distance_gap,
    retrieval_metrics,
    triplet_accuracy,
)
from recsys_cl.embeddings._train import ProjectionHead, TrainConfig

__all__ = [
    "ATTRIBUTE_TABLE",
    "METHODS",
    "EmbedOptions",
    "ImageEncoder",
    "ItemEmbeddings",
    "ProjectionHead",
    "TrainConfig",
    "Triplets",
    "attribute_triplets",
    "composed_retrieval",
    "copurchase_pairs",
    "detect_collapse",
    "distance_gap",
    "embed",
    "encode_image_files",
    "encode_texts",
    "load_sentence_transformer",
    "neighbour_pairs",
    "nt_xent",
    "read_itememb",
    "retrieval_metrics",
    "symmetric_info_nce",
    "triplet_accuracy",
    "triplet_loss",
    "write_itememb",
]
