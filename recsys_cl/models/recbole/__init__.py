"""RecBole backends: any RecBole general recommender by name (``recbole``), and ``bpr-recbole``,
``neumf``, ``lightgcn``, ``sgl`` with optional item content (``content: none | init | fuse``),
``ncl``, ``simplex``; the sequential ``sasrec``, ``gru4rec`` and ``core`` (item content as their item table:
``content: none | init | fuse | frozen``; protocols in time order only).

Modules by job: ``_config`` (typed configs, the pass-through allow-list), ``_data`` (our split as
RecBole's dataset and loaders, the id map), ``_content`` (content-aware item tables), ``_fast``
(faster rewrites of LightGCN / SGL / NeuMF code paths), ``_backends`` (the registered classes);
``_sequences`` (users' training sequences and windows, their loaders), ``_sequential_nets`` (SASRec /
GRU4Rec / CORE trained on windows, the frozen item table), ``_sequential`` (the sequential backends).
Every override of RecBole itself is in ``recsys_cl.compat.recbole``.
"""

from recsys_cl.models.recbole._backends import (
    UNKNOWN_SCORE,
    BPRRecBole,
    LightGCNRecBole,
    NCLRecBole,
    NeuMFRecBole,
    RecBoleBackend,
    RecBoleModel,
    SGLRecBole,
    SimpleXRecBole,
)
from recsys_cl.models.recbole._config import (
    BPRRecBoleConfig,
    ContentTrainConfig,
    LightGCNConfig,
    NCLConfig,
    NeuMFConfig,
    RecBoleConfig,
    RecBoleTrainConfig,
    SGLConfig,
    SimpleXConfig,
)
from recsys_cl.models.recbole._sequential import (
    COREBackend,
    COREConfig,
    GRU4RecBackend,
    GRU4RecConfig,
    SASRecBackend,
    SASRecConfig,
    SequentialBackend,
    SequentialConfig,
)

__all__ = [
    "UNKNOWN_SCORE",
    "COREBackend",
    "COREConfig",
    "GRU4RecBackend",
    "GRU4RecConfig",
    "SASRecBackend",
    "SASRecConfig",
    "SequentialBackend",
    "SequentialConfig",
    "BPRRecBole",
    "BPRRecBoleConfig",
    "ContentTrainConfig",
    "LightGCNConfig",
    "LightGCNRecBole",
    "NCLConfig",
    "NCLRecBole",
    "NeuMFConfig",
    "NeuMFRecBole",
    "RecBoleBackend",
    "RecBoleConfig",
    "RecBoleModel",
    "RecBoleTrainConfig",
    "SGLConfig",
    "SGLRecBole",
    "SimpleXConfig",
    "SimpleXRecBole",
]
