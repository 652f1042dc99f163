"""Class: the machine's own faults (images). A cut JPEG and a PNG whose header claims a decompression
bomb's size, among an item table's images: exit 2 naming the item row, or with ``--skip-bad-images``
those items count as having no image and the count is printed."""

import numpy as np
from PIL import Image

from recsys_cl.data import load_dataset, prepare
from recsys_cl.embeddings import read_itememb


def test_bad_images_name_their_row_or_are_skipped_and_counted(tmp_path, cli):
    prepare("styles-synth", tmp_path / "atomic", raw=tmp_path / "raw",
            options={"name": "st", "synth": {"products": 12, "images": True, "seed": 1}})  # fmt: skip
    data = tmp_path / "atomic" / "st"
    items = load_dataset(data).items
    with_image = [(row, path) for row, path in enumerate(items["image_path"].to_list(), start=1) if path]
    (cut_row, cut), (bomb_row, bomb) = with_image[1], with_image[4]
    jpeg = (tmp_path / "raw" / cut).read_bytes()
    (tmp_path / "raw" / cut).write_bytes(jpeg[: len(jpeg) // 2])
    Image.new("1", (9000, 6000)).save(tmp_path / "raw" / bomb, format="PNG")  # 54 megapixels in a few kB
    assert (tmp_path / "raw" / bomb).stat().st_size < 20_000

    out = tmp_path / "emb" / "st.itememb"
    argv = ["embed", "--data", str(data), "--method", "raw-image", "--out", str(out), "-o", "use_cache=false"]
    code, _, err = cli(argv)
    assert code == 2 and f"st.item: row {cut_row}: image " in err and "image file is truncated" in err, err
    assert not out.parent.exists()
    (tmp_path / "raw" / cut).write_bytes(jpeg)
    code, _, err = cli(argv)
    assert code == 2 and f"st.item: row {bomb_row}: image " in err and "9000 x 6000 pixels" in err, err
    (tmp_path / "raw" / cut).write_bytes(jpeg[: len(jpeg) // 2])

    code, _, err = cli([*argv, "--skip-bad-images"])
    assert code == 0 and "skipped 2 unreadable image(s)" in err, err
    emb = read_itememb(out)
    ids = set(emb.item_ids.tolist())
    assert len(ids) == len(with_image) - 2  # raw-image embeds the items that have a readable image
    assert items["item_id"][cut_row - 1] not in ids and items["item_id"][bomb_row - 1] not in ids
    assert np.isfinite(emb.vectors).all()
