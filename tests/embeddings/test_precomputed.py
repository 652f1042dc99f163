"""Precomputed item vectors: the two file layouts, every refusal with its file and row, the catalogue
match (refuse or zero-fill, counted), and the ``precomputed`` method in learn, the CLI and a benchmark
whose run keys follow the files' contents."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_cl.bench import load_config, run_benchmark
from recsys_cl.data import load_dataset, prepare
from recsys_cl.embeddings import EmbeddingQuality, ItemEmbeddings, align_item_vectors, learn, read_item_vectors, read_itememb
from recsys_cl.errors import InputError

IDS = ["0108775015", "b", "c", "d"]  # a leading zero stays: ids are strings
VECTORS = np.arange(12, dtype=np.float64).reshape(4, 3) / 10


def write_npy(folder, vectors=VECTORS, ids=IDS, ids_text=None):
    np.save(folder / "v.npy", vectors)
    (folder / "ids.txt").write_text(ids_text if ids_text is not None else "\n".join(ids) + "\n")
    return folder / "v.npy", folder / "ids.txt"


def write_parquet(folder, columns, name="v.parquet"):
    pq.write_table(pa.table(columns), folder / name)
    return folder / name


def put(path, data: bytes):
    path.write_bytes(data)
    return path


def test_npy_with_ids_and_parquet_read_the_same_vectors(tmp_path):
    npy, ids = write_npy(tmp_path)
    from_npy = read_item_vectors(npy, ids=ids)
    assert from_npy.item_ids.tolist() == IDS and from_npy.vectors.dtype == np.float32
    np.testing.assert_allclose(from_npy.vectors, VECTORS.astype(np.float32))
    lists = write_parquet(tmp_path, {"item_id": IDS, "vector": VECTORS.tolist()})
    fixed = write_parquet(tmp_path, {"sku": pa.array(IDS), "emb": pa.FixedSizeListArray.from_arrays(
        pa.array(VECTORS.ravel(), pa.float32()), 3)}, "fixed.parquet")  # fmt: skip
    for emb in (read_item_vectors(lists), read_item_vectors(fixed, id_column="sku", vector_column="emb")):
        assert emb.item_ids.tolist() == IDS
        np.testing.assert_array_equal(emb.vectors, from_npy.vectors)
    ints = read_item_vectors(write_parquet(tmp_path, {"item_id": [7, 8], "vector": [[1.0], [2.0]]}, "ints.parquet"))
    assert ints.item_ids.tolist() == ["7", "8"]
    np.save(tmp_path / "i.npy", np.eye(2, dtype=np.int64))
    assert read_item_vectors(tmp_path / "i.npy", ids=["x", "y"]).dim == 2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: write_npy(t, VECTORS * np.array([1, np.nan, 1]))[0],
         r"v\.npy: row 0 \(.*ids\.txt:1\) \(id '0108775015'\): value nan at position 1 is not finite"),
        (lambda t: write_npy(t, np.vstack([VECTORS[:3], [[0, 1e39, 0]]]))[0],
         r"v\.npy: row 3 \(.*ids\.txt:4\) \(id 'd'\): value inf at position 1 is not finite \(as float32\)"),
        (lambda t: write_npy(t, ids=["a", "b", "c", "a"])[0], r"v\.npy: row 3 \(.*ids\.txt:4\): id 'a' given twice \(first at row 0\)"),
        (lambda t: write_npy(t, ids=["a", "b", "c"])[0], r"ids\.txt: 3 ids for the 4 rows of .*v\.npy"),
        (lambda t: write_npy(t, ids_text="a\n\nc\nd\n")[0], r"ids\.txt:2: empty id"),
        (lambda t: write_npy(t, VECTORS.reshape(2, 2, 3))[0], r"v\.npy: expected a 2-D matrix \(items x dimensions\), got shape \(2, 2, 3\)"),
        (lambda t: write_npy(t, np.array([[{"a": 1}]] * 4, dtype=object))[0], r"v\.npy: not a plain numeric \.npy matrix"),
        (lambda t: write_npy(t, np.array([["x"]] * 4))[0], r"v\.npy: expected real numbers, got dtype <U1"),
        (lambda t: write_parquet(t, {"item_id": ["a", "b"], "vector": [[1.0, 2.0], [3.0]]}),
         r"v\.parquet: row 1 \(id 'b'\): 1 values, row 0 has 2"),
        (lambda t: write_parquet(t, {"item_id": ["a", "b"], "vector": [[1.0], None]}), r"v\.parquet: row 1 \(id 'b'\): no vector \(null\)"),
        (lambda t: write_parquet(t, {"item_id": ["a", "b"], "vector": [[1.0], [None]]}),
         r"v\.parquet: row 1 \(id 'b'\): a value is missing \(null\)"),
        (lambda t: write_parquet(t, {"item_id": ["a", None], "vector": [[1.0], [2.0]]}), r"v\.parquet: row 1: item_id is missing \(null\)"),
        (lambda t: write_parquet(t, {"item_id": ["a", "a"], "vector": [[1.0], [2.0]]}),
         r"v\.parquet: row 1: id 'a' given twice \(first at row 0\)"),
        (lambda t: write_parquet(t, {"id": ["a"], "vector": [[1.0]]}), r"v\.parquet: no column 'item_id' \(columns: id, vector\)"),
        (lambda t: write_parquet(t, {"item_id": ["a"], "vector": ["1.0"]}), r"v\.parquet: vector must hold a list of numbers per row"),
        (lambda t: put(t / "v.parquet", b"PAR1 cut"), r"v\.parquet: cannot read as Parquet"),
        (lambda t: put(t / "v.csv", b"a,1\n"), r"v\.csv: expected a \.npy matrix \(with an ids file\) or a \.parquet"),
    ],
)
def test_bad_vector_files_are_refused_naming_file_and_row(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as caught:
        read_item_vectors(path, ids=tmp_path / "ids.txt" if path.suffix == ".npy" else None)
    assert "\n" not in str(caught.value)


def test_npy_without_ids_and_parquet_with_ids_are_refused(tmp_path):
    npy, ids = write_npy(tmp_path)
    with pytest.raises(InputError, match=r"v\.npy: a \.npy matrix needs an ids file"):
        read_item_vectors(npy)
    with pytest.raises(InputError, match=r"v\.parquet: a Parquet file carries its ids in id_column"):
        read_item_vectors(write_parquet(tmp_path, {"item_id": ["a"], "vector": [[1.0]]}), ids=ids)


def test_catalogue_items_without_a_vector_are_refused_or_zero_filled_and_counted():
    emb = ItemEmbeddings(np.array(["a", "b", "z"]), np.ones((3, 2), dtype=np.float32))
    with pytest.raises(InputError, match=r"^v\.npy: 1 of the 3 catalogue items have no vector \(first: 'c'\); .* missing: zero"):
        align_item_vectors(emb, ["b", "a", "c"], where="v.npy")
    rows, met = align_item_vectors(emb, ["b", "a", "c"], missing="zero")
    assert rows.tolist() == [[1, 1], [1, 1], [0, 0]] and (met.n_matched, met.n_zero_filled, met.n_unused) == (2, 1, 1)


def test_learn_precomputed_records_files_fingerprint_and_counts(tmp_path):
    npy, ids = write_npy(tmp_path)
    items = pl.DataFrame({"item_id": ["d", "0108775015", "b", "c", "new"], "text": ["x"] * 5})
    with pytest.raises(InputError, match="1 of the 5 catalogue items have no vector \\(first: 'new'\\)"):
        learn("precomputed", items, file=str(npy), ids=str(ids))
    emb, quality = learn("precomputed", items, file=str(npy), ids=str(ids), missing="zero")
    assert emb.item_ids.tolist() == items["item_id"].to_list() and emb.method == "precomputed"
    np.testing.assert_allclose(emb.vectors[:4], VECTORS[[3, 0, 1, 2]].astype(np.float32))
    assert not emb.vectors[4].any()
    inputs = quality.inputs
    assert inputs.files == [str(npy), str(ids)] and (inputs.n_rows, inputs.n_matched, inputs.n_zero_filled, inputs.n_unused) == (4, 4, 1, 0)
    assert quality.base_modality == "precomputed" and quality.trained is None and quality.encoders == {}
    assert EmbeddingQuality.read(quality.write(tmp_path / "q.json")) == quality
    np.save(npy, VECTORS + 1)  # new contents, new fingerprint
    assert learn("precomputed", items, file=str(npy), ids=str(ids), missing="zero")[1].inputs.fingerprint != inputs.fingerprint


def test_embed_cli_bad_vectors_are_one_line_exit_2(tmp_path, cli, ml100k):
    folder, items = ml100k
    pq.write_table(pa.table({"item_id": items[:-1], "vector": [[1.0, 0.0]] * (len(items) - 1)}), tmp_path / "v.parquet")
    code, _, err = cli(["embed", "--data", str(folder), "--method", "precomputed", "--out", str(tmp_path / "e.itememb"),
                        "-o", f"file={tmp_path / 'v.parquet'}"])  # fmt: skip
    errors = [line for line in err.splitlines() if line.startswith("recsys-cl: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert f"v.parquet: 1 of the {len(items)} catalogue items have no vector (first: '{items[-1]}')" in errors[0]
    assert not (tmp_path / "e.itememb").exists()


@pytest.fixture(scope="module")
def ml100k(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml")
    prepare("ml-100k", root, options={"name": "ml-100k"})
    dataset = load_dataset(root / "ml-100k")
    return dataset.directory, dataset.items["item_id"].to_list()


BENCH = """
name: vectors
datasets:
  - {name: ml-100k, source: ml-100k}
embeddings:
  - {name: mine, method: precomputed, options: {file: %(file)s}}
models:
  - {model: content-knn, embeddings: [mine]}
metrics: [hr]
ks: [10]
"""


def test_precomputed_vectors_run_in_a_benchmark_and_rewritten_files_rerun_their_cells(tmp_path, ml100k):
    """Real MovieLens-100K items; each item's vector is its genre flags (computed "elsewhere")."""
    folder, items = ml100k
    table = load_dataset(folder).items
    classes = [(text or "").split() for text in table["class"].to_list()]
    genres = sorted({g for row in classes for g in row})
    flags = [[float(g in row) for g in genres] for row in classes]
    vectors = tmp_path / "v.parquet"
    pq.write_table(pa.table({"item_id": items, "vector": flags}), vectors)
    config_path = tmp_path / "b.yaml"
    config_path.write_text(BENCH % {"file": vectors})
    out = tmp_path / "out"
    first = run_benchmark(load_config(config_path), out)
    assert first.cells_run_now == 1
    emb_dir = next((out / "embeddings").rglob("mine.itememb")).parent
    quality = json.loads((emb_dir / "mine.itememb.quality.json").read_text())
    assert quality["inputs"]["n_matched"] == len(items) and quality["method"] == "precomputed"
    assert read_itememb(emb_dir / "mine.itememb").dim == len(genres)
    assert run_benchmark(load_config(config_path), out).cells_run_now == 0  # same contents: nothing to redo
    pq.write_table(pa.table({"item_id": items, "vector": [[v * 2 for v in row] for row in flags]}), vectors)
    assert run_benchmark(load_config(config_path), out).cells_run_now == 1  # rewritten: its cell re-runs
    missing = tmp_path / "missing.yaml"
    missing.write_text(BENCH % {"file": tmp_path / "nowhere.parquet"})
    with pytest.raises(InputError, match=r"missing\.yaml: embeddings\.0\.options: .*nowhere\.parquet: file not found"):
        load_config(missing)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text((BENCH % {"file": vectors}).replace("{file:", "{fille: x, file:"))
    with pytest.raises(InputError, match=r"unknown\.yaml: embeddings\.0\.options\.fille: Extra inputs are not permitted"):
        load_config(unknown)
