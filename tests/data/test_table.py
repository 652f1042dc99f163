"""source: table — your own CSV / TSV / Parquet files (gzip too) by a column mapping."""

import gzip
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from recsys_cl.data import load_dataset, prepare
from recsys_cl.errors import InputError

SHOP = Path(__file__).parent / "fixtures" / "table_raw" / "shop"
MAPPING = {
    "interactions": {"file": "events.csv", "user": "customer", "item": "sku", "time": "ts", "price": "amount"},
    "items": {"file": "products.csv", "id": "sku", "text": ["title", "description"], "categorical": ["category", "colour"],
              "image": "image_path"},
    "users": {"file": "customers.csv", "id": "customer", "categorical": ["segment"]},
}  # fmt: skip


@pytest.fixture
def raw(tmp_path):
    folder = tmp_path / "raw"
    shutil.copytree(SHOP, folder)
    return folder


def options(**changes):
    return {"name": "shop", "protocols": ["loo", "cold-item"], **json.loads(json.dumps(MAPPING)), **changes}


def test_mapped_csv_files_become_a_dataset(tmp_path):
    meta = prepare("table", tmp_path / "out", raw=SHOP, options=options())
    assert meta["counts"] == {"users": 40, "items_with_interactions": 24, "items_in_catalogue": 24, "interactions": 271}
    assert meta["time_column"] == "ISO dates" and meta["interactions_dropped_unknown_item"] == 0
    assert meta["items_table"] == {"rows_repeated": 0, "image_paths_not_found": 0}
    ds = load_dataset(tmp_path / "out" / "shop")
    items = ds.items.to_dicts()
    assert items[0] == {"item_id": "SKU-000", "category": "dress", "colour": "black",
                        "text": "Black dress no. 0. A black dress, 'classic' cut", "image_path": ""}  # fmt: skip
    assert items[1]["image_path"] == "images/SKU-001.jpg"
    first = ds.split("loo").train.row(0, named=True)
    # 2020-09-01 read as midnight UTC; the price column renamed from "amount" and read as a number
    assert first["timestamp"] == 1598918400.0 and first["price"] == 10.5
    assert set(ds.users.columns) == {"user_id", "segment"}


def test_parquet_tsv_and_gzip_give_the_same_dataset(tmp_path, raw):
    pl.read_csv(raw / "events.csv", infer_schema=False).write_parquet(raw / "events.parquet")
    products = pl.read_csv(raw / "products.csv", infer_schema=False)
    products.write_csv(raw / "products.tsv", separator="\t")
    with open(raw / "customers.csv", "rb") as src, gzip.open(raw / "customers.csv.gz", "wb") as dst:
        dst.write(src.read())
    reference = prepare("table", tmp_path / "a", raw=raw, options=options())
    mapping = options()
    mapping["interactions"]["file"] = "events.parquet"
    mapping["items"]["file"] = "products.tsv"
    mapping["users"]["file"] = "customers.csv.gz"
    other = prepare("table", tmp_path / "b", raw=raw, options=mapping)
    assert other["counts"] == reference["counts"]
    for name in ("shop.inter", "shop.item", "shop.user", "shop.train.inter", "shop.cold-item-test.inter"):
        assert (tmp_path / "a" / "shop" / name).read_text() == (tmp_path / "b" / "shop" / name).read_text()
    assert not list(raw.glob(".unpacked-*")) and not list((tmp_path / "b" / "shop").glob(".unpacked-*"))


def test_unix_seconds_and_typed_parquet_times(tmp_path, raw):
    events = pl.read_csv(raw / "events.csv", infer_schema=False)
    seconds = events["ts"].str.strptime(pl.Date, "%Y-%m-%d").cast(pl.Datetime("ms")).dt.epoch("s")
    events.with_columns(seconds.cast(pl.Utf8).alias("ts")).write_csv(raw / "events.csv")
    meta = prepare("table", tmp_path / "a", raw=raw, options=options())
    assert meta["time_column"] == "Unix seconds"
    events.with_columns(pl.col("ts").str.strptime(pl.Date, "%Y-%m-%d")).write_parquet(raw / "events.parquet")
    mapping = options()
    mapping["interactions"]["file"] = "events.parquet"
    meta_b = prepare("table", tmp_path / "b", raw=raw, options=mapping)
    assert meta_b["time_column"] == "dates"
    assert (tmp_path / "a" / "shop" / "shop.train.inter").read_text() == (tmp_path / "b" / "shop" / "shop.train.inter").read_text()


def test_without_time_only_unordered_protocols_and_without_items_no_content(tmp_path, cli):
    mapping = {"interactions": {"file": "events.csv", "user": "customer", "item": "sku"}}
    with pytest.raises(InputError, match="loo orders each user's interactions by time, and interactions.time is not mapped"):
        prepare("table", tmp_path, raw=SHOP, options={"name": "shop", **mapping})
    meta = prepare("table", tmp_path, raw=SHOP, options={"name": "shop", "protocols": ["cold-item"], **mapping})
    assert meta["time_column"].startswith("none") and "no items table" in meta["content"]
    code, _, err = cli(["embed", "--data", str(tmp_path / "shop"), "--method", "raw-text", "--out", str(tmp_path / "e.itememb")])
    errors = [line for line in err.splitlines() if line.startswith("recsys-cl: error:")]
    assert code == 2 and len(errors) == 1 and "no item content" in errors[0]


def test_filters_of_the_hm_adapter_apply(tmp_path):
    meta = prepare("table", tmp_path, raw=SHOP, options=options(weeks=1, min_user_interactions=2, dedupe=True))
    filtering = meta["filtering"]
    assert filtering["rows_read"] == 271 and filtering["rows_after_weeks"] < 271
    assert filtering["rows_after_k_core"] <= filtering["rows_after_dedupe"] <= filtering["rows_after_weeks"]
    sampled = prepare("table", tmp_path, raw=SHOP, options=options(name="half", sample_users=0.5))
    assert sampled["counts"]["users"] == 20


def test_unknown_items_refused_or_dropped_and_counted(tmp_path, raw):
    lines = (raw / "products.csv").read_text().splitlines(keepends=True)
    (raw / "products.csv").write_text("".join(line for line in lines if not line.startswith("SKU-005,")))
    with pytest.raises(InputError, match=r"events.csv:\d+: item 'SKU-005' is not in products.csv \(\d+ rows, 1 items\)"):
        prepare("table", tmp_path / "out", raw=raw, options=options())
    meta = prepare("table", tmp_path / "out", raw=raw, options=options(unknown_items="drop"))
    dropped = sum(1 for line in (SHOP / "events.csv").read_text().splitlines() if ",SKU-005," in line)
    assert meta["interactions_dropped_unknown_item"] == dropped > 0
    assert meta["counts"]["interactions"] == 271 - dropped


def test_repeated_identical_rows_are_kept_once(tmp_path, raw):
    text = (raw / "products.csv").read_text()
    (raw / "products.csv").write_text(text + text.splitlines(keepends=True)[3])
    meta = prepare("table", tmp_path, raw=raw, options=options())
    assert meta["items_table"]["rows_repeated"] == 1 and meta["counts"]["items_in_catalogue"] == 24


@pytest.mark.parametrize(
    ("values", "kind", "seconds"),
    [  # an offset is honoured, a date-time without one is UTC: all three are the same instant
        (["2020-09-01T00:00:00Z", "2020-09-01 02:00:00+02:00", "2020-09-01T00:00"], "ISO date-times", [1598918400.0] * 3),
        (["1598918400", "1598918400.5", "1598918401"], "Unix seconds", [1598918400.0, 1598918400.5, 1598918401.0]),
    ],
)
def test_time_forms(tmp_path, values, kind, seconds):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "e.tsv").write_text("u\ti\tt\n" + "".join(f"u{n}\ti{n}\t{v}\n" for n, v in enumerate(values)))
    mapping = {"file": "e.tsv", "user": "u", "item": "i", "time": "t"}
    meta = prepare("table", tmp_path / "out", raw=raw, options={"name": "t", "protocols": ["cold-item"], "interactions": mapping})
    assert meta["time_column"] == kind
    inter = pl.read_csv(tmp_path / "out" / "t" / "t.inter", separator="\t")
    assert inter["timestamp:float"].to_list() == seconds


def test_fingerprint_covers_every_mapped_file(tmp_path, raw):
    from recsys_cl.data import input_fingerprint

    before = input_fingerprint("table", raw, options())
    (raw / "customers.csv").write_text((raw / "customers.csv").read_text().replace("c000,new", "c000,old"))
    after = input_fingerprint("table", raw, options())
    assert after != before
    unmapped = {**options(), "users": None}
    without_users = input_fingerprint("table", raw, unmapped)
    (raw / "customers.csv").write_text("changed again\n")  # not mapped there: not part of that dataset
    assert input_fingerprint("table", raw, unmapped) == without_users != after
