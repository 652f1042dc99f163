"""RecBole's packaged ml-100k read through ``source: recbole`` gives the split and the numbers of ``source: ml-100k``."""

import pytest

from recsys_cl.bench import load_config
from recsys_cl.bench._plan import grid
from recsys_cl.bench import run_cell
from recsys_cl.data import load_dataset, prepare
from recsys_cl.data._movielens import recbole_ml100k_dir

CONFIG = """
name: same
datasets:
  - {name: ml-100k, source: ml-100k}
protocols: [loo]
models:
  - {model: pop}
  - {model: implicit-als, params: {factors: 32, epochs: 5}}
metrics: [hr, ndcg, recall, mrr, map]
ks: [10, 20]
"""


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml")
    prepare("ml-100k", root / "a", options={"protocols": ["loo"]})
    prepare("recbole", root / "b", raw=recbole_ml100k_dir(), options={"name": "ml-100k", "protocols": ["loo"]})
    return root / "a" / "ml-100k", root / "b" / "ml-100k"


def test_same_split_files(both):
    a, b = both
    for part in ("train", "valid", "test"):
        x, y = (load_dataset(d).split("loo").part(part).select("user_id", "item_id", "timestamp") for d in both)
        assert x.height and x.cast({"user_id": str, "item_id": str}).equals(y.cast({"user_id": str, "item_id": str}))
    assert load_dataset(a).items["item_id"].to_list() == load_dataset(b).items["item_id"].to_list()


def test_same_numbers_for_pop_and_als(both, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    for cell in grid(config):
        ours, theirs = (run_cell(cell, config.model_dump_json(), str(d), None)[0].summary for d in both)
        metrics = {k: v for k, v in ours.items() if "@" in k}
        assert metrics and metrics == {k: theirs[k] for k in metrics}, cell.describe()
        assert ours["ndcg@10"] > 0.01  # a real ranking, not two empty ones
