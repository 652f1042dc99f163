"""RecBole backends: any RecBole general recommender by name, and NeuMF / LightGCN / SGL / BPR with
optional item content (``content: none | init | fuse``).

Training runs on OUR split: RecBole's ``Dataset`` is built straight from the ``EncodedSplit``
matrices (no files, no second parse; one row per purchase, so repeat purchases weigh as in the
atomic files), with RecBole's ``benchmark_filename`` mechanism keeping our train / valid / test
parts. RecBole's negative sampler and full-sort loaders are swapped for array-based ones that give
the same negatives and batches (a Python set / tensor per user does not fit H&M's 1.37M users), and
``valid_users`` validates on a seeded sample of users. Early stopping watches ``valid_metric`` on the valid part (RecBole's full-ranking
evaluation); the best weights are restored with the safe ``torch.load`` (see
``recsys_cl.compat.recbole``). Recommendations go through the shared top-K helper over all our
items with each user's training items excluded.

RecBole gives ids in order of appearance (0 = [PAD]); ``_IdMap`` converts to and from our indices.
Items with no training interaction are unknown to a pure-ID model: their embeddings never saw a
positive, so they are scored ``UNKNOWN_SCORE`` (ranked last) rather than by a random vector.

Content variants (``item_embeddings`` aligned to our item ids; items whose mask is False get no
content contribution):

* ``init`` - the ID item table(s) start from the content vectors projected to the table's width
  by PCA (numpy SVD), rescaled to the table's initial standard deviation; then training as usual.
* ``fuse`` - item representation = ID embedding + a learned linear projection of the content
  vector (for LightGCN / SGL this is the layer-0 item embedding the graph propagates). Items with
  no training interaction have no ID part (it would only ever be trained as a sampled negative):
  they are represented by their content alone, and so can be ranked. ``id_dropout`` hides a share
  of the ID parts per batch (DropoutNet) and ``item_identity=false`` drops them altogether, so that
  the content projection learns to score items on its own, which is all a cold item has.

LightGCN / SGL: an isolated node (a cold item) keeps its own layer-0 vector instead of RecBole's
layer mean ``e0 / (n_layers + 1)``, which would score it at a fraction of a warm item's scale.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from logging import getLogger
from typing import Any, ClassVar, Iterator, Literal

import numpy as np
from pydantic import Field, model_validator

from recsys_cl.data._encoded import EncodedSplit
from recsys_cl.embeddings._io import ItemEmbeddings, principal_components
from recsys_cl.errors import InputError
from recsys_cl.models._base import ModelConfig, Recommender, register

#: score of items a model cannot know (no training interaction, no usable content): ranked last.
UNKNOWN_SCORE = -1e30
#: (user, item) pairs scored per chunk by models without a full-sort predictor (e.g. DMF).
_PAIRS_PER_CHUNK = 2_000_000
#: scores per chunk for models with one (a 128 MB array): 2M pairs would be 18 users of H&M's 105k
#: items per chunk, and per-chunk overhead would dominate ranking 1.37M users.
_SCORES_PER_CHUNK = 32_000_000
_DATASET_NAME = "recsys_cl"
#: (user, item) pairs per block of NeuMF's hidden grid in ``full_sort_predict`` (see there)
_MLP_PAIRS_PER_BLOCK = 16_384


class RecBoleTrainConfig(ModelConfig):
    """Training settings shared by every RecBole backend (RecBole's names and defaults, fewer epochs)."""

    epochs: int = Field(100, ge=1)
    learning_rate: float = Field(0.001, gt=0)
    embedding_size: int = Field(64, ge=1)
    train_batch_size: int = Field(2048, ge=1)
    stopping_step: int = Field(10, ge=1, description="epochs without a better valid_metric before stopping")
    valid_metric: str = Field("NDCG@10", description="RecBole metric@k watched for early stopping")
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


class RecBoleConfig(RecBoleTrainConfig):
    """Any RecBole general recommender: ``model`` is its class name, ``params`` its own keys."""

    model: str = "BPR"
    params: dict[str, Any] = Field(default_factory=dict)


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


# -- RecBole plumbing --------------------------------------------------------------------------
@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _recbole_sandbox() -> Iterator[None]:
    """Keep RecBole from reading our command line or hiding GPUs for the whole process.

    ``Config`` parses ``sys.argv`` for ``--key=value`` overrides (the CLI's own options would
    leak in) and writes ``CUDA_VISIBLE_DEVICES`` from ``gpu_id``.
    """
    argv, cuda = sys.argv, os.environ.get("CUDA_VISIBLE_DEVICES")
    sys.argv = argv[:1]
    try:
        yield
    finally:
        sys.argv = argv
        if cuda is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = cuda


def _make_config(model: str, device: str, workdir: str, settings: dict[str, Any]) -> Any:
    from recbole.config import Config

    import recsys_cl.compat.recbole  # noqa: F401  (patches RecBole for NumPy 2 / pandas 3 / SciPy / torch)
    from recsys_cl.device import resolve_device

    use_cuda = resolve_device(device) == "cuda"
    params = {
        "data_path": workdir,
        "checkpoint_dir": workdir,
        "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "load_col": {"inter": ["user_id", "item_id"]},
        "gpu_id": "0" if use_cuda else "",
        "use_gpu": use_cuda,
        "show_progress": False,
        "state": "warning",
        "log_wandb": False,
        "reproducibility": True,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": "full"},
        **settings,
    }
    with _recbole_sandbox():
        try:
            return Config(model=model, dataset=_DATASET_NAME, config_dict=params)
        except (ValueError, KeyError, AttributeError) as exc:
            raise InputError(f"RecBole model {model!r}: {str(exc).splitlines()[0]}") from exc


def _encoded_dataset_class() -> type:
    from recbole.data.dataset import Dataset
    from recbole.utils import FeatureSource, FeatureType

    class EncodedDataset(Dataset):
        """RecBole ``Dataset`` whose interactions come from an ``EncodedSplit`` instead of files.

        Tokens are our user / item indices, as integers: RecBole remaps them exactly as it would their
        strings (same ids, in order of first appearance), without 31.8M Python strings per column at
        H&M's full size. Every user and item of our vocabularies is listed as a user / item feature,
        so all of them get a RecBole id (cold items too).
        """

        def __init__(self, config: Any, encoded: EncodedSplit) -> None:
            self._encoded = encoded
            super().__init__(config)

        def _load_data(self, token: str, dataset_path: str) -> None:
            import pandas as pd

            enc = self._encoded
            users, items, sizes = [], [], []
            for part in ("train", "valid", "test"):
                m = enc.part(part).tocoo()
                # one row per purchase, as in the atomic files (counts are whole numbers)
                repeat = np.rint(m.data).astype(np.int64)
                users.append(np.repeat(m.row.astype(np.int64), repeat))
                items.append(np.repeat(m.col.astype(np.int64), repeat))
                sizes.append(int(repeat.sum()))
            self.inter_feat = pd.DataFrame({self.uid_field: np.concatenate(users), self.iid_field: np.concatenate(items)})
            self.file_size_list = sizes
            self.user_feat = pd.DataFrame({self.uid_field: np.arange(enc.n_users)})
            self.item_feat = pd.DataFrame({self.iid_field: np.arange(enc.n_items)})
            for field, source in ((self.uid_field, FeatureSource.USER_ID), (self.iid_field, FeatureSource.ITEM_ID)):
                self.field2type[field] = FeatureType.TOKEN
                self.field2source[field] = source
                self.field2seqlen[field] = 1

    return EncodedDataset


class _UsedPairs:
    """The (user, item) pairs a sampler phase treats as used, as sorted int64 keys ``user * n_items + item``.

    RecBole's ``Sampler`` keeps a Python set per user per phase (three copies of every H&M purchase as
    set entries: gigabytes and a minute of Python at full size); one sorted key array with the phase
    in which each pair first appears answers the same membership questions with ``searchsorted``.
    """

    def __init__(self, keys: np.ndarray, first_phase: np.ndarray, phase: int, n_items: int) -> None:
        self.keys, self.first_phase, self.phase, self.n_items = keys, first_phase, phase, n_items

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        query = users.astype(np.int64) * self.n_items + items
        pos = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        return (self.keys[pos] == query) & (self.first_phase[pos] <= self.phase)

    def items_of(self, user: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.keys, [user * self.n_items, (user + 1) * self.n_items])
        keep = self.first_phase[lo:hi] <= self.phase
        return self.keys[lo:hi][keep] % self.n_items

    def __getitem__(self, user: int) -> set:
        """RecBole's view (a set of item ids), for any code path that asks for one user."""
        return set(self.items_of(int(user)).tolist())

    def matrix(self, n_users: int) -> Any:
        import scipy.sparse as sp

        keys = self.keys[self.first_phase <= self.phase]
        rows, cols = np.divmod(keys, self.n_items)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_users))])
        return sp.csr_matrix((np.ones(len(keys), dtype=np.bool_), cols.astype(np.int32), indptr), shape=(n_users, self.n_items))


def _loader_classes() -> tuple[type, type]:
    """RecBole's ``Sampler`` and ``FullSortEvalDataLoader`` with array-based internals (same results)."""
    import torch
    from recbole.data.dataloader import FullSortEvalDataLoader
    from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
    from recbole.data.interaction import Interaction
    from recbole.sampler import Sampler
    from recbole.utils import ModelType

    class PairSampler(Sampler):
        """``Sampler`` whose used ids are :class:`_UsedPairs`; negatives are drawn exactly as RecBole
        draws them (same calls to NumPy's generator, same rejections), only the membership test differs."""

        def get_used_ids(self) -> dict[str, _UsedPairs]:
            n = self.item_num
            keys = np.concatenate(
                [d.inter_feat[self.uid_field].numpy().astype(np.int64) * n + d.inter_feat[self.iid_field].numpy() for d in self.datasets]
            )
            phase = np.concatenate([np.full(len(d.inter_feat), p, dtype=np.uint8) for p, d in enumerate(self.datasets)])
            order = np.argsort(keys, kind="stable")  # stable: a pair's first row is from its earliest phase
            keys, phase = keys[order], phase[order]
            first = np.ones(len(keys), dtype=bool)
            first[1:] = keys[1:] != keys[:-1]
            keys, phase = keys[first], phase[first]
            if (np.bincount(keys // n, minlength=self.user_num) + 1 == n).any():  # [pad] is an item
                raise ValueError(
                    "Some users have interacted with all items, which we can not sample negative items for them. "
                    "Please set `user_inter_num_interval` to filter those users."
                )
            return {name: _UsedPairs(keys, phase, p, n) for p, name in enumerate(self.phases)}

        def sample_by_key_ids(self, key_ids: Any, num: int) -> Any:
            key_ids = np.array(key_ids)
            total_num = len(key_ids) * num
            if (key_ids == key_ids[0]).all():
                used = self.used_ids.items_of(int(key_ids[0]))
                value_ids = self.sampling(total_num)
                check_list = np.arange(total_num)[np.isin(value_ids, used)]
                while len(check_list) > 0:
                    value_ids[check_list] = value = self.sampling(len(check_list))
                    check_list = check_list[np.isin(value, used)]
            else:
                value_ids = np.zeros(total_num, dtype=np.int64)
                check_list = np.arange(total_num)
                key_ids = np.tile(key_ids, num)
                while len(check_list) > 0:
                    value_ids[check_list] = self.sampling(len(check_list))
                    check_list = check_list[self.used_ids.contains(key_ids[check_list], value_ids[check_list])]
            return torch.tensor(value_ids, dtype=torch.long)

    class FullSortLoader(FullSortEvalDataLoader):
        """``FullSortEvalDataLoader`` with each user's positive and history items as CSR rows, not a
        tensor per user built in a Python loop; batches carry the same (row, item) index pairs.

        ``recsys_cl_valid_users`` in the config limits validation to a seeded sample of that many users:
        a full-sort validation over H&M's 1.37M users costs as much as ranking all of them, every epoch.
        """

        def __init__(self, config: Any, dataset: Any, sampler: Any, shuffle: bool = False) -> None:
            if config["MODEL_TYPE"] == ModelType.SEQUENTIAL or not isinstance(getattr(sampler, "used_ids", None), _UsedPairs):
                super().__init__(config, dataset, sampler, shuffle=shuffle)
                return
            import scipy.sparse as sp

            self.logger = getLogger()
            self.uid_field, self.iid_field = dataset.uid_field, dataset.iid_field
            self.is_sequential = False
            n_users, n_items = dataset.user_num, dataset.item_num
            users = dataset.inter_feat[self.uid_field].numpy()
            items = dataset.inter_feat[self.iid_field].numpy()
            positive = sp.csr_matrix((np.ones(len(users), dtype=np.bool_), (users, items)), shape=(n_users, n_items))
            positive.sum_duplicates()
            used = sampler.used_ids.matrix(n_users)
            self._positive = positive
            self._history = (used > positive).tocsr()  # used items that are not positives of this part
            self.uid2items_num = np.diff(positive.indptr).astype(np.int64)
            eval_users = np.flatnonzero(self.uid2items_num)
            sample = config["recsys_cl_valid_users"] if sampler.phase == "valid" else None
            if sample is not None and len(eval_users) > sample:
                rng = np.random.default_rng(config["seed"])
                eval_users = np.sort(rng.choice(eval_users, size=sample, replace=False))
            self.uid_list = torch.as_tensor(eval_users, dtype=torch.int64)
            self.user_df = dataset.join(Interaction({self.uid_field: self.uid_list}))
            self.sample_size = len(self.user_df)
            AbstractDataLoader.__init__(self, config, dataset, sampler, shuffle=False)

        def collate_fn(self, index: Any) -> Any:
            if not hasattr(self, "_positive"):
                return super().collate_fn(index)
            user_df = self.user_df[np.array(index)]
            uids = user_df[self.uid_field].numpy()
            history, positive = self._history[uids].tocoo(), self._positive[uids].tocoo()

            def pair(m: Any) -> tuple[Any, Any]:
                return torch.from_numpy(m.row.astype(np.int64)), torch.from_numpy(m.col.astype(np.int64))

            positive_u, positive_i = pair(positive)
            return user_df, pair(history), positive_u, positive_i

    return PairSampler, FullSortLoader


def _data_loaders(config: Any, dataset: Any) -> tuple[Any, Any, Any]:
    """RecBole's ``data_preparation`` with :func:`_loader_classes` in place of its sampler and full-sort loader."""
    from unittest import mock

    from recbole.data import data_preparation
    from recbole.data import utils as data_utils

    sampler, loader = _loader_classes()
    with mock.patch.object(data_utils, "Sampler", sampler), mock.patch.object(data_utils, "FullSortEvalDataLoader", loader):
        return data_preparation(config, dataset)


class _IdMap:
    """RecBole ids <-> our indices (RecBole id 0 is [PAD])."""

    def __init__(self, dataset: Any, encoded: EncodedSplit) -> None:
        uid, iid = dataset.uid_field, dataset.iid_field
        self.ours_of_rb_item = dataset.field2id_token[iid][1:].astype(np.int64)  # RecBole id r+1 -> our item
        self.rb_of_our_user = np.zeros(encoded.n_users, dtype=np.int64)
        self.rb_of_our_user[dataset.field2id_token[uid][1:].astype(np.int64)] = np.arange(1, dataset.user_num)
        if len(self.ours_of_rb_item) != encoded.n_items or dataset.user_num - 1 != encoded.n_users:
            raise AssertionError("RecBole vocabulary differs from the encoded split's")

    def rb_rows(self, matrix: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Rows of ``matrix`` (our item order) in RecBole id order, with a ``fill`` row for [PAD]."""
        out = np.full((len(self.ours_of_rb_item) + 1, *matrix.shape[1:]), fill, dtype=matrix.dtype)
        out[1:] = matrix[self.ours_of_rb_item]
        return out


# -- content-aware item tables -----------------------------------------------------------------
def _content_module_class() -> type:
    import torch
    from torch import nn

    class FusedItemEmbedding(nn.Module):
        """Drop-in for an item ``nn.Embedding``: ``weight`` and ``__call__(ids)`` return
        ID embedding + ``projection(content)`` (zero for items without a vector).

        RecBole's models read their item table both ways (``self.item_embedding.weight`` in
        LightGCN / SGL / BPR full ranking, ``self.item_embedding(ids)`` in losses), so swapping
        the module fuses content everywhere without copying their forward passes.
        """

        def __init__(self, id_table: nn.Embedding, content: np.ndarray, mask: np.ndarray, trained: np.ndarray,
                     id_dropout: float = 0.0) -> None:
            super().__init__()
            self.id_dropout = id_dropout
            self.id_weight = nn.Parameter(id_table.weight.detach().clone())
            # Items with no training interaction are represented by their content alone: their ID
            # rows would only ever be trained as sampled negatives, which teaches "never buy this".
            self.register_buffer("has_id", torch.as_tensor(trained, dtype=torch.float32)[:, None], persistent=False)
            self.projection = nn.Linear(content.shape[1], id_table.weight.shape[1], bias=False)
            # content is data, not a parameter: non-persistent keeps it out of every checkpoint
            self.register_buffer("content", torch.as_tensor(content, dtype=torch.float32), persistent=False)
            self.register_buffer("has_content", torch.as_tensor(mask, dtype=torch.float32)[:, None], persistent=False)

        def _has_id(self, rows: torch.Tensor | slice) -> torch.Tensor:
            has_id = self.has_id[rows]
            if self.training and self.id_dropout > 0:
                has_id = has_id * (torch.rand_like(has_id) >= self.id_dropout)
            return has_id

        @property
        def weight(self) -> torch.Tensor:
            return self.id_weight * self._has_id(slice(None)) + self.projection(self.content) * self.has_content

        @property
        def embedding_dim(self) -> int:
            return self.id_weight.shape[1]

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            # Project each distinct item once: a full-sort batch of a pairwise scorer (NeuMF) names
            # every item once per user, and the projection is the costly part.
            distinct, position = torch.unique(ids, return_inverse=True)
            rows = self.id_weight[distinct] * self._has_id(distinct) + self.projection(self.content[distinct]) * self.has_content[distinct]
            return rows[position]

    return FusedItemEmbedding


def _apply_content(net: Any, tables: list[str], mode: str, content: np.ndarray, mask: np.ndarray, trained: np.ndarray,
                   id_dropout: float = 0.0) -> None:
    """``init``: overwrite the rows with content of each item table; ``fuse``: swap in the fused module.

    ``content``/``mask``/``trained`` are in RecBole id order (row 0 = [PAD], mask False).
    """
    import torch

    if mode == "none":
        return
    if mode == "fuse":
        fused = _content_module_class()
        for name in tables:
            setattr(net, name, fused(getattr(net, name), content, mask, trained, id_dropout))
        return
    for name in tables:
        table = getattr(net, name)
        with torch.no_grad():
            width = table.weight.shape[1]
            projected = principal_components(content, mask, width)
            scale = float(table.weight[1:].std()) / max(float(projected[mask].std()), 1e-12)
            rows = torch.as_tensor(np.flatnonzero(mask))
            table.weight[rows] = torch.as_tensor(projected[mask] * scale, dtype=table.weight.dtype)


# -- graph propagation -------------------------------------------------------------------------
def _sparse_graph_ops() -> Any:
    """``propagate(graph, ego, layers)``: LightGCN / SGL's layer averaging with a faster sparse product.

    RecBole multiplies by its normalised adjacency with ``torch.sparse.mm`` on a COO tensor, whose
    backward transposes and re-sorts the matrix on every call; on one CPU thread that backward was
    half of SGL's fit (py-spy). Here each graph is converted once to CSR and the backward multiplies
    by the transposed CSR (the same matrix when the graph is symmetric, as RecBole's
    ``D^-1/2 (A + A^T) D^-1/2`` graphs are): 3 layers forward + backward on ml-100k, 64 dims,
    95 ms -> 16 ms. The values are the same sums in another order (float rounding only).
    """
    import torch

    class _CSRProduct(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor, matrix: torch.Tensor, transposed: torch.Tensor) -> torch.Tensor:
            ctx.transposed = transposed
            return matrix @ x

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
            return ctx.transposed @ grad, None, None

    def csr_pair(graph: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # kept on the graph tensor itself: SGL draws new augmented graphs every epoch, and the old
        # conversions go with them
        pair = getattr(graph, "_recsys_cl_csr", None)
        if pair is None:
            coo = graph.coalesce()
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is not
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                matrix = coo.to_sparse_csr()
                flipped = coo.t().coalesce()
                symmetric = torch.equal(flipped.indices(), coo.indices()) and torch.equal(flipped.values(), coo.values())
                pair = (matrix, matrix if symmetric else flipped.to_sparse_csr())
            graph._recsys_cl_csr = pair
        return pair

    def propagate(graphs: list[torch.Tensor], ego: torch.Tensor) -> torch.Tensor:
        layers, x = [ego], ego
        for graph in graphs:
            matrix, transposed = csr_pair(graph)
            x = _CSRProduct.apply(x, matrix, transposed)
            layers.append(x)
        return torch.stack(layers, dim=1).mean(dim=1)

    return propagate


def _graph_model_class(base: type) -> type:
    """RecBole's LightGCN or SGL with the forward pass on :func:`_sparse_graph_ops` (same model, same loss)."""
    import torch

    propagate = _sparse_graph_ops()

    class FastGraph(base):  # type: ignore[misc, valid-type]
        def _split(self, graphs: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
            ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
            out = propagate(graphs, ego)
            # A node without a training edge (a cold item) gets zeros from every layer, so the layer
            # mean would shrink it to ego / (n_layers + 1): a fused cold item would be scored at a
            # third of its content's weight against warm items. Its own embedding is all it has.
            isolated = self._isolated()
            if isolated.any():
                out = torch.where(isolated[:, None], ego, out)
            return tuple(torch.split(out, [self.n_users, self.n_items]))

        def _isolated(self) -> torch.Tensor:
            if getattr(self, "_isolated_nodes", None) is None:
                main = self.train_graph if base.__name__ == "SGL" else self.norm_adj_matrix
                rows = main.coalesce().indices()[0]
                self._isolated_nodes = torch.bincount(rows, minlength=main.shape[0]) == 0
            return self._isolated_nodes

        if base.__name__ == "SGL":

            def forward(self, graph: Any) -> tuple[torch.Tensor, torch.Tensor]:
                return self._split(list(graph) if isinstance(graph, list) else [graph] * self.n_layers)

            def calc_ssl_loss(self, user_list: torch.Tensor, pos_item_list: torch.Tensor, user_sub1: torch.Tensor,
                              user_sub2: torch.Tensor, item_sub1: torch.Tensor, item_sub2: torch.Tensor) -> torch.Tensor:
                """RecBole's SGL InfoNCE, computed once per distinct user / item of the batch.

                RecBole scores every batch row against all users and all items, so a user with five
                purchases in the batch is scored five times (about half of SGL's fit time); each term
                is a function of the node alone, so computing it per distinct node and counting it as
                often as the node appears gives the same loss and gradients, as a log-sum-exp.
                """

                def info_nce(rows: torch.Tensor, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
                    distinct, inverse = torch.unique(rows, return_inverse=True)
                    anchor = torch.nn.functional.normalize(view1[distinct], dim=1)
                    every = torch.nn.functional.normalize(view2, dim=1)
                    positive = (anchor * every[distinct]).sum(dim=1) / self.ssl_tau
                    per_node = torch.logsumexp(anchor @ every.T / self.ssl_tau, dim=1) - positive
                    return per_node[inverse].sum()

                ssl = info_nce(pos_item_list, item_sub1, item_sub2) + info_nce(user_list, user_sub1, user_sub2)
                return ssl * self.ssl_weight

        else:

            def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
                return self._split([self.norm_adj_matrix] * self.n_layers)

    FastGraph.__name__ = FastGraph.__qualname__ = base.__name__
    return FastGraph


# -- the backends ------------------------------------------------------------------------------
class _RecBoleBackend(Recommender):
    """Shared fit / score for every RecBole model."""

    Config = RecBoleConfig
    #: RecBole class name (the named backends) and the item tables their content goes into
    recbole_model: ClassVar[str] = ""
    item_tables: ClassVar[list[str]] = ["item_embedding"]

    # subclasses: the model name and the RecBole config keys
    def _model_name(self) -> str:
        return self.recbole_model

    def _settings(self) -> dict[str, Any]:
        c = self.config
        return {
            "seed": c.seed,
            "epochs": c.epochs,
            "learning_rate": c.learning_rate,
            "embedding_size": c.embedding_size,
            "train_batch_size": c.train_batch_size,
            "stopping_step": c.stopping_step,
            "valid_metric": c.valid_metric,
            "eval_batch_size": c.eval_batch_size,
            "topk": [_metric_k(c.valid_metric)],
            "metrics": [_metric_name(c.valid_metric)],
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

    @property
    def _content(self) -> str:
        return getattr(self.config, "content", "none")

    def _fit(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None) -> None:
        with _torch_threads(self.config.num_threads):
            self._fit_recbole(split, item_embeddings)

    def _fit_recbole(self, split: EncodedSplit, item_embeddings: ItemEmbeddings | None) -> None:
        if self._content != "none" and item_embeddings is None:
            raise InputError(f"{self.registry_name}: content={self._content!r} needs item embeddings")
        if self._content == "none" and item_embeddings is not None:
            raise InputError(f"{self.registry_name}: content is 'none'; set content to init or fuse to use item embeddings")
        from recbole.utils import init_seed

        model_class = self._model_class()  # an unknown name fails here, before RecBole's Config
        trained_ours = np.diff(split.train.tocsc().indptr) > 0
        self._workdir = tempfile.TemporaryDirectory(prefix="recsys_cl_recbole_")
        config = _make_config(self._model_name(), self.config.device, self._workdir.name, self._settings())
        init_seed(config["seed"], config["reproducibility"])
        dataset = _encoded_dataset_class()(config, split)
        train_data, valid_data, test_data = _data_loaders(config, dataset)
        ids = _IdMap(dataset, split)
        trained = ids.rb_rows(trained_ours, fill=False)
        identity = trained if getattr(self.config, "item_identity", True) else np.zeros_like(trained)

        init_seed(config["seed"], config["reproducibility"])
        net = model_class(config, train_data._dataset)
        if self._content != "none":
            assert item_embeddings is not None
            matrix, mask = item_embeddings.aligned(split.item_ids)
            _apply_content(net, self.item_tables, self._content, ids.rb_rows(matrix), ids.rb_rows(mask, fill=False), identity,
                           getattr(self.config, "id_dropout", 0.0))
        net = net.to(config["device"])

        trainer = _make_trainer(config, net, self.progress)
        has_valid = split.valid.nnz > 0
        # RecBole's full-ranking validation needs a valid part; without one, train all epochs.
        trainer.fit(train_data, valid_data if has_valid else None, saved=True, show_progress=False)
        from recsys_cl.compat.recbole import load_best_model

        load_best_model(trainer)
        net.eval()
        self.best_epoch = trainer.best_epoch
        self.best_valid_score = float(trainer.best_valid_score) if has_valid else None
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
        self._workdir.cleanup()

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
        with _torch_threads(self.config.num_threads):
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
        return _SCORES_PER_CHUNK if full_sort else _PAIRS_PER_CHUNK

    def _recommend(self, user_idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from recsys_cl.evaluation._topk import topk_from_scorer

        assert self.encoded is not None
        n_items = self.encoded.n_items

        chunk = max(1, self._scores_per_chunk() // max(n_items, 1))
        with _torch_threads(self.config.num_threads):
            return topk_from_scorer(
                self._score, n_items, k, user_idx, exclude=self.seen_items(), device="cpu", chunk_size=chunk, progress=self.progress
            )


def _metric_name(metric: str) -> str:
    name, _, k = metric.partition("@")
    if not k.isdigit() or not name:
        raise InputError(f"valid_metric must look like NDCG@10 (got {metric!r})")
    return name


def _metric_k(metric: str) -> int:
    _metric_name(metric)
    return int(metric.partition("@")[2])


def _make_trainer(config: Any, net: Any, progress: Any) -> Any:
    """RecBole's trainer for the model, reporting epochs to ``progress`` and with no TensorBoard files."""
    from unittest import mock

    from recbole.trainer import trainer as trainer_module
    from recbole.utils import get_trainer

    base = get_trainer(config["MODEL_TYPE"], config["model"])
    epochs = config["epochs"]

    class ProgressTrainer(base):  # type: ignore[misc, valid-type]
        best_epoch: int | None = None

        def _save_checkpoint(self, epoch: int, *args: Any, **kwargs: Any) -> None:
            # RecBole saves exactly when the valid metric improves (or every epoch without valid data)
            self.best_epoch = epoch
            super()._save_checkpoint(epoch, *args, **kwargs)

        def _train_epoch(self, train_data: Any, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
            with warnings.catch_warnings():
                # RecBole 1.2.1 builds torch.cuda.amp.GradScaler each epoch: a deprecation only RecBole can fix
                warnings.filterwarnings("ignore", message=r"`torch\.cuda\.amp\.GradScaler", category=FutureWarning)
                loss = super()._train_epoch(train_data, epoch_idx, *args, **kwargs)
            if progress is not None:
                progress(epoch_idx + 1, epochs)
            return loss

    # RecBole's Trainer opens a TensorBoard writer under ./log_tensorboard: a library must not
    # write into the caller's working directory, and nothing reads those files here.
    with mock.patch.object(trainer_module, "get_tensorboard", lambda logger: mock.MagicMock()):
        return ProgressTrainer(config, net)


@register("recbole")
class RecBoleModel(_RecBoleBackend):
    """Any RecBole general recommender by class name (``model``), with its own keys in ``params``."""

    Config = RecBoleConfig

    def _model_name(self) -> str:
        return self.config.model

    def _settings(self) -> dict[str, Any]:
        settings = super()._settings()
        clash = sorted(set(self.config.params) & (set(settings) | {"data_path", "checkpoint_dir", "benchmark_filename"}))
        if clash:
            raise InputError(f"recbole: params may not set {', '.join(clash)} (use the top-level keys)")
        return {**settings, **self.config.params}


@register("bpr-recbole")
class BPRRecBole(_RecBoleBackend):
    """BPR-MF (Rendle et al. 2009) from RecBole, optionally with item content."""

    Config = BPRRecBoleConfig
    recbole_model = "BPR"
    uses_item_embeddings = True


def _neumf_class() -> type:
    import torch
    from recbole.model.general_recommender import NeuMF
    from torch import nn

    class NeuMFFullSort(NeuMF):
        """RecBole's NeuMF with a ``full_sort_predict``: the same scores as ``predict`` over every pair.

        The MLP's first layer acts on ``[user; item]``, so it splits into ``W_u u + W_i i + b``: each
        user and each item is multiplied once, and the (users x items) grid only sees an addition
        before the remaining layers; the GMF part is one matrix product. RecBole otherwise repeats
        every user once per item and runs the whole MLP on each pair: that validation was most of
        NeuMF's fit time on ml-100k (py-spy: 44% of an 8-epoch fit, plus 27% for ranking).
        """

        def full_sort_predict(self, interaction: Any) -> torch.Tensor:
            modules = list(self.mlp_layers.mlp_layers) if self.mlp_train else []
            first = next((i for i, m in enumerate(modules) if isinstance(m, nn.Linear)), None)
            if any(isinstance(m, nn.BatchNorm1d) for m in modules) or (self.mlp_train and first is None):
                raise NotImplementedError  # RecBole's trainer then scores pair by pair
            users = interaction[self.USER_ID]
            weight, bias = self.predict_layer.weight[0], self.predict_layer.bias
            d_mf = self.item_mf_embedding.embedding_dim if self.mf_train else 0
            scores = bias.expand(len(users), 1)
            if self.mf_train:
                scores = scores + (self.user_mf_embedding(users) * weight[:d_mf]) @ self.item_mf_embedding.weight.T
            if self.mlp_train:
                linear = modules[first]
                d = self.user_mlp_embedding.embedding_dim
                # dropout before the first linear layer is the identity in eval mode, as in predict()
                user_part = self.user_mlp_embedding(users) @ linear.weight[:, :d].T + linear.bias
                item_part = self.item_mlp_embedding.weight @ linear.weight[:, d:].T
                # The (users x items x hidden) grid is built a few users at a time and rectified in
                # place: at about 16k pairs (8 MB) it stays in cache; one 118-user block of ml-100k
                # (100 MB) took 2-4x longer per pair (single thread, /tmp micro-benchmark).
                block = max(1, _MLP_PAIRS_PER_BLOCK // max(len(item_part), 1))
                mlp_scores = []
                for start in range(0, len(users), block):
                    hidden = user_part[start : start + block, None, :] + item_part[None, :, :]
                    for module in modules[first + 1 :]:
                        if isinstance(module, nn.ReLU):
                            hidden = hidden.relu_()
                        elif not (isinstance(module, nn.Dropout) and not self.training):
                            hidden = module(hidden)
                    mlp_scores.append(hidden @ weight[d_mf:])
                scores = scores + torch.cat(mlp_scores)
            return self.sigmoid(scores).reshape(-1)

    return NeuMFFullSort


@register("neumf")
class NeuMFRecBole(_RecBoleBackend):
    """NeuMF / NCF (He et al. 2017): GMF + MLP towers, pointwise loss with sampled negatives."""

    Config = NeuMFConfig
    recbole_model = "NeuMF"
    item_tables = ["item_mf_embedding", "item_mlp_embedding"]
    uses_item_embeddings = True

    def _model_class(self) -> type:
        return _neumf_class()

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
class LightGCNRecBole(_RecBoleBackend):
    """LightGCN (He et al. 2020); content enters at the layer-0 item embeddings."""

    Config = LightGCNConfig
    recbole_model = "LightGCN"
    uses_item_embeddings = True

    def _model_class(self) -> type:
        return _graph_model_class(super()._model_class())

    def _settings(self) -> dict[str, Any]:
        c = self.config
        return {**super()._settings(), "n_layers": c.n_layers, "reg_weight": c.reg_weight}


@register("sgl")
class SGLRecBole(_RecBoleBackend):
    """SGL (Wu et al. 2021): LightGCN with a self-supervised graph-augmentation loss."""

    Config = SGLConfig
    recbole_model = "SGL"
    uses_item_embeddings = True

    def _model_class(self) -> type:
        return _graph_model_class(super()._model_class())

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
