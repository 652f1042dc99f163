"""Rankings: the one object models hand to the evaluator (top-K item ids and scores per user).

On disk a rankings file is a long table, one row per recommended item: ``user_id``, ``item_id``,
``rank`` (1-based) and ``score``. That is also what :meth:`Rankings.from_frame` reads, so files made
by other libraries (TSV or Parquet with ``user_id``, ``item_id`` and ``rank`` or ``score``) are
scored on the same footing. Ids are strings, exactly as in the atomic files (leading zeros kept).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recsys_cl.errors import InputError
from recsys_cl.limits import MAX_ID_CHARS, MAX_LIST_LENGTH

if TYPE_CHECKING:
    from recsys_cl.data import EncodedSplit
_RANK_COLUMNS = ("user_id", "item_id", "rank", "score")


@dataclasses.dataclass(frozen=True)
class Rankings:
    """Top-K lists for a set of users.

    ``users[r]`` indexes ``user_ids``; ``items[r, j]`` (rank ``j + 1``) indexes ``item_ids``, with
    ``-1`` padding where a list is shorter than K; ``scores`` has the same shape (NaN at padding).
    """

    user_ids: np.ndarray  # (n_users_vocab,) str
    item_ids: np.ndarray  # (n_items_vocab,) str
    users: np.ndarray  # (n,) int64
    items: np.ndarray  # (n, K) int64, -1 = padding
    scores: np.ndarray  # (n, K) float32
    name: str = "rankings"

    def __post_init__(self) -> None:
        if self.items.ndim != 2 or self.items.shape != self.scores.shape:
            raise InputError(f"rankings {self.name}: items {self.items.shape} and scores {self.scores.shape} must be (n, K)")
        if self.users.shape != (self.items.shape[0],):
            raise InputError(f"rankings {self.name}: {len(self.users)} users for {self.items.shape[0]} lists")

    @property
    def k(self) -> int:
        return self.items.shape[1]

    def __len__(self) -> int:
        return len(self.users)

    # -- tables --------------------------------------------------------------------------------
    def to_frame(self) -> pl.DataFrame:
        """Long table ``user_id, item_id, rank (1-based, int32), score (float32)``; padding dropped."""
        n, k = self.items.shape
        keep = (self.items >= 0).ravel()
        rows = np.repeat(np.arange(n), k)[keep]
        # ids become polars strings once per user and per catalogue item, then are gathered per row: a
        # fixed-width NumPy copy per row (256 bytes an H&M customer id) cost 2x the time and ~150 MB a
        # chunk of 50,000 users x 12 (recsys-cl recommend)
        return pl.DataFrame(
            {
                "user_id": pl.Series(self.user_ids[self.users], dtype=pl.Utf8).gather(rows),
                "item_id": pl.Series(self.item_ids, dtype=pl.Utf8).gather(self.items.ravel()[keep]),
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n)[keep],
                "score": self.scores.ravel()[keep].astype(np.float32),
            },
            schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "rank": pl.Int32, "score": pl.Float32},
        )

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        encoded: "EncodedSplit | None" = None,
        *,
        name: str = "rankings",
        source: str = "rankings",
    ) -> "Rankings":
        """Build from a long table with ``user_id``, ``item_id`` and ``rank`` and/or ``score``.

        With ``rank`` (1-based integers), each item sits at position ``rank``; a gap in the ranks
        stays an empty (padded) place, so nothing is silently moved up. Without ``rank``, items
        are ordered by ``score`` descending, ties by item id. With ``encoded``, the vocabularies
        are the split's and an unknown user or item raises :class:`InputError` naming it.
        Duplicate items in one user's list, or two items sharing a rank, raise too.
        """
        df = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
        missing = {"user_id", "item_id"} - set(df.columns)
        if missing:
            raise InputError(f"{source}: missing column(s) {', '.join(sorted(missing))} (have {', '.join(df.columns)})")
        if "rank" not in df.columns and "score" not in df.columns:
            raise InputError(f"{source}: needs a 'rank' or a 'score' column (have {', '.join(df.columns)})")
        cols = [c for c in _RANK_COLUMNS if c in df.columns]
        df = df.select(cols).with_columns(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8))
        if df.height == 0:
            raise InputError(f"{source}: no rankings (a header and no data rows)")
        for c in ("user_id", "item_id"):
            if df[c].null_count():
                line = int(df.with_row_index("_i").filter(pl.col(c).is_null())["_i"][0])
                raise InputError(f"{source}: empty {c} in data row {line + 1}")
            lengths = df[c].str.len_chars()
            if lengths.max() > MAX_ID_CHARS:  # NumPy's fixed-width strings would widen every row to the longest
                line = int(lengths.arg_max())
                raise InputError(f"{source}: {c} in data row {line + 1} has {lengths[line]:,} characters (ids have at most {MAX_ID_CHARS:,})")
        try:
            if "score" in df.columns:
                df = df.with_columns(pl.col("score").cast(pl.Float64))
            if "rank" in df.columns:
                df = df.with_columns(pl.col("rank").cast(pl.Float64))
        except pl.exceptions.PolarsError as exc:
            raise InputError(f"{source}: 'rank'/'score' must be numbers ({str(exc).splitlines()[0]})") from exc
        if "rank" in df.columns:
            r = df["rank"]
            bad = r.is_null() | (r < 1) | (r != r.floor())
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"{source}: rank must be a positive integer (data row {i + 1}: {df['rank'][i]!r})")
            # a list holds each item once: no rank beyond the catalogue (or, without one, a generous bound)
            longest = len(encoded.item_ids) if encoded is not None else MAX_LIST_LENGTH
            if r.max() > longest:
                i = int(r.arg_max())
                what = f"the catalogue ({longest:,} items)" if encoded is not None else f"{longest:,} positions"
                raise InputError(f"{source}: rank {r[i]:g} in data row {i + 1} is beyond {what}")
        dup = df.filter(pl.struct("user_id", "item_id").is_duplicated())
        if dup.height:
            raise InputError(
                f"{source}: item {dup['item_id'][0]!r} occurs twice in the list of user {dup['user_id'][0]!r}"
            )

        if encoded is not None:
            user_ids, item_ids = encoded.user_ids, encoded.item_ids
            # named errors for unknown ids (the first one found)
            list_users = np.unique(df["user_id"].to_numpy().astype(str))
            list_items = np.unique(df["item_id"].to_numpy().astype(str))
            _check_known(user_ids, list_users, "user", source)
            _check_known(item_ids, list_items, "item", source)
        else:
            user_ids = np.unique(df["user_id"].to_numpy().astype(str))
            item_ids = np.unique(df["item_id"].to_numpy().astype(str))
        u = np.searchsorted(user_ids, df["user_id"].to_numpy().astype(str))
        i = np.searchsorted(item_ids, df["item_id"].to_numpy().astype(str))
        score = df["score"].to_numpy().astype(np.float32) if "score" in df.columns else np.full(df.height, np.nan, np.float32)
        if "rank" in df.columns:
            pos = df["rank"].to_numpy().astype(np.int64) - 1
            order = np.lexsort((pos, u))
            u, i, score, pos = u[order], i[order], score[order], pos[order]
            same = (u[1:] == u[:-1]) & (pos[1:] == pos[:-1])
            if same.any():
                j = int(np.flatnonzero(same)[0])
                raise InputError(f"{source}: user {str(user_ids[u[j]])!r} has two items at rank {pos[j] + 1}")
        else:
            order = np.lexsort((i, -score.astype(np.float64), u))  # score desc, ties by item id
            u, i, score = u[order], i[order], score[order]
            if np.isnan(score).any():
                raise InputError(f"{source}: a 'score' is missing or NaN (and there is no 'rank' column)")
            start = np.r_[0, np.flatnonzero(u[1:] != u[:-1]) + 1] if len(u) else np.zeros(0, np.int64)
            pos = np.arange(len(u)) - np.repeat(start, np.diff(np.r_[start, len(u)]))
        users, row = np.unique(u, return_inverse=True)
        k = int(pos.max()) + 1 if len(pos) else 1
        items = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), np.nan, dtype=np.float32)
        items[row, pos] = i
        scores[row, pos] = score
        return cls(user_ids, item_ids, users.astype(np.int64), items, scores, name)

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the long table as Parquet (atomically: a temp file renamed into place)."""
        import pyarrow.parquet as pq

        from recsys_cl.files import atomic_output

        path = Path(path)
        table = self.to_frame().to_arrow()
        table = table.replace_schema_metadata({b"recsys_cl.name": self.name.encode(), b"recsys_cl.k": str(self.k).encode()})
        with atomic_output(path) as tmp:
            pq.write_table(table, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path, encoded: "EncodedSplit | None" = None) -> "Rankings":
        """Read a rankings file: Parquet, or TSV/CSV with a header (``name:type`` headers accepted)."""
        return read_rankings(path, encoded)

    # -- ranx ----------------------------------------------------------------------------------
    def to_ranx_run(self, use_scores: bool = False) -> Any:
        """A ranx ``Run``. ranx re-sorts by score, so by default each item's score is ``K - position``,
        which keeps this object's order (its tie-breaks included); ``use_scores=True`` passes the raw scores."""
        from ranx import Run

        run: dict[str, dict[str, float]] = {}
        for r in range(len(self.users)):
            row = self.items[r]
            keep = row >= 0
            ids = self.item_ids[row[keep]]
            vals = self.scores[r][keep] if use_scores else (self.k - np.flatnonzero(keep)).astype(np.float64)
            if len(ids):
                run[str(self.user_ids[self.users[r]])] = {str(a): float(b) for a, b in zip(ids, vals)}
        return Run(run, name=self.name)

    @classmethod
    def from_ranx_run(cls, run: Any, encoded: "EncodedSplit | None" = None, name: str | None = None) -> "Rankings":
        """From a ranx ``Run`` (or a ``{user: {item: score}}`` dict): order by score desc, ties by item id."""
        mapping = run.to_dict() if hasattr(run, "to_dict") else run
        rows = [(u, i, s) for u, docs in mapping.items() for i, s in docs.items()]
        df = pl.DataFrame(rows, schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "score": pl.Float64}, orient="row")
        return cls.from_frame(df, encoded, name=name or getattr(run, "name", None) or "rankings", source="ranx run")


def qrels_from_split(encoded: "EncodedSplit", part: str = "test") -> Any:
    """ranx ``Qrels`` with relevance 1 for each distinct (user, item) in ``part``."""
    from ranx import Qrels

    mat = encoded.part(part).tocsr()
    qrels: dict[str, dict[str, int]] = {}
    for u in np.flatnonzero(np.diff(mat.indptr) > 0):
        cols = mat.indices[mat.indptr[u] : mat.indptr[u + 1]]
        qrels[str(encoded.user_ids[u])] = {str(encoded.item_ids[c]): 1 for c in cols}
    return Qrels(qrels)


def read_rankings(path: str | Path, encoded: "EncodedSplit | None" = None, name: str | None = None) -> Rankings:
    """Rankings from a Parquet or delimited text file (TSV, or CSV when the name ends in .csv)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"rankings file not found: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:  # a broken file: ArrowInvalid, or OSError from the reader
            raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from exc
        meta = table.schema.metadata or {}
        stored_name = meta.get(b"recsys_cl.name", b"").decode() or None
        df = pl.from_arrow(table)
        df = df.rename({c: c.split(":")[0] for c in df.columns})
    else:
        sep = "," if path.suffix.lower() == ".csv" else "\t"
        try:
            df = pl.read_csv(path, separator=sep, infer_schema=False, quote_char=None if sep == "\t" else '"')
        except pl.exceptions.PolarsError as exc:
            raise InputError(f"{path}: cannot read as {'CSV' if sep == ',' else 'TSV'} ({str(exc).splitlines()[0]})") from exc
        df = df.rename({c: c.split(":")[0] for c in df.columns})
        stored_name = None
    return Rankings.from_frame(df, encoded, name=name or stored_name or path.stem, source=str(path))


def _check_known(vocab: np.ndarray, ids: np.ndarray, kind: str, source: str) -> None:
    pos = np.searchsorted(vocab, ids)
    ok = (pos < len(vocab)) & (vocab[np.minimum(pos, len(vocab) - 1)] == ids) if len(vocab) else np.zeros(len(ids), bool)
    if not ok.all():
        raise InputError(f"{source}: unknown {kind} id {str(ids[~ok][0])!r} ({int((~ok).sum())} unknown {kind}s in all)")
