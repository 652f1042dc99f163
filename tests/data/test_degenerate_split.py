"""Class: results silently wrong (data side). One transaction dated 9999-12-31 made the temporal test part
that row alone, with an empty valid part, and every model scored 0 with exit 0. A split whose windows sit
outside the data's own range is refused, naming the cause and the offending rows."""

import polars as pl
import pytest

from recsys_cl.data import temporal
from recsys_cl.data.synth import generate_hm
from recsys_cl.errors import SplitError

DAY = 86400.0


def frame(rows):
    return pl.DataFrame(rows, schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "timestamp": pl.Float64}, orient="row")


def test_windows_outside_the_datas_range_are_refused_naming_rows():
    rows = [(f"u{d % 5}", f"i{d}", d * DAY) for d in range(1, 60)]
    assert temporal(frame(rows), test_days=7, valid_days=7).test.height == 7  # the honest data splits
    far = rows + [("u9", "i999", 2932896.0 * DAY)]  # 9999-12-31
    with pytest.raises(SplitError, match=r"start 2,932,837 days after the rest of the data, which spans 58 days.*"
                                         r"user u9, item i999, dated 9999-12-31"):
        temporal(frame(far), test_days=7, valid_days=7)
    gap = rows + [("u1", "i500", 600 * DAY), ("u2", "i501", 601 * DAY)]  # 540 empty days, then two rows
    with pytest.raises(SplitError, match=r"start 541 days after the rest.*i501, dated 1971-08-25; .*i500, dated 1971-08-24"):
        temporal(frame(gap), test_days=7, valid_days=0)
    pause = rows + [("u1", "i500", 80 * DAY), ("u2", "i501", 81 * DAY)]  # a 3-week pause is data, not an error
    assert temporal(frame(pause), test_days=7, valid_days=0).test.height == 2
    hole = [r for r in rows if not 50 <= r[2] / DAY < 53]  # test: days 53-59; the valid window (days 50-52) is empty
    with pytest.raises(SplitError, match=r"the valid part \(3 days before the test window\) is empty"):
        temporal(frame(hole), test_days=7, valid_days=3)


def test_prepare_and_bench_refuse_the_far_future_row(tmp_path, cli):
    raw = tmp_path / "raw"
    generate_hm(raw, customers=30, articles=20, weeks=4, seed=1)
    transactions = raw / "transactions_train.csv"
    last = transactions.read_text().rstrip("\n").split("\n")[-1]
    with open(transactions, "a") as fh:
        fh.write("9999-12-31," + last.split(",", 1)[1] + "\n")
    code, _, err = cli(["prepare", "hm", "--raw", str(raw), "--out", str(tmp_path / "atomic"), "--protocols", "loo,temporal"])
    assert code == 2 and "temporal: degenerate split" in err and "dated 9999-12-31" in err
    assert not (tmp_path / "atomic").exists()
    config = tmp_path / "c.yaml"
    config.write_text(f"name: c\ndatasets: [{{name: hm, source: hm, raw: {raw}}}]\nprotocols: [temporal]\nmodels: [{{model: pop}}]\n")
    code, _, err = cli(["bench", str(config), "--out", str(tmp_path / "out")])
    assert code == 2 and "dated 9999-12-31" in err and not list((tmp_path / "out" / "cells").glob("*.json"))
