"""Item-embedding files: ``<ds>.itememb`` (RecBole atomic, ``iid:token  item_emb:float_seq``)
plus a ``.npy`` matrix and ``.ids.txt`` with the id order for fast loading."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from recsys_cl.errors import InputError
from recsys_cl.files import atomic_output


@dataclasses.dataclass(frozen=True)
class ItemEmbeddings:
    """One vector per item id; ``method`` names the learner that produced them."""

    item_ids: np.ndarray  # (n,) str
    vectors: np.ndarray  # (n, d) float32
    method: str = "unknown"

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.item_ids):
            raise InputError(f"item embeddings: {len(self.item_ids)} ids for vectors of shape {self.vectors.shape}")
        if len(set(self.item_ids.tolist())) != len(self.item_ids):
            raise InputError("item embeddings: duplicate item ids")

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def aligned(self, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows for ``item_ids`` in that order, and a mask of which items have a vector.

        Items without a vector get a zero row and ``mask == False``: callers must use the mask,
        not mistake the zero row for data.
        """
        position = {iid: r for r, iid in enumerate(self.item_ids.tolist())}
        rows = np.array([position.get(i, -1) for i in np.asarray(item_ids).astype(str).tolist()], dtype=np.int64)
        mask = rows >= 0
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        out[mask] = self.vectors[rows[mask]]
        return out, mask


def principal_components(vectors: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """Project the rows with a vector onto their top ``width`` principal directions (n, width).

    Fewer components than ``width`` (small catalogues / narrow vectors) leave the extra columns
    zero; rows without a vector (``mask`` False) are zero.
    """
    out = np.zeros((len(vectors), width), dtype=np.float32)
    rows = vectors[mask].astype(np.float64)
    if len(rows) < 2:
        return out
    centred = rows - rows.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    n = min(width, vt.shape[0])
    out[mask, :n] = (centred @ vt[:n].T).astype(np.float32)
    return out


def write_itememb(emb: ItemEmbeddings, path: str | Path) -> Path:
    """Write ``path`` (atomic text) and ``path.npy`` + ``path.ids.txt`` beside it."""
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("iid:token\titem_emb:float_seq\n")
            for iid, vec in zip(emb.item_ids.tolist(), emb.vectors):
                fh.write(iid + "\t" + " ".join(f"{x:.7g}" for x in vec.tolist()) + "\n")
    with atomic_output(Path(f"{path}.npy")) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, emb.vectors.astype(np.float32))
    with atomic_output(Path(f"{path}.ids.txt")) as tmp:
        tmp.write_text("\n".join(emb.item_ids.tolist()) + "\n", encoding="utf-8")
    return path


def read_itememb(path: str | Path, method: str | None = None) -> ItemEmbeddings:
    """Read the ``.npy`` pair when present (fast), else parse the atomic text file."""
    path = Path(path)
    npy, ids = Path(f"{path}.npy"), Path(f"{path}.ids.txt")
    name = method or path.stem
    if npy.is_file() and ids.is_file():
        try:
            item_ids = np.array(ids.read_text(encoding="utf-8").split("\n")[:-1], dtype=str)
            vectors = np.load(npy, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # cut, overwritten or not an array file
            raise InputError(f"{npy}: not a readable item-embedding array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        if vectors.ndim != 2 or len(vectors) != len(item_ids) or not np.issubdtype(vectors.dtype, np.number):
            raise InputError(f"{npy}: {vectors.shape} array of {vectors.dtype} does not fit the {len(item_ids)} ids of {ids.name}")
        return ItemEmbeddings(item_ids, vectors.astype(np.float32), name)
    if not path.is_file():
        raise InputError(f"{path}: item-embedding file not found")
    item_ids, vectors = [], []
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n")
        if header.split("\t") != ["iid:token", "item_emb:float_seq"]:
            raise InputError(f"{path}:1: header must be 'iid:token<TAB>item_emb:float_seq', got {header!r}")
        for line_no, line in enumerate(fh, start=2):
            iid, sep, values = line.rstrip("\n").partition("\t")
            try:
                vec = [float(x) for x in values.split(" ")] if sep else None
            except ValueError:
                vec = None
            if vec is None or (vectors and len(vec) != len(vectors[0])):
                raise InputError(f"{path}:{line_no}: expected '<id><TAB><floats separated by spaces>' of one length")
            item_ids.append(iid)
            vectors.append(vec)
    if not item_ids:
        raise InputError(f"{path}: no embeddings in file")
    return ItemEmbeddings(np.array(item_ids, dtype=str), np.asarray(vectors, dtype=np.float32), name)
