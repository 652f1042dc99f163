"""Contrastive item embeddings: encoders, pair mining, losses, training, quality.

``learn(method, items, interactions)`` works in memory (a notebook's entry); ``embed(data_dir, method,
out)`` runs it on a prepared dataset folder and writes the files (``recsys-cl embed``). Learners are
made by name from ``LEARNERS`` (``create``), each with its typed options; quality comes back as an
:class:`EmbeddingQuality` record (``EmbeddingQuality.read`` reads a written one). Vectors computed
elsewhere enter as the ``precomputed`` method (``read_item_vectors`` reads and checks them).
"""

from recsys_cl.embeddings._composed import composed_options, composed_retrieval, learn_composed
from recsys_cl.embeddings._embed import embed, learn
from recsys_cl.embeddings._encoders import (
    ImageEncoder,
    encode_image_files,
    encode_texts,
    load_sentence_transformer,
)
from recsys_cl.embeddings._io import ItemEmbeddings, principal_components, read_itememb, write_itememb
from recsys_cl.embeddings._learners import (
    LEARNERS,
    METHODS,
    Learned,
    Learner,
    LearnerInputs,
    create,
    input_fingerprint,
    register,
)
from recsys_cl.embeddings._losses import nt_xent, symmetric_info_nce, triplet_loss
from recsys_cl.embeddings._mining import (
    ATTRIBUTE_TABLE,
    Triplets,
    attribute_triplets,
    copurchase_pairs,
    neighbour_pairs,
)
from recsys_cl.embeddings._options import EmbedOptions, SimCLROptions, TextNCEOptions
from recsys_cl.embeddings._precomputed import Alignment, PrecomputedOptions, align_item_vectors, read_item_vectors
from recsys_cl.embeddings._quality import (
    detect_collapse,
    distance_gap,
    retrieval_metrics,
    triplet_accuracy,
)
from recsys_cl.embeddings._records import (
    COMPOSED_METHODS,
    Collapse,
    ComposedResult,
    DistanceGap,
    EmbeddingQuality,
    EpochLoss,
    HeldoutSets,
    RETRIEVAL_TASKS,
    SpaceQuality,
    TrainingSummary,
    VectorFiles,
)
from recsys_cl.embeddings._train import ProjectionHead, TrainConfig

__all__ = [
    "ATTRIBUTE_TABLE",
    "Alignment",
    "COMPOSED_METHODS",
    "Collapse",
    "ComposedResult",
    "DistanceGap",
    "EmbedOptions",
    "EmbeddingQuality",
    "EpochLoss",
    "HeldoutSets",
    "ImageEncoder",
    "ItemEmbeddings",
    "LEARNERS",
    "Learned",
    "Learner",
    "LearnerInputs",
    "METHODS",
    "PrecomputedOptions",
    "ProjectionHead",
    "RETRIEVAL_TASKS",
    "SimCLROptions",
    "SpaceQuality",
    "TextNCEOptions",
    "TrainConfig",
    "TrainingSummary",
    "VectorFiles",
    "Triplets",
    "align_item_vectors",
    "attribute_triplets",
    "composed_options",
    "composed_retrieval",
    "copurchase_pairs",
    "create",
    "detect_collapse",
    "distance_gap",
    "embed",
    "encode_image_files",
    "encode_texts",
    "input_fingerprint",
    "learn",
    "learn_composed",
    "load_sentence_transformer",
    "neighbour_pairs",
    "nt_xent",
    "principal_components",
    "read_item_vectors",
    "read_itememb",
    "register",
    "retrieval_metrics",
    "symmetric_info_nce",
    "triplet_accuracy",
    "triplet_loss",
    "write_itememb",
]
