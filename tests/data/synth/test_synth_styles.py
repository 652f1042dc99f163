"""Synthetic styles data: unquoted Kaggle layout with its quirks, real value sets, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys_cl.data.synth import generate_styles
from recsys_cl.data.synth._styles import STYLES_COLUMNS
from recsys_cl.errors import InputError

N = 1500


@pytest.fixture(scope="module")
def styles(tmp_path_factory) -> tuple[Path, dict, list[list[str]]]:
    out = tmp_path_factory.mktemp("styles")
    summary = generate_styles(out, products=N, seed=5, images=True)
    lines = (out / "styles.csv").read_text(encoding="utf-8").splitlines()
    return out, summary, [line.split(",") for line in lines]


def _rows(fields: list[list[str]]) -> list[dict[str, str]]:
    """Parse the way the real file must be parsed: the first 9 fields, then the rest is the name."""
    return [dict(zip(STYLES_COLUMNS, f[:9] + [",".join(f[9:])])) for f in fields[1:]]


def test_header_and_row_count(styles):
    _, _, fields = styles
    assert fields[0] == ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year",
                         "usage", "productDisplayName"]
    assert len(fields) == N + 1


def test_unquoted_with_extra_commas_in_some_names(styles):
    out, summary, fields = styles
    text = (out / "styles.csv").read_text()
    assert '"' not in text
    widths = [len(f) for f in fields[1:]]
    assert min(widths) == 10
    extra = sum(w > 10 for w in widths)
    assert extra == summary["names_with_extra_commas"] > 0
    # the whole name survives when the row is parsed as "first nine fields, rest is the name"
    long_rows = [r for r, w in zip(_rows(fields), widths) if w > 10]
    assert all(", " in r["productDisplayName"] for r in long_rows)


def test_values_come_from_the_real_sets(styles):
    _, _, fields = styles
    rows = _rows(fields)
    assert {r["gender"] for r in rows} <= {"Men", "Women", "Boys", "Girls", "Unisex"}
    assert {r["masterCategory"] for r in rows} == {"Apparel", "Accessories", "Footwear", "Personal Care"}
    assert {r["season"] for r in rows} <= {"Fall", "Summer", "Winter", "Spring", ""}
    assert {r["usage"] for r in rows} <= {"Casual", "Formal", "Sports", "Ethnic", "Smart Casual", "Party", ""}
    assert {"Tshirts", "Shirts", "Jeans", "Watches", "Casual Shoes"} <= {r["articleType"] for r in rows}
    assert {"Navy Blue", "Black", "White"} <= {r["baseColour"] for r in rows}
    years = [r["year"] for r in rows if r["year"]]
    assert all(y.isdigit() and 2007 <= int(y) <= 2018 for y in years)
    ids = [r["id"] for r in rows]
    assert all(i.isdigit() for i in ids) and len(set(ids)) == len(ids)


def test_some_fields_are_empty(styles):
    _, _, fields = styles
    rows = _rows(fields)
    for column in ("baseColour", "season", "year", "usage"):
        assert any(r[column] == "" for r in rows), column
    assert all(r["productDisplayName"] and r["articleType"] and r["gender"] for r in rows)


def test_names_are_composed_from_the_attributes(styles):
    _, _, fields = styles
    rows = _rows(fields)
    with_colour = [r for r in rows if r["baseColour"]]
    assert all(f" {r['gender']} " in f" {r['productDisplayName']} " for r in rows)
    assert sum(r["baseColour"] in r["productDisplayName"] for r in with_colour) == len(with_colour)
    shirts = [r for r in rows if r["articleType"] == "Shirts"]
    assert shirts and all(r["productDisplayName"].endswith("Shirt") for r in shirts)


def test_images_for_most_ids_not_all(styles):
    out, summary, fields = styles
    rows = _rows(fields)
    present = [(out / "images" / f"{r['id']}.jpg").is_file() for r in rows]
    assert summary["images"] == sum(present)
    assert 0.9 * len(rows) < sum(present) < len(rows)


def test_deterministic_by_seed(tmp_path, styles):
    out, _, _ = styles
    generate_styles(tmp_path / "a", products=N, seed=5)
    generate_styles(tmp_path / "b", products=N, seed=6)
    assert (tmp_path / "a" / "styles.csv").read_bytes() == (out / "styles.csv").read_bytes()
    assert (tmp_path / "b" / "styles.csv").read_bytes() != (out / "styles.csv").read_bytes()


def test_bad_size_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="products"):
        generate_styles(tmp_path, products=0)
    assert not (tmp_path / "styles.csv").exists()


def test_the_real_data_adapter_keeps_names_with_commas(tmp_path):
    from recsys_cl.data import prepare

    summary = generate_styles(tmp_path / "raw", products=400, seed=2)
    prepare("styles", tmp_path / "atomic", raw=tmp_path / "raw")
    item_file = next((tmp_path / "atomic").rglob("*.item"))
    body = item_file.read_text(encoding="utf-8")
    assert len(body.splitlines()) == 400 + 1
    assert summary["names_with_extra_commas"] >= 1
    names = [line.split(",", 9)[9] for line in (tmp_path / "raw" / "styles.csv").read_text().splitlines()[1:]]
    comma_names = [n for n in names if "," in n]
    assert comma_names and all(n in body for n in comma_names)
