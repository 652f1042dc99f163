"""What the H&M adapter refuses, sources table, recbole and mmrec refuse too: one InputError naming file:line or
the key, and nothing written where the dataset goes."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from recsys_cl.data import prepare
from recsys_cl.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"
RAW = {"table": FIXTURES / "table_raw" / "shop", "recbole": FIXTURES / "recbole_raw" / "tiny", "mmrec": FIXTURES / "mmrec_raw" / "baby"}
TABLE = {
    "protocols": ["loo"],
    "interactions": {"file": "events.csv", "user": "customer", "item": "sku", "time": "ts", "price": "amount"},
    "items": {"file": "products.csv", "id": "sku", "text": ["title"], "categorical": ["category"]},
    "users": {"file": "customers.csv", "id": "customer"},
}
OPTIONS = {"table": TABLE, "recbole": {"protocols": ["loo"]}, "mmrec": {}}


def append(name, text):
    def change(raw):
        with open(raw / name, "a", encoding="utf-8", newline="") as fh:
            fh.write(text)

    return change


def replace_line(name, number, text):
    def change(raw):
        lines = (raw / name).read_bytes().split(b"\n")
        lines[number - 1] = text if isinstance(text, bytes) else text.encode()
        (raw / name).write_bytes(b"\n".join(lines))

    return change


def cut_last_line(name):
    def change(raw):
        data = (raw / name).read_bytes()
        (raw / name).write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 8])

    return change


def save(name, array, **kwargs):
    return lambda raw: np.save(raw / name, array, **kwargs)


def gzip_garbage(raw):
    (raw / "customers.csv.gz").write_bytes(gzip.compress(b"customer\nc1\nc2\n")[:-12])


CASES = [
    # source table (CSV, the H&M adapter's checks)
    ("table", append("events.csv", "c001,SKU-001,2020-09-01,10.5,extra\n"), {}, r"events\.csv:273: 5 fields, expected 4"),
    ("table", cut_last_line("events.csv"), {}, r"events\.csv:272: .*last line has no line end \(file cut short\?\)"),
    ("table", replace_line("events.csv", 5, b"c001,SKU-\xff01,2020-09-01,10.5"), {}, r"events\.csv:5: bytes that are not UTF-8"),
    ("table", append("products.csv", "SKU-003,Other title,x,shoe,red,\n"), {},
     r"products\.csv:26: column sku: id 'SKU-003' repeats line 5 with other values"),
    ("table", append("customers.csv", "c003,new\n"), {"users": {"file": "customers.csv", "id": "customer", "categorical": ["segment"]}},
     r"customers\.csv:42: column customer: id 'c003' repeats line 5"),
    ("table", replace_line("events.csv", 1, "customer,product,ts,amount"), {}, r"events\.csv:1: missing column\(s\) sku"),
    ("table", replace_line("events.csv", 1, "customer;sku;ts;amount"), {}, r"events\.csv:1: header is not comma-separated"),
    ("table", append("events.csv", "c001,SKU-001,1600000000,10.5\n"), {},
     r"events\.csv:273: column ts mixes ISO dates \(line 2: '2020-09-01'\) and Unix seconds \(line 273: '1600000000'\)"),
    ("table", append("events.csv", "c001,SKU-001,yesterday,10.5\n"), {}, r"events\.csv:273: column ts: cannot read 'yesterday'"),
    ("table", append("events.csv", "c001,SKU-001,2020-02-30,10.5\n"), {}, r"events\.csv:273: column ts: '2020-02-30' is not a calendar date"),
    ("table", append("events.csv", "c001,SKU-001,2020-09-01,ten\n"), {}, r"events\.csv:273: column amount: cannot parse 'ten' as a number"),
    ("table", append("events.csv", ",SKU-001,2020-09-01,10\n"), {}, r"events\.csv:273: column customer is empty"),
    ("table", gzip_garbage, {"users": {"file": "customers.csv.gz", "id": "customer"}}, r"customers\.csv\.gz: cannot unpack as gzip"),
    ("table", lambda raw: None, {"items": {"file": "products.xlsx", "id": "sku"}}, r"items\.file: 'products\.xlsx': expected a \.csv"),
    ("table", lambda raw: None, {"interactions": {"file": "events.csv", "user": "customer", "item": "sku", "stamp": "ts"}},
     r"interactions\.stamp: Extra inputs are not permitted"),
    # source recbole (atomic files: tab-separated, typed header, no quoting)
    ("recbole", replace_line("tiny.inter", 1, "user_id:token\titem_id:int\trating:float\ttimestamp:float"), {},
     r"tiny\.inter:1: header field 2 'item_id:int' is not name:type"),
    ("recbole", append("tiny.inter", "u1\ti1\t3.0\n"), {}, r"tiny\.inter:273: 3 fields, expected 4"),
    ("recbole", cut_last_line("tiny.inter"), {}, r"tiny\.inter:272: .*last line has no line end"),
    ("recbole", replace_line("tiny.item", 3, b"i1\tbad \xc3(\tshirt\t0 1 2 3 4 5"), {}, r"tiny\.item:3: bytes that are not UTF-8"),
    ("recbole", append("tiny.item", "i3\tother\tshoe\t0 0 0 0 0 0\n"), {}, r"tiny\.item:26: column item_id: id 'i3' repeats line 5"),
    ("recbole", replace_line("tiny.item", 4, "i2\tred shoe\tshoe\t1 2 3"), {}, r"tiny\.item:4: field emb: 3 numbers, expected 6"),
    ("recbole", replace_line("tiny.inter", 6, "u1\ti1\tfive\t1600000000"), {}, r"tiny\.inter:6: column rating: cannot parse 'five'"),
    ("recbole", append("tiny.inter", "u1\ti99\t3.0\t1600000000\n"), {}, r"tiny\.inter:273: item 'i99' is not in tiny\.item"),
    ("recbole", lambda raw: None, {"user_field": "uid"}, r"tiny\.inter:1: no field 'uid' \(have user_id, item_id, rating, timestamp\); set user_field"),
    # source mmrec (MMRec's files)
    ("mmrec", save("image_feat.npy", np.zeros((23, 16))), {}, r"image_feat\.npy: 23 rows, but i_id_mapping\.csv has 24 items"),
    ("mmrec", save("text_feat.npy", np.zeros(24)), {}, r"text_feat\.npy: expected a 2-D array of numbers"),
    ("mmrec", save("text_feat.npy", np.array([[{"code": 1}]] * 24, dtype=object), allow_pickle=True), {},
     r"text_feat\.npy: not a NumPy array file"),
    ("mmrec", save("image_feat.npy", np.full((24, 16), np.nan)), {}, r"image_feat\.npy: row 0 holds a value that is not finite"),
    ("mmrec", append("baby.inter", "3\t4\t5.0\t1600000000\t7\n"), {}, r"baby\.inter:273: column x_label: '7' is not 0 \(train\)"),
    ("mmrec", append("baby.inter", "3\t99\t5.0\t1600000000\t0\n"), {}, r"baby\.inter:273: itemID '99' is not in i_id_mapping\.csv"),
    ("mmrec", append("baby.inter", "3\t4\t5.0\n"), {}, r"baby\.inter:273: 3 fields, expected 5"),
    ("mmrec", cut_last_line("baby.inter"), {}, r"baby\.inter:272: .*last line has no line end"),
    ("mmrec", append("i_id_mapping.csv", "B000000003\t24\n"), {}, r"i_id_mapping\.csv:26: column asin: id 'B000000003' repeats line 5"),
    ("mmrec", append("baby.inter", "x\t4\t5.0\t1600000000\t0\n"), {}, r"baby\.inter:273: column userID: 'x' is not a non-negative integer id"),
    ("mmrec", lambda raw: (raw / "i_id_mapping.csv").unlink(), {}, r"i_id_mapping\.csv: file not found \(MMRec's layout"),
]


@pytest.mark.parametrize(("source", "change", "options", "message"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_error_naming_where(tmp_path, source, change, options, message):
    raw = tmp_path / "raw" / RAW[source].name
    shutil.copytree(RAW[source], raw)
    change(raw)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message) as caught:
        prepare(source, out, raw=raw, options={"name": "ds", **OPTIONS[source], **options})
    assert "\n" not in str(caught.value)
    assert not out.exists()  # nothing half-written: not even the output root, which did not exist before


@pytest.mark.parametrize("source", ["table", "recbole", "mmrec"])
def test_failed_rerun_leaves_the_previous_dataset_whole(tmp_path, cli, source):
    raw = tmp_path / "raw" / RAW[source].name
    shutil.copytree(RAW[source], raw)
    prepare(source, tmp_path / "out", raw=raw, options={"name": "ds", **OPTIONS[source]})
    before = {p.name: p.read_bytes() for p in (tmp_path / "out" / "ds").iterdir() if p.name != "ds.meta.json"}
    inter = {"table": "events.csv", "recbole": "tiny.inter", "mmrec": "baby.inter"}[source]
    cut_last_line(inter)(raw)
    args = {"table": [], "recbole": ["--protocols", "loo"], "mmrec": []}[source]
    if source == "table":
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(__import__("json").dumps(TABLE))
        args = ["--mapping", str(mapping)]
    code, _, err = cli(["prepare", source, "--raw", str(raw), "--out", str(tmp_path / "out"), "--name", "ds", *args])
    errors = [line for line in err.splitlines() if line.startswith("recsys-cl: error:")]
    assert code == 2 and len(errors) == 1 and f"{inter}:272" in errors[0]
    after = {p.name: p.read_bytes() for p in (tmp_path / "out" / "ds").iterdir() if p.name != "ds.meta.json"}
    assert after == before and [p.name for p in (tmp_path / "out").iterdir()] == ["ds"]
