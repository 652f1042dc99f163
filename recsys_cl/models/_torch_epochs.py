"""Shared training loop of the PyTorch models written here (VBPR, FREEDOM, BM3), and their graph pieces.

:class:`TorchEpochModel` owns what every such model does the same way: align the item modalities
(:mod:`._modalities`), seed torch and NumPy from ``seed``, train epoch by epoch with Adam, validate after
each epoch on the split's valid part with our metric functions (``valid_metric``, e.g. ``ndcg@10``, on
every valid user or a seeded sample of ``valid_users``), report each validated epoch through
:meth:`Recommender.report_epoch` (so tuning can prune), stop after ``stopping_step`` epochs without a better
score, and keep the best epoch's weights. A model then ranks as a factor model: ``user_factors @
item_factors.T + item_bias`` through the shared top-K (training items excluded).

Items with neither a training interaction nor a vector in any modality cannot be known to any of these
models: they are scored ``UNKNOWN_SCORE`` (ranked last), as in the RecBole backends.
"""

from __future__ import annotations

import abc
import copy
import math
import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field, field_validator

from recsys_cl.data import EncodedSplit
from recsys_cl.device import resolve_device
from recsys_cl.errors import InputError
from recsys_cl.evaluation import topk_from_factors
from recsys_cl.evaluation import compute_metrics, hit_matrix, parse_metrics
from recsys_cl.device import torch_threads
from recsys_cl.models._base import UNKNOWN_SCORE, FitOptions, ModelConfig, RecommendOptions, Recommender
from recsys_cl.models._modalities import ItemModality, Modalities, aligned_modalities


class EpochTrainConfig(ModelConfig):
    """Training settings every model of this module shares (conventional names)."""

    embedding_size: int = Field(64, ge=1, description="width of the user and item ID embeddings")
    epochs: int = Field(200, ge=1, description="most epochs to train (early stopping may end sooner)")
    learning_rate: float = Field(0.001, gt=0, description="Adam's learning rate")
    train_batch_size: int = Field(2048, ge=1, description="training rows (purchases) per step")
    stopping_step: int = Field(10, ge=1, description="epochs without a better valid_metric before stopping")
    valid_metric: str = Field("ndcg@10", description="metric@k on the valid part that picks the best epoch")
    valid_users: int | None = Field(
        None, ge=1, description="validate on a seeded sample of this many users; None = every user with a valid item"
    )
    # One thread by default, as for the RecBole backends: on cores shared with other work every small
    # torch op otherwise waits for a descheduled worker thread.
    num_threads: int = Field(1, ge=0, description="torch CPU threads while fitting / ranking; 0 = torch's default")

    @field_validator("valid_metric")
    @classmethod
    def _metric_at_k(cls, value: str) -> str:
        parse_valid_metric(value)
        return value


def parse_valid_metric(value: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)`` (names as the evaluator's, case-insensitive)."""
    name, _, k = value.partition("@")
    if not k.isdigit() or int(k) < 1:
        raise InputError(f"valid_metric must look like ndcg@10 (got {value!r})")
    return parse_metrics([name])[0], int(k)


class TorchEpochModel(Recommender):
    """Base of the epoch-trained PyTorch models: subclasses build ``self.net`` and say how one epoch
    trains and what the ranking factors are."""

    Config = EpochTrainConfig
    training_length_param = "epochs"  # early stopping on the valid part keeps history.best_epoch
    uses_item_embeddings = True
    #: ``fit`` takes several item-embedding matrices as modalities (a mapping name -> ItemEmbeddings),
    #: not only one; models without this flag take a single ItemEmbeddings
    takes_modalities: ClassVar[bool] = True
    #: completes the warning about items without a vector in a modality: "they ..."
    missing_effect: ClassVar[str] = "have no content in that modality"

    @classmethod
    def validation_params(cls, metric: str) -> dict[str, Any]:
        return {"valid_metric": metric}

    # -- what subclasses implement ---------------------------------------------------------------
    @abc.abstractmethod
    def _build(self, split: EncodedSplit, modalities: list[ItemModality], rng: np.random.Generator) -> Any:
        """Return the torch module to train (its parameters go to Adam)."""

    @abc.abstractmethod
    def _batch_loss(self, users: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """The loss of one batch of training rows (user, bought item), to be minimised."""

    def _start_epoch(self, rng: np.random.Generator) -> None:
        """Called before each epoch's batches (e.g. to draw a pruned graph)."""

    @abc.abstractmethod
    def _factors(self) -> tuple[Any, Any, Any | None]:
        """``(user_factors (n_users, f), item_factors (n_items, f), item_bias (n_items,) or None)`` of the
        current parameters, as torch tensors computed without gradients."""

    # -- the shared loop ---------------------------------------------------------------------------
    def _fit(self, split: EncodedSplit, item_embeddings: Modalities | None, options: FitOptions) -> None:
        modalities = aligned_modalities(split.item_ids, item_embeddings, self.registry_name, self.missing_effect)
        if split.train.nnz == 0:
            raise InputError(f"{self.registry_name}: the split's train part has no interaction to learn from")
        #: per modality: vector width, items of the split, items without a vector (kept for run records)
        self.modality_coverage = {m.name: m.coverage() for m in modalities}
        self.trained_items = np.diff(split.train.tocsc().indptr) > 0
        has_content = np.logical_or.reduce([m.mask for m in modalities])
        self.unknown_items = ~(self.trained_items | has_content)
        c = self.config
        metric, k = parse_valid_metric(c.valid_metric)
        self.device = torch.device(resolve_device(c.device))
        with torch_threads(c.num_threads):
            torch.manual_seed(c.seed)
            rng = np.random.default_rng(c.seed)
            #: training rows, one per purchase: (users, items)
            self.rows = purchase_rows(split.train)
            self.net = self._build(split, modalities, rng).to(self.device)
            optimizer = torch.optim.Adam(self.net.parameters(), lr=c.learning_rate)
            valid_users = self._valid_users(split, rng)
            self.history.valid_metric = c.valid_metric if len(valid_users) else None
            best_score, best_state, since_best = -math.inf, None, 0
            for epoch in range(1, c.epochs + 1):
                self.net.train()
                loss = self._train_epoch(optimizer, rng)
                if not math.isfinite(loss):
                    raise InputError(
                        f"{self.registry_name}: training diverged at epoch {epoch} (loss {loss}); lower learning_rate"
                    )
                self.history.train_loss.append(loss)
                score = None
                if len(valid_users):
                    self.net.eval()
                    score = self._valid_score(split, valid_users, metric, k, options.exclude_seen)
                    if score > best_score:
                        best_score, since_best = score, 0
                        best_state = copy.deepcopy(self.net.state_dict())
                        self.history.best_epoch = epoch
                    else:
                        since_best += 1
                self.report_epoch(options, epoch, score)  # the on_epoch callback may stop training here
                if options.progress is not None:
                    options.progress(epoch, c.epochs)
                if since_best >= c.stopping_step:
                    break
            if best_state is not None:
                self.net.load_state_dict(best_state)
            else:  # no valid part: the last epoch's weights
                self.history.best_epoch = self.history.epochs_run
            self.net.eval()
            self.refresh_factors()

    def _valid_users(self, split: EncodedSplit, rng: np.random.Generator) -> np.ndarray:
        users = split.eval_users("valid")
        limit = self.config.valid_users
        if limit is not None and len(users) > limit:
            users = np.sort(rng.choice(users, size=limit, replace=False))
        return users

    def _valid_score(self, split: EncodedSplit, users: np.ndarray, metric: str, k: int, exclude_seen: bool) -> float:
        """Mean ``metric@k`` of the current parameters over ``users``' valid items, each user's training items
        left out of the lists under ``exclude_seen`` (the fit's mode: the one its test will be scored in)."""
        user_factors, item_factors, item_bias = self._ranking_factors()
        items, _ = topk_from_factors(
            user_factors, item_factors, k, users=users, exclude=split.train if exclude_seen else None, item_bias=item_bias,
            device=self.config.device,
        )
        relevant = split.valid[users]
        values = compute_metrics(hit_matrix(items, relevant), np.diff(relevant.indptr), [metric], [k])
        return float(values[f"{metric}@{k}"].mean())

    def _ranking_factors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_factors` as NumPy, with unknown items pushed to ``UNKNOWN_SCORE``."""
        with torch.no_grad():
            users, items, bias = self._factors()
        item_bias = np.zeros(len(self.unknown_items), dtype=np.float32) if bias is None else _numpy(bias)
        item_bias = np.where(self.unknown_items, np.float32(UNKNOWN_SCORE), item_bias).astype(np.float32)
        return _numpy(users), _numpy(items), item_bias

    def refresh_factors(self) -> None:
        """Recompute the ranking factors from the network's current parameters (done after training;
        again after setting parameters by hand)."""
        self.user_factors, self.item_factors, self.item_bias = self._ranking_factors()

    def _recommend(self, user_idx: np.ndarray, k: int, options: RecommendOptions) -> tuple[np.ndarray, np.ndarray]:
        with torch_threads(self.config.num_threads):
            return self._rank_by_factors(user_idx, k, options, self.user_factors, self.item_factors, self.item_bias)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        """Dense scores ``(len(user_idx), n_items)`` of the fitted model (what ranking orders by)."""
        return self.user_factors[user_idx] @ self.item_factors.T + self.item_bias

    def _train_epoch(self, optimizer: Any, rng: np.random.Generator) -> float:
        """One pass over a fresh shuffle of the training rows in ``train_batch_size`` batches, one Adam
        step each; returns the mean loss per step."""
        self._start_epoch(rng)
        users, items = self.rows
        order = rng.permutation(len(users))
        losses = []
        for start in range(0, len(order), self.config.train_batch_size):
            batch = order[start : start + self.config.train_batch_size]
            loss = self._batch_loss(users[batch], items[batch], rng)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return float(np.mean(losses))


def _numpy(x: Any) -> np.ndarray:
    return x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=np.float32)


def at_warm_length(items: torch.Tensor, cold: torch.Tensor, warm: torch.Tensor) -> torch.Tensor:
    """``items`` (n_items, d) with the ``cold`` rows rescaled to the mean length of the ``warm`` rows.

    A cold item's representation in the graph models lacks the propagated interaction part a warm item
    has, so it is shorter and, ranked by dot product, would lose to any warm item whatever its content.
    Zero rows stay zero.
    """
    if not cold.any() or not warm.any():
        return items
    scale = items[warm].norm(dim=1).mean()
    rows = items[cold]
    norms = rows.norm(dim=1, keepdim=True)
    # a zero row's factor is 0, not scale / tiny: that overflows to inf once the warm length passes ~4 (float32),
    # and 0 * inf is NaN (FREEDOM with knn_k 5 on cold items, epoch ~50). Other rows: the same arithmetic as ever.
    factor = torch.where(norms > 0, scale / norms.clamp_min(torch.finfo(rows.dtype).tiny), torch.zeros_like(norms))
    rescaled = rows * factor
    out = items.clone()
    out[cold] = rescaled
    return out


# -- training data -------------------------------------------------------------------------------------
def purchase_rows(train: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """``(users, items)`` with one row per training purchase: a pair bought 3 times is 3 rows, as in the
    atomic files the RecBole backends train on."""
    counts = np.rint(train.data).astype(np.int64)
    users = np.repeat(np.arange(train.shape[0], dtype=np.int64), np.diff(train.indptr))
    return np.repeat(users, counts), np.repeat(train.indices.astype(np.int64), counts)


class NegativeSampler:
    """Uniform negatives: for each (user, positive) row an item with a training interaction that the user
    has none with.

    Only items with a training interaction are drawn: an item without one (a held-out new item of the
    cold-item protocol) does not exist when the model is trained, and drawn as a negative it would only
    ever be pushed down, so a content projection would learn "this content is never bought" for exactly
    the new items (see ``recsys_cl.models.recbole._data``, which draws RecBole's negatives the same way).

    Draws for the whole batch at once and redraws only the collisions (a membership test on sorted
    pair keys); rows still colliding after a few rounds (users who bought most of the catalogue) draw
    exactly from their non-bought items. A user who bought every item has no negative: any item then.
    """

    #: vectorised redraw rounds before the exact per-row draw
    ROUNDS = 8

    def __init__(self, train: sp.csr_matrix) -> None:
        self.train = sp.csr_matrix(train)
        self.train.sort_indices()
        self.n_items = train.shape[1]
        #: the items negatives are drawn from (sorted): those with a training interaction
        self.pool = np.flatnonzero(np.diff(self.train.tocsc().indptr) > 0)
        if not len(self.pool):
            self.pool = np.arange(self.n_items)
        rows = np.repeat(np.arange(train.shape[0], dtype=np.int64), np.diff(self.train.indptr))
        self.keys = rows * self.n_items + self.train.indices

    def sample(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pool = self.pool
        items = pool[rng.integers(0, len(pool), size=len(users))]
        for _ in range(self.ROUNDS):
            collide = self._seen(users, items)
            if not collide.any():
                return items
            items[collide] = pool[rng.integers(0, len(pool), size=int(collide.sum()))]
        for row in np.flatnonzero(self._seen(users, items)):
            bought = self.train.indices[self.train.indptr[users[row]] : self.train.indptr[users[row] + 1]]
            # every bought item is in the pool (it has a training interaction): work in pool positions
            taken = np.searchsorted(pool, bought)
            free = len(pool) - len(taken)
            if free > 0:
                # the r-th pool item not bought: r plus the number of bought positions at or before it
                r = int(rng.integers(0, free))
                items[row] = pool[r + int(np.searchsorted(taken - np.arange(len(taken)), r, side="right"))]
        return items

    def _seen(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.n_items + items
        pos = np.searchsorted(self.keys, keys)
        return (pos < len(self.keys)) & (self.keys[np.minimum(pos, len(self.keys) - 1)] == keys)


# -- user-item graph propagation (LightGCN) -----------------------------------------------------------
class BipartiteGraph:
    """The LightGCN user-item graph as the normalised interaction matrix ``R~ = D_u^-1/2 R D_i^-1/2``
    (n_users x n_items) and its transpose, both torch CSR.

    LightGCN's (users + items)^2 adjacency ``[[0, R~], [R~^T, 0]]`` is never built: one layer is
    ``users' = R~ @ items, items' = R~^T @ users``, the same sums. The backward of ``R~ @ x`` multiplies
    by the stored ``R~^T`` (torch's sparse backward would transpose and re-sort the matrix each step).
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, device: Any) -> None:
        interactions = sp.csr_matrix(
            (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items)
        )
        interactions.data[:] = 1.0  # a repeated pair is one edge
        user_degree = np.diff(interactions.indptr).astype(np.float64)
        item_degree = np.bincount(interactions.indices, minlength=n_items).astype(np.float64)
        rows = np.repeat(np.arange(n_users), np.diff(interactions.indptr))
        interactions.data = (1.0 / np.sqrt(user_degree[rows] * item_degree[interactions.indices])).astype(np.float32)
        self.matrix = torch_csr(interactions, device)
        self.transposed = torch_csr(interactions.T.tocsr(), device)

    def propagate(self, user_emb: Any, item_emb: Any, n_layers: int) -> tuple[Any, Any]:
        """LightGCN: the mean of layers 0..n_layers of user and item embeddings."""
        users, items = [user_emb], [item_emb]
        u, i = user_emb, item_emb
        for _ in range(n_layers):
            u, i = sparse_product(self.matrix, self.transposed, i), sparse_product(self.transposed, self.matrix, u)
            users.append(u)
            items.append(i)
        return torch.stack(users).mean(dim=0), torch.stack(items).mean(dim=0)


def torch_csr(matrix: sp.csr_matrix, device: Any) -> torch.Tensor:
    """A fixed SciPy CSR matrix as a torch CSR tensor on ``device`` (canonical: sorted, no duplicates)."""
    matrix = sp.csr_matrix(matrix, copy=True)
    matrix.sum_duplicates()  # also sorts each row's columns, which torch's CSR requires
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is not
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data.astype(np.float32)),
            size=matrix.shape,
            check_invariants=True,  # O(nnz), once per graph: a malformed matrix fails here, not in a product
        ).to(device)


class _SparseProduct(torch.autograd.Function):
    """``matrix @ x`` whose gradient in ``x`` is ``transposed @ grad`` (both fixed sparse matrices)."""

    @staticmethod
    def forward(ctx: Any, matrix: torch.Tensor, transposed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.transposed = transposed
        return matrix @ x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, ctx.transposed @ grad


def sparse_product(matrix: torch.Tensor, transposed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x`` for a fixed sparse ``matrix`` whose transpose is ``transposed``, differentiable in ``x``."""
    return _SparseProduct.apply(matrix, transposed, x)


def weighted_sample_without_replacement(weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``count`` draws without replacement, each draw with probability proportional to
    ``weights`` among those not drawn yet (what ``torch.multinomial(weights, count)`` does).

    Efraimidis & Spirakis (2006): the ``count`` smallest keys ``Exp(1) / weight``. Hand-written because
    ``torch.multinomial`` takes at most 2^24 categories (H&M's training graph has ~29M edges) and NumPy's
    weighted ``choice`` without replacement redraws collisions in a loop.
    """
    if count >= len(weights):
        return np.arange(len(weights))
    keys = rng.exponential(size=len(weights)) / weights
    return np.sort(np.argpartition(keys, count)[:count])
