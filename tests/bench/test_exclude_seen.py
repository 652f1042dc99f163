"""The benchmark's evaluation mode per protocol reaches the models and the evaluator (run_cell)."""

import polars as pl
import pytest

from recsys_cl.bench import load_config
from recsys_cl.bench._plan import grid
from recsys_cl.bench import run_cell
from recsys_cl.data._dataset import write_dataset
from recsys_cl.data._split import DAY

CONFIG = """
name: t
datasets:
  - {name: shop, source: ml-100k}
protocols: [temporal]
models:
  - {model: repurchase, params: {fill_days: null}}
ks: [1, 2]
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    # two customers re-buy in the test day what they bought before; one buys something new
    rows = [("u1", "a", 0), ("u1", "b", 1), ("u2", "c", 0), ("u3", "a", 2),
            ("u1", "b", 9), ("u2", "c", 9), ("u3", "d", 9)]  # fmt: skip
    frame = pl.DataFrame([(u, i, 1.6e9 + d * DAY) for u, i, d in rows], schema=["user_id", "item_id", "timestamp"], orient="row")
    out = tmp_path_factory.mktemp("bench") / "shop"
    write_dataset(out, "shop", frame, protocols=["temporal"], protocol_options={"temporal": {"test_days": 1, "valid_days": 0}})
    return out


@pytest.mark.parametrize("exclude_seen", [None, True])
def test_temporal_cells_allow_repurchases_unless_told_otherwise(tmp_path, shop, exclude_seen):
    text = CONFIG if exclude_seen is None else CONFIG + "protocol_options: {temporal: {exclude_seen: true}}\n"
    path = tmp_path / "t.yaml"
    path.write_text(text)
    config = load_config(path)
    (cell,) = grid(config)
    record, _ = run_cell(cell, config.model_dump_json(), str(shop), None)
    summary = record.summary
    assert summary["repeat_share"] == pytest.approx(2 / 3)
    if exclude_seen is None:  # the competition's rule: u1's b and u2's c are their repurchase lists' first items
        assert record.exclude_seen is False
        assert summary["hr@1"] == pytest.approx(2 / 3) and summary["seen_share@1"] == pytest.approx(1.0)
    else:  # repeats cannot be hit: only u3's d could be, and a popularity list ranks a, b, c first
        assert record.exclude_seen is True
        assert summary["hr@1"] == 0.0 and summary["seen_share@2"] == 0.0
        assert summary["ceiling_hr@1"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("exclude_seen", [None, True])
def test_the_final_fit_validates_in_the_cells_mode(tmp_path, shop, exclude_seen, monkeypatch):
    """Early stopping (per-epoch validation) of a cell's fit ranks as its test is scored: the protocol's mode."""
    from recsys_cl.models import Recommender

    modes = []
    original = Recommender.fit

    def fit(self, *args, **kwargs):
        modes.append(kwargs.get("exclude_seen", True))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Recommender, "fit", fit)
    text = CONFIG if exclude_seen is None else CONFIG + "protocol_options: {temporal: {exclude_seen: true}}\n"
    path = tmp_path / "t.yaml"
    path.write_text(text)
    config = load_config(path)
    (cell,) = grid(config)
    record, _ = run_cell(cell, config.model_dump_json(), str(shop), None)
    assert modes == [record.exclude_seen] == [exclude_seen is True]
