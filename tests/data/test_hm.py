import json
import shutil
from pathlib import Path

import pytest

from recsys_cl.data._dataset import load_dataset
from recsys_cl.data import HMOptions, prepare
from recsys_cl.errors import InputError, SplitError

RAW = Path(__file__).parent / "fixtures" / "hm_raw"
C1 = "00000dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657"
C2 = "0000423b00ade91418cceaf3b26c6af3dd342b51fd051eec9c12fb36984420fa"
C3 = "000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318"


def lines(path):
    return Path(path).read_text().splitlines()


def test_interactions_keep_ids_rows_and_order(tmp_path):
    meta = prepare("hm", tmp_path, raw=RAW)
    out = tmp_path / "hm"
    assert lines(out / "hm.inter") == [
        "user_id:token\titem_id:token\ttimestamp:float\tprice:float\tsales_channel_id:token",
        f"{C1}\t0108775015\t1598918400.0\t0.0508474576271186\t2",
        f"{C1}\t0108775015\t1598918400.0\t0.0508474576271186\t2",  # same-day repeat stays a row
        f"{C2}\t0110065001\t1599091200.0\t0.0338813559322034\t1",
        f"{C1}\t0110065001\t1599264000.0\t0.0338813559322034\t2",
        f"{C1}\t0108775044\t1599264000.0\t0.0169322033898305\t2",
        f"{C2}\t0108775044\t1599696000.0\t0.0169322033898305\t1",
        f"{C3}\t0108775015\t1599868800.0\t0.0508474576271186\t2",
    ]
    # loo: C1's last two rows share a day; the later file row (0108775044) is the test item
    assert lines(out / "hm.test.inter")[1:] == [
        f"{C1}\t0108775044\t1599264000.0\t0.0169322033898305\t2",
        f"{C2}\t0108775044\t1599696000.0\t0.0169322033898305\t1",
    ]
    assert lines(out / "hm.valid.inter")[1:] == [f"{C1}\t0110065001\t1599264000.0\t0.0338813559322034\t2"]
    assert meta["counts"] == {"users": 3, "items_with_interactions": 3, "items_in_catalogue": 3, "interactions": 7}
    written = json.loads((out / "hm.meta.json").read_text())
    assert written["protocols"]["loo"]["info"]["tie_break"].startswith("same timestamp")
    assert len(written["source_fingerprint"]) == 64 and written["items_with_image"] == 1


def test_items_text_images_and_missing_description(tmp_path):
    prepare("hm", tmp_path, raw=RAW)
    rows = [line.split("\t") for line in lines(tmp_path / "hm" / "hm.item")]
    header = [h.split(":")[0] for h in rows[0]]
    item = {r[0]: dict(zip(header, r)) for r in rows[1:]}
    assert list(item) == ["0108775015", "0108775044", "0110065001"]
    assert item["0108775015"]["image_path"] == "images/010/0108775015.jpg"
    assert item["0108775044"]["image_path"] == ""
    assert item["0108775044"]["detail_desc"] == ""  # missing, never "nan"
    assert item["0108775044"]["text"] == "Strap top. Vest top, White, Solid, Jersey Basic."
    # commas inside a quoted CSV field survive, double quotes become single quotes
    assert item["0110065001"]["garment_group_name"] == "Under-, Nightwear"
    assert item["0110065001"]["detail_desc"] == "Microfibre T-shirt bra, with 'underwired' cups"
    assert "nan" not in (tmp_path / "hm" / "hm.item").read_text().lower().split()
    assert rows[0][header.index("text")] == "text:token_seq"


def test_users_missing_values_explicit(tmp_path):
    prepare("hm", tmp_path, raw=RAW)
    assert lines(tmp_path / "hm" / "hm.user")[1:] == [
        f"{C1}\t0\t0\tACTIVE\tNONE\t49.0\t52043ee2162cf5aa7ee79974281641c6f11a68d276429a91f8ca0d4b6efa8100",
        f"{C2}\t1\t1\tACTIVE\tRegularly\t\t2973abc54daa8a5f8ccfe9362140c63247c5eee03f1d93f4c830291c32bc3057",
        f"{C3}\t1\t0\tunknown\tunknown\t24.0\t64f17e6a330a85798e4998f62d0930d14db8db1c054af6c9090f7dd3e38380dc",
    ]


def test_options_weeks_dedupe_kcore_sample(tmp_path):
    meta = prepare("hm", tmp_path, raw=RAW, options=HMOptions(name="d", dedupe=True))
    assert meta["counts"]["interactions"] == 6
    from recsys_cl.data._hm import filter_interactions, read_transactions

    kept, report = filter_interactions(read_transactions(RAW), HMOptions(weeks=1))  # last 7 days: 09-06..09-12
    assert kept["timestamp"].min() == 1599696000.0 and report["rows_after_weeks"] == 2
    with pytest.raises(SplitError, match="test part would be empty"):  # 2 rows of 2 users: no loo test row
        prepare("hm", tmp_path, raw=RAW, options=HMOptions(name="w", weeks=1))
    assert not (tmp_path / "w").exists()
    meta = prepare("hm", tmp_path, raw=RAW, options=HMOptions(name="k2", min_user_interactions=3, min_item_interactions=1))
    assert meta["counts"]["users"] == 1 and meta["counts"]["interactions"] == 4
    a = prepare("hm", tmp_path, raw=RAW, options=HMOptions(name="s", sample_users=2, seed=5))
    assert a["counts"]["users"] == 2
    dataset = load_dataset(tmp_path / "hm" if (tmp_path / "hm").exists() else tmp_path / "d")
    assert dataset.encoded("loo").n_items == 3  # the whole catalogue is in the item vocabulary


def _copy(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    return raw


@pytest.mark.parametrize(
    "file, mutate, message",
    [
        ("transactions_train.csv", lambda t: None, "transactions_train.csv: file not found"),
        ("articles.csv", lambda t: t.replace("colour_group_name,", "colour_name,", 1), "articles.csv:1: missing column(s) colour_group_name"),
        ("customers.csv", lambda t: t.replace(",", ";"), "customers.csv:1: header is not comma-separated (found ';')"),
        ("customers.csv", lambda t: "", "customers.csv:1: empty file"),
        ("transactions_train.csv", lambda t: t.replace("2020-09-10", "2020-13-45"), "transactions_train.csv:7: column t_dat: cannot parse '2020-13-45'"),
        ("transactions_train.csv", lambda t: t.replace("0.0169322033898305,1", "cheap,1"), "transactions_train.csv:7: column price"),
        ("articles.csv", lambda t: t.replace("108775044,", "108775015,", 1), "articles.csv:3: column article_id: duplicate id '0108775015' (first on line 2)"),
        ("customers.csv", lambda t: t + t.splitlines()[1] + "\n", "customers.csv:5: column customer_id: duplicate id"),
        ("transactions_train.csv", lambda t: t + "2020-09-13,x,999,0.1,1\n", "article_id '0000000999' is not in articles.csv"),
        ("articles.csv", lambda t: t.replace("110065001,", "11006500X,", 1), "articles.csv:4: column article_id"),
        # distinct ids are checked once: the message still names the first bad row, not the first distinct value
        ("transactions_train.csv", lambda t: t.replace(",108775044,", ",10877504Y,"), "transactions_train.csv:6: column article_id: '10877504Y'"),
        ("transactions_train.csv", lambda t: t.replace("2020-09-05", "2020-09-5x", 1), "transactions_train.csv:5: column t_dat: cannot parse '2020-09-5x'"),
    ],
)
def test_bad_input_names_where_and_writes_nothing(tmp_path, file, mutate, message):
    raw = _copy(tmp_path)
    path = raw / file
    new = mutate(path.read_text())
    if new is None:
        path.unlink()
    else:
        path.write_text(new)
    with pytest.raises(InputError) as caught:
        prepare("hm", tmp_path / "out", raw=raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
