from recsys_cl.data._dataset import load_dataset
from recsys_cl.data import prepare


def test_ml100k_is_real_and_complete(tmp_path):
    meta = prepare("ml-100k", tmp_path, options={"protocols": ["loo", "cold-item"]})
    assert meta["counts"] == {"users": 943, "items_with_interactions": 1682, "items_in_catalogue": 1682, "interactions": 100000}
    loo = meta["protocols"]["loo"]["info"]
    # every ml-100k user has >= 20 ratings: one test and one valid row each
    assert loo["sizes"]["test"]["interactions"] == 943 and loo["sizes"]["valid"]["interactions"] == 943
    header, first = (tmp_path / "ml-100k" / "ml-100k.item").read_text().splitlines()[:2]
    assert header.endswith("text:token_seq")
    assert first.split("\t")[-1] == "Toy Story (1995). Genres: Animation Children's Comedy"
    dataset = load_dataset(tmp_path / "ml-100k")
    enc = dataset.encoded("cold-item")
    assert enc.n_items == 1682 and enc.train[:, enc.item_index(dataset.split("cold-item").test["item_id"].unique())].nnz == 0
