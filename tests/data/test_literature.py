"""source: recbole (RecBole atomic folders, benchmark split files) and source: mmrec (MMRec's layout)."""

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.data import load_dataset, prepare
from recsys_cl.embeddings import embed, read_itememb
from recsys_cl.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "recbole_raw" / "tiny"
TINY_SPLIT = FIXTURES / "recbole_raw" / "tiny-split"
BABY = FIXTURES / "mmrec_raw" / "baby"


def test_recbole_folder_keeps_types_text_and_vectors(tmp_path):
    meta = prepare("recbole", tmp_path, raw=TINY, options={"name": "tiny", "protocols": ["loo"]})
    assert meta["counts"]["interactions"] == 271 and meta["benchmark_files"] is False
    assert meta["item_vectors"] == {"emb": {"file": "tiny.emb.itememb", "items": 24, "dim": 6}}
    header = (tmp_path / "tiny" / "tiny.item").read_text().splitlines()[0]
    # the float_seq field went to a vector file, the token_seq field into the text
    assert header == "item_id:token\ttitle:token_seq\tcategory:token\ttext:token_seq"
    assert (tmp_path / "tiny" / "tiny.inter").read_text().splitlines()[0] == "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    assert (tmp_path / "tiny" / "tiny.user").read_text().splitlines()[0] == "user_id:token\tage:float"
    vectors = read_itememb(tmp_path / "tiny" / "tiny.emb.itememb")
    raw_line = (TINY / "tiny.item").read_text().splitlines()[1].split("\t")
    assert vectors.item_ids[0] == raw_line[0]
    np.testing.assert_allclose(vectors.vectors[0], [float(x) for x in raw_line[3].split()], rtol=1e-6)


def test_recbole_benchmark_files_are_the_given_split(tmp_path):
    meta = prepare("recbole", tmp_path, raw=TINY_SPLIT, options={"name": "ts", "protocols": ["given"]})
    assert meta["benchmark_files"] is True
    split = load_dataset(tmp_path / "ts").split("given")
    for part in ("train", "valid", "test"):
        raw = pl.read_csv(TINY_SPLIT / f"tiny-split.{part}.inter", separator="\t", infer_schema=False)
        ours = split.part(part)
        assert ours["user_id"].cast(pl.Utf8).to_list() == raw["user_id:token"].to_list()
        assert ours["item_id"].cast(pl.Utf8).to_list() == raw["item_id:token"].to_list()


def test_given_is_refused_where_there_is_no_split(tmp_path):
    with pytest.raises(InputError, match="protocol given needs RecBole benchmark files"):
        prepare("recbole", tmp_path, raw=TINY, options={"name": "tiny", "protocols": ["given"]})
    with pytest.raises(InputError, match="protocols: protocol 'given' keeps the split"):
        prepare("ml-100k", tmp_path, options={"protocols": ["given"]})
    assert not any(tmp_path.iterdir())


def test_recbole_without_time_field_refuses_time_order(tmp_path):
    with pytest.raises(InputError, match="no time field 'ts'.*protocol loo orders each user's interactions by time"):
        prepare("recbole", tmp_path, raw=TINY, options={"name": "tiny", "time_field": "ts"})
    meta = prepare("recbole", tmp_path, raw=TINY, options={"name": "tiny", "time_field": None, "protocols": ["cold-item"]})
    assert meta["timestamp_unit"].startswith("none")


def test_mmrec_layout_keeps_its_split_ids_and_features(tmp_path):
    meta = prepare("mmrec", tmp_path, raw=BABY, options={"name": "baby"})
    assert list(meta["protocols"]) == ["given"]
    assert meta["item_vectors"] == {"image": {"file": "baby.image.itememb", "items": 24, "dim": 16},
                                    "text": {"file": "baby.text.itememb", "items": 24, "dim": 8}}  # fmt: skip
    raw = pl.read_csv(BABY / "baby.inter", separator="\t", infer_schema=False)
    split = load_dataset(tmp_path / "baby").split("given")
    for code, part in enumerate(("train", "valid", "test")):
        rows = raw.filter(pl.col("x_label") == str(code))
        assert split.part(part).select(pl.col("user_id", "item_id").cast(pl.Utf8)).rows() == rows.select("userID", "itemID").rows()
    image = read_itememb(tmp_path / "baby" / "baby.image.itememb")
    assert image.item_ids.tolist() == [str(i) for i in range(24)]  # row i is itemID i, as in MMRec
    np.testing.assert_allclose(image.vectors, np.load(BABY / "image_feat.npy").astype(np.float32))
    users = load_dataset(tmp_path / "baby").users
    assert users.row(0, named=True) == {"user_id": "0", "reviewer_id": "A0000000000000"}


def test_mmrec_drops_valid_and_test_rows_of_users_without_training_rows(tmp_path):
    raw = tmp_path / "baby"
    shutil.copytree(BABY, raw)
    with open(raw / "baby.inter", "a") as fh:  # user 40 appears only in test (MMRec's filter_out_cod_start_users)
        fh.write("40\t1\t5.0\t1600000000\t2\n")
    (raw / "u_id_mapping.csv").write_text((raw / "u_id_mapping.csv").read_text() + "A0000000000040\t40\n")
    meta = prepare("mmrec", tmp_path / "out", raw=raw, options={"name": "baby"})
    assert meta["cold_user_rows_dropped"] == 1
    kept = prepare("mmrec", tmp_path / "out", raw=raw, options={"name": "keep", "drop_cold_users": False})
    assert kept["cold_user_rows_dropped"] == 0 and kept["counts"]["interactions"] == meta["counts"]["interactions"] + 1


def test_dataset_vectors_learner_serves_the_features(tmp_path):
    prepare("mmrec", tmp_path, raw=BABY, options={"name": "baby"})
    emb, quality = embed(tmp_path / "baby", "dataset-vectors", tmp_path / "img.itememb", protocol="given", vectors="image")
    np.testing.assert_allclose(emb.vectors, np.load(BABY / "image_feat.npy").astype(np.float32))
    assert quality.method == "dataset-vectors" and quality.n_embedded == 24
    with pytest.raises(InputError, match="has no item vectors 'clip' \\(it has: image, text"):
        embed(tmp_path / "baby", "dataset-vectors", tmp_path / "x.itememb", protocol="given", vectors="clip")


@pytest.mark.parametrize(("source", "folder", "changed"), [
    ("recbole", TINY, "tiny.item"), ("recbole", TINY_SPLIT, "tiny-split.test.inter"), ("mmrec", BABY, "image_feat.npy"),
])  # fmt: skip
def test_fingerprint_covers_every_input_file(tmp_path, source, folder, changed):
    from recsys_cl.data import input_fingerprint

    raw = tmp_path / folder.name
    shutil.copytree(folder, raw)
    options = {"name": "x", "protocols": ["given"] if source == "mmrec" or "split" in folder.name else ["loo"]}
    before = input_fingerprint(source, raw, options)
    data = bytearray((raw / changed).read_bytes())
    data[-2] = ord("9") if data[-2] != ord("9") else ord("8")  # one byte, same size
    (raw / changed).write_bytes(bytes(data))
    assert input_fingerprint(source, raw, options) != before
