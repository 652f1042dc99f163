"""Pair and triplet mining follows its rules on hand-written samples."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cl.embeddings._mining import ATTRIBUTE_TABLE, attribute_roles, attribute_triplets, copurchase_pairs, neighbour_pairs
from recsys_cl.errors import InputError

from conftest import CATALOGUE, COLOURS, GENDERS


def _styles_items() -> pl.DataFrame:
    rows = []
    for atype, sub, master in CATALOGUE:
        for colour in COLOURS:
            for gender in GENDERS:
                for copy in range(2):
                    rows.append({"item_id": f"{atype}-{colour}-{gender}-{copy}", "articleType": atype, "subCategory": sub,
                                 "masterCategory": master, "baseColour": colour, "gender": gender})
    return pl.DataFrame(rows)


def test_roles_detected_per_dataset_shape():
    assert attribute_roles(_styles_items().columns) == ATTRIBUTE_TABLE["styles"]
    hm_columns = ["item_id", "product_type_name", "product_group_name", "colour_group_name", "index_group_name"]
    assert attribute_roles(hm_columns) == ATTRIBUTE_TABLE["hm"]
    assert attribute_roles(["item_id", "movie_title", "class"]) is None


def test_triplet_levels_follow_the_rules():
    items = _styles_items()
    triplets = attribute_triplets(items, ATTRIBUTE_TABLE["styles"], np.random.default_rng(0), per_anchor=3)
    rows = items.to_dicts()
    assert set(triplets.level.tolist()) == {"easy", "semi", "hard"}
    for a, p, n, level in zip(triplets.anchor, triplets.positive, triplets.negative, triplets.level):
        anchor, pos, neg = rows[a], rows[p], rows[n]
        assert a != p
        assert (pos["articleType"], pos["baseColour"], pos["gender"]) == (anchor["articleType"], anchor["baseColour"], anchor["gender"])
        if level == "hard":
            assert neg["articleType"] == anchor["articleType"] and neg["baseColour"] != anchor["baseColour"]
            assert neg["gender"] == anchor["gender"]  # same gender exists here, so it is preferred
        elif level == "semi":
            assert neg["articleType"] != anchor["articleType"]
            related_types = {t for t, sub, _ in CATALOGUE if sub == anchor["subCategory"]}
            if len(related_types) > 1:  # a related type exists in the sub-category: drawn from there
                assert neg["subCategory"] == anchor["subCategory"]
            else:  # e.g. Jeans, alone in Bottomwear: another type of the same group
                assert neg["masterCategory"] == anchor["masterCategory"]
        else:
            assert neg["masterCategory"] != anchor["masterCategory"] and neg["gender"] != anchor["gender"]


def test_semi_falls_back_to_group_when_subcategory_has_one_type():
    items = _styles_items().filter(pl.col("articleType").is_in(["Watches", "Jeans", "Tshirts"]))
    triplets = attribute_triplets(items, ATTRIBUTE_TABLE["styles"], np.random.default_rng(1), level_mix={"semi": 1})
    rows = items.to_dicts()
    assert set(triplets.level.tolist()) == {"semi"}
    anchors = {rows[a]["articleType"] for a in triplets.anchor}
    assert "Watches" not in anchors  # the only accessory type: no related type to draw from
    for a, n in zip(triplets.anchor, triplets.negative):
        assert rows[n]["masterCategory"] == rows[a]["masterCategory"] == "Apparel"
        assert rows[n]["articleType"] != rows[a]["articleType"]


def test_level_mix_selects_levels_and_rejects_unknown():
    items = _styles_items()
    only_hard = attribute_triplets(items, ATTRIBUTE_TABLE["styles"], np.random.default_rng(0), level_mix={"hard": 1})
    assert len(only_hard) == len(items) and set(only_hard.level.tolist()) == {"hard"}
    with pytest.raises(InputError, match="medium"):
        attribute_triplets(items, ATTRIBUTE_TABLE["styles"], np.random.default_rng(0), level_mix={"medium": 1})


def test_neighbour_pairs_stay_in_cluster_and_negatives_outside_top_k():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32) * 5
    vectors = np.concatenate([c + 0.1 * rng.standard_normal((6, 16)).astype(np.float32) for c in centres])
    cluster = np.repeat(np.arange(4), 6)
    pos, neg = neighbour_pairs(vectors, 3, np.random.default_rng(1))
    assert pos.shape == (24 * 3, 2) and neg.shape == pos.shape
    assert (pos[:, 0] != pos[:, 1]).all() and (cluster[pos[:, 0]] == cluster[pos[:, 1]]).all()
    np.testing.assert_array_equal(neg[:, 0], pos[:, 0])
    for a in range(24):
        near = set(pos[pos[:, 0] == a, 1].tolist())
        assert len(near) == 3 and not (set(neg[neg[:, 0] == a, 1].tolist()) & (near | {a}))


def test_copurchase_pairs_respect_window_and_skip_repeats():
    day = 86400.0
    inter = pl.DataFrame({
        "user_id": ["u1", "u1", "u1", "u1", "u2", "u2"],
        "item_id": ["a", "a", "b", "c", "d", "b"],
        "timestamp": [0.0, 1 * day, 2 * day, 30 * day, 5 * day, 5 * day],
    })
    ids = np.array(["a", "b", "c", "d", "e", "f"])
    pos, neg = copurchase_pairs(inter, ids, np.random.default_rng(0), window_days=7)
    # a-b (u1, within 2 days), b-d (u2, same day); c is 28 days after b: outside; a-a is a repeat
    assert sorted(map(tuple, pos.tolist())) == [(0, 1), (1, 3)]
    assert len(neg) == 2
    assert not ({tuple(sorted(p)) for p in neg.tolist()} & {(0, 1), (1, 3)})
    assert all(a != b for a, b in neg.tolist())


def test_composed_queries_change_colour_only():
    from recsys_cl.embeddings._composed import composed_queries

    items = _styles_items()
    rows = items.to_dicts()
    candidates = np.arange(0, len(items), 2)  # every other item has an image
    queries = composed_queries(items, ATTRIBUTE_TABLE["styles"], candidates, np.random.default_rng(0))
    assert len(queries["reference"]) == len(candidates)
    targets_available = {(r["articleType"], r["baseColour"], r["gender"]) for r in (rows[i] for i in candidates)}
    for ref, key, text in zip(queries["reference"], queries["key"], queries["text"]):
        atype, colour, gender = key.split("|")
        assert (atype, gender) == (rows[ref]["articleType"], rows[ref]["gender"]) and colour != rows[ref]["baseColour"]
        assert (atype, colour, gender) in targets_available
        assert colour.lower() in text


# ---------------------------------------------------------------- bounded sampling (issue 12, class 6)


@pytest.mark.timeout(30)
def test_copurchase_negatives_with_no_possible_item_is_an_error_not_a_hang():
    """Two items bought together and nothing else: every pair is positive, no negative exists (this spun forever)."""
    inter = pl.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": [0.0, 1.0]})
    expected = "item a was bought together with all 1 other items of the 2 considered.*need at least 3 items, found 2"
    with pytest.raises(InputError, match=expected):
        copurchase_pairs(inter, np.array(["a", "b"]), np.random.default_rng(0))


@pytest.mark.timeout(30)
def test_copurchase_negative_found_when_one_item_is_left():
    """Item c is bought with every other item but d; b only with c: negatives are forced, and still found."""
    day = 86400.0
    inter = pl.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3", "u3"], "item_id": ["c", "a", "c", "b", "c", "e"],
                          "timestamp": [0.0, day, 0.0, day, 0.0, day]})  # fmt: skip
    ids = np.array(["a", "b", "c", "d", "e"])
    for seed in range(20):
        pos, neg = copurchase_pairs(inter, ids, np.random.default_rng(seed))
        positives = {tuple(p) for p in pos.tolist()}
        assert positives == {(0, 2), (1, 2), (2, 4)}
        for a, b in neg.tolist():
            assert a != b and (min(a, b), max(a, b)) not in positives
        assert [b for a, b in neg.tolist() if a == 2] == [3] * sum(1 for a, _ in neg.tolist() if a == 2)  # c's only negative: d


@pytest.mark.timeout(30)
def test_neighbour_negatives_with_one_allowed_item_are_bounded():
    """n = k + 2: each anchor has exactly one item outside its neighbours and itself."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((7, 8)).astype(np.float32)
    pos, neg = neighbour_pairs(vectors, 5, np.random.default_rng(3))
    for a in range(7):
        near = set(pos[pos[:, 0] == a, 1].tolist())
        assert set(neg[neg[:, 0] == a, 1].tolist()) == set(range(7)) - near - {a}


def test_draw_excluding_is_plain_rejection_sampling_while_it_succeeds():
    """Same draws as the loop it replaced (so embeddings are unchanged), the complement only after REJECTION_TRIES misses."""
    from recsys_cl.embeddings._mining import REJECTION_TRIES, draw_excluding

    banned = {0, 1, 2}
    plain, bounded = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(200):
        b = int(plain.integers(10))
        while b in banned:
            b = int(plain.integers(10))
        assert draw_excluding(10, banned.__contains__, lambda: np.array(sorted(banned)), bounded) == b
    # one allowed row among many: found by the complement draw, after at most REJECTION_TRIES misses
    counted = []

    def banned_but_7(b: int) -> bool:
        counted.append(b)
        return b != 7

    assert draw_excluding(1000, banned_but_7, lambda: np.delete(np.arange(1000), 7), np.random.default_rng(0)) == 7
    assert len(counted) == REJECTION_TRIES
    assert draw_excluding(3, lambda b: True, lambda: np.arange(3), np.random.default_rng(0)) == -1


@pytest.mark.timeout(300)
def test_raw_image_with_two_co_purchased_images_ends_with_a_clear_error(tmp_path):
    """Issue 12's hang: embed --method raw-image when only two co-purchased items have images."""
    from conftest import build_styles

    from recsys_cl.data._atomic import read_atomic, write_atomic
    from recsys_cl.embeddings import embed

    data_dir = build_styles(tmp_path, copies=1, images=True)
    items = read_atomic(data_dir / "styles-mini.item")
    keep = pl.col("item_id").is_in(["1000", "1001"])
    write_atomic(items.with_columns(pl.when(keep).then(pl.col("image_path")).otherwise(pl.lit("")).alias("image_path")),
                 data_dir / "styles-mini.item")  # fmt: skip
    write_atomic(pl.DataFrame({"user_id": ["u", "u"], "item_id": ["1000", "1001"], "timestamp": [0.0, 86400.0]}),
                 data_dir / "styles-mini.train.inter")  # fmt: skip
    with pytest.raises(InputError, match="need at least 3 items, found 2"):
        embed(data_dir, "raw-image", tmp_path / "x.itememb", use_cache=False)
    assert not list(tmp_path.glob("x.itememb*"))
