"""Full-ranking top-K over ALL items, with each user's training items excluded, in bounded memory.

Every model's recommendations pass through here, so the contract is strict:

* scores are computed for every item (no candidate sampling), chunk by chunk of users so memory
  stays at about ``chunk_size * n_items * 4`` bytes (plus one boolean mask of that size);
* items set in ``exclude`` (a CSR user x item matrix, usually the training matrix) are never
  returned; neither are items whose score is ``-inf`` (a model's way of saying "never");
* ties are broken deterministically: equal scores -> lower item index first;
* a user with fewer than ``k`` rankable items gets ``-1`` items and ``NaN`` scores as padding,
  and ``k`` larger than the catalogue is allowed (the tail is padding), never an error.

torch (matmul + ``topk``) rather than faiss: ``benchmarks/perf/bench_topk.py`` (100,000 users x
100,000 items, 64 factors, K=12, ~20 training items excluded per user, 2 CPU threads) measured
torch at 56.7 CPU-s and faiss ``IndexFlatIP`` at 66.3 CPU-s (wall 110 s vs 115 s on cores shared
with other jobs, load average ~7). faiss cannot skip excluded items, so it must search
``k + max(train items per user)`` and filter afterwards; torch masks them in place and runs on CUDA.

Models whose scores are a few entries per user over a shared list (the fashion baselines: own
purchases, variants, co-purchases over popularity, or popularity per customer segment) rank through
:func:`topk_sparse_over_base` instead: the same contract and result without scoring every item.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch

from recsys_cl.device import resolve_device
from recsys_cl.errors import InputError, ModelDiverged
from recsys_cl.evaluation._rankings import Rankings
from recsys_cl.progress import StepProgress

ScoreFn = Callable[[np.ndarray], Any]  # user indices (m,) -> scores (m, n_items), ndarray or tensor

# Bytes of float32 scores held per chunk when chunk_size is not given (512 MB: bigger chunks keep the matmul efficient).
_CHUNK_BYTES = 512 * 2**20


def torch_device(device: str = "auto") -> torch.device:
    return torch.device(resolve_device(device))


def topk_from_factors(
    user_factors: np.ndarray | torch.Tensor,
    item_factors: np.ndarray | torch.Tensor,
    k: int,
    *,
    users: np.ndarray | None = None,
    exclude: sp.csr_matrix | None = None,
    item_bias: np.ndarray | torch.Tensor | None = None,
    device: str = "auto",
    chunk_size: int | None = None,
    progress: StepProgress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` items by dot product ``user_factors[u] @ item_factors.T (+ item_bias)``.

    ``user_factors`` (n_users_vocab, d), ``item_factors`` (n_items, d), ``users`` rows of
    ``user_factors`` to rank for (default all), ``exclude`` CSR (n_users_vocab, n_items).
    Returns items (len(users), k) int64 and scores (len(users), k) float32.
    """
    dev = torch_device(device)
    u_mat = _as_tensor(user_factors, dev, "user_factors")
    i_mat = _as_tensor(item_factors, dev, "item_factors")
    if u_mat.ndim != 2 or i_mat.ndim != 2 or u_mat.shape[1] != i_mat.shape[1]:
        raise InputError(
            f"user_factors {tuple(u_mat.shape)} and item_factors {tuple(i_mat.shape)} must be (n, d) with the same d"
        )
    bias = None
    if item_bias is not None:
        bias = _as_tensor(item_bias, dev, "item_bias").reshape(-1)
        if bias.shape[0] != i_mat.shape[0]:
            raise InputError(f"item_bias has {bias.shape[0]} values for {i_mat.shape[0]} items")
    users = np.arange(u_mat.shape[0], dtype=np.int64) if users is None else np.asarray(users, dtype=np.int64)
    if users.size and (users.min() < 0 or users.max() >= u_mat.shape[0]):
        raise InputError(f"users must index user_factors rows 0..{u_mat.shape[0] - 1}")
    i_t = i_mat.T.contiguous()
    buffer: list[torch.Tensor] = []

    def score(chunk: np.ndarray) -> torch.Tensor:
        # One score buffer reused for every chunk: a fresh ~512 MB array per chunk is paged in anew
        # each time (H&M full size: ~1,100 chunks).
        if not buffer or buffer[0].shape[0] < len(chunk):
            buffer[:] = [torch.empty((len(chunk), i_t.shape[1]), dtype=torch.float32, device=dev)]
        s = torch.matmul(u_mat[torch.from_numpy(chunk).to(dev)], i_t, out=buffer[0][: len(chunk)])
        return s.add_(bias) if bias is not None else s

    return _topk(score, i_mat.shape[0], k, users, exclude, dev, chunk_size, progress)


def topk_from_scorer(
    score_fn: ScoreFn,
    n_items: int,
    k: int,
    users: np.ndarray,
    *,
    exclude: sp.csr_matrix | None = None,
    device: str = "auto",
    chunk_size: int | None = None,
    progress: StepProgress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` items from ``score_fn(user_index_chunk) -> (len(chunk), n_items)`` (higher is better).

    Same contract as :func:`topk_from_factors`; ``users`` are user-vocabulary indices (rows of ``exclude``).
    """
    dev = torch_device(device)
    users = np.asarray(users, dtype=np.int64)

    def score(chunk: np.ndarray) -> torch.Tensor:
        raw = score_fn(chunk)
        raw = raw.toarray() if sp.issparse(raw) else raw
        s = _as_tensor(raw, dev, "scores")
        # Exclusion writes -inf in place: never into the model's own array (e.g. a cached matrix).
        if isinstance(raw, (np.ndarray, torch.Tensor)) and _shares_memory(s, raw):
            s = s.clone()
        if s.shape != (len(chunk), n_items):
            raise InputError(f"score function returned shape {tuple(s.shape)}, expected ({len(chunk)}, {n_items})")
        return s

    return _topk(score, n_items, k, users, exclude, dev, chunk_size, progress)


def _shares_memory(t: torch.Tensor, raw: np.ndarray | torch.Tensor) -> bool:
    if isinstance(raw, torch.Tensor):
        return t.untyped_storage().data_ptr() == raw.untyped_storage().data_ptr()
    return t.device.type == "cpu" and np.shares_memory(t.numpy(), raw)


def _as_tensor(x: Any, dev: torch.device, what: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    if not (t.is_floating_point()):
        t = t.float()
    return t.to(device=dev, dtype=torch.float32)


def _topk(
    score: Callable[[np.ndarray], torch.Tensor],
    n_items: int,
    k: int,
    users: np.ndarray,
    exclude: sp.csr_matrix | None,
    dev: torch.device,
    chunk_size: int | None,
    progress: StepProgress | None,
) -> tuple[np.ndarray, np.ndarray]:
    if k < 1:
        raise InputError(f"k must be >= 1 (got {k})")
    if n_items < 1:
        raise InputError("cannot rank an empty catalogue (0 items)")
    exclude = _checked_exclude(exclude, n_items, users)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_BYTES // (4 * n_items))
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1 (got {chunk_size})")
    n = len(users)
    kk = min(k, n_items)
    out_items = np.full((n, k), -1, dtype=np.int64)
    out_scores = np.full((n, k), np.nan, dtype=np.float32)
    for start in range(0, n, chunk_size):
        chunk = users[start : start + chunk_size]
        s = score(chunk)
        if exclude is not None:
            sub = exclude[chunk]
            rows = np.repeat(np.arange(len(chunk)), np.diff(sub.indptr))
            if rows.size:
                s[torch.from_numpy(rows).to(dev), torch.from_numpy(sub.indices.astype(np.int64)).to(dev)] = -torch.inf
        idx, val = _chunk_topk(s, kk)
        pad = torch.isneginf(val)
        idx = idx.masked_fill(pad, -1)
        val = val.masked_fill(pad, torch.nan)
        out_items[start : start + len(chunk), :kk] = idx.cpu().numpy()
        out_scores[start : start + len(chunk), :kk] = val.cpu().numpy()
        if progress is not None:
            progress(min(start + chunk_size, n), n)
    return out_items, out_scores


def _chunk_topk(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of each row with ties broken by lower column index; returns (indices, values) sorted.

    ``torch.topk`` picks an arbitrary subset among items tied at the k-th score, so rows where the
    tie straddles the cut are redone exactly (only those rows: float scores rarely tie, but
    popularity counts or all-zero rows do).
    """
    # One extra place tells whether the k-th score is tied with an item left out (exact, and far
    # cheaper than comparing every score with the threshold).
    extra = min(k + 1, s.shape[1])
    val, idx = _top_values(s, extra)
    # torch.topk ranks NaN above everything, so a NaN anywhere in a row shows up in first place.
    if torch.isnan(val[:, 0]).any():
        raise ModelDiverged("the model produced NaN scores; cannot rank them")
    thr = val[:, k - 1 : k]
    if extra > k:
        ambiguous = (val[:, k] == val[:, k - 1]) & ~torch.isneginf(thr[:, 0])
        val, idx = val[:, :k].contiguous(), idx[:, :k].contiguous()
    else:
        ambiguous = torch.zeros(len(val), dtype=torch.bool, device=val.device)
    # Redo tied rows exactly, a few at a time: the cumsum below is int64 per score, so a model whose
    # every row ties (popularity counts) would otherwise need 2x the chunk's memory at once.
    tied_rows = torch.nonzero(ambiguous).squeeze(1)
    for start in range(0, len(tied_rows), 64):
        rows = tied_rows[start : start + 64]
        sr, tr = s[rows], thr[rows]
        greater = sr > tr
        need = k - greater.sum(dim=1, keepdim=True)
        equal = sr == tr
        take = greater | (equal & (torch.cumsum(equal, dim=1) <= need))
        # exactly k True per row, in column order
        cols = torch.nonzero(take)[:, 1].reshape(len(rows), k)
        idx[rows] = cols
        val[rows] = torch.gather(sr, 1, cols)
    # Order each row by (score desc, index asc): sort by index, then a stable sort by score.
    by_index, perm = torch.sort(idx, dim=1)
    val = torch.gather(val, 1, perm)
    val, perm = torch.sort(val, dim=1, descending=True, stable=True)
    return torch.gather(by_index, 1, perm), val


#: items per block of the two-stage top-k (block maxima first, then the items of the best blocks)
_BLOCK = 128


def _top_values(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(s, k, sorted=True)`` values, and indices of items holding them, in two stages.

    The k best blocks of ``_BLOCK`` items by their maximum hold k scores at least as large as the
    true j-th largest for every j <= k (if one of the top j items sits in a block left out, each of
    the k chosen blocks has a maximum at least that large), so the top-k values over those blocks'
    items are exactly the row's top-k values; and when the k-th value is not tied with the next
    (the caller's check), the items holding them are the row's top-k items. A full ``topk`` over
    105k items per row costs about as much as the matmul that made the scores (measured 320 s vs
    377 s for H&M's 1.37M users on 2 cores); block maxima read the scores once, sequentially.
    """
    m, n = s.shape
    if n < 8 * k * _BLOCK:
        return torch.topk(s, k, dim=1, largest=True, sorted=True)
    whole = n // _BLOCK * _BLOCK
    block_max = s[:, :whole].view(m, -1, _BLOCK).amax(dim=2)
    if whole < n:  # the short last block
        block_max = torch.cat([block_max, s[:, whole:].amax(dim=1, keepdim=True)], dim=1)
    _, blocks = torch.topk(block_max, k, dim=1, largest=True, sorted=False)
    cols = (blocks[:, :, None] * _BLOCK + torch.arange(_BLOCK, device=s.device)).reshape(m, -1)
    outside = cols >= n  # columns past the catalogue end in the short block: never chosen
    candidates = torch.gather(s, 1, cols.clamp_(max=n - 1)).masked_fill_(outside, -torch.inf)
    # ties among candidates: the lower item index first, as a full topk over the row would not promise
    # either; exact tie-breaking is the caller's (it redoes rows whose k-th score is tied)
    val, pos = torch.topk(candidates, k, dim=1, largest=True, sorted=True)
    return val, torch.gather(cols, 1, pos)


#: candidate rows (user, item) sorted at once by :func:`topk_sparse_over_base` when chunk_size is not given
#: (~6,500 users at K=12): the per-chunk sorts then stay in cache. Repurchase on 120,000 synthetic H&M users
#: (scale 0.1, fitted on all): 10-16 us a user against 18-29 us with 4,000,000 (~52,000 users), same lists.
_SPARSE_CANDIDATES = 500_000

#: ``users -> (len(users), n_items)`` CSR of a model's per-user scores (see :func:`topk_sparse_over_base`)
PersonalFn = Callable[[np.ndarray], sp.csr_matrix]


def topk_sparse_over_base(
    personal: sp.csr_matrix | PersonalFn | None,
    base: np.ndarray,
    k: int,
    users: np.ndarray,
    *,
    user_base: np.ndarray | None = None,
    exclude: sp.csr_matrix | None = None,
    chunk_size: int | None = None,
    progress: StepProgress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``score(u, i) = base[user_base[u], i] + personal[u, i]`` without a dense score row.

    For the many models whose scores are a few per-user entries over a shared list (own purchases,
    co-purchases, product variants over popularity; popularity per segment): ``personal`` is a CSR
    (n_users_vocab, n_items), or a function giving those rows for a chunk of users, or None;
    ``base`` is (n_items,) or (n_bases, n_items) with ``user_base`` (n_users_vocab,) choosing each
    user's row (default row 0). Same contract and result as :func:`topk_from_scorer` on the dense
    scores (exclusion, ``-inf`` never returned, ties by lower item index, ``-1``/NaN padding), but a
    user costs ``k`` + their personal and excluded entries instead of the whole catalogue: the best
    ``k`` items without a personal entry are among the first ``k + |personal u excluded|`` of the
    user's base order, which is sorted once per base row. Scores are compared in ``base``'s dtype
    (float64 ranks float64 sums exactly, e.g. lexicographic keys) and returned as float32.
    """
    if k < 1:
        raise InputError(f"k must be >= 1 (got {k})")
    base = np.atleast_2d(np.asarray(base))
    if not np.issubdtype(base.dtype, np.floating):
        base = base.astype(np.float32)
    n_bases, n_items = base.shape
    if n_items < 1:
        raise InputError("cannot rank an empty catalogue (0 items)")
    if np.isnan(base).any():
        raise ModelDiverged("the model produced NaN scores; cannot rank them")
    users = np.asarray(users, dtype=np.int64)
    if user_base is not None:
        user_base = np.asarray(user_base, dtype=np.int64)
        if user_base.size and (user_base.min() < 0 or user_base.max() >= n_bases):
            raise InputError(f"user_base must index the {n_bases} base rows")
        if users.size and users.max() >= len(user_base):
            raise InputError(f"user index {int(users.max())} outside user_base ({len(user_base)} users)")
    exclude = _checked_exclude(exclude, n_items, users)
    if isinstance(personal, sp.spmatrix | sp.sparray):
        matrix = sp.csr_matrix(personal)
        if matrix.shape[1] != n_items:
            raise InputError(f"personal scores have {matrix.shape[1]} item columns for {n_items} items")
        personal = matrix.__getitem__
    # Each base row's items by (score desc, index asc): the order every user's fill follows.
    order = np.stack([np.lexsort((np.arange(n_items), -row)) for row in base])
    if chunk_size is None:
        chunk_size = max(1, _SPARSE_CANDIDATES // (k + 64))
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1 (got {chunk_size})")
    n = len(users)
    out_items = np.full((n, k), -1, dtype=np.int64)
    out_scores = np.full((n, k), np.nan, dtype=np.float32)
    for start in range(0, n, chunk_size):
        chunk = users[start : start + chunk_size]
        rows, items, scores = _sparse_candidates(personal, base, order, chunk, user_base, exclude, k)
        # best first per user: (user, score desc, item asc), then the first k of each user
        ranked = np.lexsort((items, -scores, rows))
        rows, items, scores = rows[ranked], items[ranked], scores[ranked]
        first = np.searchsorted(rows, np.arange(len(chunk)))
        place = np.arange(len(rows)) - first[rows]
        keep = place < k
        out_items[start + rows[keep], place[keep]] = items[keep]
        out_scores[start + rows[keep], place[keep]] = scores[keep]
        if progress is not None:
            progress(min(start + chunk_size, n), n)
    return out_items, out_scores


def _sparse_candidates(
    personal: PersonalFn | None,
    base: np.ndarray,
    order: np.ndarray,
    chunk: np.ndarray,
    user_base: np.ndarray | None,
    exclude: sp.csr_matrix | None,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chunk row, item, score) of every candidate of a chunk of users: their personal entries and the
    head of their base order, excluded items and ``-inf`` scores dropped, each (row, item) once."""
    n_items = base.shape[1]
    m = len(chunk)
    bases = np.zeros(m, dtype=np.int64) if user_base is None else user_base[chunk]
    no_keys = np.zeros(0, dtype=np.int64)
    p_rows, p_items, p_scores, p_keys = no_keys, no_keys, np.zeros(0, base.dtype), no_keys
    per_user = np.zeros(m, dtype=np.int64)
    if personal is not None:
        block = sp.csr_matrix(personal(chunk))
        if block.shape != (m, n_items):
            raise InputError(f"personal scores for {m} users have shape {block.shape}, expected ({m}, {n_items})")
        block.sum_duplicates()
        if np.isnan(block.data).any():
            raise ModelDiverged("the model produced NaN scores; cannot rank them")
        p_rows = np.repeat(np.arange(m), np.diff(block.indptr))
        p_items = block.indices.astype(np.int64)
        p_scores = base[bases[p_rows], p_items] + block.data.astype(base.dtype, copy=False)
        p_keys = p_rows * n_items + p_items  # sorted: canonical CSR
        per_user += np.diff(block.indptr)
    e_keys = no_keys
    if exclude is not None:
        sub = exclude[chunk]
        sub.sum_duplicates()
        e_keys = np.repeat(np.arange(m), np.diff(sub.indptr)) * n_items + sub.indices
        per_user += np.diff(sub.indptr)
    length = np.minimum(k + per_user, n_items)
    q_rows = np.repeat(np.arange(m), length)
    q_place = np.arange(len(q_rows)) - np.repeat(np.cumsum(length) - length, length)
    q_items = order[bases[q_rows], q_place]
    q_keys = q_rows * n_items + q_items
    fill = ~_sorted_member(q_keys, p_keys)  # a personal entry's item comes in with its personal score
    rows = np.concatenate([p_rows, q_rows[fill]])
    items = np.concatenate([p_items, q_items[fill]])
    scores = np.concatenate([p_scores, base[bases[q_rows[fill]], q_items[fill]]])
    keep = ~np.isneginf(scores) & ~_sorted_member(rows * n_items + items, e_keys)
    return rows[keep], items[keep], scores[keep]


def _sorted_member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(keys, sorted_keys)`` for an already sorted ``sorted_keys``, by binary search."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def rankings_from_topk(encoded: Any, users: np.ndarray, items: np.ndarray, scores: np.ndarray, name: str) -> Rankings:
    """Wrap top-K arrays (user-vocabulary indices ``users``) in a :class:`Rankings` on ``encoded``'s vocabularies."""
    return Rankings(
        encoded.user_ids,
        encoded.item_ids,
        np.asarray(users, dtype=np.int64),
        np.asarray(items, dtype=np.int64),
        np.asarray(scores, dtype=np.float32),
        name,
    )


def _checked_exclude(exclude: Any, n_items: int, users: np.ndarray) -> sp.csr_matrix | None:
    """The exclusion matrix as CSR, after checking it covers the catalogue and every user asked for."""
    if exclude is None:
        return None
    exclude = sp.csr_matrix(exclude)
    if exclude.shape[1] != n_items:
        raise InputError(f"exclude matrix has {exclude.shape[1]} item columns for {n_items} items")
    if users.size and users.max() >= exclude.shape[0]:
        raise InputError(f"user index {int(users.max())} outside the exclude matrix ({exclude.shape[0]} rows)")
    return exclude
