import shutil
from pathlib import Path

import pytest

from recsys_cl.data._atomic import read_atomic
from recsys_cl.data import prepare
from recsys_cl.errors import InputError

RAW = Path(__file__).parent / "fixtures" / "styles_raw"


def test_styles_rows_with_commas_kept_whole_and_relevance(tmp_path):
    meta = prepare("styles", tmp_path, raw=RAW)
    items = read_atomic(tmp_path / "styles" / "styles.item")
    assert items["item_id"].to_list() == ["15970", "39386", "59263", "21379", "53759", "1855"]
    names = dict(zip(items["item_id"], items["productDisplayName"]))
    assert names["21379"] == "Turtle Men Navy Blue, White Striped Shirt, Slim Fit"
    assert dict(zip(items["item_id"], items["image_path"]))["15970"] == "images/15970.jpg"
    assert dict(zip(items["item_id"], items["image_path"]))["39386"] == ""
    assert dict(zip(items["item_id"], items["usage"]))["53759"] == ""
    pairs = read_atomic(tmp_path / "styles" / "styles.inter")
    # Men / Shirts / Navy Blue: 15970, 21379, 53759 relate to each other; 1855 has no colour: no relevant set
    assert list(zip(pairs["user_id"], pairs["item_id"])) == [
        ("15970", "21379"), ("15970", "53759"), ("21379", "15970"), ("21379", "53759"), ("53759", "15970"), ("53759", "21379"),
    ]  # fmt: skip
    assert meta["counts"] == {"items_in_catalogue": 6, "items_with_image": 1, "queries_with_relevant": 3, "relevance_pairs": 6}


def test_styles_max_relevant_caps_per_query(tmp_path):
    prepare("styles", tmp_path, raw=RAW, options={"max_relevant": 1, "seed": 1})
    pairs = read_atomic(tmp_path / "styles" / "styles.inter")
    assert pairs.height == 3 and pairs["user_id"].n_unique() == 3


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,", "15970,Men,Apparel"), "styles.csv:2: 3 fields, expected 10"),
        (lambda t: t.replace("39386,", "x39386,"), "styles.csv:3: column id"),
        (lambda t: t.replace("59263,", "15970,"), "styles.csv:4: column id: duplicate id '15970' (first on line 2)"),
        (lambda t: t.replace(",2016,", ",twenty,"), "styles.csv:4: column year"),
        (lambda t: t.replace("articleType", "type"), "styles.csv:1: missing column(s) articleType"),
    ],
)
def test_styles_bad_input(tmp_path, mutate, message):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    (raw / "styles.csv").write_text(mutate((raw / "styles.csv").read_text()))
    with pytest.raises(InputError) as caught:
        prepare("styles", tmp_path / "out", raw=raw)
    assert message in str(caught.value)
    assert not (tmp_path / "out").exists()
